//! Repository files mounted into containers travel to the engine: on the
//! real engine, a container sees them from a read-only volume named by
//! their content, another checkout plans nothing, new content replaces
//! with a reason, and an unfinished fill is finished.

use crate::common::*;
use std::path::Path;

const APP: &str = r#"image: busybox:1.36
processes:
  web:
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
volumes: ["./site:/srv:ro"]
"#;

fn site(repo: &TestRepo) {
    repo.file("site/index.html", "hello from the repository\n").file("site/css/a.css", "a{}\n");
    std::os::unix::fs::symlink("index.html", repo.path().join("site/home.html")).unwrap();
}

fn exec(container: &str, cmd: &[&str]) -> std::process::Output {
    let mut args = vec!["exec", container];
    args.extend_from_slice(cmd);
    docker(&args)
}

/// The volume the plan fills (from its JSON), if any.
fn planned_volume(repo: &TestRepo) -> Option<String> {
    let out = repo.berth(&["plan", "--output", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    plan["actions"]
        .as_array()?
        .iter()
        .find(|a| a["kind"] == "volume" && a["detail"]["files"].is_object())
        .map(|a| a["target"].as_str().unwrap().to_string())
}

/// `berth plan DIR --detailed-exitcode` with a state dir and HOME of its
/// own: another CI runner with another checkout.
fn plan_elsewhere(dir: &Path) -> std::process::Output {
    let fresh = tempfile::tempdir().unwrap();
    let mut cmd = berth();
    cmd.env("BERTH_STATE_DIR", fresh.path().join("state")).env("HOME", fresh.path().join("home"));
    cmd.arg("plan").arg(dir).arg("--detailed-exitcode").output().expect("run berth")
}

/// The engine's events about `volume` and its helper container since `since`.
fn volume_events(volume: &str, since: std::time::SystemTime) -> Vec<String> {
    let ts = |t: std::time::SystemTime| {
        let d = t.duration_since(std::time::UNIX_EPOCH).unwrap();
        format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
    };
    let until = ts(std::time::SystemTime::now() + std::time::Duration::from_millis(300));
    let helper = format!("{volume}-fill");
    let mut all = Vec::new();
    for filter in [format!("volume={volume}"), format!("container={helper}")] {
        let out = docker_ok(&["events", "--since", &ts(since), "--until", &until, "--filter", &filter]);
        all.extend(out.lines().map(String::from));
    }
    all
}

#[test]
fn a_container_sees_the_files_from_a_read_only_volume_and_another_checkout_plans_nothing() {
    require_engine();
    let repo = TestRepo::new("repo-files");
    repo.app("web", APP);
    site(&repo);
    let p = repo.project().to_string();
    let volume = planned_volume(&repo).expect("a volume of repository files is planned");
    assert!(volume.starts_with(&format!("{p}_files-")) && volume.len() == p.len() + 7 + 12, "{volume}");
    let _helper = Foreign(format!("{volume}-fill")); // removed if a fill fails half-way

    let plan = stdout(&repo.berth(&["plan"]));
    assert!(
        plan.contains(&format!("+ volume {volume} (repository files ./site for app web: 3 files, 30 bytes)")),
        "{plan}"
    );
    assert!(plan.contains(&format!("volumes: ./site:/srv:ro (files {})", &volume[volume.len() - 12..])), "{plan}");
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);

    let name = format!("{p}-web-web-1");
    let seen = exec(&name, &["cat", "/srv/index.html", "/srv/home.html", "/srv/css/a.css"]);
    assert_eq!(stdout(&seen), "hello from the repository\nhello from the repository\na{}\n", "{}", stderr(&seen));
    assert!(!exec(&name, &["touch", "/srv/new"]).status.success(), "the files are read-only");
    // A volume, no host path: a remote engine mounts the same.
    let c = &repo.containers()[0];
    let mounts = c.inspect["HostConfig"]["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!((mounts[0]["Type"].as_str(), mounts[0]["Source"].as_str()), (Some("volume"), Some(volume.as_str())));
    assert!(c.inspect["HostConfig"]["Binds"].is_null(), "{}", c.inspect["HostConfig"]["Binds"]);
    assert!(!c.inspect["Mounts"].to_string().contains(&repo.path().to_string_lossy().into_owned()));
    assert_eq!(docker_ok(&["volume", "inspect", "--format", "{{index .Labels \"berth.project\"}}", &volume]), p);
    assert!(!docker(&["container", "inspect", &format!("{volume}-fill")]).status.success(), "helper left behind");

    // An unchanged repository: no change, no mutating call, from here or
    // from another checkout in another folder with an empty state dir.
    let events = EventCounter::start(&p);
    let since = std::time::SystemTime::now();
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    // A git clone: other mtimes, modes as git keeps them, another path.
    repo.git_init().commit("site");
    let clone = tempfile::tempdir().unwrap();
    let checkout = clone.path().join("checkout");
    let out =
        std::process::Command::new("git").arg("clone").arg("-q").arg(repo.path()).arg(&checkout).output().unwrap();
    assert!(out.status.success(), "git clone: {}", stderr(&out));
    let elsewhere = plan_elsewhere(&checkout);
    assert_exit(&elsewhere, 0);
    assert!(stdout(&elsewhere).contains("No changes."), "{}", stdout(&elsewhere));
    assert_eq!(events.mutating(), vec![]);
    assert_eq!(volume_events(&volume, since), Vec::<String>::new(), "the volume is not filled again");
}

#[test]
fn new_content_fills_a_new_volume_and_replaces_with_a_reason() {
    require_engine();
    let repo = TestRepo::new("repo-files-change");
    repo.app("web", APP).app("api", &APP.replace("/srv:ro", "/www:ro"));
    site(&repo);
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let old = repo.containers().iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let p = repo.project().to_string();
    let volumes = |p: &str| docker_ok(&["volume", "ls", "-q", "--filter", &format!("name={p}_files-")]);
    let before = volumes(&p);
    assert_eq!(before.lines().count(), 1, "two apps, the same files: one volume\n{before}");

    repo.file("site/index.html", "new content\n");
    let new = planned_volume(&repo).expect("new content is a new volume");
    let _helper = Foreign(format!("{new}-fill"));
    let out = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&out, 2);
    let text = stdout(&out);
    let (was, now) = (&before.trim()[before.trim().len() - 12..], &new[new.len() - 12..]);
    for app in ["api", "web"] {
        assert!(text.contains(&format!("~ replace {p}-{app}-web-1 (repository files ./site changed)")), "{text}");
    }
    assert!(text.contains(&format!("volumes: ./site:/srv:ro (files {was}) → ./site:/srv:ro (files {now})")), "{text}");
    assert!(text.contains(&format!("+ volume {new} (repository files ./site for app api, web:")), "{text}");

    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    for c in repo.containers() {
        assert!(!old.contains(&c.id), "{} was not replaced", c.name);
        let target = if c.name.contains("-api-") { "/www/index.html" } else { "/srv/index.html" };
        assert_eq!(stdout(&exec(&c.name, &["cat", target])), "new content\n");
    }
    assert!(volumes(&p).contains(before.trim()), "volumes are never deleted");
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
}

#[test]
fn an_unfinished_fill_is_finished_by_the_next_apply() {
    require_engine();
    let repo = TestRepo::new("repo-files-unfinished");
    repo.app("web", APP);
    site(&repo);
    let volume = planned_volume(&repo).unwrap();
    // What a fill cut short leaves: the volume with part of the files, and
    // its helper (here made of busybox: berth's own image may not be there yet).
    let helper = Foreign(format!("{volume}-fill"));
    docker_ok(&["volume", "create", "--label", &format!("berth.project={}", repo.project()), &volume]);
    docker_ok(&["create", "--name", &helper.0, "-v", &format!("{volume}:/files"), "busybox:1.36", "true"]);
    docker_ok(&["cp", &repo.path().join("site/css").to_string_lossy(), &format!("{}:/files/", helper.0)]);

    let plan = stdout(&repo.berth(&["plan"]));
    assert!(plan.contains(&format!("+ volume {volume} (repository files ./site for app web: 3 files, 30 bytes; an earlier fill did not finish)")), "{plan}");
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    assert!(!docker(&["container", "inspect", &helper.0]).status.success(), "the helper is gone");
    let name = format!("{}-web-web-1", repo.project());
    assert_eq!(stdout(&exec(&name, &["cat", "/srv/index.html"])), "hello from the repository\n");
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
}

#[test]
fn a_symlink_out_of_the_repository_is_refused_where_the_folder_is_mounted() {
    let repo = TestRepo::new("repo-files-symlink");
    repo.app("web", APP);
    site(&repo);
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("site/passwd")).unwrap();
    let out = repo.berth(&["validate"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(
            "apps/web.yaml:5:11: repository folder ./site has a symlink passwd → /etc/passwd that is absolute: it leaves the repository"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_repository_file_is_linked_from_its_read_only_volume() {
    require_engine();
    let repo = TestRepo::new("repo-files-one-file");
    let app = APP.replace(
        r#"volumes: ["./site:/srv:ro"]"#,
        r#"volumes: ["./conf/app.conf:/etc/app/app.conf:ro", "./conf/app.conf:/etc/stand-in-version:ro"]"#,
    );
    repo.app("web", &app).file("conf/app.conf", "answer=42\n").file("conf/other.conf", "not shipped\n");
    let volume = planned_volume(&repo).expect("the file's volume is planned");
    let _helper = Foreign(format!("{volume}-fill"));
    let plan = stdout(&repo.berth(&["plan"]));
    assert!(
        plan.contains(&format!("+ volume {volume} (repository files ./conf/app.conf for app web: 1 file, 10 bytes)")),
        "{plan}"
    );
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);

    let name = format!("{}-web-web-1", repo.project());
    for path in ["/etc/app/app.conf", "/etc/stand-in-version"] {
        let seen = exec(&name, &["cat", path]);
        assert_eq!(stdout(&seen), "answer=42\n", "{path}: {}", stderr(&seen));
    }
    assert!(!exec(&name, &["sh", "-c", "echo x > /etc/app/app.conf"]).status.success(), "read-only");
    assert_eq!(stdout(&exec(&name, &["ls", &format!("/.berth/{volume}")])), "app.conf\n", "only that file");
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);

    repo.file("conf/app.conf", "answer=43\n");
    let out = repo.berth(&["apply", "--auto-approve"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("(repository files ./conf/app.conf changed)"), "{}", stdout(&out));
    assert_eq!(stdout(&exec(&name, &["cat", "/etc/app/app.conf"])), "answer=43\n");
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
}

#[test]
fn files_changed_after_a_saved_plan_fail_their_apps_before_the_engine_sees_them() {
    require_engine();
    let repo = TestRepo::new("repo-files-saved");
    repo.app("web", APP).app("other", &APP.replace(r#"volumes: ["./site:/srv:ro"]"#, ""));
    site(&repo);
    let file = repo.state_dir().join("plan.json");
    let file = file.to_str().unwrap();
    assert_exit(&repo.berth(&["plan", "--out", file]), 0);
    let volume = planned_volume(&repo).unwrap();
    let _helper = Foreign(format!("{volume}-fill"));

    repo.file("site/index.html", "edited after the plan\n");
    let out = repo.command().args(["apply", file, "--auto-approve"]).output().unwrap();
    assert_exit(&out, 1);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("repository files ./site changed since the plan"), "{all}");
    let names: Vec<String> = repo.containers().into_iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [format!("{}-other-web-1", repo.project())],
        "the app that needs the files failed, not the other"
    );
    assert!(!docker(&["volume", "inspect", &volume]).status.success(), "nothing was sent");
}
