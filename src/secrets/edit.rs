//! Edit: let the user change a decrypted document in their editor, with the
//! plaintext only ever on disk inside a private folder that is removed after.
//!
//! The folder is `0700`, on `/dev/shm` (memory) when that exists, else in the
//! temporary directory; it is removed on every path out, errors and panics
//! included. While the editor runs, berth holds SIGINT, SIGTERM, SIGHUP and
//! SIGQUIT (when a tokio runtime is there to hold them), so a Ctrl-C meant for
//! the editor cannot kill berth before it has cleaned up.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use zeroize::Zeroizing;

/// A private folder, removed with everything in it when dropped.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// A new `0700` folder under `/dev/shm` when it is a folder, else the temporary directory.
    pub fn new() -> std::io::Result<PrivateDir> {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        Self::new_in(&base)
    }

    pub fn new_in(base: &Path) -> std::io::Result<PrivateDir> {
        let path = base.join(format!("berth-edit-{:016x}", rand::random::<u64>()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        // Overwrite before unlinking, in case the folder is on a disk.
        if let Ok(entries) = std::fs::read_dir(&self.path) {
            for e in entries.flatten() {
                if let Ok(len) = e.metadata().map(|m| m.len()) {
                    let _ = std::fs::write(e.path(), vec![0u8; len as usize]);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("failed to create a private folder for editing: {0}")]
    Dir(std::io::Error),
    #[error("failed to write or read the file being edited: {0}")]
    File(std::io::Error),
    #[error("failed to start the editor `{editor}`: {error}")]
    Spawn { editor: String, error: std::io::Error },
    #[error("the editor `{editor}` exited with {status}; nothing was written")]
    Failed { editor: String, status: std::process::ExitStatus },
}

/// The user's editor: `$VISUAL`, else `$EDITOR`, else `vi`.
pub fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string())
}

/// Write `content` to `<dir>/<file_name>` (`0600`), run the editor on it and
/// return what it holds afterwards. The editor command may carry arguments
/// (`code --wait`); it runs through `sh -c` as git runs `core.editor`.
pub fn edit_in(dir: &PrivateDir, file_name: &str, content: &[u8]) -> Result<Zeroizing<Vec<u8>>, EditError> {
    let path = dir.path().join(file_name);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(content))
        .map_err(EditError::File)?;
    let editor = editor();
    let _held = hold_signals();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(&editor)
        .arg(&path)
        .status()
        .map_err(|error| EditError::Spawn { editor: editor.clone(), error })?;
    if !status.success() {
        return Err(EditError::Failed { editor, status });
    }
    std::fs::read(&path).map(Zeroizing::new).map_err(EditError::File)
}

/// Signal streams that keep the default action (death) away while they live.
fn hold_signals() -> Vec<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(handle) = tokio::runtime::Handle::try_current() else { return Vec::new() };
    let _guard = handle.enter();
    [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup(), SignalKind::quit()]
        .into_iter()
        .filter_map(|k| signal(k).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_dir_is_private_and_goes_away() {
        let base = tempfile::tempdir().unwrap();
        let dir = PrivateDir::new_in(base.path()).unwrap();
        let path = dir.path().to_path_buf();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::write(path.join("x"), b"secret").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}
