//! Registry servers as credentials name them: Docker Hub's aliases made one,
//! and the file name a login is stored under.

/// A server's host, every Docker Hub alias as `docker.io` (one rule for
/// the whole crate, in `spec::values`).
pub use crate::spec::values::normalize_server;

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
        for a in crate::spec::values::DOCKER_HUB_ALIASES.iter().chain(&[
            "https://index.docker.io/v1/",
            "Docker.IO",
            "https://index.docker.io/v1",
            "index.docker.io/v1/",
        ]) {
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
