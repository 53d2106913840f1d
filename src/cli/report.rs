//! `berth report [REPO] [APP]`: computed settings per app (Dokku's
//! `registry:report`), as text or flat JSON.

use super::{connect, EXIT_OK};
use crate::pipeline::LoadOptions;
use clap::ValueEnum;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Repository folder.
    #[arg(default_value = ".")]
    repo: PathBuf,
    /// Only this app (then JSON is one flat object).
    app: Option<String>,
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
    let loaded = crate::pipeline::load(&a.repo, load)?;
    // Deployed tag and digest need the engine; without one, they stay empty.
    let observed = match connect().await {
        Ok(engine) => crate::observe::Engine::observe(&engine, &loaded.desired.project).await.ok(),
        Err(e) => {
            eprintln!("warning: deployed-tag and deployed-digest are empty: {e}");
            None
        }
    };
    let mut observed = observed;
    if let Some(o) = observed.as_mut() {
        o.history = crate::state::History::of(&loaded.desired.project).load().unwrap_or_default();
    }
    let mut report = crate::report::report(&loaded, observed.as_ref());
    if let Some(app) = &a.app {
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
