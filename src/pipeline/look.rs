//! What the planner needs to know about the engine beyond its listings,
//! looked at right after observe: the declared env of each container (secret
//! values fingerprinted, then dropped), and, only when some app needs it,
//! the engine's CPU count, local image platforms and host ports another
//! process holds.

use super::PipelineError;
use crate::desired::{Desired, EnvValue};
use crate::observe::{ContainerState, Engine, HostPort, Observed};

/// Keep of each container's live env only the keys its spec declares, a
/// secret one as the fingerprint its value would have: the planner compares
/// like with like, and no secret value outlives this step.
pub(super) fn declared_env(observed: &mut Observed, desired: &Desired, key: &[u8]) {
    let wanted: std::collections::BTreeMap<(&str, &str, u32), &crate::desired::DesiredContainer> = desired
        .apps
        .iter()
        .flat_map(|a| &a.containers)
        .map(|c| ((c.app.as_str(), c.process.as_str(), c.replica), c))
        .collect();
    for c in &mut observed.containers {
        let Some(live) = c.live.as_mut() else { continue };
        let raw = std::mem::take(&mut live.raw_env);
        let Some(want) = wanted.get(&(c.app.as_str(), c.process.as_str(), c.replica)) else { continue };
        for (k, declared) in &want.config.env {
            let Some(value) = raw.0.get(k) else { continue };
            let seen = match declared {
                EnvValue::Plain(_) => EnvValue::Plain(value.clone()),
                EnvValue::Secret { credential, .. } => EnvValue::Secret {
                    credential: credential.clone(),
                    fingerprint: crate::resolve::fingerprint(key, credential, k, value),
                },
            };
            live.config.env.insert(k.clone(), seen);
        }
    }
}

/// What only some plans need, asked only then: the engine's CPU count (an
/// app limits cpus), the platform of local images (an app sets
/// `platform:`), and which desired host ports another process holds (the
/// engine runs on this host).
pub(super) async fn around(
    engine: &dyn Engine,
    desired: &Desired,
    observed: &mut Observed,
) -> Result<(), PipelineError> {
    let apps: Vec<&crate::desired::DesiredApp> = desired.apps.iter().filter(|a| !a.suspended).collect();
    let containers = || apps.iter().flat_map(|a| &a.containers);
    if containers().any(|c| c.config.nano_cpus.is_some()) {
        observed.engine_cpus = Some(engine.cpus().await?);
    }
    for app in &apps {
        let explicit = app.containers.first().is_some_and(|c| c.config.platform.is_some());
        if explicit && observed.images.contains_key(&app.image) && !observed.local_platforms.contains_key(&app.image) {
            if let Some(p) = engine.image_platform(&app.image).await? {
                observed.local_platforms.insert(app.image.clone(), p);
            }
        }
    }
    if engine_is_local() {
        let published: Vec<HostPort> = observed
            .others
            .iter()
            .flat_map(|o| o.ports.iter().cloned())
            .chain(observed.containers.iter().filter(|c| c.state == ContainerState::Running).flat_map(|c| {
                c.live.iter().flat_map(|l| &l.config.ports).map(|p| HostPort {
                    ip: p.host_ip.clone(),
                    port: p.host_port,
                    protocol: p.protocol.clone(),
                })
            }))
            .collect();
        let wanted: std::collections::BTreeSet<HostPort> = containers()
            .flat_map(|c| &c.config.ports)
            .map(|p| HostPort { ip: p.host_ip.clone(), port: p.host_port, protocol: p.protocol.clone() })
            .filter(|p| !published.iter().any(|q| q.clashes(p)))
            .collect();
        if !wanted.is_empty() {
            observed.busy_ports = tokio::task::spawn_blocking(move || wanted.into_iter().filter(in_use).collect())
                .await
                .unwrap_or_default();
        }
    }
    Ok(())
}

/// The engine listens on this host's socket, so its host ports are this host's.
fn engine_is_local() -> bool {
    std::env::var("DOCKER_HOST").map_or(true, |h| h.is_empty() || h.starts_with("unix://"))
}

/// Whether binding the port fails because something holds it.
fn in_use(p: &HostPort) -> bool {
    let ip: std::net::IpAddr = match p.ip.as_deref().map(str::parse) {
        Some(Ok(ip)) => ip,
        Some(Err(_)) => return false,
        None => std::net::Ipv4Addr::UNSPECIFIED.into(),
    };
    let addr = std::net::SocketAddr::new(ip, p.port);
    let taken = |e: std::io::Error| e.kind() == std::io::ErrorKind::AddrInUse;
    match p.protocol.as_str() {
        "udp" => std::net::UdpSocket::bind(addr).err().is_some_and(taken),
        _ => std::net::TcpListener::bind(addr).err().is_some_and(taken),
    }
}
