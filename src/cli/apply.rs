//! `berth apply`: print the plan, confirm, carry it out. Given a saved plan
//! file, apply exactly that plan from a checkout of its commit (`--repo`),
//! refused if the engine changed since.

use super::output::{ApplyOutput, Recorder};
use super::{connect, logging, LockArgs, OutputFormat, EXIT_ERROR, EXIT_OK};
use crate::apply::{ApplyOptions, Event};
use crate::observe::Engine;
use crate::pipeline::SavedPlan;
use crate::plan::Plan;
use crate::reconcile::{Decision, Done, Driver, Scope, Start, Step, StepError};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  berth apply                          # plan, ask, apply the repository in the current folder\n  \
berth apply ./infra --auto-approve   # unattended (CI)\n  \
berth apply plan.json --repo .       # exactly the plan saved by berth plan --out plan.json"
)]
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
    let step = Step {
        engine,
        load: load.clone(),
        plan: crate::pipeline::PlanOptions {
            allow_empty: a.allow_empty,
            refresh_remote: false,
            allow_dirty: a.allow_dirty,
        },
        apply: ApplyOptions { parallelism: a.parallelism as usize },
        lock_timeout: a.lock.lock_timeout,
        pin: None,
        scope: Scope::All,
    };
    let driver = Cli { out, auto_approve: a.auto_approve };
    match step.run(&start, &driver).await? {
        Done::Planned(plan) if plan.is_empty() => Ok(EXIT_OK),
        Done::Planned(_) => {
            println!("Apply cancelled; nothing was changed.");
            Ok(EXIT_ERROR)
        }
        Done::Applied { outcome, .. } => Ok(out.outcome(&outcome)),
    }
}

/// The command line as a step's driver: prints; asks on a terminal.
struct Cli<'a> {
    out: &'a ApplyOutput,
    auto_approve: bool,
}

impl Driver for Cli<'_> {
    fn show(&self, plan: &Plan, again: bool) -> Result<(), StepError> {
        if again {
            eprintln!("The plan changed while waiting for the apply lock; this is the plan applied now:");
        }
        self.out.plan(plan).map_err(|e| StepError::Driver(e.to_string()))
    }

    fn decide(&self, _plan: &Plan) -> Result<Decision, StepError> {
        if self.auto_approve {
            return Ok(Decision::Apply);
        }
        if self.out.is_json() {
            return Err(StepError::Driver(
                "refusing to apply without confirmation: --output json asks nothing; pass --auto-approve".into(),
            ));
        }
        match confirm().map_err(|e| StepError::Driver(e.to_string()))? {
            true => Ok(Decision::ApplyConfirmed),
            false => Ok(Decision::Stop),
        }
    }

    fn waiting(&self, info: &crate::observe::LockInfo) {
        super::waiting(info);
    }

    fn progress(&self) -> crate::apply::Progress {
        progress(self.out.recorder())
    }
}

/// Apply progress, shown as it happens (build output too, on a terminal).
/// With a `record` (JSON output), each action's end is recorded and every
/// progress line goes to stderr, leaving stdout to the document. On a
/// terminal, actions in flight are spinners (`progress::Bars`); elsewhere
/// each start and end is a line.
pub(super) fn progress(record: Option<Recorder>) -> crate::apply::Progress {
    let show_output = std::io::stderr().is_terminal();
    let to_stdout = record.is_none();
    let bars = super::progress::Bars::for_terminal();
    let say = move |line: String| if to_stdout { println!("{line}") } else { logging::say(&line) };
    Arc::new(move |e: Event| {
        if let Some(r) = &record {
            r.event(&e);
        }
        let end = match &e {
            Event::Started { .. } | Event::Output { .. } | Event::Transfer { .. } => None,
            Event::Done { kind, target, elapsed } => {
                Some(format!("✓ {} {target} ({:.1}s)", kind.verb(), elapsed.as_secs_f64()))
            }
            Event::Failed { kind, target, error } => Some(format!("✗ {} {target} failed: {error}", kind.verb())),
            Event::Skipped { kind, target, why } => Some(format!("- skipped {} {target}: {why}", kind.verb())),
        };
        if let Some(bars) = &bars {
            return bars.event(&e, end.as_deref(), to_stdout);
        }
        match e {
            Event::Started { kind, target } => logging::say(&format!("  {} {target}…", kind.verb())),
            Event::Output { line, .. } if show_output => logging::say(&format!("    {line}")),
            // Without a terminal, bytes are no news: the end line says it.
            Event::Output { .. } | Event::Transfer { .. } => {}
            _ => say(end.unwrap_or_default()),
        }
    })
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

/// The failures of an apply, on stderr (one error event each in JSON logs).
pub(super) fn report_failures(outcome: &crate::apply::Outcome) {
    let apps = super::output::failed_apps(outcome);
    if logging::is_json() {
        tracing::error!(target: logging::OUTPUT, apps, "apply failed for app(s): {apps}");
        for f in &outcome.failed {
            let log = (!f.detail.is_empty()).then(|| f.detail.join("\n"));
            tracing::error!(target: logging::OUTPUT, app = f.app, target = f.target, log, "{}", f.error);
        }
        return;
    }
    eprintln!("error: apply failed for app(s): {apps}");
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
