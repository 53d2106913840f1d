//! `berth rollback [REPO] APP [--to RELEASE]`: run an app's previous (or a
//! given) release again, from the engine's release tags or, for a
//! push-on-release app, its registry. Like `kamal rollback` and Dokku's
//! `ps:rollback` it does not ask. The rollback is a pin the new containers
//! carry (labels), so `drift` and `watch --heal` on any machine keep it; the
//! next change of the app's image in the repository (a new build input, a
//! new `image:`) ends it.

use super::{connect, EXIT_OK};
use crate::apply::ApplyOptions;
use crate::observe::Engine;
use crate::pipeline::{LoadOptions, PlanOptions};
use crate::plan::Plan;
use crate::reconcile::{Decision, Done, Driver, Scope, Start, Step, StepError};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "berth rollback [OPTIONS] [REPO] APP",
    after_help = concat!(
        super::repo_app_help!(),
        "\n\nExamples:\n  berth rollback web            # the release before the one running\n  \
berth rollback ./infra web --to 3\n\nReleases are numbered per app each time apply deploys a new image, and recorded on the\n\
engine (push-on-release apps: also the registry's integer tags), so any machine can roll back."
    )
)]
pub struct RollbackArgs {
    /// `[REPO] APP`: the repository folder (default `.`) and the app.
    #[arg(value_name = "REPO APP", num_args = 1..=2, required = true)]
    args: Vec<String>,
    /// The release to run (default: the one before the release running now).
    #[arg(long, value_name = "RELEASE")]
    to: Option<u32>,
    /// How many containers are changed at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    parallelism: u16,
    #[command(flatten)]
    lock: super::LockArgs,
}

pub async fn run(a: RollbackArgs, load: &LoadOptions) -> anyhow::Result<u8> {
    let (repo, app) = match super::repo_and_app(&a.args, "rollback", true)? {
        (repo, Some(app)) => (repo, app),
        (_, None) => anyhow::bail!("berth rollback needs APP"),
    };
    let loaded = crate::pipeline::load(&repo, load)?;
    let engine: Arc<dyn Engine> = Arc::new(connect().await?);
    let (choice, _) = crate::reconcile::rollback::choose(engine.as_ref(), &loaded, &app, a.to).await?;
    println!(
        "Rolling back app {app} to release {} ({}).",
        choice.number,
        crate::plan::diff::familiar_image(&choice.image)
    );
    let step = Step {
        engine,
        load: load.clone(),
        plan: PlanOptions::default(),
        apply: ApplyOptions { parallelism: a.parallelism as usize },
        lock_timeout: a.lock.lock_timeout,
        pin: Some((app.clone(), choice.pin)),
        scope: Scope::Only(app.clone()),
    };
    let code = match step.run(&Start::Repo(Box::new(loaded)), &Rollback).await? {
        Done::Planned(_) => EXIT_OK,
        Done::Applied { outcome, .. } => super::apply::report(&outcome),
    };
    if code == EXIT_OK {
        // The pin is on the containers: every machine sees it.
        println!("App {app} runs release {} until its image changes in the repository.", choice.number);
    }
    Ok(code)
}

/// A rollback prints its plan and applies it without asking.
struct Rollback;

impl Driver for Rollback {
    fn show(&self, plan: &Plan, again: bool) -> Result<(), StepError> {
        if again {
            eprintln!("The plan changed while waiting for the apply lock; this is the plan applied now:");
        }
        super::plan::print_text(plan).map_err(|e| StepError::Driver(e.to_string()))
    }

    fn decide(&self, _plan: &Plan) -> Result<Decision, StepError> {
        Ok(Decision::Apply)
    }

    fn waiting(&self, info: &crate::observe::LockInfo) {
        super::waiting(info);
    }

    fn progress(&self) -> crate::apply::Progress {
        super::apply::progress(None)
    }
}
