//! `RegistryClient` against real registries (Debian's docker-registry on
//! loopback: open, htpasswd, bearer tokens from a token service, TLS with a
//! throwaway CA) and stand-ins that answer 429 or 503; and the engine pulling
//! from the token and TLS registries with in-memory credentials.
//!
//! What the engine does with a TLS registry on loopback (checked below): it
//! counts loopback as an insecure registry, so it speaks HTTPS *without
//! verifying the certificate* (a wrong CA in certs.d, or none, changes
//! nothing) and falls back to plain HTTP when the registry has no TLS.
//! berth's client is stricter: plain HTTP for loopback, HTTPS verified
//! against a configured CA.

use crate::common::*;
use berth::observe::docker::DockerEngine;
use berth::observe::registry::{Login, RegistryClient, RegistryError, RegistryOptions};
use berth::observe::{Engine, PullAuth};
use std::time::{Duration, Instant};

const USER: &str = "bob";
const PASSWORD: &str = "pw-Very-Secret-42";
const WRONG: &str = "pw-Wrong-Guess-17";

fn login(password: &str) -> Login {
    Login { username: USER.into(), password: password.into() }
}

/// A client that ignores /etc/docker/certs.d (other tests put CAs there).
fn client_without_certs_d(extra_ca_pem: Vec<Vec<u8>>) -> (RegistryClient, tempfile::TempDir) {
    let empty = tempfile::tempdir().expect("temp dir");
    let client = RegistryClient::new(RegistryOptions {
        extra_ca_pem,
        certs_d: Some(empty.path().to_path_buf()),
        ..Default::default()
    });
    (client, empty)
}

/// Asserts the message carries no password or token.
#[track_caller]
fn assert_no_secret(e: &RegistryError) {
    let text = format!("{e} {e:?}");
    for secret in [PASSWORD, WRONG, "eyJ"] {
        assert!(!text.contains(secret), "error shows a secret: {text}");
    }
}

/// Removes a local image tag when dropped.
struct Untag(String);

impl Drop for Untag {
    fn drop(&mut self) {
        docker(&["rmi", &self.0]);
    }
}

/// The engine's RepoDigests for a local image.
fn repo_digests(image: &str) -> Vec<String> {
    let json = docker_ok(&["image", "inspect", "--format", "{{json .RepoDigests}}", image]);
    serde_json::from_str(&json).expect("RepoDigests JSON")
}

/// ~/.docker/config.json of the user running the tests, if any.
fn docker_config() -> Option<String> {
    let home = std::env::var_os("HOME")?;
    std::fs::read_to_string(std::path::Path::new(&home).join(".docker/config.json")).ok()
}

#[tokio::test]
async fn digest_by_head_equals_the_pushed_and_the_pulled_digest_and_fetches_no_layer() {
    require_engine();
    let reg = TestRegistry::start(RegistrySetup::default());
    let pushed = reg.push("busybox:1.36", "app:1", None);
    let image = pushed.reference.clone();

    let before = reg.requests().len();
    let client = RegistryClient::new(RegistryOptions::default());
    let digest = client.digest(&image, None, None).await.expect("digest");
    assert_eq!(digest, pushed.digest, "HEAD digest vs docker push");
    let asked = reg.requests().split_off(before);
    assert_eq!(asked, ["GET /v2/", "HEAD /v2/app/manifests/1"], "registry log:\n{}", reg.log());

    // By digest reference, and the tag list: still no manifest body, no blob.
    let by_digest = format!("{}@{digest}", pushed.repository);
    assert_eq!(client.digest(&by_digest, None, None).await.expect("digest by digest"), digest);
    assert_eq!(client.tags(&pushed.repository, None).await.expect("tags"), ["1"]);
    let asked = reg.requests().split_off(before);
    assert!(
        asked.iter().all(|r| r.starts_with("HEAD /v2/app/manifests/")
            || r == "GET /v2/"
            || r.starts_with("GET /v2/app/tags/list")),
        "{asked:?}"
    );

    let engine = DockerEngine::connect().await.expect("DockerEngine::connect");
    let _untag = Untag(image.clone());
    engine.pull(&image, None, None, crate::common::no_transfer()).await.expect("engine pull");
    assert!(
        repo_digests(&image).contains(&format!("{}@{digest}", pushed.repository)),
        "RepoDigests {:?} lack {digest}",
        repo_digests(&image)
    );
}

