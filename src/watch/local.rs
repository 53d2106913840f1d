//! Watching a local repository's files: a burst of relevant changes (an
//! edit, a checkout, a commit) wakes the loop once.
//!
//! notify (inotify on Linux: no polling) reports changes; one thread of
//! ours decides which ones matter (`filter`, pure) and, once relevant
//! changes have been quiet for 300 ms, fires one `Trigger::Files` for the
//! burst. Both threads sleep in the kernel until something changes, so an
//! idle watch costs no CPU. Reads are dropped in notify's own thread:
//! berth's passes, which read the repository, do not wake ours.
//! (notify-debouncer-full was tried and left out: its thread wakes every
//! tick even when idle, ~0.2 s of CPU per 10 minutes at a 100 ms tick,
//! and its per-file timers add up to a tick of latency.)
//!
//! Only folders that can hold a relevant file are watched, one inotify
//! watch each: the repository root (not recursively), `apps/`,
//! `credentials/`, build contexts (minus what git ignores, such as
//! `target/` or `node_modules/`), mounted folders, and git's folders for
//! `HEAD` and `refs/`, never `.git/objects`. The set follows folders as
//! they appear and vanish, and the paths the last load found (`set_paths`).

mod filter;

pub use filter::WatchPaths;

use super::trigger::{Trigger, Triggers};
use filter::{Hit, Layout};
use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};
use walkdir::WalkDir;

/// How long relevant changes must stay quiet before the burst is reported.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// A burst that never ends is reported after this long anyway.
const MAX_BURST: Duration = Duration::from_secs(2);

/// Why watching a repository could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("failed to open repository {path} for watching: {source}")]
    Root { path: PathBuf, source: std::io::Error },
    #[error("failed to start watching files: {0}\n  hint: on Linux, raise fs.inotify.max_user_instances (sysctl)")]
    Start(#[source] notify::Error),
    #[error(
        "failed to watch {path}: {source}\n  hint: on Linux, raise fs.inotify.max_user_watches (sysctl) when the limit is reached"
    )]
    Watch { path: PathBuf, source: notify::Error },
    #[error("failed to start the file-watching thread: {0}")]
    Thread(#[source] std::io::Error),
}

enum Msg {
    Event(notify::Result<notify::Event>),
    Paths(WatchPaths),
    Flush(mpsc::Sender<()>),
    Stop,
}

/// A running watch of one repository; dropping it stops watching.
pub struct LocalWatch {
    tx: mpsc::Sender<Msg>,
}

impl LocalWatch {
    /// Watches the repository at `root` (its settings, apps and
    /// credentials, and git's HEAD and refs; build contexts and mounted
    /// folders once `set_paths` names them). Blocking: it walks the watched
    /// folders once, so call it from `spawn_blocking` on a busy runtime.
    pub fn start(root: &Path, triggers: Triggers) -> Result<LocalWatch, WatchError> {
        let root = root.canonicalize().map_err(|source| WatchError::Root { path: root.to_path_buf(), source })?;
        let repo = git2::Repository::discover(&root).ok();
        let layout = layout(&root, repo.as_ref());
        let (tx, rx) = mpsc::channel();
        let events = tx.clone();
        let watcher = RecommendedWatcher::new(
            move |r: notify::Result<notify::Event>| {
                // Reads never count: they need not wake the worker.
                if r.as_ref().is_ok_and(|e| !filter::counts(&e.kind) && !e.need_rescan()) {
                    return;
                }
                // The receiver is gone only when the watch stopped.
                let _ = events.send(Msg::Event(r));
            },
            notify::Config::default(),
        )
        .map_err(WatchError::Start)?;
        let mut worker = Worker {
            watcher,
            layout,
            workdir: repo.as_ref().and_then(|r| r.workdir()).and_then(|w| w.canonicalize().ok()),
            repo,
            paths: WatchPaths::default(),
            watched: BTreeSet::new(),
            triggers,
            warned: HashSet::new(),
        };
        // The root must be watchable; folders inside it may come and go.
        let root = worker.layout.root.clone();
        worker
            .watcher
            .watch(&root, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError::Watch { path: root.clone(), source })?;
        worker.watched.insert(root);
        worker.sync();
        std::thread::Builder::new()
            .name("berth-watch-files".into())
            .spawn(move || worker.run(rx))
            .map_err(WatchError::Thread)?;
        Ok(LocalWatch { tx })
    }

