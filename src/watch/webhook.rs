//! Webhook deliveries, as pure functions: who signed one (GitHub, GitLab or
//! a generic bearer token) and whether the signature holds, which event it
//! is, and which branch a push names. The HTTP side (`http`) only reads the
//! request and acts on the answers; nothing here does I/O or logs.
//!
//! Every comparison with the secret is constant-time: GitHub's HMAC through
//! `hmac`'s `verify_slice`, tokens through `subtle`. The secret, a signature
//! and a token never appear in an error.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
pub const GITHUB_EVENT: &str = "x-github-event";
pub const GITLAB_TOKEN: &str = "x-gitlab-token";

/// Who signed a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    GitHub,
    /// `X-Gitlab-Token: <secret>`.
    GitLab,
    /// `Authorization: Bearer <secret>`, for anything else (Gitea, a CI job, curl).
    Bearer,
}

impl Provider {
    /// The name in logs and in `Trigger::Webhook`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
            Provider::Bearer => "bearer",
        }
    }
}

/// Why a delivery was refused (answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error(
        "no signature: send X-Hub-Signature-256 (GitHub), X-Gitlab-Token (GitLab) or Authorization: Bearer <secret>"
    )]
    Missing,
    #[error("{0} signature is malformed: {1}")]
    Malformed(&'static str, &'static str),
    #[error("{0} signature does not match the configured webhook secret")]
    Mismatch(&'static str),
}

/// Checks the delivery's signature against `secret`. Only the first of
/// GitHub's signature, GitLab's token and a bearer token that is present is
/// looked at: a wrong GitHub signature is not rescued by another header.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<Provider, Rejected> {
    if let Some(sig) = headers.get(GITHUB_SIGNATURE) {
        let hex_sig = sig
            .to_str()
            .ok()
            .and_then(|s| s.trim().strip_prefix("sha256="))
            .ok_or(Rejected::Malformed("github", "expected sha256=<hex>"))?;
        let raw = hex::decode(hex_sig).map_err(|_| Rejected::Malformed("github", "expected sha256=<hex>"))?;
        // HMAC accepts keys of any length: new_from_slice cannot fail here.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).map_err(|_| Rejected::Malformed("github", "unusable secret"))?;
        mac.update(body);
        return mac.verify_slice(&raw).map(|()| Provider::GitHub).map_err(|_| Rejected::Mismatch("github"));
    }
    if let Some(token) = headers.get(GITLAB_TOKEN) {
        return token_matches(token.as_bytes(), secret).then_some(Provider::GitLab).ok_or(Rejected::Mismatch("gitlab"));
    }
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
        let token =
            bearer(auth.as_bytes()).ok_or(Rejected::Malformed("bearer", "expected Authorization: Bearer <secret>"))?;
        return token_matches(token, secret).then_some(Provider::Bearer).ok_or(Rejected::Mismatch("bearer"));
    }
    Err(Rejected::Missing)
}

/// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 9110).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then(|| rest.trim_ascii())
}

/// Constant-time in the content; a length mismatch answers at once, which
/// tells an attacker the length at most.
fn token_matches(given: &[u8], secret: &[u8]) -> bool {
    !secret.is_empty() && bool::from(given.ct_eq(secret))
}

/// What a delivery asks for, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A hint that the repository may have moved: run a pass.
    Trigger,
    /// GitHub's `ping` when a hook is created: nothing moved.
    Ping,
    /// A push to a branch other than the one watched.
    OtherBranch { pushed: String, watching: String },
}

/// What to do with a verified delivery of `body`, watching `branch` (none:
/// a local repository, where any delivery is a hint).
pub fn decide(headers: &HeaderMap, body: &[u8], branch: Option<&str>) -> Decision {
    if headers.get(GITHUB_EVENT).is_some_and(|e| e.as_bytes() == b"ping") {
        return Decision::Ping;
    }
    match (branch, pushed_branch(body)) {
        (Some(watching), Some(pushed)) if pushed != watching => {
            Decision::OtherBranch { pushed, watching: watching.to_owned() }
        }
        _ => Decision::Trigger,
    }
}

