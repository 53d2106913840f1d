//! Readiness: reading one container inspection as "ready", "not yet" or
//! "failed". Pure, so the rules are unit-tested without an engine; the
//! polling loop lives in `docker.rs`.

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum, RestartPolicyNameEnum};

/// What one inspection says about a container that was just started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Running and healthy: the container has a healthcheck and passed it.
    Healthy,
    /// A `restart: "no"` process that ran and exited 0: a finished job.
    Completed,
    /// Running, no healthcheck. Ready once it has stayed up a little while
    /// (`since` identifies this run: it changes when the engine restarts it).
    Running { since: String },
    /// Not there yet; the text says what is awaited ("waiting for …").
    Waiting(String),
    /// It will not become ready by itself; the text says why.
    Failed(String),
}

/// Classifies one inspection.
pub fn classify(info: &ContainerInspectResponse) -> Readiness {
    let Some(state) = info.state.as_ref() else {
        return Readiness::Waiting("the engine to report its state".into());
    };
    let exit = || match state.exit_code {
        Some(code) => format!("exited with code {code}"),
        None => "exited".to_string(),
    };
    let detail = || {
        let mut s = String::new();
        if state.oom_killed == Some(true) {
            s.push_str(" (killed: out of memory)");
        }
        if let Some(e) = state.error.as_deref().filter(|e| !e.is_empty()) {
            s.push_str(&format!(" ({e})"));
        }
        s
    };
    let restarts = info
        .host_config
        .as_ref()
        .and_then(|h| h.restart_policy.as_ref())
        .and_then(|r| r.name)
        .is_some_and(|n| n != RestartPolicyNameEnum::NO && n != RestartPolicyNameEnum::EMPTY);
    match state.status {
        Some(ContainerStateStatusEnum::EXITED) if state.exit_code == Some(0) && !restarts => {
            return Readiness::Completed
        }
        Some(ContainerStateStatusEnum::EXITED) | Some(ContainerStateStatusEnum::DEAD) => {
            return Readiness::Failed(format!("{}{}", exit(), detail()))
        }
        Some(ContainerStateStatusEnum::RESTARTING) => {
            return Readiness::Failed(format!("{} and is being restarted{}", exit(), detail()))
        }
        Some(ContainerStateStatusEnum::REMOVING) => return Readiness::Failed("is being removed".into()),
        Some(ContainerStateStatusEnum::RUNNING) => {}
        Some(ContainerStateStatusEnum::PAUSED) => return Readiness::Waiting("it to be unpaused".into()),
        _ => return Readiness::Waiting("it to start".into()),
    }
    // Running. A restart since creation means it already crashed once.
    if let Some(n) = info.restart_count.filter(|n| *n > 0) {
        return Readiness::Failed(format!("crashed and was restarted {n} time(s)"));
    }
    if !has_healthcheck(info) {
        return Readiness::Running { since: state.started_at.clone().unwrap_or_default() };
    }
    let health = state.health.as_ref();
    match health.and_then(|h| h.status) {
        Some(HealthStatusEnum::HEALTHY) => Readiness::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => {
            let output = health
                .and_then(|h| h.log.as_ref())
                .and_then(|log| log.last())
                .and_then(|r| r.output.as_deref())
                .map(str::trim)
                .filter(|o| !o.is_empty());
            match output {
                Some(o) => Readiness::Failed(format!("healthcheck failed: {o}")),
                None => Readiness::Failed("healthcheck failed".into()),
            }
        }
        _ => Readiness::Waiting("its healthcheck to pass".into()),
    }
}

/// Whether the container has a healthcheck (its own or its image's).
fn has_healthcheck(info: &ContainerInspectResponse) -> bool {
    let declared = info
        .config
        .as_ref()
        .and_then(|c| c.healthcheck.as_ref())
        .and_then(|h| h.test.as_ref())
        .and_then(|t| t.first())
        .is_some_and(|first| first != "NONE");
    let reported = info
        .state
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status)
        .is_some_and(|s| s != HealthStatusEnum::NONE);
    declared || reported
}

/// The last `n` lines of `text`, with every secret value replaced.
pub fn log_tail(text: &str, n: usize, secrets: &[String]) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| redact(l, secrets)).collect()
}

