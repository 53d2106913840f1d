//! Why a registry read failed, and how an HTTP answer maps to that.
//!
//! Every message starts with "failed to …", names the image or registry,
//! says what to do where there is something to do, and never holds a
//! password or token (the types that carry those never reach a message).

use reqwest::header::HeaderMap;
use std::error::Error as _;

/// Why a registry read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The image reference does not parse.
    #[error("failed to parse image reference {image:?}: {message}")]
    InvalidReference { image: String, message: String },
    /// Connection refused, timeout, DNS, TLS: no HTTP answer at all.
    #[error("failed to reach registry {registry}: {message}")]
    Unreachable { registry: String, message: String },
    /// 401/403 from the registry or its token service.
    #[error("failed to read {image}: registry {registry} denied access {}", denied_advice(credential.as_deref(), registry))]
    Denied { image: String, registry: String, credential: Option<String> },
    /// 401/403 on a push (a retag), from the registry or its token service.
    #[error("failed to push {image}: registry {registry} denied access {}", push_denied_advice(credential.as_deref(), registry, repo))]
    PushDenied { image: String, registry: String, repo: String, credential: Option<String> },
    /// 404: the tag (or digest) is not in the repository.
    #[error("failed to find {image} in its registry: no such tag or digest{}", nearest_list(nearest))]
    ManifestUnknown { image: String, nearest: Vec<String> },
    /// 429.
    #[error(
        "failed to read from registry {registry}: too many requests (HTTP 429{}); authenticate with a registry credential for {registry} to get a higher limit, or wait until it resets",
        rate_details(limit.as_deref(), remaining.as_deref(), reset.as_deref())
    )]
    RateLimited { registry: String, limit: Option<String>, remaining: Option<String>, reset: Option<String> },
    /// 5xx.
    #[error("failed to read from registry {registry}: it answered HTTP {status}, a server error; try again later")]
    Server { registry: String, status: u16 },
    /// Any other answer the registry API does not give (3xx, 400, 405, …).
    #[error("failed to {what} on registry {registry}: unexpected HTTP {status}")]
    Unexpected { registry: String, what: String, status: u16 },
    /// A configured CA file or PEM could not be used.
    #[error("failed to set up the registry client: {message}")]
    Setup { message: String },
}

impl RegistryError {
    /// Unreachable, 5xx and 429: the registry could not say, so the plan
    /// shows that part as unknown and never as a change. These are the
    /// errors worth retrying.
    pub fn is_unknown_state(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Server { .. } | Self::RateLimited { .. })
    }
}

fn denied_advice(credential: Option<&str>, registry: &str) -> String {
    match credential {
        Some(name) => format!(
            "with credential {name}; check its username and password (berth registry login {registry} USERNAME) and that it may pull this repository"
        ),
        None => format!(
            "anonymously; give the app a registry credential for {registry} (berth registry login {registry} USERNAME, or pull.credential)"
        ),
    }
}

fn push_denied_advice(credential: Option<&str>, registry: &str, repo: &str) -> String {
    match credential {
        Some(name) => format!(
            "with credential {name}: credential {name} may not push to {repo}; check its username and password (berth registry login {registry} USERNAME) and that it has push access to {repo}"
        ),
        None => format!(
            "anonymously: pushing to {repo} needs a login; give the app a registry credential for {registry} (berth registry login {registry} USERNAME, or registry.credential)"
        ),
    }
}

fn nearest_list(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!("; nearest existing tags: {}", nearest.join(", "))
    }
}

fn rate_details(limit: Option<&str>, remaining: Option<&str>, reset: Option<&str>) -> String {
    let parts: Vec<String> = [("ratelimit-limit", limit), ("ratelimit-remaining", remaining), ("reset", reset)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(", {}", parts.join(", "))
    }
}

