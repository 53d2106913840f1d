//! The files of a context (from a git tree or the disk), their content id,
//! and the tar stream that carries them.

use super::content::{blob_id, BlobHasher, ContentHash, Hashed, HashingReader, GIT_EXEC, GIT_FILE, GIT_LINK};
use super::dockerignore::{Decision, DockerIgnore, Filter};
use bytes::Bytes;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Size of the chunks the stream carries.
pub(super) const CHUNK: usize = 64 * 1024;
/// Chunks buffered between the producing thread and the stream.
const CHANNEL: usize = 4;

const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100644;
const MODE_BLOB_GROUP: i32 = 0o100664;
const MODE_EXEC: i32 = 0o100755;
pub(super) const MODE_LINK: i32 = 0o120000;

/// Where a regular file's bytes are.
#[derive(Debug)]
pub(in crate::source) enum FileSrc {
    Disk(PathBuf),
    Blob(git2::Oid),
}

#[derive(Debug)]
pub(in crate::source) enum Kind {
    Dir,
    File { exec: bool, src: FileSrc },
    Symlink { target: Vec<u8> },
}

/// One entry of the context: its path relative to the context root.
#[derive(Debug)]
pub(in crate::source) struct Entry {
    pub(in crate::source) path: String,
    pub(in crate::source) kind: Kind,
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    entries
}

/// The entries of the directory `dir` on disk that `filter` lets through,
/// sorted by path. Symlinks are not followed; `.git` is skipped; sockets,
/// fifos and devices are left out.
pub(super) fn disk_entries(dir: &Path, filter: &Filter) -> io::Result<Vec<Entry>> {
    fn walk(abs: &Path, rel: &str, filter: &Filter, out: &mut Vec<Entry>) -> io::Result<()> {
        let read = std::fs::read_dir(abs).map_err(|e| at(abs, e))?;
        let mut children = Vec::new();
        for entry in read {
            children.push(entry.map_err(|e| at(abs, e))?);
        }
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = child.file_name();
            let Some(name) = name.to_str() else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: file name is not UTF-8", child.path().display()),
                ));
            };
            if name == ".git" {
                continue;
            }
            let path = join(rel, name);
            let meta = child.metadata().map_err(|e| at(&child.path(), e))?; // does not follow symlinks
            let kind = meta.file_type();
            let decision = filter.decide(&path, kind.is_dir());
            if decision == Decision::Skip {
                continue;
            }
            if kind.is_dir() {
                if decision == Decision::Send {
                    out.push(Entry { path: path.clone(), kind: Kind::Dir });
                }
                walk(&child.path(), &path, filter, out)?;
            } else if kind.is_file() {
                let exec = meta.permissions().mode() & 0o111 != 0;
                out.push(Entry { path, kind: Kind::File { exec, src: FileSrc::Disk(child.path()) } });
            } else if kind.is_symlink() {
                let target = std::fs::read_link(child.path()).map_err(|e| at(&child.path(), e))?;
                out.push(Entry { path, kind: Kind::Symlink { target: target.as_os_str().as_bytes().to_vec() } });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", filter, &mut out)?;
    Ok(sorted(out))
}

/// Every entry of the directory `dir` on disk, `.dockerignore` or not
/// (repository files mounted into containers), as [`disk_entries`] walks them.
pub(in crate::source) fn all_disk_entries(dir: &Path) -> io::Result<Vec<Entry>> {
    disk_entries(dir, &Filter::new(DockerIgnore::default(), ""))
}

/// Every entry of a git tree (repository files mounted into containers),
/// as [`tree_entries`] walks them.
pub(in crate::source) fn all_tree_entries(repo: &git2::Repository, tree: &git2::Tree<'_>) -> io::Result<Vec<Entry>> {
    tree_entries(repo, tree, &Filter::new(DockerIgnore::default(), ""))
}

/// The entries of a git tree that `filter` lets through, sorted by path.
/// Submodules are skipped.
pub(super) fn tree_entries(repo: &git2::Repository, tree: &git2::Tree<'_>, filter: &Filter) -> io::Result<Vec<Entry>> {
    fn walk(
        repo: &git2::Repository,
        tree: &git2::Tree<'_>,
        rel: &str,
        filter: &Filter,
        out: &mut Vec<Entry>,
    ) -> io::Result<()> {
        for entry in tree.iter() {
            let Ok(name) = entry.name() else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: file name is not UTF-8", join(rel, &String::from_utf8_lossy(entry.name_bytes()))),
                ));
            };
            if name == ".git" {
                continue;
            }
            let path = join(rel, name);
            let mode = entry.filemode();
            let decision = filter.decide(&path, mode == MODE_TREE);
            if decision == Decision::Skip {
                continue;
            }
            match mode {
                MODE_TREE => {
                    if decision == Decision::Send {
                        out.push(Entry { path: path.clone(), kind: Kind::Dir });
                    }
                    let sub = repo.find_tree(entry.id()).map_err(git_io)?;
                    walk(repo, &sub, &path, filter, out)?;
                }
                MODE_BLOB | MODE_BLOB_GROUP | MODE_EXEC => {
                    out.push(Entry {
                        path,
                        kind: Kind::File { exec: mode == MODE_EXEC, src: FileSrc::Blob(entry.id()) },
                    });
                }
                MODE_LINK => {
                    let blob = repo.find_blob(entry.id()).map_err(git_io)?;
                    out.push(Entry { path, kind: Kind::Symlink { target: blob.content().to_vec() } });
                }
                _ => {} // submodules (0o160000)
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(repo, tree, "", filter, &mut out)?;
    Ok(sorted(out))
}

