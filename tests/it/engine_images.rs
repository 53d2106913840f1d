//! `DockerEngine`'s image work against the real engine, through the `Engine`
//! trait only: builds from in-memory tar contexts (args, target, extra tags,
//! failures with their log and no leftover containers, private base images
//! and build.credentials), pushes to a basic-auth registry (the digest it
//! stored, no layer sent twice, refused logins), tags and platforms.
//! Every build starts from the local busybox:1.36 stand-in or a local
//! registry: nothing needs the internet.

use crate::common::*;
use berth::observe::docker::DockerEngine;
use berth::observe::{BuildLog, BuildRequest, Engine, EngineError, PullAuth};
use berth::source::ContextStream;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

async fn engine() -> DockerEngine {
    require_engine();
    DockerEngine::connect().await.expect("DockerEngine::connect")
}

/// A tar of `files` (path, text), streamed in small chunks.
fn context(files: &[(&str, &str)]) -> ContextStream {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        tar.append_data(&mut header, path, text.as_bytes()).expect("tar entry");
    }
    let bytes = tar.into_inner().expect("tar");
    let chunks: Vec<Result<Bytes, std::io::Error>> = bytes.chunks(700).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(futures_util::stream::iter(chunks))
}

/// A log sink that keeps every line.
fn log() -> (BuildLog, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    (Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_string())), lines)
}

fn request(tags: &[&str]) -> BuildRequest {
    BuildRequest {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        dockerfile: "Dockerfile".into(),
        args: BTreeMap::new(),
        target: None,
        platform: None,
        labels: BTreeMap::new(),
        auth: Vec::new(),
    }
}

fn auth(server: &str, username: &str, password: &str) -> PullAuth {
    PullAuth { server: server.into(), username: username.into(), password: password.into() }
}

fn image_id_of(reference: &str) -> Option<String> {
    let out = docker(&["image", "inspect", "--format", "{{.Id}}", reference]);
    out.status.success().then(|| stdout(&out).trim().to_string())
}

/// Removes the images labelled `key=value` (a failed build's cached steps) when dropped.
struct RemoveLabelled(String);

impl Drop for RemoveLabelled {
    fn drop(&mut self) {
        let filter = format!("label={}", self.0);
        let containers = stdout(&docker(&["ps", "-aq", "--filter", &filter]));
        for id in containers.split_whitespace() {
            docker(&["rm", "-f", id]);
        }
        let images = stdout(&docker(&["images", "-q", "--filter", &filter]));
        for id in images.split_whitespace() {
            docker(&["rmi", "-f", id]);
        }
    }
}

#[tokio::test]
async fn build_with_args_and_target_tags_the_stage_asked_for() {
    let engine = engine().await;
    let name = unique_project("build-args-target");
    let first = format!("docker.io/library/{name}:1");
    let second = format!("127.0.0.1:5999/{name}:abc123");
    let _untag = (Untag(first.clone()), Untag(second.clone()));
    let dockerfile = format!(
        "FROM busybox:1.36 AS base\n\
         ARG GREETING=unset\n\
         LABEL berth-test.marker={name}\n\
         RUN echo \"$GREETING from base\" > /greeting\n\
         COPY hello.txt /hello.txt\n\
         \n\
         FROM base AS final\n\
         RUN echo final-stage-ran && exit 7\n"
    );
    let platform = engine.platform().await.expect("platform");
    let mut req = request(&[&first, &second]);
    req.dockerfile = "build/App.dockerfile".into();
    req.args = BTreeMap::from([("GREETING".to_string(), "hello".to_string())]);
    req.target = Some("base".into());
    req.platform = Some(platform.clone());
    let (sink, lines) = log();

    let id = engine
        .build(&req, context(&[("build/App.dockerfile", &dockerfile), ("hello.txt", "hi there\n")]), sink)
        .await
        .unwrap_or_else(|e| panic!("build failed: {e}: {e:?}"));

    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(image_id_of(&first).as_deref(), Some(id.as_str()), "first tag");
    assert_eq!(image_id_of(&second).as_deref(), Some(id.as_str()), "extra tag");
    let label = docker_ok(&["image", "inspect", "--format", "{{index .Config.Labels \"berth-test.marker\"}}", &first]);
    assert_eq!(label, name);
    let files = docker_ok(&["run", "--rm", &first, "cat", "/greeting", "/hello.txt"]);
    assert_eq!(files, "hello from base\nhi there");
    let lines = lines.lock().unwrap().clone();
    assert!(lines.iter().any(|l| l.starts_with("Step 1/")), "build output was logged: {lines:?}");
    assert!(lines.iter().all(|l| !l.contains('\n')), "one line per call: {lines:?}");
    assert!(!lines.iter().any(|l| l.contains("final-stage-ran")), "the target stage stops the build: {lines:?}");
    assert_eq!(engine.image_platform(&first).await.expect("image_platform"), Some(platform));
}

