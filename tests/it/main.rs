//! The integration tests: one binary (faster to build and link than one per file), one
//! module per area, shared helpers in `util`.

mod architecture;
mod candidates;
mod cli;
mod desk;
mod formats;
mod ingest;
mod init;
mod nightly;
mod report;
mod snapshots;
mod util;
