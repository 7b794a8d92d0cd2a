//! idresolve links the records of each real customer across CSV exports that share no
//! key, and writes a golden customer ID mapping. See `docs/` for the user guide and
//! `DESIGN.md` in the shared folder for the architecture.
pub mod config;
pub mod error;
pub mod ingest;
pub mod normalize;
pub mod record;

pub use config::{Config, FieldKind};
pub use error::{Error, Result};
