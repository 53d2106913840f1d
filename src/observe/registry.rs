//! Registry reads: what a tag resolves to (a manifest digest, by `HEAD`,
//! without pulling anything), which tags a repository has and which
//! platforms an image offers; and the one write, a manifest-only push that
//! gives a pushed image another tag (`retag`).
//!
//! Owns the registry side of `observe`: the auth handshake (basic and
//! bearer-token, anonymous or with a login held in memory), the scheme and
//! CA rules the Docker engine follows (`endpoint`), bounded retries, and the
//! classification of failures (`RegistryError`): unreachable, 5xx and 429
//! leave that part of the plan unknown; 401/403 and 404 are errors that say
//! what to do. It decides nothing about what to pull or run.
//!
//! Image references are parsed with `spec::reference::ImageRef`; the
//! requests go through reqwest, not oci-client, whose `Client` keeps neither
//! the status code nor the headers of a failed answer (429's
//! `ratelimit-*`), falls back from `HEAD` to `GET`, and keeps the first
//! login it saw per registry for later calls.

mod auth;
mod endpoint;
mod error;
mod manifest;
mod tokens;
mod wire;

pub use endpoint::{is_loopback, CA_ENV, DOCKER_CERTS_D};
pub use error::RegistryError;

use crate::spec::reference::{ImageRef, DOCKER_HUB};
use auth::{Authorization, Challenge};
use backon::{ExponentialBuilder, Retryable};
use endpoint::{Clients, Endpoint, Trust};
use error::{from_status, unreachable, Context};
use manifest::Parsed;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LINK, WWW_AUTHENTICATE};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokens::{TokenCache, TokenKey};
use wire::Meter;

/// Manifest types berth accepts, as the engine asks for them: with the
/// Docker and OCI index types, a tag's digest is the one the engine records.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";
/// Tags asked for per page, and pages followed at most.
const TAGS_PAGE: usize = 1000;
const TAGS_MAX_PAGES: usize = 100;
/// Tags named when a tag is missing.
const NEAREST: usize = 5;
/// The host Docker Hub's API answers on.
const HUB_API: &str = "registry-1.docker.io";
/// Token scope actions: reading, and retagging (reads, then writes).
const PULL: &str = "pull";
const PULL_PUSH: &str = "pull,push";

/// How to reach registries beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `host:port` (or a bare host, for every port) spoken to over plain
    /// HTTP; loopback registries always are, unless they have a CA.
    pub insecure: Vec<String>,
    /// PEM CA certificates to trust for every registry (with the system's).
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// The per-registry CA folder (`<dir>/<host:port>/*.crt`); `None`:
    /// the engine's, /etc/docker/certs.d.
    pub certs_d: Option<PathBuf>,
}

/// The CA sources of `RegistryOptions` and the environment, read lazily.
struct TrustFrom {
    pems: Vec<Vec<u8>>,
    env_ca: Option<PathBuf>,
    certs_d: PathBuf,
}

/// A registry login, held in memory only.
#[derive(Clone)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, not even in debug logs.
        f.debug_struct("Login").field("username", &self.username).finish_non_exhaustive()
    }
}

impl From<&super::PullAuth> for Login {
    fn from(a: &super::PullAuth) -> Self {
        Self { username: a.username.clone(), password: a.password.clone() }
    }
}

/// Reads from container registries. Cheap to make and to share: the CAs
/// are read at the first call, one HTTP client (with its TLS set-up) is
/// made per registry host on first use, and bearer tokens are kept while
/// they live. Clones share all of it: a long-running process keeps one
/// client, so its passes reuse connections and tokens.
#[derive(Clone)]
pub struct RegistryClient(Arc<Inner>);

/// What clones of a `RegistryClient` share.
struct Inner {
    insecure: Vec<String>,
    /// Where the CAs come from, until the first call reads them.
    trust_from: TrustFrom,
    /// The CAs, or why they could not be read (reported by every call).
    trust: OnceLock<Result<Trust, RegistryError>>,
    endpoints: Mutex<HashMap<String, Endpoint>>,
    clients: Clients,
    tokens: TokenCache,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").field("insecure", &self.0.insecure).finish_non_exhaustive()
    }
}