    /// The build contexts and mounted folders the last load found
    /// (repository-relative); their files trigger from now on.
    pub fn set_paths(&self, paths: WatchPaths) {
        let _ = self.tx.send(Msg::Paths(paths));
    }

    /// Waits until every earlier `set_paths` is in effect (blocking).
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

impl Drop for LocalWatch {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

fn layout(root: &Path, repo: Option<&git2::Repository>) -> Layout {
    let canonical = |p: &Path| p.canonicalize().ok();
    Layout {
        root: root.to_path_buf(),
        git_dir: repo.and_then(|r| canonical(r.path())),
        common_dir: repo.and_then(|r| canonical(r.commondir())),
    }
}

/// The watching thread's state: it owns the watcher (and so the watches).
struct Worker {
    watcher: RecommendedWatcher,
    layout: Layout,
    repo: Option<git2::Repository>,
    workdir: Option<PathBuf>,
    paths: WatchPaths,
    /// Folders watched now (each one on its own, not recursively).
    watched: BTreeSet<PathBuf>,
    triggers: Triggers,
    /// Problems already logged, so a recurring one is said once.
    warned: HashSet<String>,
}

/// The relevant changes of one burst.
#[derive(Default)]
struct Burst {
    first: Option<String>,
    seen: HashSet<PathBuf>,
    /// Folders may have appeared or vanished: the watches need a look.
    structural: bool,
    /// Watched folders that went away.
    gone: Vec<PathBuf>,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            // Blocks without waking until something happens.
            let Ok(msg) = rx.recv() else { return };
            let event = match msg {
                Msg::Event(event) => event,
                Msg::Stop => return,
                other => {
                    self.control(other);
                    continue;
                }
            };
            let mut burst = Burst::default();
            if !self.take(event, &mut burst) {
                continue;
            }
            // The burst lasts until relevant changes stop for DEBOUNCE.
            let started = Instant::now();
            let mut last = started;
            loop {
                let due = (last + DEBOUNCE).min(started + MAX_BURST);
                let Some(left) = due.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else { break };
                match rx.recv_timeout(left) {
                    Ok(Msg::Event(event)) => {
                        if self.take(event, &mut burst) {
                            last = Instant::now();
                        }
                    }
                    Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    Ok(other) => self.control(other),
                    Err(RecvTimeoutError::Timeout) => break,
                }
            }
            self.finish(burst);
        }
    }

    fn control(&mut self, msg: Msg) {
        match msg {
            Msg::Paths(paths) => {
                let paths = paths.normalized();
                if paths != self.paths {
                    self.paths = paths;
                    self.sync();
                }
            }
            Msg::Flush(done) => {
                let _ = done.send(());
            }
            Msg::Event(_) | Msg::Stop => {}
        }
    }