#[tokio::test]
async fn basic_auth_good_and_bad_credentials() {
    require_engine();
    let reg = LocalRegistry::with_auth(USER, PASSWORD);
    let pushed = docker_push(&reg.host(), "busybox:1.36", "private:1", Some((USER, PASSWORD)));
    let image = pushed.reference.clone();
    let client = RegistryClient::new(RegistryOptions::default());

    let digest = client.digest(&image, Some(&login(PASSWORD)), Some("lan")).await.expect("digest with the login");
    assert_eq!(digest, pushed.digest);

    let e = client.digest(&image, Some(&login(WRONG)), Some("lan")).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Denied { credential: Some(c), .. } if c == "lan"), "{e:?}");
    assert!(e.to_string().contains(&format!("registry {} denied access with credential lan", reg.host())), "{e}");
    assert_no_secret(&e);

    let e = client.digest(&image, None, None).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Denied { credential: None, .. }), "{e:?}");
    assert!(e.to_string().contains("denied access anonymously"), "{e}");

    assert_eq!(client.tags(&pushed.repository, Some(&login(PASSWORD))).await.expect("tags"), vec!["1".to_string()]);
    let e = client.tags(&pushed.repository, Some(&login(WRONG))).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Denied { credential: Some(c), .. } if c == USER), "{e:?}");
    assert_no_secret(&e);
}

#[tokio::test]
async fn token_auth_good_and_bad_credentials() {
    require_engine();
    let reg = TestRegistry::with_token_auth(USER, PASSWORD);
    let pushed = reg.push("busybox:1.36", "team/app:2", Some((USER, PASSWORD)));
    let image = pushed.reference.clone();
    let client = RegistryClient::new(RegistryOptions::default());

    let before = reg.token_requests().len();
    let digest = client.digest(&image, Some(&login(PASSWORD)), Some("corp")).await.expect("digest with a token");
    assert_eq!(digest, pushed.digest);
    let asked = reg.token_requests().split_off(before);
    assert_eq!(asked.len(), 1, "one token per read: {asked:?}");
    assert_eq!(asked[0].params("scope"), vec!["repository:team/app:pull"]);
    assert_eq!(asked[0].params("service"), vec![TOKEN_SERVICE]);
    assert!(asked[0].header("authorization").is_some_and(|a| a.starts_with("Basic ")), "{asked:?}");

    let e = client.digest(&image, Some(&login(WRONG)), Some("corp")).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Denied { credential: Some(c), .. } if c == "corp"), "{e:?}");
    assert_no_secret(&e);

    // Anonymous: the token service answers a token that grants nothing.
    let e = client.digest(&image, None, None).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Denied { credential: None, .. }), "{e:?}");
    assert_no_secret(&e);

    assert_eq!(client.tags(&pushed.repository, Some(&login(PASSWORD))).await.expect("tags"), vec!["2".to_string()]);
}