/// The platforms an image offers (`os/arch[/variant]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImagePlatforms {
    /// A multi-platform index: one entry per manifest.
    Index(Vec<String>),
    /// A single manifest, for the platform its config names.
    Single(String),
}

impl ImagePlatforms {
    /// Whether `wanted` (`os/arch[/variant]`) can be pulled: a missing
    /// variant matches any, as the engine does.
    pub fn offers(&self, wanted: &str) -> bool {
        let matches = |have: &str| crate::spec::values::platform_matches(have, wanted);
        match self {
            Self::Index(ps) => ps.iter().any(|p| matches(p)),
            Self::Single(p) => matches(p),
        }
    }
}

/// One image reference, taken apart.
struct Target {
    /// As given, for messages.
    image: String,
    /// As the user names it (`docker.io`, `127.0.0.1:5000`).
    registry: String,
    /// The host the API answers on (`registry-1.docker.io`).
    host: String,
    repo: String,
    /// Tag or digest.
    reference: String,
    by_digest: bool,
}

impl Target {
    fn parse(image: &str) -> Result<Self, RegistryError> {
        let r = ImageRef::parse(image)
            .map_err(|e| RegistryError::InvalidReference { image: image.to_string(), message: e.to_string() })?;
        // Every alias of Docker Hub (`registry-1.docker.io/busybox` too) is
        // one registry, answering on one host.
        let hub = crate::spec::values::is_docker_hub(r.registry());
        let repo = match hub && !r.repository().contains('/') {
            true => format!("library/{}", r.repository()),
            false => r.repository().to_string(),
        };
        Ok(Self {
            image: image.to_string(),
            registry: if hub { DOCKER_HUB.into() } else { r.registry().to_string() },
            host: if hub { HUB_API.into() } else { r.registry().to_string() },
            repo,
            reference: r.digest().or(r.tag()).unwrap_or("latest").to_string(),
            by_digest: r.digest().is_some(),
        })
    }
}

