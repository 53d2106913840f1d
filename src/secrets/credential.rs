//! Credential: the decrypted YAML of one credential file, parsed and checked.
//!
//! `kind: registry` (server, username, password, optional email),
//! `kind: env` (values: NAME → string), or `kind: fingerprint-key` (key: 64
//! hex; the key of secret fingerprints, `credentials/fingerprint-key.age`,
//! shared by every machine that can decrypt the repository). Problems become diagnostics with the
//! file, line and column that name keys only: never a snippet, never a value,
//! since every byte of the document may be secret. Values are held as
//! `SecretString`, so `Debug` shows `[REDACTED]`.

use crate::diag::Diagnostic;
use crate::spec::At;
use secrecy::SecretString;
use serde::Deserialize;
use serde_saphyr::Error as YamlError;
use std::collections::BTreeMap;
use zeroize::Zeroize;

/// One decrypted credential file.
#[derive(Debug, Clone)]
pub struct Credential {
    /// `ghcr` for `credentials/ghcr.age`.
    pub name: String,
    /// Repository-relative path, e.g. `credentials/ghcr.age`.
    pub file: String,
    pub kind: CredentialKind,
}

#[derive(Debug, Clone)]
pub enum CredentialKind {
    Registry(RegistryLogin),
    Env(EnvSet),
    FingerprintKey(FingerprintKey),
}

/// The key of the HMAC that fingerprints secret values (`kind:
/// fingerprint-key`): in the repository, so every machine computes the same
/// fingerprints. Debug shows nothing of it.
#[derive(Clone)]
pub struct FingerprintKey(pub zeroize::Zeroizing<Vec<u8>>);

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey([REDACTED])")
    }
}

/// Bytes in a fingerprint key.
pub const FINGERPRINT_KEY_BYTES: usize = 32;

/// A container-registry login (`kind: registry`).
#[derive(Debug, Clone)]
pub struct RegistryLogin {
    /// As written in the file (see `registry::normalize_server` to compare servers).
    pub server: String,
    pub username: String,
    pub password: SecretString,
    pub email: Option<String>,
}

/// Secret environment values (`kind: env`), for `secret-env`.
#[derive(Debug, Clone, Default)]
pub struct EnvSet {
    pub values: BTreeMap<String, SecretString>,
}

const KINDS: &str =
    "`kind: registry` (server, username, password, email), `kind: env` (values) or `kind: fingerprint-key` (key)";
const REGISTRY_KEYS: [&str; 4] = ["server", "username", "password", "email"];

/// The document as written; every key optional so that all problems are found.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    kind: Option<At<String>>,
    server: Option<At<String>>,
    username: Option<At<String>>,
    password: Option<At<String>>,
    email: Option<At<String>>,
    values: Option<At<BTreeMap<At<String>, String>>>,
    key: Option<At<String>>,
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(p) = &mut self.password {
            p.value.zeroize();
        }
        if let Some(k) = &mut self.key {
            k.value.zeroize();
        }
        if let Some(v) = &mut self.values {
            v.value.values_mut().for_each(Zeroize::zeroize);
        }
    }
}

