//! Which credential each registry operation uses (SPEC §3.2), and why.
//!
//! Runtime pull: the app's `pull.credential`; else the one registry
//! credential whose server is the image's registry; when several match, an
//! error asking to pick — `pull.credential`, or `credentials.default` in
//! berth.yaml naming one of them (an explicit pick; the implicit default
//! never breaks a tie); with none, anonymous. The default credential is `credentials.default`,
//! else the registry credential added first to the repository (git history;
//! without history: alphabetical). Only names and servers are looked at
//! here: secret values stay in `secrets`.

use crate::secrets::{CredentialKind, Credentials};

pub use crate::spec::values::{image_registry, normalize_server};

/// A credential chosen for an operation, and the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    /// `None`: anonymous.
    pub name: Option<String>,
    pub why: String,
}

/// The default registry credential and why it is the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultCredential {
    pub name: String,
    pub why: String,
    /// Named by `credentials.default` (not inferred from history or names).
    pub explicit: bool,
}

/// Decide the default: explicit, else first added in git, else alphabetical.
/// `added_order` lists credential names oldest first (from git), if known.
pub fn default_credential(
    explicit: Option<&str>,
    creds: &Credentials,
    added_order: Option<&[String]>,
) -> Option<DefaultCredential> {
    if let Some(name) = explicit {
        return Some(DefaultCredential {
            name: name.to_string(),
            why: "credentials.default in berth.yaml".into(),
            explicit: true,
        });
    }
    let registries: Vec<&str> = registry_creds(creds).map(|(n, _)| n).collect();
    if let Some(order) = added_order {
        if let Some(first) = order.iter().find(|n| registries.contains(&n.as_str())) {
            let why = "the registry credential added first to the repository (git history)".into();
            return Some(DefaultCredential { name: first.clone(), why, explicit: false });
        }
    }
    registries.first().map(|n| DefaultCredential {
        name: n.to_string(),
        why: "the alphabetically first registry credential (no git history)".into(),
        explicit: false,
    })
}

fn registry_creds(creds: &Credentials) -> impl Iterator<Item = (&str, String)> {
    creds.items.iter().filter_map(|(n, c)| match &c.kind {
        CredentialKind::Registry(r) => Some((n.as_str(), normalize_server(&r.server))),
        _ => None,
    })
}

/// Runtime-pull credential for `image` (normalized), per SPEC §3.2.
pub fn pull_credential(
    image: &str,
    explicit: Option<&str>,
    creds: &Credentials,
    default: Option<&str>,
) -> Result<Choice, String> {
    if let Some(name) = explicit {
        return match creds.items.get(name).map(|c| &c.kind) {
            Some(CredentialKind::Registry(_)) | None => {
                Ok(Choice { name: Some(name.to_string()), why: "pull.credential of the app".into() })
            }
            Some(_) => {
                Err(format!("credential `{name}` is not a `kind: registry` credential and cannot be used to pull"))
            }
        };
    }
    let registry = image_registry(image);
    let matching: Vec<&str> = registry_creds(creds).filter(|(_, s)| *s == registry).map(|(n, _)| n).collect();
    match matching.as_slice() {
        [] => Ok(Choice { name: None, why: format!("anonymous: no credential for {registry}") }),
        [one] => Ok(Choice { name: Some(one.to_string()), why: format!("the only credential for {registry}") }),
        several => match default {
            Some(d) if several.contains(&d) => Ok(Choice {
                name: Some(d.to_string()),
                why: format!("the default credential (credentials.default in berth.yaml), one of several for {registry}"),
            }),
            _ => Err(format!(
                "several credentials are for {registry} ({}); pick one with `pull.credential` (or `credentials.default` in berth.yaml)",
                several.join(", ")
            )),
        },
    }
}

/// Push credential for `server` (computed, may be empty): the app's
/// `registry.credential`, else the one credential whose server matches.
pub fn push_credential(server: &str, explicit: Option<&str>, creds: &Credentials) -> Result<Choice, String> {
    if let Some(name) = explicit {
        return Ok(Choice { name: Some(name.to_string()), why: "registry.credential of the app".into() });
    }
    if server.is_empty() {
        return Ok(Choice { name: None, why: "no registry server: nothing is pushed".into() });
    }
    let server = normalize_server(server);
    let matching: Vec<&str> = registry_creds(creds).filter(|(_, s)| *s == server).map(|(n, _)| n).collect();
    match matching.as_slice() {
        [] => Ok(Choice { name: None, why: format!("anonymous: no credential for {server}") }),
        [one] => Ok(Choice { name: Some(one.to_string()), why: format!("the only credential for {server}") }),
        several => Err(format!(
            "several credentials are for {server} ({}); pick one with `registry.credential`",
            several.join(", ")
        )),
    }
}