impl RegistryClient {
    /// A client with `opts`, the CAs of `BERTH_REGISTRY_CA` (a PEM file) and,
    /// per registry, those of /etc/docker/certs.d/<host:port>/*.crt. A CA
    /// that cannot be read fails every call, saying so.
    pub fn new(opts: RegistryOptions) -> Self {
        let env_ca = std::env::var_os(CA_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        let certs_d = opts.certs_d.unwrap_or_else(|| PathBuf::from(DOCKER_CERTS_D));
        Self(Arc::new(Inner {
            insecure: opts.insecure,
            trust_from: TrustFrom { pems: opts.extra_ca_pem, env_ca, certs_d },
            trust: OnceLock::new(),
            endpoints: Mutex::new(HashMap::new()),
            clients: Clients::default(),
            tokens: TokenCache::default(),
        }))
    }

    /// The registries `insecure` names, as given to `new`.
    pub fn insecure(&self) -> &[String] {
        &self.0.insecure
    }

    /// `call`, and once more when the registry refused a token that was
    /// kept for `actions` on `t`'s repository (revoked, or the registry
    /// now trusts another signing key): the second try asks for a new one.
    async fn renewing<T, F, Fut>(
        &self,
        t: &Target,
        auth: Option<&Login>,
        actions: &str,
        mut call: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        match call().await {
            Err(RegistryError::Denied { .. }) if self.0.tokens.forget(&scope(t, actions), auth) => call().await,
            other => other,
        }
    }

    /// The digest (`sha256:…`) of the manifest or index `image` (a normalized
    /// reference, tag or digest) points to, by one `HEAD` per try: nothing is
    /// pulled. `credential_name` names `auth` in a refusal (default: its
    /// username); without `auth` the registry is asked anonymously.
    pub async fn digest(
        &self,
        image: &str,
        auth: Option<&Login>,
        credential_name: Option<&str>,
    ) -> Result<String, RegistryError> {
        let t = Target::parse(image)?;
        let what = format!("read the manifest of {image}");
        let ctx = Context {
            image,
            registry: &t.registry,
            credential: credential_name.or(auth.map(|l| l.username.as_str())),
            what: &what,
        };
        let found = self.renewing(&t, auth, PULL, || retried(|| self.head_manifest(&t, auth, &ctx))).await;
        self.with_nearest(&t, auth, &ctx, found).await
    }

    /// Every tag of `repo` (`127.0.0.1:5000/app`, `docker.io/library/busybox`;
    /// a tag on it is ignored), in the registry's order; none for a
    /// repository the registry does not know.
    pub async fn tags(&self, repo: &str, auth: Option<&Login>) -> Result<Vec<String>, RegistryError> {
        let t = Target::parse(repo)?;
        let what = format!("list the tags of {repo}");
        let ctx =
            Context { image: repo, registry: &t.registry, credential: auth.map(|l| l.username.as_str()), what: &what };
        self.renewing(&t, auth, PULL, || retried(|| self.list_tags(&t, auth, &ctx))).await
    }

    /// Which platforms `image` offers: those of its index, or the one of a
    /// single manifest (from its config). One or two `GET`s; nothing pulled.
    /// Index entries for another platform than an image's (`unknown/unknown`,
    /// BuildKit's attestations) are left out. Errors as `digest`'s.
    pub async fn platforms(
        &self,
        image: &str,
        auth: Option<&Login>,
        credential_name: Option<&str>,
    ) -> Result<ImagePlatforms, RegistryError> {
        let t = Target::parse(image)?;
        let what = format!("read the platforms of {image}");
        let ctx = Context {
            image,
            registry: &t.registry,
            credential: credential_name.or(auth.map(|l| l.username.as_str())),
            what: &what,
        };
        let found = self.renewing(&t, auth, PULL, || retried(|| self.read_platforms(&t, auth, &ctx))).await;
        self.with_nearest(&t, auth, &ctx, found).await
    }

    /// Put the manifest `image` points to under `new_tag` in the same
    /// repository, byte for byte, so the digest does not change and no
    /// layer is sent (a manifest-only push). Returns the bytes sent.
    ///
    /// One `GET` of the manifest (as the registry stores it, with its exact
    /// `Content-Type`) and one `PUT` of the same bytes to
    /// `/v2/<repo>/manifests/<new_tag>`, with a token scoped
    /// `repository:<repo>:pull,push`. The bytes returned are those of every
    /// request the call sent, over all its tries: the `/v2/` ping, the token
    /// request (if the registry wants one), the `GET` and the `PUT`, each
    /// counted as HTTP/1.1 puts it on the wire (request line, headers, body;
    /// no TCP or TLS framing).
    ///
    /// Errors: an invalid `new_tag` (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) is
    /// `InvalidReference`; a missing `image` is `ManifestUnknown` with the
    /// nearest tags; 401/403 is `PushDenied`, naming the credential; the
    /// rest as `digest`'s.
    pub async fn retag(
        &self,
        image: &str,
        new_tag: &str,
        auth: Option<&Login>,
        credential_name: Option<&str>,
    ) -> Result<u64, RegistryError> {
        self.retag_all(image, &[new_tag.to_string()], auth, credential_name).await
    }

    /// `retag` to every tag of `new_tags`, with one session and one
    /// manifest `GET` for all of them: each further tag costs one `PUT`.
    /// Returns the bytes sent in all.
    pub async fn retag_all(
        &self,
        image: &str,
        new_tags: &[String],
        auth: Option<&Login>,
        credential_name: Option<&str>,
    ) -> Result<u64, RegistryError> {
        let t = Target::parse(image)?;
        let repo = format!("{}/{}", t.registry, t.repo);
        let target = format!("{repo}:{}", new_tags.join(","));
        for tag in new_tags {
            if let Some(message) = manifest::invalid_tag(tag) {
                return Err(RegistryError::InvalidReference { image: format!("{repo}:{tag}"), message });
            }
        }
        if new_tags.is_empty() {
            return Ok(0);
        }
        let what = format!("push {image} as {target}");
        let credential = credential_name.or(auth.map(|l| l.username.as_str()));
        let ctx = Context { image, registry: &t.registry, credential, what: &what };
        let meter = Meter::default();
        let pushed =
            self.renewing(&t, auth, PULL_PUSH, || retried(|| self.put_tags(&t, new_tags, auth, &ctx, &meter))).await;
        match self.with_nearest(&t, auth, &ctx, pushed).await {
            Ok(()) => Ok(meter.total()),
            Err(RegistryError::Denied { registry, credential, .. }) => {
                Err(RegistryError::PushDenied { image: target, registry, repo, credential })
            }
            Err(e) => Err(e),
        }
    }

    /// A `ManifestUnknown` with the tags nearest to the one asked for.
    async fn with_nearest<T>(
        &self,
        t: &Target,
        auth: Option<&Login>,
        ctx: &Context<'_>,
        result: Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        match result {
            Err(RegistryError::ManifestUnknown { image, .. }) => {
                // Best effort: a tag list that cannot be read names nothing.
                let tags =
                    if t.by_digest { Vec::new() } else { self.list_tags(t, auth, ctx).await.unwrap_or_default() };
                Err(RegistryError::ManifestUnknown { image, nearest: nearest_tags(&t.reference, &tags, NEAREST) })
            }
            other => other,
        }
    }

    /// One try of `platforms`: the manifest, and a single manifest's config.
    async fn read_platforms(
        &self,
        t: &Target,
        auth: Option<&Login>,
        ctx: &Context<'_>,
    ) -> Result<ImagePlatforms, RegistryError> {
        let meter = Meter::default();
        let (ep, authz) = self.session(t, auth, ctx, PULL, &meter).await?;
        let (body, content_type) = self.get_manifest(t, &ep, &authz, ctx, &meter).await?;
        let unexpected = |why: &str| RegistryError::Unexpected {
            registry: t.registry.clone(),
            what: format!("{} ({why})", ctx.what),
            status: 200,
        };
        let config = match manifest::parse(content_type.as_deref(), &body) {
            Some(Parsed::Index(platforms)) => return Ok(ImagePlatforms::Index(platforms)),
            Some(Parsed::Single { config }) if is_any_digest(&config) => config,
            _ => return Err(unexpected("its manifest is neither an image index nor an image manifest")),
        };
        // Redirects (to a CDN or object store) are followed; the client
        // drops `Authorization` when one leads to another host.
        let url = format!("{}/v2/{}/blobs/{config}", ep.base, t.repo);
        let resp = meter.send(authz.apply(ep.http.get(&url))).await.map_err(|e| unreachable(&t.registry, &e))?;
        match resp.status().as_u16() {
            200 => {}
            // A 404 here is the registry's inconsistency, not a missing tag.
            s => return Err(from_status(ctx, s, resp.headers())),
        }
        let body = resp.bytes().await.map_err(|e| unreachable(&t.registry, &e))?;
        manifest::config_platform(&body)
            .map(ImagePlatforms::Single)
            .ok_or_else(|| unexpected("its image config names no os and architecture"))
    }

    /// One try of `retag`: `GET` the manifest, `PUT` the same bytes.
    async fn put_tags(
        &self,
        t: &Target,
        new_tags: &[String],
        auth: Option<&Login>,
        ctx: &Context<'_>,
        meter: &Meter,
    ) -> Result<(), RegistryError> {
        let (ep, authz) = self.session(t, auth, ctx, PULL_PUSH, meter).await?;
        let (body, content_type) = self.get_manifest(t, &ep, &authz, ctx, meter).await?;
        // The type goes back exactly as the registry gave it; a registry
        // that named none: the manifest's own `mediaType`.
        let content_type = content_type
            .filter(|c| !c.trim().is_empty())
            .or_else(|| manifest::media_type(&body))
            .ok_or_else(|| RegistryError::Unexpected {
                registry: t.registry.clone(),
                what: format!("{} (its manifest has no media type)", ctx.what),
                status: 200,
            })?;
        let sent = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        for new_tag in new_tags {
            let url = format!("{}/v2/{}/manifests/{new_tag}", ep.base, t.repo);
            let request = authz.apply(ep.http.put(&url)).header(CONTENT_TYPE, &content_type).body(body.clone());
            let resp = meter.send(request).await.map_err(|e| unreachable(&t.registry, &e))?;
            match resp.status().as_u16() {
                200..=299 => {}
                s => return Err(from_status(ctx, s, resp.headers())),
            }
            let stored = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok());
            if stored.is_some_and(|d| d != sent) {
                tracing::warn!("registry {} stored {} as {stored:?}, not {sent}", t.registry, ctx.what);
            }
        }
        Ok(())
    }

