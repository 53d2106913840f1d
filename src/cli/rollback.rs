//! `berth rollback [REPO] APP [--to RELEASE]`: run an app's previous (or a
//! given) release again, from the engine's release tags or, for a
//! push-on-release app, its registry. Like `kamal rollback` and Dokku's
//! `ps:rollback` it does not ask. The rollback is a pin the new containers
//! carry (labels), so `drift` and `watch --heal` on any machine keep it; the
//! next change of the app's image in the repository (a new build input, a
//! new `image:`) ends it.

use super::{connect, OutputFormat, EXIT_OK};
use crate::apply::ApplyOptions;
use crate::observe::Engine;
use crate::observe::Pin;
use crate::pipeline::{LoadOptions, PlanOptions};
use crate::plan::{Plan, Summary};
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
    let Some(desired) = loaded.desired.apps.iter().find(|d| d.name == app) else {
        let names: Vec<&str> = loaded.desired.apps.iter().map(|d| d.name.as_str()).collect();
        anyhow::bail!("no app named {app} in the repository (apps: {})", names.join(", "));
    };
    let project = loaded.desired.project.clone();
    let engine: Arc<dyn Engine> = Arc::new(connect().await?);
    let lock = a.lock.acquire(engine.clone(), &project).await?;
    let result = locked(&a, &loaded, desired, &app, engine).await;
    lock.release().await;
    result
}

async fn locked(
    a: &RollbackArgs,
    loaded: &crate::pipeline::Loaded,
    desired: &crate::desired::DesiredApp,
    app: &str,
    engine: Arc<dyn Engine>,
) -> anyhow::Result<u8> {
    let project = &loaded.desired.project;
    let observed = engine.observe(project).await?;
    let known = crate::pipeline::releases(&observed, loaded, desired).await;
    let list = || known.keys().map(u32::to_string).collect::<Vec<_>>().join(", ");
    if known.is_empty() {
        anyhow::bail!(
            "app {app} has no release to roll back to: berth records one on the engine each time apply deploys a new image"
        );
    }
    let current = observed.running_release(app);
    let (number, image) = match a.to {
        Some(n) => known
            .get_key_value(&n)
            .ok_or_else(|| anyhow::anyhow!("app {app} has no release {n} (known: {})", list()))?,
        None => {
            let before = current.unwrap_or(u32::MAX);
            known.range(..before).next_back().ok_or_else(|| match current {
                Some(n) => {
                    anyhow::anyhow!("app {app} runs release {n}, its first known: there is nothing to roll back to")
                }
                None => anyhow::anyhow!("app {app} has no release to roll back to (known: {})", list()),
            })?
        }
    };
    println!("Rolling back app {app} to release {number} ({}).", crate::plan::diff::familiar_image(image));
    let pin = Pin { release: *number, image: image.clone(), while_repo_image: desired.image.clone() };
    let plan = crate::pipeline::plan_pinned(engine.as_ref(), loaded, PlanOptions::default(), Some((app, pin))).await?;
    let plan = only(plan, app);
    super::plan::print(&plan, OutputFormat::Text)?;
    if plan.is_incomplete() {
        anyhow::bail!("the plan is incomplete; nothing was rolled back");
    }
    let mut code = EXIT_OK;
    if !plan.is_empty() {
        let secrets = loaded.apply_secrets(&plan)?;
        let registry = crate::pipeline::registry_client(&loaded.repo);
        let targets = crate::pipeline::targets(engine, registry, &loaded.repo.tree);
        let opts = ApplyOptions { parallelism: a.parallelism as usize };
        let outcome = super::apply::carry_out(&targets, &plan, &secrets, &opts, None).await;
        code = super::apply::report(&outcome);
    }
    if code == EXIT_OK {
        // The pin is on the containers: every machine sees it.
        println!("App {app} runs release {number} until its image changes in the repository.");
    }
    Ok(code)
}

/// The plan's steps for `app` alone: a rollback changes nothing else.
fn only(mut plan: Plan, app: &str) -> Plan {
    // The project network is everyone's: a rollback creates it too when missing.
    plan.actions.retain(|a| a.app == app || matches!(a.detail, crate::plan::ActionDetail::CreateNetwork { .. }));
    plan.unknowns.retain(|u| u.app == app);
    plan.errors.retain(|e| e.app.as_deref().is_none_or(|a| a == app));
    plan.notes.retain(|n| n.app.as_deref() == Some(app));
    plan.releases.retain(|r| r.app == app);
    plan.summary = Summary::of(&plan.actions);
    plan
}
