//! `berth secrets` and `berth registry login/logout` through the real binary:
//! interop with the `age` CLI both ways, ssh-ed25519 keys, the identity
//! lookup order, error messages, `edit` leaving no plaintext behind, `rekey`,
//! and registry logins. No Docker needed. HOME is a temporary folder, so the
//! real ~/.config is never touched.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary HOME and repository; removed when dropped.
struct Sandbox {
    dir: tempfile::TempDir,
}

/// A key pair made with `age-keygen`.
struct Key {
    file: PathBuf,
    public: String,
}

const LOGIN: &str = "kind: registry\nserver: ghcr.io\nusername: bob\npassword: hunter2-canary\n";

impl Sandbox {
    fn new() -> Sandbox {
        let s = Sandbox { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(s.home()).unwrap();
        std::fs::create_dir_all(s.repo()).unwrap();
        s
    }
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `berth ARGS` with this HOME, no identity in the environment, colour off.
    fn berth(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(args)
            .env("HOME", self.home())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("BERTH_AGE_KEY")
            .env_remove("BERTH_AGE_IDENTITY")
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .current_dir(self.repo())
            .stdin(Stdio::null());
        cmd
    }

    fn keygen(&self, name: &str) -> Key {
        let file = self.path(name);
        let out = Command::new("age-keygen").arg("-o").arg(&file).output().expect("age-keygen runs");
        assert!(out.status.success(), "age-keygen: {}", text(&out.stderr));
        let key = std::fs::read_to_string(&file).unwrap();
        let public = key.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().to_string();
        Key { file, public }
    }

    fn recipients(&self, recipients: &[&str]) {
        let list: String = recipients.iter().map(|r| format!("  - \"{r}\"\n")).collect();
        std::fs::write(self.repo().join("berth.yaml"), format!("project: secrets-test\nrecipients:\n{list}")).unwrap();
    }

    fn credential(&self, name: &str) -> PathBuf {
        self.repo().join(format!("credentials/{name}.age"))
    }

    /// `berth secrets encrypt NAME` with `plaintext` on stdin; asserts success.
    fn encrypt(&self, name: &str, plaintext: &str) {
        let out = with_stdin(self.berth(&["secrets", "encrypt", name]), plaintext);
        assert!(out.status.success(), "encrypt: {}", text(&out.stderr));
    }

    /// `berth [--identity KEY] secrets decrypt NAME`.
    fn decrypt(&self, name: &str, key: Option<&Key>) -> Output {
        let mut cmd = self.berth(&[]);
        if let Some(k) = key {
            cmd.arg("--identity").arg(&k.file);
        }
        cmd.args(["secrets", "decrypt", name]).output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// `age [ARGS] -r PUBLIC -o OUT` with `input` on stdin.
fn age_encrypt(args: &[&str], public: &str, out: &Path, input: &str) {
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut cmd = Command::new("age");
    cmd.args(args).args(["-r", public, "-o"]).arg(out);
    let o = with_stdin(cmd, input);
    assert!(o.status.success(), "age: {}", text(&o.stderr));
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "berth failed ({:?}):\n{}", out.status, text(&out.stderr));
    text(&out.stdout)
}

fn fails(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected exit 1; stdout:\n{}", text(&out.stdout));
    text(&out.stderr)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn no_file_contains(dir: &Path, needle: &str) {
    for f in files_under(dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(!text(&bytes).contains(needle), "{} contains {needle:?}", f.display());
    }
}

#[test]
fn files_from_the_age_cli_load() {
    let s = Sandbox::new();
    let key = s.keygen("key.txt");
    s.recipients(&[&key.public]);
    age_encrypt(&["-a"], &key.public, &s.credential("armored"), LOGIN);
    age_encrypt(&[], &key.public, &s.credential("binary"), LOGIN);
    assert!(std::fs::read(s.credential("armored")).unwrap().starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(std::fs::read(s.credential("binary")).unwrap().starts_with(b"age-encryption.org/v1"));
    assert_eq!(ok(&s.decrypt("armored", Some(&key))), LOGIN);
    assert_eq!(ok(&s.decrypt("binary", Some(&key))), LOGIN);
}

#[test]
fn files_from_berth_decrypt_with_the_age_cli() {
    let s = Sandbox::new();
    let key = s.keygen("key.txt");
    s.recipients(&[&key.public]);
    s.encrypt("ghcr", LOGIN);
    let bytes = std::fs::read(s.credential("ghcr")).unwrap();
    assert!(bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"), "armored");
    no_file_contains(&s.repo(), "hunter2-canary");
    let out = Command::new("age").arg("-d").arg("-i").arg(&key.file).arg(s.credential("ghcr")).output().unwrap();
    assert!(out.status.success(), "age -d: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), LOGIN);

    // --from FILE reads the document from a file.
    std::fs::write(s.path("db.yaml"), "kind: env\nvalues: {DB: x}\n").unwrap();
    ok(&s.berth(&["secrets", "encrypt", "db", "--from"]).arg(s.path("db.yaml")).output().unwrap());
    assert_eq!(ok(&s.decrypt("db", Some(&key))), "kind: env\nvalues: {DB: x}\n");
}

#[test]
fn encrypt_refuses_invalid_documents_and_missing_recipients() {
    let s = Sandbox::new();
    let key = s.keygen("key.txt");
    s.recipients(&[&key.public]);
    let out = with_stdin(
        s.berth(&["secrets", "encrypt", "bad"]),
        "kind: registry\nserver: ghcr.io\npassword: hunter2-canary\n",
    );
    let err = fails(&out);
    // Errors name where the document came from: standard input, or the file given.
    assert!(err.contains("<stdin>:1:7: missing key `username`"), "{err}");
    assert!(!err.contains("hunter2-canary"), "{err}");
    assert!(!s.credential("bad").exists());
    std::fs::write(s.path("bad.yaml"), "kind: env\nvalues: {A: b}\nserver: x\n").unwrap();
    let err = fails(&s.berth(&["secrets", "encrypt", "bad", "--from"]).arg(s.path("bad.yaml")).output().unwrap());
    assert!(err.contains(&format!("{}:3:9: key `server` does not belong", s.path("bad.yaml").display())), "{err}");
    assert!(!s.credential("bad").exists());

    std::fs::write(s.repo().join("berth.yaml"), "project: x\n").unwrap();
    let err = fails(&with_stdin(s.berth(&["secrets", "encrypt", "ghcr"]), LOGIN));
    assert!(err.contains("no recipients"), "{err}");
    assert!(!s.credential("ghcr").exists());
}

#[test]
fn ssh_ed25519_keys_are_identities_and_recipients() {
    let s = Sandbox::new();
    let ssh = s.path("id_ed25519");
    let out =
        Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "me@host", "-f"]).arg(&ssh).output();
    assert!(out.unwrap().status.success());
    let public = std::fs::read_to_string(ssh.with_extension("pub")).unwrap().trim().to_string();
    s.recipients(&[&public]);
    s.encrypt("ghcr", LOGIN);
    let key = Key { file: ssh.clone(), public };
    assert_eq!(ok(&s.decrypt("ghcr", Some(&key))), LOGIN);
    let out = Command::new("age").arg("-d").arg("-i").arg(&ssh).arg(s.credential("ghcr")).output().unwrap();
    assert_eq!(text(&out.stdout), LOGIN, "{}", text(&out.stderr));

    // A wrong key names the berth.yaml ssh recipient the file is encrypted to.
    let other = s.keygen("other.txt");
    let err = fails(&s.decrypt("ghcr", Some(&other)));
    assert!(err.contains("1 recipient (1 ssh-ed25519), from berth.yaml: ssh-ed25519 AAAA"), "{err}");
    assert!(err.contains(&key.public[..40]), "{err}");
}

#[test]
fn identity_lookup_order() {
    let s = Sandbox::new();
    // A repository (a folder with neither berth.yaml nor apps/ is refused).
    std::fs::write(s.repo().join("berth.yaml"), "project: lookup\n").unwrap();
    let keys: Vec<Key> = (1..=4).map(|i| s.keygen(&format!("k{i}.txt"))).collect();
    // One file per key, each readable by that key only.
    for (i, k) in keys.iter().enumerate() {
        age_encrypt(&["-a"], &k.public, &s.credential(&format!("f{}", i + 1)), LOGIN);
    }
    let default = s.home().join(".config/berth/identity.txt");
    std::fs::create_dir_all(default.parent().unwrap()).unwrap();
    std::fs::copy(&keys[3].file, &default).unwrap();
    let key2 = std::fs::read_to_string(&keys[1].file).unwrap();
    let run = |flag: bool, env_key: bool, env_path: bool, file: &str| {
        let mut cmd = s.berth(&[]);
        if flag {
            cmd.arg("--identity").arg(&keys[0].file);
        }
        if env_key {
            cmd.env("BERTH_AGE_KEY", &key2);
        }
        if env_path {
            cmd.env("BERTH_AGE_IDENTITY", &keys[2].file);
        }
        cmd.args(["secrets", "decrypt", file]).output().unwrap()
    };
    // --identity wins over everything.
    assert_eq!(ok(&run(true, true, true, "f1")), LOGIN);
    assert!(fails(&run(true, true, true, "f2")).contains("--identity"));
    // Then BERTH_AGE_KEY.
    assert_eq!(ok(&run(false, true, true, "f2")), LOGIN);
    let err = fails(&run(false, true, true, "f3"));
    assert!(err.contains("$BERTH_AGE_KEY") && err.contains(&keys[1].public), "{err}");
    // Then BERTH_AGE_IDENTITY.
    assert_eq!(ok(&run(false, false, true, "f3")), LOGIN);
    assert!(fails(&run(false, false, true, "f4")).contains("$BERTH_AGE_IDENTITY"));
    // Then ~/.config/berth/identity.txt.
    assert_eq!(ok(&run(false, false, false, "f4")), LOGIN);
    // None: the error says where berth looked.
    std::fs::remove_file(&default).unwrap();
    let err = fails(&run(false, false, false, "f4"));
    assert!(err.contains("no age identity found"), "{err}");
    for source in ["--identity FILE", "$BERTH_AGE_KEY", "$BERTH_AGE_IDENTITY", "~/.config/berth/identity.txt"] {
        assert!(err.contains(source), "{source}: {err}");
    }
    // A source that is set but broken is an error, not a reason to try the next.
    let mut cmd = s.berth(&["secrets", "decrypt", "f3"]);
    cmd.env("BERTH_AGE_KEY", "AGE-SECRET-KEY-1NOTAKEY").env("BERTH_AGE_IDENTITY", &keys[2].file);
    let err = fails(&cmd.output().unwrap());
    assert!(err.contains("$BERTH_AGE_KEY") && err.contains("line 1"), "{err}");
    assert!(!err.contains("NOTAKEY"), "{err}");
}

#[test]
fn wrong_key_lists_the_identity() {
    let s = Sandbox::new();
    let (a, b) = (s.keygen("a.txt"), s.keygen("b.txt"));
    s.recipients(&[&a.public]);
    s.encrypt("ghcr", LOGIN);
    let err = fails(&s.decrypt("ghcr", Some(&b)));
    let first = err.lines().next().unwrap();
    assert_eq!(first, "error: failed to decrypt credentials/ghcr.age: the file is not encrypted to this identity");
    assert!(err.contains(&b.public), "{err}");
    assert!(err.contains("1 recipient (1 X25519)"), "{err}");
}

#[test]
fn truncated_and_non_age_files() {
    let s = Sandbox::new();
    let key = s.keygen("key.txt");
    s.recipients(&[&key.public]);
    s.encrypt("ghcr", LOGIN);
    std::fs::write(s.credential("plain"), LOGIN).unwrap();
    let err = fails(&s.decrypt("plain", Some(&key)));
    assert!(err.contains("credentials/plain.age: not an age file"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let whole = std::fs::read(s.credential("ghcr")).unwrap();
    std::fs::write(s.credential("cut"), &whole[..whole.len() / 2]).unwrap();
    let err = fails(&s.decrypt("cut", Some(&key)));
    assert!(err.contains("credentials/cut.age: truncated age file"), "{err}");
    let bin = s.credential("bin");
    age_encrypt(&[], &key.public, &bin, LOGIN);
    let whole = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &whole[..whole.len() - 10]).unwrap();
    let err = fails(&s.decrypt("bin", Some(&key)));
    assert!(err.contains("truncated age file"), "{err}");
    let err = fails(&s.decrypt("missing", Some(&key)));
    assert!(err.contains("credentials/missing.age does not exist"), "{err}");
}

/// An editor script: records the file it was given in `seen`, then runs `body` on it ($1).
fn editor(s: &Sandbox, body: &str) -> (PathBuf, PathBuf) {
    let script = s.path("editor.sh");
    let seen = s.path("seen");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$1\" > '{}'\n{body}\n", seen.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, seen)
}

fn edited_path(seen: &Path) -> PathBuf {
    PathBuf::from(std::fs::read_to_string(seen).unwrap().trim())
}

#[test]
fn edit_rewrites_and_leaves_nothing_behind() {
    let s = Sandbox::new();
    let key = s.keygen("key.txt");
    s.recipients(&[&key.public]);
    s.encrypt("ghcr", LOGIN);
    let (script, seen) = editor(&s, "sed -i 's/hunter2-canary/rotated-canary/' \"$1\"");
    let out =
        s.berth(&["--identity", key.file.to_str().unwrap(), "secrets", "edit", "ghcr"]).env("EDITOR", &script).output();
    ok(&out.unwrap());
    let edited = edited_path(&seen);
    assert!(edited.file_name().unwrap() == "ghcr.yaml", "{}", edited.display());
    assert!(!edited.parent().unwrap().exists(), "temp dir {} left behind", edited.parent().unwrap().display());
    assert_eq!(ok(&s.decrypt("ghcr", Some(&key))), LOGIN.replace("hunter2-canary", "rotated-canary"));
    no_file_contains(&s.repo(), "canary");
    no_file_contains(&s.home(), "canary");

    // VISUAL wins over EDITOR, and an editor that fails writes nothing.
    let before = std::fs::read(s.credential("ghcr")).unwrap();
    let (failing, seen) = editor(&s, "echo 'kind: env' > \"$1\"; exit 3");
    let out = s
        .berth(&["--identity", key.file.to_str().unwrap(), "secrets", "edit", "ghcr"])
        .env("VISUAL", &failing)
        .env("EDITOR", "/bin/false")
        .output()
        .unwrap();
    assert!(fails(&out).contains("exited"), "{}", text(&out.stderr));
    assert!(!edited_path(&seen).parent().unwrap().exists());
    assert_eq!(std::fs::read(s.credential("ghcr")).unwrap(), before);

    // An edit that does not validate (without a terminal to reopen the editor
    // on) changes nothing, and is kept, privately, in the user's runtime
    // folder; berth says where and to delete it.
    let run = s.path("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (invalid, seen) = editor(&s, "printf 'kind: registry\\nusername: bob\\npassword: kept-canary\\n' > \"$1\"");
    let out = s
        .berth(&["--identity", key.file.to_str().unwrap(), "secrets", "edit", "ghcr"])
        .env("EDITOR", &invalid)
        .env("XDG_RUNTIME_DIR", &run)
        .output();
    let err = fails(&out.unwrap());
    let kept = edited_path(&seen);
    assert!(kept.starts_with(&run), "{}", kept.display());
    assert!(err.contains(&format!("{}:1:7: missing key `server`", kept.display())), "{err}");
    assert!(err.contains(&format!("your edit is kept in {}", kept.display())), "{err}");
    assert!(err.contains("delete it when done"), "{err}");
    assert!(!err.contains("kept-canary"), "{err}");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "kind: registry\nusername: bob\npassword: kept-canary\n");
    assert_eq!(std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(kept.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::read(s.credential("ghcr")).unwrap(), before);
    no_file_contains(&s.repo(), "kept-canary");
    std::fs::remove_dir_all(kept.parent().unwrap()).unwrap();
}

#[test]
fn edit_starts_a_new_file_from_a_template() {
    let s = Sandbox::new();
    let key = s.keygen("key.txt");
    s.recipients(&[&key.public]);
    let (script, seen) = editor(
        &s,
        "grep -q 'kind: registry' \"$1\" && printf 'kind: env\\nvalues:\\n  DB: postgres-canary\\n' > \"$1\"",
    );
    ok(&s.berth(&["secrets", "edit", "db"]).env("EDITOR", &script).output().unwrap());
    assert!(!edited_path(&seen).parent().unwrap().exists());
    assert_eq!(ok(&s.decrypt("db", Some(&key))), "kind: env\nvalues:\n  DB: postgres-canary\n");
    no_file_contains(&s.repo(), "canary");
    // Saving the template unchanged writes nothing.
    let out = s.berth(&["secrets", "edit", "other"]).env("EDITOR", "true").output().unwrap();
    assert!(fails(&out).contains("nothing written"));
    assert!(!s.credential("other").exists());
}

#[test]
fn rekey_makes_files_readable_by_a_new_recipient() {
    let s = Sandbox::new();
    let (a, b) = (s.keygen("a.txt"), s.keygen("b.txt"));
    s.recipients(&[&a.public]);
    s.encrypt("ghcr", LOGIN);
    s.encrypt("db", "kind: env\nvalues: {DB: x}\n");
    assert!(fails(&s.decrypt("ghcr", Some(&b))).contains("not encrypted to this identity"));
    s.recipients(&[&a.public, &b.public]);
    // Rekeying needs a key that can read every file.
    let err = fails(&s.berth(&["--identity", b.file.to_str().unwrap(), "secrets", "rekey"]).output().unwrap());
    assert!(err.contains("credentials/db.age") && err.contains("credentials/ghcr.age"), "{err}");
    ok(&s.berth(&["--identity", a.file.to_str().unwrap(), "secrets", "rekey"]).output().unwrap());
    assert_eq!(ok(&s.decrypt("ghcr", Some(&b))), LOGIN);
    assert_eq!(ok(&s.decrypt("db", Some(&b))), "kind: env\nvalues: {DB: x}\n");
    // The fingerprint key made by the first encrypt is rekeyed too.
    assert!(ok(&s.decrypt("fingerprint-key", Some(&b))).starts_with("kind: fingerprint-key\nkey: "));
    let leftovers: Vec<_> = files_under(&s.repo().join("credentials"));
    assert_eq!(leftovers.len(), 3, "no temporary file left: {leftovers:?}");
}

#[test]
fn keygen_writes_a_private_identity() {
    let s = Sandbox::new();
    let out = s.berth(&["secrets", "keygen"]).output().unwrap();
    let public = ok(&out).trim().to_string();
    assert!(public.starts_with("age1"), "{public}");
    assert!(text(&out.stderr).contains("recipients:"), "{}", text(&out.stderr));
    let file = s.home().join(".config/berth/identity.txt");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&file).unwrap().contains(&format!("# public key: {public}")));
    assert!(fails(&s.berth(&["secrets", "keygen"]).output().unwrap()).contains("--force"));
    // The default identity decrypts what is encrypted to its public key.
    s.recipients(&[&public]);
    s.encrypt("ghcr", LOGIN);
    assert_eq!(ok(&s.decrypt("ghcr", None)), LOGIN);
    let out = s.berth(&["secrets", "keygen", "--out", "k2.txt"]).output().unwrap();
    assert!(ok(&out).starts_with("age1"));
    assert!(s.repo().join("k2.txt").exists());
}

#[test]
fn registry_login_with_password_stdin() {
    let s = Sandbox::new();
    let key = s.keygen("key.txt");
    s.recipients(&[&key.public]);
    let out = with_stdin(s.berth(&["registry", "login", "ghcr.io", "bob", "--password-stdin"]), "tok-canary\n");
    ok(&out);
    assert!(!text(&out.stderr).contains("warning"), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("canary") && !text(&out.stderr).contains("canary"));
    assert_eq!(
        ok(&s.decrypt("ghcr-io", Some(&key))),
        "kind: registry\nserver: ghcr.io\nusername: bob\npassword: tok-canary\n"
    );
    no_file_contains(&s.repo(), "canary");

    // Docker Hub's aliases are one server, docker.io.
    let out =
        with_stdin(s.berth(&["registry", "login", "https://index.docker.io/v1/", "bob", "--password-stdin"]), "p\n");
    ok(&out);
    assert!(ok(&s.decrypt("docker-io", Some(&key))).contains("server: docker.io\n"));

    // A password on the command line works, with a warning.
    let out = s.berth(&["registry", "login", "127.0.0.1:5000", "bob", "argv-canary"]).output().unwrap();
    ok(&out);
    assert!(text(&out.stderr).contains("visible in the process list"), "{}", text(&out.stderr));
    assert!(ok(&s.decrypt("127-0-0-1-5000", Some(&key))).contains("password: argv-canary\n"));

    // Logout deletes the file.
    ok(&s.berth(&["registry", "logout", "ghcr.io"]).output().unwrap());
    assert!(!s.credential("ghcr-io").exists());
}

#[test]
fn per_app_login_points_the_app_at_it() {
    let s = Sandbox::new();
    let key = s.keygen("key.txt");
    s.recipients(&[&key.public]);
    let apps = s.repo().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    let web = "# the web app\nimage: ghcr.io/acme/web:1\npull:\n  policy: always\nregistry:\n  server: ghcr.io\n  image-repo: acme/web\n";
    std::fs::write(apps.join("web.yaml"), web).unwrap();
    let worker = "image: nginx\n";
    std::fs::write(apps.join("worker.yaml"), worker).unwrap();

    let out =
        with_stdin(s.berth(&["registry", "login", "--app", "web", "ghcr.io", "bob", "--password-stdin"]), "tok\n");
    ok(&out);
    let text_after = std::fs::read_to_string(apps.join("web.yaml")).unwrap();
    assert_eq!(
        text_after,
        "# the web app\nimage: ghcr.io/acme/web:1\npull:\n  credential: web-ghcr-io\n  policy: always\n\
registry:\n  credential: web-ghcr-io\n  server: ghcr.io\n  image-repo: acme/web\n"
    );
    assert!(ok(&s.decrypt("web-ghcr-io", Some(&key))).contains("username: bob\n"));

    // An app without pull: gets one appended; its registry (none) is left alone.
    ok(&with_stdin(s.berth(&["registry", "login", "--app", "worker", "docker.io", "bob", "--password-stdin"]), "p\n"));
    assert_eq!(
        std::fs::read_to_string(apps.join("worker.yaml")).unwrap(),
        "image: nginx\npull:\n  credential: worker-docker-io\n"
    );

    // Logout removes the file and the lines login added.
    ok(&s.berth(&["registry", "logout", "--app", "web", "ghcr.io"]).output().unwrap());
    assert!(!s.credential("web-ghcr-io").exists());
    assert_eq!(std::fs::read_to_string(apps.join("web.yaml")).unwrap(), web);
    ok(&s.berth(&["registry", "logout", "--app", "worker", "docker.io"]).output().unwrap());
    assert_eq!(std::fs::read_to_string(apps.join("worker.yaml")).unwrap(), worker);

    // An unknown app is refused before anything is written.
    let err = fails(&with_stdin(
        s.berth(&["registry", "login", "--app", "nope", "ghcr.io", "bob", "--password-stdin"]),
        "p\n",
    ));
    assert!(err.contains("no app `nope`"), "{err}");
    assert!(!s.credential("nope-ghcr-io").exists());
}

#[test]
fn a_second_login_for_one_server_is_reported_at_once() {
    let s = Sandbox::new();
    let key = s.keygen("key.txt");
    s.recipients(&[&key.public]);
    let apps = s.repo().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("web.yaml"), "image: ghcr.io/acme/web:1\n").unwrap();
    std::fs::write(apps.join("api.yaml"), "image: ghcr.io/acme/api:1\n").unwrap();
    std::fs::write(apps.join("other.yaml"), "image: nginx\n").unwrap();
    let login = |args: &[&str]| {
        let mut all = vec!["--identity", key.file.to_str().unwrap(), "registry", "login"];
        all.extend(args);
        all.extend(["bob", "--password-stdin"]);
        with_stdin(s.berth(&all), "tok\n")
    };
    let out = login(&["ghcr.io"]);
    ok(&out);
    assert!(!text(&out.stderr).contains("warning"), "{}", text(&out.stderr));

    // A per-app login beside the shared one: two credentials for ghcr.io.
    let out = login(&["--app", "web", "ghcr.io"]);
    ok(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: ghcr.io now has 2 credentials: credentials/ghcr-io.age, credentials/web-ghcr-io.age"),
        "{err}"
    );
    assert!(err.contains("app(s) api use ghcr.io without naming a credential"), "{err}");
    assert!(err.contains("berth registry logout"), "{err}");
    // validate agrees: api cannot choose.
    let out = s.berth(&["--identity", key.file.to_str().unwrap(), "validate"]).output().unwrap();
    assert!(fails(&out).contains("ghcr"), "{}", text(&out.stderr));

    // Without the identity at hand, the names tell.
    let out = with_stdin(s.berth(&["registry", "login", "--app", "api", "ghcr.io", "bob", "--password-stdin"]), "t\n");
    ok(&out);
    assert!(text(&out.stderr).contains("ghcr.io now has 3 credentials"), "{}", text(&out.stderr));
}
