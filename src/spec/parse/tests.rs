//! Parsing files one at a time: messages, hints, positions, recovery.

use super::*;
use std::path::PathBuf;

fn snap(settings: Option<&str>, apps: &[(&str, &[u8])]) -> Snapshot {
    Snapshot {
        tree: crate::source::Tree::work_tree(PathBuf::from("/nonexistent")),
        name: "nonexistent".into(),
        settings: settings.map(|s| SourceFile { path: "berth.yaml".into(), bytes: s.as_bytes().to_vec() }),
        apps: apps.iter().map(|(p, b)| SourceFile { path: p.to_string(), bytes: b.to_vec() }).collect(),
        credentials: vec![],
        twins: vec![],
    }
}

fn errors(settings: Option<&str>, apps: &[(&str, &[u8])]) -> Vec<Diagnostic> {
    let (_, _, mut diags) = parse_all(&snap(settings, apps));
    attach_snippets(&snap(settings, apps), &mut diags);
    diags
}

fn one(app: &str) -> Diagnostic {
    let mut d = errors(None, &[("apps/web.yaml", app.as_bytes())]);
    assert_eq!(d.len(), 1, "{d:?}");
    d.remove(0)
}

#[test]
fn good_files_parse() {
    let (settings, apps, diags) = parse_all(&snap(
        Some("project: demo\nregistry:\n  server: ghcr.io\n"),
        &[("apps/web.yaml", b"image: nginx\nprocesses:\n  web:\n    replicas: 2\n")],
    ));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(settings.unwrap().value.project.unwrap().value, "demo");
    assert_eq!(apps[0].0, "apps/web.yaml");
    assert_eq!(apps[0].1.value.image.as_ref().unwrap().value.written, "nginx");
}

#[test]
fn unknown_key_suggests_nearest() {
    let d = one("imgae: nginx\n");
    assert_eq!((d.line, d.col), (1, 1));
    assert_eq!(d.message, "unknown key `imgae`");
    assert_eq!(d.hint.as_deref(), Some("did you mean `image`?"));
    assert_eq!(d.snippet.as_deref(), Some("1 | imgae: nginx\n  | ^"));

    let d = one("image: nginx\nprocesses:\n  web:\n    replica: 2\n");
    assert_eq!((d.line, d.col), (4, 5));
    assert_eq!(d.hint.as_deref(), Some("did you mean `replicas`?"));

    let d = one("image: nginx\nzzzzzzzz: 1\n");
    assert!(d.hint.unwrap().starts_with("valid keys here: name, image"));
}

