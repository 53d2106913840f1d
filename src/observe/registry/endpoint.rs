//! Where and how to talk to a registry host: plain HTTP or HTTPS, and which
//! CAs to trust, following the Docker engine's conventions.
//!
//! - Registries on loopback (`127.0.0.0/8`, `localhost`, `[::1]`) and those
//!   listed as insecure are spoken to over plain HTTP, unless a CA is
//!   configured for that very host (`<certs.d>/<host:port>/*.crt`): then
//!   HTTPS, verified. A loopback or insecure registry that turns out to speak
//!   HTTPS is retried over HTTPS when general CAs are configured
//!   (`RegistryOptions::extra_ca_pem`, `BERTH_REGISTRY_CA`).
//! - Every other registry: HTTPS, verified against the system roots, the
//!   general CAs and the host's certs.d CAs.
//!
//! Unlike the engine, berth never skips certificate verification: the
//! engine treats loopback registries as insecure and talks HTTPS to them
//! without verifying anything (see tests/it/registry.rs).

use super::RegistryError;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where the engine (and berth) look for per-registry CAs.
pub const DOCKER_CERTS_D: &str = "/etc/docker/certs.d";
/// A PEM file with more CAs to trust, for every registry.
pub const CA_ENV: &str = "BERTH_REGISTRY_CA";

/// `host[:port]` is on loopback: `localhost`, `127.0.0.0/8`, `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    let name = host_name(host);
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host without its port; IPv6 without brackets.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The scheme rule above, without I/O: plain HTTP for loopback and listed
/// registries (`host:port`, or the bare host for every port), unless the
/// host has its own CA.
pub fn plain_http(host: &str, insecure: &[String], host_has_ca: bool) -> bool {
    let listed = insecure.iter().any(|i| {
        let i = i.trim().trim_start_matches("http://").trim_end_matches('/');
        i == host || i == host_name(host)
    });
    (listed || is_loopback(host)) && !host_has_ca
}

/// Trusted CAs: the general ones, and a certs.d folder to read per host.
#[derive(Clone)]
pub struct Trust {
    pub general: Vec<reqwest::Certificate>,
    pub certs_d: PathBuf,
}

impl Trust {
    /// Parses the general CAs: `pems`, then the file named by `env_ca`.
    pub fn load(pems: &[Vec<u8>], env_ca: Option<PathBuf>, certs_d: PathBuf) -> Result<Self, RegistryError> {
        let setup = |message: String| RegistryError::Setup { message };
        let mut general = Vec::new();
        for (i, pem) in pems.iter().enumerate() {
            let certs = pem_certs(pem).map_err(|e| setup(format!("failed to read CA certificate #{}: {e}", i + 1)))?;
            general.extend(certs);
        }
        if let Some(path) = env_ca {
            let pem =
                std::fs::read(&path).map_err(|e| setup(format!("failed to read {CA_ENV}={}: {e}", path.display())))?;
            let certs =
                pem_certs(&pem).map_err(|e| setup(format!("failed to read {CA_ENV}={}: {e}", path.display())))?;
            general.extend(certs);
        }
        Ok(Self { general, certs_d })
    }

    /// The `*.crt` files of `<certs.d>/<host>/`, as the engine reads them.
    pub fn host_cas(&self, host: &str) -> Result<Vec<reqwest::Certificate>, RegistryError> {
        read_crt_dir(&self.certs_d.join(host))
    }
}

fn read_crt_dir(dir: &Path) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut files: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "crt")).collect();
    files.sort();
    let mut certs = Vec::new();
    for path in files {
        let setup =
            |e: String| RegistryError::Setup { message: format!("failed to read CA file {}: {e}", path.display()) };
        let pem = std::fs::read(&path).map_err(|e| setup(e.to_string()))?;
        certs.extend(pem_certs(&pem).map_err(setup)?);
    }
    Ok(certs)
}

/// The certificates of a PEM bundle; none is an error too.
fn pem_certs(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    match reqwest::Certificate::from_pem_bundle(pem) {
        Ok(certs) if certs.is_empty() => Err("no PEM certificate in it".into()),
        Ok(certs) => Ok(certs),
        Err(e) => Err(format!("not a PEM certificate bundle: {e}")),
    }
}

/// One registry host: its base URL and an HTTP client trusting its CAs.
#[derive(Clone)]
pub struct Endpoint {
    /// `http://127.0.0.1:5000`, `https://registry-1.docker.io`.
    pub base: String,
    pub http: reqwest::Client,
    /// Spoken to over plain HTTP.
    pub plain: bool,
}

impl Endpoint {
    /// The endpoint for `host` under the scheme rule (`force_https` after a
    /// server said it speaks only HTTPS); its client from `clients` unless
    /// the host has CAs of its own.
    pub fn new(
        host: &str,
        insecure: &[String],
        trust: &Trust,
        force_https: bool,
        clients: &Clients,
    ) -> Result<Self, RegistryError> {
        let host_cas = trust.host_cas(host)?;
        let plain = !force_https && plain_http(host, insecure, !host_cas.is_empty());
        let http = match host_cas.is_empty() {
            true => clients.shared(host, trust)?,
            false => client(host, trust, host_cas)?,
        };
        let scheme = if plain { "http" } else { "https" };
        Ok(Self { base: format!("{scheme}://{host}"), http, plain })
    }
}

