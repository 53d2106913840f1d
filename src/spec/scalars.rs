//! Scalars: values written as one YAML string (or number) that berth parses
//! while deserializing, so the spec holds them typed and a bad one is a
//! positioned error like any type error. Later stages read the typed value;
//! nothing parses these strings twice.
//!
//! Each type says in its JSON Schema how it is written (a string, a number).
//! The parsing itself lives in `values` (pure functions, reused by tests and
//! other stages). An error message may carry a hint after [`HINT`]; `parse`
//! splits it off.

use super::values::{self, PortSpec, VolumeSource, VolumeSpec};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// Separates a value error's message from its hint (`parse` splits them).
pub const HINT: &str = "\nhint: ";

/// `image:` as written, and as docker reads it (`nginx` → `docker.io/library/nginx:latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub written: String,
    /// The normalized reference.
    pub reference: String,
}

/// A memory size in bytes, written `512MiB`, `1GiB`, `256m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub i64);

/// A duration, written `5s`, `1m30s`, `500ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub std::time::Duration);

/// CPU cores, at least 0.01.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cpus(pub f64);

/// A stop signal, normalized: `SIGTERM`, `SIGRTMIN+3`, or a number that has no name (`33`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopSignal(pub String);

impl StopSignal {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Smallest and largest `cpus:` berth accepts (Docker counts in 1e-9 CPUs;
/// below a hundredth a container barely runs).
pub const MIN_CPUS: f64 = 0.01;
pub const MAX_CPUS: f64 = 1024.0;

/// `cpus` from a number (or a numeric string, as compose allows).
pub fn parse_cpus(n: f64) -> Result<Cpus, String> {
    if !n.is_finite() || n < MIN_CPUS {
        return Err(format!("cpus must be at least {MIN_CPUS}, found {n}{HINT}a number of CPU cores, e.g. 0.5 or 2"));
    }
    if n > MAX_CPUS {
        return Err(format!("cpus must be at most {MAX_CPUS}, found {n}"));
    }
    Ok(Cpus(n))
}

/// Linux signal names (without `SIG`) and numbers, as Docker knows them.
const SIGNALS: &[(&str, u8)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
    ("RTMIN", 34),
    ("RTMAX", 64),
];

/// The name of signal `n` (1-64), `SIGRTMIN+k`/`SIGRTMAX-k` for real-time ones.
fn signal_name(n: u8) -> Option<String> {
    if let Some((name, _)) = SIGNALS.iter().find(|(_, k)| *k == n) {
        return Some(format!("SIG{name}"));
    }
    match n {
        35..=49 => Some(format!("SIGRTMIN+{}", n - 34)),
        50..=63 => Some(format!("SIGRTMAX-{}", 64 - n)),
        _ => None,
    }
}

/// The number of a signal name (any case, with or without `SIG`).
fn signal_number(name: &str) -> Option<u8> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(s, _)| *s == bare) {
        return Some(*n);
    }
    let offset = |rest: &str, max: u8| rest.parse::<u8>().ok().filter(|k| (1..=max).contains(k));
    if let Some(k) = bare.strip_prefix("RTMIN+").and_then(|r| offset(r, 15)) {
        return Some(34 + k);
    }
    bare.strip_prefix("RTMAX-").and_then(|r| offset(r, 14)).map(|k| 64 - k)
}

/// A stop signal: a name such as `SIGTERM`/`TERM`/`sigquit`, or a number 1-64.
pub fn parse_signal(s: &str) -> Result<StopSignal, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return match t.parse::<u8>() {
            Ok(n @ 1..=64) => Ok(StopSignal(signal_name(n).unwrap_or_else(|| n.to_string()))),
            _ => Err(format!("invalid stop signal `{s}`: signal numbers are 1-64")),
        };
    }
    match signal_number(t) {
        Some(n) => Ok(StopSignal(signal_name(n).unwrap_or_else(|| n.to_string()))),
        None => {
            let upper = t.to_ascii_uppercase();
            let written = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
            let names: Vec<String> = SIGNALS.iter().map(|(n, _)| format!("SIG{n}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let hint = match super::parse::nearest(&written, &names) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "use a signal name such as SIGTERM, SIGQUIT, SIGINT or SIGUSR1, or a number 1-64".to_string(),
            };
            Err(format!("unknown stop signal `{s}`{HINT}{hint}"))
        }
    }
}

/// A string scalar: deserialized with `$parse`, serialized with `Display`,
/// described in the schema as a string.
macro_rules! string_scalar {
    ($ty:ty, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                ($parse)(s.as_str()).map_err(de::Error::custom)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl JsonSchema for $ty {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string" })
            }
        }
    };
}

string_scalar!(ImageRef, |s: &str| values::parse_image(s)
    .map(|reference| ImageRef { written: s.to_string(), reference }));
