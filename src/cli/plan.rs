//! `berth plan` and `berth drift`: the same plan, different exit codes.
//! With `--output json`, the plan, or the error document when there is none;
//! with `--output markdown`, the plan (or the error) for a pull-request
//! comment or a CI job summary.

use super::{connect, OutputFormat, EXIT_CHANGES, EXIT_ERROR, EXIT_OK};
use crate::pipeline::{LoadOptions, PlanOptions};
use crate::plan::Plan;
use crate::render::{plan_json, plan_markdown, plan_text, MarkdownTitle, Style};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  berth plan                           # the repository in the current folder\n  \
berth plan ./infra --detailed-exitcode --out plan.json   # exit 2: changes; apply later with berth apply plan.json\n  \
berth plan --output markdown >> \"$GITHUB_STEP_SUMMARY\"   # for a pull request")]
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
    /// Output format: markdown is for a pull-request comment or CI job summary.
    #[arg(long, value_enum, default_value = "text")]
    output: PlanFormat,
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
#[command(
    after_help = "Examples:\n  berth drift ./infra                  # exit 2 when the engine drifted from the repository\n  \
berth drift --output json | jq '.actions[].target'"
)]
pub struct DriftArgs {
    /// Repository folder.
    #[arg(default_value = ".")]
    repo: PathBuf,
    /// Output format: markdown is for a pull-request comment or CI job summary.
    #[arg(long, value_enum, default_value = "text")]
    output: PlanFormat,
    #[command(flatten)]
    lock: super::LockArgs,
}

/// How `plan` and `drift` print: `OutputFormat`, and Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

pub async fn run_plan(a: PlanArgs, load: &LoadOptions) -> anyhow::Result<u8> {
    let format = a.output;
    or_error_document(format, MarkdownTitle::Plan, plan(a, load).await)
}

pub async fn run_drift(a: DriftArgs, load: &LoadOptions) -> anyhow::Result<u8> {
    let format = a.output;
    or_error_document(format, MarkdownTitle::Drift, drift(a, load).await)
}

/// A failure as a document on stdout too (JSON, Markdown): a CI job that
/// posts stdout then says why there is no plan.
fn or_error_document(format: PlanFormat, title: MarkdownTitle, r: anyhow::Result<u8>) -> anyhow::Result<u8> {
    match (format, &r) {
        (PlanFormat::Json, _) => super::output::or_error_document(OutputFormat::Json, r),
        (PlanFormat::Markdown, Err(e)) => {
            let mut doc = Vec::new();
            crate::render::error_markdown(&super::output::error_info(e), &mut doc, title)?;
            std::io::stdout().write_all(&doc)?;
            r
        }
        _ => r,
    }
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
        (PlanFormat::Json | PlanFormat::Markdown, out) => {
            out.as_deref().map(save).transpose()?;
            print(&plan, a.output, MarkdownTitle::Plan)?;
        }
        (PlanFormat::Text, out) => {
            print(&plan, a.output, MarkdownTitle::Plan)?;
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
    print(&plan, a.output, MarkdownTitle::Drift)?;
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

/// The plan in words on stdout (what apply and rollback show first).
pub(super) fn print_text(plan: &Plan) -> anyhow::Result<()> {
    print(plan, PlanFormat::Text, MarkdownTitle::Plan)
}

fn print(plan: &Plan, format: PlanFormat, title: MarkdownTitle) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    match format {
        PlanFormat::Text => plan_text(plan, &mut w, Style::detect(std::io::stdout().is_terminal()))?,
        PlanFormat::Json => plan_json(plan, &mut w)?,
        PlanFormat::Markdown => plan_markdown(plan, &mut w, title)?,
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
