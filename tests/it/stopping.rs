//! Taking containers down safely, on the real engine: every container berth
//! removes is stopped first (its stop signal, its grace period, then
//! SIGKILL), and a replace never runs two writers on one named volume.

use crate::common::*;

/// A "database": logs its start, and on its stop signal takes `flush`
/// seconds to write a last line, like a database flushing to disk.
fn db(signal_trap: &str, flush: u32, extra: &str) -> String {
    format!(
        r#"image: busybox:1.36
processes:
  db:
    command: ["sh", "-c", "trap 'sleep {flush}; echo flushed $(hostname) >> /data/log; exit 0' {signal_trap}; echo start $(hostname) >> /data/log; while true; do sleep 1; done"]
volumes: ["data:/data"]
{extra}"#
    )
}

/// The volume's log, line by line.
fn log(project: &str) -> Vec<String> {
    let out = docker_ok(&["run", "--rm", "-v", &format!("{project}_data:/data"), "busybox:1.36", "cat", "/data/log"]);
    out.lines().map(String::from).collect()
}

/// Every container the window saw destroyed was stopped (a `stop` event)
/// first: a force remove has no `stop`.
fn assert_stopped_before_destroyed(events: &[Event]) {
    let destroyed: Vec<&Event> = events.iter().filter(|e| e.action == "destroy").collect();
    assert!(!destroyed.is_empty(), "nothing was removed: {events:?}");
    for d in destroyed {
        let stop = events.iter().position(|e| e.action == "stop" && e.id == d.id);
        let gone = events.iter().position(|e| e.action == "destroy" && e.id == d.id);
        assert!(stop.is_some() && stop < gone, "{} was removed without a graceful stop: {events:?}", d.name);
    }
}

#[test]
fn a_replace_stops_the_database_gracefully_before_the_new_one_starts() {
    require_engine();
    let repo = TestRepo::new("graceful-db");
    repo.app("db", &db("TERM", 2, "env: {MODE: one}\n"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let first = repo.containers()[0].id.clone();

    repo.app("db", &db("TERM", 2, "env: {MODE: two}\n"));
    let plan = repo.berth(&["plan"]);
    let p = repo.project();
    assert!(
        stdout(&plan).contains(&format!("~ replace {p}-db-db-1 (env.MODE changed) (stop-first: named volume data)")),
        "{}",
        stdout(&plan)
    );
    let events = EventCounter::start(p);
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let second = repo.containers()[0].id.clone();
    assert_ne!(first, second);
    let seen = events.mutating();
    assert_stopped_before_destroyed(&seen);
    // Stop-first: the old one is dead before the new one starts.
    let died = seen.iter().position(|e| e.action == "die" && e.id == first);
    let started = seen.iter().position(|e| e.action == "start" && e.id == second);
    assert!(died.is_some() && died < started, "the new database started beside the old one: {seen:?}");
    // The old process had its signal and its time to flush.
    let (a, b) = (&first[..12], &second[..12]);
    assert_eq!(log(p), [format!("start {a}"), format!("flushed {a}"), format!("start {b}")]);
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
}

#[test]
fn the_grace_period_is_honoured_then_the_process_is_killed() {
    require_engine();
    let repo = TestRepo::new("grace-period");
    // Flushing takes 3 s, the grace period allows 1 s: SIGKILL comes first.
    repo.app("db", &db("TERM", 3, "stop-grace-period: 1s\nenv: {MODE: one}\n"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let first = repo.containers()[0].id.clone();
    assert_eq!(repo.containers()[0].inspect["Config"]["StopTimeout"], 1);
    repo.app("db", &db("TERM", 3, "stop-grace-period: 1s\nenv: {MODE: two}\n"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let second = repo.containers()[0].id.clone();
    assert_eq!(log(repo.project()), [format!("start {}", &first[..12]), format!("start {}", &second[..12])]);
}

#[test]
fn a_pruned_app_gets_its_own_stop_signal_and_its_volume_stays() {
    require_engine();
    let repo = TestRepo::new("stop-signal");
    repo.app("db", &db("USR1", 0, "stop-signal: SIGUSR1\n"));
    repo.app(
        "keep",
        "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sleep\", \"600\"]\nstop-grace-period: 1s\n",
    );
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let db = repo.containers().into_iter().find(|c| c.name.ends_with("-db-db-1")).unwrap();
    assert_eq!(db.inspect["Config"]["StopSignal"], "SIGUSR1");

    repo.remove_app("db");
    let events = EventCounter::start(repo.project());
    let apply = repo.berth(&["apply", "--auto-approve"]);
    assert_exit(&apply, 0);
    assert!(stdout(&apply).contains(&format!("- remove {} (app not in repository)", db.name)), "{}", stdout(&apply));
    assert_stopped_before_destroyed(&events.mutating());
    assert_eq!(log(repo.project()), [format!("start {}", &db.id[..12]), format!("flushed {}", &db.id[..12])]);
}

#[test]
fn start_first_runs_the_new_container_before_the_old_one_stops() {
    require_engine();
    let repo = TestRepo::new("start-first");
    let app = |v: &str| {
        format!(
            "image: busybox:1.36\nprocesses:\n  worker:\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\nenv: {{V: \"{v}\"}}\n"
        )
    };
    repo.app("w", &app("1"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let first = repo.containers()[0].id.clone();
    repo.app("w", &app("2"));
    let plan = repo.berth(&["plan"]);
    assert!(stdout(&plan).contains("(start-first: no named volume or host port)"), "{}", stdout(&plan));
    let events = EventCounter::start(repo.project());
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let second = repo.containers()[0].id.clone();
    let seen = events.mutating();
    let started = seen.iter().position(|e| e.action == "start" && e.id == second);
    let stopped = seen.iter().position(|e| e.action == "die" && e.id == first);
    assert!(started.is_some() && started < stopped, "start-first started the new one late: {seen:?}");
    assert_stopped_before_destroyed(&seen);
}

#[test]
fn update_order_overrides_the_default() {
    require_engine();
    let repo = TestRepo::new("update-order");
    let app = |v: &str| format!("{}update-order: start-first\n", db("TERM", 0, &format!("env: {{V: \"{v}\"}}\n")));
    repo.app("db", &app("1"));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    repo.app("db", &app("2"));
    let plan = repo.berth(&["plan"]);
    assert!(stdout(&plan).contains("(start-first: update-order)"), "{}", stdout(&plan));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    // Both ran at once on the volume, as asked: the new start precedes the old flush.
    let lines = log(repo.project());
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].starts_with("start ") && lines[2].starts_with("flushed "), "{lines:?}");
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
}
