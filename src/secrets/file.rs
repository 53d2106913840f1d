//! File: age encryption and decryption of credential files, in memory.
//!
//! Reads armored and binary age alike; writes armored age (diff-friendly in
//! git, and what `age -a` writes), so `age -d -i key.txt` decrypts berth's
//! files and berth loads the `age` CLI's. When a file does not decrypt, the
//! error says why in a user's terms: not an age file, cut short, made with a
//! passphrase, or encrypted to other keys (and, from the file's header, to
//! which kinds of keys, naming berth.yaml recipients that match).

use super::{Identity, SecretsError};
use crate::diag::Diagnostic;
use age::armor::{ArmoredReader, ArmoredWriter, Format};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{Read, Write};
use zeroize::Zeroizing;

const MAGIC: &[u8] = b"age-encryption.org/";
const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
const ARMOR_END: &[u8] = b"-----END AGE ENCRYPTED FILE-----";

/// Why an age file could not be decrypted. Displays one summary line, then detail lines.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    #[error(
        "not an age file\nit starts with neither `age-encryption.org/v1` nor `{}`",
        String::from_utf8_lossy(ARMOR_BEGIN)
    )]
    NotAge,
    #[error("truncated age file: {0}\nthe file was cut short; restore it from git or encrypt it again")]
    Truncated(&'static str),
    #[error("invalid age armor: {0}")]
    BadArmor(String),
    #[error("unsupported age format {0}\nonly age-encryption.org/v1 is supported")]
    UnknownVersion(String),
    #[error("the file is encrypted with a passphrase\nberth decrypts with identities only; encrypt it to berth.yaml `recipients:` (`berth secrets encrypt`)")]
    Passphrase,
    #[error("{0}")]
    WrongKey(WrongKey),
    #[error("the file is damaged: {0}\nrestore it from git or encrypt it again")]
    Corrupt(String),
}

/// A file that is not encrypted to the identity: what the identity is, what the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongKey {
    /// Public recipients of the identity that was tried.
    pub identity: Vec<String>,
    /// Where that identity came from.
    pub origin: String,
    /// The header's stanzas, in order.
    pub stanzas: Vec<StanzaInfo>,
    /// Known recipients (berth.yaml's) the header names: ssh keys whose tag matches.
    pub matching: Vec<String>,
}

/// One recipient stanza of an age header: its type (`X25519`, `ssh-ed25519`,
/// `ssh-rsa`, `scrypt`, …) and, for ssh keys, the 4-byte key tag (base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaInfo {
    pub kind: String,
    pub tag: Option<String>,
}

impl fmt::Display for WrongKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the file is not encrypted to this identity")?;
        writeln!(f, "this identity ({}) is: {}", self.origin, self.identity.join(", "))?;
        write!(f, "the file is encrypted to {}", describe_stanzas(&self.stanzas))?;
        if !self.matching.is_empty() {
            write!(f, ", from berth.yaml: {}", self.matching.join(", "))?;
        }
        write!(
            f,
            "\nadd this identity's public key to berth.yaml `recipients:` and run `berth secrets rekey` \
with a key the file is encrypted to, or use that key (--identity FILE)"
        )
    }
}

/// `2 recipients (1 X25519, 1 ssh-ed25519)`.
fn describe_stanzas(stanzas: &[StanzaInfo]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in stanzas {
        match counts.iter_mut().find(|(k, _)| *k == s.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((&s.kind, 1)),
        }
    }
    let kinds = counts.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ");
    let n = stanzas.len();
    format!("{n} recipient{} ({kinds})", if n == 1 { "" } else { "s" })
}

impl DecryptError {
    /// The error as a diagnostic about `path`: summary as message, the rest as hint.
    pub fn to_diagnostic(&self, path: &str) -> Diagnostic {
        let text = self.to_string();
        let mut lines = text.lines();
        let message = format!("failed to decrypt: {}", lines.next().unwrap_or_default());
        let rest: Vec<&str> = lines.collect();
        let d = Diagnostic::new(path, 0, 0, message);
        if rest.is_empty() {
            d
        } else {
            d.hint(rest.join("\n        "))
        }
    }
}

/// Decrypt an armored or binary age file with `identity`.
pub fn decrypt(bytes: &[u8], identity: &Identity) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    decrypt_with_known(bytes, identity, &[])
}

/// `decrypt`, naming the `known` recipients (berth.yaml's) a file is encrypted
/// to when the identity does not match it.
pub fn decrypt_with_known(
    bytes: &[u8],
    identity: &Identity,
    known: &[String],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let raw = dearmor(bytes)?;
    let stanzas = read_header(&raw)?;
    let decryptor = age::Decryptor::new_buffered(&raw[..]).map_err(from_age)?;
    if decryptor.is_scrypt() {
        return Err(DecryptError::Passphrase);
    }
    let mut reader = decryptor.decrypt(identity.age_identities()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => DecryptError::WrongKey(WrongKey {
            identity: identity.recipients().to_vec(),
            origin: identity.origin().to_string(),
            matching: matching(&stanzas, known),
            stanzas: stanzas.clone(),
        }),
        e => from_age(e),
    })?;
    let mut plain = Zeroizing::new(Vec::with_capacity(raw.len()));
    // A cut payload fails authentication like a modified one: the stream
    // format cannot tell them apart.
    reader.read_to_end(&mut plain).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData => {
            DecryptError::Truncated("the encrypted content is cut short or was modified")
        }
        _ => DecryptError::Corrupt(e.to_string()),
    })?;
    Ok(plain)
}