string_scalar!(PortSpec, values::parse_port);
string_scalar!(VolumeSpec, values::parse_volume);
string_scalar!(ByteSize, |s: &str| values::parse_memory(s).map(ByteSize));
string_scalar!(DurationSpec, |s: &str| values::parse_duration(s).map(DurationSpec));

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.written)
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.host_ip {
            Some(ip) if ip.contains(':') => write!(f, "[{ip}]:")?,
            Some(ip) => write!(f, "{ip}:")?,
            None => {}
        }
        write!(f, "{}:{}/{}", self.host_port, self.container_port, self.protocol)
    }
}

impl fmt::Display for VolumeSpec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.source {
            VolumeSource::Named(n) => write!(f, "{n}")?,
            VolumeSource::RepoPath(p) if p == "." => write!(f, "./")?,
            VolumeSource::RepoPath(p) => write!(f, "./{p}")?,
            VolumeSource::HostPath(p) => write!(f, "{p}")?,
        }
        write!(f, ":{}", self.target)?;
        if self.read_only {
            write!(f, ":ro")?;
        }
        Ok(())
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Cpus;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of CPU cores")
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Cpus, E> {
                parse_cpus(n).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Cpus, E> {
                self.visit_f64(n as f64)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Cpus, E> {
                self.visit_f64(n as f64)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Cpus, E> {
                match s.trim().parse::<f64>() {
                    Ok(n) => self.visit_f64(n),
                    Err(_) => Err(E::custom(format!(
                        "expected a number of CPU cores, found `{s}`{HINT}cpus is a number of cores, e.g. 0.5 or 2"
                    ))),
                }
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Cpus, E> {
                self.visit_str(&b.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl JsonSchema for Cpus {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Cpus".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "number", "minimum": MIN_CPUS, "maximum": MAX_CPUS })
    }
}

impl<'de> Deserialize<'de> for StopSignal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StopSignal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a signal name such as SIGTERM, or a number 1-64")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StopSignal, E> {
                parse_signal(s).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<StopSignal, E> {
                self.visit_str(&n.to_string())
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<StopSignal, E> {
                self.visit_str(&n.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for StopSignal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl JsonSchema for StopSignal {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "StopSignal".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "integer"], "minimum": 1, "maximum": 64 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        for (written, normal) in [
            ("SIGTERM", "SIGTERM"),
            ("TERM", "SIGTERM"),
            ("sigquit", "SIGQUIT"),
            ("SIGUSR1", "SIGUSR1"),
            ("15", "SIGTERM"),
            ("9", "SIGKILL"),
            ("33", "33"),
            ("64", "SIGRTMAX"),
            ("SIGRTMIN+3", "SIGRTMIN+3"),
            ("37", "SIGRTMIN+3"),
            ("rtmax-2", "SIGRTMAX-2"),
            ("SIGIOT", "SIGABRT"),
        ] {
            assert_eq!(parse_signal(written).map(|s| s.0), Ok(normal.to_string()), "{written}");
        }
        assert_eq!(
            parse_signal("SIGTREM").unwrap_err(),
            format!("unknown stop signal `SIGTREM`{HINT}did you mean `SIGTERM`?")
        );
        assert!(parse_signal("quitt").unwrap_err().ends_with("did you mean `SIGQUIT`?"));
        assert!(parse_signal("0").unwrap_err().contains("1-64"));
        assert!(parse_signal("65").unwrap_err().contains("1-64"));
        assert!(parse_signal("SIGRTMIN+16").is_err());
        assert!(parse_signal("").is_err());
        assert!(parse_signal("zzzzzzzzzz").unwrap_err().contains("such as SIGTERM"));
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus(0.01), Ok(Cpus(0.01)));
        assert_eq!(parse_cpus(2.0), Ok(Cpus(2.0)));
        assert!(parse_cpus(0.009).unwrap_err().starts_with("cpus must be at least 0.01, found 0.009"));
        assert!(parse_cpus(0.0).is_err());
        assert!(parse_cpus(-1.0).is_err());
        assert!(parse_cpus(f64::NAN).is_err());
        assert!(parse_cpus(1025.0).unwrap_err().contains("at most 1024"));
    }

    #[test]
    fn display_round_trips() {
        for s in ["8080:80/tcp", "127.0.0.1:53:53/udp", "[::1]:8080:80/tcp"] {
            assert_eq!(values::parse_port(s).unwrap().to_string(), s);
        }
        for s in ["data:/var/lib/app", "./conf:/etc/app:ro", "./:/repo", "/srv/x:/x"] {
            assert_eq!(values::parse_volume(s).unwrap().to_string(), s);
        }
        let d = DurationSpec(std::time::Duration::from_secs(90));
        assert_eq!(values::parse_duration(&d.to_string()), Ok(d.0));
    }
}
