//! Running berth unattended, through the real binary: the version line, shell
//! completions, the systemd units (`systemd-analyze verify`, and the
//! arguments the watch unit's ExecStart assembles), where the state folder
//! is under systemd and without HOME, state folders and key files others
//! could write (refused), and the identity from systemd's credentials. No
//! Docker needed: `validate` is the command that reads the state folder.

use crate::common::{assert_exit, stderr, stdout};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `berth` with a clean environment as far as state and identity go.
fn berth() -> Command {
    let mut cmd = crate::common::berth();
    for var in [
        "BERTH_STATE_DIR",
        "STATE_DIRECTORY",
        "XDG_STATE_HOME",
        "CREDENTIALS_DIRECTORY",
        "BERTH_AGE_KEY",
        "BERTH_AGE_IDENTITY",
        "BERTH_FINGERPRINT_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A one-app repository (no credentials) in `dir/repo`, readable by anyone.
fn repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("apps")).unwrap();
    std::fs::write(repo.join("berth.yaml"), "project: unattended\n").unwrap();
    std::fs::write(repo.join("apps/web.yaml"), "image: busybox:1.36\n").unwrap();
    repo
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o777
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = berth().arg("--version").output().unwrap();
    assert_exit(&out, 0);
    let line = stdout(&out);
    let line = line.trim();
    let rest =
        line.strip_prefix(concat!("berth ", env!("CARGO_PKG_VERSION"), " (")).unwrap_or_else(|| panic!("{line}"));
    let head = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output();
    match head {
        Ok(h) if h.status.success() => {
            let head = String::from_utf8_lossy(&h.stdout).trim().to_string();
            let commit =
                rest.strip_prefix("commit ").and_then(|r| r.strip_suffix(')')).unwrap_or_else(|| panic!("{line}"));
            let hash = commit.trim_end_matches("-dirty");
            assert!(hash.len() >= 12 && head.starts_with(hash), "{line}: HEAD is {head}");
        }
        _ => assert_eq!(rest, "built outside git)", "{line}"),
    }
}

#[test]
fn completions_for_each_shell_parse_and_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = berth().args(["completions", shell]).output().unwrap();
        assert_exit(&out, 0);
        let script = stdout(&out);
        for word in ["plan", "apply", "drift", "validate", "completions", "detailed-exitcode"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
        assert!(!script.contains("manpages"), "{shell} completions offer the hidden manpages command");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.completion");
        std::fs::write(&file, &script).unwrap();
        // Each shell's own syntax check, when the shell is here.
        let check = match shell {
            "bash" => Command::new("bash").arg("-n").arg(&file).output(),
            "zsh" => Command::new("zsh").arg("-n").arg(&file).output(),
            _ => Command::new("fish").arg("--no-execute").arg(&file).output(),
        };
        match check {
            Ok(o) => assert!(o.status.success(), "{shell} rejects the script: {}", stderr(&o)),
            Err(e) if shell == "bash" => panic!("bash is needed for this test: {e}"),
            Err(e) => {
                eprintln!("{shell} not installed ({e}): its syntax check skipped (tests/packaging.sh installs it)")
            }
        }
    }
    let out = berth().args(["completions", "tcsh"]).output().unwrap();
    assert_exit(&out, 1);
}

/// The units with /usr/bin/berth pointing at the binary under test, in a
/// temporary folder (systemd-analyze checks that ExecStart exists).
fn units(dir: &Path) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap().replace("/usr/bin/berth", env!("CARGO_BIN_EXE_berth"));
        let copy = dir.join(path.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        out.push(copy);
    }
    out.sort();
    out
}

fn verify(unit: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian package systemd) is needed for this test: apt-get install systemd")
}

