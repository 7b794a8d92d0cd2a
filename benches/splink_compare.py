#!/usr/bin/env python3
"""Splink 5 (DuckDB) on the same four generated exports idresolve resolves, for the speed
comparison in docs/benchmarks.md. Splink needs one table with shared column names, so the
exports are first harmonised here (names split, phones to their last ten digits, e-mails
lower-cased): that step is timed apart. The model is set up as Splink's own deduplication
examples do: name, date-of-birth, e-mail and exact comparisons with term frequencies on
names, blocking on exact keys and names, u by random sampling, EM on two blocking rules,
predictions above 0.9 clustered at 0.9. Writes a mapping (source,record_id,golden_id)
that `idresolve evaluate` scores.

Usage: pip install splink==5.0.0; benches/splink_compare.py DATA_DIR OUT_MAPPING.csv
"""
import re
import sys
import time

import pandas as pd


def digits(s):
    d = re.sub(r"\D", "", str(s or ""))
    return d[-10:] if len(d) >= 7 else None


def split_name(raw):
    raw = str(raw or "").strip()
    if not raw:
        return None, None
    if "," in raw:
        last, first = raw.split(",", 1)
    else:
        parts = raw.split()
        first, last = (parts[0], parts[-1]) if len(parts) > 1 else (parts[0], "")
    first, last = first.strip().lower() or None, last.strip().lower() or None
    return first, last


def harmonise(data):
    read = lambda f: pd.read_csv(f"{data}/{f}.csv", dtype=str, keep_default_na=False,
                                 on_bad_lines="skip")
    rows = []
    for r in read("warranty").itertuples():
        f, l = split_name(r.owner_name)
        rows.append(("warranty", r.claim_no, f, l, r.owner_email, r.owner_phone, None,
                     None, None, None, r.serial_number))
    for r in read("billing").itertuples():
        rows.append(("billing", r.account_id, r.first_name.lower() or None,
                     r.last_name.lower() or None, r.email, r.phone, r.birth_date or None,
                     r.street, r.city, r.zip[:5], None))
    for r in read("support").itertuples():
        f, l = split_name(r.caller)
        rows.append(("support", r.case_number, f, l, r.email, r.callback_number, None,
                     None, None, None, r.device_serial))
    for r in read("shop").itertuples():
        f, l = split_name(r.customer_name)
        rows.append(("shop", r.order_id, f, l, r.customer_email, r.customer_phone, None,
                     None, None, None, None))
    df = pd.DataFrame(rows, columns=["source", "record_id", "first_name", "surname", "email",
                                     "phone", "dob", "address", "city", "postcode", "serial"])
    df["email"] = df["email"].str.lower().replace("", None)
    df["phone"] = df["phone"].map(digits)
    df["serial"] = df["serial"].str.upper().str.replace(r"[^A-Z0-9]", "", regex=True).replace("", None)
    for c in ["address", "city", "postcode", "dob"]:
        df[c] = df[c].replace("", None)
    df["unique_id"] = df["source"] + ":" + df["record_id"]
    return df


def main():
    data, out = sys.argv[1], sys.argv[2]
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t0 = time.time()
    df = harmonise(data)
    t1 = time.time()
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("serial"),
            block_on("first_name", "surname"),
            block_on("surname", "postcode"),
        ],
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.ExactMatch("serial"),
            cl.LevenshteinAtThresholds("address", 2),
            cl.ExactMatch("postcode"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(df), settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("phone")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
    pairs = linker.inference.predict(threshold_match_probability=0.9)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pairs, threshold_match_probability=0.9).as_pandas_dataframe()
    t2 = time.time()
    m = df[["unique_id", "source", "record_id"]].merge(
        clusters[["unique_id", "cluster_id"]], on="unique_id", how="left")
    m["golden_id"] = m["cluster_id"].fillna(m["unique_id"])
    m[["source", "record_id", "golden_id"]].to_csv(out, index=False)
    print(f"records {len(df)} harmonise {t1 - t0:.1f} s splink {t2 - t1:.1f} s total {t2 - t0:.1f} s")


if __name__ == "__main__":
    main()