/// The binary age file: armor removed when present.
fn dearmor(bytes: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let trimmed = &bytes[start..];
    if trimmed.starts_with(MAGIC) {
        return Ok(trimmed.to_vec());
    }
    if !trimmed.is_empty() && (MAGIC.starts_with(trimmed) || ARMOR_BEGIN.starts_with(trimmed)) {
        return Err(DecryptError::Truncated("the file ends inside its first line"));
    }
    if !trimmed.starts_with(ARMOR_BEGIN) {
        return Err(DecryptError::NotAge);
    }
    if !trimmed.windows(ARMOR_END.len()).any(|w| w == ARMOR_END) {
        return Err(DecryptError::Truncated("the armor has no end line (-----END AGE ENCRYPTED FILE-----)"));
    }
    let mut raw = Vec::with_capacity(trimmed.len());
    ArmoredReader::new(trimmed).read_to_end(&mut raw).map_err(|e| DecryptError::BadArmor(e.to_string()))?;
    if !raw.starts_with(MAGIC) {
        return Err(DecryptError::NotAge);
    }
    Ok(raw)
}

/// The recipient stanzas of a binary age file's header.
fn read_header(raw: &[u8]) -> Result<Vec<StanzaInfo>, DecryptError> {
    let mut lines = raw.split(|&b| b == b'\n');
    let version = lines.next().unwrap_or_default();
    if version != b"age-encryption.org/v1" {
        let v = String::from_utf8_lossy(&version[..version.len().min(40)]).into_owned();
        return Err(DecryptError::UnknownVersion(v));
    }
    let mut stanzas = Vec::new();
    for line in lines {
        if line.starts_with(b"---") {
            return Ok(stanzas);
        }
        if let Some(rest) = line.strip_prefix(b"-> ") {
            let rest = String::from_utf8_lossy(rest);
            let mut args = rest.split(' ');
            let kind = args.next().unwrap_or_default().to_string();
            if kind.ends_with("-grease") {
                continue; // random stanzas age adds so parsers stay lenient
            }
            let tag = kind.starts_with("ssh-").then(|| args.next().map(str::to_string)).flatten();
            stanzas.push(StanzaInfo { kind, tag });
        }
    }
    Err(DecryptError::Truncated("the header ends before its `---` line"))
}

fn from_age(e: age::DecryptError) -> DecryptError {
    match e {
        age::DecryptError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecryptError::Truncated("the header is incomplete")
        }
        age::DecryptError::InvalidMac => DecryptError::Corrupt("the header's MAC does not match".into()),
        age::DecryptError::UnknownFormat => DecryptError::UnknownVersion("(newer than v1)".into()),
        e => DecryptError::Corrupt(e.to_string()),
    }
}

/// The known ssh recipients whose key tag appears in the header.
fn matching(stanzas: &[StanzaInfo], known: &[String]) -> Vec<String> {
    known
        .iter()
        .filter(|r| {
            let tag = ssh_tag(r);
            tag.is_some() && stanzas.iter().any(|s| s.tag == tag)
        })
        .cloned()
        .collect()
}

/// The age stanza tag of an ssh public key: base64 of SHA-256(key blob)[..4].
fn ssh_tag(recipient: &str) -> Option<String> {
    let blob = match recipient.trim().parse::<age::ssh::Recipient>().ok()? {
        age::ssh::Recipient::SshEd25519(blob, _) | age::ssh::Recipient::SshRsa(blob, _) => blob,
    };
    let digest = Sha256::digest(&blob);
    Some(base64_unpadded(&digest[..4]))
}