/// The branch a GitHub or GitLab push payload names (`"ref":
/// "refs/heads/X"`). None for a tag, another event, or a body that is not
/// JSON (GitHub's form encoding): those are hints like any other.
pub fn pushed_branch(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Push {
        #[serde(rename = "ref")]
        git_ref: Option<String>,
    }
    let push: Push = serde_json::from_slice(body).ok()?;
    push.git_ref?.strip_prefix("refs/heads/").map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn github_sig(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn github_signature_from_githubs_docs_is_accepted() {
        // The example in GitHub's "Validating webhook deliveries".
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(github_sig(SECRET, BODY), sig);
        assert_eq!(verify(&headers(&[(GITHUB_SIGNATURE, sig)]), BODY, SECRET), Ok(Provider::GitHub));
    }

    #[test]
    fn github_signature_of_another_body_or_secret_is_refused() {
        let other_body = github_sig(SECRET, b"Hello, World?");
        assert_eq!(
            verify(&headers(&[(GITHUB_SIGNATURE, &other_body)]), BODY, SECRET),
            Err(Rejected::Mismatch("github"))
        );
        let other_secret = github_sig(b"guess", BODY);
        assert_eq!(
            verify(&headers(&[(GITHUB_SIGNATURE, &other_secret)]), BODY, SECRET),
            Err(Rejected::Mismatch("github"))
        );
        // A truncated signature is not a prefix match.
        let good = github_sig(SECRET, BODY);
        let short = &good[..good.len() - 2];
        assert_eq!(verify(&headers(&[(GITHUB_SIGNATURE, short)]), BODY, SECRET), Err(Rejected::Mismatch("github")));
    }

    #[test]
    fn github_signature_without_prefix_or_hex_is_malformed() {
        let good = github_sig(SECRET, BODY);
        for bad in [&good["sha256=".len()..], "sha1=abcd", "sha256=zz"] {
            let got = verify(&headers(&[(GITHUB_SIGNATURE, bad)]), BODY, SECRET);
            assert!(matches!(got, Err(Rejected::Malformed("github", _))), "{bad}: {got:?}");
        }
    }

    #[test]
    fn a_bad_github_signature_is_not_rescued_by_a_good_token() {
        let h = headers(&[(GITHUB_SIGNATURE, "sha256=00"), (GITLAB_TOKEN, "It's a Secret to Everybody")]);
        assert_eq!(verify(&h, BODY, SECRET), Err(Rejected::Mismatch("github")));
    }

    #[test]
    fn gitlab_token_must_equal_the_secret() {
        let good = std::str::from_utf8(SECRET).unwrap();
        assert_eq!(verify(&headers(&[(GITLAB_TOKEN, good)]), BODY, SECRET), Ok(Provider::GitLab));
        for bad in ["It's a Secret to Everybod", "It's a Secret to Everybody!", "", "it's a secret to everybody"] {
            assert_eq!(
                verify(&headers(&[(GITLAB_TOKEN, bad)]), BODY, SECRET),
                Err(Rejected::Mismatch("gitlab")),
                "{bad}"
            );
        }
    }

    #[test]
    fn bearer_token_must_equal_the_secret() {
        let h = headers(&[("authorization", "Bearer It's a Secret to Everybody")]);
        assert_eq!(verify(&h, BODY, SECRET), Ok(Provider::Bearer));
        let h = headers(&[("authorization", "bearer It's a Secret to Everybody")]);
        assert_eq!(verify(&h, BODY, SECRET), Ok(Provider::Bearer));
        let h = headers(&[("authorization", "Bearer nope")]);
        assert_eq!(verify(&h, BODY, SECRET), Err(Rejected::Mismatch("bearer")));
        for bad in ["Basic Zm9vOmJhcg==", "Bearer", "It's a Secret to Everybody"] {
            let got = verify(&headers(&[("authorization", bad)]), BODY, SECRET);
            assert!(matches!(got, Err(Rejected::Malformed("bearer", _))), "{bad}: {got:?}");
        }
    }

    #[test]
    fn no_signature_is_refused() {
        assert_eq!(verify(&HeaderMap::new(), BODY, SECRET), Err(Rejected::Missing));
        // The old SHA-1 header alone is not enough.
        let h = headers(&[("x-hub-signature", "sha1=0123")]);
        assert_eq!(verify(&h, BODY, SECRET), Err(Rejected::Missing));
    }

    #[test]
    fn an_empty_secret_matches_nothing() {
        assert_eq!(verify(&headers(&[(GITLAB_TOKEN, "")]), BODY, b""), Err(Rejected::Mismatch("gitlab")));
        assert_eq!(verify(&headers(&[("authorization", "Bearer ")]), BODY, b""), Err(Rejected::Mismatch("bearer")));
    }

    #[test]
    fn rejections_never_echo_the_secret_or_the_signature() {
        let sig = github_sig(b"guess", BODY);
        let err = verify(&headers(&[(GITHUB_SIGNATURE, &sig)]), BODY, SECRET).unwrap_err().to_string();
        assert!(!err.contains(&sig[7..]) && !err.contains("Secret to"), "{err}");
    }

    #[test]
    fn branch_of_github_and_gitlab_pushes() {
        let github = br#"{"ref":"refs/heads/main","before":"0000","after":"1111","repository":{"full_name":"a/b"}}"#;
        assert_eq!(pushed_branch(github).as_deref(), Some("main"));
        let gitlab = br#"{"object_kind":"push","ref":"refs/heads/feature/x","checkout_sha":"1111"}"#;
        assert_eq!(pushed_branch(gitlab).as_deref(), Some("feature/x"));
        assert_eq!(pushed_branch(br#"{"ref":"refs/tags/v1"}"#), None);
        assert_eq!(pushed_branch(br#"{"zen":"Keep it simple."}"#), None);
        assert_eq!(pushed_branch(br#"{"ref":7}"#), None);
        assert_eq!(pushed_branch(b"payload=%7B%7D"), None);
        assert_eq!(pushed_branch(b""), None);
    }

    #[test]
    fn a_push_to_another_branch_is_ignored_only_when_a_branch_is_watched() {
        let h = HeaderMap::new();
        let push = br#"{"ref":"refs/heads/dev"}"#;
        assert_eq!(
            decide(&h, push, Some("main")),
            Decision::OtherBranch { pushed: "dev".into(), watching: "main".into() }
        );
        assert_eq!(decide(&h, push, Some("dev")), Decision::Trigger);
        assert_eq!(decide(&h, push, None), Decision::Trigger);
        assert_eq!(decide(&h, br#"{"ref":"refs/tags/v1"}"#, Some("main")), Decision::Trigger);
        assert_eq!(decide(&h, b"not json", Some("main")), Decision::Trigger);
    }

    #[test]
    fn github_ping_triggers_nothing() {
        let h = headers(&[(GITHUB_EVENT, "ping")]);
        assert_eq!(decide(&h, br#"{"zen":"Design for failure.","hook_id":1}"#, Some("main")), Decision::Ping);
        let h = headers(&[(GITHUB_EVENT, "push")]);
        assert_eq!(decide(&h, br#"{"ref":"refs/heads/main"}"#, Some("main")), Decision::Trigger);
    }
}
