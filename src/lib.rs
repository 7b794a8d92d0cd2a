//! idresolve links the records of each real customer across CSV exports that share no
//! key, and writes a golden customer ID mapping.
//!
//! The pipeline (see `ARCHITECTURE.md` and `docs/`), one module per stage, each taking plain
//! data and returning plain data:
//! [`config`] (+ [`export`]) → [`ingest`] (+ [`normalize`]) → [`index`] → [`candidates`]
//! → [`compare`] → [`model`] → [`cluster`] → [`identity`] → [`golden`] → [`output`]
//! (+ [`mapping`], [`report`], [`store`], in the folder [`outdir`] prepares).
//! [`resolve`] composes them; the side commands reuse them: [`explain`], [`lookup`],
//! [`evaluate`], [`generate`].

pub mod attention;
pub mod candidates;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod desk;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod export;
pub mod generate;
pub mod golden;
pub mod htmlreport;
pub mod identity;
pub mod incremental;
pub mod index;
pub mod ingest;
pub mod init;
pub mod lookup;
pub mod mapping;
pub mod model;
pub mod normalize;
pub mod outdir;
pub mod output;
pub mod overrides;
pub mod record;
pub mod report;
pub mod review;
pub mod rows;
pub mod similarity;
pub mod state;
pub mod store;
pub mod tables;
pub mod tabular;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

pub use config::{Config, FieldKind};
pub use error::{Error, Result};

use candidates::Candidates;
use cluster::{Clustering, Edge};
use compare::Comparison;
use identity::IdAssignment;
use model::{Model, Scorer, TermFrequencies};
use record::{Dataset, RecordOrd};