#[test]
fn bad_values() {
    let d = one("image: nginx\nsuspend: yes\n");
    assert_eq!((d.line, d.message.as_str(), d.hint.as_deref()), (2, "invalid boolean", Some("use true or false")));

    let d = one("image: nginx\nrestart: allways\n");
    assert_eq!(d.line, 2);
    assert!(d.message.starts_with("unknown value `allways`"), "{}", d.message);
    assert_eq!(d.hint.as_deref(), Some("did you mean `always`?"));

    let d = one("image: nginx\nprocesses:\n  web:\n    replicas: two\n");
    assert_eq!(d.line, 4);
    assert!(d.message.contains("whole number"), "{}", d.message);

    let d = one("image: nginx\nenv:\n  - A=1\n");
    assert_eq!(d.line, 3);
    assert!(d.message.contains("mapping"), "{}", d.message);

    let d = one("image: nginx\nimage: busybox\n");
    assert_eq!((d.line, d.message.as_str()), (2, "duplicate key `image` (first at line 1)"));

    let d = one("image: nginx\nenv:\n  EMPTY:\n");
    assert_eq!((d.line, d.message.as_str()), (3, "missing value"));

    // A bad value inside `{…}` is no unclosed bracket: the hint is about the value.
    let d = one("image: nginx\nresources: {cpus: abc}\n");
    assert_eq!((d.line, d.col, d.message.as_str()), (2, 19, "expected a number of CPU cores, found `abc`"));
    assert_eq!(d.hint.as_deref(), Some("cpus is a number of cores, e.g. 0.5 or 2"));
    let d = one("image: nginx\nresources: {cpus: 0.001}\n");
    assert!(d.message.starts_with("cpus must be at least 0.01"), "{}", d.message);

    let d = one("image: nginx\nstop-signal: SIGTREM\n");
    assert_eq!((d.line, d.col, d.message.as_str()), (2, 14, "unknown stop signal `SIGTREM`"));
    assert_eq!(d.hint.as_deref(), Some("did you mean `SIGTERM`?"));
    let d = one("image: nginx\nstop-grace-period: soon\n");
    assert!(d.message.starts_with("invalid duration `soon`"), "{}", d.message);
    let d = one("image: nginx\nstop-grace-period: -5s\n");
    assert!(d.message.starts_with("invalid duration `-5s`"), "{}", d.message);
    let d = one("image: nginx\nupdate-order: start-frist\n");
    assert_eq!(d.hint.as_deref(), Some("did you mean `start-first`?"));
    let d = one("image: nginx\nprocesses:\n  web:\n    command: \"sh -c 'echo hi\"\n");
    assert_eq!((d.line, d.col), (4, 14));
    assert!(d.message.starts_with("cannot split command"), "{}", d.message);
    assert!(d.hint.unwrap().contains("close the quote"));
    let d = one("image: nginx\nprocesses:\n  web:\n    command: []\n");
    assert_eq!((d.line, d.message.as_str()), (4, "`command` is empty"));
    let d = one("image: nginx\nvolumes: [\"data:/x:rx\"]\n");
    assert_eq!((d.line, d.col), (2, 11));
    assert!(d.message.contains("unknown mode `rx`"), "{}", d.message);

    let d = one("image: nginx\nreplicas: 2\n");
    assert_eq!(d.hint.as_deref(), Some("`replicas` is set per process: processes: {web: {replicas: ...}}"));
}

#[test]
fn syntax_errors_have_positions() {
    let d = one("image: nginx\nvolumes: [\"a:/a\"\nrestart: always\n");
    assert_eq!(d.line, 3, "{d:?}");
    assert_eq!(d.hint.as_deref(), Some("the `[` opened at line 2, column 10 is not closed with `]`"));
    let d = one("image: \"nginx\nrestart: always\n");
    assert_eq!(d.hint.as_deref(), Some("the \" opened at line 1, column 8 is not closed"));
    assert!(!d.message.contains(" at line "), "{}", d.message);
    let d = one("image: nginx\n\tenv: {}\n");
    assert_eq!((d.line, d.col, d.hint.as_deref()), (2, 1, Some("YAML indents with spaces, not tabs")), "{d:?}");
    let d = one("image: nginx\n  env: {}\n");
    assert!(d.line >= 1 && d.line <= 2, "{d:?}");
}

#[test]
fn file_level_errors() {
    let d = one("# nothing\n\n");
    assert_eq!((d.line, d.message.as_str()), (0, "empty app file"));
    let d = one("- image: nginx\n");
    assert!(d.message.starts_with("an app file must be a mapping"), "{}", d.message);
    let d = errors(None, &[("apps/web.yaml", b"image: ngi\xffnx\n")]).remove(0);
    assert_eq!((d.line, d.col, d.message.as_str()), (1, 11, "file is not valid UTF-8"));
    let (settings, _, diags) = parse_all(&snap(Some("# settings later\n"), &[]));
    assert!(diags.is_empty() && settings.is_some());
}

#[test]
fn every_file_reports() {
    let d = errors(Some("projekt: x\n"), &[("apps/a.yaml", b"imag: x\n"), ("apps/b.yaml", b"image: x\nport: 1\n")]);
    let at: Vec<_> = d.iter().map(|d| format!("{}:{}", d.file, d.line)).collect();
    assert_eq!(at, ["berth.yaml:1", "apps/a.yaml:1", "apps/b.yaml:2"]);
}

#[test]
fn nearest_is_picky() {
    assert_eq!(nearest("imgae", &["name", "image", "build"]), Some("image"));
    assert_eq!(nearest("environment", &["env", "secret-env", "user"]), Some("env"));
    assert_eq!(nearest("zzzzzz", &["env", "image"]), None);
}

