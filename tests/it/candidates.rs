//! Candidate generation on small purpose-made exports, through the library API.

use std::fs;
use std::path::Path;

use idresolve::{candidates, ingest, Config};

fn write_source(dir: &Path, rows: &[[String; 4]]) -> Config {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.to_vec()).collect();
    write_columns(
        dir,
        &[
            ("name", "full_name"),
            ("email", "email"),
            ("phone", "phone"),
        ],
        &rows,
    )
}

/// One export `people.csv` with an `id` column and the given (column, field kind) pairs.
fn write_columns(dir: &Path, columns: &[(&str, &str)], rows: &[Vec<String>]) -> Config {
    let mut csv = String::from("id");
    let mut fields = String::new();
    for (column, kind) in columns {
        csv.push_str(&format!(",{column}"));
        fields.push_str(&format!("{kind} = \"{column}\"\n"));
    }
    csv.push('\n');
    for r in rows {
        csv.push_str(&r.join(","));
        csv.push('\n');
    }
    fs::write(dir.join("people.csv"), csv).unwrap();
    fs::write(
        dir.join("resolve.toml"),
        format!("[[source]]\nname = \"people\"\npath = \"people.csv\"\nrecord_id = \"id\"\n[source.fields]\n{fields}"),
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
    let index = candidates::build_index(&data, &idresolve::index::BuildIn::Ram, |_| {}).unwrap();
    let c = candidates::generate(
        &data,
        &index,
        candidates::ExactJoins::find(&data),
        config.matching.candidates,
        |_| {},
    );
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
fn a_front_desk_phone_does_not_merge_the_whole_street() {
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
    // The candidate bound follows from top-K; what matters is the end: 500 people,
    // not one customer. The shared phone is common (its weight is cut by its frequency)
    // and held by people with different first names (a household key).
    let res = idresolve::resolve(
        &config,
        &idresolve::Options::default(),
        &idresolve::NoProgress,
    )
    .unwrap();
    assert!(
        res.customers.len() >= 495,
        "{} customers: the shared phone merged people",
        res.customers.len()
    );
}

fn profile_pair(data: &idresolve::record::Dataset, a: &str, b: &str) -> (u32, u32) {
    let (a, b) = (
        data.records[data.find("people", a).unwrap() as usize].profile,
        data.records[data.find("people", b).unwrap() as usize].profile,
    );
    (a.min(b), a.max(b))
}

/// A support ticket that gives only a common name and a phone meets the shop order that
/// gives the name and an address through the account that has both: the ticket and the
/// account share a phone, so they search as one.
#[test]
fn what_one_record_knows_finds_records_for_another() {
    let dir = tempfile::tempdir().unwrap();
    // Sixty tickets from other Nicole Moores that give nothing but the name: among them,
    // the name alone is a lottery.
    let mut rows: Vec<Vec<String>> = (0..60)
        .map(|i| {
            vec![
                format!("N{i}"),
                // Middle names keep them apart (one profile each), and are not searched.
                format!(
                    "Nicole {}{} Moore",
                    (b'a' + i / 26) as char,
                    (b'a' + i % 26) as char
                ),
                String::new(),
                String::new(),
                String::new(),
            ]
        })
        .collect();
    rows.extend(filler(300).into_iter().map(|r| {
        let mut r = r.to_vec();
        r.push(String::new());
        r
    }));
    rows.push(vec![
        "TICKET".into(),
        "Nicole Moore".into(),
        String::new(),
        "(650) 555-0142".into(),
        String::new(),
    ]);
    rows.push(vec![
        "ACCOUNT".into(),
        "Nicole Moore".into(),
        "nmoore@example.net".into(),
        "(650) 555-0142".into(),
        "77 Quarry Lane".into(),
    ]);
    rows.push(vec![
        "ORDER".into(),
        "Nicole Moore".into(),
        String::new(),
        String::new(),
        "77 Quarry Lane".into(),
    ]);
    let config = write_columns(
        dir.path(),
        &[
            ("name", "full_name"),
            ("email", "email"),
            ("phone", "phone"),
            ("address", "address"),
        ],
        &rows,
    );
    let (data, c) = pairs_of(&config);
    let pair = profile_pair(&data, "TICKET", "ORDER");
    assert!(
        c.pairs.contains(&pair),
        "the ticket never met the order it shares a customer with"
    );
}

/// Phone numbers one keystroke apart are candidates when the records carry no name, or
/// names that could be one person's; not between clearly different people (whose pairs
/// would grow with the square of how densely numbers fill an area code).
#[test]
fn phones_one_keystroke_apart_pair_namesakes_not_strangers() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = filler(300);
    for (id, name, phone) in [
        ("ROBERT", "Robert Smith", "(415) 555-0142"),
        ("ROB", "Rob Smyth", "(415) 555-0124"),
        ("STRANGER", "Zoe Quinlan", "(415) 555-0143"),
    ] {
        rows.push([id.into(), name.into(), String::new(), phone.into()]);
    }
    let config = write_source(dir.path(), &rows);
    let (data, c) = pairs_of(&config);
    assert!(
        c.pairs.contains(&profile_pair(&data, "ROBERT", "ROB")),
        "a transposed digit between Smith and Smyth is not a candidate"
    );
    assert!(
        !c.pairs.contains(&profile_pair(&data, "ROBERT", "STRANGER")),
        "a stranger one digit away was paired"
    );
}

/// Phone numbers one keystroke apart are candidates whatever else nameless records hold.
#[test]
fn phones_one_keystroke_apart_are_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = filler(300);
    for (id, phone) in [
        ("A", "(503) 248-1190"),
        ("SWAPPED", "(503) 284-1190"),
        ("DROPPED", "503-248-190"),
    ] {
        rows.push([id.into(), String::new(), String::new(), phone.into()]);
    }
    let config = write_source(dir.path(), &rows);
    let (data, c) = pairs_of(&config);
    for other in ["SWAPPED", "DROPPED"] {
        assert!(
            c.pairs.contains(&profile_pair(&data, "A", other)),
            "A and {other} are not candidates"
        );
    }
    assert!(c.stats.near_phone_pairs >= 2);
}

