//! `berth registry login/logout`: store or delete a registry login as an
//! encrypted `kind: registry` credential file, and with `--app`, point the
//! app at it. Parses arguments and prints; the work is in `crate::secrets`.

use super::secrets::{store_error, RepoDir};
use super::EXIT_OK;
use crate::secrets::appfile::{self, AppFileError};
use crate::secrets::registry::{login_credential_name, normalize_server, same_server};
use crate::secrets::store::{write_atomic, Store};
use crate::secrets::{CredentialKind, SecretsContext};
use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal};
use zeroize::Zeroizing;

#[derive(Debug, clap::Args)]
#[command(after_help = "The login is stored in credentials/<server>.age (credentials/<app>-<server>.age with --app), \
e.g. ghcr.io → credentials/ghcr-io.age; Docker Hub's names (docker.io, index.docker.io, registry-1.docker.io, \
hub.docker.com, https://index.docker.io/v1/) are all stored as docker.io. Encrypted to berth.yaml `recipients:`; \
nothing is sent to the registry.\n\n\
Examples:\n  echo \"$TOKEN\" | berth registry login ghcr.io bob --password-stdin\n  berth registry logout ghcr.io")]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RegistryCommand {
    /// Store a registry login as an encrypted credential file.
    #[command(after_help = "Examples:\n  echo \"$TOKEN\" | berth registry login ghcr.io bob --password-stdin\n  \
berth registry login --app web registry.example.com:5000 deploy --password-stdin < token.txt")]
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
    #[command(
        after_help = "Examples:\n  berth registry logout ghcr.io\n  berth registry logout --app web registry.example.com:5000"
    )]
    Logout {
        server: String,
        #[arg(long, value_name = "APP")]
        app: Option<String>,
        #[command(flatten)]
        repo: RepoDir,
    },
}

pub fn run(args: RegistryArgs, ctx: &SecretsContext) -> anyhow::Result<u8> {
    match args.command {
        RegistryCommand::Login { server, username, password, password_stdin, email, app, repo } => {
            // The repository first: no password is asked for a folder that is not one.
            let store = Store::open(&repo.repo).map_err(store_error)?;
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
            login_cmd(&store, app.as_deref(), &login, ctx)
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

fn login_cmd(store: &Store, app: Option<&str>, login: &Login, ctx: &SecretsContext) -> anyhow::Result<u8> {
    let name = login_credential_name(login.server, app);
    // Plan the app-file edit first, so a refusal leaves nothing half done.
    let edit = match app {
        Some(app) => Some(point_app_at(store, app, login.server, &name)?),
        None => None,
    };
    let yaml = document(login)?;
    let rel = store.write(&name, yaml.as_bytes()).map_err(store_error)?;
    println!("Login for {} stored in {rel}.", normalize_server(login.server));
    super::secrets::made_key(store)?;
    if let Some((file, text, blocks)) = edit {
        write_atomic(&store.root().join(&file), text.as_bytes()).map_err(store_error)?;
        for b in blocks {
            println!("{file}: {b}.credential: {name}");
        }
    }
    let others = other_logins(store, ctx, login.server, &name);
    if !others.is_empty() {
        warn_two_logins(store, login.server, &rel, &others, app);
    }
    Ok(EXIT_OK)
}

/// The other credential files that log in to `server`, besides `name`. Read
/// when the identity is at hand; else guessed from the names `registry
/// login` gives (`<server>`, `<app>-<server>`).
fn other_logins(store: &Store, ctx: &SecretsContext, server: &str, name: &str) -> Vec<String> {
    let slug = login_credential_name(server, None);
    let identity = crate::secrets::load_identity(ctx.identity.as_deref()).ok();
    let same = |file: &crate::source::SourceFile, cname: &str| match &identity {
        Some(id) => crate::secrets::file::decrypt_with_known(&file.bytes, id, &store.recipients)
            .ok()
            .and_then(|plain| crate::secrets::parse_credential(cname, &file.path, &plain).ok())
            .is_some_and(|c| matches!(&c.kind, CredentialKind::Registry(r) if same_server(&r.server, server))),
        None => cname == slug || cname.ends_with(&format!("-{slug}")),
    };
    let mut others: Vec<String> = store
        .snapshot
        .credentials
        .iter()
        .filter(|f| {
            let cname = crate::secrets::credential_name(&f.path);
            cname != name && same(f, cname)
        })
        .map(|f| f.path.clone())
        .collect();
    others.sort();
    others
}

/// Say at once that `server` now has several logins, and which apps can no
/// longer choose one by its server alone (`login_app` names its own).
fn warn_two_logins(store: &Store, server: &str, rel: &str, others: &[String], login_app: Option<&str>) {
    let server = normalize_server(server);
    let mut files: Vec<&str> = others.iter().map(String::as_str).collect();
    files.push(rel);
    files.sort();
    let affected: Vec<String> = store
        .snapshot
        .apps
        .iter()
        .filter_map(|f| appfile::parse(f).map(|spec| (app_name(&f.path, &spec), spec)))
        .filter(|(name, spec)| Some(name.as_str()) != login_app && chooses_by_server(spec, &server))
        .map(|(name, _)| name)
        .collect();
    eprintln!("warning: {server} now has {} credentials: {}", files.len(), files.join(", "));
    if affected.is_empty() {
        eprintln!("  an app that pulls from or pushes to {server} must now name one (`pull.credential`, `registry.credential`)");
    } else {
        eprintln!(
            "  app(s) {} use {server} without naming a credential: plan and validate fail for them until they do",
            affected.join(", ")
        );
        eprintln!(
            "  name one in each (`pull.credential`, `registry.credential`; `berth registry login --app APP` sets them)"
        );
    }
    eprintln!("  or remove a login you no longer need: berth registry logout [--app APP] {server}");
}

/// `name:`, else the file stem.
fn app_name(path: &str, spec: &crate::spec::AppSpec) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    spec.name.as_ref().map_or(stem.to_string(), |n| n.value.clone())
}

/// Whether an app picks its credential for `server` by the server alone.
fn chooses_by_server(spec: &crate::spec::AppSpec, server: &str) -> bool {
    let pulls = spec.image.as_ref().is_some_and(|i| crate::spec::values::image_registry(&i.reference) == server)
        && spec.pull.as_ref().and_then(|p| p.credential.as_ref()).is_none();
    let registry = spec.registry.as_ref();
    let pushes = spec.build.is_some()
        && registry.and_then(|r| r.server.as_ref()).is_some_and(|s| same_server(s, server))
        && registry.and_then(|r| r.credential.as_ref()).is_none();
    pulls || pushes
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
