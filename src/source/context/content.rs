//! The content id of a build context: sha256 over the git mode, path and git
//! blob id of every entry the tar carries, in order.
//!
//! Blob ids are git's own content addresses, so a committed tree is hashed
//! without reading a single blob, and the same files on disk hash the same
//! (their ids are computed as `git hash-object --no-filters` does). The id
//! depends on nothing but the files sent: not on a commit, its parents or
//! its date, so a shallow clone, a merge commit and a cherry-pick agree.

use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// Git's modes for what a context can hold.
pub(super) const GIT_DIR: u32 = 0o040000;
pub(super) const GIT_FILE: u32 = 0o100644;
pub(super) const GIT_EXEC: u32 = 0o100755;
pub(super) const GIT_LINK: u32 = 0o120000;

/// What a context's files hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::source) struct Hashed {
    /// sha256 (64 hex) over every entry sent.
    pub(in crate::source) content: String,
    /// The same over every entry but the Dockerfile: tells a change of the
    /// other files from a Dockerfile change.
    pub(super) other_files: String,
    /// Git blob id of the Dockerfile (40 hex), empty if it was not among them.
    pub(super) dockerfile_blob: String,
}

/// Accumulates entries, in the order the tar carries them.
pub(super) struct ContentHash {
    hasher: Sha256,
    others: Sha256,
    dockerfile: String,
    dockerfile_blob: String,
}

impl ContentHash {
    /// `dockerfile`: its path relative to the context, to note its blob id.
    pub(super) fn new(dockerfile: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"berth-context-v2\0");
        let others = hasher.clone();
        ContentHash { hasher, others, dockerfile: dockerfile.to_string(), dockerfile_blob: String::new() }
    }

    pub(super) fn dir(&mut self, path: &str) {
        let line = format!("{GIT_DIR:o} {path}\0\n");
        self.hasher.update(line.as_bytes());
        self.others.update(line.as_bytes());
    }

    /// A file or symlink: its git mode and blob id (hex). Paths hold no NUL
    /// and ids no newline, so the encoding is unambiguous.
    pub(super) fn blob(&mut self, mode: u32, path: &str, blob: &str) {
        let line = format!("{mode:o} {path}\0{blob}\n");
        self.hasher.update(line.as_bytes());
        if path == self.dockerfile && mode != GIT_LINK {
            self.dockerfile_blob = blob.to_string();
        } else {
            self.others.update(line.as_bytes());
        }
    }

    pub(super) fn finish(self) -> Hashed {
        Hashed {
            content: hex::encode(self.hasher.finalize()),
            other_files: hex::encode(self.others.finalize()),
            dockerfile_blob: self.dockerfile_blob,
        }
    }
}

/// A git blob id computed as bytes go by: `sha1("blob <size>\0" + bytes)`.
pub(super) struct BlobHasher(Sha1);

impl BlobHasher {
    pub(super) fn new(size: u64) -> Self {
        let mut h = Sha1::new();
        h.update(format!("blob {size}\0").as_bytes());
        BlobHasher(h)
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(super) fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// The git blob id of `bytes` (a symlink's target, a small file).
pub(super) fn blob_id(bytes: &[u8]) -> String {
    let mut h = BlobHasher::new(bytes.len() as u64);
    h.update(bytes);
    h.finish()
}

/// Reads through to `inner`, hashing what it passes on as a git blob.
pub(super) struct HashingReader<R> {
    pub(super) inner: R,
    pub(super) hasher: BlobHasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_are_gits() {
        // `printf 'hello\n' | git hash-object --stdin`, and the empty blob.
        assert_eq!(blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(git2::Oid::hash_object(git2::ObjectType::Blob, b"x y z").unwrap().to_string(), blob_id(b"x y z"));
    }

    #[test]
    fn the_content_id_covers_paths_modes_and_blobs() {
        let id = |entries: &[(u32, &str, &str)]| {
            let mut h = ContentHash::new("Dockerfile");
            for (mode, path, blob) in entries {
                match *mode {
                    GIT_DIR => h.dir(path),
                    _ => h.blob(*mode, path, blob),
                }
            }
            h.finish()
        };
        let base = id(&[(GIT_FILE, "Dockerfile", "aa"), (GIT_DIR, "src", ""), (GIT_FILE, "src/a", "bb")]);
        assert_eq!(base.dockerfile_blob, "aa");
        assert_eq!(base.content.len(), 64);
        let same = id(&[(GIT_FILE, "Dockerfile", "aa"), (GIT_DIR, "src", ""), (GIT_FILE, "src/a", "bb")]);
        assert_eq!(base, same);
        let dockerfile = id(&[(GIT_FILE, "Dockerfile", "ab"), (GIT_DIR, "src", ""), (GIT_FILE, "src/a", "bb")]);
        assert_ne!(dockerfile.content, base.content);
        assert_eq!(dockerfile.other_files, base.other_files, "only the Dockerfile changed");
        for other in [
            id(&[(GIT_FILE, "Dockerfile", "aa"), (GIT_DIR, "src", ""), (GIT_EXEC, "src/a", "bb")]),
            id(&[(GIT_FILE, "Dockerfile", "aa"), (GIT_DIR, "src", ""), (GIT_FILE, "src/b", "bb")]),
            id(&[(GIT_FILE, "Dockerfile", "aa"), (GIT_DIR, "src", ""), (GIT_FILE, "src/a", "cc")]),
            id(&[(GIT_FILE, "Dockerfile", "aa"), (GIT_FILE, "src/a", "bb")]),
        ] {
            assert_ne!(base.content, other.content);
            assert_ne!(base.other_files, other.other_files);
        }
    }
}