    /// `GET` of `t`'s manifest: the body as sent, and its `Content-Type`.
    async fn get_manifest(
        &self,
        t: &Target,
        ep: &Endpoint,
        authz: &Authorization,
        ctx: &Context<'_>,
        meter: &Meter,
    ) -> Result<(bytes::Bytes, Option<String>), RegistryError> {
        let url = format!("{}/v2/{}/manifests/{}", ep.base, t.repo, t.reference);
        let request = authz.apply(ep.http.get(&url)).header(ACCEPT, MANIFEST_TYPES);
        let resp = meter.send(request).await.map_err(|e| unreachable(&t.registry, &e))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(RegistryError::ManifestUnknown { image: t.image.clone(), nearest: Vec::new() }),
            s => return Err(from_status(ctx, s, resp.headers())),
        }
        let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
        let body = resp.bytes().await.map_err(|e| unreachable(&t.registry, &e))?;
        Ok((body, content_type))
    }

    async fn head_manifest(
        &self,
        t: &Target,
        auth: Option<&Login>,
        ctx: &Context<'_>,
    ) -> Result<String, RegistryError> {
        let (ep, authz) = self.session(t, auth, ctx, PULL, &Meter::default()).await?;
        let url = format!("{}/v2/{}/manifests/{}", ep.base, t.repo, t.reference);
        let send =
            |method: reqwest::Method| authz.apply(ep.http.request(method, &url)).header(ACCEPT, MANIFEST_TYPES).send();
        let resp = send(reqwest::Method::HEAD).await.map_err(|e| unreachable(&t.registry, &e))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(RegistryError::ManifestUnknown { image: t.image.clone(), nearest: Vec::new() }),
            s => return Err(from_status(ctx, s, resp.headers())),
        }
        if let Some(d) =
            resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).filter(|d| is_digest(d))
        {
            return Ok(d.to_string());
        }
        // A registry that does not say: the digest of the manifest itself.
        let resp = send(reqwest::Method::GET).await.map_err(|e| unreachable(&t.registry, &e))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(RegistryError::ManifestUnknown { image: t.image.clone(), nearest: Vec::new() }),
            s => return Err(from_status(ctx, s, resp.headers())),
        }
        let body = resp.bytes().await.map_err(|e| unreachable(&t.registry, &e))?;
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(&body))))
    }

    async fn list_tags(
        &self,
        t: &Target,
        auth: Option<&Login>,
        ctx: &Context<'_>,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let (ep, authz) = self.session(t, auth, ctx, PULL, &Meter::default()).await?;
        let unexpected = || RegistryError::Unexpected {
            registry: t.registry.clone(),
            what: format!("{} (its answer is not a tag list)", ctx.what),
            status: 200,
        };
        let mut url = reqwest::Url::parse(&format!("{}/v2/{}/tags/list?n={TAGS_PAGE}", ep.base, t.repo))
            .map_err(|_| unexpected())?;
        let mut tags = Vec::new();
        for _ in 0..TAGS_MAX_PAGES {
            let resp = authz.apply(ep.http.get(url.clone())).send().await.map_err(|e| unreachable(&t.registry, &e))?;
            match resp.status().as_u16() {
                200 => {}
                404 => return Ok(Vec::new()),
                s => return Err(from_status(ctx, s, resp.headers())),
            }
            let next = resp.headers().get(LINK).and_then(|v| v.to_str().ok()).and_then(next_link).map(String::from);
            let body = resp.bytes().await.map_err(|e| unreachable(&t.registry, &e))?;
            let page: Page = serde_json::from_slice(&body).map_err(|_| unexpected())?;
            tags.extend(page.tags.unwrap_or_default());
            match next.and_then(|n| url.join(&n).ok()) {
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(tags)
    }

    /// Pings `/v2/` and answers its challenge: the endpoint and what to send
    /// as `Authorization` for `actions` (`pull`, `pull,push`) on `t.repo`.
    /// Its requests are counted in `meter`.
    async fn session(
        &self,
        t: &Target,
        auth: Option<&Login>,
        ctx: &Context<'_>,
        actions: &str,
        meter: &Meter,
    ) -> Result<(Endpoint, Authorization), RegistryError> {
        let mut ep = self.endpoint(&t.host, false)?;
        let resp = loop {
            let resp =
                meter.send(ep.http.get(format!("{}/v2/", ep.base))).await.map_err(|e| unreachable(&t.registry, &e))?;
            if !(ep.plain && resp.status().as_u16() == 400) {
                break resp;
            }
            let headers = resp.headers().clone();
            let body = resp.text().await.unwrap_or_default();
            if !endpoint::says_https_only(400, &body) {
                return Err(from_status(ctx, 400, &headers));
            }
            if self.trust()?.general.is_empty() {
                return Err(RegistryError::Unreachable {
                    registry: t.registry.clone(),
                    message: format!(
                        "it speaks HTTPS, and loopback and insecure registries are spoken to over plain HTTP unless a CA is configured for them: put its CA in {}/{}/ca.crt or name it in {CA_ENV}",
                        self.trust()?.certs_d.display(),
                        t.host
                    ),
                });
            }
            ep = self.endpoint(&t.host, true)?;
        };
        let status = resp.status().as_u16();
        match status {
            200..=299 => return Ok((ep, Authorization::None)),
            401 => {}
            s => return Err(from_status(ctx, s, resp.headers())),
        }
        let challenge =
            resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).and_then(auth::parse_challenge);
        let authz = match (challenge, auth) {
            (Some(Challenge::Bearer { realm, service }), _) => {
                Authorization::Bearer(self.token(t, &realm, service.as_deref(), auth, ctx, actions, meter).await?)
            }
            (Some(Challenge::Basic), Some(login)) => Authorization::Basic(login.clone()),
            // Asked anonymously, or a scheme berth does not speak: the read
            // itself is refused and says so.
            _ => Authorization::None,
        };
        Ok((ep, authz))
    }

    /// A token for `actions` on `t.repo` from the realm, for `auth` or
    /// anonymous: the one kept from an earlier call while it lives, else a
    /// new one (kept for the next calls).
    #[allow(clippy::too_many_arguments)]
    async fn token(
        &self,
        t: &Target,
        realm: &str,
        service: Option<&str>,
        auth: Option<&Login>,
        ctx: &Context<'_>,
        actions: &str,
        meter: &Meter,
    ) -> Result<String, RegistryError> {
        let bad_realm = || RegistryError::Unexpected {
            registry: t.registry.clone(),
            what: format!("use the token service {realm:?} it names"),
            status: 401,
        };
        let scope = scope(t, actions);
        let key = TokenKey::new(realm, service, &scope, auth);
        if let Some(token) = self.0.tokens.get(&key, std::time::Instant::now()) {
            return Ok(token);
        }
        let _turn = self.0.tokens.turn(&key).await;
        // Another call may have asked while this one waited.
        if let Some(token) = self.0.tokens.get(&key, std::time::Instant::now()) {
            return Ok(token);
        }
        let url = auth::token_url(realm, service, &scope).ok_or_else(bad_realm)?;
        let realm_host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(bad_realm()),
        };
        let http = self.endpoint(&realm_host, false)?.http;
        let mut request = http.get(url);
        if let Some(login) = auth {
            request = request.basic_auth(&login.username, Some(&login.password));
        }
        let resp = meter.send(request).await.map_err(|e| RegistryError::Unreachable {
            registry: t.registry.clone(),
            message: format!("its token service {realm_host}: {}", error::describe(&e)),
        })?;
        match resp.status().as_u16() {
            200 => {}
            s => return Err(from_status(ctx, s, resp.headers())),
        }
        let body = resp.bytes().await.map_err(|e| unreachable(&t.registry, &e))?;
        let token = auth::token_from_json(&body).ok_or_else(|| RegistryError::Unexpected {
            registry: t.registry.clone(),
            what: format!("read a token from {realm_host} (no token in its answer)"),
            status: 200,
        })?;
        self.0.tokens.put(key, token.clone(), tokens::expires_in(&body), std::time::Instant::now());
        Ok(token)
    }

    fn trust(&self) -> Result<&Trust, RegistryError> {
        let from = &self.0.trust_from;
        let trust = self.0.trust.get_or_init(|| Trust::load(&from.pems, from.env_ca.clone(), from.certs_d.clone()));
        trust.as_ref().map_err(Clone::clone)
    }

    /// The endpoint for `host`, made once (again with `https` after a
    /// plain-HTTP answer said the server speaks only HTTPS).
    fn endpoint(&self, host: &str, https: bool) -> Result<Endpoint, RegistryError> {
        let trust = self.trust()?;
        let mut endpoints = self.0.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        match endpoints.get(host) {
            Some(ep) if !https || !ep.plain => Ok(ep.clone()),
            _ => {
                let ep = Endpoint::new(host, &self.0.insecure, trust, https, &self.0.clients)?;
                endpoints.insert(host.to_string(), ep.clone());
                Ok(ep)
            }
        }
    }
}

