//! State on the host: a cache that any machine may lack. Today only this
//! machine's fallback secret-fingerprint key, for repositories without one.
//! Never holds a secret value. What machines must agree on lives elsewhere:
//! the apply lock, releases and pins on the engine (`apply::lock`,
//! `observe::releases`), the fingerprint key in the repository. Where the
//! folder is and when berth trusts it: `dir`.

pub mod dir;

use std::fs::OpenOptions;
use std::path::PathBuf;

/// Why the state folder or its key cannot be used; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "berth has no state folder: HOME is not set; set STATE_DIRECTORY (systemd's StateDirectory=), \
XDG_STATE_HOME or HOME, or BERTH_STATE_DIR to a folder of your own"
    )]
    NoStateDir,
    #[error("failed to create the state folder {}: {error}; create it (mode 0700) or set BERTH_STATE_DIR", .path.display())]
    Create { path: PathBuf, error: std::io::Error },
    #[error("failed to inspect {}: {error}", .path.display())]
    Inspect { path: PathBuf, error: std::io::Error },
    #[error(
        "berth's {what} {} belongs to uid {owner}, not to you (uid {you}): another user could plant berth's fingerprint key there; \
`chown {you} {}` it, or set BERTH_STATE_DIR to a folder of your own",
        .path.display(), .path.display()
    )]
    NotYours { what: &'static str, path: PathBuf, owner: u32, you: u32 },
    #[error(
        "berth's {what} {} is open to other users (mode {mode:04o}): they could plant or read berth's fingerprint key; \
run `chmod {fix} {}`",
        .path.display(), .path.display()
    )]
    TooOpen { what: &'static str, path: PathBuf, mode: u32, fix: &'static str },
    #[error("failed to read the secret-fingerprint key {}: {error}", .path.display())]
    Key { path: PathBuf, error: std::io::Error },
    #[error("{0}")]
    BadKey(String),
}

/// berth's state folder, from the environment (see `dir::locate`).
pub fn state_dir() -> Result<PathBuf, StateError> {
    dir::locate(|name| std::env::var_os(name), dir::euid())
}

/// berth's state folder, made (mode 0700) when missing and refused when
/// another user owns it or others may write it.
pub fn ensured_state_dir() -> Result<PathBuf, StateError> {
    let dir = state_dir()?;
    dir::ensure(&dir)?;
    Ok(dir)
}

/// Where the fingerprint key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `$BERTH_FINGERPRINT_KEY`.
    Environment,
    /// `credentials/fingerprint-key.age`: every machine that can decrypt the
    /// repository has it.
    Repository,
    /// This machine's own `<state dir>/fingerprint.key`.
    StateDir(PathBuf),
}

/// The key of the HMAC that fingerprints secret env values in
/// `berth.spec-hash` and `berth.config`: `$BERTH_FINGERPRINT_KEY` (hex), else
/// the repository's (`repo`, from `credentials/fingerprint-key.age`), else
/// `<state dir>/fingerprint.key`, made once with 32 random bytes (mode
/// 0600) — which only this machine has.
pub fn fingerprint_key(repo: Option<&[u8]>) -> Result<(Vec<u8>, KeySource), StateError> {
    if let Ok(hex_key) = std::env::var("BERTH_FINGERPRINT_KEY") {
        let key = hex::decode(hex_key.trim())
            .map_err(|e| StateError::BadKey(format!("BERTH_FINGERPRINT_KEY is not hex: {e}")))?;
        return Ok((key, KeySource::Environment));
    }
    if let Some(key) = repo {
        return Ok((key.to_vec(), KeySource::Repository));
    }
    let folder = state_dir()?;
    dir::ensure(&folder)?;
    let path = folder.join("fingerprint.key");
    let own = |k: Vec<u8>| (k, KeySource::StateDir(path.clone()));
    let key_error = |error| StateError::Key { path: path.clone(), error };
    let read = || -> Result<Vec<u8>, StateError> {
        dir::check(&path, dir::Kind::KeyFile)?;
        let k = std::fs::read(&path).map_err(key_error)?;
        if k.len() < 32 {
            return Err(StateError::BadKey(format!(
                "{} is too short (under 32 bytes); delete it and berth makes a new one",
                path.display()
            )));
        }
        Ok(k)
    };
    if path.exists() {
        return read().map(own);
    }
    let key: [u8; 32] = rand::random();
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
        Ok(mut f) => {
            f.write_all(&key).map_err(key_error)?;
            Ok(own(key.to_vec()))
        }
        // Another berth made it a moment ago: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read().map(own),
        Err(e) => Err(key_error(e)),
    }
}
