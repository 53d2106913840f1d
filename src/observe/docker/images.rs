//! Image work through the engine: build (from a streamed tar context), push,
//! tag, and platform lookups.
//!
//! Builds run on the engine's classic builder. Their logins for base images
//! are `BuildRequest::auth` only (`build.credentials`, SPEC §3.2), sent as
//! the `X-Registry-Config` header; a push gets its one login as
//! `X-Registry-Auth`. Both are held in memory for the call: nothing reads or
//! writes ~/.docker, and no login is ever logged. A build cannot be retried
//! (its context stream is consumed); a push is retried like a pull, since
//! pushing the same image twice is harmless. None has a total time limit:
//! each waits for progress (`calls::next_or_idle`), a build for its output
//! up to the build idle timeout once its context is sent.

use super::calls::{next_or_idle, Progress};
use super::transfer::Layers;
use super::DockerEngine;
use super::{backoff, call, describe, is_transient, is_transient_registry_message, read, status, unreached};
use crate::observe::timeouts;
use crate::observe::{BuildLog, BuildRequest, EngineError, PullAuth, Transfer};
use crate::spec::values::{image_registry, normalize_server};
use backon::Retryable;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as BollardError;
use bollard::models::{BuildInfo, CreateImageInfo, PushImageInfo};
use bollard::query_parameters::{BuildImageOptionsBuilder, PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::{Stream, StreamExt};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Build output lines kept for a failed build's error.
const LOG_TAIL: usize = 50;
/// The engine client's own limit for a build request, which covers sending
/// the whole context: none to speak of (progress is watched instead).
const NO_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);
/// The key Docker Hub logins go under in the engine's auth maps.
const HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

pub(super) async fn build(
    e: &DockerEngine,
    req: &BuildRequest,
    context: crate::source::ContextStream,
    log: BuildLog,
) -> Result<String, EngineError> {
    let name = req.tags.first().cloned().unwrap_or_else(|| "an untagged image".to_string());
    let buildargs: HashMap<&str, &str> = req.args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // `rm` and `forcerm`: intermediate containers go, success or not. `pull`
    // stays unset: base images are pulled only when missing.
    let mut opts = BuildImageOptionsBuilder::new().dockerfile(&req.dockerfile).rm(true).forcerm(true);
    if let Some(t) = req.tags.first() {
        opts = opts.t(t);
    }
    if !buildargs.is_empty() {
        opts = opts.buildargs(&buildargs);
    }
    if let Some(target) = &req.target {
        opts = opts.target(target);
    }
    if let Some(platform) = &req.platform {
        opts = opts.platform(platform);
    }
    let labels: HashMap<&str, &str> = req.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if !labels.is_empty() {
        opts = opts.labels(&labels);
    }
    let credentials = build_credentials(&req.auth);
    let passwords: Vec<&str> = req.auth.iter().map(|a| a.password.as_str()).filter(|p| !p.is_empty()).collect();
    tracing::debug!(image = %name, logins = req.auth.len(), "building");

    // No limit on the whole request (a big context takes its time to
    // send): the engine must take the context without pausing longer than
    // the engine timeout, then print something at least every build idle
    // timeout.
    let limits = timeouts::current();
    let progress = Progress::new(limits.engine);
    let sent = Arc::new(AtomicBool::new(false));
    let context = watched(context, &progress, limits.build_idle, &sent);
    let docker = e.docker.clone().with_timeout(NO_LIMIT);
    let stream = docker.build_image(opts.build(), credentials, Some(bollard::body_try_stream(context)));
    let mut out = BuildOutput::new(log, &passwords);
    let (id, failure) = follow_build(stream, &mut out, &progress, &sent).await;
    out.flush();

    if let Some(message) = failure {
        let mut message = redact(&message, &passwords);
        let mut args = out.arg_defaults.clone();
        args.extend(req.args.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(hint) = base_image_hint(&message, out.step.as_deref(), &args, &req.auth) {
            message = format!("{message}; {hint}");
        }
        return Err(EngineError::Build { image: name, message, log: out.tail.into_iter().collect() });
    }

    let id = match (id, req.tags.first()) {
        (Some(id), _) => id,
        (None, Some(first)) => match read(|| e.docker.inspect_image(first)).await {
            Ok(info) => info.id.unwrap_or_default(),
            Err(err) => return Err(call(format!("inspect the image built as {first}"))(err)),
        },
        (None, None) => String::new(),
    };
    if id.is_empty() {
        let message = "the engine did not say which image it built".to_string();
        return Err(EngineError::Build { image: name, message, log: out.tail.into_iter().collect() });
    }
    for t in req.tags.iter().skip(1) {
        tag(e, &id, t).await?;
    }
    Ok(id)
}

/// The context stream as the engine takes it: every piece is progress,
/// and once the last is sent the build may be silent for `then`.
fn watched(
    context: crate::source::ContextStream,
    progress: &Progress,
    then: Duration,
    sent: &Arc<AtomicBool>,
) -> impl Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let (moved, done, sent) = (progress.clone(), progress.clone(), sent.clone());
    let end = futures_util::stream::once(async move {
        done.set_window(then);
        sent.store(true, Ordering::SeqCst);
    });
    context
        .inspect(move |_| moved.touch())
        .chain(end.filter_map(|()| futures_util::future::ready(None::<Result<bytes::Bytes, std::io::Error>>)))
}

