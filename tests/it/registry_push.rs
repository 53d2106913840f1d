//! `RegistryClient::retag` (a manifest-only push) and
//! `RegistryClient::platforms` against real registries: Debian's
//! docker-registry on loopback, open, with htpasswd basic auth and with
//! bearer tokens from a token service.
//!
//! A retag must leave the digest as it was (the manifest's bytes go back
//! untouched, with their `Content-Type`) and upload no blob; the registry's
//! access log shows which requests it got.

use crate::common::*;
use berth::observe::registry::{ImagePlatforms, Login, RegistryClient, RegistryError, RegistryOptions};

const USER: &str = "bob";
const PASSWORD: &str = "pw-Push-Secret-42";
const WRONG: &str = "pw-Wrong-Guess-17";

fn login(password: &str) -> Login {
    Login { username: USER.into(), password: password.into() }
}

fn client() -> RegistryClient {
    RegistryClient::new(RegistryOptions::default())
}

/// Asserts the message carries no password or token.
#[track_caller]
fn assert_no_secret(e: &RegistryError) {
    let text = format!("{e} {e:?}");
    for secret in [PASSWORD, WRONG, "eyJ"] {
        assert!(!text.contains(secret), "error shows a secret: {text}");
    }
}

/// `Docker-Content-Digest` of `HEAD /v2/<repo>/manifests/<reference>`, asked
/// with curl (not with berth's client), with basic credentials if given.
fn head_digest(host: &str, repo: &str, reference: &str, basic: Option<(&str, &str)>) -> String {
    let url = format!("http://{host}/v2/{repo}/manifests/{reference}");
    let mut args = vec![
        "-sS".to_string(),
        "-I".into(),
        "-H".into(),
        "Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json".into(),
    ];
    if let Some((u, p)) = basic {
        args.extend(["-u".into(), format!("{u}:{p}")]);
    }
    args.push(url.clone());
    let out = std::process::Command::new("curl").args(&args).output().expect("failed to run curl");
    let head = stdout(&out);
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("docker-content-digest").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("HEAD {url}: no Docker-Content-Digest:\n{head}{}", stderr(&out)))
}

/// The requests of the registry's access log after the first `before`.
fn requests_since(reg: &TestRegistry, before: usize) -> Vec<String> {
    reg.requests().split_off(before)
}

#[tokio::test]
async fn retag_under_basic_auth_keeps_the_digest_and_uploads_no_blob() {
    require_engine();
    let reg =
        TestRegistry::start(RegistrySetup { basic_auth: Some((USER.into(), PASSWORD.into())), ..Default::default() });
    let pushed = reg.push("busybox:1.36", "app:1", Some((USER, PASSWORD)));
    let client = client();

    let before = reg.requests().len();
    let sent = client.retag(&pushed.reference, "latest", Some(&login(PASSWORD)), Some("lan")).await.expect("retag");
    let asked = requests_since(&reg, before);
    assert!(
        asked.iter().all(|r| r == "GET /v2/" || r == "GET /v2/app/manifests/1" || r == "PUT /v2/app/manifests/latest"),
        "a retag sends the manifest only: {asked:?}"
    );
    assert!(asked.contains(&"PUT /v2/app/manifests/latest".to_string()), "{asked:?}\n{}", reg.log());
    assert!(sent > 500 && sent <= 4096, "bytes sent by the retag: {sent}");

    let host = reg.host();
    let creds = Some((USER, PASSWORD));
    assert_eq!(head_digest(&host, "app", "latest", creds), pushed.digest, "the new tag's digest");
    assert_eq!(head_digest(&host, "app", "1", creds), pushed.digest, "the source tag is unchanged");
    assert_eq!(
        client.digest(&format!("{}:latest", pushed.repository), Some(&login(PASSWORD)), None).await.expect("digest"),
        pushed.digest
    );

    // From a digest reference, to several tags.
    let by_digest = format!("{}@{}", pushed.repository, pushed.digest);
    for tag in ["v1.2.3-rc.1", "_x", "stable"] {
        client.retag(&by_digest, tag, Some(&login(PASSWORD)), Some("lan")).await.expect("retag by digest");
        assert_eq!(head_digest(&host, "app", tag, creds), pushed.digest, "{tag}");
    }
    let mut tags = client.tags(&pushed.repository, Some(&login(PASSWORD))).await.expect("tags");
    tags.sort();
    assert_eq!(tags, ["1", "_x", "latest", "stable", "v1.2.3-rc.1"]);
}

