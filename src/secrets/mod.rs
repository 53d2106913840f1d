//! Secrets: age-encrypted credential files, decrypted in memory only.
//!
//! `identity` finds and parses the age identity (X25519 or OpenSSH ed25519)
//! in the order SPEC §1 gives; `file` encrypts and decrypts age files (armored
//! or binary) and explains a wrong key; `credential` parses the decrypted YAML
//! (`kind: registry` or `kind: env`) into values that never print; `registry`
//! names and normalizes registry servers; `store` reads and writes a working
//! tree's `credentials/` for the commands that change it; `edit` runs the
//! user's editor on plaintext in a private folder; `appfile` edits an app
//! file's `credential:` lines for `berth registry login --app`.
//!
//! Nothing here writes plaintext to disk, logs a value, or puts one in an
//! error message: diagnostics name files and keys, never what a key holds.
//! Choosing which credential an app uses is `resolve`'s job, not this module's.

pub mod appfile;
pub mod credential;
pub mod edit;
pub mod file;
pub mod identity;
pub mod registry;
pub mod store;

pub use credential::{parse_credential, Credential, CredentialKind, EnvSet, RegistryLogin};
pub use file::{decrypt, encrypt, DecryptError};
pub use identity::{load_identity, Identity};

use crate::diag::Diagnostic;
use crate::source::Snapshot;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the secrets and registry commands need from the global flags.
#[derive(Debug, Clone, Default)]
pub struct SecretsContext {
    /// `--identity FILE`: the age identity, before the environment and the default path.
    pub identity: Option<PathBuf>,
}

/// Failures outside a credential file's content: finding or parsing an
/// identity, parsing recipients, encrypting. Messages carry their cause
/// (they often end up in a `Diagnostic`, which has no cause chain).
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("no age identity found\n{}", identity::LOOKUP_ORDER)]
    NoIdentity,
    #[error("failed to read the age identity {origin}: {error}")]
    ReadIdentity { origin: String, error: std::io::Error },
    #[error("failed to parse the age identity {origin}: {reason}")]
    BadIdentity { origin: String, reason: String },
    #[error("invalid recipient `{recipient}`: {reason}")]
    BadRecipient { recipient: String, reason: String },
    #[error("no recipients to encrypt to: berth.yaml has no `recipients:`")]
    NoRecipients,
    #[error("failed to encrypt: {0}")]
    Encrypt(String),
}

/// Every credential of a repository, decrypted, by name.
#[derive(Debug, Default)]
pub struct Credentials {
    pub items: BTreeMap<String, Credential>,
}

impl Credentials {
    pub fn get(&self, name: &str) -> Option<&Credential> {
        self.items.get(name)
    }
    /// The login of a `kind: registry` credential.
    pub fn registry(&self, name: &str) -> Option<&RegistryLogin> {
        match &self.get(name)?.kind {
            CredentialKind::Registry(r) => Some(r),
            _ => None,
        }
    }
    /// The values of a `kind: env` credential.
    pub fn env(&self, name: &str) -> Option<&EnvSet> {
        match &self.get(name)?.kind {
            CredentialKind::Env(e) => Some(e),
            _ => None,
        }
    }
    /// The repository's fingerprint key (`kind: fingerprint-key`), if any.
    pub fn fingerprint_key(&self) -> Option<&[u8]> {
        self.items.values().find_map(|c| match &c.kind {
            CredentialKind::FingerprintKey(k) => Some(k.0.as_slice()),
            _ => None,
        })
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A credential's name from its repository path: `credentials/ghcr.age` →
/// `ghcr` (the folder and extension removed, as `spec` names them).
pub fn credential_name(path: &str) -> &str {
    let p = path.strip_prefix("credentials/").unwrap_or(path);
    p.strip_suffix(".age").unwrap_or(p)
}

/// Decrypt and parse every `credentials/*.age` of the snapshot; every problem
/// at once. No files: empty, and no identity is needed. Files but no identity:
/// one diagnostic saying where berth looked for one.
/// `known_recipients` (berth.yaml's) name who a file is encrypted to when the
/// identity does not match it.
pub fn load_credentials(
    snapshot: &Snapshot,
    identity: Option<&Identity>,
    known_recipients: &[String],
) -> Result<Credentials, Vec<Diagnostic>> {
    if snapshot.credentials.is_empty() {
        return Ok(Credentials::default());
    }
    let Some(identity) = identity else {
        return Err(vec![no_identity_diagnostic(snapshot, None)]);
    };
    let mut items = BTreeMap::new();
    let mut diags = Vec::new();
    for file in &snapshot.credentials {
        let name = credential_name(&file.path);
        let plain = match file::decrypt_with_known(&file.bytes, identity, known_recipients) {
            Ok(plain) => plain,
            Err(e) => {
                diags.push(e.to_diagnostic(&file.path));
                continue;
            }
        };
        match parse_credential(name, &file.path, &plain) {
            Ok(c) => {
                items.insert(name.to_string(), c);
            }
            Err(mut d) => diags.append(&mut d),
        }
    }
    if diags.is_empty() {
        Ok(Credentials { items })
    } else {
        Err(diags)
    }
}

/// `load_credentials`, looking up the identity (`flag`, then the environment,
/// then the default path) only when the repository has credential files. A
/// failed look-up becomes one diagnostic.
pub fn load_repo_credentials(
    snapshot: &Snapshot,
    flag: Option<&Path>,
    known_recipients: &[String],
) -> Result<Credentials, Vec<Diagnostic>> {
    if snapshot.credentials.is_empty() {
        return Ok(Credentials::default());
    }
    match load_identity(flag) {
        Ok(identity) => load_credentials(snapshot, Some(&identity), known_recipients),
        Err(SecretsError::NoIdentity) => Err(vec![no_identity_diagnostic(snapshot, None)]),
        Err(e) => Err(vec![no_identity_diagnostic(snapshot, Some(&e))]),
    }
}

fn no_identity_diagnostic(snapshot: &Snapshot, error: Option<&SecretsError>) -> Diagnostic {
    let n = snapshot.credentials.len();
    let files = if n == 1 { "1 credential file".to_string() } else { format!("{n} credential files") };
    let message = match error {
        None => format!("{files} to decrypt, but no age identity was found"),
        Some(e) => format!("{files} to decrypt, but {e}"),
    };
    Diagnostic::new("credentials/", 0, 0, message).hint(identity::LOOKUP_ORDER)
}