/// Reads a build's progress stream to its end: the image id (from the
/// `aux` item), or the first failure. `sent`: the context is all sent.
async fn follow_build(
    stream: impl Stream<Item = Result<BuildInfo, BollardError>>,
    out: &mut BuildOutput<'_>,
    progress: &Progress,
    sent: &AtomicBool,
) -> (Option<String>, Option<String>) {
    futures_util::pin_mut!(stream);
    let mut id = None;
    loop {
        let item = match next_or_idle(&mut stream, progress).await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            // Silent after the whole context went: maybe a step that works
            // without printing, maybe a wedged engine.
            Err(_) if sent.load(Ordering::SeqCst) => {
                let quiet = timeouts::show(timeouts::current().build_idle);
                let message = format!(
                    "the build printed nothing for {quiet}; set --build-idle-timeout or BERTH_BUILD_IDLE_TIMEOUT \
                     to wait longer"
                );
                return (id, Some(message));
            }
            Err(err) => return (id, Some(describe(&err))),
        };
        match item {
            Ok(info) => {
                if let Some(text) = &info.stream {
                    out.push(text);
                }
                if let Some(line) = status_line(&info) {
                    out.flush();
                    out.line(&line);
                }
                if let Some(image) = info.aux.and_then(|a| a.id).filter(|i| !i.is_empty()) {
                    id = Some(image);
                }
            }
            // bollard turns an `errorDetail` item into a stream error.
            Err(err) => return (id, Some(describe(&err))),
        }
    }
    (id, None)
}

/// A pull status inside a build worth a line: the image-level ones
/// (`Pulling from …`, `Digest: …`, `Status: …`), not each layer's progress.
fn status_line(info: &BuildInfo) -> Option<String> {
    let status = info.status.as_deref()?.trim();
    if status.is_empty() {
        return None;
    }
    match info.id.as_deref() {
        None | Some("") => Some(status.to_string()),
        Some(id) if status.starts_with("Pulling from") => Some(format!("{id}: {status}")),
        Some(_) => None,
    }
}

/// Build output as lines: each goes to the caller's log as it completes,
/// and the last `LOG_TAIL` are kept for the error.
struct BuildOutput<'a> {
    log: BuildLog,
    passwords: &'a [&'a str],
    partial: String,
    tail: VecDeque<String>,
    /// The step running now (`FROM busybox:1.36`), from `Step 1/3 : …`.
    step: Option<String>,
    /// Defaults of the `ARG` steps seen so far, for expanding a `FROM`.
    arg_defaults: BTreeMap<String, String>,
}

