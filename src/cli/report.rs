//! `berth report [REPO] [APP]`: computed settings per app (Dokku's
//! `registry:report`), as text or flat JSON.

use super::{connect, EXIT_OK};
use crate::pipeline::LoadOptions;
use clap::ValueEnum;

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "berth report [OPTIONS] [REPO] [APP]",
    after_help = concat!(
        super::repo_app_help!(),
        "\n\nExamples:\n  berth report                 # every app of the repository here\n  \
berth report web             # app web of the repository here\n  berth report ./infra web"
    )
)]
pub struct ReportArgs {
    /// `[REPO] [APP]`: the repository folder (default `.`) and only this app (then JSON is one flat object).
    #[arg(value_name = "REPO|APP", num_args = 0..=2)]
    args: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub async fn run(a: ReportArgs, load: &LoadOptions) -> anyhow::Result<u8> {
    let (repo, app) = super::repo_and_app(&a.args, "report", false)?;
    let loaded = crate::pipeline::load(&repo, load)?;
    // Deployed tag and digest need the engine; without one, they stay empty.
    let observed = match connect().await {
        Ok(engine) => crate::observe::Engine::observe(&engine, &loaded.desired.project).await.ok(),
        Err(e) => {
            tracing::warn!("deployed-tag and deployed-digest are empty: {e}");
            None
        }
    };
    let mut report = crate::report::report(&loaded, observed.as_ref());
    // The commit `berth watch` last applied here (per project: on every app).
    let applied = crate::watch::applied_commit(&loaded.desired.project).unwrap_or_default();
    for m in report.values_mut() {
        m.insert("applied-commit".into(), applied.clone());
    }
    if let Some(app) = &app {
        let names: Vec<&str> = report.keys().map(String::as_str).collect();
        if !report.contains_key(app) {
            anyhow::bail!("no app `{app}` in the repository (apps: {})", names.join(", "));
        }
        report.retain(|k, _| k == app);
    }
    match a.format {
        Format::Json if report.len() == 1 => {
            println!("{}", serde_json::to_string_pretty(report.values().next().expect("one"))?)
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => {
            for (app, m) in &report {
                println!("=====> {app} registry information");
                let width = m.keys().map(|k| k.len()).max().unwrap_or(0) + 1;
                for (k, v) in m {
                    println!("       {:width$} {v}", format!("{k}:"));
                }
            }
        }
    }
    Ok(EXIT_OK)
}
