//! `berth rollback [REPO] APP [--to RELEASE]`: run an app's previous (or a
//! given) release again, from the local engine or, when pruned, its
//! registry. Like `kamal rollback` and Dokku's `ps:rollback` it does not
//! ask. The rollback is recorded as a pin in the app's history, so `drift`
//! and `watch --heal` keep it; the next change of the app's image in the
//! repository (a new commit in its build context, a new `image:`) ends it.

use super::{connect, engine_address, OutputFormat, EXIT_OK};
use crate::apply::ApplyOptions;
use crate::pipeline::{LoadOptions, PlanOptions};
use crate::plan::{Plan, Summary};
use crate::state::{History, Pin};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "berth rollback [OPTIONS] [REPO] APP",
    after_help = concat!(
        super::repo_app_help!(),
        "\n\nExamples:\n  berth rollback web            # the release before the one running\n  \
berth rollback ./infra web --to 3\n\nReleases are numbered per app on this host each time apply deploys a new image\n\
(push-on-release apps: the registry's integer tags)."
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
    let engine = connect().await?;
    let _lock = crate::state::lock(&project, &engine_address())?;
    let history = History::of(&project);
    let h = history.app(&app)?;
    if h.releases.is_empty() {
        anyhow::bail!(
            "app {app} has no releases recorded on this host yet: berth records one each time apply deploys a new image"
        );
    }
    let observed = crate::observe::Engine::observe(&engine, &project).await?;
    let running = observed.containers.iter().filter(|c| c.app == app).find_map(|c| c.config.as_ref().map(|c| &c.image));
    let current = running.and_then(|i| h.release_of_image(i)).map(|r| r.number);
    let known = || h.releases.iter().map(|r| r.number.to_string()).collect::<Vec<_>>().join(", ");
    let target = match a.to {
        Some(n) => h.release(n).ok_or_else(|| anyhow::anyhow!("app {app} has no release {n} (known: {})", known()))?,
        None => {
            let before = current.unwrap_or_else(|| h.next_number());
            h.releases.iter().filter(|r| r.number < before).max_by_key(|r| r.number).ok_or_else(|| match current {
                Some(n) => anyhow::anyhow!("app {app} runs release {n}, its first: there is nothing to roll back to"),
                None => anyhow::anyhow!("app {app} has no release to roll back to (known: {})", known()),
            })?
        }
    };
    let pushed = desired.build.as_ref().is_none_or(|b| b.push.is_some());
    if !pushed && !observed.images.contains_key(&target.image) {
        anyhow::bail!(
            "release {} of app {app} ({}) is no longer on this host and the app has no registry to pull it from",
            target.number,
            crate::plan::diff::familiar_image(&target.image)
        );
    }
    println!(
        "Rolling back app {app} to release {} ({}).",
        target.number,
        crate::plan::diff::familiar_image(&target.image)
    );
    let pin = Pin { release: target.number, image: target.image.clone(), while_repo_image: desired.image.clone() };
    let plan =
        crate::pipeline::plan_pinned(&engine, &loaded, PlanOptions::default(), Some((&app, pin.clone()))).await?;
    let plan = only(plan, &app);
    super::plan::print(&plan, OutputFormat::Text)?;
    if plan.is_incomplete() {
        anyhow::bail!("the plan is incomplete; nothing was rolled back");
    }
    let mut code = EXIT_OK;
    if !plan.is_empty() {
        let secrets = loaded.apply_secrets(&plan)?;
        let registry = crate::pipeline::registry_client(&loaded.repo);
        let targets = crate::pipeline::targets(Arc::new(engine), registry, &project, Path::new(&plan.repo));
        let opts = ApplyOptions { parallelism: a.parallelism as usize };
        let outcome = super::apply::carry_out(&targets, &plan, &secrets, &opts, None).await;
        code = super::apply::report(&outcome);
    }
    if code == EXIT_OK {
        history.update(&app, |h| h.pin = Some(pin))?;
        println!("App {app} runs release {} until its image changes in the repository.", target.number);
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