impl<'a> BuildOutput<'a> {
    fn new(log: BuildLog, passwords: &'a [&'a str]) -> Self {
        Self {
            log,
            passwords,
            partial: String::new(),
            tail: VecDeque::new(),
            step: None,
            arg_defaults: BTreeMap::new(),
        }
    }

    /// A chunk of `stream` text: may hold several lines, or part of one.
    fn push(&mut self, text: &str) {
        self.partial.push_str(text);
        while let Some(at) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=at).collect();
            self.line(&line);
        }
    }

    /// Ends a line left open by the last chunk.
    fn flush(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
    }

    fn line(&mut self, line: &str) {
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            return;
        }
        let line = redact(line, self.passwords);
        if let Some(step) = step_instruction(&line) {
            if let Some((name, value)) = arg_default(step) {
                self.arg_defaults.insert(name, value);
            }
            self.step = Some(step.to_string());
        }
        (self.log)(&line);
        if self.tail.len() == LOG_TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// `Step 2/5 : RUN make` → `RUN make`.
fn step_instruction(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("Step ")?;
    let (counter, instruction) = rest.split_once(" : ")?;
    counter.chars().all(|c| c.is_ascii_digit() || c == '/').then_some(instruction.trim())
}

/// `ARG NAME=value` → (`NAME`, `value`), quotes removed.
fn arg_default(instruction: &str) -> Option<(String, String)> {
    let (word, rest) = instruction.split_once(char::is_whitespace)?;
    if !word.eq_ignore_ascii_case("ARG") {
        return None;
    }
    let (name, value) = rest.trim().split_once('=')?;
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    Some((name.trim().to_string(), value.to_string()))
}

/// Blanks logins' passwords out of text quoted back to the user.
fn redact(text: &str, passwords: &[&str]) -> String {
    let mut text = text.to_string();
    for p in passwords {
        if text.contains(p) {
            text = text.replace(p, "********");
        }
    }
    text
}

/// The key the engine looks a registry's login up by: Docker Hub's is
/// `https://index.docker.io/v1/`, any other's is its `host[:port]`.
fn auth_key(server: &str) -> String {
    match normalize_server(server) {
        hub if hub == "docker.io" => HUB_AUTH_KEY.to_string(),
        host => host,
    }
}

/// `X-Registry-Config` for a build: one entry per login, nothing else.
fn build_credentials(auth: &[PullAuth]) -> Option<HashMap<String, DockerCredentials>> {
    if auth.is_empty() {
        return None;
    }
    let map = auth
        .iter()
        .map(|a| {
            let key = auth_key(&a.server);
            let creds = DockerCredentials {
                username: Some(a.username.clone()),
                password: Some(a.password.clone()),
                serveraddress: Some(key.clone()),
                ..Default::default()
            };
            (key, creds)
        })
        .collect();
    Some(map)
}

/// Whether an engine message says a registry refused or wanted a login.
fn is_auth_failure(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["pull access denied", "unauthorized", "authentication required", "denied", "no basic auth credentials"]
        .iter()
        .any(|needle| m.contains(needle))
}

/// For a build that failed pulling a base image for want of a login: what
/// to do about it when its registry has no login in `build.credentials`,
/// and whose login was refused when it has one.
fn base_image_hint(
    message: &str,
    step: Option<&str>,
    args: &BTreeMap<String, String>,
    auth: &[PullAuth],
) -> Option<String> {
    if !is_auth_failure(message) {
        return None;
    }
    let at_from = step.is_none_or(|s| s.get(..5).is_some_and(|w| w.eq_ignore_ascii_case("FROM ")));
    let pulling = message.to_ascii_lowercase().contains("pull access denied");
    if !at_from && !pulling {
        return None;
    }
    let registry =
        registry_in_message(message).or_else(|| step.and_then(|s| from_image(s, args)).map(|i| image_registry(&i)));
    if let Some(registry) = &registry {
        if let Some(a) = auth.iter().find(|a| normalize_server(&a.server) == *registry) {
            return Some(format!("registry {registry} refused the login of {} from build.credentials", a.username));
        }
    }
    let registry = registry.unwrap_or_else(|| "the base image's registry".to_string());
    Some(format!(
        "builds pull base images only with the credentials in build.credentials, never with the default \
         credential: add a credential for {registry} to build.credentials"
    ))
}