#[test]
fn systemd_units_verify_and_carry_the_hardening() {
    let dir = tempfile::tempdir().unwrap();
    let units = units(dir.path());
    let names: Vec<_> = units.iter().map(|u| u.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["berth-drift@.service", "berth-drift@.timer", "berth-watch@.service"]);
    for unit in &units {
        let out = verify(unit);
        // Warnings (an unknown key, a bad value) go to stderr with exit 0.
        assert!(out.status.success() && stderr(&out).is_empty(), "{}: {}", unit.display(), stderr(&out));
        let text = std::fs::read_to_string(unit).unwrap();
        if unit.extension().is_some_and(|e| e == "service") {
            for line in [
                "StateDirectory=berth",
                "LoadCredential=berth-identity:",
                "ProtectSystem=strict",
                "NoNewPrivileges=yes",
                "PrivateTmp=yes",
                "EnvironmentFile=/etc/berth/%i.env",
            ] {
                assert!(text.lines().any(|l| l.starts_with(line)), "{}: no {line}", unit.display());
            }
        }
    }
    // The check can fail: a unit whose binary is missing does.
    let broken = dir.path().join("berth-drift@.service");
    let text = std::fs::read_to_string(&broken).unwrap().replace(env!("CARGO_BIN_EXE_berth"), "/nonexistent/berth");
    std::fs::write(&broken, text).unwrap();
    assert!(!verify(&broken).status.success(), "systemd-analyze verify accepted a missing ExecStart binary");
}

/// The watch unit's ExecStart, run by sh with berth replaced by a printer of
/// its arguments, under the given instance environment.
fn watch_args(env: &[(&str, &str)]) -> Vec<String> {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/berth-watch@.service");
    let text = std::fs::read_to_string(unit).unwrap();
    let exec = text.lines().find_map(|l| l.strip_prefix("ExecStart=/bin/sh -c '")).expect("ExecStart=/bin/sh -c '…'");
    // systemd turns $$ into $; the rest is the shell's.
    let script = exec.strip_suffix('\'').unwrap().replace("$$", "$").replace("exec /usr/bin/berth", "printf '%s\\n'");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).env_clear().env("PATH", "/usr/bin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().map(String::from).collect()
}

#[test]
fn the_watch_unit_passes_only_the_flags_its_environment_file_sets() {
    assert_eq!(watch_args(&[("BERTH_REPO", "/srv/my deploy")]), ["watch", "/srv/my deploy"]);
    assert_eq!(
        watch_args(&[
            ("BERTH_REMOTE", "https://git.example.com/ops/deploy.git"),
            ("BERTH_BRANCH", "main"),
            ("BERTH_WATCH_ARGS", "--interval 1m --heal"),
        ]),
        [
            "watch",
            "--remote",
            "https://git.example.com/ops/deploy.git",
            "--branch",
            "main",
            "--interval",
            "1m",
            "--heal"
        ]
    );
    assert_eq!(
        watch_args(&[("BERTH_REMOTE", "file:///srv/x.git"), ("BERTH_BRANCH", "")]),
        ["watch", "--remote", "file:///srv/x.git"]
    );
}

#[test]
fn state_directory_from_systemd_is_the_state_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let state = tmp.path().join("systemd-state");
    let home = tmp.path().join("home");
    let out = berth()
        .args(["validate"])
        .arg(&repo)
        .env("STATE_DIRECTORY", format!("{}:/elsewhere", state.display()))
        .env("HOME", &home)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let key = state.join("fingerprint.key");
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&key), 0o600);
    assert!(!home.exists(), "HOME was used although STATE_DIRECTORY is set");
    // Without STATE_DIRECTORY: $HOME/.local/state/berth.
    let out = berth().args(["validate"]).arg(&repo).env("HOME", &home).output().unwrap();
    assert_exit(&out, 0);
    assert!(home.join(".local/state/berth/fingerprint.key").exists());
}

