//! The Docker engine behind the `Engine` trait, through bollard.
//!
//! Owns the engine connection (`DOCKER_HOST` or the local socket, API version
//! negotiated so Docker 20.10 / API 1.41 works), the two listing calls that
//! make an `Observed`, and the few mutations `apply` needs. It decides
//! nothing about what should run. Read calls (and pulls) are retried with
//! backoff when the engine fails transiently; a mutation is retried only when
//! the engine could not be reached at all, so it never runs twice. Every
//! call is bounded by the engine timeout (`observe::timeouts`; a stop by
//! the grace period too), streams by their progress (`calls`).
//!
//! Secret env values arrive in `create` and go only into the request body;
//! they are remembered in memory to blank them out of container logs quoted
//! in errors.

mod body;
mod calls;
mod events;
mod files;
mod images;
use images::pulled;
mod live;
mod lock;
mod ready;
mod transfer;

use super::timeouts;
use super::{
    labels, BuildLog, BuildRequest, Engine, EngineError, Observed, ObservedContainer, ObservedNetwork, PullAuth,
    ResourceUpdate, SecretEnv, Transfer,
};
use crate::desired::{DesiredContainer, NetworkAttachment};
use backon::Retryable;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as BollardError;
use bollard::models::ContainerSummary;
use bollard::models::{ContainerUpdateBody, NetworkConnectRequest, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder, ListImagesOptionsBuilder,
    ListNetworksOptions, ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
pub use calls::engine_host;
use calls::{
    backoff, call, describe, drain, is_transient, is_transient_registry_message, lost, read, status, unreached,
    unreached_within, Lost,
};
use futures_util::StreamExt;
pub use live::normalize;
use live::{image_map, observed_container};
use ready::Readiness;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use body::{create_body, BodyError};
pub use files::EMPTY_IMAGE;

/// Containers inspected at once while observing.
const INSPECTS: usize = 16;
/// How much longer than a call's own limit the engine client waits.
const BACKSTOP: Duration = Duration::from_secs(1);
/// A stop's grace period when none is given (the container's own stop
/// timeout, which berth does not know): Docker's longest usual one.
const UNKNOWN_GRACE: Duration = Duration::from_secs(600);
/// How often `wait_ready` inspects the container.
const POLL: Duration = Duration::from_millis(250);
/// How long a container without healthcheck must stay up to count as ready
/// (supervisord's `startsecs`): catches processes that exit right away.
const MIN_UPTIME: Duration = Duration::from_secs(1);
/// Log lines quoted when a container does not become ready.
const LOG_LINES: usize = 20;

/// A Docker engine, reached over its API.
pub struct DockerEngine {
    docker: Docker,
    /// Secret values handed to containers by this process, by container
    /// id, to redact logs; forgotten when the container is removed, so a
    /// process that lives for months holds only its live containers'.
    secrets: Mutex<std::collections::BTreeMap<String, Vec<String>>>,
    /// The engine's platform (`os/arch`), asked once.
    platform: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for DockerEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerEngine")
            .field("api_version", &self.docker.client_version().to_string())
            .finish_non_exhaustive()
    }
}

impl DockerEngine {
    /// Connects to `DOCKER_HOST` (else the local socket) and negotiates the
    /// API version, waiting at most the engine timeout for each try.
    pub async fn connect() -> Result<Self, EngineError> {
        let host = engine_host();
        let advice = match std::env::var_os("DOCKER_HOST") {
            Some(_) => "does an engine listen there?",
            None => "is dockerd running? Set DOCKER_HOST to use another engine",
        };
        let failed = |e: &BollardError| {
            let why = match lost(e) {
                Some(Lost::Gone(cause)) => format!("{host}: {cause}"),
                Some(Lost::Silent(what)) => format!("the engine at {host} does not answer ({what})"),
                None => format!("{host}: {}", describe(e)),
            };
            EngineError::Connect(format!("{why}; {advice}"))
        };
        let limit = timeouts::current().engine;
        // The client's own limit is a backstop: each call is bounded (and
        // says by how much) in `calls`.
        let docker = Docker::connect_with_defaults().map_err(|e| failed(&e))?.with_timeout(limit + BACKSTOP);
        let docker = read(|| docker.clone().negotiate_version()).await.map_err(|e| failed(&e))?;
        tracing::debug!(api_version = %docker.client_version(), "connected to the Docker engine");
        Ok(Self::from_client(docker))
    }