/// The registry an engine message names: `pull access denied for <image>,`
/// or a registry URL (`Get "http://127.0.0.1:5000/v2/…"`).
fn registry_in_message(message: &str) -> Option<String> {
    if let Some(rest) = message.split("pull access denied for ").nth(1) {
        let image = rest.split([',', ' ']).next().unwrap_or_default();
        if !image.is_empty() {
            return Some(image_registry(image));
        }
    }
    for scheme in ["https://", "http://"] {
        if let Some(rest) = message.split(scheme).nth(1) {
            // `127.0.0.1:5000/v2/…`: the host with its port.
            let host = rest.split(['/', '"', ' ']).next().unwrap_or_default();
            if !host.is_empty() {
                return Some(normalize_server(host));
            }
        }
    }
    None
}

/// The image of a `FROM` instruction, build args expanded:
/// `FROM --platform=$P ${REG}/base:1 AS build` → `reg.example/base:1`;
/// `None` when it names an arg that is not known.
fn from_image(instruction: &str, args: &BTreeMap<String, String>) -> Option<String> {
    let mut words = instruction.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("FROM") {
        return None;
    }
    let image = words.find(|w| !w.starts_with("--"))?;
    expand(image, args).filter(|i| !i.is_empty())
}

/// `$NAME` and `${NAME}` replaced with build args; `None` if one is unknown.
fn expand(text: &str, args: &BTreeMap<String, String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, next) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (braced[..end].split(':').next().unwrap_or_default(), &braced[end + 1..]),
                None => (braced, ""),
            }
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.push_str(args.get(name)?);
        rest = next;
    }
    out.push_str(rest);
    Some(out)
}

pub(super) async fn push(e: &DockerEngine, image: &str, auth: Option<&PullAuth>) -> Result<String, EngineError> {
    let failed = |message: String| EngineError::Push { image: image.to_string(), message };
    let (name, tag, digest) = split_reference(image);
    if digest.is_some() {
        return Err(failed("a push needs a tag, not a digest".to_string()));
    }
    // Without a tag the engine would push every tag of the repository.
    let opts = PushImageOptionsBuilder::new().tag(tag.unwrap_or("latest")).build();
    let credentials = auth.map(|a| DockerCredentials {
        username: Some(a.username.clone()),
        password: Some(a.password.clone()),
        serveraddress: Some(auth_key(&a.server)),
        ..Default::default()
    });
    let attempt = || async {
        let stream = e.docker.push_image(name, Some(opts.clone()), credentials.clone());
        pushed_digest(stream).await
    };
    let digest = attempt
        .retry(backoff())
        .when(|err: &BollardError| is_transient(err) || is_transient_registry_message(&describe(err)))
        .notify(|err, d| tracing::warn!("pushing {image} failed ({}); retrying in {d:?}", describe(err)))
        .await
        .map_err(|err| failed(push_message(image, auth, &describe(&err))))?;
    digest.ok_or_else(|| failed("the engine did not report the digest the registry stored".to_string()))
}

