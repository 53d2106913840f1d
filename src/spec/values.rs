//! Values written as strings in the YAML: ports, volumes, memory sizes,
//! durations, image references and names.
//!
//! Pure functions, no I/O. The spec's types call them while the files are
//! deserialized (see `scalars`), so each value is parsed once and later
//! stages read the typed result. Every error is one line that quotes the
//! offending input and says what was expected.

use super::reference::{ImageRef, RefError};
use std::time::Duration;

/// A published port: `[ip:]host:container[/proto]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Host address to bind; `None` means all addresses.
    pub host_ip: Option<String>,
    pub host_port: u16,
    pub container_port: u16,
    /// `"tcp"` or `"udp"`.
    pub protocol: String,
}

/// Parse `8080:4000`, `8080:4000/udp` or `127.0.0.1:8080:4000` (IPv6 as `[::1]:8080:4000`).
///
/// berth publishes only explicit host ports, so a bare container port is an error.
pub fn parse_port(s: &str) -> Result<PortSpec, String> {
    let (addr, protocol) = match s.rsplit_once('/') {
        Some((a, p)) => (a, p),
        None => (s, "tcp"),
    };
    if protocol != "tcp" && protocol != "udp" {
        return Err(format!("invalid port `{s}`: unknown protocol `{protocol}` (expected tcp or udp)"));
    }
    let (host_ip, rest) = split_host_ip(addr).map_err(|e| format!("invalid port `{s}`: {e}"))?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (host, container) = match parts.as_slice() {
        [host, container] => (*host, *container),
        [container] if !container.is_empty() => {
            return Err(format!(
                "invalid port `{s}`: no host port; berth publishes only explicit host ports, write `{container}:{container}` (host:container)"
            ))
        }
        _ => return Err(format!("invalid port `{s}`: expected `host:container[/tcp|udp]`, e.g. `8080:80`")),
    };
    let host_port = port_number(host).map_err(|e| format!("invalid port `{s}`: host {e}"))?;
    let container_port = port_number(container).map_err(|e| format!("invalid port `{s}`: container {e}"))?;
    Ok(PortSpec { host_ip, host_port, container_port, protocol: protocol.to_string() })
}

/// Split a leading `ip:` (or `[v6]:`) off `ip:host:container`.
fn split_host_ip(addr: &str) -> Result<(Option<String>, &str), String> {
    if let Some(rest) = addr.strip_prefix('[') {
        let (ip, rest) = rest.split_once(']').ok_or("unclosed `[` in the host address")?;
        let rest = rest.strip_prefix(':').ok_or("expected `:` after the host address")?;
        check_ip(ip)?;
        return Ok((Some(ip.to_string()), rest));
    }
    if addr.matches(':').count() == 2 {
        let (ip, rest) = addr.split_once(':').expect("two colons");
        check_ip(ip)?;
        return Ok((Some(ip.to_string()), rest));
    }
    Ok((None, addr))
}

fn check_ip(ip: &str) -> Result<(), String> {
    ip.parse::<std::net::IpAddr>().map(drop).map_err(|_| format!("`{ip}` is not an IP address"))
}

fn port_number(s: &str) -> Result<u16, String> {
    if s.contains('-') && !s.starts_with('-') {
        return Err(format!("port `{s}`: port ranges are not supported, list each port"));
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port `{s}` is not a number"));
    }
    match s.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(format!("port {s} is out of range (1-65535)")),
    }
}

/// Where a volume's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A named engine volume, created on first use and never deleted.
    Named(String),
    /// A folder of the repository, normalized, relative to its root (`.` for the root).
    RepoPath(String),
    /// An absolute path on the host.
    HostPath(String),
}

/// A mount: `source:target[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub source: VolumeSource,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
}

/// Parse `data:/var/lib/app`, `./conf:/etc/app:ro` or `/srv/x:/x:rw`.
pub fn parse_volume(s: &str) -> Result<VolumeSpec, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [source, target] => (*source, *target, None),
        [source, target, mode] => (*source, *target, Some(*mode)),
        [_] => {
            return Err(format!(
                "invalid volume `{s}`: expected `source:/path[:ro|rw]` with a volume name or a ./repo/path as source"
            ))
        }
        _ => return Err(format!("invalid volume `{s}`: too many `:` (expected `source:/path[:ro|rw]`)")),
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(m) => return Err(format!("invalid volume `{s}`: unknown mode `{m}` (expected ro or rw)")),
    };
    if !target.starts_with('/') {
        return Err(format!("invalid volume `{s}`: target `{target}` must be an absolute path"));
    }
    let target = normalize_absolute(target);
    if target == "/" {
        return Err(format!("invalid volume `{s}`: target cannot be `/`"));
    }
    let source = if source.is_empty() {
        return Err(format!("invalid volume `{s}`: empty source (a volume name or a ./repo/path)"));
    } else if source.starts_with('/') {
        VolumeSource::HostPath(normalize_absolute(source))
    } else if source == "."
        || source == ".."
        || source.starts_with("./")
        || source.starts_with("../")
        || source.contains('/')
    {
        let path = normalize_relative(source).ok_or_else(|| format!("volume path {source} escapes the repository"))?;
        VolumeSource::RepoPath(path)
    } else if is_volume_name(source) {
        VolumeSource::Named(source.to_string())
    } else {
        return Err(format!(
            "invalid volume `{s}`: `{source}` is not a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*); write ./{source} for a repository folder"
        ));
    };
    Ok(VolumeSpec { source, target, read_only })
}

