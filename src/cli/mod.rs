//! Command line: parse arguments, run one command, map the outcome to an
//! exit code (0 ok / no changes, 1 error, 2 changes or drift). This is the
//! only place that prints errors; library stages return typed errors.

mod apply;
mod docs;
#[cfg(test)]
mod help_tests;
pub mod logging;
mod output;
mod plan;
mod progress;
mod registry;
mod report;
mod rollback;
mod secrets;
mod validate;
mod watch;

use crate::pipeline::PipelineError;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes (SPEC §2).
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version = docs::VERSION,
    about = "Declarative GitOps reconciler for containers on a Docker host",
    long_about = "berth reads a repository of app specs (apps/*.yaml, berth.yaml) as the desired state, \
compares it with what the Docker engine runs, prints the difference as a plan, and applies it.\n\n\
Examples:\n  berth validate ./repo        check every file, all errors at once\n  \
berth plan ./repo            show what would change (exit 0; 2 with --detailed-exitcode if changes)\n  \
berth apply ./repo           show the plan, ask, then apply it\n  \
berth drift ./repo           exit 2 when the engine no longer matches the repository",
    after_help = "Exit codes: 0 success / no changes, 1 error (usage errors included), 2 changes present or drift found.\n\
A wedged engine or registry is an error once its timeout passes (see Timeouts; durations like 30s, 2m).\n\
Color only on a terminal, never with NO_COLOR set. Logs: RUST_LOG=debug; --log-format json for journald or Loki."
)]
pub struct Cli {
    /// Log lines on stderr: text, or json (one JSON object a line, berth's own stderr lines included).
    #[arg(long, global = true, value_enum, default_value = "text", value_name = "FORMAT")]
    log_format: logging::LogFormat,
    /// age identity file decrypting credentials/*.age (else BERTH_AGE_KEY,
    /// BERTH_AGE_IDENTITY, $CREDENTIALS_DIRECTORY/berth-identity, ~/.config/berth/identity.txt).
    #[arg(long, global = true, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// How long to wait for the Docker engine: to connect, for each answer,
    /// and between two progress messages of a pull or push (a stop also
    /// waits out the container's grace period).
    #[arg(long, global = true, value_name = "D", env = "BERTH_ENGINE_TIMEOUT", default_value = "30s",
          value_parser = crate::observe::timeouts::parse, help_heading = "Timeouts")]
    engine_timeout: Duration,
    /// How long to wait for a registry: to connect, and for each read of an answer.
    #[arg(long, global = true, value_name = "D", env = "BERTH_REGISTRY_TIMEOUT", default_value = "30s",
          value_parser = crate::observe::timeouts::parse, help_heading = "Timeouts")]
    registry_timeout: Duration,
    /// How long a build may print nothing (a step that works silently)
    /// before berth gives up on it.
    #[arg(long, global = true, value_name = "D", env = "BERTH_BUILD_IDLE_TIMEOUT", default_value = "10m",
          value_parser = crate::observe::timeouts::parse, help_heading = "Timeouts")]
    build_idle_timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and check every file; print every error; exit 1 on any.
    Validate(validate::ValidateArgs),
    /// Print what apply would do; change nothing.
    Plan(plan::PlanArgs),
    /// Print the plan, then apply it (asks first on a terminal).
    Apply(apply::ApplyArgs),
    /// Plan against the live engine; exit 2 when anything drifted.
    Drift(plan::DriftArgs),
    /// Follow a repository: apply each change, report (or --heal) drift, until stopped.
    Watch(watch::WatchArgs),
    /// Run an app's previous (or a given) release again, until its image changes in the repository.
    Rollback(rollback::RollbackArgs),
    /// Computed settings per app (registry, credentials, deployed image), as Dokku's registry:report.
    Report(report::ReportArgs),
    /// age-encrypted credential files under credentials/: keygen, encrypt, decrypt, edit, rekey.
    Secrets(secrets::SecretsArgs),
    /// Store (login) or delete (logout) a registry login as an encrypted credential file.
    Registry(registry::RegistryArgs),
    /// Write the JSON Schemas of app files, berth.yaml, and every JSON document berth prints.
    #[command(
        after_help = "Examples:\n  berth schema                         # into ./schema\n  berth schema --out /tmp/berth-schemas"
    )]
    Schema {
        /// Folder to write into.
        #[arg(long, default_value = "schema")]
        out: PathBuf,
    },
    /// Print the shell completion script (bash, zsh, fish, …) on stdout.
    Completions(docs::CompletionsArgs),
    /// Write man pages (berth.1 and one per subcommand); used by packaging.
    #[command(hide = true)]
    Manpages(docs::ManpagesArgs),
}

/// `[REPO] APP` of `report` and `rollback`: two arguments are REPO and APP;
/// one is REPO when it is a folder that is a berth repository, else APP (of
/// the repository in the current folder). `command` names the command in
/// errors; `app_required`: rollback needs an app, report does not.
pub(crate) fn repo_and_app(
    args: &[String],
    command: &str,
    app_required: bool,
) -> anyhow::Result<(PathBuf, Option<String>)> {
    match args {
        [] if !app_required => Ok((PathBuf::from("."), None)),
        [one] if crate::source::is_repository(std::path::Path::new(one)) => {
            if app_required {
                anyhow::bail!(
                    "`{one}` is a repository folder: name the app too (berth {command} {one} APP; \
for an app named `{one}` in the current folder: berth {command} . {one})"
                );
            }
            Ok((PathBuf::from(one), None))
        }
        [app] => Ok((PathBuf::from("."), Some(app.clone()))),
        [repo, app] => Ok((PathBuf::from(repo), Some(app.clone()))),
        _ => anyhow::bail!("berth {command} takes [REPO] APP"),
    }
}