/// Drains a push's progress stream; the digest from its last
/// `<tag>: digest: sha256:… size: N` line.
async fn pushed_digest(
    stream: impl Stream<Item = Result<PushImageInfo, BollardError>>,
) -> Result<Option<String>, BollardError> {
    // (bollard's push messages carry no layer id: no byte counts here.)
    futures_util::pin_mut!(stream);
    let mut digest = None;
    let progress = Progress::new(timeouts::current().engine);
    while let Some(item) = next_or_idle(&mut stream, &progress).await? {
        if let Some(d) = item?.status.as_deref().and_then(digest_in_status) {
            digest = Some(d);
        }
    }
    Ok(digest)
}

/// Drains a pull's progress stream, surfacing the first error in it and
/// reporting the bytes moved.
pub(super) async fn pulled(
    stream: impl Stream<Item = Result<CreateImageInfo, BollardError>>,
    transfer: &Transfer,
) -> Result<(), BollardError> {
    futures_util::pin_mut!(stream);
    let mut layers = Layers::default();
    let progress = Progress::new(timeouts::current().engine);
    while let Some(item) = next_or_idle(&mut stream, &progress).await? {
        let item = item?;
        let detail = item.progress_detail.as_ref();
        let (current, total) = (detail.and_then(|d| d.current), detail.and_then(|d| d.total));
        if layers.update(item.id.as_deref(), item.status.as_deref(), current, total) {
            let (moved, known) = layers.sum();
            transfer(moved, known);
        }
    }
    Ok(())
}

/// `1: digest: sha256:ab… size: 527` → `sha256:ab…`.
fn digest_in_status(status: &str) -> Option<String> {
    let mut words = status.split_whitespace().skip_while(|w| *w != "digest:");
    words.next()?;
    let digest = words.next()?;
    digest.starts_with("sha256:").then(|| digest.to_string())
}

/// The engine's words for a failed push; an auth failure also says which
/// registry refused and whose login.
fn push_message(image: &str, auth: Option<&PullAuth>, engine: &str) -> String {
    if !is_auth_failure(engine) {
        return engine.to_string();
    }
    let registry = image_registry(image);
    match auth {
        Some(a) => format!(
            "{engine} (registry {registry} refused the login of {}: check the push credential's username and password)",
            a.username
        ),
        None => format!("{engine} (registry {registry} wants a login: add a credential for {registry})"),
    }
}

pub(super) async fn tag(e: &DockerEngine, image: &str, new_ref: &str) -> Result<(), EngineError> {
    let action = || format!("tag {image} as {new_ref}");
    let (repo, tag, digest) = split_reference(new_ref);
    if digest.is_some() {
        return Err(EngineError::Call { action: action(), message: "a tag cannot be a digest".to_string() });
    }
    let opts = TagImageOptionsBuilder::new().repo(repo).tag(tag.unwrap_or("latest")).build();
    unreached(|| e.docker.tag_image(image, Some(opts.clone()))).await.map_err(call(action()))
}

pub(super) async fn untag(e: &DockerEngine, reference: &str) -> Result<(), EngineError> {
    let opts = bollard::query_parameters::RemoveImageOptionsBuilder::new().force(false).noprune(false).build();
    match unreached(|| e.docker.remove_image(reference, Some(opts.clone()), None)).await {
        Ok(_) => Ok(()),
        // Gone already, or a container still uses it: either way nothing to do.
        Err(err) if matches!(status(&err), Some(404 | 409)) => Ok(()),
        Err(err) => Err(call(format!("remove the tag {reference}"))(err)),
    }
}

/// `127.0.0.1:5000/x:1` → (`127.0.0.1:5000/x`, `1`); `x@sha256:…` → (`x`, -, `sha256:…`).
fn split_reference(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag), digest),
        _ => (rest, None, digest),
    }
}

pub(super) async fn image_platform(e: &DockerEngine, image: &str) -> Result<Option<String>, EngineError> {
    let info = match read(|| e.docker.inspect_image(image)).await {
        Ok(info) => info,
        Err(err) if status(&err) == Some(404) => return Ok(None),
        Err(err) => return Err(call(format!("inspect image {image}"))(err)),
    };
    Ok(Some(platform_string(info.os.as_deref(), info.architecture.as_deref(), info.variant.as_deref())))
}

