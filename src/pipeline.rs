//! The pipeline every command shares: load (source → spec → resolve), then
//! plan (observe → diff). `plan`, `apply`, `drift` and later `watch` differ
//! only in what they do with the resulting `Plan`.

use crate::desired::Desired;
use crate::diag::Diagnostic;
use crate::observe::{Engine, EngineError};
use crate::plan::diff::DiffOptions;
use crate::plan::Plan;
use crate::source::SourceError;
use crate::spec::Repo;
use std::path::Path;

/// A repository read, validated and resolved: ready to plan.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub repo: Repo,
    pub desired: Desired,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the repository has {} error(s); nothing was changed", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// source → spec → resolve. Every problem of every file is reported at once.
pub fn load(path: &Path) -> Result<Loaded, PipelineError> {
    let snapshot = crate::source::read_working_tree(path)?;
    let repo = crate::spec::load(&snapshot).map_err(PipelineError::Invalid)?;
    let desired = crate::resolve::resolve(&repo).map_err(PipelineError::Invalid)?;
    Ok(Loaded { repo, desired })
}

/// observe → diff: two engine calls, whatever the number of apps.
pub async fn plan(engine: &dyn Engine, loaded: &Loaded, allow_empty: bool) -> Result<Plan, PipelineError> {
    let observed = engine.observe(&loaded.desired.project).await?;
    let opts = DiffOptions { repo: loaded.repo.root.to_string_lossy().into_owned(), allow_empty };
    Ok(crate::plan::diff(&loaded.desired, &observed, &opts))
}
