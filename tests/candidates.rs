//! Candidate generation on small purpose-made exports, through the library API.

use std::fs;
use std::path::Path;

use idresolve::{candidates, ingest, Config};

fn write_source(dir: &Path, rows: &[[String; 4]]) -> Config {
    let mut csv = String::from("id,name,email,phone\n");
    for r in rows {
        csv.push_str(&format!("{},{},{},{}\n", r[0], r[1], r[2], r[3]));
    }
    fs::write(dir.join("people.csv"), csv).unwrap();
    fs::write(
        dir.join("resolve.toml"),
        "[[source]]\nname = \"people\"\npath = \"people.csv\"\nrecord_id = \"id\"\n[source.fields]\nfull_name = \"name\"\nemail = \"email\"\nphone = \"phone\"\n",
    )
    .unwrap();
    Config::load(&dir.join("resolve.toml")).unwrap()
}

/// Distinct filler people: names and contacts that share nothing in particular.
fn filler(n: usize) -> Vec<[String; 4]> {
    let firsts = [
        "Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lia",
    ];
    let lasts = [
        "Moss", "Nash", "Orr", "Pike", "Quinn", "Rowe", "Shaw", "Tate", "Upton", "Vance", "Wolfe",
        "Yates", "Zane",
    ];
    (0..n)
        .map(|i| {
            let (f, l) = (
                firsts[i % firsts.len()],
                lasts[(i / firsts.len()) % lasts.len()],
            );
            [
                format!("F{i}"),
                format!("{f} {l}{}", i / 156),
                format!("{}{}{i}@example.org", f.to_lowercase(), l.to_lowercase()),
                format!("(312) 5{:02}-{:04}", i % 90 + 10, 1000 + i),
            ]
        })
        .collect()
}

fn pairs_of(config: &Config) -> (idresolve::record::Dataset, candidates::Candidates) {
    let data = ingest::ingest(config, |_| {}).unwrap();
    let index = candidates::build_index(&data, |_| {}).unwrap();
    let c = candidates::generate(&data, &index, config.matching.candidates, |_| {});
    (data, c)
}

#[test]
fn a_typo_in_every_field_still_finds_the_pair() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = filler(400);
    rows.push([
        "A".into(),
        "Jonathan Whitaker".into(),
        "jwhitaker@example.com".into(),
        "(415) 867-5309".into(),
    ]);
    rows.push([
        "B".into(),
        "Jonathon Whittaker".into(),
        "jwhitaker@exmaple.com".into(),
        "415-867-5390".into(),
    ]);
    let config = write_source(dir.path(), &rows);
    let (data, c) = pairs_of(&config);
    let (a, b) = (
        data.find("people", "A").unwrap(),
        data.find("people", "B").unwrap(),
    );
    let (pa, pb) = (
        data.records[a as usize].profile,
        data.records[b as usize].profile,
    );
    assert!(
        c.pairs.contains(&(pa.min(pb), pa.max(pb))),
        "typo'd duplicates are not candidates"
    );
}

#[test]
fn a_household_phone_does_not_pull_in_the_whole_street() {
    let dir = tempfile::tempdir().unwrap();
    // 500 different people who all give the front desk's number.
    let rows: Vec<[String; 4]> = filler(500)
        .into_iter()
        .map(|mut r| {
            r[3] = "(312) 555-0100".into();
            r
        })
        .collect();
    let config = write_source(dir.path(), &rows);
    let (_, c) = pairs_of(&config);
    assert!(
        c.stats.per_record_mean <= (config.matching.candidates * 2) as f64,
        "mean {} candidates per record",
        c.stats.per_record_mean
    );
    assert!(
        c.pairs.len() < 500 * 499 / 2 / 10,
        "{} pairs: the shared phone joined everyone",
        c.pairs.len()
    );
}