#[tokio::test]
async fn retag_under_token_auth_asks_for_a_push_token() {
    require_engine();
    let reg = TestRegistry::with_token_auth(USER, PASSWORD);
    let pushed = reg.push("busybox:1.36", "team/app:1", Some((USER, PASSWORD)));
    let client = client();

    let before = reg.token_requests().len();
    let sent = client.retag(&pushed.reference, "edge", Some(&login(PASSWORD)), Some("ghcr")).await.expect("retag");
    let asked = reg.token_requests().split_off(before);
    assert_eq!(asked.len(), 1, "one token per retag: {asked:?}");
    assert_eq!(asked[0].params("scope"), vec!["repository:team/app:pull,push"]);
    assert_eq!(asked[0].params("service"), vec![TOKEN_SERVICE]);
    // The token (a JWT with its certificate, ~1.7 KB here) goes with both
    // the GET and the PUT: more than under basic auth, still small.
    assert!(sent > 2000 && sent <= 8192, "bytes sent by the retag (with the token request): {sent}");

    // Reads ask for pull only.
    let before = reg.token_requests().len();
    let digest = client.digest(&format!("{}:edge", pushed.repository), Some(&login(PASSWORD)), None).await.unwrap();
    assert_eq!(digest, pushed.digest);
    let asked = reg.token_requests().split_off(before);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].params("scope"), vec!["repository:team/app:pull"]);

    // Several extra tags at once (as an apply pushes them): the push token
    // kept from above, one GET, a PUT per tag — under 4 KiB per tag even
    // with a token this size.
    let tags: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    let before = reg.token_requests().len();
    let all =
        client.retag_all(&pushed.reference, &tags, Some(&login(PASSWORD)), Some("ghcr")).await.expect("retag all");
    assert_eq!(reg.token_requests().split_off(before).len(), 0, "the push token is kept");
    assert!(all / 4 <= 4096, "bytes per extra tag: {}", all / 4);
    for tag in &tags {
        let d = client.digest(&format!("{}:{tag}", pushed.repository), Some(&login(PASSWORD)), None).await.unwrap();
        assert_eq!(d, pushed.digest);
    }
}

#[tokio::test]
async fn retag_with_a_wrong_or_no_login_is_denied_naming_the_credential() {
    require_engine();
    let basic =
        TestRegistry::start(RegistrySetup { basic_auth: Some((USER.into(), PASSWORD.into())), ..Default::default() });
    let token = TestRegistry::with_token_auth(USER, PASSWORD);
    let client = client();
    for reg in [&basic, &token] {
        let pushed = reg.push("busybox:1.36", "app:1", Some((USER, PASSWORD)));
        let repo = format!("{}/app", reg.host());

        let e = client.retag(&pushed.reference, "latest", Some(&login(WRONG)), Some("lan")).await.unwrap_err();
        assert!(
            matches!(&e, RegistryError::PushDenied { credential: Some(c), repo: r, .. } if c == "lan" && r == &repo),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.starts_with(&format!("failed to push {repo}:latest: registry {}", reg.host())), "{text}");
        assert!(text.contains(&format!("credential lan may not push to {repo}")), "{text}");
        assert_no_secret(&e);
        assert!(!e.is_unknown_state());

        // Without a name for it, the credential is its username.
        let e = client.retag(&pushed.reference, "latest", Some(&login(WRONG)), None).await.unwrap_err();
        assert!(e.to_string().contains(&format!("credential {USER} may not push to {repo}")), "{e}");

        // Anonymous: the token service grants nothing, basic auth wants a login.
        let e = client.retag(&pushed.reference, "latest", None, None).await.unwrap_err();
        assert!(matches!(&e, RegistryError::PushDenied { credential: None, .. }), "{e:?}");
        assert!(e.to_string().contains("denied access anonymously"), "{e}");

        // Nothing was tagged.
        let tags = client.tags(&pushed.repository, Some(&login(PASSWORD))).await.expect("tags");
        assert_eq!(tags, ["1"], "{}", reg.log());
    }
}

