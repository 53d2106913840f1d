//! The apply lock as an object on the engine, so every machine that talks
//! to the engine sees it: a container named `berth-lock-<project>`, created
//! and never started. Container names are unique per engine and reserved
//! atomically by the engine, so creating it is a test-and-set.
//!
//! Its labels say who holds it (user, host, pid, command) and the lease.
//! The holder renews the lease by writing how long it has held the lock
//! into the container's restart-policy retry count — the one value of a
//! never-started container that `docker update` changes in place. A lock
//! is expired when the engine's clock is past its creation time plus that
//! value plus the lease: only the engine's clock is compared with itself,
//! so clocks of different machines never matter.
//!
//! A created container needs an image: `berth/empty:1` (see `files`), an
//! empty image berth imports itself; the lock never runs.

use super::calls::{call, read, status, unreached};
use super::DockerEngine;
use crate::observe::{EngineError, LockAttempt, LockHolder, LockInfo};
use bollard::models::{ContainerCreateBody, ContainerUpdateBody, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::files::{empty_image, EMPTY_IMAGE};

mod label {
    pub const LOCK: &str = "berth.lock";
    pub const USER: &str = "berth.lock.user";
    pub const HOST: &str = "berth.lock.host";
    pub const PID: &str = "berth.lock.pid";
    pub const COMMAND: &str = "berth.lock.command";
    pub const LEASE: &str = "berth.lock.lease";
}

fn name(project: &str) -> String {
    format!("berth-lock-{project}")
}

pub(super) async fn try_lock(
    e: &DockerEngine,
    project: &str,
    holder: &LockHolder,
    lease: Duration,
) -> Result<LockAttempt, EngineError> {
    empty_image(e).await?;
    let labels = HashMap::from([
        (label::LOCK.to_string(), project.to_string()),
        (label::USER.to_string(), holder.user.clone()),
        (label::HOST.to_string(), holder.host.clone()),
        (label::PID.to_string(), holder.pid.to_string()),
        (label::COMMAND.to_string(), holder.command.clone()),
        (label::LEASE.to_string(), lease.as_secs().max(1).to_string()),
    ]);
    let body = ContainerCreateBody {
        image: Some(EMPTY_IMAGE.to_string()),
        cmd: Some(vec!["berth-lock".to_string()]),
        labels: Some(labels),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::new().name(&name(project)).build();
    match unreached(|| e.docker.create_container(Some(opts.clone()), body.clone())).await {
        Ok(created) => Ok(LockAttempt::Acquired { id: created.id }),
        // The name is taken: someone holds it (or held it and crashed).
        Err(err) if status(&err) == Some(409) => match lock_of(e, project).await? {
            Some(info) => Ok(LockAttempt::Held(info)),
            // Released between our create and our look: try again.
            None => Ok(LockAttempt::Retry),
        },
        Err(err) => Err(call(format!("create the lock of project {project}"))(err)),
    }
}

pub(super) async fn renew(e: &DockerEngine, id: &str, held_for: Duration) -> Result<(), EngineError> {
    let secs = i64::try_from(held_for.as_secs()).unwrap_or(i64::MAX);
    let body = ContainerUpdateBody {
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::ON_FAILURE),
            maximum_retry_count: Some(secs),
        }),
        ..Default::default()
    };
    unreached(|| e.docker.update_container(id, body.clone())).await.map_err(call(format!("renew the lock {id}")))
}

pub(super) async fn unlock(e: &DockerEngine, id: &str) -> Result<(), EngineError> {
    // By id, never by name: a lock taken over by someone else is theirs.
    let opts = RemoveContainerOptionsBuilder::new().force(false).v(false).build();
    match unreached(|| e.docker.remove_container(id, Some(opts.clone()))).await {
        Ok(()) => Ok(()),
        Err(err) if status(&err) == Some(404) => Ok(()),
        Err(err) => Err(call(format!("remove the lock {id}"))(err)),
    }
}

/// The project's lock, if any, with whether its lease ran out.
pub(super) async fn lock_of(e: &DockerEngine, project: &str) -> Result<Option<LockInfo>, EngineError> {
    let lock = name(project);
    let info = match read(|| e.docker.inspect_container(&lock, None)).await {
        Ok(info) => info,
        Err(err) if status(&err) == Some(404) => return Ok(None),
        Err(err) => return Err(call(format!("inspect the lock of project {project}"))(err)),
    };
    let labels = info.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let created = info.created.as_deref().and_then(parse_time);
    let renewed = info
        .host_config
        .as_ref()
        .and_then(|h| h.restart_policy.as_ref())
        .and_then(|r| r.maximum_retry_count)
        .unwrap_or(0);
    let lease = get(label::LEASE).parse::<u64>().unwrap_or(30);
    let now = engine_time(e).await?;
    let age = |t: SystemTime| now.duration_since(t).unwrap_or_default();
    let (since, idle) = match created {
        Some(c) => (age(c), age(c).saturating_sub(Duration::from_secs(renewed.max(0) as u64))),
        None => (Duration::ZERO, Duration::ZERO),
    };
    Ok(Some(LockInfo {
        id: info.id.unwrap_or_default(),
        holder: LockHolder {
            user: get(label::USER),
            host: get(label::HOST),
            pid: get(label::PID).parse().unwrap_or(0),
            command: get(label::COMMAND),
        },
        held_for: since,
        lease: Duration::from_secs(lease),
        expired: idle > Duration::from_secs(lease),
    }))
}

/// The engine's clock (`docker info`'s SystemTime).
async fn engine_time(e: &DockerEngine) -> Result<SystemTime, EngineError> {
    let info = read(|| e.docker.info()).await.map_err(call("read the engine's clock"))?;
    let t = info.system_time.unwrap_or_default();
    parse_time(&t).ok_or_else(|| EngineError::Call {
        action: "read the engine's clock".into(),
        message: format!("unreadable time `{t}`"),
    })
}

/// An RFC 3339 time as the engine writes it: `…Z` (containers' creation)
/// or with the daemon's own offset, `…+01:00` (its clock).
fn parse_time(t: &str) -> Option<SystemTime> {
    let t = t.trim();
    if let Some(utc) = t.strip_suffix('Z') {
        return humantime::parse_rfc3339_weak(utc).ok();
    }
    let (at, offset) = t.split_at(t.len().checked_sub(6)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = offset[1..].split_once(':')?;
    let secs = sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60);
    let local = humantime::parse_rfc3339_weak(at).ok()?;
    // Local time minus its offset is UTC.
    if secs >= 0 {
        local.checked_sub(Duration::from_secs(secs as u64))
    } else {
        local.checked_add(Duration::from_secs((-secs) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_times_with_and_without_an_offset() {
        let utc = parse_time("2026-11-29T07:10:11.5Z").unwrap();
        assert_eq!(parse_time("2026-11-29T08:10:11.5+01:00"), Some(utc));
        assert_eq!(parse_time("2026-11-29T02:10:11.5-05:00"), Some(utc));
        assert_eq!(parse_time("2026-11-29T07:10:11.123456789Z").map(|t| t > utc), Some(false));
        assert_eq!(parse_time("yesterday"), None);
    }
}
