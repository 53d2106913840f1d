//! Which release a rollback runs: the one before the release running now,
//! or the one asked for, among the app's releases every machine sees (the
//! engine's release tags; a push-on-release app's registry tags too).

use crate::desired::DesiredApp;
use crate::observe::{Engine, Pin};
use crate::pipeline::{Loaded, PipelineError};

/// The release chosen, as a pin the new containers carry.
#[derive(Debug, Clone)]
pub struct Choice {
    pub number: u32,
    /// The image that release ran.
    pub image: String,
    pub pin: Pin,
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("no app named {app} in the repository (apps: {known})")]
    NoSuchApp { app: String, known: String },
    #[error(
        "app {app} has no release to roll back to: berth records one on the engine each time apply deploys a new image"
    )]
    NoReleases { app: String },
    #[error("app {app} has no release {number} (known: {known})")]
    NoSuchRelease { app: String, number: u32, known: String },
    #[error("app {app} runs release {number}, its first known: there is nothing to roll back to")]
    First { app: String, number: u32 },
    #[error("app {app} has no release to roll back to (known: {known})")]
    NoneBefore { app: String, known: String },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// Choose the release `app` rolls back to: `to`, else the one before the
/// release it runs.
pub async fn choose<'l>(
    engine: &dyn Engine,
    loaded: &'l Loaded,
    app: &str,
    to: Option<u32>,
) -> Result<(Choice, &'l DesiredApp), RollbackError> {
    let Some(desired) = loaded.desired.apps.iter().find(|d| d.name == app) else {
        let known: Vec<&str> = loaded.desired.apps.iter().map(|d| d.name.as_str()).collect();
        return Err(RollbackError::NoSuchApp { app: app.to_string(), known: known.join(", ") });
    };
    let observed = engine.observe(&loaded.desired.project).await.map_err(PipelineError::from)?;
    let releases = crate::pipeline::releases(&observed, loaded, desired).await;
    let known = || releases.keys().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let app_s = app.to_string();
    if releases.is_empty() {
        return Err(RollbackError::NoReleases { app: app_s });
    }
    let current = observed.running_release(app);
    let (number, image) = match to {
        Some(n) => releases.get_key_value(&n).ok_or_else(|| RollbackError::NoSuchRelease {
            app: app_s.clone(),
            number: n,
            known: known(),
        })?,
        None => releases.range(..current.unwrap_or(u32::MAX)).next_back().ok_or_else(|| match current {
            Some(number) => RollbackError::First { app: app_s.clone(), number },
            None => RollbackError::NoneBefore { app: app_s.clone(), known: known() },
        })?,
    };
    let pin = Pin { release: *number, image: image.clone(), while_repo_image: desired.image.clone() };
    Ok((Choice { number: *number, image: image.clone(), pin }, desired))
}