#[tokio::test]
async fn engine_pulls_from_the_token_registry_with_in_memory_credentials() {
    require_engine();
    let reg = TestRegistry::with_token_auth(USER, PASSWORD);
    let pushed = reg.push("busybox:1.37", "app:3", Some((USER, PASSWORD)));
    let image = pushed.reference.clone();
    let config_before = docker_config();
    let engine = DockerEngine::connect().await.expect("DockerEngine::connect");
    let _untag = Untag(image.clone());

    let wrong = PullAuth { server: reg.host(), username: USER.into(), password: WRONG.into() };
    let e = engine.pull(&image, None, Some(&wrong), crate::common::no_transfer()).await.unwrap_err();
    assert!(!e.to_string().contains(WRONG), "{e}");

    let auth = PullAuth { server: reg.host(), username: USER.into(), password: PASSWORD.into() };
    engine.pull(&image, None, Some(&auth), crate::common::no_transfer()).await.expect("engine pull with credentials");
    assert!(repo_digests(&image).contains(&format!("{}@{}", pushed.repository, pushed.digest)));
    assert!(
        reg.token_requests()
            .iter()
            .any(|r| r.header("user-agent").is_some_and(|a| a.starts_with("docker/"))
                && r.header("authorization").is_some()),
        "the engine asked the token service with credentials: {:?}",
        reg.token_requests()
    );
    let config_after = docker_config();
    assert_eq!(config_before, config_after, "~/.docker/config.json changed");
    assert!(!config_after.unwrap_or_default().contains(&reg.host()));
}

#[tokio::test]
async fn tls_registry_with_a_ca_from_certs_d_or_options_and_without() {
    require_engine();
    let reg = TestRegistry::start(RegistrySetup {
        tls: true,
        ca_in_certs_d: true,
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    });
    // The engine pushes over HTTPS (without verifying: loopback is insecure to it).
    let pushed = reg.push("busybox:1.36", "secure:1", Some((USER, PASSWORD)));
    let image = pushed.reference.clone();

    // The engine's CA folder, as berth reads it by default.
    let client = RegistryClient::new(RegistryOptions::default());
    assert_eq!(
        client.digest(&image, Some(&login(PASSWORD)), Some("tls")).await.expect("CA from certs.d"),
        pushed.digest
    );

    // The CA given in the options: plain HTTP first, the server wants TLS, HTTPS verified.
    let (client, _d) = client_without_certs_d(vec![reg.ca_pem()]);
    assert_eq!(
        client.digest(&image, Some(&login(PASSWORD)), Some("tls")).await.expect("CA from options"),
        pushed.digest
    );

    // No CA at all: berth says the registry speaks HTTPS and where a CA goes.
    let (client, _d) = client_without_certs_d(Vec::new());
    let started = Instant::now();
    let e = client.digest(&image, Some(&login(PASSWORD)), Some("tls")).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("speaks HTTPS") && e.to_string().contains("ca.crt"), "{e}");
    assert!(e.is_unknown_state());
    assert!(started.elapsed() < Duration::from_secs(5), "retries took {:?}", started.elapsed());
    assert_no_secret(&e);

    // Another CA: the TLS handshake fails verification.
    let other = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry/make-certs.sh");
    assert!(std::process::Command::new("bash").arg(script).arg("tls").arg(other.path()).status().unwrap().success());
    let (client, _d) = client_without_certs_d(vec![std::fs::read(other.path().join("ca.crt")).unwrap()]);
    let e = client.digest(&image, Some(&login(PASSWORD)), Some("tls")).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    assert_no_secret(&e);
}

#[tokio::test]
async fn engine_pulls_from_the_tls_registry_with_in_memory_credentials() {
    require_engine();
    let reg = TestRegistry::start(RegistrySetup {
        tls: true,
        ca_in_certs_d: true,
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    });
    let pushed = reg.push("busybox:1.37", "secure:2", Some((USER, PASSWORD)));
    let image = pushed.reference.clone();
    let config_before = docker_config();
    let engine = DockerEngine::connect().await.expect("DockerEngine::connect");
    let _untag = Untag(image.clone());

    let auth = PullAuth { server: reg.host(), username: USER.into(), password: PASSWORD.into() };
    engine
        .pull(&image, None, Some(&auth), crate::common::no_transfer())
        .await
        .expect("engine pull over TLS with credentials");
    assert!(repo_digests(&image).contains(&format!("{}@{}", pushed.repository, pushed.digest)));
    assert_eq!(config_before, docker_config(), "~/.docker/config.json changed");
}

