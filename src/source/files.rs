//! Repository files mounted into containers (`volumes: ["./site:/srv:ro"]`,
//! or one file: `./conf/app.conf:/etc/app.conf:ro`): which files a folder
//! (or a file) ships to the engine, what they hash to, and the tar that
//! carries them.
//!
//! The files travel to the engine content-addressed (a volume named by the
//! hash, filled through the engine's archive API), so where the repository
//! is checked out never matters and a remote engine works. The hash covers
//! exactly what is sent — every path below the folder with its git mode and
//! git blob id, as for build contexts (`context::content`) — so the same
//! files hash the same in every clone. Symlinks are sent as symlinks, and
//! only when they point inside the folder: anything else would show the
//! container something the hash does not cover.
//!
//! Today the files come from the working tree, like a dirty build context.
//! Reading stays behind [`files_version`] and [`files_tar`] (the root and
//! the folder in, the hash and the tar out), so a git revision can be the
//! source as well.

use super::context::tar::{self, Entry, Kind};
use super::ContextStream;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What a mounted folder (or file) ships.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct FilesVersion {
    /// sha256 (64 hex) over the git mode, path and git blob id of every
    /// file, symlink and folder sent, in order.
    pub content: String,
    /// Files and symlinks sent.
    pub files: usize,
    /// The files' total size in bytes.
    pub bytes: u64,
    /// One file, not a folder: the tar holds it under its own name.
    #[serde(default)]
    pub file: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("repository path ./{path} {problem}")]
    Invalid { path: String, problem: String },
    #[error("repository folder ./{folder} has a symlink {link} → {target} that {problem}")]
    Link { folder: String, link: String, target: String, problem: String },
    #[error("failed to read repository path ./{path}: {message}")]
    Read { path: String, message: String },
    #[error(
        "repository files ./{path} changed since the plan (they no longer hash to the planned {planned}): nothing was sent; run `berth plan` again"
    )]
    Changed { path: String, planned: String },
}

impl FilesError {
    /// What to do about it, when there is more to say than the message.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            FilesError::Link { .. } => Some(
                "symlinks are shipped as they are: make it a relative link inside the folder, or mount a folder that holds what it points to",
            ),
            _ => None,
        }
    }
}

/// The first hex digits of a content hash that name its volume and show in plans.
pub const SHORT_LEN: usize = 12;

/// `hash` cut to [`SHORT_LEN`] (whole, when it is not that long or not hex:
/// a label edited by hand).
pub fn short(hash: &str) -> &str {
    hash.get(..SHORT_LEN).unwrap_or(hash)
}

/// What the files of `folder` (repository-relative, `/`-separated,
/// normalized; `.` for the root; or one file) hash to. Reads every file once.
pub fn files_version(root: &Path, folder: &str) -> Result<FilesVersion, FilesError> {
    let f = Folder::new(root, folder)?;
    let entries = f.entries()?;
    let hashed = tar::hash_entries(&entries, "").map_err(|e| f.read_error(e))?;
    let (mut files, mut bytes) = (0, 0);
    for e in &entries {
        match &e.kind {
            Kind::Dir => {}
            Kind::Symlink { .. } => files += 1,
            Kind::File { src, .. } => {
                files += 1;
                if let tar::FileSrc::Disk(path) = src {
                    bytes += std::fs::symlink_metadata(path).map_err(|e| f.read_error(e))?.len();
                }
            }
        }
    }
    Ok(FilesVersion { content: hashed.content, files, bytes, file: f.file })
}

/// The files of `folder` as a tar (paths relative to the folder, or the
/// file under its name; mtime 0, owner root), refused with
/// [`FilesError::Changed`] before a byte is sent when they do not hash to
/// `planned`.
///
/// Blocking: the tar is written to a private temporary file first (one
/// read of each file, hashed as it is written), and only that file is
/// sent. Call it off the async threads.
pub fn files_tar(root: &Path, folder: &str, planned: &str) -> Result<ContextStream, FilesError> {
    let f = Folder::new(root, folder)?;
    let entries = f.entries()?;
    let temp = tempfile::tempfile().map_err(|e| f.read_error(format!("cannot create a temporary file: {e}")))?;
    let (mut file, hashed) = tar::write_tar(temp, &entries, None, "").map_err(|e| f.read_error(e))?;
    if hashed.content != planned {
        return Err(FilesError::Changed { path: f.name, planned: short(planned).to_string() });
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| f.read_error(e))?;
    tar::spawn_stream(move |out| std::io::copy(&mut file, out).map(drop))
        .map_err(|e| f.read_error(format!("cannot start the tar thread: {e}")))
}