    /// Adds an event's relevant paths to the burst; whether there were any.
    fn take(&mut self, event: notify::Result<notify::Event>, burst: &mut Burst) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                self.warn_once(format!("watching files of {}: {e}", self.layout.root.display()));
                return false;
            }
        };
        if event.need_rescan() {
            // The kernel dropped events: anything may have changed.
            tracing::debug!("file events were lost; checking the whole repository");
            burst.structural = true;
            burst.first.get_or_insert_with(|| ".".into());
            burst.seen.insert(self.layout.root.clone());
            return true;
        }
        if !filter::counts(&event.kind) {
            return false;
        }
        let mut any = false;
        for path in &event.paths {
            if gone(&event.kind) && self.watched.contains(path) {
                burst.gone.push(path.clone());
                burst.structural = true;
                any = true;
            }
            let relevant = match filter::classify(&self.layout, &self.paths, path) {
                None => false,
                Some(Hit::Context) => !self.git_ignores(path),
                Some(Hit::Repo | Hit::Git) => true,
            };
            if !relevant {
                tracing::trace!(path = %path.display(), "file change ignored");
                continue;
            }
            any = true;
            if appeared(&event.kind) && path.is_dir() {
                burst.structural = true;
            }
            if burst.seen.insert(path.clone()) && burst.first.is_none() {
                burst.first = Some(self.shown(path));
            }
        }
        any
    }

    fn finish(&mut self, burst: Burst) {
        for path in &burst.gone {
            // The kernel dropped those watches with the folders.
            let below: Vec<PathBuf> = self.watched.iter().filter(|w| w.starts_with(path)).cloned().collect();
            for w in below {
                let _ = self.watcher.unwatch(&w);
                self.watched.remove(&w);
            }
        }
        if burst.structural {
            self.sync();
        }
        if let Some(first) = burst.first {
            let count = burst.seen.len();
            tracing::debug!(count, "repository files changed ({first}, …)");
            self.triggers.fire(Trigger::Files { first, count });
        }
    }

    /// A path as the log shows it: repository-relative when inside it.
    fn shown(&self, path: &Path) -> String {
        match path.strip_prefix(&self.layout.root) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
            _ => path.display().to_string(),
        }
    }

    /// Whether git ignores `path` (never sent in a build context).
    fn git_ignores(&self, path: &Path) -> bool {
        let (Some(repo), Some(workdir)) = (&self.repo, &self.workdir) else { return false };
        let Ok(rel) = path.strip_prefix(workdir) else { return false };
        !rel.as_os_str().is_empty() && repo.is_path_ignored(rel).unwrap_or(false)
    }

    /// Makes the watches match the folders that can hold relevant files now.
    fn sync(&mut self) {
        let wanted = self.wanted();
        let stale: Vec<PathBuf> = self.watched.difference(&wanted).cloned().collect();
        for path in stale {
            let _ = self.watcher.unwatch(&path);
            self.watched.remove(&path);
        }
        let new: Vec<PathBuf> = wanted.difference(&self.watched).cloned().collect();
        for path in new {
            match self.watcher.watch(&path, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(path);
                }
                // Gone since the walk: its parent's watch reports it coming back.
                Err(e) if matches!(&e.kind, notify::ErrorKind::PathNotFound) => {}
                Err(e) if matches!(&e.kind, notify::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound) => {
                }
                Err(e) => self.warn_once(format!(
                    "failed to watch {}: {e}; changes there are seen at the next drift check \
                     (on Linux, raise fs.inotify.max_user_watches when the limit is reached)",
                    path.display()
                )),
            }
        }
    }

    /// The folders to watch: the root, git's folders for HEAD and refs,
    /// and every folder of the trees that hold relevant files (or, for a
    /// tree not there yet, the nearest folder on the way to it).
    fn wanted(&self) -> BTreeSet<PathBuf> {
        let root = &self.layout.root;
        let mut wanted = BTreeSet::from([root.clone()]);
        wanted.extend(self.layout.git_dir.iter().cloned());
        if let Some(common) = &self.layout.common_dir {
            wanted.insert(common.clone());
            self.walk(&common.join("refs"), false, &mut wanted);
        }
        let fixed = ["apps", "credentials"].map(|t| (t.to_string(), false));
        let folders = self.paths.folders.iter().map(|f| (f.clone(), false));
        let contexts = self.paths.contexts.iter().map(|c| (c.clone(), true));
        for (rel, contexts) in fixed.into_iter().chain(folders).chain(contexts) {
            let path = if rel.is_empty() { root.clone() } else { root.join(&rel) };
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => self.walk(&path, contexts, &mut wanted),
                // A mounted file: its folder's watch reports it.
                Ok(_) => wanted.extend(path.parent().map(Path::to_path_buf)),
                Err(_) => {
                    let mut on_the_way = path.as_path();
                    while on_the_way != root.as_path() && !on_the_way.is_dir() {
                        on_the_way = on_the_way.parent().unwrap_or(root);
                    }
                    wanted.insert(on_the_way.to_path_buf());
                }
            }
        }
        wanted
    }

    /// `dir` and the folders below it, never into a `.git`, and in build
    /// contexts not into folders git ignores (`target/`, `node_modules/`).
    fn walk(&self, dir: &Path, contexts: bool, into: &mut BTreeSet<PathBuf>) {
        let keep = |e: &walkdir::DirEntry| {
            e.depth() == 0
                || (e.file_type().is_dir() && e.file_name() != ".git" && !(contexts && self.git_ignores(e.path())))
        };
        let walk = WalkDir::new(dir).follow_links(false).into_iter().filter_entry(keep);
        into.extend(walk.filter_map(Result::ok).filter(|e| e.file_type().is_dir()).map(walkdir::DirEntry::into_path));
    }

    fn warn_once(&mut self, message: String) {
        if self.warned.len() < 100 && self.warned.insert(message.clone()) {
            tracing::warn!("{message}");
        }
    }
}

/// A change that may have removed (or moved away) what is at the path.
fn gone(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)) | EventKind::Any)
}

/// A change that may have put something new at the path.
fn appeared(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both | RenameMode::Any))
            | EventKind::Any
    )
}