    /// Wraps an already configured bollard client.
    pub fn from_client(docker: Docker) -> Self {
        Self { docker, secrets: Mutex::default(), platform: std::sync::OnceLock::new() }
    }

    /// The underlying client, for calls the `Engine` trait does not cover.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The last log lines of a container, secrets blanked out. Best effort:
    /// an error reading the log (or an engine that stops answering) ends
    /// the lines there.
    pub async fn log_tail(&self, id: &str, lines: usize) -> Vec<String> {
        let opts = LogsOptionsBuilder::new().stdout(true).stderr(true).tail(&lines.to_string()).build();
        let mut stream = self.docker.logs(id, Some(opts));
        let mut text = String::new();
        let progress = calls::Progress::new(timeouts::current().engine);
        loop {
            match calls::next_or_idle(&mut stream, &progress).await {
                Ok(Some(Ok(out))) => text.push_str(&String::from_utf8_lossy(&out.into_bytes())),
                Ok(None) => break,
                Ok(Some(Err(e))) | Err(e) => {
                    tracing::debug!("failed to read the log of {id}: {}", describe(&e));
                    break;
                }
            }
        }
        let mut secrets: Vec<String> = match self.secrets.lock() {
            Ok(known) => known.values().flatten().cloned().collect(),
            Err(_) => Vec::new(),
        };
        // Longest first, so a secret containing another is blanked whole.
        secrets.sort_by_key(|k| std::cmp::Reverse(k.len()));
        secrets.dedup();
        ready::log_tail(&text, lines, &secrets)
    }

    fn remember_secrets(&self, id: &str, values: Vec<&str>) {
        if values.is_empty() {
            return;
        }
        if let Ok(mut known) = self.secrets.lock() {
            known.insert(id.to_string(), values.into_iter().filter(|v| !v.is_empty()).map(String::from).collect());
        }
    }

    fn forget_secrets(&self, id: &str) {
        if let Ok(mut known) = self.secrets.lock() {
            known.remove(id);
        }
    }

    /// One container's live configuration; `None` when it is gone.
    async fn inspect_live(&self, id: &str) -> Result<Option<super::Live>, EngineError> {
        match read(|| self.docker.inspect_container(id, None)).await {
            Ok(info) => Ok(Some(live::live(&info))),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(call(format!("inspect container {id}"))(e)),
        }
    }

    async fn not_ready(&self, id: &str, name: &str, why: String) -> EngineError {
        let lines = self.log_tail(id, LOG_LINES).await;
        let message = if lines.is_empty() {
            format!("{why}; the container printed nothing")
        } else {
            format!("{why}; last log lines:\n  {}", lines.join("\n  "))
        };
        EngineError::NotReady { name: name.to_string(), message }
    }
}

