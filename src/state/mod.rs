//! State on the host: where berth keeps its lock, the secret-fingerprint
//! key and each app's release history (`history`). Never holds a secret.
//!
//! The lock makes one apply (or watch) at a time per project and engine: an
//! advisory `flock` on a file named after both, released by the kernel when
//! the process ends, so a crash never leaves a stale lock.

pub mod history;

pub use history::{AppHistory, History, Pin, Release};

use std::fs::{File, OpenOptions};
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

/// The key of the HMAC that fingerprints secret env values in
/// `berth.spec-hash` and `berth.config`: `$BERTH_FINGERPRINT_KEY` (hex), else
/// `<state dir>/fingerprint.key`, made once with 32 random bytes (mode 0600).
/// Machines that plan against the same engine should share it.
pub fn fingerprint_key() -> Result<Vec<u8>, std::io::Error> {
    if let Ok(hex_key) = std::env::var("BERTH_FINGERPRINT_KEY") {
        return hex::decode(hex_key.trim()).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("BERTH_FINGERPRINT_KEY is not hex: {e}"))
        });
    }
    let path = state_dir().join("fingerprint.key");
    match std::fs::read(&path) {
        Ok(k) if k.len() >= 32 => return Ok(k),
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
            Ok(key.to_vec())
        }
        // Another berth made it a moment ago: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(&path),
        Err(e) => Err(e),
    }
}

/// Held while an apply runs; dropping it releases the lock.
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another berth apply is running for project {project} on this engine (lock {path}); wait for it to finish and try again")]
    Busy { project: String, path: PathBuf },
    #[error("failed to take the lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Take the project's lock for this engine without waiting.
pub fn lock(project: &str, engine: &str) -> Result<ProjectLock, LockError> {
    let dir = state_dir().join("locks");
    let engine_key: String = engine.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let path = dir.join(format!("{project}@{engine_key}.lock"));
    let io = |source| LockError::Io { path: path.clone(), source };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(ProjectLock { _file: file, path }),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy { project: project.to_string(), path }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_same_project_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY of set_var: this is the only test in the crate touching BERTH_STATE_DIR.
        unsafe { std::env::set_var("BERTH_STATE_DIR", dir.path()) };
        let first = lock("p1", "unix:///var/run/docker.sock").unwrap();
        let second = lock("p1", "unix:///var/run/docker.sock");
        assert!(matches!(second, Err(LockError::Busy { .. })), "{second:?}");
        assert!(lock("p2", "unix:///var/run/docker.sock").is_ok(), "another project is independent");
        drop(first);
        assert!(lock("p1", "unix:///var/run/docker.sock").is_ok(), "released on drop");
    }
}
