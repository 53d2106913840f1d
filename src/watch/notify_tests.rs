//! Notifications to a real receiver (axum on 127.0.0.1, a free port).

use super::*;
use axum::http::StatusCode;
use axum::routing::post;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A receiver that records every body and answers `fail_first` 503s first.
struct Receiver {
    url: reqwest::Url,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    hits: Arc<AtomicUsize>,
}

async fn receiver(fail_first: usize) -> Receiver {
    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let (b, h) = (bodies.clone(), hits.clone());
    let app = axum::Router::new().route(
        "/hook/{token}",
        post(move |body: axum::body::Bytes| async move {
            if h.fetch_add(1, Ordering::SeqCst) < fail_first {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            b.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
            StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook/t0ken", listener.local_addr().unwrap()).parse().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, bodies, hits }
}

fn event(project: &str, result: NotifyResult) -> NotifyEvent {
    NotifyEvent {
        project: project.into(),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        result,
        summary: "Plan: 0 to build, 0 to pull, 0 to push, 0 to create, 1 to replace, 0 to remove.".into(),
        changes: vec![AppChange {
            app: "web".into(),
            actions: vec!["~ replace demo-web-web-1".into()],
            reasons: vec!["env.PORT changed".into()],
        }],
        error: None,
    }
}

async fn done(handle: Option<tokio::task::JoinHandle<()>>) {
    let handle = handle.expect("the event was skipped");
    tokio::time::timeout(Duration::from_secs(15), handle).await.expect("delivery took too long").unwrap();
}

#[tokio::test]
async fn the_same_event_twice_is_posted_once() {
    let r = receiver(0).await;
    let n = Notifier::new(r.url.clone());
    let e = event("demo", NotifyResult::Drifted);
    done(n.dispatch(&e)).await;
    assert!(n.dispatch(&e).is_none(), "an equal event was sent again");
    n.send(&e).await;
    assert_eq!(r.bodies.lock().unwrap().len(), 1);
    assert_eq!(r.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn different_events_are_each_posted() {
    let r = receiver(0).await;
    let n = Notifier::new(r.url.clone());
    done(n.dispatch(&event("demo", NotifyResult::Drifted))).await;
    done(n.dispatch(&event("demo", NotifyResult::Applied))).await;
    // Back to the first: it is not the last one sent any more.
    done(n.dispatch(&event("demo", NotifyResult::Drifted))).await;
    // Another project keeps its own last event.
    done(n.dispatch(&event("other", NotifyResult::Drifted))).await;
    let results: Vec<String> =
        r.bodies.lock().unwrap().iter().map(|b| format!("{}:{}", b["project"], b["result"])).collect();
    assert_eq!(
        results,
        ["\"demo\":\"drifted\"", "\"demo\":\"applied\"", "\"demo\":\"drifted\"", "\"other\":\"drifted\""]
    );
}

#[tokio::test]
async fn forget_lets_the_same_event_go_out_again() {
    let r = receiver(0).await;
    let n = Notifier::new(r.url.clone());
    let e = event("demo", NotifyResult::Drifted);
    done(n.dispatch(&e)).await;
    n.forget("demo");
    done(n.dispatch(&e)).await;
    assert_eq!(r.bodies.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn the_body_holds_the_documented_fields_only() {
    let r = receiver(0).await;
    let n = Notifier::new(r.url.clone());
    let mut e = event("demo", NotifyResult::CrashLooping);
    e.error = Some("web-web-1 died 6 times in 10 minutes".into());
    done(n.dispatch(&e)).await;
    let body = r.bodies.lock().unwrap()[0].clone();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["project", "commit", "result", "summary", "changes", "error"]);
    assert_eq!(body["result"], "crash-looping");
    assert_eq!(body["error"], "web-web-1 died 6 times in 10 minutes");
    let change = body["changes"][0].as_object().unwrap();
    let keys: Vec<&str> = change.keys().map(String::as_str).collect();
    assert_eq!(keys, ["app", "actions", "reasons"]);
    assert_eq!(body["changes"][0]["reasons"][0], "env.PORT changed");
}

#[tokio::test]
async fn a_failing_receiver_is_retried() {
    let r = receiver(2).await;
    let n = Notifier::new(r.url.clone());
    done(n.dispatch(&event("demo", NotifyResult::Failed))).await;
    assert_eq!(r.hits.load(Ordering::SeqCst), 3);
    assert_eq!(r.bodies.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_undelivered_event_is_not_counted_as_sent() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let n = Notifier::new(format!("http://127.0.0.1:{port}/hook").parse().unwrap());
    let e = event("demo", NotifyResult::Failed);
    done(n.dispatch(&e)).await;
    // Gave up: the same event is news again.
    assert!(n.dispatch(&e).is_some());
}
