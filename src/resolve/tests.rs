//! Resolve on real repositories in temporary folders: mounts.

use super::*;
use crate::source::FilesError;
use std::path::Path;

/// A repository with `files` (path, content) and one app file.
fn repo(dir: &Path, app: &str, files: &[(&str, &str)]) -> Repo {
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    std::fs::create_dir_all(dir.join("apps")).unwrap();
    std::fs::write(dir.join("berth.yaml"), "project: demo\n").unwrap();
    std::fs::write(dir.join("apps/web.yaml"), app).unwrap();
    let snapshot = crate::source::read_working_tree(dir).unwrap();
    crate::spec::load(&snapshot).unwrap_or_else(|d| panic!("{d:#?}"))
}

/// Resolve as the pipeline does: every mounted folder read first.
fn resolved(repo: &Repo) -> Result<Desired, Vec<Diagnostic>> {
    let files: BTreeMap<String, Result<FilesVersion, FilesError>> = repo_folders(repo)
        .into_iter()
        .map(|f| {
            let v = repo.tree.files_version(&f);
            (f, v)
        })
        .collect();
    let credentials = Credentials::default();
    let inputs = Inputs { credentials: &credentials, fingerprint_key: b"k", contexts: &BTreeMap::new(), files: &files };
    resolve(repo, &inputs)
}

const APP: &str = "image: busybox:1.36\nvolumes:\n  - data:/data\n  - /srv/host:/host:ro\n  - ./site:/srv:ro\n";

#[test]
fn a_repository_folder_is_the_volume_of_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path(), APP, &[("site/index.html", "hi\n")]);
    let d = resolved(&r).unwrap();
    let mounts = &d.apps[0].containers[0].config.mounts;
    let content = r.tree.files_version("site").unwrap().content;
    assert_eq!(
        mounts,
        &[
            Mount { kind: MountKind::Volume, source: "demo_data".into(), target: "/data".into(), ..Default::default() },
            Mount {
                kind: MountKind::Bind,
                source: "/srv/host".into(),
                target: "/host".into(),
                read_only: true,
                files: None
            },
            Mount {
                kind: MountKind::Files,
                source: format!("demo_files-{}", &content[..12]),
                target: "/srv".into(),
                read_only: true,
                files: Some(RepoFiles { path: "site".into(), content: content.clone(), count: 1, bytes: 3 }),
            },
        ]
    );
    // No host path of the checkout anywhere in what the container is made of.
    let json = serde_json::to_string(&d.apps[0].containers[0].config).unwrap();
    let root = r.tree.work_root().unwrap().to_string_lossy().into_owned();
    assert!(!json.contains(&root), "{json}");
    let (volume, (files, apps)) = d.repo_files().into_iter().next().unwrap();
    assert_eq!((volume.as_str(), files.path.as_str(), apps), (mounts[2].source.as_str(), "site", vec!["web".into()]));
}

#[test]
fn another_checkout_resolves_the_same() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let files = [("site/index.html", "hi\n"), ("site/css/a.css", "a{}")];
    let one = resolved(&repo(a.path(), APP, &files)).unwrap();
    let two = resolved(&repo(b.path(), APP, &files)).unwrap();
    let (c1, c2) = (&one.apps[0].containers[0].config, &two.apps[0].containers[0].config);
    assert_eq!(c1, c2);
    assert_eq!(c1.spec_hash("sha256:x"), c2.spec_hash("sha256:x"));
    // New content is a new volume.
    std::fs::write(b.path().join("site/index.html"), "bye\n").unwrap();
    let three = resolved(&repo(b.path(), APP, &files[1..])).unwrap();
    assert_ne!(three.apps[0].containers[0].config.mounts[2].source, c1.mounts[2].source);
}

#[test]
fn two_apps_mounting_the_same_files_share_one_volume() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path(), APP, &[("site/index.html", "hi\n"), ("copy/index.html", "hi\n")]);
    std::fs::write(dir.path().join("apps/api.yaml"), "image: busybox:1.36\nvolumes: [\"./copy:/www:ro\"]\n").unwrap();
    let r = crate::spec::load(&crate::source::read_working_tree(r.tree.work_root().unwrap()).unwrap()).unwrap();
    let d = resolved(&r).unwrap();
    let shipped = d.repo_files();
    assert_eq!(shipped.len(), 1, "{shipped:#?}");
    assert_eq!(shipped.values().next().unwrap().1, ["api", "web"]);
}

#[test]
fn a_folder_that_cannot_be_shipped_is_an_error_at_its_volume() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(dir.path(), APP, &[("site/index.html", "hi\n")]);
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("site/passwd")).unwrap();
    let errs = resolved(&r).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let text = errs[0].to_string();
    assert!(
        text.starts_with(
            "apps/web.yaml:5:5: repository folder ./site has a symlink passwd → /etc/passwd that is absolute"
        ),
        "{text}"
    );
    assert!(text.contains("hint: symlinks are shipped as they are"), "{text}");
}

#[test]
fn a_repository_file_is_linked_from_the_volume_of_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let app = "image: busybox:1.36\nvolumes: [\"./conf/app.conf:/etc/app.conf:ro\"]\n";
    let r = repo(dir.path(), app, &[("conf/app.conf", "x=1\n")]);
    let d = resolved(&r).unwrap();
    let m = &d.apps[0].containers[0].config.mounts[0];
    assert_eq!((m.kind, m.target.as_str(), m.read_only), (MountKind::File, "/etc/app.conf", true));
    let files = m.files.as_ref().unwrap();
    assert_eq!((files.path.as_str(), files.count, files.bytes), ("conf/app.conf", 1, 4));
    assert_eq!(m.source, crate::desired::files_volume("demo", &files.content));
    assert_eq!(d.repo_files().len(), 1, "its volume is filled like a folder's");
}