/// What a failed request was about, for the errors made from its answer.
pub(super) struct Context<'a> {
    pub image: &'a str,
    pub registry: &'a str,
    /// The credential's name (or the username, when the caller named none);
    /// `None` when anonymous.
    pub credential: Option<&'a str>,
    /// `read manifest of …`, `list tags of …`: for `Unexpected`.
    pub what: &'a str,
}

/// The error for a non-success HTTP answer. 404 is the caller's to read
/// (a missing tag and a missing repository mean different things).
pub(super) fn from_status(ctx: &Context<'_>, status: u16, headers: &HeaderMap) -> RegistryError {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
    match status {
        401 | 403 => RegistryError::Denied {
            image: ctx.image.to_string(),
            registry: ctx.registry.to_string(),
            credential: ctx.credential.map(String::from),
        },
        429 => RegistryError::RateLimited {
            registry: ctx.registry.to_string(),
            limit: header("ratelimit-limit"),
            remaining: header("ratelimit-remaining"),
            reset: header("ratelimit-reset").or_else(|| header("retry-after")),
        },
        500..=599 => RegistryError::Server { registry: ctx.registry.to_string(), status },
        _ => RegistryError::Unexpected { registry: ctx.registry.to_string(), what: ctx.what.to_string(), status },
    }
}

/// A transport failure (no HTTP answer): the causes, innermost last, without
/// reqwest's generic wrapper.
pub(super) fn unreachable(registry: &str, e: &reqwest::Error) -> RegistryError {
    RegistryError::Unreachable { registry: registry.to_string(), message: describe(e) }
}

