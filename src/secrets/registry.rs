//! Registry servers as credentials name them: Docker Hub's aliases made one,
//! and the file name a login is stored under.

/// The names Docker Hub goes by (SPEC §3.2).
const DOCKER_HUB: [&str; 5] =
    ["docker.io", "index.docker.io", "registry-1.docker.io", "hub.docker.com", "https://index.docker.io/v1/"];

/// A server as a credential file stores it: scheme and trailing `/` removed,
/// lower-cased, every Docker Hub alias as `docker.io`.
pub fn normalize_server(server: &str) -> String {
    let s = server.trim();
    if DOCKER_HUB.iter().any(|a| a.eq_ignore_ascii_case(s)) {
        return "docker.io".to_string();
    }
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let s = s.trim_end_matches('/').to_ascii_lowercase();
    let host = s.split('/').next().unwrap_or_default();
    if DOCKER_HUB.contains(&host) {
        return "docker.io".to_string();
    }
    s
}

/// Whether two servers are the same registry (Docker Hub aliases alike).
pub fn same_server(a: &str, b: &str) -> bool {
    normalize_server(a) == normalize_server(b)
}

/// The credential name for a login: `ghcr.io` → `ghcr-io`, `127.0.0.1:5000`
/// → `127-0-0-1-5000`, Docker Hub → `docker-io`; with an app, `<app>-<slug>`.
pub fn login_credential_name(server: &str, app: Option<&str>) -> String {
    let mut slug = String::new();
    for c in normalize_server(server).chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    match app {
        Some(app) => format!("{app}-{slug}"),
        None => slug.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_aliases_are_one() {
        for a in DOCKER_HUB.iter().chain(&["Docker.IO", "https://index.docker.io/v1", "index.docker.io/v1/"]) {
            assert_eq!(normalize_server(a), "docker.io", "{a}");
            assert_eq!(login_credential_name(a, None), "docker-io", "{a}");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(login_credential_name("ghcr.io", None), "ghcr-io");
        assert_eq!(login_credential_name("127.0.0.1:5000", None), "127-0-0-1-5000");
        assert_eq!(login_credential_name("https://Registry.Example.com/", Some("web")), "web-registry-example-com");
        assert_eq!(normalize_server("https://registry.example.com/"), "registry.example.com");
        assert!(same_server("hub.docker.com", "registry-1.docker.io"));
        assert!(!same_server("ghcr.io", "docker.io"));
    }
}