#[tokio::test]
async fn a_failed_build_carries_its_log_and_leaves_no_containers() {
    let engine = engine().await;
    let name = unique_project("build-fails");
    let tag = format!("docker.io/library/{name}:1");
    let label = format!("berth-test.run={name}");
    let _cleanup = RemoveLabelled(label.clone());
    let dockerfile =
        format!("FROM busybox:1.36\nLABEL {label}\nRUN echo \"about to fail {name}\" && echo second line && exit 3\n");
    let (sink, lines) = log();

    let err = engine.build(&request(&[&tag]), context(&[("Dockerfile", &dockerfile)]), sink).await.unwrap_err();

    let EngineError::Build { image, message, log } = &err else { panic!("expected a Build error, got {err:?}") };
    assert_eq!(image, &tag);
    assert!(message.contains("returned a non-zero code: 3"), "{message}");
    assert!(log.iter().any(|l| l == &format!("about to fail {name}")), "the RUN output is in the log: {log:?}");
    assert!(log.iter().any(|l| l == "second line"), "{log:?}");
    assert!(log.len() <= 50, "{log:?}");
    assert_eq!(log, &*lines.lock().unwrap(), "the tail is what was logged");
    assert!(err.to_string().starts_with(&format!("failed to build {tag}: ")), "{err}");
    let left = docker_ok(&["ps", "-aq", "--filter", &format!("label={label}")]);
    assert_eq!(left, "", "intermediate containers are removed on failure");
    assert_eq!(image_id_of(&tag), None, "a failed build is not tagged");
}

#[tokio::test]
async fn a_private_base_image_is_pulled_only_with_build_credentials() {
    let engine = engine().await;
    let name = unique_project("build-private-base");
    let password = format!("pw-{name}");
    let reg = TestRegistry::start(RegistrySetup {
        basic_auth: Some(("builder".into(), password.clone())),
        ..Default::default()
    });
    let host = reg.host();
    let pushed = docker_push(&host, "busybox:1.36", &format!("private/{name}:1"), Some(("builder", &password)));
    let _untag_base = Untag(pushed.reference.clone());
    let tag = format!("docker.io/library/{name}:1");
    let _untag = Untag(tag.clone());
    let dockerfile = format!("ARG BASE={}\nFROM ${{BASE}}\nRUN echo built > /built\n", pushed.reference);
    let files = [("Dockerfile", dockerfile.as_str())];
    let hint = "builds pull base images only with the credentials in build.credentials, never with the default \
                credential";

    // No build credentials at all.
    let err = engine.build(&request(&[&tag]), context(&files), log().0).await.unwrap_err();
    let EngineError::Build { message, .. } = &err else { panic!("expected a Build error, got {err:?}") };
    assert!(message.contains(hint), "{message}");
    assert!(message.ends_with(&format!("add a credential for {host} to build.credentials")), "{message}");

    // A login for another registry does not help.
    let mut req = request(&[&tag]);
    req.auth = vec![auth("ghcr.io", "builder", &password)];
    let err = engine.build(&req, context(&files), log().0).await.unwrap_err();
    assert!(err.to_string().contains(&format!("add a credential for {host} to build.credentials")), "{err}");

    // A wrong password for this registry: the engine's words, and whose login it refused.
    req.auth = vec![auth(&host, "builder", "wrong-password")];
    let err = engine.build(&req, context(&files), log().0).await.unwrap_err();
    let EngineError::Build { message, .. } = &err else { panic!("expected a Build error, got {err:?}") };
    assert!(
        message.ends_with(&format!("registry {host} refused the login of builder from build.credentials")),
        "{message}"
    );
    assert!(!message.contains("add a credential"), "{message}");
    assert!(!message.contains("wrong-password"), "{message}");

    // The right login.
    req.auth = vec![auth(&host, "builder", &password)];
    let id = engine.build(&req, context(&files), log().0).await.unwrap_or_else(|e| panic!("build failed: {e}"));
    assert_eq!(image_id_of(&tag).as_deref(), Some(id.as_str()));
    assert_eq!(docker_ok(&["run", "--rm", &tag, "cat", "/built"]), "built");
    assert!(image_id_of(&pushed.reference).is_some(), "the base image was pulled");
}