pub(super) fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // hyper's "client error (Connect)" says nothing; hyper and native-tls
        // repeat their source's text in their own.
        let generic = text.starts_with("client error (");
        if !text.is_empty() && !generic && !parts.iter().any(|p| p.contains(&text)) {
            parts.retain(|p| !text.contains(p.as_str()));
            parts.push(text);
        }
        cause = c.source();
    }
    let mut message = if parts.is_empty() { e.to_string() } else { parts.join(": ") };
    if e.is_timeout() {
        if !message.contains("timed out") {
            message = format!("timed out: {message}");
        }
        let wait = crate::observe::timeouts::show(crate::observe::timeouts::current().registry);
        message.push_str(&format!(
            " (no answer within {wait}; set --registry-timeout or BERTH_REGISTRY_TIMEOUT to wait longer)"
        ));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn ctx(credential: Option<&str>) -> Context<'_> {
        Context { image: "127.0.0.1:5000/app:1", registry: "127.0.0.1:5000", credential, what: "read the manifest" }
    }

    #[test]
    fn statuses_map_to_kinds() {
        let h = HeaderMap::new();
        assert!(matches!(from_status(&ctx(None), 401, &h), RegistryError::Denied { credential: None, .. }));
        assert!(
            matches!(from_status(&ctx(Some("ghcr")), 403, &h), RegistryError::Denied { credential: Some(c), .. } if c == "ghcr")
        );
        assert!(matches!(from_status(&ctx(None), 503, &h), RegistryError::Server { status: 503, .. }));
        assert!(matches!(from_status(&ctx(None), 500, &h), RegistryError::Server { status: 500, .. }));
        assert!(matches!(from_status(&ctx(None), 429, &h), RegistryError::RateLimited { limit: None, .. }));
        assert!(matches!(from_status(&ctx(None), 400, &h), RegistryError::Unexpected { status: 400, .. }));
    }

    #[test]
    fn rate_limit_headers_are_kept() {
        let mut h = HeaderMap::new();
        h.insert("ratelimit-limit", HeaderValue::from_static("100;w=21600"));
        h.insert("ratelimit-remaining", HeaderValue::from_static("0;w=21600"));
        let e = from_status(&ctx(None), 429, &h);
        assert_eq!(
            e,
            RegistryError::RateLimited {
                registry: "127.0.0.1:5000".into(),
                limit: Some("100;w=21600".into()),
                remaining: Some("0;w=21600".into()),
                reset: None
            }
        );
        let text = e.to_string();
        assert!(text.starts_with("failed to "), "{text}");
        assert!(text.contains("ratelimit-limit 100;w=21600, ratelimit-remaining 0;w=21600"), "{text}");
        assert!(text.contains("authenticate"), "{text}");
    }

    #[test]
    fn unknown_state_is_unreachable_5xx_and_429_only() {
        let h = HeaderMap::new();
        assert!(from_status(&ctx(None), 503, &h).is_unknown_state());
        assert!(from_status(&ctx(None), 429, &h).is_unknown_state());
        assert!(RegistryError::Unreachable { registry: "r".into(), message: "refused".into() }.is_unknown_state());
        assert!(!from_status(&ctx(None), 401, &h).is_unknown_state());
        assert!(!from_status(&ctx(None), 400, &h).is_unknown_state());
        assert!(!RegistryError::ManifestUnknown { image: "i".into(), nearest: vec![] }.is_unknown_state());
        assert!(!RegistryError::Setup { message: "m".into() }.is_unknown_state());
    }

    #[test]
    fn denied_names_the_credential_or_says_anonymously() {
        let h = HeaderMap::new();
        let named = from_status(&ctx(Some("ghcr")), 401, &h).to_string();
        assert!(
            named.starts_with(
                "failed to read 127.0.0.1:5000/app:1: registry 127.0.0.1:5000 denied access with credential ghcr"
            ),
            "{named}"
        );
        let anon = from_status(&ctx(None), 401, &h).to_string();
        assert!(anon.contains("denied access anonymously; give the app a registry credential"), "{anon}");
    }

    #[test]
    fn every_message_starts_with_failed_to() {
        let all = [
            RegistryError::InvalidReference { image: "A".into(), message: "m".into() },
            RegistryError::Unreachable { registry: "r".into(), message: "m".into() },
            RegistryError::Denied { image: "i".into(), registry: "r".into(), credential: None },
            RegistryError::ManifestUnknown { image: "i".into(), nearest: vec!["1".into(), "2".into()] },
            RegistryError::PushDenied { image: "i".into(), registry: "r".into(), repo: "r/a".into(), credential: None },
            RegistryError::RateLimited { registry: "r".into(), limit: None, remaining: None, reset: None },
            RegistryError::Server { registry: "r".into(), status: 502 },
            RegistryError::Unexpected { registry: "r".into(), what: "list tags".into(), status: 405 },
            RegistryError::Setup { message: "m".into() },
        ];
        for e in all {
            assert!(e.to_string().starts_with("failed to "), "{e}");
        }
    }

    #[test]
    fn push_denied_says_who_may_not_push_where() {
        let e = RegistryError::PushDenied {
            image: "127.0.0.1:5000/app:latest".into(),
            registry: "127.0.0.1:5000".into(),
            repo: "127.0.0.1:5000/app".into(),
            credential: Some("lan".into()),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("failed to push 127.0.0.1:5000/app:latest: registry 127.0.0.1:5000 denied access with credential lan: credential lan may not push to 127.0.0.1:5000/app;"),
            "{text}"
        );
        assert!(!e.is_unknown_state());
        let anon = RegistryError::PushDenied {
            image: "127.0.0.1:5000/app:latest".into(),
            registry: "127.0.0.1:5000".into(),
            repo: "127.0.0.1:5000/app".into(),
            credential: None,
        }
        .to_string();
        assert!(anon.contains("denied access anonymously: pushing to 127.0.0.1:5000/app needs a login"), "{anon}");
    }

    #[test]
    fn manifest_unknown_lists_nearest_tags() {
        let e =
            RegistryError::ManifestUnknown { image: "r/app:1.3".into(), nearest: vec!["1.36".into(), "1.37".into()] };
        assert_eq!(
            e.to_string(),
            "failed to find r/app:1.3 in its registry: no such tag or digest; nearest existing tags: 1.36, 1.37"
        );
    }
}
