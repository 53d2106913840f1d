//! Semantic validation on in-memory snapshots.

use super::super::parse;
use super::*;
use crate::source::SourceFile;
use std::path::PathBuf;

fn snapshot(root: PathBuf, settings: Option<&str>, apps: &[(&str, &str)], creds: &[&str]) -> Snapshot {
    Snapshot {
        name: root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        tree: crate::source::Tree::work_tree(root),
        settings: settings.map(|s| SourceFile { path: "berth.yaml".into(), bytes: s.as_bytes().to_vec() }),
        apps: apps.iter().map(|(p, b)| SourceFile { path: p.to_string(), bytes: b.as_bytes().to_vec() }).collect(),
        credentials: creds.iter().map(|c| SourceFile { path: format!("credentials/{c}.age"), bytes: vec![] }).collect(),
        twins: vec![],
    }
}

/// Parse and validate, as `spec::load` does: parse errors and semantic ones together.
fn run(snap: &Snapshot) -> (Repo, Vec<Diagnostic>) {
    let (settings, apps, mut diags) = parse::parse_all(snap);
    let repo = validate(snap, settings, apps, &mut diags);
    diags.sort_by_key(|d| (d.file.clone(), d.line, d.col));
    (repo, diags)
}

fn check(apps: &[(&str, &str)]) -> Vec<String> {
    let snap = snapshot(std::env::temp_dir().canonicalize().unwrap(), None, apps, &["ghcr", "db"]);
    run(&snap).1.iter().map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.col, d.message)).collect()
}

