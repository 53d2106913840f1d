//! `berth secrets`: age-encrypted credential files under `credentials/`,
//! encrypted to berth.yaml `recipients:`. Parses arguments and prints; the
//! work is in `crate::secrets`.

use super::EXIT_OK;
use crate::pipeline::PipelineError;
use crate::secrets::edit::{self, Edited, PrivateDir};
use crate::secrets::store::{Store, StoreError};
use crate::secrets::{load_identity, SecretsContext};
use anyhow::{bail, Context};
use secrecy::ExposeSecret;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Debug, clap::Args)]
#[command(after_help = "Recipients come from berth.yaml `recipients:` (age1… or ssh-ed25519 … public keys). \
The identity that decrypts comes from --identity FILE, else $BERTH_AGE_KEY (the key itself), \
else $BERTH_AGE_IDENTITY (a path), else ~/.config/berth/identity.txt.\n\n\
Examples:\n  berth secrets keygen\n  berth secrets encrypt db --from db.yaml\n  berth secrets edit db -C ./infra")]
pub struct SecretsArgs {
    #[command(subcommand)]
    command: SecretsCommand,
}

/// The repository, for commands whose positional argument is a name.
#[derive(Debug, clap::Args)]
pub struct RepoDir {
    /// Repository folder (a flag here, since the positional arguments are names).
    #[arg(short = 'C', long = "repo", value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum SecretsCommand {
    /// Make a new age identity (X25519) and print its public key.
    #[command(
        after_help = "Examples:\n  berth secrets keygen                 # writes ~/.config/berth/identity.txt\n  \
berth secrets keygen --out - > key.txt   # for a CI secret (BERTH_AGE_KEY)"
    )]
    Keygen {
        /// Where to write the identity; `-` prints it. Default: ~/.config/berth/identity.txt.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace an existing identity file.
        #[arg(long)]
        force: bool,
    },
    /// Check a credential document (YAML) and write it encrypted to credentials/NAME.age.
    #[command(after_help = "Examples:\n  berth secrets encrypt db --from db.yaml\n  \
printf 'kind: env\\nvalues: {TOKEN: x}\\n' | berth secrets encrypt api-token -C ./infra")]
    Encrypt {
        /// Credential name: credentials/NAME.age.
        name: String,
        /// Read the YAML from FILE, or `-` for stdin.
        #[arg(long, value_name = "FILE", default_value = "-")]
        from: String,
        #[command(flatten)]
        repo: RepoDir,
    },
    /// Print credentials/NAME.age decrypted to stdout.
    #[command(after_help = "Examples:\n  berth secrets decrypt db\n  berth secrets decrypt ghcr-io -C ./infra")]
    Decrypt {
        name: String,
        #[command(flatten)]
        repo: RepoDir,
    },
    /// Edit credentials/NAME.age in $VISUAL/$EDITOR (a new file starts from a template).
    #[command(after_help = "Examples:\n  berth secrets edit db\n  EDITOR=nano berth secrets edit db -C ./infra")]
    Edit {
        name: String,
        #[command(flatten)]
        repo: RepoDir,
    },
    /// Re-encrypt every credentials/*.age to berth.yaml's current recipients.
    #[command(
        after_help = "Examples:\n  berth secrets rekey                  # after adding or removing a recipient in berth.yaml\n  \
berth secrets rekey -C ./infra"
    )]
    Rekey {
        #[command(flatten)]
        repo: RepoDir,
    },
}

pub fn run(args: SecretsArgs, ctx: &SecretsContext) -> anyhow::Result<u8> {
    match args.command {
        SecretsCommand::Keygen { out, force } => keygen(out.as_deref(), force),
        SecretsCommand::Encrypt { name, from, repo } => encrypt(&repo.repo, &name, &from),
        SecretsCommand::Decrypt { name, repo } => decrypt(&repo.repo, &name, ctx),
        SecretsCommand::Edit { name, repo } => edit(&repo.repo, &name, ctx),
        SecretsCommand::Rekey { repo } => rekey(&repo.repo, ctx),
    }
}

/// Make the repository's fingerprint key on first use, and say so: it
/// must be committed with the credentials for every machine to share it.
pub(super) fn made_key(store: &Store) -> anyhow::Result<()> {
    if let Some(rel) = store.ensure_fingerprint_key().map_err(store_error)? {
        eprintln!(
            "made {rel}: the key of secret fingerprints, shared by every machine that can decrypt the credentials; commit it with them"
        );
    }
    Ok(())
}

/// Store errors with diagnostics print them (through `PipelineError::Invalid`).
pub(super) fn store_error(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Invalid(diags) => PipelineError::Invalid(diags).into(),
        e => e.into(),
    }
}

fn keygen(out: Option<&Path>, force: bool) -> anyhow::Result<u8> {
    let key = age::x25519::Identity::generate();
    let public = key.to_public().to_string();
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let text =
        Zeroizing::new(format!("# created: {created}\n# public key: {public}\n{}\n", key.to_string().expose_secret()));
    if out == Some(Path::new("-")) {
        print!("{}", &*text);
        eprintln!("public key: {public}");
        return Ok(EXIT_OK);
    }
    let path = match out {
        Some(p) => p.to_path_buf(),
        None => crate::secrets::identity::default_identity_path().context("HOME is not set; pass --out FILE")?,
    };
    write_private(&path, text.as_bytes(), force)?;
    println!("{public}");
    eprintln!("wrote the identity to {} (keep it secret)", path.display());
    eprintln!("add its public key to berth.yaml, then run `berth secrets rekey` if credentials exist:");
    eprintln!("  recipients:\n    - {public}");
    Ok(EXIT_OK)
}