/// `file:line:col: message` of every error in one app file.
fn all(app: &str) -> Vec<String> {
    errors(None, &[("apps/web.yaml", app.as_bytes())])
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
        .collect()
}

#[test]
fn every_error_of_a_file_at_once() {
    let errs = all(
        "imgae: nginx\nrestart: allways\nprocesses:\n  web:\n    replica: 2\n    ports: [\"80\", \"8080:80\", \"a:b\"]\n\
resources: {cpus: abc, memory: lots}\nsuspend: yes\n",
    );
    assert_eq!(
        errs,
        [
            "1:1: unknown key `imgae`",
            "2:10: unknown value `allways`, expected one of `no`, `always`, `unless-stopped`, `on-failure`",
            "5:5: unknown key `replica`",
            "6:13: invalid port `80`: no host port; berth publishes only explicit host ports, write `80:80` (host:container)",
            "6:30: invalid port `a:b`: host port `a` is not a number",
            "7:19: expected a number of CPU cores, found `abc`",
            "7:32: invalid memory size `lots`: expected a number with a unit, e.g. 512MiB or 1GiB",
            "8:10: invalid boolean",
        ]
    );
}

#[test]
fn blanking_causes_no_follow_on_errors() {
    // The healthcheck's only key blanked: no "missing key `command`" as well.
    assert_eq!(all("image: nginx\nhealthcheck:\n  command: CMD\n"), ["3:12: expected a list"]);
    assert_eq!(all("image: nginx\nhealthcheck: {comand: [CMD, x]}\n"), ["2:15: unknown key `comand`"]);
    // A key that really is missing is still reported.
    assert_eq!(all("image: nginx\nhealthcheck: {interval: 5s}\n"), ["2:15: missing key `command`"]);
    // Errors in flow and block lists, first and last items.
    assert_eq!(
        all("image: nginx\nvolumes:\n  - \"data:x\"\n  - ok:/ok\n  - \"b:y\"\n"),
        [
            "3:5: invalid volume `data:x`: target `x` must be an absolute path",
            "5:5: invalid volume `b:y`: target `y` must be an absolute path"
        ]
    );
    // A missing value, then one more error.
    assert_eq!(all("image: nginx\nenv:\n  EMPTY:\nuser: [x]\n"), ["3:8: missing value", "4:7: expected a string"]);
}

#[test]
fn top_level_extension_keys_hold_anchors() {
    let (_, apps, diags) = parse_all(&snap(
        None,
        &[(
            "apps/web.yaml",
            b"x-env: &env {A: \"1\"}\nx-ports: &ports [\"8080:80\"]\nimage: nginx\nenv: *env\nprocesses:\n  web: {ports: *ports}\n",
        )],
    ));
    assert!(diags.is_empty(), "{diags:?}");
    let app = &apps[0].1.value;
    assert_eq!(app.env.iter().map(|(k, v)| (k.value.as_str(), v.value.as_str())).collect::<Vec<_>>(), [("A", "1")]);
    let web = &app.processes.as_ref().unwrap().values().next().unwrap();
    assert_eq!(web.ports[0].host_port, 8080);
    let (settings, _, diags) = parse_all(&snap(Some("x-anything: {a: [1, 2]}\nproject: demo\n"), &[]));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(settings.unwrap().value.project.unwrap().value, "demo");
    // Merge keys, as compose files use them.
    let (_, apps, diags) = parse_all(&snap(
        None,
        &[(
            "apps/web.yaml",
            b"x-defaults: &defaults\n  restart: always\n  user: \"1000\"\n<<: *defaults\nimage: nginx\n",
        )],
    ));
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(apps[0].1.value.user.as_ref().unwrap().value, "1000");
    assert_eq!(apps[0].1.value.restart.as_ref().unwrap().value, crate::spec::Restart::Always);
    // Only at the top, and only `x-`.
    assert_eq!(all("image: nginx\nprocesses:\n  web: {x-a: 1}\n"), ["3:9: unknown key `x-a`"]);
    assert_eq!(all("image: nginx\nxdefaults: 1\n"), ["2:1: unknown key `xdefaults`"]);
}