#[tokio::test]
async fn retag_of_a_missing_tag_is_manifest_unknown_with_the_nearest_tags() {
    require_engine();
    let reg = TestRegistry::start(RegistrySetup::default());
    let pushed = reg.push("busybox:1.36", "app:1.36", None);
    let client = client();
    let missing = format!("{}:1.37", pushed.repository);
    let e = client.retag(&missing, "latest", None, None).await.unwrap_err();
    assert_eq!(e, RegistryError::ManifestUnknown { image: missing.clone(), nearest: vec!["1.36".into()] });
    let e = client.retag(&format!("{}/nothing:1", reg.host()), "latest", None, None).await.unwrap_err();
    assert!(matches!(e, RegistryError::ManifestUnknown { .. }), "{e:?}");
    let e = client.retag(&pushed.reference, "not a tag", None, None).await.unwrap_err();
    assert!(matches!(e, RegistryError::InvalidReference { .. }), "{e:?}");
    assert_eq!(client.tags(&pushed.repository, None).await.unwrap(), ["1.36"]);
}

#[tokio::test]
async fn platforms_of_a_pushed_single_platform_image() {
    require_engine();
    let local = docker_ok(&["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", "busybox:1.36"]);
    let open = TestRegistry::start(RegistrySetup::default());
    let pushed = open.push("busybox:1.36", "app:1", None);
    let client = client();
    let p = client.platforms(&pushed.reference, None, None).await.expect("platforms");
    assert_eq!(p, ImagePlatforms::Single(local.clone()));
    assert_eq!(p, ImagePlatforms::Single("linux/amd64".into()), "the test host's busybox:1.36 is linux/amd64");
    assert!(p.offers("linux/amd64") && !p.offers("linux/arm64"));
    let asked = open.requests();
    assert!(asked.iter().any(|r| r.starts_with("GET /v2/app/blobs/sha256:")), "the config blob is read: {asked:?}");

    // Under token auth: the blob read carries the token too.
    let token = TestRegistry::with_token_auth(USER, PASSWORD);
    let pushed = token.push("busybox:1.36", "team/app:1", Some((USER, PASSWORD)));
    let by_digest = format!("{}@{}", pushed.repository, pushed.digest);
    let p = client.platforms(&by_digest, Some(&login(PASSWORD)), Some("ghcr")).await.expect("platforms");
    assert_eq!(p, ImagePlatforms::Single(local));

    // Errors as digest's.
    let e = client.platforms(&pushed.reference, Some(&login(WRONG)), Some("ghcr")).await.unwrap_err();
    assert!(matches!(&e, RegistryError::Denied { credential: Some(c), .. } if c == "ghcr"), "{e:?}");
    assert_no_secret(&e);
    let e = client.platforms(&format!("{}:2", pushed.repository), Some(&login(PASSWORD)), None).await.unwrap_err();
    assert!(matches!(&e, RegistryError::ManifestUnknown { nearest, .. } if nearest == &["1"]), "{e:?}");
}

/// Uploads `data` as a blob of `repo` (POST, then PUT with the digest).
async fn upload_blob(http: &reqwest::Client, host: &str, repo: &str, data: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)));
    let resp = http.post(format!("http://{host}/v2/{repo}/blobs/uploads/")).send().await.expect("POST upload");
    assert_eq!(resp.status().as_u16(), 202, "start upload");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let mut url = reqwest::Url::parse(&format!("http://{host}")).unwrap().join(&location).unwrap();
    url.query_pairs_mut().append_pair("digest", &digest);
    let resp = http
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .expect("PUT upload");
    assert_eq!(resp.status().as_u16(), 201, "finish upload: {}", resp.text().await.unwrap_or_default());
    digest
}