/// Documents the engine's rule: loopback registries are insecure to it, so
/// it speaks HTTPS to them without checking the certificate at all.
#[tokio::test]
async fn engine_does_not_verify_tls_on_loopback_registries() {
    require_engine();
    let reg = TestRegistry::start(RegistrySetup { tls: true, ca_in_certs_d: false, ..Default::default() });
    let pushed = reg.push("busybox:1.36", "unverified:1", None);
    let image = pushed.reference.clone();
    let engine = DockerEngine::connect().await.expect("DockerEngine::connect");
    let _untag = Untag(image.clone());
    engine
        .pull(&image, None, None, crate::common::no_transfer())
        .await
        .expect("the engine pulls without knowing the CA");
    assert!(reg
        .requests()
        .iter()
        .any(|r| r == "HEAD /v2/unverified/manifests/1" || r == "GET /v2/unverified/manifests/1"));
}

#[tokio::test]
async fn unknown_tag_lists_the_nearest_tags() {
    require_engine();
    let reg = TestRegistry::start(RegistrySetup::default());
    for tag in ["1.36", "1.37", "latest", "2.0"] {
        reg.push("busybox:1.36", &format!("app:{tag}"), None);
    }
    let client = RegistryClient::new(RegistryOptions::default());
    let image = format!("{}/app:1.38", reg.host());
    let e = client.digest(&image, None, None).await.unwrap_err();
    let RegistryError::ManifestUnknown { image: named, nearest } = &e else { panic!("{e:?}") };
    assert_eq!(named, &image);
    assert_eq!(&nearest[..2], ["1.36", "1.37"], "{nearest:?}");
    assert_eq!(nearest.len(), 4);
    assert!(e.to_string().contains("nearest existing tags: 1.36, 1.37"), "{e}");
    assert!(!e.is_unknown_state());

    let e = client.digest(&format!("{}/nothing:1", reg.host()), None, None).await.unwrap_err();
    assert!(matches!(&e, RegistryError::ManifestUnknown { nearest, .. } if nearest.is_empty()), "{e:?}");
    assert_eq!(client.tags(&format!("{}/nothing", reg.host()), None).await.expect("tags"), Vec::<String>::new());
}

#[tokio::test]
async fn rate_limited_registry_is_unknown_and_shows_the_limit() {
    let stub = StubRegistry::rate_limited();
    let client = RegistryClient::new(RegistryOptions::default());
    let started = Instant::now();
    let e = client.digest(&format!("{}/app:1", stub.host()), None, None).await.unwrap_err();
    assert_eq!(
        e,
        RegistryError::RateLimited {
            registry: stub.host(),
            limit: Some("100;w=21600".into()),
            remaining: Some("0;w=21600".into()),
            reset: None
        }
    );
    assert!(e.is_unknown_state());
    let text = e.to_string();
    assert!(text.contains("ratelimit-limit 100;w=21600") && text.contains("ratelimit-remaining 0;w=21600"), "{text}");
    assert!(text.contains("authenticate"), "{text}");
    assert_eq!(stub.request_count(), 3, "three tries");
    assert!(started.elapsed() < Duration::from_secs(5), "retries took {:?}", started.elapsed());
}

#[tokio::test]
async fn server_error_is_unknown() {
    let stub = StubRegistry::unavailable();
    let client = RegistryClient::new(RegistryOptions::default());
    let e = client.digest(&format!("{}/app:1", stub.host()), Some(&login(PASSWORD)), Some("c")).await.unwrap_err();
    assert_eq!(e, RegistryError::Server { registry: stub.host(), status: 503 });
    assert!(e.is_unknown_state());
    assert_eq!(stub.request_count(), 3, "three tries");
    let e = client.tags(&format!("{}/app", stub.host()), None).await.unwrap_err();
    assert!(matches!(e, RegistryError::Server { status: 503, .. }), "{e:?}");
    assert_no_secret(&e);
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let host = format!("127.0.0.1:{}", free_port());
    let client = RegistryClient::new(RegistryOptions::default());
    let started = Instant::now();
    let e = client.digest(&format!("{host}/app:1"), Some(&login(PASSWORD)), Some("c")).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Unreachable { registry, .. } if registry == &host), "{e:?}");
    assert!(e.is_unknown_state());
    let text = e.to_string();
    assert!(text.starts_with(&format!("failed to reach registry {host}: ")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "retries took {:?}", started.elapsed());
    assert_no_secret(&e);
}

