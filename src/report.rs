//! `run.json`: what happened in a run — per source the file, region, date order,
//! encoding, rows and refusals; candidates, model summary, clustering, cluster sizes,
//! seconds per stage. The one owner of the format: [`RunReport::save`] writes it and
//! [`RunReport::load`] reads it back for `explain` and `lookup`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::candidates::CandidateStats;
use crate::cluster::ClusterStats;
use crate::error::{Error, Result};
use crate::record::SourceCounts;

/// `run.json`: what happened in a run. See the module doc.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunReport {
    pub idresolve: String,
    pub config: String,
    pub default_region: String,
    pub records_in: u64,
    pub records_accepted: u64,
    pub records_rejected: u64,
    pub sources: Vec<SourceCounts>,
    pub profiles: u64,
    pub candidates: CandidateStats,
    pub model: ModelSummary,
    pub threshold: f64,
    /// Where the threshold came from: "config" (`[match] threshold`) or "model" (its own
    /// best, `model_best_threshold`, within 0.5–0.99).
    #[serde(default)]
    pub threshold_from: String,
    /// What the model expects at its own best threshold over the scored pairs (without
    /// labels; see `model::expected_best_threshold`) and at the threshold used.
    #[serde(default)]
    pub model_best_threshold: Option<crate::model::ExpectedQuality>,
    pub clustering: ClusterStats,
    /// Per comparison, how many values strangers share (read as missing when agreed on).
    #[serde(default)]
    pub shared_values: Vec<(String, u64)>,
    pub golden_ids: u64,
    pub golden_ids_kept_from_previous: Option<u64>,
    /// This run's number in its chain of `--previous` runs (1 without one).
    #[serde(default)]
    pub run: u64,
    /// With `--previous`: the night's ID changes by kind (`changes.csv`).
    #[serde(default)]
    pub id_changes: Option<std::collections::BTreeMap<String, u64>>,
    /// With `[match] overrides`: what the steward's decisions did.
    #[serde(default)]
    pub overrides: Option<crate::overrides::OverrideStats>,
    /// With `--previous`: records new, changed (same id, other content), unchanged and
    /// removed since the previous run (from its `rows.bin`).
    #[serde(default)]
    pub records_since_previous: Option<crate::rows::Night>,
    /// What an incremental run (`--incremental`) looked at again; absent for a full run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<crate::incremental::IncrementalStats>,
    /// Customers on the attention list (`attention.csv`) by reason.
    #[serde(default)]
    pub attention: std::collections::BTreeMap<String, u64>,
    pub cluster_sizes: Vec<(String, u64)>,
    pub seconds: Vec<(String, f64)>,
    pub threads: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModelSummary {
    pub reused: bool,
    pub prior: f64,
    pub em_iterations: u64,
    pub em_converged: bool,
}

impl RunReport {
    /// Reads `run.json` of a finished run's folder.
    pub fn load(out: &Path) -> Result<RunReport> {
        let path = out.join("run.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::input(
                    out,
                    "no run.json: this is not the output folder of an idresolve run",
                )
            } else {
                Error::io(&path, e)
            }
        })?;
        serde_json::from_str(&text).map_err(|e| {
            Error::input(
                &path,
                format!("cannot be read ({e}): damaged, or written by another version; run `idresolve run` again"),
            )
        })
    }

    /// Writes `run.json` into `dir` (private, like every output).
    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::outdir::write_json(&dir.join("run.json"), self)
    }
}