fn is_volume_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Lexically normalize a repository-relative path: drop `.` and empty
/// segments, resolve `..`. `None` when it climbs above the root; `.` for the root.
pub(crate) fn normalize_relative(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(if out.is_empty() { ".".to_string() } else { out.join("/") })
}

/// Whether an image for platform `have` runs on `wanted` (both
/// `os/arch[/variant]`): os and arch equal, and the variant when `wanted`
/// names one, as the engine matches them.
pub fn platform_matches(have: &str, wanted: &str) -> bool {
    let (h, w): (Vec<&str>, Vec<&str>) = (have.split('/').collect(), wanted.split('/').collect());
    h.len() >= 2 && w.len() >= 2 && h[0] == w[0] && h[1] == w[1] && (w.len() < 3 || h.get(2) == w.get(2))
}

/// Lexically normalize an absolute path (`..` stops at `/`).
fn normalize_absolute(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// Docker's smallest memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Parse a memory size into bytes: `512MiB`, `1GiB`, `256m`, `1g`, `1024k`,
/// `1048576` (binary, as docker reads them) or `512MB` (decimal). At least 6MiB.
pub fn parse_memory(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim_start());
    let n: f64 = match num.parse() {
        Ok(n) => n,
        _ => return Err(format!("invalid memory size `{s}`: expected a number with a unit, e.g. 512MiB or 1GiB")),
    };
    let factor: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "ki" | "kib" => 1024.0,
        "m" | "mi" | "mib" => 1024f64.powi(2),
        "g" | "gi" | "gib" => 1024f64.powi(3),
        "t" | "ti" | "tib" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => {
            return Err(format!(
                "invalid memory size `{s}`: unknown unit `{unit}` (use e.g. 512MiB, 1GiB, 256m, 512MB)"
            ))
        }
    };
    let bytes = (n * factor).floor();
    if bytes > i64::MAX as f64 {
        return Err(format!("invalid memory size `{s}`: too large"));
    }
    let bytes = bytes as i64;
    if bytes < MIN_MEMORY {
        return Err(format!("memory size `{s}` is below docker's minimum of 6MiB"));
    }
    Ok(bytes)
}

/// Parse a duration: `5s`, `1m30s`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration `{s}`: {e} (use e.g. 5s, 1m30s, 500ms)"))
}

/// Normalize an image reference as docker does: `busybox:1.36` →
/// `docker.io/library/busybox:1.36`, `nginx` → `docker.io/library/nginx:latest`.
/// Digests are kept.
pub fn parse_image(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("invalid reference format: the image reference is empty".to_string());
    }
    if let Some(repo) = uppercase_repository(s) {
        return Err(format!("invalid reference format: repository name ({repo}) must be lowercase"));
    }
    match ImageRef::parse(s) {
        Ok(r) => Ok(r.whole()),
        Err(e) if s.chars().any(char::is_whitespace) => {
            Err(format!("invalid reference format: `{s}` contains whitespace ({e})"))
        }
        Err(RefError::InvalidFormat) => Err(format!("invalid reference format: `{s}`")),
        Err(e) => Err(format!("invalid reference format: `{s}`: {e}")),
    }
}

/// The repository part of `s` (as docker splits it) when it holds uppercase letters.
fn uppercase_repository(s: &str) -> Option<String> {
    let name = s.split('@').next().unwrap_or(s);
    let (domain, rest) = match name.split_once('/') {
        // Docker reads a first component with `.`, `:`, uppercase or `localhost` as a registry host.
        Some((d, r)) if d.contains(['.', ':']) || d == "localhost" || d.chars().any(|c| c.is_ascii_uppercase()) => {
            (Some(d), r)
        }
        _ => (None, name),
    };
    // Strip a tag: the last `:` after the last `/`.
    let repo = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => &rest[..i],
        _ => rest,
    };
    if !repo.chars().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let hub = domain.is_none() || domain == Some("docker.io");
    Some(if hub && !repo.contains('/') { format!("library/{repo}") } else { repo.to_string() })
}

