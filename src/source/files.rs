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
//! The files come from the snapshot's origin: a working tree's folder is
//! read from the disk as it is (like a dirty build context), a commit's
//! from its git tree (`Tree::files_version`, `Tree::files_tar`). The same
//! files hash the same either way.

use super::context::tar::{self, Entry, Kind};
use super::revision::{Located, Reader, MODES_FILE};
use super::{ContextStream, Origin};
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
    version_at(&Origin::WorkTree { root: root.to_path_buf() }, folder)
}

/// [`files_version`] of a snapshot's origin.
pub(super) fn version_at(origin: &Origin, folder: &str) -> Result<FilesVersion, FilesError> {
    let f = Folder::at(origin, folder)?;
    let entries = f.entries()?;
    let hashed = tar::hash_entries(&entries, "").map_err(|e| f.read_error(e))?;
    let (mut files, mut bytes) = (0, 0);
    for e in &entries {
        match &e.kind {
            Kind::Dir => {}
            Kind::Symlink { .. } => files += 1,
            Kind::File { src, .. } => {
                files += 1;
                bytes += match (src, &f.src) {
                    (tar::FileSrc::Disk(path), _) => {
                        std::fs::symlink_metadata(path).map_err(|e| f.read_error(e))?.len()
                    }
                    (tar::FileSrc::Blob(id), Src::Git { repo, .. }) => {
                        let odb = repo.odb().map_err(|e| f.read_error(e.message()))?;
                        odb.read_header(*id).map_err(|e| f.read_error(e.message()))?.0 as u64
                    }
                    (tar::FileSrc::Blob(_), Src::Disk(_)) => 0,
                };
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
    tar_at(&Origin::WorkTree { root: root.to_path_buf() }, folder, planned)
}

/// [`files_tar`] from a snapshot's origin: a commit's files are hashed
/// from their git ids, then streamed from the objects (which never change
/// under their id), with no temporary file.
pub(super) fn tar_at(origin: &Origin, folder: &str, planned: &str) -> Result<ContextStream, FilesError> {
    let f = Folder::at(origin, folder)?;
    let entries = f.entries()?;
    let read = |e: &dyn std::fmt::Display| FilesError::Read { path: f.name.clone(), message: e.to_string() };
    let changed = || FilesError::Changed { path: f.name.clone(), planned: short(planned).to_string() };
    let spawned = match f.src {
        Src::Git { repo, .. } => {
            let hashed = tar::hash_entries(&entries, "").map_err(|e| read(&e))?;
            if hashed.content != planned {
                return Err(changed());
            }
            tar::spawn_stream(move |out| tar::write_tar(out, &entries, Some(&repo), "").map(drop))
        }
        Src::Disk(_) => {
            let temp = tempfile::tempfile().map_err(|e| read(&format!("cannot create a temporary file: {e}")))?;
            let (mut file, hashed) = tar::write_tar(temp, &entries, None, "").map_err(|e| read(&e))?;
            if hashed.content != planned {
                return Err(changed());
            }
            file.seek(SeekFrom::Start(0)).map_err(|e| read(&e))?;
            tar::spawn_stream(move |out| std::io::copy(&mut file, out).map(drop))
        }
    };
    spawned.map_err(|e| read(&format!("cannot start the tar thread: {e}")))
}

/// A mounted folder (or file) of the repository.
struct Folder {
    /// The path as given, for messages.
    name: String,
    /// Its components below the root (empty for the root itself).
    parts: Vec<String>,
    src: Src,
    /// A file, not a folder.
    file: bool,
}

/// Where a mounted folder's files are.
enum Src {
    /// The folder (or file) on disk, canonical, inside the root.
    Disk(PathBuf),
    /// Its tree (or blob, of mode `mode`) in a commit.
    Git { repo: git2::Repository, id: git2::Oid, mode: i32 },
}

impl Folder {
    fn at(origin: &Origin, folder: &str) -> Result<Self, FilesError> {
        match origin {
            Origin::WorkTree { root } => Folder::new(root, folder),
            Origin::Commit { git_dir, folder: base, commit } => Folder::in_commit(git_dir, base, commit, folder),
        }
    }

    /// The path's name for messages and its components, checked to be normalized.
    fn parts(folder: &str) -> Result<(String, Vec<String>), FilesError> {
        let name = folder.trim_start_matches("./").to_string();
        let parts = super::tree::components(folder);
        if folder.starts_with('/') || parts.iter().any(|p| p == "..") {
            let problem = "is not a normalized path inside the repository".into();
            return Err(FilesError::Invalid { path: name, problem });
        }
        Ok((name, parts))
    }

    /// `folder` of the repository folder `base` in `commit`, as the disk
    /// would show it checked out: symlinks followed inside the commit, and
    /// refused when they lead out of `base`.
    fn in_commit(git_dir: &Path, base: &str, commit: &str, folder: &str) -> Result<Self, FilesError> {
        let (name, parts) = Self::parts(folder)?;
        let invalid = |problem: &str| FilesError::Invalid { path: name.clone(), problem: problem.into() };
        let git = |e: git2::Error| FilesError::Read { path: name.clone(), message: format!("git: {}", e.message()) };
        let repo = git2::Repository::open(git_dir).map_err(git)?;
        let base = super::tree::components(base);
        let located = {
            let commit = repo.find_commit(git2::Oid::from_str(commit).map_err(git)?).map_err(git)?;
            let top = commit.tree().map_err(git)?;
            let reader = Reader { repo: &repo, top: &top };
            reader.locate(base.iter().chain(&parts).cloned().collect()).map_err(git)?
        };
        let (kind, id, mode) = match located {
            Located::Absent => return Err(invalid("does not exist")),
            Located::At { real, .. } if !real.starts_with(&base) => {
                return Err(invalid("leaves the repository through a symlink"))
            }
            Located::Outside => return Err(invalid("leaves the repository through a symlink")),
            Located::At { kind, id, mode, .. } => (kind, id, mode),
        };
        let file = match kind {
            git2::ObjectType::Tree => false,
            git2::ObjectType::Blob if MODES_FILE.contains(&mode) => true,
            _ => return Err(invalid("is neither a file nor a folder")),
        };
        if file && parts.is_empty() {
            return Err(invalid("is not a folder"));
        }
        Ok(Folder { name, parts, src: Src::Git { repo, id, mode }, file })
    }

    fn new(root: &Path, folder: &str) -> Result<Self, FilesError> {
        let (name, parts) = Self::parts(folder)?;
        let invalid = |problem: &str| FilesError::Invalid { path: name.clone(), problem: problem.into() };
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
        Ok(Folder { name, parts, src: Src::Disk(dir), file })
    }

    fn read_error(&self, e: impl std::fmt::Display) -> FilesError {
        FilesError::Read { path: self.name.clone(), message: e.to_string() }
    }

    /// Everything below the folder, sorted; a symlink must point inside
    /// it. A file is one entry, under the name it has in the repository.
    fn entries(&self) -> Result<Vec<Entry>, FilesError> {
        let name = self.parts.last().cloned().unwrap_or_default();
        let entries = match (&self.src, self.file) {
            (Src::Disk(dir), true) => {
                let exec = std::fs::metadata(dir).map_err(|e| self.read_error(e))?.permissions().mode() & 0o111 != 0;
                return Ok(vec![Entry { path: name, kind: Kind::File { exec, src: tar::FileSrc::Disk(dir.clone()) } }]);
            }
            (Src::Git { id, mode, .. }, true) => {
                let exec = *mode == 0o100755;
                return Ok(vec![Entry { path: name, kind: Kind::File { exec, src: tar::FileSrc::Blob(*id) } }]);
            }
            (Src::Disk(dir), false) => tar::all_disk_entries(dir).map_err(|e| self.read_error(e))?,
            (Src::Git { repo, id, .. }, false) => {
                let tree = repo.find_tree(*id).map_err(|e| self.read_error(e.message()))?;
                tar::all_tree_entries(repo, &tree).map_err(|e| self.read_error(e))?
            }
        };
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