/// Receives progress of long stages; the CLI draws bars, tests and benches ignore it.
pub trait Progress: Sync {
    /// A stage starts; `total` is the number of items when known.
    fn stage(&self, _name: &'static str, _total: Option<u64>) {}
    /// `n` more items of the current stage are done.
    fn advance(&self, _n: u64) {}
    /// The current stage is finished.
    fn finish(&self) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Options of a run beyond the config file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Reuse a trained model (`model.json`) instead of training.
    pub model: Option<PathBuf>,
    /// Output folder of the previous run, for stable golden IDs.
    pub previous: Option<PathBuf>,
    /// Write `pairs.csv` with every scored candidate pair.
    pub emit_pairs: bool,
    /// Format of the tables `mapping`, `golden`, `cases`, `links`, `attention`, `pairs`.
    pub output_format: tabular::Format,
    /// With `previous`: look again only at what changed since that run
    /// ([`incremental::resolve`]).
    pub incremental: bool,
    /// A folder the run may write its working files into: the output's staging folder
    /// ([`outdir::OutputDir::staging`]). The candidate index is built there (its
    /// `index/`, which the output keeps), and with `spill_details` the records' details
    /// wait there between ingest and output. Without it everything stays in memory.
    pub work_dir: Option<PathBuf>,
    /// Move the records' details into the work folder between ingest and output
    /// ([`record::DetailStore::spill`]): for runs whose memory is tight (the CLI decides
    /// with its memory policy); otherwise they stay in memory, which is faster.
    pub spill_details: bool,
}

impl Options {
    /// Where the records' details go between ingest and output, if anywhere.
    pub(crate) fn spill_dir(&self) -> Option<&Path> {
        self.work_dir.as_deref().filter(|_| self.spill_details)
    }
}

/// Everything a run computed; [`output::write`] turns it into files.
pub struct Resolution {
    pub data: Dataset,
    /// The candidate index (profiles' terms), saved into `OUT/index/` for `lookup`;
    /// `None` when the run built it in its work folder, where it already is.
    pub index: Option<index::TermIndex>,
    pub candidates: Candidates,
    pub model: Model,
    pub tf: TermFrequencies,
    /// Scored candidate pairs, in candidate order.
    pub edges: Vec<Edge>,
    /// Weight of each profile compared with itself (NaN for single-record profiles).
    pub self_weight: Vec<f32>,
    /// Profiles with nothing personal in them ([`compare::SharedValues::impersonal`]).
    pub impersonal: Vec<bool>,
    pub clustering: Clustering,
    pub customers: Vec<Vec<RecordOrd>>,
    pub ids: IdAssignment,
    /// The golden record of each customer (same order as `customers`).
    pub goldens: Vec<golden::GoldenRecord>,
    /// Values held by strangers, whose agreement was read as missing.
    pub shared: compare::SharedValues,
    /// The link threshold used: `[match] threshold`, or the model's choice.
    pub threshold: f64,
    pub threshold_configured: bool,
    /// Where the model expects the best F1 over the scored pairs.
    pub model_best: Option<model::ExpectedQuality>,
    pub default_region: String,
    /// What the steward's overrides did (with `[match] overrides`).
    pub overrides: Option<overrides::OverrideStats>,
    /// Customers who need a call back (`attention.csv`), worst first.
    pub attention: Vec<attention::Flag>,
    /// With `--previous`: records new, changed, unchanged and removed since that run.
    pub night: Option<rows::Night>,
    /// What an incremental run looked at again (`None` for a full run).
    pub incremental: Option<incremental::IncrementalStats>,
    /// [`state::config_fingerprint`] of the config, saved with the state.
    pub config_fingerprint: String,
    /// A night's hand-over of last night's state (its layers are linked, not written).
    pub carry: Option<state::Carry>,
    /// A night's hand-over of last night's lookup store (customers carried over).
    pub store_carry: Option<store::Carried>,
    pub timings: Vec<(&'static str, f64)>,
}

pub(crate) struct Timer(pub(crate) Vec<(&'static str, f64)>, pub(crate) Instant);
impl Timer {
    pub(crate) fn lap(&mut self, stage: &'static str) {
        self.0.push((stage, self.1.elapsed().as_secs_f64()));
        self.1 = Instant::now();
    }
}

/// Runs the whole pipeline on a validated config.
pub fn resolve(config: &Config, options: &Options, progress: &dyn Progress) -> Result<Resolution> {
    if options.incremental {
        return incremental::resolve(config, options, progress);
    }
    let mut t = Timer(Vec::new(), Instant::now());
    let previous = options
        .previous
        .as_deref()
        .map(identity::load_previous)
        .transpose()?;
    let reused_model = options.model.as_deref().map(Model::load).transpose()?;

    progress.stage("ingest", None);
    let data = ingest::ingest(config, |n| progress.advance(n))?;
    let steward = config
        .matching
        .overrides
        .as_deref()
        .map(|path| overrides::read(path, &data.sources))
        .transpose()?
        .map(|o| o.resolve(&data));
    progress.finish();
    let night = previous
        .as_ref()
        .and_then(|p| p.rows.as_ref())
        .map(|fp| rows::compare(&data, fp));
    let mut data = data;
    if let Some(dir) = options.spill_dir() {
        data.details.spill(dir)?;
    }
    t.lap("ingest");

    // The index is built by one tantivy writer thread (for reproducible DocIds), which
    // leaves a core mostly idle: what needs only the records (the exact-key joins, the
    // values strangers share, term frequencies, u among random pairs) is made meanwhile
    // on a side thread. Its results do not depend on where they are made.
    progress.stage("index", Some(data.profiles.len() as u64));
    let train = reused_model.is_none();
    let u_sample = model::USample::new(
        &data,
        if train {
            config.matching.u_sample_pairs
        } else {
            0
        },
    );
    let shared_cell = std::sync::OnceLock::new();
    let (index, from_records) = beside(
        || {
            let index = candidates::build_index(&data, &index_in(options), |n| progress.advance(n));
            // On small data the index is done first: help with the u-sample.
            if let Some(shared) = shared_cell.get() {
                (0..rayon::current_num_threads())
                    .into_par_iter()
                    .for_each(|_| u_sample.work(shared));
            }
            index
        },
        || FromRecords::make(&data, &shared_cell, &u_sample),
    );
    let index = index?;
    let FromRecords {
        exact,
        impersonal,
        tf,
    } = from_records;
    let shared = shared_cell
        .into_inner()
        .unwrap_or_else(|| compare::SharedValues::learn(&data));
    progress.finish();
    data.details.release_pages();
    t.lap("index");

    progress.stage("candidates", Some(data.profiles.len() as u64));
    let candidates = candidates::generate(&data, &index, exact, config.matching.candidates, |n| {
        progress.advance(n)
    });
    progress.finish();
    // An index built in the work folder is already the output's: its pages go now.
    let index = options.work_dir.is_none().then_some(index);
    t.lap("candidates");

    // Training needs a sample of comparison vectors, scoring needs all of them: the
    // sample is compared twice, and the full set is never held in memory. Values that
    // strangers share are learned from tonight's data, with or without a reused model.
    progress.stage("model", None);
    let model = match reused_model {
        Some(m) => m,
        None => {
            let sample = training_sample(&candidates);
            let levels = map_compared(&data, &shared, &sample, progress, |_, _, c| c.levels);
            model::train_from_u(
                &data,
                &levels,
                candidates.pairs.len(),
                u_sample.finish(),
                config.matching.u_sample_pairs,
                config.matching.max_em_iterations,
            )
        }
    };
    progress.finish();
    t.lap("model");

    // Records that shared a golden ID last night are compared again tonight, whether or
    // not the search pairs them (a bigger index can push one out of another's top K).
    // They are scored, not trained on: the model sees the search's candidates only.
    let carried = previous
        .as_ref()
        .map(|prev| identity::previous_pairs(&data, prev))
        .unwrap_or_default();
    let mut scored_pairs = std::borrow::Cow::Borrowed(&candidates.pairs);
    if !carried.is_empty() {
        let pairs = scored_pairs.to_mut();
        pairs.extend(carried.iter().copied());
        pairs.par_sort_unstable();
        pairs.dedup();
    }
    progress.stage("compare+score", Some(scored_pairs.len() as u64));
    let scorer = Scorer {
        model: &model,
        tf: &tf,
    };
    let mut edges: Vec<Edge> =
        map_compared(&data, &shared, &scored_pairs, progress, |a, b, c| Edge {
            a,
            b,
            weight: scorer.weight(&c) as f32,
            evidence: shared.evidence(&c),
            carried_only: !carried.is_empty() && candidates.pairs.binary_search(&(a, b)).is_err(),
        });
    let self_weight = self_weights(&data, &impersonal, &scorer, &shared);
    // The edges hold every scored pair: the candidate list is not needed again (its
    // count stays in the stats).
    drop(scored_pairs);
    let mut candidates = candidates;
    candidates.pairs = Vec::new();
    progress.finish();
    t.lap("compare+score");

    progress.stage("cluster", None);
    // Without a configured threshold, the model's own: where it expects the best F1 over
    // tonight's scored pairs (before last night's links are raised).
    let model_best = model::expected_best_threshold(
        edges
            .iter()
            .filter(|e| !e.carried_only)
            .map(|e| e.weight)
            .collect::<Vec<_>>(),
    );
    let threshold = model::chosen_threshold(
        config.matching.threshold,
        model_best.as_ref(),
        config::DEFAULT_THRESHOLD,
    );
    let threshold_weight = model::weight_of_probability(threshold);
    let links_kept = identity::keep_previous_links(&mut edges, &carried, threshold_weight);
    let penalties = conflict_penalties(&model);
    let cannot_link = steward
        .as_ref()
        .map(|s| s.cannot_link(&data))
        .unwrap_or_default();
    let mut clustering = cluster::cluster(
        &data,
        &edges,
        &self_weight,
        &impersonal,
        &shared,
        threshold_weight,
        cluster::Rules {
            penalties,
            cannot_link: &cannot_link,
        },
    );
    clustering.stats.links_kept_from_previous = links_kept;
    let customers = identity::customers(&data, &clustering);
    let (customers, ids, override_stats) = settle_ids(
        &data,
        customers,
        steward.as_ref(),
        &clustering.constrained,
        previous.as_ref(),
    );
    progress.finish();
    t.lap("cluster");

    let (goldens, attention) = goldens_and_attention(config, &data, &customers, &ids);
    t.lap("golden");

    Ok(Resolution {
        data,
        index,
        candidates,
        model,
        tf,
        edges,
        self_weight,
        impersonal,
        clustering,
        customers,
        ids,
        goldens,
        shared,
        threshold,
        threshold_configured: config.matching.threshold.is_some(),
        model_best,
        default_region: config.default_region.clone(),
        overrides: override_stats,
        attention,
        night,
        incremental: None,
        config_fingerprint: state::config_fingerprint(config),
        carry: None,
        store_carry: None,
        timings: t.0,
    })
}

/// Where a run builds its candidate index: in its work folder's `index/` when it has
/// one (the output keeps it there), else in RAM.
pub(crate) fn index_in(options: &Options) -> index::BuildIn {
    match &options.work_dir {
        Some(dir) => index::BuildIn::Dir(dir.join(store::DIR)),
        None => index::BuildIn::Ram,
    }
}

/// Weight of each profile compared with itself, for profiles of several records (NaN
/// otherwise): records that repeat a profile with nothing personal in it (a name, and
/// contact details strangers share) are not one person because they agree.
pub(crate) fn self_weights(
    data: &Dataset,
    impersonal: &[bool],
    scorer: &Scorer,
    shared: &compare::SharedValues,
) -> Vec<f32> {
    let sizes = data.records_per_profile();
    data.profiles
        .par_iter()
        .zip(sizes.par_iter())
        .zip(impersonal.par_iter())
        .map(|((p, &n), &none)| {
            if n > 1 && !none {
                scorer.weight(&compare::compare_with(p, p, shared)) as f32
            } else {
                f32::NAN
            }
        })
        .collect()
}

/// What conflicting dates of birth and ids cost a merge, by the model.
pub(crate) fn conflict_penalties(model: &Model) -> cluster::ConflictPenalties {
    cluster::ConflictPenalties {
        dob: model.disagreement_penalty(compare::DOB),
        id: model.disagreement_penalty(compare::ID),
    }
}

/// After clustering, in full and incremental runs alike: the steward's overrides, then
/// golden IDs (with the previous run's).
pub(crate) fn settle_ids(
    data: &Dataset,
    mut customers: Vec<Vec<RecordOrd>>,
    steward: Option<&overrides::Resolved>,
    constrained: &[bool],
    previous: Option<&identity::Previous>,
) -> (
    Vec<Vec<RecordOrd>>,
    IdAssignment,
    Option<overrides::OverrideStats>,
) {
    let mut override_stats = None;
    let mut decided = Vec::new();
    if let Some(steward) = steward {
        let (applied, stats, by_override) =
            overrides::apply(customers, data.records.len(), steward, constrained);
        customers = applied;
        override_stats = Some(stats);
        decided = by_override;
    }
    let mut ids = identity::assign_ids(data, &customers, previous);
    ids.mark_override(&customers, &decided);
    (customers, ids, override_stats)
}

/// Each customer's golden record, and the attention list.
pub(crate) fn goldens_and_attention(
    config: &Config,
    data: &Dataset,
    customers: &[Vec<RecordOrd>],
    ids: &IdAssignment,
) -> (Vec<golden::GoldenRecord>, Vec<attention::Flag>) {
    let goldens: Vec<golden::GoldenRecord> = customers
        .par_iter()
        .zip(&ids.ids)
        .map(|(recs, id)| golden::golden_record(data, id, recs))
        .collect();
    let kinds: Vec<config::SystemKind> = config.sources.iter().map(|s| s.kind).collect();
    let attention = attention::flags(data, customers, &ids.ids, &kinds, &config.attention);
    // Both read every customer's records' details.
    data.details.release_pages();
    (goldens, attention)
}

/// What a run makes from the records alone, before any candidate is known (with the
/// values strangers share, which it leaves in a cell as soon as they are learned, and
/// the u-sample it draws).
struct FromRecords {
    exact: candidates::ExactJoins,
    /// Profiles with nothing personal in them ([`compare::SharedValues::impersonal`]).
    impersonal: Vec<bool>,
    tf: TermFrequencies,
}

impl FromRecords {
    fn make(
        data: &Dataset,
        shared: &std::sync::OnceLock<compare::SharedValues>,
        u_sample: &model::USample,
    ) -> FromRecords {
        let shared = shared.get_or_init(|| compare::SharedValues::learn(data));
        let exact = candidates::ExactJoins::find(data);
        let impersonal = shared.impersonal(data);
        let tf = TermFrequencies::from_data(data, &impersonal);
        u_sample.work(shared);
        FromRecords {
            exact,
            impersonal,
            tf,
        }
    }
}

/// Runs `main` here and `side` on a thread of its own with a one-thread rayon pool, so
/// that the side work fills a core `main` leaves idle without taking the main pool's
/// threads. With a one-thread run (`--threads 1`) both run here, one after the other.
pub(crate) fn beside<A: Send, B: Send>(
    main: impl FnOnce() -> A,
    side: impl FnOnce() -> B + Send,
) -> (A, B) {
    let pool = (rayon::current_num_threads() > 1)
        .then(|| rayon::ThreadPoolBuilder::new().num_threads(1).build().ok())
        .flatten();
    let Some(pool) = pool else {
        let a = main();
        return (a, side());
    };
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| pool.install(side));
        let a = main();
        let b = handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    })
}

/// Most candidate pairs EM trains on: a deterministic, evenly spread sample. EM over a
/// few million pairs estimates level probabilities to ~0.001; more only costs time.
const MAX_TRAINING_PAIRS: usize = 3_000_000;

/// Every k-th candidate pair, k chosen so that at most [`MAX_TRAINING_PAIRS`] remain.
pub fn training_sample(candidates: &Candidates) -> Vec<(u32, u32)> {
    let step = candidates.pairs.len().div_ceil(MAX_TRAINING_PAIRS).max(1);
    candidates.pairs.iter().step_by(step).copied().collect()
}

/// Comparison vectors of profile pairs, in order.
pub fn compare_pairs(
    data: &Dataset,
    shared: &compare::SharedValues,
    pairs: &[(u32, u32)],
    progress: &dyn Progress,
) -> Vec<Comparison> {
    map_compared(data, shared, pairs, progress, |_, _, c| c)
}

/// Compares every pair in parallel and maps each comparison, keeping pair order.
fn map_compared<T: Send>(
    data: &Dataset,
    shared: &compare::SharedValues,
    pairs: &[(u32, u32)],
    progress: &dyn Progress,
    f: impl Fn(u32, u32, Comparison) -> T + Sync,
) -> Vec<T> {
    pairs
        .par_iter()
        .enumerate()
        .with_min_len(1024)
        .map(|(i, &(a, b))| {
            if i % 65_536 == 0 {
                progress.advance(65_536);
            }
            f(
                a,
                b,
                compare::compare_with(
                    &data.profiles[a as usize],
                    &data.profiles[b as usize],
                    shared,
                ),
            )
        })
        .collect()
}
