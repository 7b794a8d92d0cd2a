#!/usr/bin/env python3
"""A simulated night for issue 16: split generated exports into last night and tonight,
run last night in full, tonight in full with --previous and incrementally, and compare.

Usage: benches/night.py DATA WORK [--seed S] [--skip-full-last]
  DATA: a folder made by `idresolve generate` (resolve.toml, the exports, truth.csv).
  WORK: where last/, tonight/ and the outputs go (created).

Last night = 99 % of each export's rows; tonight = last night less 0.3 % (removed), with
0.2 % of the rest changed (a customer's phone, e-mail or address edited), plus the other
1 % (new). Prints one JSON object: wall times, stage seconds, F1 of both runs against the
truth, ID keeping, records whose golden-ID group differs between the two runs.
"""
import csv, json, os, random, re, subprocess, sys, time, tomllib

def main():
    data, work = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
    bin_ = os.environ.get("IDRESOLVE", os.path.join(os.path.dirname(__file__), "..", "target", "release", "idresolve"))
    rng = random.Random(seed)
    conf_text = open(os.path.join(data, "resolve.toml")).read()
    conf = tomllib.loads(conf_text)
    last_dir, tonight_dir = os.path.join(work, "last"), os.path.join(work, "tonight")
    os.makedirs(last_dir, exist_ok=True)
    os.makedirs(tonight_dir, exist_ok=True)
    kept_last, kept_tonight = set(), set()
    for src in conf["source"]:
        path = os.path.join(data, src["path"])
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        id_col = header.index(src["record_id"])
        last, tonight = [header], [header]
        for row in body:
            x = rng.random()
            key = (src["name"], row[id_col])
            if x < 0.01:  # new tonight
                tonight.append(row); kept_tonight.add(key)
                continue
            last.append(row); kept_last.add(key)
            y = rng.random()
            if y < 0.003:  # removed tonight
                continue
            if y < 0.005:  # changed tonight
                row = edit(row, id_col, rng)
            tonight.append(row); kept_tonight.add(key)
        for d, rs in ((last_dir, last), (tonight_dir, tonight)):
            with open(os.path.join(d, src["path"]), "w", newline="", encoding="utf-8") as f:
                csv.writer(f, lineterminator="\n").writerows(rs)
    with open(os.path.join(data, "truth.csv"), newline="") as f:
        truth = list(csv.DictReader(f))
    for d, keep in ((last_dir, kept_last), (tonight_dir, kept_tonight)):
        with open(os.path.join(d, "resolve.toml"), "w") as f:
            f.write(conf_text)
        with open(os.path.join(d, "truth.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(truth[0].keys()), lineterminator="\n")
            w.writeheader()
            w.writerows(r for r in truth if (r["source"], r["record_id"]) in keep)

    def run(cfg, out, *extra):
        t = time.time()
        subprocess.run([bin_, "run", "--quiet", "--config", cfg, "--out", out, *extra], check=True)
        return time.time() - t

    o_last, o_full, o_inc = (os.path.join(work, n) for n in ("o-last", "o-full", "o-inc"))
    res = {"data": data, "seed": seed}
    if "--skip-full-last" not in sys.argv or not os.path.exists(o_last):
        res["wall_last_full"] = round(run(os.path.join(last_dir, "resolve.toml"), o_last), 2)
    tcfg = os.path.join(tonight_dir, "resolve.toml")
    res["wall_tonight_full"] = round(run(tcfg, o_full, "--previous", o_last), 2)
    o_fullm = os.path.join(work, "o-full-same-model")
    run(tcfg, o_fullm, "--previous", o_last, "--model", os.path.join(o_last, "model.json"))
    res["wall_tonight_incremental"] = round(run(tcfg, o_inc, "--previous", o_last, "--incremental"), 2)
    # Warm: the state files in the page cache, as after the full runs above.
    res["wall_tonight_incremental_again"] = round(run(tcfg, o_inc + "-again", "--previous", o_last, "--incremental"), 2)
    for name, o in (("full", o_full), ("incremental", o_inc)):
        rep = json.load(open(os.path.join(o, "run.json")))
        ev = json.loads(subprocess.run([bin_, "evaluate", "--json", "--mapping", os.path.join(o, "mapping.csv"),
                                        "--truth", os.path.join(tonight_dir, "truth.csv")],
                                       check=True, capture_output=True, text=True).stdout)
        res[name] = {"seconds": dict(rep["seconds"]), "f1": round(ev["pairwise_f1"], 4),
                     "precision": round(ev["pairwise_precision"], 4), "recall": round(ev["pairwise_recall"], 4),
                     "ids_kept": rep.get("golden_ids_kept_from_previous"), "id_changes": rep.get("id_changes"),
                     "night": rep.get("records_since_previous"), "incremental": rep.get("incremental")}
    res.update(compare(o_last, o_full, o_inc, kept_tonight))
    res["same_model"] = partition(o_fullm, o_inc)
    res["retrained"] = partition(o_full, o_inc)
    print(json.dumps(res, indent=1))

def edit(row, id_col, rng):
    """A customer's detail edited: a digit of a phone-like value, or an e-mail/address."""
    row = list(row)
    cols = [i for i, v in enumerate(row) if i != id_col and v.strip()]
    digits = [i for i in cols if sum(c.isdigit() for c in row[i]) >= 7 and "@" not in row[i]]
    mails = [i for i in cols if "@" in row[i]]
    pick = rng.choice(digits or mails or cols)
    v = row[pick]
    if pick in digits:
        pos = [j for j, c in enumerate(v) if c.isdigit()][-1]
        v = v[:pos] + str((int(v[pos]) + 1) % 10) + v[pos + 1:]
    elif "@" in v:
        v = "new." + v
    else:
        v = v + " 2"
    row[pick] = v
    return row

def partition(a, b):
    """Customers of run a that run b has record for record, and with the same ID."""
    ma, mb = mapping(a), mapping(b)
    def groups(m):
        g = {}
        for k, v in m.items():
            g.setdefault(v, set()).add(k)
        return g
    ga, gb = groups(ma), groups(mb)
    sets_b = {frozenset(v) for v in gb.values()}
    same = sum(1 for v in ga.values() if frozenset(v) in sets_b)
    same_id = sum(1 for g, v in ga.items() if gb.get(g) == v)
    return {"customers": len(ga), "same_records_share": round(same / len(ga), 5),
            "same_records_and_id_share": round(same_id / len(ga), 5)}

def mapping(o):
    with open(os.path.join(o, "mapping.csv"), newline="") as f:
        return {(r["source"], r["record_id"]): r["golden_id"] for r in csv.DictReader(f)}

def compare(o_last, o_full, o_inc, tonight):
    last, full, inc = mapping(o_last), mapping(o_full), mapping(o_inc)
    def groups(m):
        g = {}
        for k, v in m.items():
            g.setdefault(v, []).append(k)
        return {k: frozenset(g[v]) for k, v in m.items()}
    gf, gi = groups(full), groups(inc)
    differ = sum(1 for k in gf if gi.get(k) != gf[k])
    old_ids = set(last.values())
    new_full = set(full.values()) - old_ids
    new_inc = set(inc.values()) - old_ids
    # Customers (full run's groups) whose golden ID is the same in both runs.
    customers = set(gf.values())
    same_id = sum(1 for c in customers if len({full[k] for k in c}) == 1 and {inc.get(k) for k in c} == {full[next(iter(c))]})
    return {
        "records_tonight": len(tonight),
        "mapped_full": len(full), "mapped_incremental": len(inc),
        "incremental_maps_every_record_full_maps": set(inc) == set(full),
        "incremental_maps_removed": len(set(inc) - tonight),
        "records_group_differs": differ,
        "records_group_agrees_share": round(1 - differ / max(1, len(gf)), 5),
        "customers_same_id_share": round(same_id / max(1, len(customers)), 5),
        "new_ids_reused_from_last": len(new_inc & old_ids),
        "new_ids_full": len(new_full), "new_ids_incremental": len(new_inc),
    }

if __name__ == "__main__":
    main()
