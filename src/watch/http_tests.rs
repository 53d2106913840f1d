//! The listener on a real socket (127.0.0.1, a free port), spoken to with
//! reqwest. "No trigger" is checked without waiting: a handler fires before
//! it answers, so after the answer a sentinel trigger must come out alone.

use super::*;
use crate::watch::status::{AppState, AppStatus, PassResult, StatusDoc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

const SECRET: &str = "s3cr3t-for-tests";

struct Server {
    base: String,
    triggers: Triggers,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ListenError>>,
    http: reqwest::Client,
}

async fn start(secret: Option<&str>, branch: Option<&str>) -> Server {
    let cfg = ListenConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        secret: secret.map(SecretString::from),
        branch: branch.map(str::to_owned),
    };
    let bound = bind(cfg).await.unwrap();
    let base = format!("http://{}", bound.local_addr());
    let status = Arc::new(Shared::new(StatusDoc {
        project: Some("demo".into()),
        source: "/srv/repo".into(),
        head: Some("abc123".into()),
        apps: [(
            "web".to_owned(),
            AppStatus {
                state: AppState::Failed,
                reasons: vec!["env.PORT changed".into()],
                last_error: Some("new container unhealthy".into()),
            },
        )]
        .into(),
        ..StatusDoc::default()
    }));
    let metrics = Arc::new(Metrics::new());
    metrics.pass(PassResult::Applied, 0.5);
    let triggers = Triggers::default();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(bound.serve(status, metrics, triggers.clone(), shutdown.clone()));
    Server { base, triggers, shutdown, task, http: reqwest::Client::new() }
}

impl Server {
    fn hook(&self) -> reqwest::RequestBuilder {
        self.http.post(format!("{}/webhook", self.base)).header("content-type", "application/json")
    }

    /// The next pass's reasons, or a failure after 5 s.
    async fn next(&self) -> Vec<Trigger> {
        tokio::time::timeout(Duration::from_secs(5), self.triggers.next()).await.expect("no trigger arrived").list
    }

    /// Nothing was fired: a sentinel comes out alone.
    async fn assert_no_trigger(&self) {
        self.triggers.fire(Trigger::Poll);
        assert_eq!(self.next().await, vec![Trigger::Poll]);
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "serve did not end cleanly: {ended:?}");
    }
}

