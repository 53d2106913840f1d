//! The project network, on the real engine: apps reach each other by name,
//! extra networks are joined, and the network goes with the last app.

use crate::common::*;

const API: &str = r#"image: busybox:1.36
processes:
  web:
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www && echo api-says-hi > /www/index.html && httpd -f -p 4000 -h /www & wait"]
"#;

fn client(extra: &str) -> String {
    format!(
        "image: busybox:1.36\nprocesses:\n  worker:\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n{extra}"
    )
}

fn exec(container: &str, cmd: &[&str]) -> std::process::Output {
    let mut args = vec!["exec", container];
    args.extend_from_slice(cmd);
    docker(&args)
}

#[test]
fn apps_reach_each_other_by_name_on_the_project_network() {
    require_engine();
    let repo = TestRepo::new("project-network");
    repo.app("api", API).app("client", &client(""));
    let p = repo.project().to_string();
    let network = format!("{p}_default");
    let plan = repo.berth(&["plan"]);
    assert!(stdout(&plan).contains(&format!("+ network {network} (project network missing")), "{}", stdout(&plan));
    assert!(stdout(&plan).contains(&format!("networks: {network} (aliases api, api-web)")), "{}", stdout(&plan));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    assert_eq!(docker_ok(&["network", "inspect", "--format", "{{index .Labels \"berth.project\"}}", &network]), p);

    let from = format!("{p}-client-worker-1");
    for name in ["api", "api-web"] {
        let got = exec(&from, &["wget", "-qO-", &format!("http://{name}:4000/")]);
        assert!(got.status.success(), "{name} does not resolve: {}", stderr(&got));
        assert_eq!(stdout(&got).trim(), "api-says-hi");
    }
    // The worker answers to its own names too, not to the app's (only `web` or an only process does).
    assert!(exec(&format!("{p}-api-web-1"), &["nslookup", "client-worker"]).status.success());
    assert!(
        exec(&format!("{p}-api-web-1"), &["nslookup", "client"]).status.success(),
        "an only process answers to its app's name"
    );
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);

    // The last app pruned: the network goes too.
    repo.remove_app("api").remove_app("client");
    let apply = repo.berth(&["apply", "--auto-approve", "--allow-empty"]);
    assert_exit(&apply, 0);
    assert!(
        stdout(&apply).contains(&format!("- network {network} (the project's last app was pruned)")),
        "{}",
        stdout(&apply)
    );
    assert!(!docker(&["network", "inspect", &network]).status.success(), "network left behind");
}

#[test]
fn extra_networks_are_joined_and_a_missing_one_is_a_plan_error() {
    require_engine();
    let repo = TestRepo::new("extra-networks");
    let proxy = format!("{}-proxy", repo.project());
    repo.app("client", &client(&format!("networks: [{proxy}]\n")));
    let plan = repo.berth(&["plan"]);
    assert_exit(&plan, 1);
    assert!(
        stdout(&plan)
            .contains(&format!("error: app client: network {proxy} (in `networks:`) does not exist on the engine")),
        "{}",
        stdout(&plan)
    );
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 1);
    assert!(repo.containers().is_empty(), "a refused plan changes nothing");

    let _net = TestNetwork::create(&proxy);
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let c = &repo.containers()[0];
    let nets = c.inspect["NetworkSettings"]["Networks"].as_object().unwrap();
    let mut names: Vec<&str> = nets.keys().map(String::as_str).collect();
    names.sort();
    let own = format!("{}_default", repo.project());
    let mut want = vec![own.as_str(), proxy.as_str()];
    want.sort();
    assert_eq!(names, want, "on the project network and the proxy's, not on the default bridge");
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
}

#[test]
fn the_network_stays_while_a_container_outside_the_project_uses_it() {
    require_engine();
    let repo = TestRepo::new("network-kept");
    repo.app("client", &client(""));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    let network = format!("{}_default", repo.project());
    let _debug = Foreign::run(&format!("{}-debug", repo.project()), &["--network", &network]);
    repo.remove_app("client");
    let apply = repo.berth(&["apply", "--auto-approve", "--allow-empty"]);
    assert_exit(&apply, 0);
    assert!(stdout(&apply).contains(&format!("network {network} is kept")), "{}", stdout(&apply));
    assert!(docker(&["network", "inspect", &network]).status.success());
}

#[test]
fn a_container_made_before_the_project_network_is_replaced_once() {
    require_engine();
    let repo = TestRepo::new("network-migration");
    repo.app("client", &client(""));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    // Recreate it as an older berth did: default bridge, a config label without networks.
    let old = repo.containers().remove(0);
    let mut config: serde_json::Value = serde_json::from_str(old.label("berth.config").unwrap()).unwrap();
    config.as_object_mut().unwrap().remove("networks");
    let mut args: Vec<String> = ["run", "-d", "--name", old.name.as_str()].iter().map(|s| s.to_string()).collect();
    for (k, v) in &old.labels {
        let v = if k == "berth.config" { config.to_string() } else { v.clone() };
        args.extend(["--label".to_string(), format!("{k}={v}")]);
    }
    args.extend(["busybox:1.36", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"].map(String::from));
    docker_ok(&["rm", "-f", &old.name]);
    docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let plan = repo.berth(&["plan", "--detailed-exitcode"]);
    assert_exit(&plan, 2);
    assert!(stdout(&plan).contains(&format!("~ replace {} (networks changed", old.name)), "{}", stdout(&plan));
    assert_exit(&repo.berth(&["apply", "--auto-approve"]), 0);
    assert_exit(&repo.berth(&["plan", "--detailed-exitcode"]), 0);
}
