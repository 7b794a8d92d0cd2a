//! Per-stage benchmarks on generated data (`idresolve generate --customers 20000 --seed 1`,
//! about 88k records). Run: `cargo bench --bench stages`. End-to-end figures at 10k, 100k
//! and 1M records come from `benches/e2e.sh`; see docs/benchmarks.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use idresolve::{candidates, compare, model, normalize, Config, NoProgress, Options};

fn setup() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("temp dir");
    idresolve::generate::generate(20_000, 1, dir.path()).expect("generate");
    let config = Config::load(&dir.path().join("resolve.toml")).expect("config");
    (dir, config)
}

fn stages(c: &mut Criterion) {
    let (_dir, config) = setup();
    let data = idresolve::ingest::ingest(&config, |_| {}).expect("ingest");
    let mut g = c.benchmark_group("stages-20k-customers");
    g.sample_size(10);
    g.bench_function("ingest+normalize", |b| {
        b.iter(|| idresolve::ingest::ingest(&config, |_| {}).expect("ingest"))
    });
    g.bench_function("index build", |b| {
        b.iter(|| {
            candidates::build_index(&data, &idresolve::index::BuildIn::Ram, |_| {}).expect("index")
        })
    });
    let index =
        candidates::build_index(&data, &idresolve::index::BuildIn::Ram, |_| {}).expect("index");
    g.bench_function("candidates", |b| {
        b.iter(|| {
            candidates::generate(
                &data,
                &index,
                candidates::ExactJoins::find(&data),
                config.matching.candidates,
                |_| {},
            )
        })
    });
    let cands = candidates::generate(
        &data,
        &index,
        candidates::ExactJoins::find(&data),
        config.matching.candidates,
        |_| {},
    );
    let shared = idresolve::compare::SharedValues::learn(&data);
    g.bench_function("compare", |b| {
        b.iter(|| idresolve::compare_pairs(&data, &shared, &cands.pairs, &NoProgress))
    });
    let comparisons: Vec<model::Levels> =
        idresolve::compare_pairs(&data, &shared, &cands.pairs, &NoProgress)
            .iter()
            .map(|c| c.levels)
            .collect();
    g.bench_function("train (u sample + EM)", |b| {
        b.iter(|| {
            model::train(
                &data,
                &comparisons,
                cands.pairs.len(),
                &shared,
                config.matching.u_sample_pairs,
                config.matching.max_em_iterations,
            )
        })
    });
    g.bench_function("end to end (no output)", |b| {
        b.iter(|| idresolve::resolve(&config, &Options::default(), &NoProgress).expect("resolve"))
    });
    g.finish();
}

fn normalizers(c: &mut Criterion) {
    let names = [
        "SMITH, Robert",
        "Dr. María-José García Jr.",
        "bob smith",
        "O'Brien, Patrick J.",
    ];
    c.bench_function("parse_full_name", |b| {
        b.iter(|| {
            names
                .iter()
                .filter_map(|n| normalize::parse_full_name(black_box(n)))
                .count()
        })
    });
    let mut phones = normalize::PhoneNormalizer::new(phonenumber::country::Id::US);
    c.bench_function("phone (cached)", |b| {
        b.iter(|| phones.normalize(black_box("(555) 123-4567")))
    });
    let a = normalize::parse_full_name("Robert Smith").expect("name");
    let p = idresolve::record::Profile {
        names: vec![a],
        ..Default::default()
    };
    let q = idresolve::record::Profile {
        names: vec![normalize::parse_full_name("SMITH, Bob").expect("name")],
        ..Default::default()
    };
    c.bench_function("compare two profiles", |b| {
        b.iter(|| compare::compare(black_box(&p), black_box(&q)))
    });
}

criterion_group!(benches, normalizers, stages);
criterion_main!(benches);