/// The manifest digest the registry reports for `repo:tag` (`HEAD`, basic auth).
async fn registry_digest(host: &str, repo: &str, tag: &str, login: (&str, &str)) -> String {
    let resp = reqwest::Client::new()
        .head(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .basic_auth(login.0, Some(login.1))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .expect("HEAD manifest");
    assert_eq!(resp.status().as_u16(), 200, "HEAD {repo}:{tag}");
    resp.headers()["docker-content-digest"].to_str().unwrap().to_string()
}

/// Blob uploads in the registry's access log.
fn uploads(reg: &TestRegistry) -> usize {
    reg.requests().iter().filter(|r| r.contains("/blobs/uploads")).count()
}

#[tokio::test]
async fn push_returns_the_digest_the_registry_stored() {
    let engine = engine().await;
    let name = unique_project("push-digest");
    let password = format!("pw-{name}");
    let reg = TestRegistry::start(RegistrySetup {
        basic_auth: Some(("pusher".into(), password.clone())),
        ..Default::default()
    });
    let host = reg.host();
    let repo = format!("apps/{name}");
    let one = format!("{host}/{repo}:1");
    let extra = format!("{host}/{repo}:latest");
    let _untag = (Untag(one.clone()), Untag(extra.clone()));
    engine.tag("busybox:1.36", &one).await.expect("tag");
    let login = auth(&host, "pusher", &password);

    let digest = engine.push(&one, Some(&login)).await.unwrap_or_else(|e| panic!("push failed: {e}"));
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    assert_eq!(registry_digest(&host, &repo, "1", ("pusher", &password)).await, digest);
    let uploaded = uploads(&reg);
    assert!(uploaded > 0, "the first push uploads the layer:\n{}", reg.log());

    // Again, and under another tag: the same digest, no layer sent twice.
    assert_eq!(engine.push(&one, Some(&login)).await.expect("second push"), digest);
    engine.tag(&one, &extra).await.expect("tag latest");
    assert_eq!(engine.push(&extra, Some(&login)).await.expect("push latest"), digest);
    assert_eq!(registry_digest(&host, &repo, "latest", ("pusher", &password)).await, digest);
    assert_eq!(uploads(&reg), uploaded, "no blob uploaded again:\n{:?}", reg.requests());
}

#[tokio::test]
async fn a_refused_push_names_the_registry() {
    let engine = engine().await;
    let name = unique_project("push-refused");
    let reg = TestRegistry::start(RegistrySetup {
        basic_auth: Some(("pusher".into(), "right-password".into())),
        ..Default::default()
    });
    let host = reg.host();
    let image = format!("{host}/{name}:1");
    let _untag = Untag(image.clone());
    engine.tag("busybox:1.36", &image).await.expect("tag");

    let err = engine.push(&image, Some(&auth(&host, "pusher", "wrong-password"))).await.unwrap_err();
    let EngineError::Push { image: failed, message } = &err else { panic!("expected a Push error, got {err:?}") };
    assert_eq!(failed, &image);
    assert!(message.contains(&format!("registry {host} refused the login of pusher")), "{message}");
    assert!(!message.contains("wrong-password"), "{message}");

    let err = engine.push(&image, None).await.unwrap_err();
    assert!(err.to_string().contains(&format!("registry {host} wants a login")), "{err}");
}

#[tokio::test]
async fn tag_gives_a_local_image_another_reference() {
    let engine = engine().await;
    let name = unique_project("engine-tag");
    let busybox = image_id_of("busybox:1.36").expect("busybox:1.36 stand-in is present");
    let with_port = format!("127.0.0.1:5000/team/{name}:1");
    let hub = format!("docker.io/library/{name}:2");
    let _untag = (Untag(with_port.clone()), Untag(hub.clone()));

    engine.tag("busybox:1.36", &with_port).await.expect("tag with a registry port");
    engine.tag(&busybox, &hub).await.expect("tag by id");

    assert_eq!(image_id_of(&with_port).as_deref(), Some(busybox.as_str()));
    assert_eq!(image_id_of(&format!("{name}:2")).as_deref(), Some(busybox.as_str()));
    assert_eq!(engine.image_id(&with_port).await.expect("image_id").as_deref(), Some(busybox.as_str()));
    let err = engine.tag("docker.io/library/busybox:no-such-tag", &hub).await.unwrap_err();
    assert!(matches!(err, EngineError::Call { .. }), "{err:?}");
}

#[tokio::test]
async fn platforms_of_the_engine_and_its_images() {
    let engine = engine().await;
    let expected = docker_ok(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]);
    assert_eq!(engine.platform().await.expect("platform"), expected);
    assert_eq!(engine.platform().await.expect("platform, cached"), expected);

    let image = docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}",
        "busybox:1.36",
    ]);
    assert_eq!(engine.image_platform("busybox:1.36").await.expect("image_platform"), Some(image));
    assert_eq!(engine.image_platform("docker.io/library/busybox:no-such-tag").await.expect("image_platform"), None);
}