/// Replaces every occurrence of a secret value with a marker.
pub fn redact(line: &str, secrets: &[String]) -> String {
    let mut out = line.to_string();
    for s in secrets {
        if !s.is_empty() {
            out = out.replace(s.as_str(), "(sensitive value)");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, ContainerState, Health, HealthConfig, HealthcheckResult};

    fn info(status: ContainerStateStatusEnum) -> ContainerInspectResponse {
        ContainerInspectResponse {
            state: Some(ContainerState {
                status: Some(status),
                exit_code: Some(0),
                started_at: Some("t1".into()),
                ..Default::default()
            }),
            restart_count: Some(0),
            ..Default::default()
        }
    }

    fn with_check(
        mut i: ContainerInspectResponse,
        status: Option<HealthStatusEnum>,
        output: &str,
    ) -> ContainerInspectResponse {
        i.config = Some(ContainerConfig {
            healthcheck: Some(HealthConfig { test: Some(vec!["CMD".into(), "true".into()]), ..Default::default() }),
            ..Default::default()
        });
        let log = vec![HealthcheckResult { output: Some(output.into()), exit_code: Some(1), ..Default::default() }];
        i.state.as_mut().unwrap().health = Some(Health { status, failing_streak: None, log: Some(log) });
        i
    }

    #[test]
    fn running_without_check_waits_for_uptime() {
        assert_eq!(classify(&info(ContainerStateStatusEnum::RUNNING)), Readiness::Running { since: "t1".into() });
    }

    #[test]
    fn created_is_waiting() {
        assert_eq!(classify(&info(ContainerStateStatusEnum::CREATED)), Readiness::Waiting("it to start".into()));
    }

    #[test]
    fn a_job_that_exited_0_without_restarts_is_complete() {
        let mut i = info(ContainerStateStatusEnum::EXITED);
        assert_eq!(classify(&i), Readiness::Completed);
        i.host_config = Some(bollard::models::HostConfig {
            restart_policy: Some(bollard::models::RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        });
        assert_eq!(classify(&i), Readiness::Failed("exited with code 0".into()), "a service that exits failed");
    }

    #[test]
    fn exited_fails_with_code_and_reason() {
        let mut i = info(ContainerStateStatusEnum::EXITED);
        i.state.as_mut().unwrap().exit_code = Some(137);
        i.state.as_mut().unwrap().oom_killed = Some(true);
        assert_eq!(classify(&i), Readiness::Failed("exited with code 137 (killed: out of memory)".into()));
    }

    #[test]
    fn restarting_or_restarted_fails() {
        let mut i = info(ContainerStateStatusEnum::RESTARTING);
        i.state.as_mut().unwrap().exit_code = Some(3);
        assert_eq!(classify(&i), Readiness::Failed("exited with code 3 and is being restarted".into()));
        let mut i = info(ContainerStateStatusEnum::RUNNING);
        i.restart_count = Some(2);
        assert!(matches!(classify(&i), Readiness::Failed(m) if m.contains("restarted 2 time")));
    }

    #[test]
    fn healthcheck_decides_when_present() {
        let base = || info(ContainerStateStatusEnum::RUNNING);
        assert_eq!(
            classify(&with_check(base(), Some(HealthStatusEnum::STARTING), "")),
            Readiness::Waiting("its healthcheck to pass".into())
        );
        assert_eq!(classify(&with_check(base(), Some(HealthStatusEnum::HEALTHY), "")), Readiness::Healthy);
        assert_eq!(
            classify(&with_check(base(), Some(HealthStatusEnum::UNHEALTHY), "connection refused\n")),
            Readiness::Failed("healthcheck failed: connection refused".into())
        );
        // Declared but not yet reported: still starting.
        assert_eq!(classify(&with_check(base(), None, "")), Readiness::Waiting("its healthcheck to pass".into()));
    }

    #[test]
    fn log_tail_keeps_last_lines_and_redacts() {
        let text = "a\nb\n\nc token=hunter2\n";
        assert_eq!(
            log_tail(text, 2, &["hunter2".into()]),
            vec!["b".to_string(), "c token=(sensitive value)".to_string()]
        );
    }
}
