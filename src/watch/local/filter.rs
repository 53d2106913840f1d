//! Which file changes may change what berth would apply: a pure decision
//! on a path, given where the repository and its git folders are and
//! which build contexts and mounted folders the last load found.
//!
//! Relevant: `berth.yaml`/`berth.yml`, `apps/**`, `credentials/**`, build
//! contexts and mounted folders (and the folders on the way to them, whose
//! creation or removal makes them appear or vanish), git's `HEAD`, `refs/**`
//! and `packed-refs` (a commit or checkout). Not relevant: editor swap and
//! temp files, every other git internal (objects, index, logs, locks), and
//! reads (berth's own passes open files too).

use notify::event::{EventKind, MetadataKind, ModifyKind};
use std::path::{Path, PathBuf};

/// Where the watched files are: all absolute and canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The berth repository (it may be a folder inside a larger work tree).
    pub root: PathBuf,
    /// The work tree's git folder: its `HEAD` is here (`.git`, or
    /// `.git/worktrees/<name>` for a linked worktree).
    pub git_dir: Option<PathBuf>,
    /// Where refs and `packed-refs` are: `git_dir`, except in a linked worktree.
    pub common_dir: Option<PathBuf>,
}

/// Repository-relative paths the last load found, beyond the fixed ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchPaths {
    /// Build contexts (`build.context`).
    pub contexts: Vec<String>,
    /// Repository folders and files mounted into containers (`./site:/srv`).
    pub folders: Vec<String>,
}

impl WatchPaths {
    /// The same paths, spelled one way (`./a/b/` → `a/b`, `.` → ``, the
    /// whole repository); any that leave the repository are dropped.
    pub fn normalized(&self) -> WatchPaths {
        let clean = |list: &[String]| {
            let mut out: Vec<String> = list.iter().filter_map(|p| normalize(p)).collect();
            out.sort();
            out.dedup();
            out
        };
        WatchPaths { contexts: clean(&self.contexts), folders: clean(&self.folders) }
    }
}

fn normalize(p: &str) -> Option<String> {
    if p.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Why a path counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// The settings, an app, a credential, a mounted folder, or a folder on
    /// the way to one of those or to a build context.
    Repo,
    /// Only inside a build context: git-ignored files are not sent, so the
    /// caller asks git about these.
    Context,
    /// git's HEAD, a ref, or packed-refs.
    Git,
}

/// Whether a change of this kind can change a file's content, name,
/// existence or mode: reads, closes after reading and access times cannot.
pub fn counts(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(_) | EventKind::Other | EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime))
    )
}

/// Whether a change of `path` is relevant, and why.
pub fn classify(layout: &Layout, paths: &WatchPaths, path: &Path) -> Option<Hit> {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if let Some(git) = &layout.git_dir {
        if path.strip_prefix(git).is_ok_and(|rel| rel == Path::new("HEAD")) {
            return Some(Hit::Git);
        }
    }
    if let Some(common) = &layout.common_dir {
        if let Ok(rel) = path.strip_prefix(common) {
            let rel = slashed(rel);
            let refs = rel == "packed-refs" || rel == "refs" || rel.starts_with("refs/");
            // `refs/heads/main.lock` is git writing; the rename to `main` that follows is the change.
            return (refs && !name.ends_with(".lock")).then_some(Hit::Git);
        }
    }
    if layout.git_dir.as_ref().is_some_and(|git| path.starts_with(git)) {
        return None;
    }
    let rel = slashed(path.strip_prefix(&layout.root).ok()?);
    if rel.is_empty() {
        // The repository itself went or moved.
        return Some(Hit::Repo);
    }
    if rel.split('/').any(|part| part == ".git") || is_editor_temp(&name) {
        return None;
    }
    let fixed = ["apps", "credentials"];
    if rel == "berth.yaml" || rel == "berth.yml" || fixed.iter().any(|t| under(&rel, t)) {
        return Some(Hit::Repo);
    }
    if paths.folders.iter().any(|f| under(&rel, f)) {
        return Some(Hit::Repo);
    }
    if paths.contexts.iter().any(|c| under(&rel, c)) {
        return Some(Hit::Context);
    }
    let wanted = fixed.iter().copied().chain(paths.folders.iter().chain(&paths.contexts).map(String::as_str));
    wanted.into_iter().any(|w| above(&rel, w)).then_some(Hit::Repo)
}