fn one(app: &str) -> String {
    let errs = check(&[("apps/web.yaml", app)]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs[0].clone()
}

#[test]
fn a_good_repo() {
    let snap = snapshot(
        PathBuf::from("/tmp/demo"),
        Some("registry:\n  image-repo-template: \"acme/{{ .AppName }}\"\ncredentials: {default: ghcr}\n"),
        &[
            ("apps/web.yaml", "image: nginx:1.27\nprocesses:\n  web:\n    replicas: 2\n    ports: [\"8080:80\"]\n  worker: {}\nenv: {PORT: \"80\"}\nsecret-env: [db]\nresources: {memory: 512MiB, cpus: 0.5}\nvolumes: [\"data:/data\"]\nhealthcheck: {command: [CMD, true], interval: 5s}\n"),
            ("apps/api.yaml", "image: acme/api\nprocesses:\n  web:\n    ports: [\"8082:80\", \"8080:80/udp\", \"127.0.0.1:9000:80\", \"127.0.0.2:9000:80\"]\n"),
        ],
        &["ghcr", "db"],
    );
    let (repo, diags) = run(&snap);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(repo.project, "demo");
    let names: Vec<_> = repo.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    assert_eq!(repo.credentials, ["db", "ghcr"]);
}

#[test]
fn image_and_build() {
    assert_eq!(one("env: {}\n"), "apps/web.yaml:0:0: an app needs `image:` or `build:`");
    assert!(
        one("image: nginx\nbuild: {context: .}\n").starts_with("apps/web.yaml:1:8: `image` and `build` are exclusive")
    );
    assert!(one("image: Nginx\n").starts_with("apps/web.yaml:1:8: invalid reference format"));
    assert!(one("build: {context: ../x}\n").contains("escapes the repository"));
    assert!(one("build: {context: /srv}\n").contains("repository-relative"));
}

#[test]
fn names() {
    assert!(one("name: Web\nimage: nginx\n").starts_with("apps/web.yaml:1:7: invalid app name `Web`"));
    let errs = check(&[("apps/my_app.yaml", "image: nginx\n")]);
    assert_eq!(errs, ["apps/my_app.yaml:0:0: invalid app name `my_app` (taken from the file name)"]);
    let errs = check(&[("apps/a.yaml", "name: web\nimage: nginx\n"), ("apps/web.yaml", "image: nginx\n")]);
    assert_eq!(errs, ["apps/web.yaml:0:0: app `web` is also defined in apps/a.yaml:1:7"]);
    assert!(one("image: nginx\nprocesses:\n  Web: {}\n").starts_with("apps/web.yaml:3:3: invalid process name"));
}

#[test]
fn ports_and_clashes() {
    assert!(
        one("image: nginx\nprocesses:\n  web:\n    ports: [\"80\"]\n").starts_with("apps/web.yaml:4:13: invalid port")
    );
    let errs = check(&[
        ("apps/a.yaml", "image: nginx\nprocesses:\n  web:\n    replicas: 3\n    ports: [\"8080:80\"]\n"),
        ("apps/b.yaml", "image: nginx\nprocesses:\n  web:\n    ports: [\"8082:80\"]\n"),
    ]);
    assert_eq!(
        errs,
        ["apps/b.yaml:4:13: host port 8082/tcp of app `b` process `web` is also published by app `a` process `web` replica 3 (apps/a.yaml:5:13)"]
    );
    // Zero replicas publish nothing; a different protocol or address is no clash.
    let errs = check(&[
        ("apps/a.yaml", "image: nginx\nprocesses:\n  web:\n    replicas: 0\n    ports: [\"8080:80\"]\n"),
        ("apps/b.yaml", "image: nginx\nprocesses:\n  web:\n    ports: [\"8080:80\", \"8081:80/udp\"]\n  w2:\n    ports: [\"8081:80\"]\n"),
    ]);
    assert!(errs.is_empty(), "{errs:#?}");
    // An explicit address still clashes with all addresses.
    let errs = check(&[(
        "apps/a.yaml",
        "image: nginx\nprocesses:\n  web:\n    ports: [\"8080:80\", \"127.0.0.1:8080:81\"]\n",
    )]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        one("image: nginx\nprocesses:\n  web:\n    replicas: 2\n    ports: [\"65535:80\"]\n").contains("above 65535")
    );
}

#[test]
fn values_and_references() {
    assert!(one("image: nginx\nvolumes: [\"../x:/x\"]\n").ends_with("volume path ../x escapes the repository"));
    assert!(one("image: nginx\nvolumes: [\"a:/x\", \"b:/x\"]\n").contains("duplicate mount point /x"));
    assert!(one("image: nginx\nresources: {memory: 1k}\n").contains("minimum"));
    assert!(one("image: nginx\nresources: {cpus: 0}\n").contains("cpus must be"));
    assert!(one("image: nginx\nhealthcheck: {command: [wget, x]}\n").contains("invalid healthcheck command"));
    assert!(one("image: nginx\nhealthcheck: {command: [CMD-SHELL, a, b]}\n").contains("invalid healthcheck command"));
    assert!(one("image: nginx\nhealthcheck: {command: [NONE], timeout: 5}\n").contains("invalid duration"));
    assert!(one("image: nginx\nenv: {\"A=B\": x}\n").contains("invalid environment variable name"));
    assert_eq!(
        one("image: nginx\nsecret-env: [dbb]\n"),
        "apps/web.yaml:2:14: credential `dbb` not found (no credentials/dbb.age)"
    );
    assert!(one("image: nginx\npull: {credential: nope}\n").contains("credential `nope`"));
    assert!(one("image: nginx\nregistry: {push-extra-tags: [\"a b\"]}\n").contains("invalid tag"));
    assert!(
        one("image: nginx\nregistry: {image-repo-template: \"{{ .App }}\"}\n").contains("unknown template variable")
    );
}

#[test]
fn project_names() {
    let snap = snapshot(PathBuf::from("/tmp/My_Repo"), None, &[], &[]);
    let d = &run(&snap).1[0];
    assert_eq!((d.file.as_str(), d.line), ("/tmp/My_Repo", 0));
    assert_eq!(d.hint.as_deref(), Some("set `project:` in berth.yaml"));
    let snap = snapshot(PathBuf::from("/tmp/My_Repo"), Some("project: ok\n"), &[], &[]);
    assert!(run(&snap).1.is_empty());
    let snap = snapshot(PathBuf::from("/tmp/ok"), Some("\nproject: Not_Ok\n"), &[], &[]);
    let d = &run(&snap).1[0];
    assert_eq!((d.file.as_str(), d.line, d.col), ("berth.yaml", 2, 10));
}

#[test]
fn symlinked_context_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("services/web")).unwrap();
    std::fs::write(root.join("services/web/Dockerfile"), "FROM busybox:1.36\n").unwrap();
    std::os::unix::fs::symlink(dir.path(), root.join("out")).unwrap();
    let root = root.canonicalize().unwrap();
    let snap = snapshot(
        root.clone(),
        None,
        &[
            ("apps/a.yaml", "build: {context: services/web}\n"),
            ("apps/b.yaml", "build: {context: out}\n"),
            ("apps/c.yaml", "build: {context: nope}\n"),
            ("apps/d.yaml", "build: {context: services/web, dockerfile: ../Dockerfile}\n"),
            ("apps/e.yaml", "build: {context: services, dockerfile: web/Dockerfile}\n"),
            ("apps/f.yaml", "build: {context: services}\n"),
        ],
        &[],
    );
    let errs: Vec<_> = run(&snap).1.into_iter().map(|d| format!("{}: {}", d.file, d.message)).collect();
    assert_eq!(
        errs,
        [
            "apps/b.yaml: build context `out` leaves the repository through a symlink",
            "apps/c.yaml: build context `nope` does not exist",
            "apps/d.yaml: dockerfile `../Dockerfile` leaves the build context `services/web`",
            "apps/f.yaml: build context `services` has no Dockerfile",
        ]
    );
}