#[async_trait::async_trait]
impl Engine for DockerEngine {
    async fn observe(&self, project: &str) -> Result<Observed, EngineError> {
        // Every container, not only the project's: the others' names, host
        // ports and networks are what the plan must not collide with.
        let opts = ListContainersOptionsBuilder::new().all(true).build();
        let volume_filter = HashMap::from([("name", vec![format!("{project}_")])]);
        let volume_opts = ListVolumesOptionsBuilder::new().filters(&volume_filter).build();
        // The project's containers are inspected as soon as the list is
        // there, while the other listings are still on their way.
        let containers = async {
            let listed =
                read(|| self.docker.list_containers(Some(opts.clone()))).await.map_err(call("list containers"))?;
            let mine = |s: &ContainerSummary| {
                s.labels.as_ref().and_then(|l| l.get(labels::PROJECT)).map(String::as_str) == Some(project)
            };
            let (ours, others): (Vec<ContainerSummary>, Vec<ContainerSummary>) = listed.into_iter().partition(mine);
            let others: Vec<_> = others.iter().map(|s| live::other(s, labels::PROJECT)).collect();
            let ours: Vec<ObservedContainer> = futures_util::stream::iter(ours)
                .map(|s| async move {
                    let mut c = observed_container(s);
                    c.live = self.inspect_live(&c.id).await?;
                    Ok::<_, EngineError>(c)
                })
                .buffer_unordered(INSPECTS)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_, _>>()?;
            Ok::<_, EngineError>((ours, others))
        };
        let (containers, images, networks, volumes) = tokio::join!(
            containers,
            read(|| self.docker.list_images(Some(ListImagesOptionsBuilder::new().build()))),
            read(|| self.docker.list_networks(None::<ListNetworksOptions>)),
            read(|| self.docker.list_volumes(Some(volume_opts.clone()))),
        );
        let (mut containers, others) = containers?;
        let images = images.map_err(call("list images"))?;
        let networks = networks.map_err(call("list networks"))?;
        let volumes = volumes.map_err(call("list volumes"))?;
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        let prefix = format!("{project}_");
        let build_labels =
            images.iter().filter_map(|i| i.labels.get(labels::BUILD).map(|l| (i.id.clone(), l.clone()))).collect();
        Ok(Observed {
            containers,
            others,
            images: image_map(&images),
            networks: networks
                .into_iter()
                .filter_map(|n| {
                    let project = n.labels.as_ref().and_then(|l| l.get(labels::PROJECT)).cloned();
                    Some((n.name?, ObservedNetwork { id: n.id.unwrap_or_default(), project }))
                })
                .collect(),
            volumes: volumes.volumes.into_iter().flatten().map(|v| v.name).filter(|n| n.starts_with(&prefix)).collect(),
            build_labels,
            ..Default::default()
        })
    }

