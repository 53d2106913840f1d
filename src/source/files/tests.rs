//! Mounted folders on real directories: the hash, the tar, the symlinks.

use super::*;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

struct Dir {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Dir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        Dir { _dir: dir, root }
    }

    fn write(&self, path: &str, content: &str) -> &Self {
        let p = self.root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    fn link(&self, target: &str, path: &str) -> &Self {
        let p = self.root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    fn version(&self, folder: &str) -> FilesVersion {
        files_version(&self.root, folder).unwrap()
    }

    fn problem(&self, folder: &str) -> String {
        match files_version(&self.root, folder) {
            Err(FilesError::Invalid { problem, .. }) => problem,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}

/// A site folder and something beside it.
fn site() -> Dir {
    let d = Dir::new();
    d.write("site/index.html", "<h1>hi</h1>\n").write("site/css/a.css", "a{}\n").write("other/x", "x");
    d
}

/// Path → (tar entry type, mode, content or link target).
fn read_tar(stream: ContextStream) -> Vec<(String, char, u32, String)> {
    use futures_util::StreamExt;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let bytes: Vec<u8> = rt.block_on(async move {
        let mut stream = stream;
        let mut all = Vec::new();
        while let Some(chunk) = stream.next().await {
            all.extend_from_slice(&chunk.unwrap());
        }
        all
    });
    let mut archive = ::tar::Archive::new(&bytes[..]);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        assert_eq!((h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()), (0, 0, 0));
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let (kind, text) = match h.entry_type() {
            ::tar::EntryType::Directory => ('d', String::new()),
            ::tar::EntryType::Symlink => ('l', entry.link_name().unwrap().unwrap().to_string_lossy().into_owned()),
            _ => {
                let mut s = String::new();
                entry.read_to_string(&mut s).unwrap();
                ('f', s)
            }
        };
        out.push((path, kind, h.mode().unwrap(), text));
    }
    out
}

#[test]
fn the_hash_is_the_files_not_where_they_are() {
    let (a, b) = (site(), site());
    assert_ne!(a.root, b.root);
    let v = a.version("site");
    assert_eq!(v, b.version("site"), "another checkout of the same files");
    assert_eq!(v.content.len(), 64);
    assert_eq!((v.files, v.bytes), (2, 16));
    // Files beside the folder are not its files.
    b.write("other/x", "changed");
    assert_eq!(v, b.version("site"));
    // Two folders with the same files hash the same.
    b.write("copy/index.html", "<h1>hi</h1>\n").write("copy/css/a.css", "a{}\n");
    assert_eq!(v.content, b.version("copy").content);
}

#[test]
fn the_hash_covers_paths_modes_contents_and_folders() {
    let base = site().version("site").content;
    let changed = |f: fn(&Dir)| {
        let d = site();
        f(&d);
        d.version("site").content
    };
    for (what, other) in [
        (
            "content",
            changed(|d| {
                d.write("site/index.html", "<h1>bye</h1>\n");
            }),
        ),
        (
            "a new file",
            changed(|d| {
                d.write("site/new.txt", "");
            }),
        ),
        ("a rename", changed(|d| fs::rename(d.root.join("site/css"), d.root.join("site/style")).unwrap())),
        (
            "a mode",
            changed(|d| {
                fs::set_permissions(d.root.join("site/index.html"), fs::Permissions::from_mode(0o755)).unwrap()
            }),
        ),
        ("an empty folder", changed(|d| fs::create_dir(d.root.join("site/empty")).unwrap())),
        (
            "a symlink",
            changed(|d| {
                d.link("index.html", "site/home.html");
            }),
        ),
    ] {
        assert_ne!(base, other, "{what} must change the hash");
    }
    // The same mode bits git keeps: group write is not a change.
    let same =
        changed(|d| fs::set_permissions(d.root.join("site/index.html"), fs::Permissions::from_mode(0o664)).unwrap());
    assert_eq!(base, same);
}

#[test]
fn the_tar_carries_the_folder_below_its_root() {
    let d = site();
    d.link("css/a.css", "site/main.css");
    fs::set_permissions(d.root.join("site/css/a.css"), fs::Permissions::from_mode(0o755)).unwrap();
    let v = d.version("site");
    let entries = read_tar(files_tar(&d.root, "site", &v.content).unwrap());
    let shown: Vec<(&str, char, u32, &str)> =
        entries.iter().map(|(p, k, m, t)| (p.as_str(), *k, *m, t.as_str())).collect();
    assert_eq!(
        shown,
        [
            ("css/", 'd', 0o755, ""),
            ("css/a.css", 'f', 0o755, "a{}\n"),
            ("index.html", 'f', 0o644, "<h1>hi</h1>\n"),
            ("main.css", 'l', 0o777, "css/a.css"),
        ]
    );
    // Byte for byte the same from another checkout.
    let e = site();
    e.link("css/a.css", "site/main.css");
    fs::set_permissions(e.root.join("site/css/a.css"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(read_tar(files_tar(&e.root, "site", &v.content).unwrap()), entries);
}

#[test]
fn the_repository_root_ships_everything_but_git() {
    let d = site();
    d.write(".git/HEAD", "ref: refs/heads/main\n").write(".dockerignore", "site\n");
    let v = d.version(".");
    let paths: Vec<String> = read_tar(files_tar(&d.root, ".", &v.content).unwrap()).into_iter().map(|e| e.0).collect();
    assert_eq!(
        paths,
        [".dockerignore", "other/", "other/x", "site/", "site/css/", "site/css/a.css", "site/index.html"]
    );
}

#[test]
fn files_changed_since_the_plan_are_not_sent() {
    let d = site();
    let planned = d.version("site");
    d.write("site/index.html", "<h1>new</h1>\n");
    match files_tar(&d.root, "site", &planned.content) {
        Err(e @ FilesError::Changed { .. }) => {
            let text = e.to_string();
            assert!(text.contains(short(&planned.content)) && text.contains("repository files ./site"), "{text}");
        }
        Err(e) => panic!("expected Changed, got {e}"),
        Ok(_) => panic!("expected Changed, got a tar"),
    }
}

#[test]
fn symlinks_must_point_inside_the_folder() {
    let d = site();
    d.link("../index.html", "site/css/up.html").link("css", "site/styles").link(".", "site/self");
    assert!(files_version(&d.root, "site").is_ok());

    for (target, problem) in [
        ("../other/x", "points outside the folder"),
        ("../site/index.html", "points outside the folder"),
        ("../../etc/passwd", "leaves the repository"),
        ("/etc/passwd", "is absolute: it leaves the repository"),
    ] {
        let d = site();
        d.link(target, "site/link");
        let err = files_version(&d.root, "site").unwrap_err();
        assert!(err.hint().is_some());
        let got = err.to_string();
        let want = format!("repository folder ./site has a symlink link → {target} that {problem}");
        assert!(got.starts_with(&want), "{target}: {got}");
    }
    // Deeper folders may climb further inside the repository, not out of it.
    let d = Dir::new();
    d.write("a/b/site/x", "x").link("../../../../out", "a/b/site/link");
    assert!(files_version(&d.root, "a/b/site").unwrap_err().to_string().ends_with("that leaves the repository"));
    let d = Dir::new();
    d.write("a/b/site/x", "x").link("../../../c", "a/b/site/link");
    assert!(files_version(&d.root, "a/b/site").unwrap_err().to_string().contains("that points outside the folder"));
}

#[test]
fn the_folder_must_be_a_folder_inside_the_repository() {
    let d = site();
    assert_eq!(d.problem("nope"), "does not exist");
    let outside = Dir::new();
    outside.write("x", "x");
    d.link(outside.root.to_str().unwrap(), "away");
    assert_eq!(d.problem("away"), "leaves the repository through a symlink");
    // A folder reached through a symlink inside is read where it is.
    d.link("site", "public");
    assert_eq!(d.version("public"), d.version("site"));
    let err = files_version(&d.root, "nope").unwrap_err().to_string();
    assert_eq!(err, "repository path ./nope does not exist");
}

#[test]
fn one_file_ships_under_its_own_name() {
    let d = site();
    let v = d.version("site/index.html");
    assert!(v.file);
    assert_eq!((v.files, v.bytes), (1, 12));
    let entries = read_tar(files_tar(&d.root, "site/index.html", &v.content).unwrap());
    assert_eq!(entries, [("index.html".to_string(), 'f', 0o644, "<h1>hi</h1>\n".to_string())]);
    // The same file elsewhere in another checkout: the same content.
    let e = Dir::new();
    e.write("conf/index.html", "<h1>hi</h1>\n");
    assert_eq!(e.version("conf/index.html"), v);
    // A new mode or content is new content.
    fs::set_permissions(e.root.join("conf/index.html"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_ne!(e.version("conf/index.html").content, v.content);
    // A file reached through a symlink inside is read where it is.
    d.link("index.html", "site/current.html");
    assert_eq!(d.version("site/current.html").bytes, 12);
}
