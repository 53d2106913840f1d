//! Credentials end to end on the real engine and a registry with auth:
//! secret env reaches the container and nothing else (canary search),
//! rotation redeploys, private pulls use the age-encrypted login.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

const SLEEPER: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;

fn run(repo: &TestRepo, key: &Key, args: &[&str], trace: bool) -> Output {
    let (sub, rest) = args.split_first().unwrap();
    let mut cmd = repo.command();
    cmd.env("BERTH_AGE_IDENTITY", &key.file).arg(sub).arg(repo.dir()).args(rest);
    if trace {
        cmd.env("RUST_LOG", "trace");
    }
    cmd.output().expect("berth runs")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    walk(dir).into_iter().filter(|p| p.is_file()).collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.clone());
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

#[test]
fn secrets_reach_the_container_and_nothing_else() {
    require_engine();
    let canary_env = format!("canary-env-{}", std::process::id());
    let canary_pw = format!("canary-pw-{}", std::process::id());
    let registry = LocalRegistry::with_auth("bob", &canary_pw);
    let image = registry.push("busybox:1.36", "private/bb:1", Some(("bob", &canary_pw)));
    docker(&["rmi", &image]); // berth must pull it, with the credential
    let _untag = Untag(image.clone());

    let repo = TestRepo::new("canary");
    let key = keygen(&repo.state_dir());
    repo.berth_yaml(&format!("recipients: [{}]\n", key.public));
    age_encrypt(&repo, "db", &key.public, &format!("kind: env\nvalues:\n  DATABASE_URL: {canary_env}\n"));
    age_encrypt(
        &repo,
        "private",
        &key.public,
        &format!("kind: registry\nserver: {}\nusername: bob\npassword: {canary_pw}\n", registry.host()),
    );
    repo.app(
        "api",
        &format!(
            "image: {image}\nsecret-env: [db]\nenv: {{PLAIN: visible}}\nprocesses:\n  web:\n    command: {SLEEPER}\n"
        ),
    );

    let plan_file = repo.state_dir().join("saved-plan.json");
    let mut outputs = Vec::new();
    for (args, code) in [
        (vec!["validate"], 0),
        (vec!["plan"], 0),
        (vec!["plan", "--output", "json"], 0),
        (vec!["plan", "--out", plan_file.to_str().unwrap()], 0),
        (vec!["report", "--format", "json"], 0),
        (vec!["report"], 0),
        (vec!["apply", "--auto-approve"], 0),
        (vec!["drift"], 0),
        (vec!["drift", "--output", "json"], 0),
        (vec!["plan", "--detailed-exitcode"], 0),
    ] {
        let out = run(&repo, &key, &args, true);
        assert_exit(&out, code);
        outputs.push((args.join(" "), out));
    }
    let plan_text = stdout(&outputs[1].1);
    assert!(plan_text.contains(&format!("↓ pull {image}")), "{plan_text}");
    assert!(plan_text.contains("env.DATABASE_URL: (sensitive)"), "{plan_text}");
    assert!(plan_text.contains(r#"env.PLAIN: "visible""#), "{plan_text}");
    let report: serde_json::Value = serde_json::from_str(&stdout(&outputs[4].1)).unwrap();
    assert_eq!(report["pull-credential"], "private");
    assert!(report["pull-credential-reason"].as_str().unwrap().contains(&registry.host()), "{report}");

    // The container got the secret: the one place it belongs.
    let c = repo.containers().into_iter().next().expect("container");
    assert_eq!(c.env_var("DATABASE_URL"), Some(canary_env.as_str()));

    // Nowhere else: outputs, labels, the saved plan, files berth wrote, ~/.docker.
    let mut haystacks: Vec<(String, String)> = Vec::new();
    for (what, out) in &outputs {
        haystacks.push((format!("stdout of {what}"), stdout(out)));
        haystacks.push((format!("stderr of {what}"), stderr(out)));
    }
    haystacks.push(("labels".into(), format!("{:?}", c.labels)));
    for dir in [repo.state_dir(), repo.home(), repo.dir()] {
        for f in files_under(&dir) {
            if f.extension().is_some_and(|e| e == "age") {
                continue;
            }
            haystacks
                .push((f.display().to_string(), String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned()));
        }
    }
    if let Ok(real) = std::fs::read_to_string("/root/.docker/config.json") {
        haystacks.push(("/root/.docker/config.json".into(), real));
    }
    assert!(haystacks.iter().any(|(w, _)| w.ends_with("saved-plan.json")), "the saved plan is searched");
    for (what, text) in &haystacks {
        for canary in [&canary_env, &canary_pw] {
            assert!(!text.contains(canary.as_str()), "secret {canary} leaked into {what}");
        }
    }

    // Rotating the secret redeploys, shown only as a sensitive change.
    let old_hash = c.label("berth.spec-hash").unwrap().to_string();
    let rotated = format!("{canary_env}-rotated");
    age_encrypt(&repo, "db", &key.public, &format!("kind: env\nvalues:\n  DATABASE_URL: {rotated}\n"));
    let plan = run(&repo, &key, &["plan", "--detailed-exitcode"], false);
    assert_exit(&plan, 2);
    assert!(stdout(&plan).contains("env.DATABASE_URL: (sensitive value changed)"), "{}", stdout(&plan));
    assert!(!stdout(&plan).contains(&rotated));
    assert_exit(&run(&repo, &key, &["apply", "--auto-approve"], false), 0);
    let c = repo.containers().into_iter().next().unwrap();
    assert_eq!(c.env_var("DATABASE_URL"), Some(rotated.as_str()));
    assert_ne!(c.label("berth.spec-hash").unwrap(), old_hash);
    assert_exit(&run(&repo, &key, &["plan", "--detailed-exitcode"], false), 0);

    // A saved plan made before a rotation is refused rather than applied with other values.
    let stale = repo.state_dir().join("stale.json");
    docker_ok(&["rm", "-f", &c.name]);
    assert_exit(&run(&repo, &key, &["plan", "--out", stale.to_str().unwrap()], false), 0);
    age_encrypt(&repo, "db", &key.public, "kind: env\nvalues:\n  DATABASE_URL: third\n");
    let out = repo
        .command()
        .env("BERTH_AGE_IDENTITY", &key.file)
        .args(["apply", stale.to_str().unwrap(), "--auto-approve"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    // Its credential file is not the one planned any more.
    assert!(stderr(&out).contains("it was made from uncommitted files"), "{}", stderr(&out));
}

#[test]
fn a_wrong_password_fails_the_pull_naming_the_credential() {
    require_engine();
    let registry = LocalRegistry::with_auth("bob", "right-password");
    let image = registry.push("busybox:1.36", "private/denied:1", Some(("bob", "right-password")));
    docker(&["rmi", &image]);
    let _untag = Untag(image.clone());
    let repo = TestRepo::new("deniedpull");
    let key = keygen(&repo.state_dir());
    age_encrypt(
        &repo,
        "reg",
        &key.public,
        &format!("kind: registry\nserver: {}\nusername: bob\npassword: wrong-password-x\n", registry.host()),
    );
    repo.app("a", &format!("image: {image}\nprocesses:\n  web:\n    command: {SLEEPER}\n"));
    let out = run(&repo, &key, &["apply", "--auto-approve"], false);
    assert_exit(&out, 1);
    let err = format!("{}{}", stdout(&out), stderr(&out));
    assert!(err.contains(&image) && err.contains("credential `reg`"), "{err}");
    assert!(!err.contains("wrong-password-x"));
    assert_eq!(repo.containers().len(), 0);
}

#[test]
fn several_matching_credentials_need_a_choice_or_a_default() {
    require_engine();
    let repo = TestRepo::new("severalcreds");
    let key = keygen(&repo.state_dir());
    for name in ["one", "two"] {
        age_encrypt(
            &repo,
            name,
            &key.public,
            &format!("kind: registry\nserver: 127.0.0.1:5999\nusername: {name}\npassword: p\n"),
        );
    }
    repo.app("a", "image: 127.0.0.1:5999/x:1\n");
    let out = run(&repo, &key, &["validate"], false);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("several credentials are for 127.0.0.1:5999 (one, two)"), "{}", stderr(&out));

    repo.berth_yaml("credentials: {default: two}\n");
    let out = run(&repo, &key, &["report", "--format", "json"], false);
    assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["pull-credential"], "two");
    assert_eq!(v["default-credential"], "two");
    assert_eq!(v["default-credential-reason"], "credentials.default in berth.yaml");
}

#[test]
fn the_default_credential_is_the_first_added_in_git_history() {
    require_engine();
    let repo = TestRepo::new("gitdefault");
    let key = keygen(&repo.state_dir());
    repo.git_init();
    repo.app("a", "image: busybox:1.36\n");
    age_encrypt(&repo, "zeta", &key.public, "kind: registry\nserver: ghcr.io\nusername: z\npassword: p\n");
    repo.commit("zeta first");
    age_encrypt(&repo, "alpha", &key.public, "kind: registry\nserver: quay.io\nusername: a\npassword: p\n");
    repo.commit("then alpha");
    let out = run(&repo, &key, &["report", "--format", "json"], false);
    assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["default-credential"], "zeta", "{v}");
    assert!(v["default-credential-reason"].as_str().unwrap().contains("git history"));
    assert_eq!(v["pull-credential"], "", "busybox is on Docker Hub: anonymous");
}

/// A private image behind bearer-token auth (the Docker Hub / GHCR challenge
/// flow) and one behind TLS with a custom CA, each deployed by a spec whose
/// credential is an age file; `pull.policy: always` makes berth's own client
/// walk the same auth flow for the digest check.
#[test]
fn deploys_from_token_auth_and_tls_registries() {
    require_engine();
    let token = TestRegistry::with_token_auth("alice", "tok-pass");
    let tls = TestRegistry::start(RegistrySetup {
        tls: true,
        ca_in_certs_d: true,
        token_auth: None,
        basic_auth: Some(("carol".into(), "tls-pass".into())),
    });
    let a = token.push("busybox:1.36", "team/a:1", Some(("alice", "tok-pass"))).reference;
    let b = tls.push("busybox:1.36", "team/b:1", Some(("carol", "tls-pass"))).reference;
    let (_ua, _ub) = (Untag(a.clone()), Untag(b.clone()));
    let repo = TestRepo::new("tokentls");
    let key = keygen(&repo.state_dir());
    age_encrypt(
        &repo,
        "tok",
        &key.public,
        &format!("kind: registry\nserver: {}\nusername: alice\npassword: tok-pass\n", token.host()),
    );
    age_encrypt(
        &repo,
        "tls",
        &key.public,
        &format!("kind: registry\nserver: {}\nusername: carol\npassword: tls-pass\n", tls.host()),
    );
    for (name, image) in [("a", &a), ("b", &b)] {
        repo.app(
            name,
            &format!("image: {image}\npull: {{policy: always}}\nprocesses:\n  web:\n    command: {SLEEPER}\n"),
        );
    }
    let plan = run(&repo, &key, &["plan"], false);
    assert_exit(&plan, 0);
    assert!(
        stdout(&plan).contains(&format!("↓ pull {a}")) && stdout(&plan).contains(&format!("↓ pull {b}")),
        "{}",
        stdout(&plan)
    );
    assert_exit(&run(&repo, &key, &["apply", "--auto-approve"], false), 0);
    assert_eq!(repo.containers().len(), 2);
    assert_exit(&run(&repo, &key, &["plan", "--detailed-exitcode"], false), 0);
}