/// The token scope for `actions` (`pull`, `pull,push`) on `t`'s repository.
fn scope(t: &Target, actions: &str) -> String {
    format!("repository:{}:{actions}", t.repo)
}

/// Retries while the registry cannot say (unreachable, 5xx, 429): three
/// tries within about two seconds, and none once the registry timeout has
/// passed (a registry that let a request time out is not asked again).
async fn retried<T, F, Fut>(f: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RegistryError>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(1))
        .with_max_times(2)
        .with_jitter();
    let (limit, started) = (super::timeouts::current().registry, std::time::Instant::now());
    f.retry(backoff)
        .when(|e| e.is_unknown_state() && started.elapsed() < limit)
        .notify(|e, d| tracing::warn!("{e}; retrying in {d:?}"))
        .await
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `algorithm:encoded` as OCI spells a digest (sha256, sha512, …): safe to
/// put in a blob URL.
fn is_any_digest(s: &str) -> bool {
    s.split_once(':').is_some_and(|(alg, enc)| {
        !alg.is_empty()
            && !enc.is_empty()
            && alg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
            && enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
    })
}

/// The target of `rel="next"` in a `Link` header.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// Up to `n` tags closest to `wanted` (Damerau–Levenshtein, normalized;
/// ties: closer length, then name), closest first.
pub fn nearest_tags(wanted: &str, tags: &[String], n: usize) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> =
        tags.iter().map(|t| (strsim::normalized_damerau_levenshtein(wanted, t), t)).collect();
    let len_gap = |t: &str| t.chars().count().abs_diff(wanted.chars().count());
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| len_gap(a.1).cmp(&len_gap(b.1))).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(n).map(|(_, t)| t.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("127.0.0.1:5000/app:1").unwrap();
        assert_eq!(
            (t.registry.as_str(), t.host.as_str(), t.repo.as_str(), t.reference.as_str()),
            ("127.0.0.1:5000", "127.0.0.1:5000", "app", "1")
        );
        let t = Target::parse("docker.io/library/busybox:1.36").unwrap();
        assert_eq!(
            (t.registry.as_str(), t.host.as_str(), t.repo.as_str()),
            ("docker.io", "registry-1.docker.io", "library/busybox")
        );
        for hub in
            ["busybox", "index.docker.io/busybox", "hub.docker.com/busybox", "registry-1.docker.io/library/busybox"]
        {
            let t = Target::parse(hub).unwrap();
            assert_eq!(
                (t.registry.as_str(), t.host.as_str(), t.repo.as_str(), t.reference.as_str()),
                ("docker.io", HUB_API, "library/busybox", "latest"),
                "{hub}"
            );
        }
        let d = format!("sha256:{}", "a".repeat(64));
        let t = Target::parse(&format!("ghcr.io/acme/web@{d}")).unwrap();
        assert!(t.by_digest);
        assert_eq!((t.host.as_str(), t.repo.as_str(), t.reference.as_str()), ("ghcr.io", "acme/web", d.as_str()));
        let e = Target::parse("Bad Image").err().unwrap();
        assert!(matches!(e, RegistryError::InvalidReference { .. }), "{e}");
    }

    #[test]
    fn login_debug_hides_the_password() {
        let l = Login { username: "bob".into(), password: "hunter2-secret".into() };
        let shown = format!("{l:?}");
        assert!(shown.contains("bob") && !shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn nearest_tags_closest_first() {
        let tags: Vec<String> =
            ["1.36", "1.37", "latest", "1.36.1", "2.0", "edge", "1.3"].iter().map(|s| s.to_string()).collect();
        assert_eq!(nearest_tags("1.38", &tags, 3), vec!["1.36", "1.37", "1.3"]);
        assert_eq!(nearest_tags("latst", &tags, 1), vec!["latest"]);
        assert_eq!(nearest_tags("x", &tags, 10).len(), tags.len());
        assert!(nearest_tags("x", &[], 5).is_empty());
    }

    #[test]
    fn link_header_next() {
        assert_eq!(next_link(r#"</v2/app/tags/list?last=b&n=2>; rel="next""#), Some("/v2/app/tags/list?last=b&n=2"));
        assert_eq!(next_link(r#"<https://x/a>; rel="prev", <https://x/b>; rel="next""#), Some("https://x/b"));
        assert_eq!(next_link(r#"<https://x/a>; rel="prev""#), None);
    }

    #[test]
    fn digests() {
        assert!(is_digest(&format!("sha256:{}", "0f".repeat(32))));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest(&format!("sha512:{}", "0f".repeat(32))));
    }

    #[test]
    fn offers_matches_os_arch_and_a_variant_when_asked() {
        let index = ImagePlatforms::Index(vec!["linux/amd64".into(), "linux/arm/v7".into(), "linux/arm64/v8".into()]);
        assert!(index.offers("linux/amd64"));
        assert!(index.offers("linux/arm64"), "no variant asked: any variant");
        assert!(index.offers("linux/arm64/v8"));
        assert!(index.offers("linux/arm/v7"));
        assert!(!index.offers("linux/arm/v6"));
        assert!(!index.offers("windows/amd64"));
        assert!(!index.offers("linux"), "a platform is os/arch at least");
        assert!(!ImagePlatforms::Index(vec![]).offers("linux/amd64"));
        let single = ImagePlatforms::Single("linux/amd64".into());
        assert!(single.offers("linux/amd64"));
        assert!(!single.offers("linux/amd64/v2"), "a variant asked for must be there");
        assert!(!single.offers("linux/arm64"));
    }

    #[test]
    fn digests_of_any_algorithm_for_blob_urls() {
        assert!(is_any_digest(&format!("sha256:{}", "0f".repeat(32))));
        assert!(is_any_digest("sha512:abcDEF012"));
        assert!(is_any_digest("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"));
        for bad in ["", "sha256", "sha256:", ":abc", "sha256:../../x", "sha256:a/b", "SHA256:ab"] {
            assert!(!is_any_digest(bad), "{bad}");
        }
    }

    #[test]
    fn retag_refuses_an_invalid_tag_before_any_request() {
        let client = RegistryClient::new(RegistryOptions::default());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // Port 1: a request would fail as unreachable, not as a bad tag.
        for bad in ["", "-x", "a b", "a:b", &"t".repeat(129)] {
            let e = rt.block_on(client.retag("127.0.0.1:1/app:1", bad, None, None)).unwrap_err();
            assert!(
                matches!(&e, RegistryError::InvalidReference { image, .. } if image == &format!("127.0.0.1:1/app:{bad}")),
                "{e:?}"
            );
            assert!(e.to_string().starts_with("failed to parse image reference"), "{e}");
        }
        let e = rt.block_on(client.retag("Bad Image", "ok", None, None)).unwrap_err();
        assert!(matches!(e, RegistryError::InvalidReference { .. }), "{e}");
        let e = rt.block_on(client.retag("127.0.0.1:1/app:1", "ok", None, None)).unwrap_err();
        assert!(matches!(e, RegistryError::Unreachable { .. }), "{e}");
    }

    #[test]
    fn setup_errors_fail_every_call() {
        let dir = tempfile::tempdir().unwrap();
        let client = RegistryClient::new(RegistryOptions {
            extra_ca_pem: vec![b"not a pem".to_vec()],
            certs_d: Some(dir.path().to_path_buf()),
            ..Default::default()
        });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let e = rt.block_on(client.digest("127.0.0.1:1/app:1", None, None)).unwrap_err();
        assert!(matches!(e, RegistryError::Setup { .. }), "{e}");
        assert!(
            e.to_string().starts_with("failed to set up the registry client: failed to read CA certificate #1"),
            "{e}"
        );
    }
}