pub(super) fn git_io(e: git2::Error) -> io::Error {
    io::Error::other(e.message().to_string())
}

fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn file_mode(exec: bool) -> u32 {
    if exec {
        0o755
    } else {
        0o644
    }
}

fn git_mode(exec: bool) -> u32 {
    if exec {
        GIT_EXEC
    } else {
        GIT_FILE
    }
}

/// The content id of `entries` (see `content`): blob ids from git as they
/// are, from the disk by reading each file once.
pub(in crate::source) fn hash_entries(entries: &[Entry], dockerfile: &str) -> io::Result<Hashed> {
    let mut hash = ContentHash::new(dockerfile);
    for entry in entries {
        match &entry.kind {
            Kind::Dir => hash.dir(&entry.path),
            Kind::Symlink { target } => hash.blob(GIT_LINK, &entry.path, &blob_id(target)),
            Kind::File { exec, src: FileSrc::Blob(id) } => hash.blob(git_mode(*exec), &entry.path, &id.to_string()),
            Kind::File { exec, src: FileSrc::Disk(path) } => {
                let (file, size) = open_sized(path)?;
                let mut reader = HashingReader {
                    inner: Exact { inner: file.take(size), remaining: size, path },
                    hasher: BlobHasher::new(size),
                };
                io::copy(&mut reader, &mut io::sink())?;
                hash.blob(git_mode(*exec), &entry.path, &reader.hasher.finish());
            }
        }
    }
    Ok(hash.finish())
}

fn open_sized(path: &Path) -> io::Result<(std::fs::File, u64)> {
    let file = std::fs::File::open(path).map_err(|e| at(path, e))?;
    let size = file.metadata().map_err(|e| at(path, e))?.len();
    Ok((file, size))
}

/// Write `entries` as a deterministic tar (mtime 0, uid/gid 0, no names),
/// and hash exactly the bytes written (see [`hash_entries`]): a file that
/// changes while it is read changes the hash, never the archive alone.
/// Blobs are read from `repo`.
pub(in crate::source) fn write_tar<W: Write>(
    out: W,
    entries: &[Entry],
    repo: Option<&git2::Repository>,
    dockerfile: &str,
) -> io::Result<(W, Hashed)> {
    let mut hash = ContentHash::new(dockerfile);
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match &entry.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, format!("{}/", entry.path), io::empty())?;
                hash.dir(&entry.path);
            }
            Kind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                let link = Path::new(std::ffi::OsStr::from_bytes(target));
                builder.append_link(&mut header, &entry.path, link)?;
                hash.blob(GIT_LINK, &entry.path, &blob_id(target));
            }
            Kind::File { exec, src } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(file_mode(*exec));
                let blob = match src {
                    FileSrc::Disk(path) => {
                        let (file, size) = open_sized(path)?;
                        header.set_size(size);
                        let exact = Exact { inner: file.take(size), remaining: size, path };
                        let mut reader = HashingReader { inner: exact, hasher: BlobHasher::new(size) };
                        builder.append_data(&mut header, &entry.path, &mut reader)?;
                        reader.hasher.finish()
                    }
                    FileSrc::Blob(id) => {
                        let repo = repo.ok_or_else(|| io::Error::other("no repository to read blobs from"))?;
                        let blob = repo.find_blob(*id).map_err(git_io)?;
                        header.set_size(blob.content().len() as u64);
                        builder.append_data(&mut header, &entry.path, blob.content())?;
                        id.to_string()
                    }
                };
                hash.blob(git_mode(*exec), &entry.path, &blob);
            }
        }
    }
    Ok((builder.into_inner()?, hash.finish()))
}

/// A file read for exactly the size its header announced: a file that
/// shrank while being sent is an error, not a corrupt archive.
struct Exact<'a, R> {
    inner: R,
    remaining: u64,
    path: &'a Path,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| at(self.path, e))?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: file changed while being read", self.path.display()),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Buffers written bytes and sends them as `CHUNK`-sized `Bytes`.
pub(in crate::source) struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the build context stream was dropped"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // chunks go out when full, and the rest at the end
    }
}

/// Run `produce` on its own thread, writing into a chunked channel, and
/// return the receiving end as a stream. An error while producing is the
/// stream's last item.
pub(in crate::source) fn spawn_stream<F>(produce: F) -> io::Result<super::ContextStream>
where
    F: FnOnce(&mut ChunkWriter) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL);
    std::thread::Builder::new().name("berth-context-tar".into()).spawn(move || {
        let mut writer = ChunkWriter { buf: Vec::with_capacity(CHUNK), tx };
        let result = produce(&mut writer).and_then(|()| writer.send());
        if let Err(e) = result {
            if e.kind() != io::ErrorKind::BrokenPipe || !writer.tx.is_closed() {
                let _ = writer.tx.blocking_send(Err(e));
            }
        }
    })?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(Box::pin(stream))
}