/// The HTTP clients of the hosts without CAs of their own: one for loopback
/// hosts (no proxy), one for the others. Making a client sets up TLS, which
/// reads the system's CA bundle (tens of milliseconds with OpenSSL 3), so
/// it is done once, not per host (a registry and its token service).
#[derive(Default)]
pub struct Clients(Mutex<HashMap<bool, reqwest::Client>>);

impl Clients {
    fn shared(&self, host: &str, trust: &Trust) -> Result<reqwest::Client, RegistryError> {
        let mut made = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let loopback = is_loopback(host);
        if let Some(c) = made.get(&loopback) {
            return Ok(c.clone());
        }
        let c = client(host, trust, Vec::new())?;
        made.insert(loopback, c.clone());
        Ok(c)
    }
}

/// An HTTP client for one host: system roots plus the general and the
/// host's CAs; no proxy for loopback. It waits at most the registry timeout
/// to connect and for each read of an answer (`observe::timeouts`).
pub fn client(
    host: &str,
    trust: &Trust,
    host_cas: Vec<reqwest::Certificate>,
) -> Result<reqwest::Client, RegistryError> {
    let wait = crate::observe::timeouts::current().registry;
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(wait)
        .read_timeout(wait)
        .tls_certs_merge(trust.general.iter().cloned().chain(host_cas));
    if is_loopback(host) {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|e| RegistryError::Setup { message: format!("failed to make an HTTP client for {host}: {e}") })
}

/// Go's answer to plain HTTP on a TLS port (every registry is written in Go).
pub fn says_https_only(status: u16, body: &str) -> bool {
    status == 400 && body.contains("HTTP request to an HTTPS server")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1:5000", "127.0.0.1", "127.8.9.1:443", "localhost:5000", "LOCALHOST", "[::1]:5000", "[::1]"]
        {
            assert!(is_loopback(h), "{h}");
        }
        for h in
            ["ghcr.io", "10.0.0.1:5000", "registry-1.docker.io", "[2001:db8::1]:5000", "localhost.example.com:5000"]
        {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn loopback_and_listed_registries_are_plain_http_unless_they_have_a_ca() {
        let insecure = vec!["registry.lan:5000".to_string(), "10.1.2.3".to_string()];
        assert!(plain_http("127.0.0.1:5000", &[], false));
        assert!(plain_http("localhost:5000", &[], false));
        assert!(plain_http("[::1]:5000", &[], false));
        assert!(!plain_http("127.0.0.1:5000", &[], true), "a CA for the host means TLS");
        assert!(plain_http("registry.lan:5000", &insecure, false));
        assert!(!plain_http("registry.lan:5001", &insecure, false), "another port is not listed");
        assert!(plain_http("10.1.2.3:8080", &insecure, false), "a bare host lists every port");
        assert!(!plain_http("registry.lan:5000", &insecure, true));
        assert!(!plain_http("ghcr.io", &insecure, false));
        assert!(!plain_http("registry-1.docker.io", &[], false));
    }

    #[test]
    fn certs_d_crt_files_make_a_host_ca() {
        let dir = tempfile::tempdir().unwrap();
        let trust = Trust { general: vec![], certs_d: dir.path().to_path_buf() };
        assert!(trust.host_cas("127.0.0.1:5000").unwrap().is_empty());
        std::fs::create_dir_all(dir.path().join("127.0.0.1:5000")).unwrap();
        std::fs::write(dir.path().join("127.0.0.1:5000/client.cert"), "not a CA").unwrap();
        assert!(trust.host_cas("127.0.0.1:5000").unwrap().is_empty(), "only *.crt are CAs");
        std::fs::write(dir.path().join("127.0.0.1:5000/ca.crt"), "garbage").unwrap();
        let err = trust.host_cas("127.0.0.1:5000").unwrap_err().to_string();
        assert!(err.starts_with("failed to set up the registry client: failed to read CA file"), "{err}");
    }

    #[test]
    fn unreadable_general_ca_is_a_setup_error() {
        let err = Trust::load(&[], Some("/nonexistent/ca.pem".into()), DOCKER_CERTS_D.into()).err().unwrap();
        assert!(err.to_string().contains("BERTH_REGISTRY_CA=/nonexistent/ca.pem"), "{err}");
        assert!(!err.is_unknown_state());
    }

    #[test]
    fn hosts_without_their_own_cas_share_two_clients() {
        let dir = tempfile::tempdir().unwrap();
        let trust = Trust { general: vec![], certs_d: dir.path().to_path_buf() };
        let clients = Clients::default();
        for host in ["ghcr.io", "auth.docker.io", "127.0.0.1:5000", "localhost:5001", "registry.lan:5000"] {
            let ep = Endpoint::new(host, &["registry.lan:5000".into()], &trust, false, &clients).unwrap();
            assert_eq!(ep.plain, is_loopback(host) || host == "registry.lan:5000", "{host}");
        }
        let made = |c: &Clients| c.0.lock().unwrap().len();
        assert_eq!(made(&clients), 2, "one client for loopback hosts, one for the others");
        // `force_https` changes the scheme, not the client.
        assert!(!Endpoint::new("127.0.0.1:5000", &[], &trust, true, &clients).unwrap().plain);
        assert_eq!(made(&clients), 2);
    }

    #[test]
    fn go_https_only_answer() {
        assert!(says_https_only(400, "Client sent an HTTP request to an HTTPS server.\n"));
        assert!(!says_https_only(400, "bad request"));
        assert!(!says_https_only(200, "HTTP request to an HTTPS server"));
    }
}