    async fn cpus(&self) -> Result<u32, EngineError> {
        let info = read(|| self.docker.info()).await.map_err(call("read the engine's info"))?;
        Ok(info.ncpu.and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
    }

    async fn pull(
        &self,
        image: &str,
        platform: Option<&str>,
        auth: Option<&PullAuth>,
        transfer: Transfer,
    ) -> Result<(), EngineError> {
        let mut opts = CreateImageOptionsBuilder::new().from_image(image);
        if let Some(p) = platform {
            opts = opts.platform(p);
        }
        let opts = opts.build();
        let credentials = auth.map(|a| DockerCredentials {
            username: Some(a.username.clone()),
            password: Some(a.password.clone()),
            serveraddress: Some(a.server.clone()),
            ..Default::default()
        });
        let attempt = || async {
            let stream = self.docker.create_image(Some(opts.clone()), None, credentials.clone());
            pulled(stream, &transfer).await
        };
        attempt
            .retry(backoff())
            .when(|e: &BollardError| is_transient(e) || is_transient_registry_message(&describe(e)))
            .notify(|e, d| tracing::warn!("pulling {image} failed ({}); retrying in {d:?}", describe(e)))
            .await
            .map_err(|e| EngineError::Pull { image: image.to_string(), message: describe(&e) })
    }

    async fn image_id(&self, image: &str) -> Result<Option<String>, EngineError> {
        match read(|| self.docker.inspect_image(image)).await {
            Ok(info) => Ok(info.id),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(call(format!("inspect image {image}"))(e)),
        }
    }

    async fn create(
        &self,
        project: &str,
        c: &DesiredContainer,
        spec_hash: &str,
        secrets: &SecretEnv,
    ) -> Result<String, EngineError> {
        let action = || format!("create container {}", c.name);
        let body = body::create_body(project, c, spec_hash, secrets)
            .map_err(|e| EngineError::Call { action: action(), message: e.to_string() })?;
        let mut opts = CreateContainerOptionsBuilder::new().name(&c.name);
        if let Some(p) = c.config.platform.as_deref() {
            opts = opts.platform(p);
        }
        let opts = opts.build();
        let created = unreached(|| self.docker.create_container(Some(opts.clone()), body.clone()))
            .await
            .map_err(call(action()))?;
        self.remember_secrets(&created.id, body::secret_values(&c.config, secrets));
        for w in created.warnings.iter().filter(|w| !w.is_empty()) {
            tracing::warn!("creating {}: {w}", c.name);
        }
        let links = body::file_links(&c.config);
        if !links.is_empty() {
            if let Err(e) = files::link_files(self, &created.id, &c.name, &links).await {
                let _ = self.remove(&created.id).await;
                return Err(e);
            }
        }
        for n in body::later_networks(project, &c.config) {
            if let Err(e) = self.connect(&created.id, n).await {
                // Nothing half-made stays behind: it never ran, so removing it loses nothing.
                let _ = self.remove(&created.id).await;
                return Err(e);
            }
        }
        Ok(created.id)
    }

    async fn start(&self, id: &str) -> Result<(), EngineError> {
        unreached(|| self.docker.start_container(id, None)).await.map_err(call(format!("start container {id}")))
    }

    async fn stop(&self, id: &str, grace: Option<Duration>) -> Result<(), EngineError> {
        let mut opts = StopContainerOptionsBuilder::new();
        if let Some(g) = grace {
            opts = opts.t(i32::try_from(g.as_secs()).unwrap_or(i32::MAX));
        }
        let opts = opts.build();
        // The engine answers once the process is gone: allow the whole grace
        // period, plus the usual time for an answer.
        let limit = grace.unwrap_or(UNKNOWN_GRACE) + timeouts::current().engine;
        let docker = self.docker.clone().with_timeout(limit + BACKSTOP);
        match unreached_within(limit, || docker.stop_container(id, Some(opts.clone()))).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(call(format!("stop container {id}"))(e)),
        }
    }