#[test]
fn without_home_root_keeps_state_in_var_lib_berth_and_others_are_told_what_to_set() {
    if !is_root() {
        eprintln!("skipped: needs root (the unit tests cover the lookup)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let repo = repo(tmp.path());
    let var_lib = Path::new("/var/lib/berth");
    let existed = var_lib.exists();
    let out = berth().args(["validate"]).arg(&repo).env_remove("HOME").output().unwrap();
    let made = var_lib.join("fingerprint.key").exists();
    if !existed {
        let _ = std::fs::remove_dir_all(var_lib);
    }
    assert_exit(&out, 0);
    assert!(made, "root without HOME did not keep its key in /var/lib/berth");
    // Another user without HOME gets no folder at all, and is told why.
    let out = berth().args(["validate"]).arg(&repo).env_remove("HOME").uid_gid(65534).output().unwrap();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("no state folder") && err.contains("STATE_DIRECTORY"), "{err}");
    assert!(!err.contains("/tmp"), "{err}");
}

trait UidGid {
    fn uid_gid(&mut self, id: u32) -> &mut Self;
}

impl UidGid for Command {
    fn uid_gid(&mut self, id: u32) -> &mut Self {
        std::os::unix::process::CommandExt::gid(self, id);
        std::os::unix::process::CommandExt::uid(self, id)
    }
}

#[test]
fn a_state_folder_or_key_that_others_can_write_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let validate = || berth().args(["validate"]).arg(&repo).env("STATE_DIRECTORY", &state).output().unwrap();
    let out = validate();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains(&format!("chmod go-w {}", state.display())), "{err}");
    assert!(!state.join("fingerprint.key").exists(), "a key was written into an open folder");
    // Fixed as told: accepted.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_exit(&validate(), 0);
    // A key file others can read or write: refused too.
    let key = state.join("fingerprint.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = validate();
    assert_exit(&out, 1);
    assert!(stderr(&out).contains(&format!("chmod 600 {}", key.display())), "{}", stderr(&out));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_exit(&validate(), 0);
    // A folder another user owns.
    if is_root() {
        std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
        let out = validate();
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(err.contains("belongs to uid 65534") && err.contains(&format!("chown 0 {}", state.display())), "{err}");
    }
}

#[test]
fn the_identity_comes_from_systemds_credentials_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let keygen = |name: &str| {
        let file = tmp.path().join(name);
        let out = Command::new("age-keygen").arg("-o").arg(&file).output().expect("age-keygen (package age) runs");
        assert!(out.status.success(), "{}", stderr(&out));
        let text = std::fs::read_to_string(&file).unwrap();
        let public = text.lines().find_map(|l| l.strip_prefix("# public key: ")).unwrap().to_string();
        (file, public)
    };
    let (service_key, public) = keygen("service.txt");
    let (home_key, _) = keygen("home.txt");
    std::fs::write(repo.join("berth.yaml"), format!("project: unattended\nrecipients: [\"{public}\"]\n")).unwrap();
    let creds = tmp.path().join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::copy(&service_key, creds.join("berth-identity")).unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".config/berth")).unwrap();
    std::fs::copy(&home_key, home.join(".config/berth/identity.txt")).unwrap();
    let encrypt = berth()
        .args(["secrets", "encrypt", "db", "-C"])
        .arg(&repo)
        .env("HOME", &home)
        .env("BERTH_STATE_DIR", tmp.path().join("state"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"kind: env\nvalues: {DB: canary}\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert_exit(&encrypt, 0);
    let decrypt = |creds_dir: Option<&Path>| {
        let mut cmd = berth();
        cmd.args(["secrets", "decrypt", "db", "-C"]).arg(&repo).env("HOME", &home);
        if let Some(d) = creds_dir {
            cmd.env("CREDENTIALS_DIRECTORY", d);
        }
        cmd.output().unwrap()
    };
    // The service's credential decrypts; ~/.config's key (not a recipient) is not tried first.
    let out = decrypt(Some(&creds));
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("canary"));
    // Without it, the next source is used: the home key, which the file is not encrypted to.
    let home_origin = home.join(".config/berth/identity.txt").display().to_string();
    let out = decrypt(None);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains(&home_origin), "{}", stderr(&out));
    // A credentials folder without berth-identity (another service's) falls through the same way.
    let empty = tmp.path().join("other-creds");
    std::fs::create_dir_all(&empty).unwrap();
    let out = decrypt(Some(&empty));
    assert_exit(&out, 1);
    assert!(stderr(&out).contains(&home_origin), "{}", stderr(&out));
    // No identity anywhere: the error lists the credential among the places looked.
    std::fs::remove_file(home.join(".config/berth/identity.txt")).unwrap();
    let out = decrypt(Some(&empty));
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("$CREDENTIALS_DIRECTORY/berth-identity"), "{}", stderr(&out));
}