/// "Nicole" and "Moore" are each common; "Nicole Moore" is not. Two records of hers that
/// share nothing but the name still meet among hundreds of Nicoles and Moores.
#[test]
fn a_common_first_and_last_name_together_are_rare() {
    let dir = tempfile::tempdir().unwrap();
    let others = [
        "Adams", "Baker", "Clark", "Davis", "Evans", "Foster", "Gray", "Hayes", "Irwin", "Jones",
    ];
    let mut rows: Vec<[String; 4]> = Vec::new();
    for i in 0..300 {
        let other = format!("{}{}", others[i % others.len()], i / others.len());
        // Twice as many Moores: a query's rarest single terms are all Nicole's.
        for (id, name) in [
            (format!("F{i}"), format!("Nicole {other}")),
            (format!("L{i}"), format!("{other} Moore")),
            (format!("M{i}"), format!("{other}x Moore")),
        ] {
            rows.push([id, name, String::new(), String::new()]);
        }
    }
    rows.push([
        "A".into(),
        "Nicole Moore".into(),
        String::new(),
        "(971) 555-0188".into(),
    ]);
    rows.push([
        "B".into(),
        "Nicole Moore".into(),
        "nicole.m@example.org".into(),
        String::new(),
    ]);
    let config = write_source(dir.path(), &rows);
    let (data, c) = pairs_of(&config);
    assert!(c.pairs.contains(&profile_pair(&data, "A", "B")));
}

#[test]
fn placeholders_typed_by_agents_do_not_chain_strangers() {
    let dir = tempfile::tempdir().unwrap();
    // Three hundred people with two tickets each, the second without an e-mail (so that
    // the model learns what a name and a phone are worth). On ten second tickets the agent
    // typed a placeholder e-mail, on five a placeholder phone; thirty tickets of unknown
    // callers carry nothing but placeholders.
    let people = filler(300);
    let mut rows: Vec<[String; 4]> = people.clone();
    for (i, p) in people.iter().enumerate() {
        let mut second = p.clone();
        second[0] = format!("S{i}");
        // Every twelfth person has another surname (see `filler`).
        second[2] = if i % 12 == 0 && i < 120 {
            "noemail@noemail.com".into()
        } else {
            String::new()
        };
        if i % 12 == 1 && i < 60 {
            second[3] = "555-555-1234".into();
        }
        rows.push(second);
    }
    for i in 0..30 {
        rows.push([
            format!("J{i}"),
            "Jane Doe".into(),
            "noemail@noemail.com".into(),
            "555-555-1234".into(),
        ]);
    }
    let config = write_source(dir.path(), &rows);
    let res = idresolve::resolve(
        &config,
        &idresolve::Options::default(),
        &idresolve::NoProgress,
    )
    .unwrap();
    let largest = res.customers.iter().map(Vec::len).max().unwrap();
    assert!(largest <= 2, "a customer of {largest} records");
    let alone = res
        .customers
        .iter()
        .filter(|c| c.len() == 1 && res.data.records[c[0] as usize].record_id.starts_with('J'))
        .count();
    assert_eq!(alone, 30, "each unknown caller is a customer of one ticket");
}