    async fn remove(&self, id: &str) -> Result<(), EngineError> {
        // Never `force` (a running container is stopped gracefully first) and
        // never `v` (berth does not delete volumes).
        let opts = RemoveContainerOptionsBuilder::new().force(false).v(false).build();
        self.forget_secrets(id);
        match unreached(|| self.docker.remove_container(id, Some(opts.clone()))).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => {
                tracing::debug!("container {id} was already gone");
                Ok(())
            }
            Err(e) => Err(call(format!("remove container {id}"))(e)),
        }
    }

    async fn update(&self, id: &str, u: &ResourceUpdate) -> Result<(), EngineError> {
        let body = ContainerUpdateBody {
            memory: u.memory,
            // Docker's own default for a memory limit: as much swap again.
            memory_swap: u.memory.map(|m| m.saturating_mul(2)),
            nano_cpus: u.nano_cpus,
            restart_policy: u.restart.map(body::restart_policy),
            ..Default::default()
        };
        unreached(|| self.docker.update_container(id, body.clone()))
            .await
            .map_err(call(format!("update container {id}")))
    }

    async fn connect(&self, id: &str, n: &NetworkAttachment) -> Result<(), EngineError> {
        let req = NetworkConnectRequest { container: id.to_string(), endpoint_config: Some(body::endpoint(n)) };
        unreached(|| self.docker.connect_network(&n.name, req.clone()))
            .await
            .map_err(call(format!("connect container {id} to network {}", n.name)))
    }

    async fn create_network(&self, project: &str, name: &str) -> Result<(), EngineError> {
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(labels::PROJECT.to_string(), project.to_string())])),
            ..Default::default()
        };
        unreached(|| self.docker.create_network(req.clone()))
            .await
            .map(drop)
            .map_err(call(format!("create network {name}")))
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        match unreached(|| self.docker.remove_network(name)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(call(format!("remove network {name}"))(e)),
        }
    }

    async fn try_lock(
        &self,
        project: &str,
        holder: &super::LockHolder,
        lease: Duration,
    ) -> Result<super::LockAttempt, EngineError> {
        lock::try_lock(self, project, holder, lease).await
    }

    async fn renew_lock(&self, id: &str, held_for: Duration) -> Result<(), EngineError> {
        lock::renew(self, id, held_for).await
    }

    async fn unlock(&self, id: &str) -> Result<(), EngineError> {
        lock::unlock(self, id).await
    }

    async fn lock_of(&self, project: &str) -> Result<Option<super::LockInfo>, EngineError> {
        lock::lock_of(self, project).await
    }

    async fn create_volume(&self, project: &str, name: &str) -> Result<(), EngineError> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(HashMap::from([(labels::PROJECT.to_string(), project.to_string())])),
            ..Default::default()
        };
        unreached(|| self.docker.create_volume(req.clone()))
            .await
            .map(drop)
            .map_err(call(format!("create volume {name}")))
    }

    async fn fill_volume(
        &self,
        project: &str,
        name: &str,
        content: &str,
        tar: crate::source::ContextStream,
    ) -> Result<(), EngineError> {
        files::fill_volume(self, project, name, content, tar).await
    }

    async fn rename(&self, id: &str, new_name: &str) -> Result<(), EngineError> {
        let opts = RenameContainerOptionsBuilder::new().name(new_name).build();
        unreached(|| self.docker.rename_container(id, opts.clone()))
            .await
            .map_err(call(format!("rename container {id} to {new_name}")))
    }

    async fn wait_ready(&self, id: &str, name: &str, timeout: Duration) -> Result<(), EngineError> {
        let deadline = Instant::now() + timeout;
        // The run we saw running, and since when we have seen it.
        let mut up: Option<(String, Instant)> = None;
        let mut awaited = String::from("it to start");
        loop {
            let info = read(|| self.docker.inspect_container(id, None))
                .await
                .map_err(call(format!("inspect container {name}")))?;
            let now = Instant::now();
            match ready::classify(&info) {
                Readiness::Healthy | Readiness::Completed => return Ok(()),
                Readiness::Failed(why) => return Err(self.not_ready(id, name, why).await),
                Readiness::Waiting(why) => {
                    up = None;
                    awaited = why;
                }
                Readiness::Running { since } => match &up {
                    Some((run, first)) if *run == since => {
                        if now.duration_since(*first) >= MIN_UPTIME || now >= deadline {
                            return Ok(());
                        }
                    }
                    _ => up = Some((since, now)),
                },
            }
            if now >= deadline {
                let why = format!("timed out after {} waiting for {awaited}", humantime::format_duration(timeout));
                return Err(self.not_ready(id, name, why).await);
            }
            tokio::time::sleep(POLL.min(deadline.saturating_duration_since(now)).max(Duration::from_millis(10))).await;
        }
    }

    async fn build(
        &self,
        req: &BuildRequest,
        context: crate::source::ContextStream,
        log: BuildLog,
    ) -> Result<String, EngineError> {
        images::build(self, req, context, log).await
    }

    async fn push(&self, image: &str, auth: Option<&PullAuth>) -> Result<String, EngineError> {
        images::push(self, image, auth).await
    }

    async fn tag(&self, image: &str, new_ref: &str) -> Result<(), EngineError> {
        images::tag(self, image, new_ref).await
    }

    async fn untag(&self, reference: &str) -> Result<(), EngineError> {
        images::untag(self, reference).await
    }

    async fn image_platform(&self, image: &str) -> Result<Option<String>, EngineError> {
        images::image_platform(self, image).await
    }

    async fn platform(&self) -> Result<String, EngineError> {
        images::engine_platform(self).await
    }

    fn container_events(&self, project: &str) -> super::EventStream {
        events::container_events(&self.docker, project)
    }
}
