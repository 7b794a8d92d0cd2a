#!/usr/bin/env bash
# Resident memory and CPU per stage of one run: samples the process every 0.5 s
# (/proc/PID/status VmRSS and RssFile, /proc/PID/stat utime+stime) and maps the samples
# onto the stages by run.json's seconds. Prints one markdown row per stage: wall s, CPU s
# (both cores together), peak RSS MiB within the stage, and how much of that peak was
# file-backed (mapped index or spilled details, which the kernel can drop and re-read);
# then the kernel's own high-water mark of the run's RSS (VmHWM, as /usr/bin/time -v
# reports it, read at the last sample).
# Usage: benches/stage-memory.sh CONFIG OUT [idresolve binary]
set -euo pipefail
config=$1; out=$2; bin=${3:-./target/release/idresolve}
samples=$(mktemp)
"$bin" run --quiet --config "$config" --out "$out" 2>/dev/null &
pid=$!
t0=$(date +%s.%N)
tick=$(getconf CLK_TCK)
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/{r=int($2/1024)} /RssFile/{f=int($2/1024)} /VmHWM/{h=int($2/1024)} END{if (r != "") print r "," f "," h}' "/proc/$pid/status" 2>/dev/null || true)
  cpu=$(awk -v t="$tick" '{print ($14+$15)/t}' "/proc/$pid/stat" 2>/dev/null || true)
  [ -n "$rss" ] && [ -n "$cpu" ] && echo "$(date +%s.%N) $t0 $rss $cpu" >> "$samples"
  sleep 0.5
done
wait "$pid"
python3 - "$samples" "$out/run.json" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    now, t0, rss, cpu = line.split()
    rss, file, hwm = rss.split(",")
    rows.append((float(now) - float(t0), int(rss), float(cpu), int(file or 0), int(hwm or 0)))
stages = json.load(open(sys.argv[2]))["seconds"]
print("| stage | wall s | CPU s | peak RSS MiB | of it file-backed |")
print("|---|---|---|---|---|")
t = 0.0
for name, secs in stages:
    seg = [r for r in rows if t <= r[0] < t + secs]
    if seg:
        top = max(seg, key=lambda r: r[1])
        print(f"| {name} | {secs:.1f} | {seg[-1][2] - seg[0][2]:.1f} | {top[1]} | {top[3]} |")
    else:
        print(f"| {name} | {secs:.1f} | | | |")
    t += secs
if rows:
    print(f"\nkernel's high-water mark (VmHWM, last sample): {rows[-1][4]} MiB")
PY
rm -f "$samples"
