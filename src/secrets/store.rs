//! Store: the `credentials/` folder of a working tree, for the commands that
//! change it (`secrets`, `registry login/logout`).
//!
//! Reads berth.yaml's `recipients:` (berth.yaml alone: a broken app file does
//! not stop a secret from being encrypted), checks a credential document
//! before encrypting it, and writes through a temporary file and a rename, so
//! a file is either the old or the new ciphertext, never half of one. Only
//! ciphertext is written here.

use super::{credential_name, parse_credential, DecryptError, Identity, SecretsError};
use crate::diag::Diagnostic;
use crate::source::{Snapshot, SourceError};
use crate::spec::Settings;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The credential file that holds the repository's fingerprint key.
pub const FINGERPRINT_KEY_NAME: &str = "fingerprint-key";

/// Why a store operation failed. Messages carry their cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{} error(s); nothing was written", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error("invalid credential name `{0}`: use letters, digits, `-`, `_` and `.`, starting with a letter or digit")]
    BadName(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("failed to decrypt {file}: {error}")]
    Decrypt { file: String, error: DecryptError },
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("failed to write {}: {error}", .path.display())]
    Write { path: PathBuf, error: std::io::Error },
}

/// A working tree's credentials and the recipients they are encrypted to.
#[derive(Debug)]
pub struct Store {
    /// The files as they were when the store was opened.
    pub snapshot: Snapshot,
    /// berth.yaml `recipients:`.
    pub recipients: Vec<String>,
    /// The working tree's folder (canonical), where credential files are written.
    root: PathBuf,
}

impl Store {
    /// Read the repository at `root` and its berth.yaml recipients.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let snapshot = crate::source::read_working_tree(root)?;
        let recipients = match &snapshot.settings {
            None => Vec::new(),
            Some(file) => read_settings(&file.path, &file.bytes)?.recipients.into_iter().map(|r| r.value).collect(),
        };
        let root = snapshot.tree.work_root().map_or_else(|| root.to_path_buf(), Path::to_path_buf);
        Ok(Store { snapshot, recipients, root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `credentials/<name>.age`, after checking the name.
    pub fn relative_path(name: &str) -> Result<String, StoreError> {
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(StoreError::BadName(name.to_string()));
        }
        Ok(format!("credentials/{name}.age"))
    }

    pub fn path_of(&self, name: &str) -> Result<PathBuf, StoreError> {
        Ok(self.root().join(Self::relative_path(name)?))
    }

    pub fn exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.path_of(name)?.is_file())
    }

    /// Decrypt one credential file.
    pub fn decrypt(&self, name: &str, identity: &Identity) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let rel = Self::relative_path(name)?;
        let path = self.root().join(&rel);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::NotFound(rel)),
            Err(error) => return Err(StoreError::Write { path, error }),
        };
        super::file::decrypt_with_known(&bytes, identity, &self.recipients)
            .map_err(|error| StoreError::Decrypt { file: rel, error })
    }

    /// Check `plaintext` as a credential document, encrypt it to the
    /// recipients and write `credentials/<name>.age`. Returns the relative path.
    pub fn write(&self, name: &str, plaintext: &[u8]) -> Result<String, StoreError> {
        let rel = Self::relative_path(name)?;
        parse_credential(name, &rel, plaintext).map_err(StoreError::Invalid)?;
        let ciphertext = super::encrypt(plaintext, &self.recipients)?;
        write_atomic(&self.root().join(&rel), &ciphertext)?;
        Ok(rel)
    }

    /// Delete `credentials/<name>.age`; `false` when there was none.
    pub fn remove(&self, name: &str) -> Result<bool, StoreError> {
        let path = self.path_of(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(StoreError::Write { path, error }),
        }
    }

    /// Re-encrypt every credential file to the current recipients, all or
    /// nothing: every file is decrypted and encrypted before any is replaced.
    /// Returns the relative paths.
    pub fn rekey(&self, identity: &Identity) -> Result<Vec<String>, StoreError> {
        if self.recipients.is_empty() {
            return Err(SecretsError::NoRecipients.into());
        }
        let mut diags = Vec::new();
        let mut staged = Vec::new();
        for file in &self.snapshot.credentials {
            match super::file::decrypt_with_known(&file.bytes, identity, &self.recipients) {
                Ok(plain) => staged.push((file.path.clone(), super::encrypt(&plain, &self.recipients)?)),
                Err(e) => diags.push(e.to_diagnostic(&file.path)),
            }
        }
        if !diags.is_empty() {
            return Err(StoreError::Invalid(diags));
        }
        let mut temps = Vec::new();
        for (rel, ciphertext) in &staged {
            let path = self.root().join(rel);
            match write_temp(&path, ciphertext) {
                Ok(tmp) => temps.push((tmp, path)),
                Err(e) => {
                    temps.iter().for_each(|(tmp, _)| drop(std::fs::remove_file(tmp)));
                    return Err(e);
                }
            }
        }
        for (tmp, path) in temps {
            std::fs::rename(&tmp, &path).map_err(|error| StoreError::Write { path, error })?;
        }
        Ok(staged.into_iter().map(|(rel, _)| rel).collect())
    }

    /// Make `credentials/fingerprint-key.age` (32 random bytes, encrypted to
    /// the recipients) unless it is there: the key every machine that can
    /// decrypt the repository uses for secret fingerprints. Returns its path
    /// when it was made.
    pub fn ensure_fingerprint_key(&self) -> Result<Option<String>, StoreError> {
        if self.recipients.is_empty() || self.exists(FINGERPRINT_KEY_NAME)? {
            return Ok(None);
        }
        let key: [u8; super::credential::FINGERPRINT_KEY_BYTES] = rand::random();
        let plain = Zeroizing::new(format!("kind: fingerprint-key\nkey: {}\n", hex::encode(key)));
        self.write(FINGERPRINT_KEY_NAME, plain.as_bytes()).map(Some)
    }

    /// Names of the credential files (`credential_name` of each path).
    pub fn names(&self) -> Vec<&str> {
        self.snapshot.credentials.iter().map(|f| credential_name(&f.path)).collect()
    }
}