fn github_sig(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

const PUSH_MAIN: &[u8] = br#"{"ref":"refs/heads/main","after":"1111111111111111111111111111111111111111"}"#;
const PUSH_DEV: &[u8] = br#"{"ref":"refs/heads/dev","after":"2222222222222222222222222222222222222222"}"#;

#[tokio::test]
async fn good_github_and_gitlab_and_bearer_deliveries_trigger_a_pass() {
    let s = start(Some(SECRET), Some("main")).await;

    let r = s
        .hook()
        .header("x-github-event", "push")
        .header("x-hub-signature-256", github_sig(SECRET, PUSH_MAIN))
        .body(PUSH_MAIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(s.next().await, vec![Trigger::Webhook { provider: "github" }]);

    let r = s.hook().header("x-gitlab-token", SECRET).body(PUSH_MAIN).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(s.next().await, vec![Trigger::Webhook { provider: "gitlab" }]);

    let r = s.hook().bearer_auth(SECRET).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(s.next().await, vec![Trigger::Webhook { provider: "bearer" }]);
    s.stop().await;
}

#[tokio::test]
async fn bad_or_missing_signatures_get_401_and_trigger_nothing() {
    let s = start(Some(SECRET), Some("main")).await;
    let attempts = [
        s.hook().header("x-hub-signature-256", github_sig("wrong", PUSH_MAIN)),
        // signed for another body
        s.hook().header("x-hub-signature-256", github_sig(SECRET, PUSH_DEV)),
        s.hook().header("x-hub-signature-256", "sha256=nothex"),
        s.hook().header("x-gitlab-token", "wrong"),
        s.hook().bearer_auth("wrong"),
        s.hook(),
    ];
    for req in attempts {
        let r = req.body(PUSH_MAIN).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let text = r.text().await.unwrap();
        assert!(!text.contains(SECRET), "{text}");
    }
    s.assert_no_trigger().await;
    s.stop().await;
}

#[tokio::test]
async fn a_push_to_another_branch_is_accepted_and_ignored() {
    let s = start(Some(SECRET), Some("main")).await;
    let r = s.hook().header("x-hub-signature-256", github_sig(SECRET, PUSH_DEV)).body(PUSH_DEV).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.text().await.unwrap().trim(), "ignored: push to dev, watching main");
    let r = s.hook().header("x-gitlab-token", SECRET).body(PUSH_DEV).send().await.unwrap();
    assert_eq!(r.status(), 202);
    s.assert_no_trigger().await;
    s.stop().await;
}

#[tokio::test]
async fn github_ping_is_accepted_and_triggers_nothing() {
    let s = start(Some(SECRET), Some("main")).await;
    let ping = br#"{"zen":"Practicality beats purity.","hook_id":1}"#;
    let r = s
        .hook()
        .header("x-github-event", "ping")
        .header("x-hub-signature-256", github_sig(SECRET, ping))
        .body(&ping[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    s.assert_no_trigger().await;
    s.stop().await;
}

#[tokio::test]
async fn a_body_over_1_mib_gets_413() {
    let s = start(Some(SECRET), None).await;
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = s.hook().header("x-hub-signature-256", github_sig(SECRET, &big)).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let over = vec![b' '; BODY_LIMIT + 1];
    let r = s.hook().header("x-hub-signature-256", github_sig(SECRET, &over)).body(over).send().await.unwrap();
    assert_eq!(r.status(), 413);
    s.assert_no_trigger().await;
    // Exactly the limit is read and verified.
    let fits = vec![b' '; BODY_LIMIT];
    let r = s.hook().header("x-hub-signature-256", github_sig(SECRET, &fits)).body(fits).send().await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(s.next().await, vec![Trigger::Webhook { provider: "github" }]);
    s.stop().await;
}

#[tokio::test]
async fn without_a_secret_the_webhook_is_refused_and_says_how_to_set_one() {
    let s = start(None, None).await;
    let r = s.hook().bearer_auth("anything").body("{}").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(text.contains("BERTH_WEBHOOK_SECRET") && text.contains("--webhook-secret-file"), "{text}");
    s.assert_no_trigger().await;
    // The rest of the listener works.
    let r = s.http.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn healthz_status_and_metrics() {
    let s = start(Some(SECRET), None).await;

    let r = s.http.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().trim(), "ok");

    let r = s.http.get(format!("{}/status", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(doc["project"], "demo");
    assert_eq!(doc["head"], "abc123");
    assert_eq!(doc["apps"]["web"]["state"], "failed");
    assert_eq!(doc["apps"]["web"]["last-error"], "new container unhealthy");
    for field in ["source", "applied", "attempted", "apps", "last-pass", "next-check", "backoff"] {
        assert!(doc.get(field).is_some(), "no {field} in {doc}");
    }

    let r = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], METRICS_CONTENT_TYPE);
    let text = r.text().await.unwrap();
    assert!(text.contains("# TYPE berth_reconcile_passes counter"), "{text}");
    assert!(text.contains("berth_reconcile_passes_total{result=\"applied\"} 1"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    s.stop().await;
}

#[tokio::test]
async fn unknown_paths_get_404_and_wrong_methods_405() {
    let s = start(Some(SECRET), None).await;
    let r = s.http.get(format!("{}/nope", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = s.http.get(format!("{}/webhook", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = s.http.post(format!("{}/status", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    s.assert_no_trigger().await;
    s.stop().await;
}

#[tokio::test]
async fn an_address_in_use_is_an_error_naming_it() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let cfg = ListenConfig { addr, secret: None, branch: None };
    let err =
        serve(cfg, Arc::default(), Arc::default(), Triggers::default(), CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, ListenError::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn a_client_that_never_finishes_does_not_hold_up_shutdown() {
    use tokio::io::AsyncWriteExt;
    let s = start(Some(SECRET), None).await;
    let mut slow = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://")).await.unwrap();
    slow.write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{").await.unwrap();
    // The request is being read when shutdown comes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // stop() fails unless serve ends (after SHUTDOWN_GRACE).
    s.stop().await;
    drop(slow);
}