/// PUTs `body` as manifest `reference` of `repo`; its digest.
async fn put_manifest(http: &reqwest::Client, host: &str, repo: &str, reference: &str, media: &str, body: &str) {
    let resp = http
        .put(format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .header("content-type", media)
        .body(body.to_string())
        .send()
        .await
        .expect("PUT manifest");
    assert_eq!(resp.status().as_u16(), 201, "PUT manifest {reference}: {}", resp.text().await.unwrap_or_default());
}

#[tokio::test]
async fn platforms_of_an_oci_index_list_every_platform_but_attestations() {
    require_engine();
    let reg = TestRegistry::start(RegistrySetup::default());
    let host = reg.host();
    let pushed = reg.push("busybox:1.36", "multi:amd64", None);
    let http = reqwest::Client::new();
    const MANIFEST_TYPES: &str =
        "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";

    // The pushed manifest and its config, as stored.
    let resp = http
        .get(format!("http://{host}/v2/multi/manifests/amd64"))
        .header("accept", MANIFEST_TYPES)
        .send()
        .await
        .unwrap();
    let amd64_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    let amd64_body = resp.bytes().await.unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&amd64_body).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let config = http.get(format!("http://{host}/v2/multi/blobs/{config_digest}")).send().await.unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(&config.bytes().await.unwrap()).unwrap();

    // An arm64 twin: the same layers with a config that says arm64/v8.
    config["architecture"] = "arm64".into();
    config["variant"] = "v8".into();
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let arm_config = upload_blob(&http, &host, "multi", &config_bytes).await;
    manifest["config"]["digest"] = arm_config.clone().into();
    manifest["config"]["size"] = config_bytes.len().into();
    let arm_body = serde_json::to_string(&manifest).unwrap();
    put_manifest(&http, &host, "multi", "arm64", &amd64_type, &arm_body).await;
    let arm_digest = head_digest(&host, "multi", "arm64", None);
    let p = client().platforms(&format!("{host}/multi:arm64"), None, None).await.unwrap();
    assert_eq!(p, ImagePlatforms::Single("linux/arm64/v8".into()));

    // The index: amd64, arm64/v8 and an attestation-like unknown/unknown.
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": amd64_type, "digest": pushed.digest, "size": amd64_body.len(),
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": amd64_type, "digest": arm_digest, "size": arm_body.len(),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": amd64_type, "digest": pushed.digest, "size": amd64_body.len(),
             "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": pushed.digest}}
        ]
    })
    .to_string();
    put_manifest(&http, &host, "multi", "1", "application/vnd.oci.image.index.v1+json", &index).await;

    let client = client();
    let image = format!("{host}/multi:1");
    let p = client.platforms(&image, None, None).await.expect("platforms of the index");
    assert_eq!(p, ImagePlatforms::Index(vec!["linux/amd64".into(), "linux/arm64/v8".into()]));
    assert!(p.offers("linux/amd64") && p.offers("linux/arm64") && p.offers("linux/arm64/v8"));
    assert!(!p.offers("linux/arm/v7") && !p.offers("linux/arm64/v9") && !p.offers("unknown/unknown"));

    // An index retags byte for byte too: same digest, same type.
    let index_digest = head_digest(&host, "multi", "1", None);
    client.retag(&image, "latest", None, None).await.expect("retag the index");
    assert_eq!(head_digest(&host, "multi", "latest", None), index_digest);
    let resp = http
        .get(format!("http://{host}/v2/multi/manifests/latest"))
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(resp.bytes().await.unwrap(), index.as_bytes());
    assert_eq!(
        client.platforms(&format!("{host}/multi:latest"), None, None).await.unwrap(),
        ImagePlatforms::Index(vec!["linux/amd64".into(), "linux/arm64/v8".into()])
    );
}
