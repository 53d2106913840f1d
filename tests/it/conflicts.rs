//! Conflicts the plan has the data for are plan errors (exit 1, nothing
//! applied), not engine errors halfway through an apply.

use crate::common::*;

#[test]
fn names_ports_and_cpus_taken_elsewhere_refuse_the_plan() {
    require_engine();
    let repo = TestRepo::new("conflicts");
    let p = repo.project().to_string();
    let (published, held) = (free_port(), free_port());
    repo.app(
        "web",
        &format!(
            "image: busybox:1.36\nprocesses:\n  web:\n    command: [\"sleep\", \"600\"]\n    ports: [\"{published}:80\", \"{held}:81\"]\nresources: {{cpus: 512}}\n"
        ),
    );
    let _name = Foreign::run(&format!("{p}-web-web-1"), &[]);
    let _port = Foreign::run(&format!("{p}-squatter"), &["-p", &format!("{published}:80")]);
    let _listener = std::net::TcpListener::bind(("0.0.0.0", held)).expect("hold a port");

    let plan = repo.berth(&["plan"]);
    assert_exit(&plan, 1);
    let text = stdout(&plan);
    for expected in [
        format!("error: app web: container name {p}-web-web-1 is taken by container "),
        format!("error: app web: host port {published}/tcp of {p}-web-web-1 is already published by container {p}-squatter (not berth's)"),
        format!("error: app web: host port {held}/tcp of {p}-web-web-1 is in use by another process on this host"),
        "error: app web: resources.cpus 512 is more than the engine's".to_string(),
        "Plan refused: 4 error(s); nothing will be applied.".to_string(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    let events = EventCounter::start(&p);
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 1);
    assert!(repo.containers().is_empty());
    assert_eq!(events.mutating(), vec![]);
}
