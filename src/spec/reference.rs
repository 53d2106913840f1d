//! Image references as the Docker engine reads them: `busybox:1.36` is
//! `docker.io/library/busybox:1.36`, `localhost:5000/web` is
//! `localhost:5000/web:latest`, a digest is kept as written.
//!
//! Owns berth's one image-reference type, `ImageRef`, used by `spec`
//! (validation), `observe` (the engine's image list, registry calls) and
//! `plan`. A hand-written parser of the grammar of
//! distribution/reference (`reference.go`, `regexp.go`, `normalize.go`)
//! and go-digest, checked byte by byte: compiling that grammar as a regex
//! (as the oci-spec crate does, Unicode classes included) cost about half of
//! berth's start-up.
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path-component [ "/" path-component ]*
//! domain     := domain-component [ "." domain-component ]* [ ":" port ]
//! domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! port       := [0-9]+
//! path-component := [a-z0-9]+ [ ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ ]*
//! tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest     := algorithm ":" [0-9a-fA-F]{32,}
//! algorithm  := [A-Za-z][A-Za-z0-9]* [ [-_+.] [A-Za-z][A-Za-z0-9]* ]*
//! ```
//!
//! Then, as `ParseNormalizedNamed` does: the first component is a registry
//! host when it has a `.` or `:`, is `localhost` or has an uppercase letter;
//! else the registry is `docker.io` (`index.docker.io` is read as
//! `docker.io`), where a one-component repository gets `library/`. The
//! repository must be lowercase, the normalized name at most 255
//! characters, and a digest one of sha256, sha384 or sha512 of the right
//! length, in lowercase hex. With neither tag nor digest the tag is
//! `latest`.
//!
//! Where the oci-spec crate (berth's parser before) differed from the
//! engine, this follows the engine, so a reference the engine would refuse
//! is refused at validation: non-ASCII tags, uppercase hex in a digest and
//! a bare 64-hex image id are errors; `Acme/web` names the host `Acme`
//! (oci-spec read `docker.io/Acme/web`); the 255-character limit counts
//! the normalized name. IPv6 hosts (`[::1]:5000/app`) are refused by both.

use std::fmt;
use std::str::FromStr;

/// The registry of images named without one.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's legacy name, read as `docker.io`.
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// The repository prefix of Docker Hub's official images.
const OFFICIAL_PREFIX: &str = "library/";
/// The tag of an image named with neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest normalized name (`registry/repository`).
const NAME_MAX: usize = 255;
/// The longest tag.
const TAG_MAX: usize = 128;

/// Why a string is not an image reference. The messages are those of the
/// Docker engine (and of the oci-spec crate berth used before).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("repository name must have at least one component")]
    Empty,
    #[error("invalid reference format")]
    InvalidFormat,
    #[error("repository name must be lowercase")]
    Uppercase,
    #[error("repository name must not be more than {NAME_MAX} characters")]
    NameTooLong,
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    ImageId(String),
    #[error("invalid checksum digest format")]
    DigestFormat,
    #[error("invalid checksum digest length")]
    DigestLength,
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// Parse and normalize `s` as `docker pull` would.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        if s.len() == 64 && s.bytes().all(is_lower_hex) {
            // An image id, not a name.
            return Err(RefError::ImageId(s.to_string()));
        }
        let Some(parts) = Parts::split(s) else {
            return Err(match Parts::split(&s.to_ascii_lowercase()) {
                Some(_) => RefError::Uppercase,
                None => RefError::InvalidFormat,
            });
        };
        let (registry, repository) = split_domain(parts.name);
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(RefError::Uppercase);
        }
        if registry.len() + 1 + repository.len() > NAME_MAX {
            return Err(RefError::NameTooLong);
        }
        if let Some(d) = parts.digest {
            check_digest(d)?;
        }
        let tag = match (parts.tag, parts.digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (t, _) => t.map(String::from),
        };
        Ok(Self { registry, repository, tag, digest: parts.digest.map(String::from) })
    }

    /// `docker.io`, `ghcr.io`, `localhost:5000`: the registry as named
    /// (Docker Hub's other aliases, `registry-1.docker.io`, stay as written).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `library/busybox`, `acme/web`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag; `latest` when neither tag nor digest was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// `sha256:…`, when given.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The normalized reference: `registry/repository[:tag][@digest]`.
    pub fn whole(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = RefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A reference split into its grammar's parts, each checked.
struct Parts<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

impl<'a> Parts<'a> {
    /// `None` when `s` does not follow the grammar.
    fn split(s: &'a str) -> Option<Self> {
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (s, None),
        };
        // A `:` after the last `/` starts the tag; one before it is a port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        let ok = is_name(name) && tag.is_none_or(is_tag) && digest.is_none_or(is_digest_syntax);
        ok.then_some(Self { name, tag, digest })
    }
}

/// `[domain "/"] path-component ["/" path-component]*`.
fn is_name(name: &str) -> bool {
    let mut components = name.split('/');
    let first = components.next().unwrap_or("");
    let rest: Vec<&str> = components.collect();
    let rest_ok = rest.iter().all(|c| is_path_component(c));
    rest_ok && (is_path_component(first) || (!rest.is_empty() && is_domain(first)))
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or a run of `-`.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !(b.first().is_some_and(|&x| alnum(x)) && b.last().is_some_and(|&x| alnum(x))) {
        return false;
    }
    // First and last are alphanumeric: every separator run lies between two
    // alphanumeric runs.
    c.split(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
        .filter(|sep| !sep.is_empty())
        .all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-'))
}

/// `host[:port]`, the host a dot-separated domain name.
fn is_domain(d: &str) -> bool {
    let (host, port) = match d.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|x| x.is_ascii_digit()));
    port_ok && host.split('.').all(is_domain_component)
}

/// `[a-zA-Z0-9]`, or `-` inside: neither first nor last.
fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty() && b[0] != b'-' && b[b.len() - 1] != b'-' && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (ASCII, as Go's `\w`).
pub fn is_tag(t: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    (1..=TAG_MAX).contains(&b.len()) && word(b[0]) && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// `algorithm ":" hex{32,}`, the grammar only (`check_digest` checks the rest).
fn is_digest_syntax(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else { return false };
    let component = |c: &str| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(u8::is_ascii_alphanumeric)
    };
    hex.len() >= 32
        && hex.bytes().all(|x| x.is_ascii_hexdigit())
        && algorithm.split(['-', '_', '+', '.']).all(component)
}

/// go-digest's rules: a known algorithm, its length, lowercase hex.
fn check_digest(d: &str) -> Result<(), RefError> {
    let (algorithm, hex) = d.split_once(':').ok_or(RefError::DigestFormat)?;
    let size = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(RefError::DigestUnsupported),
    };
    if hex.len() != size {
        return Err(RefError::DigestLength);
    }
    if !hex.bytes().all(is_lower_hex) {
        return Err(RefError::DigestFormat);
    }
    Ok(())
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Registry and repository of a name, as `splitDockerDomain` does.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    };
    if domain == DOCKER_HUB_LEGACY {
        domain = DOCKER_HUB;
    }
    let repository = if domain == DOCKER_HUB && !remainder.contains('/') {
        format!("{OFFICIAL_PREFIX}{remainder}")
    } else {
        remainder.to_string()
    };
    (domain.to_string(), repository)
}

#[cfg(test)]
mod tests;