/// Parse and check one decrypted credential document. `file` is the
/// repository-relative path that diagnostics name.
pub fn parse_credential(name: &str, file: &str, plaintext: &[u8]) -> Result<Credential, Vec<Diagnostic>> {
    let err = |line, col, message: String| vec![Diagnostic::new(file, line, col, message)];
    let Ok(text) = std::str::from_utf8(plaintext) else {
        return Err(err(0, 0, "decrypted content is not UTF-8 text".into()));
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.lines().map(str::trim).all(|l| l.is_empty() || l.starts_with('#') || l == "---") {
        return Err(vec![Diagnostic::new(file, 0, 0, "empty credential file").hint(KINDS)]);
    }
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    let raw: Raw = serde_saphyr::from_str_with_options(text, options).map_err(|e| vec![yaml_error(file, &e)])?;
    let mut diags = Vec::new();
    let kind = check(file, &raw, &mut diags);
    match kind {
        Some(kind) if diags.is_empty() => Ok(Credential { name: name.to_string(), file: file.to_string(), kind }),
        _ => Err(diags),
    }
}

/// The credential, when `raw` has no problems; every problem goes to `diags`.
fn check(file: &str, raw: &Raw, diags: &mut Vec<Diagnostic>) -> Option<CredentialKind> {
    let Some(kind) = &raw.kind else {
        diags.push(Diagnostic::new(file, 1, 1, "missing key `kind`").hint(KINDS));
        return None;
    };
    let (kline, kcol) = (kind.line, kind.col);
    let mut misplaced = |key: &str, line: u32, col: u32, k: &str, valid: &str| {
        let message = format!("key `{key}` does not belong in a `kind: {k}` credential");
        diags.push(Diagnostic::new(file, line, col, message).hint(format!("valid keys for kind: {k}: kind, {valid}")));
    };
    match kind.value.as_str() {
        "registry" => {
            if let Some(v) = &raw.values {
                misplaced("values", v.line, v.col, "registry", &REGISTRY_KEYS.join(", "));
            }
            let mut missing = |key: &str, v: &Option<At<String>>| match v {
                None => diags.push(
                    Diagnostic::new(file, kline, kcol, format!("missing key `{key}`"))
                        .hint("kind: registry needs server, username and password"),
                ),
                Some(v) if v.value.trim().is_empty() => {
                    diags.push(Diagnostic::new(file, v.line, v.col, format!("`{key}` is empty")))
                }
                Some(_) => {}
            };
            missing("server", &raw.server);
            missing("username", &raw.username);
            missing("password", &raw.password);
            if !diags.is_empty() {
                return None;
            }
            Some(CredentialKind::Registry(RegistryLogin {
                server: raw.server.as_ref()?.value.trim().to_string(),
                username: raw.username.as_ref()?.value.clone(),
                password: SecretString::from(raw.password.as_ref()?.value.as_str()),
                email: raw.email.as_ref().map(|e| e.value.clone()),
            }))
        }
        "env" => {
            for (key, v) in REGISTRY_KEYS.iter().zip([&raw.server, &raw.username, &raw.password, &raw.email]) {
                if let Some(v) = v {
                    misplaced(key, v.line, v.col, "env", "values");
                }
            }
            if let Some(k) = &raw.key {
                misplaced("key", k.line, k.col, "env", "values");
            }
            let Some(values) = &raw.values else {
                diags.push(
                    Diagnostic::new(file, kline, kcol, "missing key `values`")
                        .hint("kind: env needs `values:`, a mapping of variable names to strings"),
                );
                return None;
            };
            for name in values.value.keys().filter(|n| !is_env_name(n)) {
                diags.push(
                    Diagnostic::new(
                        file,
                        name.line,
                        name.col,
                        format!("`{}` is not a valid variable name", name.value),
                    )
                    .hint("use letters, digits and `_`, not starting with a digit"),
                );
            }
            if !diags.is_empty() {
                return None;
            }
            let values = values.value.iter().map(|(k, v)| (k.value.clone(), SecretString::from(v.as_str()))).collect();
            Some(CredentialKind::Env(EnvSet { values }))
        }
        "fingerprint-key" => {
            let others = [
                ("server", &raw.server),
                ("username", &raw.username),
                ("password", &raw.password),
                ("email", &raw.email),
            ];
            for (key, v) in others {
                if let Some(v) = v {
                    misplaced(key, v.line, v.col, "fingerprint-key", "key");
                }
            }
            if let Some(v) = &raw.values {
                misplaced("values", v.line, v.col, "fingerprint-key", "key");
            }
            let Some(key) = &raw.key else {
                diags.push(
                    Diagnostic::new(file, kline, kcol, "missing key `key`")
                        .hint("kind: fingerprint-key needs `key:`, 64 hex digits; `berth secrets rekey` makes one"),
                );
                return None;
            };
            match hex::decode(key.value.trim()) {
                Ok(bytes) if bytes.len() == FINGERPRINT_KEY_BYTES && diags.is_empty() => {
                    Some(CredentialKind::FingerprintKey(FingerprintKey(zeroize::Zeroizing::new(bytes))))
                }
                Ok(_) | Err(_) => {
                    // Never quote it: it is the secret.
                    diags.push(Diagnostic::new(file, key.line, key.col, "`key` is not 64 hex digits"));
                    None
                }
            }
        }
        _ => {
            diags.push(
                Diagnostic::new(
                    file,
                    kline,
                    kcol,
                    "unknown credential kind, expected `registry`, `env` or `fingerprint-key`",
                )
                .hint(KINDS),
            );
            None
        }
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A YAML error in words that name keys and expected shapes, never values.
fn yaml_error(file: &str, err: &YamlError) -> Diagnostic {
    let (line, col) = err.location().filter(|l| l.line() > 0).map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
    let mut err = err;
    while let YamlError::WithSnippet { error, .. } | YamlError::AliasError { error, .. } = err {
        err = error;
    }
    let (message, hint): (String, Option<String>) = match err {
        YamlError::SerdeUnknownField { field, expected, .. } => {
            (format!("unknown key `{field}`"), Some(format!("valid keys: {}", expected.join(", "))))
        }
        YamlError::SerdeMissingField { field, .. } => (format!("missing key `{field}`"), None),
        YamlError::DuplicateMappingKey { key: Some(key), .. } => (format!("duplicate key `{key}`"), None),
        YamlError::DuplicateMappingKey { key: None, .. } => ("duplicate key".into(), None),
        YamlError::NullIntoString { .. } => ("missing value".into(), Some("write \"\" for an empty string".into())),
        YamlError::MultipleDocuments { .. } => {
            ("more than one YAML document".into(), Some("one credential per file; split it into two files".into()))
        }
        YamlError::SerdeInvalidType { expected, .. } | YamlError::SerdeInvalidValue { expected, .. }
            if expected.starts_with("struct ") =>
        {
            ("a credential file must be a mapping of keys to values".into(), Some(KINDS.into()))
        }
        YamlError::SerdeInvalidType { expected, .. } | YamlError::SerdeInvalidValue { expected, .. } => {
            let expected = match expected.as_str() {
                "a map" => "a mapping (key: value)",
                "a string" => "a string",
                _ => "a different type of value",
            };
            (format!("expected {expected}"), None)
        }
        YamlError::Unexpected { expected: "mapping start", .. } => ("expected a mapping (key: value)".into(), None),
        YamlError::Unexpected { expected: "sequence start", .. } => ("expected a list".into(), None),
        YamlError::Eof { .. } => ("unexpected end of file".into(), None),
        _ => ("invalid YAML".into(), Some("check quoting and indentation on this line".into())),
    };
    let mut d = Diagnostic::new(file, line, col, message);
    d.hint = hint;
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const FILE: &str = "credentials/x.age";

    fn parse(text: &str) -> Result<Credential, Vec<Diagnostic>> {
        parse_credential("x", FILE, text.as_bytes())
    }

    fn errors(text: &str) -> Vec<String> {
        let diags = parse(text).unwrap_err();
        for d in &diags {
            assert!(d.snippet.is_none(), "{d:?}");
        }
        diags.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn registry_login() {
        let c =
            parse("kind: registry\nserver: ghcr.io\nusername: bob\npassword: ghp_secret\nemail: b@x.org\n").unwrap();
        let CredentialKind::Registry(r) = &c.kind else { panic!() };
        assert_eq!((r.server.as_str(), r.username.as_str()), ("ghcr.io", "bob"));
        assert_eq!(r.password.expose_secret(), "ghp_secret");
        assert_eq!(r.email.as_deref(), Some("b@x.org"));
        let debug = format!("{c:?}");
        assert!(!debug.contains("ghp_secret") && debug.contains("REDACTED"), "{debug}");
    }

    #[test]
    fn env_set() {
        let c = parse("kind: env\nvalues:\n  DATABASE_URL: \"postgres://u:hunter2@db/app\"\n  _X: y\n").unwrap();
        let CredentialKind::Env(e) = &c.kind else { panic!() };
        assert_eq!(e.values["DATABASE_URL"].expose_secret(), "postgres://u:hunter2@db/app");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn missing_keys_are_named() {
        let e = errors("kind: registry\nserver: ghcr.io\npassword: hunter2\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("credentials/x.age:1:7: missing key `username`"), "{e:?}");
        let e = errors("server: ghcr.io\n");
        assert!(e[0].contains("missing key `kind`"), "{e:?}");
        let e = errors("kind: env\n");
        assert!(e[0].contains("missing key `values`"), "{e:?}");
        let e = errors("kind: registry\nserver: ghcr.io\nusername: bob\npassword: \"\"\n");
        assert!(e[0].starts_with("credentials/x.age:4:11: `password` is empty"), "{e:?}");
    }

    #[test]
    fn unknown_kind_lists_every_kind() {
        let e = errors("kind: regsitry-hunter2\n");
        assert!(e[0].contains("`registry`, `env` or `fingerprint-key`"), "{e:?}");
        assert!(!e[0].contains("hunter2"), "{e:?}");
    }

    #[test]
    fn a_fingerprint_key_is_64_hex_digits_never_quoted() {
        let key = "ab".repeat(32);
        let c = parse_credential(
            "fingerprint-key",
            "credentials/fingerprint-key.age",
            format!("kind: fingerprint-key\nkey: {key}\n").as_bytes(),
        )
        .unwrap();
        assert!(matches!(&c.kind, CredentialKind::FingerprintKey(k) if k.0.len() == 32));
        assert!(!format!("{c:?}").contains("abab"), "Debug hides it");
        let e = errors("kind: fingerprint-key\nkey: s3cret-not-hex\n");
        assert!(e[0].contains("`key` is not 64 hex digits"), "{e:?}");
        assert!(!e[0].contains("s3cret"), "{e:?}");
        let e = errors("kind: fingerprint-key\n");
        assert!(e[0].contains("missing key `key`"), "{e:?}");
        let e = errors(&format!("kind: env\nvalues: {{A: b}}\nkey: {key}\n"));
        assert!(e[0].contains("key `key` does not belong in a `kind: env` credential"), "{e:?}");
    }

    #[test]
    fn errors_never_show_values() {
        for text in [
            "kind: registry\nserver: ghcr.io\nusername: bob\npassword: [hunter2]\n",
            "kind: registry\nserver: ghcr.io\nusername: bob\npassword: {a: hunter2}\n",
            "kind: env\nvalues: hunter2\n",
            "kind: env\nvalues:\n  A: [hunter2]\n",
            "kind: env\nvalues: {A: \"hunter2\n",
            "hunter2\n",
            "kind: registry\npasword: hunter2\n",
            "kind: env\nvalues: {A: hunter2}\n---\nkind: env\nvalues: {B: hunter2}\n",
            "kind: env\nvalues: {A: x, A: hunter2}\n",
        ] {
            let e = errors(text).join("\n");
            assert!(!e.contains("hunter2"), "{text:?} → {e}");
            assert!(e.starts_with(FILE), "{e}");
        }
        let e = errors("kind: registry\npasword: hunter2\n");
        assert!(e[0].contains("2:1: unknown key `pasword`"), "{e:?}");
    }

    #[test]
    fn keys_of_the_other_kind() {
        let e = errors("kind: env\nvalues: {A: b}\nserver: ghcr.io\n");
        assert!(e[0].contains("3:9: key `server` does not belong in a `kind: env` credential"), "{e:?}");
        let e = errors("kind: env\nvalues: {9A: b}\n");
        assert!(e[0].contains("`9A` is not a valid variable name"), "{e:?}");
    }
}