/// An app, process or project name: `[a-z0-9][a-z0-9-]*`, at most 63 characters.
pub fn is_valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= 63
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: Option<&str>, host: u16, container: u16, proto: &str) -> PortSpec {
        PortSpec { host_ip: ip.map(String::from), host_port: host, container_port: container, protocol: proto.into() }
    }

    #[test]
    fn ports_good() {
        assert_eq!(parse_port("8080:4000").unwrap(), port(None, 8080, 4000, "tcp"));
        assert_eq!(parse_port("8080:4000/udp").unwrap(), port(None, 8080, 4000, "udp"));
        assert_eq!(parse_port("53:53/tcp").unwrap(), port(None, 53, 53, "tcp"));
        assert_eq!(parse_port("127.0.0.1:8080:4000").unwrap(), port(Some("127.0.0.1"), 8080, 4000, "tcp"));
        assert_eq!(parse_port("[::1]:8080:4000/udp").unwrap(), port(Some("::1"), 8080, 4000, "udp"));
        assert_eq!(parse_port("65535:1").unwrap(), port(None, 65535, 1, "tcp"));
    }

    #[test]
    fn ports_bad() {
        let err = parse_port("4000").unwrap_err();
        assert!(err.contains("no host port") && err.contains("`4000:4000`"), "{err}");
        assert!(parse_port("70000:80").unwrap_err().contains("out of range"));
        assert!(parse_port("80:70000").unwrap_err().contains("out of range"));
        assert!(parse_port("0:80").unwrap_err().contains("out of range"));
        assert!(parse_port("a:b").unwrap_err().contains("not a number"));
        assert!(parse_port("80:80/sctp").unwrap_err().contains("unknown protocol `sctp`"));
        assert!(parse_port("80:80/").unwrap_err().contains("unknown protocol"));
        assert!(parse_port("8000-8001:8000-8001").unwrap_err().contains("ranges"));
        assert!(parse_port("nothost:80:80").unwrap_err().contains("not an IP address"));
        assert!(parse_port("").is_err());
        assert!(parse_port(":80").is_err());
        assert!(parse_port("1:2:3:4").is_err());
        assert!(parse_port("-1:80").is_err());
    }

    #[test]
    fn volumes_good() {
        let v = parse_volume("data:/var/lib/app").unwrap();
        assert_eq!(
            v,
            VolumeSpec { source: VolumeSource::Named("data".into()), target: "/var/lib/app".into(), read_only: false }
        );
        let v = parse_volume("./conf:/etc/app:ro").unwrap();
        assert_eq!(
            v,
            VolumeSpec { source: VolumeSource::RepoPath("conf".into()), target: "/etc/app".into(), read_only: true }
        );
        let v = parse_volume("/srv/x:/x:rw").unwrap();
        assert_eq!(
            v,
            VolumeSpec { source: VolumeSource::HostPath("/srv/x".into()), target: "/x".into(), read_only: false }
        );
        let v = parse_volume("conf/nginx/../site:/etc/site/").unwrap();
        assert_eq!(v.source, VolumeSource::RepoPath("conf/site".into()));
        assert_eq!(v.target, "/etc/site");
        assert_eq!(parse_volume("./:/repo").unwrap().source, VolumeSource::RepoPath(".".into()));
        assert_eq!(parse_volume("a/../..x:/x").unwrap().source, VolumeSource::RepoPath("..x".into()));
        assert_eq!(parse_volume("my_vol.1-x:/x").unwrap().source, VolumeSource::Named("my_vol.1-x".into()));
    }

    #[test]
    fn volumes_bad() {
        assert_eq!(parse_volume("../x:/x").unwrap_err(), "volume path ../x escapes the repository");
        assert!(parse_volume("a/../../x:/x").unwrap_err().contains("escapes the repository"));
        assert!(parse_volume("data:var/lib").unwrap_err().contains("must be an absolute path"));
        assert!(parse_volume("data:/x:rx").unwrap_err().contains("unknown mode `rx`"));
        assert!(parse_volume("/data").unwrap_err().contains("expected `source:/path"));
        assert!(parse_volume(":/data").unwrap_err().contains("empty source"));
        assert!(parse_volume("_bad:/data").unwrap_err().contains("not a valid volume name"));
        assert!(parse_volume("data:/").unwrap_err().contains("cannot be `/`"));
        assert!(parse_volume("a:/b:ro:x").unwrap_err().contains("too many"));
    }

    #[test]
    fn memory() {
        const MI: i64 = 1024 * 1024;
        assert_eq!(parse_memory("512MiB"), Ok(512 * MI));
        assert_eq!(parse_memory("1GiB"), Ok(1024 * MI));
        assert_eq!(parse_memory("256m"), Ok(256 * MI));
        assert_eq!(parse_memory("1g"), Ok(1024 * MI));
        assert_eq!(parse_memory("8192k"), Ok(8 * MI));
        assert_eq!(parse_memory("8388608"), Ok(8 * MI));
        assert_eq!(parse_memory("512MB"), Ok(512_000_000));
        assert_eq!(parse_memory("1.5GiB"), Ok(1536 * MI));
        assert_eq!(parse_memory("6MiB"), Ok(6 * MI));
        assert!(parse_memory("1048576").unwrap_err().contains("minimum of 6MiB"));
        assert!(parse_memory("5m").unwrap_err().contains("minimum"));
        assert!(parse_memory("lots").unwrap_err().contains("expected a number"));
        assert!(parse_memory("512 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_memory("").is_err());
        assert!(parse_memory("-5m").is_err());
        assert!(parse_memory("99999999999TiB").unwrap_err().contains("too large"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("5").unwrap_err().contains("invalid duration `5`"));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn images_good() {
        assert_eq!(parse_image("busybox:1.36").unwrap(), "docker.io/library/busybox:1.36");
        assert_eq!(parse_image("nginx").unwrap(), "docker.io/library/nginx:latest");
        assert_eq!(parse_image("acme/web:v1").unwrap(), "docker.io/acme/web:v1");
        assert_eq!(parse_image("index.docker.io/acme/web").unwrap(), "docker.io/acme/web:latest");
        assert_eq!(parse_image("ghcr.io/acme/web:1.0").unwrap(), "ghcr.io/acme/web:1.0");
        assert_eq!(parse_image("localhost:5000/web").unwrap(), "localhost:5000/web:latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(parse_image(&format!("nginx@{digest}")).unwrap(), format!("docker.io/library/nginx@{digest}"));
        assert_eq!(
            parse_image(&format!("nginx:1.27@{digest}")).unwrap(),
            format!("docker.io/library/nginx:1.27@{digest}")
        );
    }

    #[test]
    fn images_bad() {
        assert_eq!(
            parse_image("Nginx").unwrap_err(),
            "invalid reference format: repository name (library/Nginx) must be lowercase"
        );
        assert!(parse_image("ghcr.io/Acme/web:1").unwrap_err().contains("(Acme/web) must be lowercase"));
        assert!(parse_image("nginx latest").unwrap_err().contains("whitespace"));
        assert!(parse_image("").unwrap_err().contains("empty"));
        assert!(parse_image("  ").unwrap_err().contains("empty"));
        assert!(parse_image("nginx:").unwrap_err().starts_with("invalid reference format"));
        assert!(parse_image("nginx@sha256:abc").is_err());
        assert!(parse_image(&format!("nginx@sha256:{}", "a".repeat(63))).unwrap_err().contains("digest"));
        assert!(parse_image("-nginx").is_err());
    }

    #[test]
    fn names() {
        for good in ["web", "a", "0", "web-2", "my-app-1", &"a".repeat(63)] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "Web", "my_app", "-web", "web.1", "wéb", "a b", &"a".repeat(64)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}

/// Docker Hub's names: all one registry (`docker.io`).
pub const DOCKER_HUB_ALIASES: [&str; 5] =
    ["docker.io", "index.docker.io", "registry-1.docker.io", "hub.docker.com", "registry.hub.docker.com"];

/// True for any of Docker Hub's host names.
pub fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_ALIASES.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// A registry server as written (`https://index.docker.io/v1/`, `ghcr.io/`,
/// `127.0.0.1:5000`) → its host (`docker.io`, `ghcr.io`, `127.0.0.1:5000`).
pub fn normalize_server(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s).to_ascii_lowercase();
    if is_docker_hub(&host) {
        "docker.io".to_string()
    } else {
        host
    }
}

/// The registry host of an image reference (`nginx` → `docker.io`).
pub fn image_registry(image: &str) -> String {
    match ImageRef::parse(image) {
        Ok(r) => normalize_server(r.registry()),
        Err(_) => "docker.io".to_string(),
    }
}

#[cfg(test)]
mod server_tests {
    use super::*;

    #[test]
    fn hub_aliases_are_one_registry() {
        for s in
            ["docker.io", "index.docker.io", "registry-1.docker.io", "hub.docker.com", "https://index.docker.io/v1/"]
        {
            assert_eq!(normalize_server(s), "docker.io", "{s}");
        }
        assert_eq!(normalize_server("https://ghcr.io/"), "ghcr.io");
        assert_eq!(normalize_server("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(image_registry("nginx"), "docker.io");
        assert_eq!(image_registry("ghcr.io/acme/web:1"), "ghcr.io");
        assert_eq!(image_registry("localhost:5000/web:1"), "localhost:5000");
    }
}