/// A mounted folder (or file) of the repository.
struct Folder {
    /// The path as given, for messages.
    name: String,
    /// Its components below the root (empty for the root itself).
    parts: Vec<String>,
    /// The folder (or file) on disk, canonical, inside the root.
    dir: PathBuf,
    /// A file, not a folder.
    file: bool,
}

impl Folder {
    fn new(root: &Path, folder: &str) -> Result<Self, FilesError> {
        let name = folder.trim_start_matches("./").to_string();
        let invalid = |problem: &str| FilesError::Invalid { path: name.clone(), problem: problem.into() };
        let parts: Vec<String> = folder.split('/').filter(|p| !p.is_empty() && *p != ".").map(String::from).collect();
        if folder.starts_with('/') || parts.iter().any(|p| p == "..") {
            return Err(invalid("is not a normalized path inside the repository"));
        }
        let read = |e: std::io::Error| FilesError::Read { path: name.clone(), message: e.to_string() };
        let root = root.canonicalize().map_err(read)?;
        let joined = parts.iter().fold(root.clone(), |p, c| p.join(c));
        let dir = match joined.canonicalize() {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(invalid("does not exist")),
            Err(e) => return Err(read(e)),
        };
        if !dir.starts_with(&root) {
            return Err(invalid("leaves the repository through a symlink"));
        }
        let file = dir.is_file();
        if !file && !dir.is_dir() {
            return Err(invalid("is neither a file nor a folder"));
        }
        if file && parts.is_empty() {
            return Err(invalid("is not a folder"));
        }
        Ok(Folder { name, parts, dir, file })
    }

    fn read_error(&self, e: impl std::fmt::Display) -> FilesError {
        FilesError::Read { path: self.name.clone(), message: e.to_string() }
    }

    /// Everything below the folder, sorted; a symlink must point inside
    /// it. A file is one entry, under the name it has in the repository.
    fn entries(&self) -> Result<Vec<Entry>, FilesError> {
        if self.file {
            let exec = std::fs::metadata(&self.dir).map_err(|e| self.read_error(e))?.permissions().mode() & 0o111 != 0;
            let name = self.parts.last().cloned().unwrap_or_default();
            return Ok(vec![Entry {
                path: name,
                kind: Kind::File { exec, src: tar::FileSrc::Disk(self.dir.clone()) },
            }]);
        }
        let entries = tar::all_disk_entries(&self.dir).map_err(|e| self.read_error(e))?;
        for e in &entries {
            if let Kind::Symlink { target } = &e.kind {
                if let Some(problem) = self.link_problem(&e.path, target) {
                    return Err(FilesError::Link {
                        folder: self.name.clone(),
                        link: e.path.clone(),
                        target: String::from_utf8_lossy(target).into_owned(),
                        problem: problem.to_string(),
                    });
                }
            }
        }
        Ok(entries)
    }

    /// Why the symlink at `path` (relative to the folder) pointing at
    /// `target` cannot be shipped, if it cannot. Read lexically, as the
    /// container reads it below the mount point: a link that climbs above
    /// the folder points at the container's own files, even when it comes
    /// back down into a folder of the same name.
    fn link_problem(&self, path: &str, target: &[u8]) -> Option<&'static str> {
        let Ok(target) = std::str::from_utf8(target) else { return Some("is not UTF-8") };
        if target.starts_with('/') {
            return Some("is absolute: it leaves the repository");
        }
        let mut at: Vec<&str> = path.split('/').collect();
        at.pop();
        // Levels above the folder: now, and at most.
        let (mut above, mut highest) = (0usize, 0usize);
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." if at.pop().is_none() => {
                    above += 1;
                    highest = highest.max(above);
                }
                ".." => {}
                _ if above > 0 => above -= 1,
                c => at.push(c),
            }
        }
        if highest > self.parts.len() {
            Some("leaves the repository")
        } else if highest > 0 {
            Some("points outside the folder, so the container would not see what it points to")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests;
