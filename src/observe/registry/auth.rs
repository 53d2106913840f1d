//! The registry auth handshake: `GET /v2/` answers 401 with a
//! `WWW-Authenticate` challenge; `Basic` means send the login with every
//! request, `Bearer realm=…,service=…` means trade the login (or nothing,
//! anonymously) for a token at the realm, scoped to one repository.
//!
//! Credentials and tokens live in `Authorization` only, which has no Debug
//! output and never reaches a message.

use super::Login;

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

/// Parses the first challenge of a `WWW-Authenticate` value; `None` for
/// schemes berth does not speak.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    let get = |k: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    Some(Challenge::Bearer { realm: get("realm")?, service: get("service") })
}

/// `key="value", key=token, …` (RFC 7235 auth-params).
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.trim().is_empty() {
            return out;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string();
        }
        out.push((key.trim().to_string(), value));
    }
}

/// What goes into the `Authorization` header of the registry requests.
#[derive(Clone, Default)]
pub enum Authorization {
    #[default]
    None,
    Basic(Login),
    Bearer(String),
}

impl Authorization {
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Self::None => request,
            Self::Basic(login) => request.basic_auth(&login.username, Some(&login.password)),
            Self::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// The token from a token service's JSON answer (`token`, or OAuth2's
/// `access_token`).
pub fn token_from_json(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["token", "access_token"]
        .iter()
        .find_map(|k| v.get(k).and_then(|t| t.as_str()).filter(|t| !t.is_empty()))
        .map(String::from)
}

/// The token request URL: the realm with `service` and `scope` added.
pub fn token_url(realm: &str, service: Option<&str>, scope: &str) -> Option<reqwest::Url> {
    let mut url = reqwest::Url::parse(realm).ok()?;
    {
        let mut q = url.query_pairs_mut();
        if let Some(s) = service {
            q.append_pair("service", s);
        }
        q.append_pair("scope", scope);
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
    }

    #[test]
    fn challenge_variants() {
        assert_eq!(parse_challenge(r#"Basic realm="berth-tests""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("basic"), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(r#"bearer realm = "http://127.0.0.1:1/t" , service=svc"#),
            Some(Challenge::Bearer { realm: "http://127.0.0.1:1/t".into(), service: Some("svc".into()) })
        );
        assert_eq!(
            parse_challenge(r#"Bearer realm="http://a/\"q\"""#),
            Some(Challenge::Bearer { realm: "http://a/\"q\"".into(), service: None })
        );
        assert_eq!(parse_challenge(r#"Bearer service="x""#), None, "a bearer challenge needs a realm");
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn token_answers() {
        assert_eq!(token_from_json(br#"{"token":"t1","expires_in":300}"#), Some("t1".into()));
        assert_eq!(token_from_json(br#"{"access_token":"t2"}"#), Some("t2".into()));
        assert_eq!(token_from_json(br#"{"token":""}"#), None);
        assert_eq!(token_from_json(b"<html>"), None);
    }

    #[test]
    fn token_url_adds_service_and_scope() {
        let u =
            token_url("https://auth.docker.io/token", Some("registry.docker.io"), "repository:library/busybox:pull")
                .unwrap();
        assert_eq!(
            u.as_str(),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fbusybox%3Apull"
        );
        assert!(token_url("not a url", None, "s").is_none());
    }
}
