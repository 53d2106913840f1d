//! `berth apply`: print the plan, confirm, carry it out. Given a saved plan
//! file, apply exactly that plan from a checkout of its commit (`--repo`),
//! refused if the engine changed since.

use super::output::{ApplyOutput, Recorder};
use super::{connect, LockArgs, OutputFormat, EXIT_ERROR, EXIT_OK};
use crate::apply::{ApplyOptions, Event};
use crate::observe::Engine;
use crate::pipeline::{Loaded, SavedPlan};
use crate::plan::Plan;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Repository folder, or a plan file saved by `berth plan --out` (applied without asking: the plan was the question).
    #[arg(default_value = ".", value_name = "REPO|PLANFILE")]
    target: PathBuf,
    /// Apply without asking (required when stdin is not a terminal, unless applying a plan file).
    #[arg(long)]
    auto_approve: bool,
    /// How many apps are changed at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    parallelism: u16,
    /// Prune even when the repository yields no apps.
    #[arg(long)]
    allow_empty: bool,
    /// Allow pushing (and releasing) builds from uncommitted files.
    #[arg(long)]
    allow_dirty: bool,
    /// With a plan file: the checkout of the plan's commit to apply it from (default: the current folder).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    #[command(flatten)]
    lock: LockArgs,
    /// Output format: json prints one document at the end (the plan, then what was done), progress on stderr;
    /// it needs --auto-approve or a plan file.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
}

/// What an apply starts from.
enum Start {
    /// A repository, planned now.
    Repo(Box<Loaded>),
    /// A saved plan, and the checkout it is applied from.
    Saved(Box<SavedPlan>),
}

pub async fn run(a: ApplyArgs, load: &crate::pipeline::LoadOptions) -> anyhow::Result<u8> {
    let out = ApplyOutput::new(a.output);
    let r = apply(a, load, &out).await;
    out.finish(r)
}

async fn apply(a: ApplyArgs, load: &crate::pipeline::LoadOptions, out: &ApplyOutput) -> anyhow::Result<u8> {
    // Validate and resolve, or open the plan's checkout, before touching the
    // engine: an invalid repo, or the wrong checkout, changes nothing.
    let start = if a.target.is_file() {
        let dir = a.repo.as_deref().unwrap_or(Path::new("."));
        Start::Saved(Box::new(SavedPlan::open(&a.target, dir)?))
    } else if a.repo.is_some() {
        anyhow::bail!(
            "--repo is for a plan file: {} is not one (apply a repository with berth apply DIR)",
            a.target.display()
        );
    } else {
        Start::Repo(Box::new(crate::pipeline::load(&a.target, load)?))
    };
    let engine: Arc<dyn Engine> = Arc::new(connect().await?);
    let project = match &start {
        Start::Repo(l) => l.desired.project.clone(),
        Start::Saved(s) => s.plan.project.clone(),
    };
    // One applier per project on this engine, whichever machine it runs on;
    // the plan is made (or checked) under the lock, so what it saw stays true.
    let lock = a.lock.acquire(engine.clone(), &project).await?;
    let result = locked(&a, &start, engine, load, out).await;
    lock.release().await;
    result
}

async fn locked(
    a: &ApplyArgs,
    start: &Start,
    engine: Arc<dyn Engine>,
    load: &crate::pipeline::LoadOptions,
    out: &ApplyOutput,
) -> anyhow::Result<u8> {
    let plan = match start {
        Start::Repo(l) => {
            let opts = crate::pipeline::PlanOptions {
                allow_empty: a.allow_empty,
                refresh_remote: false,
                allow_dirty: a.allow_dirty,
            };
            crate::pipeline::plan(engine.as_ref(), l, opts).await?
        }
        Start::Saved(s) => {
            s.check(engine.as_ref(), load).await?;
            s.plan.clone()
        }
    };
    out.plan(&plan)?;
    if plan.is_incomplete() {
        anyhow::bail!("the plan is incomplete; nothing was applied");
    }
    if plan.is_empty() {
        return Ok(EXIT_OK);
    }
    let saved = matches!(start, Start::Saved(_));
    if out.is_json() && !a.auto_approve && !saved {
        anyhow::bail!("refusing to apply without confirmation: --output json asks nothing; pass --auto-approve");
    }
    if !a.auto_approve && !saved && !confirm()? {
        println!("Apply cancelled; nothing was changed.");
        return Ok(EXIT_ERROR);
    }

    // Secret values come from memory, checked against the plan's fingerprints.
    let (secrets, registry, root) = match start {
        Start::Repo(l) => (l.apply_secrets(&plan)?, crate::pipeline::registry_client(&l.repo), &l.repo.tree),
        Start::Saved(s) => (s.secrets(load)?, s.registry(), &s.tree),
    };
    let targets = crate::pipeline::targets(engine, registry, root);
    let opts = ApplyOptions { parallelism: a.parallelism as usize };
    let outcome = carry_out(&targets, &plan, &secrets, &opts, out.recorder()).await;
    Ok(out.outcome(&outcome))
}

/// Apply `plan`, showing progress (build output too, on a terminal). With
/// a `record` (JSON output), each action's end is recorded and every
/// progress line goes to stderr, leaving stdout to the document.
pub(super) async fn carry_out(
    targets: &crate::apply::Targets,
    plan: &Plan,
    secrets: &crate::apply::ApplySecrets,
    opts: &ApplyOptions,
    record: Option<Recorder>,
) -> crate::apply::Outcome {
    let show_output = std::io::stderr().is_terminal();
    let to_stdout = record.is_none();
    let say = move |line: String| if to_stdout { println!("{line}") } else { eprintln!("{line}") };
    let progress: crate::apply::Progress = Arc::new(move |e: Event| {
        if let Some(r) = &record {
            r.event(&e);
        }
        match e {
            Event::Started { kind, target } => eprintln!("  {} {target}…", kind.verb()),
            Event::Output { line, .. } if show_output => eprintln!("    {line}"),
            Event::Output { .. } => {}
            Event::Done { kind, target, elapsed } => {
                say(format!("✓ {} {target} ({:.1}s)", kind.verb(), elapsed.as_secs_f64()))
            }
            Event::Failed { kind, target, error } => say(format!("✗ {} {target} failed: {error}", kind.verb())),
            Event::Skipped { kind, target, why } => say(format!("- skipped {} {target}: {why}", kind.verb())),
        }
    });
    crate::apply::apply(targets, plan, secrets, opts, progress).await
}

/// Print how an apply went; the exit code.
pub(super) fn report(outcome: &crate::apply::Outcome) -> u8 {
    println!();
    if outcome.failed.is_empty() {
        println!("Apply complete: {} action(s) done.", outcome.done);
        return EXIT_OK;
    }
    println!("Apply finished with errors: {} action(s) done, {} failed.", outcome.done, outcome.failed.len());
    report_failures(outcome);
    EXIT_ERROR
}

/// The failures of an apply, on stderr.
pub(super) fn report_failures(outcome: &crate::apply::Outcome) {
    eprintln!("error: apply failed for app(s): {}", super::output::failed_apps(outcome));
    for f in &outcome.failed {
        eprintln!("  {} ({}): {}", f.target, f.app, f.error);
        if !f.detail.is_empty() {
            eprintln!("    build log (last {} lines):", f.detail.len());
            for line in &f.detail {
                eprintln!("      {line}");
            }
        }
    }
}

/// Ask on a terminal; refuse without one.
fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "refusing to apply without confirmation: stdin is not a terminal; pass --auto-approve to apply unattended"
        );
    }
    print!("\nApply these changes? Only 'yes' is accepted: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}