/// The help sentence that says how `[REPO] APP` is read (a macro, for `concat!`).
macro_rules! repo_app_help {
    () => {
        "With one argument: a folder that is a berth repository (it has berth.yaml, berth.yml or apps/) \
is REPO; anything else is APP, in the repository in the current folder."
    };
}
use repo_app_help;

/// How a command prints its result: in words, or as one JSON document on
/// stdout (also when it fails; see `output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Parse the command line, run, and return the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap exits 2 on a usage error; here 2 means "changes present".
            return ExitCode::from(if e.exit_code() == 0 { EXIT_OK } else { EXIT_ERROR });
        }
    };
    logging::init(cli.log_format, matches!(cli.command, Command::Watch(_)));
    crate::observe::timeouts::set(crate::observe::timeouts::Timeouts {
        engine: cli.engine_timeout,
        registry: cli.registry_timeout,
        build_idle: cli.build_idle_timeout,
    });
    let load = crate::pipeline::LoadOptions { identity: cli.identity.clone() };
    // Commands that never touch the engine or a registry start no runtime
    // (and its worker threads).
    let code = match cli.command {
        Command::Validate(a) => validate::run(&a, &load),
        Command::Schema { out } => schema(&out),
        Command::Completions(a) => docs::completions(&a),
        Command::Manpages(a) => docs::manpages(&a),
        command => run_async(command, &load),
    };
    ExitCode::from(code.unwrap_or_else(|e| report(&e)))
}

/// The commands that talk to the engine or a registry, or hold signals
/// (`secrets edit`), on a tokio runtime.
fn run_async(command: Command, load: &crate::pipeline::LoadOptions) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("failed to start berth's async runtime: {e}"))?;
    runtime.block_on(async {
        match command {
            Command::Validate(_) | Command::Schema { .. } | Command::Completions(_) | Command::Manpages(_) => {
                unreachable!("run without a runtime")
            }
            Command::Plan(a) => plan::run_plan(a, load).await,
            Command::Drift(a) => plan::run_drift(a, load).await,
            Command::Apply(a) => apply::run(a, load).await,
            Command::Report(a) => report::run(a, load).await,
            Command::Rollback(a) => rollback::run(a, load).await,
            Command::Watch(a) => watch::run(a, load).await,
            Command::Secrets(a) => secrets::run(a, &crate::secrets::SecretsContext { identity: load.identity.clone() }),
            Command::Registry(a) => {
                registry::run(a, &crate::secrets::SecretsContext { identity: load.identity.clone() })
            }
        }
    })
}

fn schema(out: &std::path::Path) -> Result<u8, anyhow::Error> {
    for p in crate::schema::write_all(out)? {
        println!("wrote {}", p.display());
    }
    Ok(EXIT_OK)
}

/// Print an error: one line first, detail after (JSON logs: one error
/// event for each problem of the repository, then one for the error).
/// Returns exit code 1.
fn report(e: &anyhow::Error) -> u8 {
    if logging::is_json() {
        if let Some(PipelineError::Invalid(diags)) = e.downcast_ref::<PipelineError>() {
            for d in diags {
                let (file, line, col, hint) = (&d.file, d.line, d.col, d.hint.as_deref());
                tracing::error!(target: logging::OUTPUT, file, line, col, hint, "{}", d.message);
            }
        }
        let causes: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
        let caused_by = (!causes.is_empty()).then(|| causes.join("; "));
        tracing::error!(target: logging::OUTPUT, caused_by, "{e}");
        return EXIT_ERROR;
    }
    if let Some(PipelineError::Invalid(diags)) = e.downcast_ref::<PipelineError>() {
        for d in diags {
            eprintln!("{d}");
        }
    }
    let style = crate::render::Style::detect(std::io::stderr().is_terminal());
    let label = if style.color { "\x1b[31merror:\x1b[0m" } else { "error:" };
    eprintln!("{label} {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    EXIT_ERROR
}

/// Connect to the engine the environment points at (DOCKER_HOST or the local socket).
async fn connect() -> anyhow::Result<crate::observe::docker::DockerEngine> {
    Ok(crate::observe::docker::DockerEngine::connect().await?)
}

/// `--lock-timeout`: how long to wait for an apply in progress.
#[derive(Debug, Clone, clap::Args)]
pub struct LockArgs {
    /// How long to wait while another apply of the project (from any machine) holds the engine's lock.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) lock_timeout: std::time::Duration,
}

impl LockArgs {
    /// Wait until no apply of the project is in progress (plan, drift).
    async fn wait_idle(
        &self,
        engine: &dyn crate::observe::Engine,
        project: &str,
    ) -> Result<(), crate::apply::lock::LockError> {
        crate::apply::lock::wait_idle(engine, project, self.lock_timeout, waiting).await
    }
}

fn waiting(info: &crate::observe::LockInfo) {
    logging::say(&format!(
        "waiting for an apply in progress: {} (held for {}s)…",
        info.holder,
        info.held_for.as_secs()
    ));
}