/// `rel` is `tree` or inside it (`tree` empty: the whole repository).
fn under(rel: &str, tree: &str) -> bool {
    tree.is_empty() || rel.strip_prefix(tree).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `rel` is a folder on the way to `tree`.
fn above(rel: &str, tree: &str) -> bool {
    tree.strip_prefix(rel).is_some_and(|rest| rest.starts_with('/'))
}

fn slashed(rel: &Path) -> String {
    let parts: Vec<_> = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    parts.join("/")
}

/// Files editors write beside the one being edited, and then delete or
/// rename: vim's swap files and its `4913` probe, emacs' lock and
/// auto-save files, backups `~`, kate's swap, gedit's and JetBrains' safe
/// writes, LibreOffice's lock, `*.tmp`.
pub fn is_editor_temp(name: &str) -> bool {
    let swap = name.rsplit_once('.').is_some_and(|(_, ext)| {
        let ext = ext.as_bytes();
        ext.len() == 3 && ext.starts_with(b"sw") && matches!(ext[2], b'a'..=b'p' | b'x')
    });
    swap || name.ends_with('~')
        || name.starts_with(".#")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || vim_probe(name)
        || name.ends_with(".tmp")
        || name.ends_with(".kate-swp")
        || name.starts_with(".goutputstream-")
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___")
        || name.starts_with(".~lock.")
}

/// vim checks that it may write a folder with a file named `4913` (or
/// 4913 + k·123 when that exists).
fn vim_probe(name: &str) -> bool {
    name.len() == 4 && name.parse::<u32>().is_ok_and(|n| n >= 4913 && (n - 4913) % 123 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, RemoveKind};

    fn layout() -> Layout {
        Layout { root: "/r".into(), git_dir: Some("/r/.git".into()), common_dir: Some("/r/.git".into()) }
    }

    fn paths() -> WatchPaths {
        WatchPaths { contexts: vec!["services/web".into()], folders: vec!["conf/nginx.conf".into(), "site".into()] }
    }

    fn hit(path: &str) -> Option<Hit> {
        classify(&layout(), &paths(), Path::new(path))
    }

    #[test]
    fn settings_apps_credentials_contexts_and_folders_count() {
        for p in ["/r/berth.yaml", "/r/berth.yml", "/r/apps", "/r/apps/web.yaml", "/r/apps/team/api.yml"] {
            assert_eq!(hit(p), Some(Hit::Repo), "{p}");
        }
        for p in ["/r/credentials", "/r/credentials/db.age", "/r/site", "/r/site/a/index.html"] {
            assert_eq!(hit(p), Some(Hit::Repo), "{p}");
        }
        assert_eq!(hit("/r/conf/nginx.conf"), Some(Hit::Repo));
        assert_eq!(hit("/r/services/web/Dockerfile"), Some(Hit::Context));
        assert_eq!(hit("/r/services/web"), Some(Hit::Context));
        // Folders on the way to a context or a mounted file: their creation makes it appear.
        assert_eq!(hit("/r/services"), Some(Hit::Repo));
        assert_eq!(hit("/r/conf"), Some(Hit::Repo));
        assert_eq!(hit("/r"), Some(Hit::Repo));
    }

    #[test]
    fn other_files_do_not_count() {
        for p in [
            "/r/README.md",
            "/r/docs/apps/web.yaml",
            "/r/services/worker/Dockerfile",
            "/r/services/website/x",
            "/r/conf/other.conf",
            "/r/berth.yaml.orig",
            "/r/sitemap.xml",
            "/elsewhere/apps/web.yaml",
            "/r/site/.git/HEAD",
        ] {
            assert_eq!(hit(p), None, "{p}");
        }
    }

    #[test]
    fn editor_temp_files_do_not_count() {
        for p in [
            "/r/apps/.web.yaml.swp",
            "/r/apps/.web.yaml.swx",
            "/r/apps/.web.yaml.swo",
            "/r/apps/web.yaml~",
            "/r/apps/.#web.yaml",
            "/r/apps/#web.yaml#",
            "/r/apps/4913",
            "/r/apps/5036",
            "/r/apps/web.yaml.tmp",
            "/r/apps/.web.yaml.kate-swp",
            "/r/apps/.goutputstream-XYZ123",
            "/r/apps/web.yaml___jb_tmp___",
            "/r/apps/web.yaml___jb_old___",
            "/r/site/.~lock.index.html#",
            "/r/berth.yaml.swp",
        ] {
            assert_eq!(hit(p), None, "{p}");
        }
        // Look-alikes that are real files.
        assert_eq!(hit("/r/apps/4914"), Some(Hit::Repo));
        assert_eq!(hit("/r/apps/web.swift"), Some(Hit::Repo));
        assert_eq!(hit("/r/apps/#notes"), Some(Hit::Repo));
    }

    #[test]
    fn git_head_and_refs_count_and_other_internals_do_not() {
        for p in ["/r/.git/HEAD", "/r/.git/refs/heads/main", "/r/.git/refs/heads/feature/x", "/r/.git/packed-refs"] {
            assert_eq!(hit(p), Some(Hit::Git), "{p}");
        }
        for p in [
            "/r/.git/objects/ab/cdef",
            "/r/.git/index",
            "/r/.git/index.lock",
            "/r/.git/HEAD.lock",
            "/r/.git/refs/heads/main.lock",
            "/r/.git/packed-refs.lock",
            "/r/.git/logs/HEAD",
            "/r/.git/ORIG_HEAD",
            "/r/.git/FETCH_HEAD",
            "/r/.git/COMMIT_EDITMSG",
            "/r/.git/config",
            "/r/.git",
        ] {
            assert_eq!(hit(p), None, "{p}");
        }
    }

    #[test]
    fn a_repository_inside_a_work_tree_or_a_linked_worktree() {
        // The repository is a folder of a larger work tree: git is above it.
        let nested =
            Layout { root: "/w/deploy".into(), git_dir: Some("/w/.git".into()), common_dir: Some("/w/.git".into()) };
        let p = WatchPaths::default();
        assert_eq!(classify(&nested, &p, Path::new("/w/.git/refs/heads/main")), Some(Hit::Git));
        assert_eq!(classify(&nested, &p, Path::new("/w/deploy/apps/web.yaml")), Some(Hit::Repo));
        assert_eq!(classify(&nested, &p, Path::new("/w/other/apps/web.yaml")), None);
        // A linked worktree: its HEAD is its own, refs are shared.
        let linked = Layout {
            root: "/wt".into(),
            git_dir: Some("/main/.git/worktrees/wt".into()),
            common_dir: Some("/main/.git".into()),
        };
        assert_eq!(classify(&linked, &p, Path::new("/main/.git/worktrees/wt/HEAD")), Some(Hit::Git));
        assert_eq!(classify(&linked, &p, Path::new("/main/.git/refs/heads/wt")), Some(Hit::Git));
        assert_eq!(classify(&linked, &p, Path::new("/main/.git/worktrees/wt/index")), None);
        // The main work tree's HEAD is not this one's.
        assert_eq!(classify(&linked, &p, Path::new("/main/.git/HEAD")), None);
        // A worktree's `.git` is a file pointing to its git folder.
        assert_eq!(classify(&linked, &p, Path::new("/wt/.git")), None);
    }

    #[test]
    fn the_whole_repository_as_a_context() {
        let p = WatchPaths { contexts: vec![".".into()], folders: vec![] }.normalized();
        assert_eq!(p.contexts, [""]);
        assert_eq!(classify(&layout(), &p, Path::new("/r/src/main.rs")), Some(Hit::Context));
        assert_eq!(classify(&layout(), &p, Path::new("/r/.git/objects/ab/cd")), None);
        assert_eq!(classify(&layout(), &p, Path::new("/r/src/.main.rs.swp")), None);
    }

    #[test]
    fn paths_are_normalized() {
        let p = WatchPaths {
            contexts: vec!["./services/web/".into(), "services//web".into(), "../outside".into(), "/abs".into()],
            folders: vec!["site/./a".into()],
        }
        .normalized();
        assert_eq!(p.contexts, ["services/web"]);
        assert_eq!(p.folders, ["site/a"]);
    }

    #[test]
    fn reads_do_not_count() {
        assert!(!counts(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!counts(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!counts(&EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime))));
        assert!(counts(&EventKind::Modify(ModifyKind::Data(DataChange::Any))));
        assert!(counts(&EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any))));
        assert!(counts(&EventKind::Create(CreateKind::File)));
        assert!(counts(&EventKind::Remove(RemoveKind::Folder)));
    }
}
