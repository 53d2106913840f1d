//! State on the host: a cache that any machine may lack. Today only this
//! machine's fallback secret-fingerprint key, for repositories without one.
//! Never holds a secret value. What machines must agree on lives elsewhere:
//! the apply lock, releases and pins on the engine (`apply::lock`,
//! `observe::releases`), the fingerprint key in the repository.

use std::fs::OpenOptions;
use std::path::PathBuf;

/// berth's state folder: `$BERTH_STATE_DIR`, else `$XDG_STATE_HOME/berth`,
/// else `~/.local/state/berth`.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BERTH_STATE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(d).join("berth");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".local/state/berth")
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
pub fn fingerprint_key(repo: Option<&[u8]>) -> Result<(Vec<u8>, KeySource), std::io::Error> {
    if let Ok(hex_key) = std::env::var("BERTH_FINGERPRINT_KEY") {
        let key = hex::decode(hex_key.trim()).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("BERTH_FINGERPRINT_KEY is not hex: {e}"))
        })?;
        return Ok((key, KeySource::Environment));
    }
    if let Some(key) = repo {
        return Ok((key.to_vec(), KeySource::Repository));
    }
    let path = state_dir().join("fingerprint.key");
    let own = |k: Vec<u8>| (k, KeySource::StateDir(path.clone()));
    match std::fs::read(&path) {
        Ok(k) if k.len() >= 32 => return Ok(own(k)),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is too short", path.display()),
            ))
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    std::fs::create_dir_all(state_dir())?;
    let key: [u8; 32] = rand::random();
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
        Ok(mut f) => {
            f.write_all(&key)?;
            Ok(own(key.to_vec()))
        }
        // Another berth made it a moment ago: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(&path).map(own),
        Err(e) => Err(e),
    }
}
