//! Counting what a registry call sends: every request goes through a
//! `Meter`, which adds up the size of each request as HTTP/1.1 puts it on
//! the wire (request line, headers, body).
//!
//! The count is computed from the request, not read from the socket: it
//! includes the headers the client adds by itself (`host`, `user-agent`,
//! `accept`, `content-length`) and leaves out TCP and TLS framing. Over
//! plain HTTP it matches a byte count taken on the connection (see
//! benches/push.sh, which checks it against a counting proxy).

use reqwest::header::{ACCEPT, USER_AGENT};
use std::sync::atomic::{AtomicU64, Ordering};

/// What the endpoint's client sends as `user-agent` (endpoint::client).
const AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));

/// Bytes sent by the requests of one call, over all its tries.
#[derive(Debug, Default)]
pub struct Meter(AtomicU64);

impl Meter {
    /// Builds `request`, counts it, sends it.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, reqwest::Error> {
        let (client, request) = request.build_split();
        let request = request?;
        self.0.fetch_add(request_size(&request), Ordering::Relaxed);
        client.execute(request).await
    }

    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The size of `r` as HTTP/1.1 text: `METHOD /path?query HTTP/1.1`, the
/// headers (with those the client adds when they are missing), the blank
/// line and the body.
pub fn request_size(r: &reqwest::Request) -> u64 {
    let line = |name: &str, value: usize| (name.len() + 2 + value + 2) as u64;
    let url = r.url();
    let target = url.path().len() + url.query().map_or(0, |q| q.len() + 1);
    let mut n = (r.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len()) as u64;
    let host = url.host_str().map_or(0, str::len) + url.port().map_or(0, |p| p.to_string().len() + 1);
    n += line("host", host);
    for (name, value) in r.headers() {
        n += line(name.as_str(), value.as_bytes().len());
    }
    if !r.headers().contains_key(USER_AGENT) {
        n += line("user-agent", AGENT.len());
    }
    if !r.headers().contains_key(ACCEPT) {
        n += line("accept", "*/*".len());
    }
    let body = r.body().and_then(reqwest::Body::as_bytes).map_or(0, <[u8]>::len);
    if body > 0 {
        n += line("content-length", body.to_string().len());
    }
    n + 2 + body as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_the_request_line_headers_and_body() {
        let client = reqwest::Client::new();
        let get = client.get("http://127.0.0.1:5000/v2/").build().unwrap();
        let text = format!("GET /v2/ HTTP/1.1\r\nhost: 127.0.0.1:5000\r\nuser-agent: {AGENT}\r\naccept: */*\r\n\r\n");
        assert_eq!(request_size(&get), text.len() as u64);

        let put = client
            .put("http://reg.example/v2/app/manifests/1?x=y")
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body("{}")
            .build()
            .unwrap();
        let text = format!(
            "PUT /v2/app/manifests/1?x=y HTTP/1.1\r\nhost: reg.example\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\nuser-agent: {AGENT}\r\naccept: */*\r\ncontent-length: 2\r\n\r\n{{}}"
        );
        assert_eq!(request_size(&put), text.len() as u64);
    }

    #[test]
    fn the_meter_adds_up_every_try() {
        let m = Meter::default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = reqwest::Client::new();
        // Nothing listens on port 1: the request is counted all the same.
        let one = request_size(&client.get("http://127.0.0.1:1/v2/").build().unwrap());
        for _ in 0..2 {
            assert!(rt.block_on(m.send(client.get("http://127.0.0.1:1/v2/"))).is_err());
        }
        assert_eq!(m.total(), 2 * one);
    }
}
