//! Identity: the age key that decrypts credential files, and where it comes from.
//!
//! Looked up in SPEC §1 order: `--identity FILE`, `BERTH_AGE_KEY` (the key
//! text itself, for CI secrets), `BERTH_AGE_IDENTITY` (a path),
//! `$CREDENTIALS_DIRECTORY/berth-identity` (systemd's `LoadCredential=`), then
//! `~/.config/berth/identity.txt`. A key is X25519 (`AGE-SECRET-KEY-1…`
//! lines as `age-keygen` writes them, comments allowed) or an unencrypted
//! OpenSSH ed25519 (or rsa) private key. Key text is zeroized after parsing
//! and never appears in an error.

use super::SecretsError;
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Where berth looks for an identity, said to the user when none is found.
pub const LOOKUP_ORDER: &str = "berth looks for an age identity in: --identity FILE, then $BERTH_AGE_KEY \
(the key itself), then $BERTH_AGE_IDENTITY (a path), then $CREDENTIALS_DIRECTORY/berth-identity \
(systemd's LoadCredential=berth-identity:FILE), then ~/.config/berth/identity.txt; \
create one with `berth secrets keygen` and add its public key to berth.yaml `recipients:`";

/// One or more age identities, with their public recipients.
pub struct Identity {
    keys: Vec<Key>,
    recipients: Vec<String>,
    origin: String,
}

enum Key {
    X25519(age::x25519::Identity),
    Ssh(age::ssh::Identity),
}

impl Identity {
    /// Parse identity text: `AGE-SECRET-KEY-1…` lines (with `#` comments) or
    /// an OpenSSH private key. `origin` says where it came from, for errors.
    pub fn parse(text: &str, origin: &str) -> Result<Identity, SecretsError> {
        let bad = |reason: String| SecretsError::BadIdentity { origin: origin.to_string(), reason };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
            return parse_ssh(text, origin).map_err(bad);
        }
        if text.contains("-----BEGIN") {
            return Err(bad("only OpenSSH private keys (-----BEGIN OPENSSH PRIVATE KEY-----) are supported; \
convert a PEM key with `ssh-keygen -p -f KEY`"
                .into()));
        }
        let mut keys = Vec::new();
        let mut recipients = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.parse::<age::x25519::Identity>() {
                Ok(key) => {
                    recipients.push(key.to_public().to_string());
                    keys.push(Key::X25519(key));
                }
                Err(_) if line.starts_with("AGE-PLUGIN-") => {
                    return Err(bad(format!("line {}: age plugin identities are not supported", i + 1)))
                }
                Err(_) => {
                    return Err(bad(format!(
                        "line {} is not an age identity (expected AGE-SECRET-KEY-1… or an OpenSSH private key)",
                        i + 1
                    )))
                }
            }
        }
        if keys.is_empty() {
            return Err(bad("no key in it (expected AGE-SECRET-KEY-1… or an OpenSSH private key)".into()));
        }
        Ok(Identity { keys, recipients, origin: origin.to_string() })
    }

    /// Read an identity file.
    pub fn from_file(path: &Path, origin: &str) -> Result<Identity, SecretsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| SecretsError::ReadIdentity { origin: origin.to_string(), error })?;
        Identity::parse(&Zeroizing::new(text), origin)
    }

    /// Public recipients (`age1…`, `ssh-ed25519 AAAA…`), one per key.
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// Where the identity came from, e.g. `--identity key.txt` or `$BERTH_AGE_KEY`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The keys, as age wants them for decryption.
    pub(super) fn age_identities(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys.iter().map(|k| match k {
            Key::X25519(k) => k as &dyn age::Identity,
            Key::Ssh(k) => k as &dyn age::Identity,
        })
    }
}

impl fmt::Debug for Identity {
    /// Public recipients and origin only; never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("recipients", &self.recipients).field("origin", &self.origin).finish()
    }
}