/// Write a `0600` file (its folder `0700` when created); refuse to replace one unless `force`.
fn write_private(path: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if path.exists() && !force {
        bail!("{} already exists; pass --force to replace it (its key stops working)", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".berth-identity.{:016x}.tmp", rand::random::<u64>()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("failed to write {}", path.display()));
    }
    Ok(())
}

fn encrypt(repo: &Path, name: &str, from: &str) -> anyhow::Result<u8> {
    let store = Store::open(repo).map_err(store_error)?;
    Store::relative_path(name).map_err(store_error)?;
    let mut plain = Zeroizing::new(Vec::new());
    if from == "-" {
        if std::io::stdin().is_terminal() {
            eprintln!("reading the credential YAML from stdin; end with Ctrl-D");
        }
        std::io::stdin().read_to_end(&mut plain).context("failed to read stdin")?;
    } else {
        std::fs::File::open(from)
            .and_then(|mut f| f.read_to_end(&mut plain))
            .with_context(|| format!("failed to read {from}"))?;
    }
    // Errors name what the user gave (`<stdin>:3:1: …`), not the file it becomes.
    let source = if from == "-" { "<stdin>" } else { from };
    let rel = store.write(name, &plain).map_err(|e| match e {
        StoreError::Invalid(mut diags) => {
            diags.iter_mut().for_each(|d| d.file = source.to_string());
            store_error(StoreError::Invalid(diags))
        }
        e => store_error(e),
    })?;
    eprintln!("wrote {rel} (encrypted to {})", recipients(&store));
    made_key(&store)?;
    Ok(EXIT_OK)
}

fn decrypt(repo: &Path, name: &str, ctx: &SecretsContext) -> anyhow::Result<u8> {
    let store = Store::open(repo).map_err(store_error)?;
    let identity = load_identity(ctx.identity.as_deref())?;
    let plain = store.decrypt(name, &identity).map_err(store_error)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&plain).and_then(|()| out.flush()).context("failed to write to stdout")?;
    Ok(EXIT_OK)
}

fn edit(repo: &Path, name: &str, ctx: &SecretsContext) -> anyhow::Result<u8> {
    let store = Store::open(repo).map_err(store_error)?;
    let rel = Store::relative_path(name).map_err(store_error)?;
    if store.recipients.is_empty() {
        return Err(crate::secrets::SecretsError::NoRecipients.into());
    }
    let existed = store.exists(name).map_err(store_error)?;
    let original = if existed {
        let identity = load_identity(ctx.identity.as_deref())?;
        store.decrypt(name, &identity).map_err(store_error)?
    } else {
        Zeroizing::new(template(&rel).into_bytes())
    };
    let dir = PrivateDir::new().context("failed to create a private folder for editing")?;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let validate = |body: &[u8]| crate::secrets::parse_credential(name, &rel, body).map(drop);
    let outcome =
        edit::edit_until_valid(dir, &format!("{name}.yaml"), &original, interactive, validate, edit::run_editor)?;
    match outcome {
        Edited::Valid(body) => {
            let rel = store.write(name, &body).map_err(store_error)?;
            eprintln!("wrote {rel} (encrypted to {})", recipients(&store));
            made_key(&store)?;
            made_key(&store)?;
            Ok(EXIT_OK)
        }
        Edited::Unchanged if existed => {
            eprintln!("no changes; {rel} left as it was");
            Ok(EXIT_OK)
        }
        Edited::Unchanged => bail!("the template was not changed; nothing written"),
        Edited::Emptied => bail!("the file was saved empty; nothing written ({rel} left as it was)"),
        Edited::Kept { path, diags } => {
            for mut d in diags {
                d.file = path.display().to_string();
                eprintln!("{d}");
            }
            let folder = path.parent().unwrap_or(&path).display().to_string();
            let kept = path.display();
            bail!(
                "{rel} was not changed: the edit has errors\n  \
your edit is kept in {kept}: it holds secrets in plain text, delete it when done (rm -r {folder})\n  \
to finish it: fix it, then run berth secrets encrypt {name} --from {kept}"
            )
        }
    }
}

/// A new credential file's starting point.
fn template(rel: &str) -> String {
    format!(
        "# {rel}, decrypted. Saved encrypted when the editor exits; this copy is then deleted.\n\
# A registry login:\n\
kind: registry\n\
server: ghcr.io\n\
username: \"\"\n\
password: \"\"\n\
# email: you@example.com\n\
#\n\
# Or secret environment values, for an app's `secret-env:`:\n\
# kind: env\n\
# values:\n\
#   DATABASE_URL: \"postgres://...\"\n"
    )
}

fn rekey(repo: &Path, ctx: &SecretsContext) -> anyhow::Result<u8> {
    let store = Store::open(repo).map_err(store_error)?;
    if store.snapshot.credentials.is_empty() {
        eprintln!("no credential files in {}", store.root().join("credentials").display());
        return Ok(EXIT_OK);
    }
    let identity = load_identity(ctx.identity.as_deref())?;
    let files = store.rekey(&identity).map_err(store_error)?;
    for f in &files {
        eprintln!("re-encrypted {f}");
    }
    eprintln!("{} file(s) now encrypted to {}", files.len(), recipients(&store));
    made_key(&store)?;
    Ok(EXIT_OK)
}

fn recipients(store: &Store) -> String {
    match store.recipients.len() {
        1 => "1 recipient".to_string(),
        n => format!("{n} recipients"),
    }
}
