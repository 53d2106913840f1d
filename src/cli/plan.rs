//! `berth plan` and `berth drift`: the same plan, different exit codes.
//! With `--output json`, the plan, or the error document when there is none.

use super::{connect, OutputFormat, EXIT_CHANGES, EXIT_ERROR, EXIT_OK};
use crate::pipeline::{LoadOptions, PlanOptions};
use crate::plan::Plan;
use crate::render::{plan_json, plan_text, Style};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Repository folder.
    #[arg(default_value = ".")]
    repo: PathBuf,
    /// Save the plan (JSON) for `berth apply FILE`.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Exit 2 when the plan has changes (0 when none).
    #[arg(long)]
    detailed_exitcode: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
    /// Resolve image tags against their registries (HEAD requests, no pulls).
    #[arg(long)]
    refresh_remote: bool,
    /// Prune even when the repository yields no apps.
    #[arg(long)]
    allow_empty: bool,
    /// Allow pushing (and releasing) builds from uncommitted files.
    #[arg(long)]
    allow_dirty: bool,
    #[command(flatten)]
    lock: super::LockArgs,
}

#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    /// Repository folder.
    #[arg(default_value = ".")]
    repo: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
    #[command(flatten)]
    lock: super::LockArgs,
}

pub async fn run_plan(a: PlanArgs, load: &LoadOptions) -> anyhow::Result<u8> {
    let format = a.output;
    super::output::or_error_document(format, plan(a, load).await)
}

pub async fn run_drift(a: DriftArgs, load: &LoadOptions) -> anyhow::Result<u8> {
    let format = a.output;
    super::output::or_error_document(format, drift(a, load).await)
}

async fn plan(a: PlanArgs, load: &LoadOptions) -> anyhow::Result<u8> {
    let opts = PlanOptions { allow_empty: a.allow_empty, refresh_remote: a.refresh_remote, allow_dirty: a.allow_dirty };
    let plan = compute(&a.repo, load, opts, &a.lock).await?;
    let save = |out: &std::path::Path| -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(&plan)?;
        std::fs::write(out, json).map_err(|e| anyhow::anyhow!("failed to write plan file {}: {e}", out.display()))
    };
    match (a.output, &a.out) {
        // Saved first: a failure to save is then the one document on stdout.
        (OutputFormat::Json, out) => {
            out.as_deref().map(save).transpose()?;
            print(&plan, a.output)?;
        }
        (OutputFormat::Text, out) => {
            print(&plan, a.output)?;
            if let Some(out) = out {
                save(out)?;
                println!("Saved the plan to {}; apply it exactly with `berth apply {}`.", out.display(), out.display());
            }
        }
    }
    Ok(exit_code(&plan, a.detailed_exitcode))
}

async fn drift(a: DriftArgs, load: &LoadOptions) -> anyhow::Result<u8> {
    let plan = compute(&a.repo, load, PlanOptions::default(), &a.lock).await?;
    print(&plan, a.output)?;
    Ok(exit_code(&plan, true))
}

async fn compute(
    repo: &std::path::Path,
    load: &LoadOptions,
    opts: PlanOptions,
    lock: &super::LockArgs,
) -> anyhow::Result<Plan> {
    let loaded = crate::pipeline::load(repo, load)?;
    let engine = connect().await?;
    // An apply in progress would show as changes half made: wait for it.
    lock.wait_idle(&engine, &loaded.desired.project).await?;
    Ok(crate::pipeline::plan(&engine, &loaded, opts).await?)
}

pub(super) fn print(plan: &Plan, format: OutputFormat) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    match format {
        OutputFormat::Text => plan_text(plan, &mut w, Style::detect(std::io::stdout().is_terminal()))?,
        OutputFormat::Json => plan_json(plan, &mut w)?,
    }
    w.flush()?;
    Ok(())
}

fn exit_code(plan: &Plan, detailed: bool) -> u8 {
    if plan.is_incomplete() {
        EXIT_ERROR
    } else if detailed && !plan.is_empty() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    }
}
