#!/usr/bin/env bash
# End-to-end benchmark: generate N customers, resolve, evaluate; prints one markdown row
# per size with wall time, per-stage seconds (from run.json), peak memory and quality.
# The timed run writes no pairs.csv; a second run with --emit-pairs gives pair completeness.
# Usage: benches/e2e.sh [CUSTOMERS...]   (default: 2300 23000 230000 ≈ 10k, 100k, 1M records)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=./target/release/idresolve
work=${BENCH_DIR:-$(mktemp -d)}
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(2300 23000 230000)
echo "| customers | records | wall s | ingest | index | candidates | model | compare+score | cluster | output | peak RSS GiB | cand/record | pair completeness | precision | recall | F1 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
  data="$work/data-$n"; out="$work/out-$n"
  [ -f "$data/truth.csv" ] || $bin generate --quiet --customers "$n" --seed 1 --out "$data"
  /usr/bin/time -v $bin run --quiet --config "$data/resolve.toml" --out "$out" 2> "$work/time-$n.txt"
  # Pair completeness needs pairs.csv, which is large: a second, untimed run.
  $bin run --quiet --config "$data/resolve.toml" --out "$out-pairs" --emit-pairs
  $bin evaluate --json --mapping "$out/mapping.csv" --truth "$data/truth.csv" --pairs "$out-pairs/pairs.csv" > "$work/eval-$n.json"
  rm -rf "$out-pairs"
  python3 - "$out/run.json" "$work/eval-$n.json" "$work/time-$n.txt" "$n" <<'PY'
import json, re, sys
run, ev, tv, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), open(sys.argv[3]).read(), sys.argv[4]
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", tv).group(1)
parts = [float(x) for x in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv).group(1)) / 1024 / 1024
st = dict(run["seconds"])
cols = [n, run["records_in"], f"{secs:.1f}"] + [f"{st.get(k, 0):.2f}" for k in ["ingest", "index", "candidates", "model", "compare+score", "cluster", "output"]]
cols += [f"{rss:.2f}", f"{run['candidates']['per_record_mean']:.1f}", f"{ev['pair_completeness']:.4f}", f"{ev['pairwise_precision']:.4f}", f"{ev['pairwise_recall']:.4f}", f"{ev['pairwise_f1']:.4f}"]
print("| " + " | ".join(str(c) for c in cols) + " |")
PY
done