/// Tokens are kept while they live: further reads (by the client or a
/// clone) ask the token service nothing; another login, or push rights,
/// get their own token.
#[tokio::test]
async fn tokens_are_kept_across_calls_and_clones() {
    let reg = TestRegistry::with_token_auth(USER, PASSWORD);
    let pushed = reg.push("busybox:1.36", "kept/app:1", Some((USER, PASSWORD)));
    let _untag = Untag(pushed.reference.clone());
    let client = RegistryClient::new(RegistryOptions::default());
    let before = reg.token_requests().len();
    let asked = || reg.token_requests().len() - before;
    for _ in 0..3 {
        assert_eq!(
            client.digest(&pushed.reference, Some(&login(PASSWORD)), None).await.expect("digest"),
            pushed.digest
        );
    }
    let clone = client.clone();
    assert_eq!(clone.tags(&pushed.repository, Some(&login(PASSWORD))).await.expect("tags"), vec!["1".to_string()]);
    assert_eq!(asked(), 1, "one token for four reads: {:?}", reg.token_requests());
    // A wrong password is another login: refused by the token service, nothing kept.
    assert!(client.digest(&pushed.reference, Some(&login(WRONG)), None).await.is_err());
    assert_eq!(asked(), 2);
    assert!(client.digest(&pushed.reference, Some(&login(WRONG)), None).await.is_err());
    assert_eq!(asked(), 3, "a refused login is asked again, never served another's token");
    // Push rights are another scope.
    client.retag(&pushed.reference, "2", Some(&login(PASSWORD)), None).await.expect("retag");
    assert_eq!(asked(), 4);
    client.retag(&pushed.reference, "3", Some(&login(PASSWORD)), None).await.expect("retag");
    assert_eq!(asked(), 4);
    // A client of its own keeps its own.
    let other = RegistryClient::new(RegistryOptions::default());
    other.digest(&pushed.reference, Some(&login(PASSWORD)), None).await.expect("digest");
    assert_eq!(asked(), 5);
}

/// Two plans in one process (a watch's passes) ask the token service once:
/// the pipeline keeps its registry client, tokens and all.
#[tokio::test]
async fn two_plans_in_one_process_ask_the_token_service_once() {
    require_engine();
    let reg = TestRegistry::with_token_auth(USER, PASSWORD);
    let pushed = reg.push("busybox:1.36", "plans/app:1", Some((USER, PASSWORD)));
    let _untag = Untag(pushed.reference.clone());
    let repo = TestRepo::new("token-plans");
    let key = keygen(&repo.state_dir());
    age_encrypt(
        &repo,
        "reg",
        &key.public,
        &format!("kind: registry\nserver: {}\nusername: {USER}\npassword: {PASSWORD}\n", reg.host()),
    );
    repo.app("web", &format!("image: {}\npull: {{policy: always}}\n", pushed.reference));
    let engine = DockerEngine::connect().await.expect("DockerEngine::connect");
    let opts = berth::pipeline::LoadOptions { identity: Some(key.file.clone()) };
    let before = reg.token_requests().len();
    for _ in 0..2 {
        let dir = repo.dir();
        let o = opts.clone();
        let loaded = tokio::task::spawn_blocking(move || berth::pipeline::load(&dir, &o)).await.unwrap().expect("load");
        let plan =
            berth::pipeline::plan(&engine, &loaded, berth::pipeline::PlanOptions::default()).await.expect("plan");
        assert!(plan.unknowns.is_empty(), "{:?}", plan.unknowns);
    }
    let asked = reg.token_requests().split_off(before);
    assert_eq!(asked.len(), 1, "{asked:?}");
}
