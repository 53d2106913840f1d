//! `berth validate`: load and resolve everything, print every error (with
//! `--output json`, one document either way).

use super::output::{error_info, print};
use super::{OutputFormat, EXIT_OK};
use crate::render::json::ValidateDocument;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  berth validate                       # the repository in the current folder\n  \
berth validate ./infra --output json | jq -r '.error.diagnostics[] | \"\\(.file):\\(.line): \\(.message)\"'")]
pub struct ValidateArgs {
    /// Repository folder.
    #[arg(default_value = ".")]
    repo: PathBuf,
    /// Output format: json prints `{"valid": …}` on stdout, the errors with file, line, column and hint.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
}

pub fn run(a: &ValidateArgs, load: &crate::pipeline::LoadOptions) -> anyhow::Result<u8> {
    let loaded = match crate::pipeline::load(&a.repo, load) {
        Ok(l) => l,
        Err(e) => {
            let e = anyhow::Error::from(e);
            if a.output == OutputFormat::Json {
                let doc = ValidateDocument {
                    valid: false,
                    project: None,
                    apps: None,
                    containers: None,
                    credentials: None,
                    error: Some(error_info(&e)),
                };
                print(&doc)?;
            }
            return Err(e);
        }
    };
    let n = loaded.desired.apps.len();
    let containers: usize = loaded.desired.apps.iter().map(|a| a.containers.len()).sum();
    let creds = loaded.credentials.items.len();
    match a.output {
        OutputFormat::Json => print(&ValidateDocument {
            valid: true,
            project: Some(loaded.desired.project.clone()),
            apps: Some(n),
            containers: Some(containers),
            credentials: Some(creds),
            error: None,
        })?,
        OutputFormat::Text => println!(
            "Valid: project {}, {n} app(s), {containers} container(s), {creds} credential(s).",
            loaded.desired.project
        ),
    }
    Ok(EXIT_OK)
}