fn base64_unpadded(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Encrypt to `recipients` (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`), armored.
pub fn encrypt(plaintext: &[u8], recipients: &[String]) -> Result<Vec<u8>, SecretsError> {
    if recipients.is_empty() {
        return Err(SecretsError::NoRecipients);
    }
    let parsed = recipients.iter().map(|r| parse_recipient(r)).collect::<Result<Vec<_>, _>>()?;
    let encryptor = age::Encryptor::with_recipients(parsed.iter().map(|r| r.as_ref() as &dyn age::Recipient))
        .map_err(|e| SecretsError::Encrypt(e.to_string()))?;
    let io = |e: std::io::Error| SecretsError::Encrypt(e.to_string());
    let armor = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).map_err(io)?;
    let mut writer = encryptor.wrap_output(armor).map_err(io)?;
    writer.write_all(plaintext).map_err(io)?;
    writer.finish().and_then(|armor| armor.finish()).map_err(io)
}

/// One recipient string as age understands it; errors name it.
pub fn parse_recipient(recipient: &str) -> Result<Box<dyn age::Recipient + Send>, SecretsError> {
    let r = recipient.trim();
    let bad =
        |reason: &str| SecretsError::BadRecipient { recipient: recipient.to_string(), reason: reason.to_string() };
    if r.starts_with("age1") {
        return r.parse::<age::x25519::Recipient>().map(|r| Box::new(r) as _).map_err(bad);
    }
    if r.starts_with("ssh-") {
        return r.parse::<age::ssh::Recipient>().map(|r| Box::new(r) as _).map_err(|e| {
            bad(&match e {
                age::ssh::ParseRecipientKeyError::Unsupported(t) => format!("unsupported SSH key type {t}"),
                age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => "the RSA key is too small".into(),
                age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => "the RSA key is too large".into(),
                _ => "not a valid SSH public key".into(),
            })
        });
    }
    if r.starts_with("AGE-SECRET-KEY-") {
        return Err(SecretsError::BadRecipient {
            recipient: "AGE-SECRET-KEY-…".into(),
            reason: "this is a secret key; put its public key (age1…) in recipients".into(),
        });
    }
    Err(bad("expected an age public key (age1…) or an SSH public key (ssh-ed25519 …)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn identity() -> Identity {
        let k = age::x25519::Identity::generate();
        Identity::parse(k.to_string().expose_secret(), "test key").unwrap()
    }

    #[test]
    fn round_trip_armored() {
        let id = identity();
        let enc = encrypt(b"kind: env\n", id.recipients()).unwrap();
        assert!(enc.starts_with(ARMOR_BEGIN), "{}", String::from_utf8_lossy(&enc));
        assert_eq!(&decrypt(&enc, &id).unwrap()[..], b"kind: env\n");
    }

    #[test]
    fn reads_binary_too() {
        let id = identity();
        let r: age::x25519::Recipient = id.recipients()[0].parse().unwrap();
        let bin = age::encrypt(&r, b"hello").unwrap();
        assert_eq!(&decrypt(&bin, &id).unwrap()[..], b"hello");
    }

    #[test]
    fn wrong_key_names_both_sides() {
        let (a, b) = (identity(), identity());
        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";
        let enc = encrypt(b"x", &[a.recipients()[0].clone(), ssh.to_string()]).unwrap();
        let known = [
            a.recipients()[0].clone(),
            ssh.to_string(),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBzaDw9r+N4l1qfSAvoRWRhNgT+fpnuG87vSrLj8TWbi".to_string(),
        ];
        let e = decrypt_with_known(&enc, &b, &known).unwrap_err();
        let DecryptError::WrongKey(w) = &e else { panic!("{e:?}") };
        assert_eq!(w.matching, [ssh]);
        let text = e.to_string();
        assert!(text.starts_with("the file is not encrypted to this identity\n"), "{text}");
        assert!(text.contains(&b.recipients()[0]), "{text}");
        assert!(text.contains("2 recipients (1 X25519, 1 ssh-ed25519)"), "{text}");
    }

    #[test]
    fn not_age_and_truncated() {
        let id = identity();
        assert!(matches!(decrypt(b"kind: env\n", &id), Err(DecryptError::NotAge)));
        assert!(matches!(decrypt(b"", &id), Err(DecryptError::NotAge)));
        let enc = encrypt(b"some longer plaintext to cut", id.recipients()).unwrap();
        let cut = &enc[..enc.len() / 2];
        assert!(matches!(decrypt(cut, &id), Err(DecryptError::Truncated(_))), "{:?}", decrypt(cut, &id));
        let r: age::x25519::Recipient = id.recipients()[0].parse().unwrap();
        let bin = age::encrypt(&r, &[7u8; 200]).unwrap();
        for n in [10, 60, bin.len() - 20] {
            let e = decrypt(&bin[..n], &id).unwrap_err();
            assert!(matches!(e, DecryptError::Truncated(_)), "cut at {n}: {e:?}");
        }
    }

    #[test]
    fn bad_recipients_are_named() {
        let e = encrypt(b"x", &["age1nope".into()]).unwrap_err().to_string();
        assert!(e.contains("`age1nope`"), "{e}");
        let e = encrypt(b"x", &["ssh-ed25519 AAAA".into()]).unwrap_err().to_string();
        assert!(e.contains("`ssh-ed25519 AAAA`"), "{e}");
        assert!(matches!(encrypt(b"x", &[]), Err(SecretsError::NoRecipients)));
    }

    #[test]
    fn base64_matches_standard() {
        assert_eq!(base64_unpadded(b"\x00\x00\x00\x00"), "AAAAAA");
        assert_eq!(base64_unpadded(b"Man"), "TWFu");
        assert_eq!(base64_unpadded(b"Ma"), "TWE");
        assert_eq!(base64_unpadded(b"hello"), "aGVsbG8");
    }
}
