//! `berth registry login/logout`: store or delete a registry login as an
//! encrypted `kind: registry` credential file, and with `--app`, point the
//! app at it. Parses arguments and prints; the work is in `crate::secrets`.

use super::secrets::{store_error, RepoDir};
use super::EXIT_OK;
use crate::secrets::appfile::{self, AppFileError};
use crate::secrets::registry::{login_credential_name, normalize_server, same_server};
use crate::secrets::store::{write_atomic, Store};
use crate::secrets::SecretsContext;
use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal};
use zeroize::Zeroizing;

#[derive(Debug, clap::Args)]
#[command(after_help = "The login is stored in credentials/<server>.age (credentials/<app>-<server>.age with --app), \
e.g. ghcr.io → credentials/ghcr-io.age; Docker Hub's names (docker.io, index.docker.io, registry-1.docker.io, \
hub.docker.com, https://index.docker.io/v1/) are all stored as docker.io. Encrypted to berth.yaml `recipients:`; \
nothing is sent to the registry.")]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RegistryCommand {
    /// Store a registry login as an encrypted credential file.
    Login {
        /// Registry server, e.g. ghcr.io, registry.example.com:5000, docker.io.
        server: String,
        username: String,
        /// The password or token (visible in the process list: prefer --password-stdin).
        password: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        /// Stored with the login (optional).
        #[arg(long)]
        email: Option<String>,
        /// Store the login for this app only and set its `pull.credential` (and
        /// `registry.credential` when its registry server is SERVER).
        #[arg(long, value_name = "APP")]
        app: Option<String>,
        #[command(flatten)]
        repo: RepoDir,
    },
    /// Delete a stored registry login (with --app, also the app's references to it).
    Logout {
        server: String,
        #[arg(long, value_name = "APP")]
        app: Option<String>,
        #[command(flatten)]
        repo: RepoDir,
    },
}

pub fn run(args: RegistryArgs, _ctx: &SecretsContext) -> anyhow::Result<u8> {
    match args.command {
        RegistryCommand::Login { server, username, password, password_stdin, email, app, repo } => {
            let password = match (password, password_stdin) {
                (_, true) => read_password_line()?,
                (Some(p), false) => {
                    eprintln!(
                        "warning: a password given as an argument is visible in the process list and shell history; \
use --password-stdin"
                    );
                    Zeroizing::new(p)
                }
                (None, false) => bail!("no password: pipe it to --password-stdin (or give it as PASSWORD)"),
            };
            let login = Login { server: &server, username: &username, password: &password, email: email.as_deref() };
            login_cmd(&repo, app.as_deref(), &login)
        }
        RegistryCommand::Logout { server, app, repo } => logout(&repo, &server, app.as_deref()),
    }
}

struct Login<'a> {
    server: &'a str,
    username: &'a str,
    password: &'a str,
    email: Option<&'a str>,
}

fn read_password_line() -> anyhow::Result<Zeroizing<String>> {
    if std::io::stdin().is_terminal() {
        eprintln!("reading the password from stdin (one line)");
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).context("failed to read the password from stdin")?;
    let password = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string());
    if password.is_empty() {
        bail!("empty password on stdin");
    }
    Ok(password)
}

fn login_cmd(repo: &RepoDir, app: Option<&str>, login: &Login) -> anyhow::Result<u8> {
    let store = Store::open(&repo.repo).map_err(store_error)?;
    let name = login_credential_name(login.server, app);
    // Plan the app-file edit first, so a refusal leaves nothing half done.
    let edit = match app {
        Some(app) => Some(point_app_at(&store, app, login.server, &name)?),
        None => None,
    };
    let yaml = document(login)?;
    let rel = store.write(&name, yaml.as_bytes()).map_err(store_error)?;
    println!("Login for {} stored in {rel}.", normalize_server(login.server));
    if let Some((file, text, blocks)) = edit {
        write_atomic(&store.root().join(&file), text.as_bytes()).map_err(store_error)?;
        for b in blocks {
            println!("{file}: {b}.credential: {name}");
        }
    }
    Ok(EXIT_OK)
}

/// The credential document, with every value quoted by the YAML serializer.
fn document(login: &Login) -> anyhow::Result<Zeroizing<String>> {
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        kind: &'a str,
        server: &'a str,
        username: &'a str,
        password: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<&'a str>,
    }
    let server = normalize_server(login.server);
    let doc = Doc {
        kind: "registry",
        server: &server,
        username: login.username,
        password: login.password,
        email: login.email,
    };
    Ok(Zeroizing::new(serde_saphyr::to_string(&doc).context("failed to write the credential YAML")?))
}

/// The app file of `app` with `pull.credential` (and `registry.credential`
/// when its registry server is `server`) set to `name`: (path, new text, blocks set).
fn point_app_at(
    store: &Store,
    app: &str,
    server: &str,
    name: &str,
) -> anyhow::Result<(String, String, Vec<&'static str>)> {
    let file = appfile::find_app_file(&store.snapshot.apps, app)?;
    let spec = appfile::parse(file).ok_or_else(|| AppFileError::Unparsable { file: file.path.clone() })?;
    let mut text = String::from_utf8(file.bytes.clone()).context("app file is not UTF-8")?;
    let mut blocks = vec!["pull"];
    text = appfile::set_credential(&file.path, &text, "pull", name)?;
    let app_server = spec.registry.as_ref().and_then(|r| r.server.as_ref());
    if app_server.is_some_and(|s| same_server(s, server)) {
        text = appfile::set_credential(&file.path, &text, "registry", name)?;
        blocks.push("registry");
    }
    Ok((file.path.clone(), text, blocks))
}

fn logout(repo: &RepoDir, server: &str, app: Option<&str>) -> anyhow::Result<u8> {
    let store = Store::open(&repo.repo).map_err(store_error)?;
    let name = login_credential_name(server, app);
    let rel = Store::relative_path(&name).map_err(store_error)?;
    let mut edited = None;
    if let Some(app) = app {
        let file = appfile::find_app_file(&store.snapshot.apps, app)?;
        let text = String::from_utf8(file.bytes.clone()).context("app file is not UTF-8")?;
        let mut out = text.clone();
        for block in ["pull", "registry"] {
            if let Some(t) = appfile::remove_credential(&out, block, &name) {
                println!("{}: removed {block}.credential: {name}", file.path);
                out = t;
            }
        }
        if out != text {
            edited = Some((file.path.clone(), out));
        }
    }
    let removed = store.remove(&name).map_err(store_error)?;
    if let Some((file, text)) = &edited {
        write_atomic(&store.root().join(file), text.as_bytes()).map_err(store_error)?;
    }
    if removed {
        println!("Removed {rel}.");
    } else {
        eprintln!("not logged in to {}: there is no {rel}", normalize_server(server));
    }
    for file in &store.snapshot.apps {
        if edited.as_ref().is_some_and(|(f, _)| *f == file.path) {
            continue;
        }
        if appfile::parse(file).is_some_and(|spec| refers_to(&spec, &name)) {
            eprintln!("warning: {} still refers to credential `{name}`", file.path);
        }
    }
    Ok(EXIT_OK)
}

fn refers_to(spec: &crate::spec::AppSpec, name: &str) -> bool {
    let pull = spec.pull.as_ref().and_then(|p| p.credential.as_ref()).is_some_and(|c| c.value == name);
    let push = spec.registry.as_ref().and_then(|r| r.credential.as_ref()).is_some_and(|c| c.value == name);
    let build = spec.build.as_ref().is_some_and(|b| b.credentials.iter().any(|c| c.value == name));
    pull || push || build
}