#[test]
fn networks() {
    assert_eq!(check(&[("apps/web.yaml", "image: nginx\nnetworks: [proxy, backend_1]\n")]), Vec::<String>::new());
    assert!(one("image: nginx\nnetworks: [\"bad name\"]\n").starts_with("apps/web.yaml:2:12: invalid network name"));
    assert_eq!(
        one("image: nginx\nnetworks: [proxy, db, proxy]\n"),
        "apps/web.yaml:2:23: network `proxy` is listed twice (first at line 2)"
    );
    let snap = snapshot(
        std::env::temp_dir(),
        Some("project: shop\n"),
        &[("apps/web.yaml", "image: nginx\nnetworks:\n  - shop_default\n")],
        &[],
    );
    let d = &run(&snap).1;
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].message.as_str()), (3, "`shop_default` is the project network"));
    assert!(d[0].hint.as_deref().unwrap().contains("joins it already"));
    assert!(one("image: nginx\nnetworks: [host]\n").contains("cannot be joined"));
}

#[test]
fn update_order_start_first_needs_free_host_ports() {
    let errs = check(&[(
        "apps/web.yaml",
        "image: nginx\nupdate-order: start-first\nprocesses:\n  worker: {}\n  web:\n    ports: [\"8080:80\"]\n",
    )]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].starts_with("apps/web.yaml:2:15: `update-order: start-first` cannot replace process `web`"),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("host port 8080 (line 6)"), "{}", errs[0]);
    // stop-first, no ports, or no replicas: fine.
    assert!(check(&[(
        "apps/a.yaml",
        "image: nginx\nupdate-order: stop-first\nprocesses:\n  web: {ports: [\"8080:80\"]}\n"
    )])
    .is_empty());
    assert!(check(&[("apps/a.yaml", "image: nginx\nupdate-order: start-first\nvolumes: [\"data:/d\"]\n")]).is_empty());
    assert!(check(&[(
        "apps/a.yaml",
        "image: nginx\nupdate-order: start-first\nprocesses:\n  web: {replicas: 0, ports: [\"8080:80\"]}\n"
    )])
    .is_empty());
}

#[test]
fn container_names_must_not_collide() {
    let errs = check(&[
        ("apps/web-api.yaml", "image: nginx\nprocesses:\n  x: {}\n"),
        ("apps/web.yaml", "image: nginx\nprocesses:\n  api-x: {}\n  web: {}\n"),
    ]);
    assert_eq!(
        errs,
        ["apps/web.yaml:3:3: app `web` process `api-x` and app `web-api` process `x` (apps/web-api.yaml:3:3) make the same container names: tmp-web-api-x-<replica>"]
    );
    // The default process `web` counts too.
    let errs =
        check(&[("apps/a-web.yaml", "image: nginx\n"), ("apps/a.yaml", "image: nginx\nprocesses:\n  web-web: {}\n")]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("(apps/a-web.yaml)"), "{}", errs[0]);
}

