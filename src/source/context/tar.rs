//! The files of a context (from a git tree or the disk), their content
//! hash, and the tar stream that carries them.

use super::dockerignore::{Decision, Filter};
use bytes::Bytes;
use sha2::{Digest, Sha256};
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
pub(super) enum FileSrc {
    Disk(PathBuf),
    Blob(git2::Oid),
}

#[derive(Debug)]
pub(super) enum Kind {
    Dir,
    File { exec: bool, src: FileSrc },
    Symlink { target: Vec<u8> },
}

/// One entry of the context: its path relative to the context root.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) path: String,
    pub(super) kind: Kind,
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

/// sha256 over exactly what the tar carries: each entry's kind, path, mode
/// and contents (or link target), in order. Paths and targets hold no NUL,
/// and contents enter as their own digest, so the encoding is unambiguous.
pub(super) fn hash_disk_entries(entries: &[Entry]) -> io::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(b"berth-context-v1\0");
    for entry in entries {
        match &entry.kind {
            Kind::Dir => {
                hasher.update(b"d\0");
                hasher.update(entry.path.as_bytes());
                hasher.update(b"\x00755\x00");
            }
            Kind::File { exec, src } => {
                hasher.update(b"f\0");
                hasher.update(entry.path.as_bytes());
                hasher.update(format!("\0{:o}\0", file_mode(*exec)).as_bytes());
                let FileSrc::Disk(path) = src else {
                    return Err(io::Error::other("only disk files are hashed"));
                };
                let mut file = std::fs::File::open(path).map_err(|e| at(path, e))?;
                let mut content = Sha256::new();
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let n = file.read(&mut buf).map_err(|e| at(path, e))?;
                    if n == 0 {
                        break;
                    }
                    content.update(&buf[..n]);
                }
                hasher.update(content.finalize());
            }
            Kind::Symlink { target } => {
                hasher.update(b"l\0");
                hasher.update(entry.path.as_bytes());
                hasher.update(b"\0");
                hasher.update(target);
                hasher.update(b"\0");
            }
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Write `entries` as a deterministic tar (mtime 0, uid/gid 0, no names).
/// Blobs are read from `repo`.
pub(super) fn write_tar<W: Write>(out: W, entries: &[Entry], repo: Option<&git2::Repository>) -> io::Result<W> {
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
            }
            Kind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                let target = Path::new(std::ffi::OsStr::from_bytes(target));
                builder.append_link(&mut header, &entry.path, target)?;
            }
            Kind::File { exec, src } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(file_mode(*exec));
                match src {
                    FileSrc::Disk(path) => {
                        let file = std::fs::File::open(path).map_err(|e| at(path, e))?;
                        let size = file.metadata().map_err(|e| at(path, e))?.len();
                        header.set_size(size);
                        let reader = Exact { inner: file.take(size), remaining: size, path };
                        builder.append_data(&mut header, &entry.path, reader)?;
                    }
                    FileSrc::Blob(id) => {
                        let repo = repo.ok_or_else(|| io::Error::other("no repository to read blobs from"))?;
                        let blob = repo.find_blob(*id).map_err(git_io)?;
                        header.set_size(blob.content().len() as u64);
                        builder.append_data(&mut header, &entry.path, blob.content())?;
                    }
                }
            }
        }
    }
    builder.into_inner()
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
                format!("{}: file changed while being sent", self.path.display()),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Buffers written bytes and sends them as `CHUNK`-sized `Bytes`.
pub(super) struct ChunkWriter {
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
pub(super) fn spawn_stream<F>(produce: F) -> io::Result<super::ContextStream>
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