/// berth.yaml's settings, or its first problem as a diagnostic.
fn read_settings(file: &str, bytes: &[u8]) -> Result<Settings, StoreError> {
    let invalid = |line, col, message: &str| {
        StoreError::Invalid(vec![Diagnostic::new(file, line, col, message).hint("run `berth validate` for details")])
    };
    let text = std::str::from_utf8(bytes).map_err(|_| invalid(0, 0, "file is not valid UTF-8"))?;
    if text.trim().is_empty() {
        return Ok(Settings::default());
    }
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    serde_saphyr::from_str_with_options::<Settings>(text, options).map_err(|e| {
        let (line, col) = e.location().map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
        invalid(line, col, "berth.yaml does not parse")
    })
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = write_temp(path, bytes)?;
    std::fs::rename(&tmp, path).map_err(|error| {
        let _ = std::fs::remove_file(&tmp);
        StoreError::Write { path: path.to_path_buf(), error }
    })
}

/// A new file next to `path` (`.<name>.<random>.tmp`) holding `bytes`, synced.
fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let err = |error| StoreError::Write { path: path.to_path_buf(), error };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let base = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{base}.{:016x}.tmp", rand::random::<u64>()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn identity() -> (Identity, String) {
        let k = age::x25519::Identity::generate();
        let public = k.to_public().to_string();
        (Identity::parse(k.to_string().expose_secret(), "test").unwrap(), public)
    }

    fn repo(recipients: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let list: String = recipients.iter().map(|r| format!("  - {r}\n")).collect();
        std::fs::write(dir.path().join("berth.yaml"), format!("project: t\nrecipients:\n{list}")).unwrap();
        dir
    }

    const LOGIN: &[u8] = b"kind: registry\nserver: ghcr.io\nusername: bob\npassword: hunter2\n";

    #[test]
    fn write_then_decrypt() {
        let (id, public) = identity();
        let dir = repo(&[&public]);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.write("ghcr", LOGIN).unwrap(), "credentials/ghcr.age");
        let stored = std::fs::read(dir.path().join("credentials/ghcr.age")).unwrap();
        assert!(!String::from_utf8_lossy(&stored).contains("hunter2"));
        assert_eq!(&store.decrypt("ghcr", &id).unwrap()[..], LOGIN);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("credentials")).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn refuses_invalid_documents_and_names() {
        let (_, public) = identity();
        let dir = repo(&[&public]);
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(store.write("x", b"kind: nope\n"), Err(StoreError::Invalid(_))));
        assert!(matches!(store.write("../x", LOGIN), Err(StoreError::BadName(_))));
        assert!(matches!(store.write(".x", LOGIN), Err(StoreError::BadName(_))));
        assert!(!dir.path().join("credentials/x.age").exists());
    }

    #[test]
    fn rekey_is_all_or_nothing() {
        let ((a, pa), (b, pb)) = (identity(), identity());
        let dir = repo(&[&pa]);
        Store::open(dir.path()).unwrap().write("one", LOGIN).unwrap();
        std::fs::write(
            dir.path().join("credentials/two.age"),
            crate::secrets::encrypt(LOGIN, std::slice::from_ref(&pb)).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("berth.yaml"), format!("recipients: [{pa}, {pb}]\n")).unwrap();
        let before = std::fs::read(dir.path().join("credentials/one.age")).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let Err(StoreError::Invalid(d)) = store.rekey(&a) else { panic!() };
        assert_eq!(d[0].file, "credentials/two.age");
        assert_eq!(std::fs::read(dir.path().join("credentials/one.age")).unwrap(), before);
        // Without the file `a` cannot read, everything is re-encrypted to both keys.
        std::fs::remove_file(dir.path().join("credentials/two.age")).unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.rekey(&a).unwrap(), ["credentials/one.age"]);
        assert_eq!(&Store::open(dir.path()).unwrap().decrypt("one", &b).unwrap()[..], LOGIN);
    }
}
