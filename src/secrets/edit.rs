//! Edit: let the user change a decrypted document in their editor, with the
//! plaintext only ever on disk inside a private folder.
//!
//! The folder is `0700`, in `$XDG_RUNTIME_DIR` (the user's own, in memory)
//! or on `/dev/shm` when there is one, else in the temporary directory. It is
//! removed on every path out, errors and panics included — except when an
//! edit that does not validate is given up: then it stays, so no work is lost,
//! and the caller tells the user where it is and to delete it. While the
//! editor runs, berth holds SIGINT, SIGTERM, SIGHUP and SIGQUIT (when a tokio
//! runtime is there to hold them), so a Ctrl-C meant for the editor cannot
//! kill berth before it has cleaned up.

use crate::diag::Diagnostic;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use zeroize::Zeroizing;

/// A private folder, removed with everything in it when dropped (unless kept).
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
    kept: bool,
}

impl PrivateDir {
    /// A new `0700` folder in `$XDG_RUNTIME_DIR`, else `/dev/shm`, else the temporary directory.
    pub fn new() -> std::io::Result<PrivateDir> {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_dir());
        let shm = Some(PathBuf::from("/dev/shm")).filter(|d| d.is_dir());
        let base = runtime.or(shm).unwrap_or_else(std::env::temp_dir);
        Self::new_in(&base)
    }

    pub fn new_in(base: &Path) -> std::io::Result<PrivateDir> {
        let path = base.join(format!("berth-edit-{:016x}", rand::random::<u64>()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateDir { path, kept: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leave the folder and its files in place; its path.
    pub fn keep(mut self) -> PathBuf {
        self.kept = true;
        self.path.clone()
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
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

/// How an edit ended.
#[derive(Debug)]
pub enum Edited {
    /// The edited document; it validates.
    Valid(Zeroizing<Vec<u8>>),
    /// Saved as it was given.
    Unchanged,
    /// Saved empty: nothing to write.
    Emptied,
    /// It does not validate and was not fixed: the document is kept (`0600`,
    /// in a kept private folder) at `path`; `diags` are its errors.
    Kept { path: PathBuf, diags: Vec<Diagnostic> },
}

/// Marks the lines berth adds above a document that failed to validate.
const NOTE: &str = "# berth: ";

/// Edit `original` as `<dir>/<file_name>` until it validates. On a terminal
/// (`interactive`) a failed attempt reopens the editor with the errors as
/// comments at the top, as `git commit` and `kubectl edit` do; saving it
/// again unchanged gives up. Without a terminal the first failure gives up.
/// Giving up keeps the folder, so the edit is not lost.
pub fn edit_until_valid(
    dir: PrivateDir,
    file_name: &str,
    original: &[u8],
    interactive: bool,
    validate: impl Fn(&[u8]) -> Result<(), Vec<Diagnostic>>,
    mut editor: impl FnMut(&Path) -> Result<(), EditError>,
) -> Result<Edited, EditError> {
    let path = dir.path().join(file_name);
    let mut shown = Zeroizing::new(original.to_vec());
    let mut rejected: Option<Zeroizing<Vec<u8>>> = None;
    loop {
        write_private(&path, &shown)?;
        editor(&path)?;
        let saved = Zeroizing::new(std::fs::read(&path).map_err(EditError::File)?);
        let body = Zeroizing::new(strip_notes(&saved).to_vec());
        if *body == original {
            return Ok(Edited::Unchanged);
        }
        if String::from_utf8_lossy(&body).trim().is_empty() {
            return Ok(Edited::Emptied);
        }
        let diags = match validate(&body) {
            Ok(()) => return Ok(Edited::Valid(body)),
            Err(diags) => diags,
        };
        if !interactive || rejected.as_ref().is_some_and(|r| **r == *body) {
            // Keep what the user wrote, without berth's notes: lines as in `diags`.
            write_private(&path, &body)?;
            let path = dir.keep().join(file_name);
            return Ok(Edited::Kept { path, diags });
        }
        shown = Zeroizing::new([notes(&diags).as_bytes(), &body[..]].concat());
        rejected = Some(body);
    }
}

/// The errors as comment lines for the top of the file, their line numbers
/// counted in the file as the editor shows it (notes included).
fn notes(diags: &[Diagnostic]) -> String {
    let mut lines = vec![
        "This file was not saved: it has the errors below. Fix them, save and quit.".to_string(),
        "To give up, quit without saving: the file is then kept for you to finish.".to_string(),
    ];
    let shift = lines.len() + diags.iter().map(|d| 1 + usize::from(d.hint.is_some())).sum::<usize>();
    for d in diags {
        lines.push(match d.line {
            0 => d.message.clone(),
            l => format!("line {}, column {}: {}", l as usize + shift, d.col, d.message),
        });
        if let Some(h) = &d.hint {
            lines.push(format!("  hint: {h}"));
        }
    }
    lines.iter().map(|l| format!("{NOTE}{l}\n")).collect()
}

/// The document without the notes berth put above it.
fn strip_notes(text: &[u8]) -> &[u8] {
    let mut rest = text;
    while rest.starts_with(NOTE.as_bytes()) {
        rest = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => &rest[i + 1..],
            None => &[],
        };
    }
    rest
}

/// Write `content` to `path`, readable by the user alone (`0600`).
fn write_private(path: &Path, content: &[u8]) -> Result<(), EditError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(content))
        .map_err(EditError::File)
}

/// Run the user's editor on `path`. The editor command may carry arguments
/// (`code --wait`); it runs through `sh -c` as git runs `core.editor`.
pub fn run_editor(path: &Path) -> Result<(), EditError> {
    let editor = editor();
    let _held = hold_signals();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(&editor)
        .arg(path)
        .status()
        .map_err(|error| EditError::Spawn { editor: editor.clone(), error })?;
    if !status.success() {
        return Err(EditError::Failed { editor, status });
    }
    Ok(())
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

    /// A validator that wants a `name:` line, like a credential wants `server:`.
    fn needs_name(body: &[u8]) -> Result<(), Vec<Diagnostic>> {
        if String::from_utf8_lossy(body).lines().any(|l| l.starts_with("name:")) {
            Ok(())
        } else {
            Err(vec![Diagnostic::new("credentials/x.age", 1, 1, "missing key `name`").hint("add it")])
        }
    }

    /// An editor that writes each of `steps` in turn (`None`: saves as shown),
    /// recording what it was shown.
    fn scripted<'a>(
        steps: Vec<Option<&'static str>>,
        shown: &'a mut Vec<String>,
    ) -> impl FnMut(&Path) -> Result<(), EditError> + 'a {
        let mut steps = steps.into_iter();
        move |path: &Path| {
            shown.push(std::fs::read_to_string(path).unwrap());
            if let Some(Some(text)) = steps.next() {
                std::fs::write(path, text).unwrap();
            }
            Ok(())
        }
    }

    #[test]
    fn on_a_terminal_the_editor_reopens_with_the_errors() {
        let base = tempfile::tempdir().unwrap();
        let dir = PrivateDir::new_in(base.path()).unwrap();
        let folder = dir.path().to_path_buf();
        let mut shown = Vec::new();
        let editor = scripted(vec![Some("kind: x\n"), Some("kind: x\nname: y\n")], &mut shown);
        let out = edit_until_valid(dir, "x.yaml", b"old\n", true, needs_name, editor).unwrap();
        assert!(matches!(out, Edited::Valid(ref b) if **b == *b"kind: x\nname: y\n"), "{out:?}");
        assert_eq!(shown[0], "old\n");
        // The second round shows the errors on top, with lines as the editor counts them.
        assert!(shown[1].starts_with("# berth: This file was not saved"), "{}", shown[1]);
        assert!(
            shown[1].contains("# berth: line 5, column 1: missing key `name`\n# berth:   hint: add it\n"),
            "{}",
            shown[1]
        );
        assert!(shown[1].ends_with("\nkind: x\n"), "{}", shown[1]);
        assert_eq!(shown[1].lines().nth(4), Some("kind: x"));
        assert!(!folder.exists());
    }

    #[test]
    fn an_invalid_edit_given_up_is_kept_privately() {
        // On a terminal: saved again unchanged.
        let base = tempfile::tempdir().unwrap();
        let dir = PrivateDir::new_in(base.path()).unwrap();
        let mut shown = Vec::new();
        let editor = scripted(vec![Some("kind: x\n"), None], &mut shown);
        let out = edit_until_valid(dir, "x.yaml", b"old\n", true, needs_name, editor).unwrap();
        let Edited::Kept { path, diags } = out else { panic!("{out:?}") };
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kind: x\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(diags[0].message, "missing key `name`");
        // Without a terminal: at once.
        let dir = PrivateDir::new_in(base.path()).unwrap();
        let mut shown = Vec::new();
        let out =
            edit_until_valid(dir, "x.yaml", b"old\n", false, needs_name, scripted(vec![Some("kind: x\n")], &mut shown));
        assert!(matches!(out, Ok(Edited::Kept { .. })), "{out:?}");
        assert_eq!(shown.len(), 1);
    }

    #[test]
    fn unchanged_and_emptied_edits_write_nothing() {
        let base = tempfile::tempdir().unwrap();
        let mut shown = Vec::new();
        let dir = PrivateDir::new_in(base.path()).unwrap();
        let out = edit_until_valid(dir, "x.yaml", b"old\n", true, needs_name, scripted(vec![None], &mut shown));
        assert!(matches!(out, Ok(Edited::Unchanged)), "{out:?}");
        let dir = PrivateDir::new_in(base.path()).unwrap();
        let out = edit_until_valid(dir, "x.yaml", b"old\n", true, needs_name, scripted(vec![Some("\n")], &mut shown));
        assert!(matches!(out, Ok(Edited::Emptied)), "{out:?}");
        assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0, "private folders left behind");
    }
}
