//! What a watch remembers between runs, in the state dir
//! (`<state>/watch/<project>.json`): the source last applied and the last
//! attempt. A cache like the rest of the state dir: without it, the first
//! pass applies what the repository asks for (as `berth apply` would) and
//! then knows. Shown by `berth report` (`applied-commit`).

use super::status::{Attempt, SourceRef};
use std::path::PathBuf;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The last source applied with success (or found in sync).
    pub applied: Option<Applied>,
    /// The last source tried, and how it went.
    pub attempted: Option<Attempt>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    #[serde(flatten)]
    pub source: SourceRef,
    /// `Loaded::identity` of what was applied: equal means no repository change since.
    pub identity: String,
}

fn path(project: &str) -> std::io::Result<PathBuf> {
    let dir = crate::state::ensured_state_dir().map_err(std::io::Error::other)?;
    Ok(dir.join("watch").join(format!("{project}.json")))
}

/// The record of `project`; empty when there is none or it cannot be read.
pub fn read(project: &str) -> Record {
    let p = match path(project) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("no watch record: {e}");
            return Record::default();
        }
    };
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("ignoring {}: {e}", p.display());
            Record::default()
        }),
        Err(_) => Record::default(),
    }
}

/// Write the record (atomically: a temporary file renamed over it).
pub fn write(project: &str, record: &Record) -> std::io::Result<()> {
    let p = path(project)?;
    let dir = p.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    serde_json::to_writer_pretty(&mut tmp, record)?;
    tmp.persist(&p).map_err(|e| e.error)?;
    Ok(())
}