#[test]
fn network_aliases_must_not_collide() {
    let errs = check(&[
        ("apps/web-api.yaml", "image: nginx\n"),
        ("apps/web.yaml", "image: nginx\nprocesses:\n  api: {}\n  web: {}\n"),
    ]);
    assert_eq!(
        errs,
        ["apps/web.yaml:3:3: app `web` process `api` answers to `web-api` on the project network, the name of app `web-api` (apps/web-api.yaml)"]
    );
    // An app with several processes and no `web` has no alias of its own.
    let errs = check(&[
        ("apps/web-api.yaml", "image: nginx\nprocesses:\n  a: {}\n  b: {}\n"),
        ("apps/web.yaml", "image: nginx\nprocesses:\n  api: {}\n  web: {}\n"),
    ]);
    assert!(errs.is_empty(), "{errs:#?}");
}

#[test]
fn bind_mount_sources_exist() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir(root.join("conf")).unwrap();
    std::fs::write(root.join("site.conf"), "x").unwrap();
    let snap = snapshot(
        root,
        Some("project: demo\n"),
        &[(
            "apps/web.yaml",
            "image: nginx\nvolumes:\n  - ./conf:/etc/app:ro\n  - ./site.conf:/etc/site.conf:ro\n  - ./nope:/nope:ro\n",
        )],
        &[],
    );
    let errs: Vec<String> = run(&snap).1.iter().map(|d| format!("{}:{}: {}", d.file, d.line, d.message)).collect();
    assert_eq!(errs, ["apps/web.yaml:5: volume source ./nope does not exist in the repository"]);
}

#[test]
fn a_writable_repository_mount_suggests_a_named_volume() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("var/data")).unwrap();
    let app = "image: nginx\nvolumes:\n  - ./var/data:/data\n  - ./var/data:/data2:rw\n  - ./var/data:/data3:ro\n";
    let snap = snapshot(root, Some("project: demo\n"), &[("apps/web.yaml", app)], &[]);
    let diags = run(&snap).1;
    let errs: Vec<String> = diags.iter().map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.col, d.message)).collect();
    assert_eq!(
        errs,
        [
            "apps/web.yaml:3:5: volume source ./var/data is mounted writable: repository files are shipped to the engine read-only",
            "apps/web.yaml:4:5: volume source ./var/data is mounted writable: repository files are shipped to the engine read-only",
        ]
    );
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("add `:ro` (`./var/data:/data:ro`) to mount the repository's files, or use a named volume (`data:/data`) for data the container writes")
    );
}

#[test]
fn no_follow_on_errors_from_blanked_keys() {
    // `image` in error (or misspelt): no "an app needs image or build" as well.
    assert_eq!(check(&[("apps/web.yaml", "image: [nginx]\n")]).len(), 1);
    assert_eq!(check(&[("apps/web.yaml", "imag: nginx\n")]).len(), 1);
    assert_eq!(check(&[("apps/web.yaml", "build: {context: [x]}\n")]).len(), 1);
    // A `dockerfile:` in error: the default Dockerfile is not looked for.
    assert_eq!(check(&[("apps/web.yaml", "build: {context: ., dockerfile: [x]}\n")]).len(), 1);
    // A `name:` in error: no complaint about the file name standing in for it.
    assert_eq!(check(&[("apps/my_app.yaml", "name: [x]\nimage: nginx\n")]).len(), 1);
    // A berth.yaml `project:` in error: the folder name is not checked.
    let snap = snapshot(PathBuf::from("/tmp/My_Repo"), Some("project: [x]\n"), &[], &[]);
    assert_eq!(run(&snap).1.len(), 1);
}

#[test]
fn settings_file_spelt_yml() {
    let mut snap = snapshot(PathBuf::from("/tmp/ok"), Some("project: Not_Ok\nregistry: {server: \"a b\"}\n"), &[], &[]);
    snap.settings.as_mut().unwrap().path = "berth.yml".into();
    let files: Vec<String> = run(&snap).1.iter().map(|d| format!("{}:{}", d.file, d.line)).collect();
    assert_eq!(files, ["berth.yml:1", "berth.yml:2"]);
}
