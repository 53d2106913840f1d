//! Reading manifests without re-serializing them: whether a body is an
//! index or a single manifest, the platforms an index lists, the config
//! digest of a manifest and the platform its config names; and the tag
//! grammar a push must follow.
//!
//! Manifests are only ever read here; a retag sends the bytes it got back
//! untouched (any re-serialization would change the digest).

use serde::Deserialize;

/// The media types of a multi-platform index.
const INDEX_TYPES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];

/// A manifest body, taken apart as far as berth needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// An index: `os/arch[/variant]` of each entry (attestations left out).
    Index(Vec<String>),
    /// A single manifest: the digest of its config blob.
    Single { config: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    media_type: Option<String>,
    manifests: Option<Vec<Entry>>,
    config: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Entry {
    platform: Option<Platform>,
    #[serde(default)]
    annotations: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
}

/// Both the `platform` of an index entry and an image config.
#[derive(Deserialize)]
struct Platform {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`; `None` without os or architecture.
    fn name(&self) -> Option<String> {
        let (os, arch) = (self.os.as_deref()?, self.architecture.as_deref()?);
        if os.is_empty() || arch.is_empty() {
            return None;
        }
        Some(match self.variant.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        })
    }
}

/// Whether `content_type` (the answer's header, parameters ignored) or the
/// body's `mediaType` names an index; else the presence of `manifests`.
fn is_index(content_type: Option<&str>, raw: &Raw) -> bool {
    let base = |t: &str| t.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let mut named = content_type.map(base).into_iter().chain(raw.media_type.as_deref().map(base));
    named.any(|t| INDEX_TYPES.contains(&t.as_str())) || (raw.manifests.is_some() && raw.config.is_none())
}

/// An index's platforms or a manifest's config digest; `None` for a body
/// that is neither (not JSON, a schema-1 manifest, …).
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Option<Parsed> {
    let raw: Raw = serde_json::from_slice(body).ok()?;
    if is_index(content_type, &raw) {
        let mut platforms: Vec<String> = Vec::new();
        for entry in raw.manifests.unwrap_or_default() {
            // BuildKit's attestation manifests: `unknown/unknown`, and
            // annotated as such.
            if entry.annotations.get("vnd.docker.reference.type").is_some_and(|t| t == "attestation-manifest") {
                continue;
            }
            let Some(p) = entry.platform.as_ref().and_then(Platform::name) else { continue };
            if p.starts_with("unknown/unknown") || platforms.contains(&p) {
                continue;
            }
            platforms.push(p);
        }
        return Some(Parsed::Index(platforms));
    }
    Some(Parsed::Single { config: raw.config?.digest })
}

/// `os/arch[/variant]` of an image config blob; `None` when it names none.
pub fn config_platform(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Platform>(body).ok()?.name()
}

/// The media type to send a manifest back with when the registry's answer
/// had no `Content-Type`: the body's own `mediaType`.
pub fn media_type(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Raw>(body).ok()?.media_type.filter(|t| !t.is_empty())
}

/// Why `tag` is not a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`), or
/// `None` when it is.
pub fn invalid_tag(tag: &str) -> Option<String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    if bytes.is_empty() {
        return Some("a tag cannot be empty".into());
    }
    if bytes.len() > 128 {
        return Some(format!("tag {tag:?} is {} characters long, at most 128 are allowed", bytes.len()));
    }
    if !word(bytes[0]) {
        return Some(format!("tag {tag:?} must start with a letter, digit or underscore"));
    }
    if let Some(c) = tag.chars().find(|&c| !(c.is_ascii() && (word(c as u8) || c == '.' || c == '-'))) {
        return Some(format!("tag {tag:?} has {c:?}; tags are letters, digits, '_', '.' and '-'"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

    #[test]
    fn index_platforms_skip_attestations_and_keep_variants() {
        let body = br#"{
          "schemaVersion": 2,
          "mediaType": "application/vnd.oci.image.index.v1+json",
          "manifests": [
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1,
             "platform":{"architecture":"amd64","os":"linux"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b","size":1,
             "platform":{"architecture":"arm","os":"linux","variant":"v7"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:c","size":1,
             "platform":{"architecture":"unknown","os":"unknown"},
             "annotations":{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"sha256:a"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:d","size":1,
             "platform":{"architecture":"unknown","os":"unknown"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e","size":1}
          ]
        }"#;
        let want = Parsed::Index(vec!["linux/amd64".into(), "linux/arm/v7".into()]);
        assert_eq!(parse(Some(OCI_INDEX), body), Some(want.clone()));
        // The body's mediaType says so too, and a bare `manifests` list.
        assert_eq!(parse(None, body), Some(want.clone()));
        let bare = br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:a","platform":{"os":"linux","architecture":"amd64"}}]}"#;
        assert_eq!(parse(Some("application/json"), bare), Some(Parsed::Index(vec!["linux/amd64".into()])));
    }

    #[test]
    fn docker_manifest_list_with_charset() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
          "manifests":[{"digest":"sha256:a","size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#;
        assert_eq!(
            parse(Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"), body),
            Some(Parsed::Index(vec!["linux/arm64/v8".into()]))
        );
    }

    #[test]
    fn single_manifest_names_its_config() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
          "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1,"digest":"sha256:cfg"},
          "layers":[]}"#;
        let p = parse(Some("application/vnd.docker.distribution.manifest.v2+json"), body);
        assert_eq!(p, Some(Parsed::Single { config: "sha256:cfg".into() }));
        assert_eq!(media_type(body).as_deref(), Some("application/vnd.docker.distribution.manifest.v2+json"));
        assert_eq!(parse(None, b"<html>"), None);
        assert_eq!(parse(None, br#"{"schemaVersion":1,"name":"x"}"#), None, "schema 1 has no config");
    }

    #[test]
    fn config_platforms() {
        assert_eq!(
            config_platform(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#).as_deref(),
            Some("linux/amd64")
        );
        assert_eq!(
            config_platform(br#"{"architecture":"arm","os":"linux","variant":"v6"}"#).as_deref(),
            Some("linux/arm/v6")
        );
        assert_eq!(
            config_platform(br#"{"architecture":"amd64","os":"linux","variant":""}"#).as_deref(),
            Some("linux/amd64")
        );
        assert_eq!(config_platform(br#"{"os":"linux"}"#), None);
        assert_eq!(config_platform(b"nope"), None);
    }

    #[test]
    fn tags() {
        for ok in ["1", "latest", "_x", "v1.2.3-rc.1", "A_b-C.d", &"a".repeat(128)] {
            assert_eq!(invalid_tag(ok), None, "{ok}");
        }
        for bad in ["", ".x", "-x", "a b", "a:b", "a/b", "é", &"a".repeat(129)] {
            assert!(invalid_tag(bad).is_some(), "{bad:?}");
        }
        assert!(invalid_tag("a b").unwrap().contains("' '"));
    }
}