fn parse_ssh(text: &str, origin: &str) -> Result<Identity, String> {
    let key = age::ssh::Identity::from_buffer(text.as_bytes(), Some(origin.to_string()))
        .map_err(|e| format!("not a valid OpenSSH private key ({e})"))?;
    match &key {
        age::ssh::Identity::Unencrypted(_) => {}
        age::ssh::Identity::Encrypted(_) => {
            return Err("the SSH key is passphrase-protected; berth needs an unencrypted key \
(remove the passphrase on a copy with `ssh-keygen -p -N '' -f COPY`) or an age key"
                .into())
        }
        age::ssh::Identity::Unsupported(_) => {
            return Err("unsupported SSH key type; use ssh-ed25519 or ssh-rsa, or an age key".into())
        }
    }
    let recipient =
        age::ssh::Recipient::try_from(key.clone()).map_err(|e| format!("cannot derive the SSH public key: {e:?}"))?;
    Ok(Identity { keys: vec![Key::Ssh(key)], recipients: vec![recipient.to_string()], origin: origin.to_string() })
}

/// Find the identity: `flag`, else `$BERTH_AGE_KEY`, else `$BERTH_AGE_IDENTITY`,
/// else `$CREDENTIALS_DIRECTORY/berth-identity` when that file exists (a
/// service's other credentials are no reason to fail), else
/// `~/.config/berth/identity.txt`. Only the first source present is
/// used: a broken one is an error, not a reason to try the next.
pub fn load_identity(flag: Option<&Path>) -> Result<Identity, SecretsError> {
    if let Some(path) = flag {
        return Identity::from_file(path, &format!("--identity {}", path.display()));
    }
    if let Some(key) = std::env::var_os("BERTH_AGE_KEY").filter(|v| !v.is_empty()) {
        let key = Zeroizing::new(key.into_string().map_err(|_| SecretsError::BadIdentity {
            origin: "$BERTH_AGE_KEY".into(),
            reason: "not valid UTF-8".into(),
        })?);
        return Identity::parse(&key, "$BERTH_AGE_KEY");
    }
    if let Some(path) = std::env::var_os("BERTH_AGE_IDENTITY").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return Identity::from_file(&path, &format!("$BERTH_AGE_IDENTITY ({})", path.display()));
    }
    if let Some(path) = credential_path().filter(|p| p.exists()) {
        return Identity::from_file(&path, &format!("systemd credential berth-identity ({})", path.display()));
    }
    match default_identity_path() {
        Some(path) if path.exists() => Identity::from_file(&path, &path.display().to_string()),
        _ => Err(SecretsError::NoIdentity),
    }
}

/// `$CREDENTIALS_DIRECTORY/berth-identity`: where systemd puts
/// `LoadCredential=berth-identity:FILE` for the service.
fn credential_path() -> Option<PathBuf> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(dir).join("berth-identity"))
}

/// `~/.config/berth/identity.txt` (`$HOME`), where `secrets keygen` writes by default.
pub fn default_identity_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".config/berth/identity.txt"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (String, String) {
        let k = age::x25519::Identity::generate();
        let public = k.to_public().to_string();
        let text = format!("# created: 2024-01-01T00:00:00Z\n# public key: {public}\n{}\n", k.to_string().expose());
        (text, public)
    }

    #[test]
    fn parses_age_keygen_output() {
        let (text, public) = key();
        let id = Identity::parse(&text, "test").unwrap();
        assert_eq!(id.recipients(), [public]);
        let two = format!("{text}\n{}", age::x25519::Identity::generate().to_string().expose());
        assert_eq!(Identity::parse(&two, "test").unwrap().recipients().len(), 2);
    }

    trait Expose {
        fn expose(&self) -> &str;
    }
    impl Expose for secrecy::SecretString {
        fn expose(&self) -> &str {
            secrecy::ExposeSecret::expose_secret(self)
        }
    }

    #[test]
    fn bad_lines_name_the_line_not_the_content() {
        let e = Identity::parse("# c\nAGE-SECRET-KEY-1NOPE-hunter2\n", "$BERTH_AGE_KEY").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("$BERTH_AGE_KEY"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = Identity::parse("# only a comment\n", "x").unwrap_err().to_string();
        assert!(e.contains("no key"), "{e}");
        let e = Identity::parse("-----BEGIN RSA PRIVATE KEY-----\nabc\n", "x").unwrap_err().to_string();
        assert!(e.contains("OpenSSH"), "{e}");
    }

    #[test]
    fn debug_shows_only_public_parts() {
        let id = Identity::parse(&key().0, "test").unwrap();
        let d = format!("{id:?}");
        assert!(d.contains("age1") && !d.contains("AGE-SECRET-KEY"), "{d}");
    }
}