pub(super) async fn engine_platform(e: &DockerEngine) -> Result<String, EngineError> {
    if let Some(p) = e.platform.get() {
        return Ok(p.clone());
    }
    let version = read(|| e.docker.version()).await.map_err(call("ask the engine its version"))?;
    let platform = platform_string(version.os.as_deref(), version.arch.as_deref(), None);
    Ok(e.platform.get_or_init(|| platform).clone())
}

/// `os/arch[/variant]`, lower case; an unreported os is `linux`.
fn platform_string(os: Option<&str>, arch: Option<&str>, variant: Option<&str>) -> String {
    let os = os.filter(|s| !s.is_empty()).unwrap_or("linux").to_ascii_lowercase();
    let arch = arch.unwrap_or_default().to_ascii_lowercase();
    match variant.filter(|v| !v.is_empty()) {
        Some(v) => format!("{os}/{arch}/{}", v.to_ascii_lowercase()),
        None => format!("{os}/{arch}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn login(server: &str) -> PullAuth {
        PullAuth { server: server.into(), username: "bob".into(), password: "s3cret-pw".into() }
    }

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(split_reference("127.0.0.1:5000/x:1"), ("127.0.0.1:5000/x", Some("1"), None));
        assert_eq!(split_reference("127.0.0.1:5000/x"), ("127.0.0.1:5000/x", None, None));
        assert_eq!(split_reference("docker.io/library/app:3"), ("docker.io/library/app", Some("3"), None));
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(split_reference(&format!("r:5000/x@{d}")), ("r:5000/x", None, Some(d.as_str())));
        assert_eq!(split_reference(&format!("x:1@{d}")), ("x", Some("1"), Some(d.as_str())));
    }

    #[test]
    fn logins_are_keyed_as_the_engine_looks_them_up() {
        for hub in ["docker.io", "index.docker.io", "https://index.docker.io/v1/", "registry-1.docker.io"] {
            assert_eq!(auth_key(hub), HUB_AUTH_KEY, "{hub}");
        }
        assert_eq!(auth_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(auth_key("https://ghcr.io/"), "ghcr.io");
        let map = build_credentials(&[login("ghcr.io"), login("docker.io")]).unwrap();
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        assert_eq!(keys, ["ghcr.io", HUB_AUTH_KEY]);
        assert_eq!(map["ghcr.io"].serveraddress.as_deref(), Some("ghcr.io"));
        assert!(build_credentials(&[]).is_none());
    }

    #[test]
    fn output_is_split_into_lines_and_the_tail_kept() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        let log: BuildLog = Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string()));
        let passwords = ["s3cret-pw"];
        let mut out = BuildOutput::new(log, &passwords);
        out.push("Step 1/2 : FROM busybox:1.36");
        out.push("\n");
        out.push(" ---> 179c051fe88c\nStep 2/2 : RUN echo hi\n");
        out.push("hi s3cret-pw\r\n\npartial");
        out.flush();
        assert_eq!(
            *seen.lock().unwrap(),
            ["Step 1/2 : FROM busybox:1.36", " ---> 179c051fe88c", "Step 2/2 : RUN echo hi", "hi ********", "partial"]
        );
        assert_eq!(out.step.as_deref(), Some("RUN echo hi"));
        for i in 0..60 {
            out.line(&format!("line {i}"));
        }
        assert_eq!(out.tail.len(), LOG_TAIL);
        assert_eq!(out.tail.back().map(String::as_str), Some("line 59"));
    }

    #[test]
    fn from_instructions_name_their_image() {
        let args = BTreeMap::from([("REG".to_string(), "reg.example".to_string())]);
        assert_eq!(from_image("FROM busybox:1.36", &args).as_deref(), Some("busybox:1.36"));
        assert_eq!(
            from_image("FROM --platform=linux/amd64 ${REG}/base:1 AS build", &args).as_deref(),
            Some("reg.example/base:1")
        );
        assert_eq!(from_image("from $REG/base", &args).as_deref(), Some("reg.example/base"));
        assert_eq!(from_image("RUN x", &args), None);
        assert_eq!(from_image("FROM ${OTHER}/base", &args), None);
        assert_eq!(arg_default("ARG BASE=\"reg:5000/b:1\""), Some(("BASE".into(), "reg:5000/b:1".into())));
        assert_eq!(arg_default("ARG BASE"), None);
    }

    #[test]
    fn registries_are_read_from_engine_messages() {
        assert_eq!(
            registry_in_message("pull access denied for 127.0.0.1:5000/base, repository does not exist").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            registry_in_message("Get \"http://127.0.0.1:5000/v2/base/manifests/1\": no basic auth credentials")
                .as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            registry_in_message("pull access denied for private, repository does not exist").as_deref(),
            Some("docker.io")
        );
        assert_eq!(registry_in_message("unauthorized: authentication required"), None);
    }

    #[test]
    fn a_base_image_refused_without_a_build_credential_says_what_to_do() {
        let none = BTreeMap::new();
        let msg = "Get \"http://127.0.0.1:5000/v2/base/manifests/1\": no basic auth credentials";
        let hint = base_image_hint(msg, Some("FROM 127.0.0.1:5000/base:1"), &none, &[]).unwrap();
        assert!(hint.contains("build.credentials"), "{hint}");
        assert!(hint.contains("add a credential for 127.0.0.1:5000 to build.credentials"), "{hint}");
        // With a login for that registry: whose login was refused.
        let refused = base_image_hint(msg, Some("FROM 127.0.0.1:5000/base:1"), &none, &[login("127.0.0.1:5000")]);
        assert_eq!(refused.as_deref(), Some("registry 127.0.0.1:5000 refused the login of bob from build.credentials"));
        // A login for another registry does not count.
        assert!(base_image_hint(msg, None, &none, &[login("ghcr.io")]).is_some());
        // The registry from the FROM line when the message does not say.
        let hint =
            base_image_hint("unauthorized: authentication required", Some("FROM ghcr.io/o/b"), &none, &[]).unwrap();
        assert!(hint.ends_with("add a credential for ghcr.io to build.credentials"), "{hint}");
        // A RUN step that fails is not a base image pull.
        assert_eq!(base_image_hint("The command 'curl' returned 'denied'", Some("RUN curl x"), &none, &[]), None);
        assert_eq!(
            base_image_hint("The command '/bin/sh -c exit 3' returned a non-zero code: 3", None, &none, &[]),
            None
        );
    }

    #[test]
    fn push_digests_and_auth_failures() {
        let d = format!("sha256:{}", "b".repeat(64));
        assert_eq!(digest_in_status(&format!("1: digest: {d} size: 527")), Some(d.clone()));
        assert_eq!(digest_in_status("Pushed"), None);
        let msg = push_message(
            "127.0.0.1:5000/app:1",
            Some(&login("127.0.0.1:5000")),
            "unauthorized: authentication required",
        );
        assert!(msg.starts_with("unauthorized: authentication required"), "{msg}");
        assert!(msg.contains("127.0.0.1:5000") && msg.contains("bob") && !msg.contains("s3cret"), "{msg}");
        assert_eq!(push_message("x:1", None, "tag does not exist"), "tag does not exist");
    }

    #[test]
    fn platforms_read_as_os_arch_variant() {
        assert_eq!(platform_string(Some("linux"), Some("amd64"), None), "linux/amd64");
        assert_eq!(platform_string(Some("linux"), Some("arm"), Some("v7")), "linux/arm/v7");
        assert_eq!(platform_string(None, Some("arm64"), Some("")), "linux/arm64");
    }
}
