//! `berth apply`: print the plan, confirm, carry it out. Given a saved plan
//! file, apply exactly that plan, refused if the engine changed since.

use super::output::{ApplyOutput, Recorder};
use super::{connect, engine_address, OutputFormat, EXIT_ERROR, EXIT_OK};
use crate::apply::{ApplyOptions, Event};
use crate::plan::{Plan, FORMAT_VERSION};
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
    let saved = a.target.is_file();
    // Validate and resolve before touching the engine: an invalid repo changes nothing.
    let loaded = if saved { None } else { Some(crate::pipeline::load(&a.target, load)?) };
    let engine = connect().await?;
    let project = match (&loaded, saved) {
        (Some(l), _) => l.desired.project.clone(),
        (None, _) => read_plan(&a.target)?.project,
    };
    let _lock = crate::state::lock(&project, &engine_address())?;

    let plan = match &loaded {
        Some(l) => {
            let opts = crate::pipeline::PlanOptions {
                allow_empty: a.allow_empty,
                refresh_remote: false,
                allow_dirty: a.allow_dirty,
            };
            crate::pipeline::plan(&engine, l, opts).await?
        }
        None => {
            let plan = read_plan(&a.target)?;
            crate::pipeline::check_saved_plan(&engine, &plan, load).await?;
            plan
        }
    };
    out.plan(&plan)?;
    if plan.is_incomplete() {
        anyhow::bail!("the plan is incomplete; nothing was applied");
    }
    if plan.is_empty() {
        return Ok(EXIT_OK);
    }
    if out.is_json() && !a.auto_approve && !saved {
        anyhow::bail!("refusing to apply without confirmation: --output json asks nothing; pass --auto-approve");
    }
    if !a.auto_approve && !saved && !confirm()? {
        println!("Apply cancelled; nothing was changed.");
        return Ok(EXIT_ERROR);
    }

    // Secret values come from memory, checked against the plan's fingerprints.
    let secrets = match &loaded {
        Some(l) => l.apply_secrets(&plan)?,
        None => crate::pipeline::saved_plan_secrets(&plan, load)?,
    };
    let registry = match &loaded {
        Some(l) => crate::pipeline::registry_client(&l.repo),
        None => crate::pipeline::saved_plan_registry(&plan),
    };
    let targets = crate::pipeline::targets(Arc::new(engine), registry, &plan.project, Path::new(&plan.repo));
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

fn read_plan(path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read(path).map_err(|e| anyhow::anyhow!("failed to read plan file {}: {e}", path.display()))?;
    let plan: Plan = serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("failed to read plan file {}: not a berth plan ({e})", path.display()))?;
    if plan.format_version != FORMAT_VERSION {
        anyhow::bail!(
            "plan file {} has format version {}, this berth reads {FORMAT_VERSION}; run `berth plan --out` again",
            path.display(),
            plan.format_version
        );
    }
    Ok(plan)
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
