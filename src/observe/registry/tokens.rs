//! Bearer tokens kept for reuse: a token service is asked once per
//! (realm, service, scope, login) while the token lives, not at every
//! registry call, so a watch that plans every minute does not trade its
//! login for a new token each time.
//!
//! A login is keyed by a SHA-256 of its username and password (a changed
//! password is another login); the password itself is never kept here.
//! Tokens live as long as the token service said (`expires_in`, 60 s when
//! it says nothing, as the Docker token spec has it), less a margin for the
//! requests still to be made with them. The cache holds at most `CAPACITY`
//! tokens: expired ones go first, then the oldest. Calls that want the
//! same token at once (a plan asks its questions in parallel) take turns:
//! the first asks the token service, the others find its token kept.

use super::Login;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tokens kept at most.
pub const CAPACITY: usize = 256;
/// A token's life when the token service does not say (Docker token spec).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Taken off every lifetime: a token is not handed out this close to its end.
const MARGIN: Duration = Duration::from_secs(10);
/// Kept no longer than this, whatever the token service says.
const LONGEST: Duration = Duration::from_secs(60 * 60);

/// What a token was given for.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    realm: String,
    service: Option<String>,
    /// `repository:<name>:<actions>`.
    scope: String,
    /// SHA-256 of the login; `None`: anonymous.
    login: Option<[u8; 32]>,
}

impl TokenKey {
    pub fn new(realm: &str, service: Option<&str>, scope: &str, login: Option<&Login>) -> Self {
        TokenKey {
            realm: realm.to_string(),
            service: service.map(String::from),
            scope: scope.to_string(),
            login: login.map(fingerprint),
        }
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("realm", &self.realm)
            .field("service", &self.service)
            .field("scope", &self.scope)
            .field("login", &self.login.is_some())
            .finish()
    }
}

/// A login's identity: both parts, length-prefixed so that no two logins meet.
fn fingerprint(login: &Login) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"berth registry login\0");
    h.update((login.username.len() as u64).to_le_bytes());
    h.update(login.username.as_bytes());
    h.update(login.password.as_bytes());
    h.finalize().into()
}

struct Entry {
    token: String,
    /// When it is no longer handed out.
    until: Instant,
    /// When it was stored (the oldest goes first when the cache is full).
    stored: Instant,
}

/// Tokens by what they were given for; shared by clones of a client.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<TokenKey, Entry>>,
    /// Keys whose token is being asked for, and the turn to wait for.
    asking: Arc<Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<()>>>>>,
}

/// The turn to ask for one key's token; the next caller's when dropped.
pub struct Turn {
    key: TokenKey,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    asking: Arc<Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.guard = None;
        let mut asking = self.asking.lock().unwrap_or_else(|e| e.into_inner());
        // Nobody else waits (the map's and this one are the only holders): the entry goes.
        if Arc::strong_count(&self.lock) <= 2 {
            asking.remove(&self.key);
        }
    }
}

impl TokenCache {
    /// The token for `key`, if one is kept and still good at `now`.
    pub fn get(&self, key: &TokenKey, now: Instant) -> Option<String> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(e) if e.until > now => Some(e.token.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keep `token` for `key`, as long as `expires_in` (seconds, as the token
    /// service said; `None`: the default) less the margin. A token too short-lived
    /// to be worth keeping is not kept.
    pub fn put(&self, key: TokenKey, token: String, expires_in: Option<u64>, now: Instant) {
        let lifetime = expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_LIFETIME).min(LONGEST);
        let Some(keep) = lifetime.checked_sub(MARGIN).filter(|d| !d.is_zero()) else { return };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= CAPACITY {
                if let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.stored).map(|(k, _)| k.clone()) {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key, Entry { token, until: now + keep, stored: now });
    }

    /// Wait for the turn to ask for `key`'s token: one caller at a time per
    /// key, so that callers at once make one token request, not one each.
    pub async fn turn(&self, key: &TokenKey) -> Turn {
        let lock = {
            let mut asking = self.asking.lock().unwrap_or_else(|e| e.into_inner());
            asking.entry(key.clone()).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        Turn { key: key.clone(), lock, guard: Some(guard), asking: self.asking.clone() }
    }

    /// Forget the tokens for `scope` and `login`, from any realm (the
    /// registry refused one: revoked, or signed with a key it no longer
    /// trusts). Whether any was kept.
    pub fn forget(&self, scope: &str, login: Option<&Login>) -> bool {
        let login = login.map(fingerprint);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let before = entries.len();
        entries.retain(|k, _| !(k.scope == scope && k.login == login));
        entries.len() != before
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// `expires_in` from a token service's JSON answer.
pub fn expires_in(body: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("expires_in")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str, password: &str) -> Login {
        Login { username: user.into(), password: password.into() }
    }

    fn key(scope: &str, l: Option<&Login>) -> TokenKey {
        TokenKey::new("https://auth.example/token", Some("registry.example"), scope, l)
    }

    #[test]
    fn a_token_is_reused_until_its_lifetime_less_the_margin() {
        let c = TokenCache::default();
        let t0 = Instant::now();
        let k = key("repository:app:pull", None);
        c.put(k.clone(), "t1".into(), Some(300), t0);
        assert_eq!(c.get(&k, t0 + Duration::from_secs(289)).as_deref(), Some("t1"));
        assert_eq!(c.get(&k, t0 + Duration::from_secs(290)), None, "handed out within the margin");
        assert_eq!(c.len(), 0, "an expired token is dropped when asked for");
    }

    #[test]
    fn without_expires_in_a_token_lives_60_seconds() {
        let c = TokenCache::default();
        let t0 = Instant::now();
        let k = key("repository:app:pull", None);
        c.put(k.clone(), "t".into(), None, t0);
        assert!(c.get(&k, t0 + DEFAULT_LIFETIME - MARGIN - Duration::from_secs(1)).is_some());
        assert!(c.get(&k, t0 + DEFAULT_LIFETIME - MARGIN).is_none());
        // Too short to be worth keeping; absurdly long is capped.
        c.put(k.clone(), "short".into(), Some(5), t0);
        assert!(c.get(&k, t0).is_none());
        c.put(k.clone(), "long".into(), Some(u64::MAX / 2), t0);
        assert!(c.get(&k, t0 + LONGEST).is_none());
    }

    #[test]
    fn logins_and_scopes_do_not_share_tokens() {
        let c = TokenCache::default();
        let now = Instant::now();
        let (bob, alice) = (login("bob", "pw1"), login("alice", "pw1"));
        let bob_again = login("bob", "pw2");
        c.put(key("repository:app:pull", Some(&bob)), "bob's".into(), Some(300), now);
        assert_eq!(c.get(&key("repository:app:pull", Some(&bob)), now).as_deref(), Some("bob's"));
        assert_eq!(c.get(&key("repository:app:pull", Some(&alice)), now), None);
        assert_eq!(c.get(&key("repository:app:pull", Some(&bob_again)), now), None, "a changed password");
        assert_eq!(c.get(&key("repository:app:pull", None), now), None, "anonymous");
        assert_eq!(c.get(&key("repository:app:pull,push", Some(&bob)), now), None);
        assert_eq!(c.get(&key("repository:other:pull", Some(&bob)), now), None);
        let other_realm =
            TokenKey::new("https://elsewhere/token", Some("registry.example"), "repository:app:pull", Some(&bob));
        assert_eq!(c.get(&other_realm, now), None);
        // ("ab", "c") and ("a", "bc") are two logins.
        assert_ne!(fingerprint(&login("ab", "c")), fingerprint(&login("a", "bc")));
    }

    #[test]
    fn the_key_holds_no_password() {
        let k = key("repository:app:pull", Some(&login("bob", "hunter2-secret")));
        assert!(!format!("{k:?}").contains("hunter2"));
        assert!(!k.login.unwrap().windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_expired_then_oldest() {
        let c = TokenCache::default();
        let t0 = Instant::now();
        // One short-lived token, then enough long-lived ones to fill the cache.
        c.put(key("repository:short:pull", None), "s".into(), Some(60), t0);
        for i in 1..CAPACITY {
            c.put(
                key(&format!("repository:app{i}:pull"), None),
                format!("t{i}"),
                Some(3600),
                t0 + Duration::from_secs(i as u64),
            );
        }
        assert_eq!(c.len(), CAPACITY);
        // Full, and the short one expired: it goes, nothing else.
        let later = t0 + Duration::from_secs(1000);
        c.put(key("repository:new1:pull", None), "n1".into(), Some(3600), later);
        assert_eq!(c.len(), CAPACITY);
        assert!(c.get(&key("repository:app1:pull", None), later).is_some());
        // Full of live tokens: the oldest goes.
        c.put(key("repository:new2:pull", None), "n2".into(), Some(3600), later);
        assert_eq!(c.len(), CAPACITY);
        assert!(c.get(&key("repository:app1:pull", None), later).is_none(), "the oldest evicted");
        assert!(c.get(&key("repository:app2:pull", None), later).is_some());
        assert!(c.get(&key("repository:new2:pull", None), later).is_some());
        // Replacing a kept key evicts nothing.
        c.put(key("repository:new2:pull", None), "n2b".into(), Some(3600), later);
        assert_eq!(c.len(), CAPACITY);
        assert!(c.get(&key("repository:app2:pull", None), later).is_some());
    }

    #[test]
    fn forget_drops_a_refused_scope_for_one_login() {
        let c = TokenCache::default();
        let now = Instant::now();
        let bob = login("bob", "pw");
        c.put(key("repository:app:pull", Some(&bob)), "t".into(), Some(300), now);
        c.put(key("repository:app:pull", None), "anon".into(), Some(300), now);
        c.put(key("repository:app:pull,push", Some(&bob)), "p".into(), Some(300), now);
        assert!(c.forget("repository:app:pull", Some(&bob)));
        assert!(!c.forget("repository:app:pull", Some(&bob)));
        assert!(c.get(&key("repository:app:pull", Some(&bob)), now).is_none());
        assert!(c.get(&key("repository:app:pull", None), now).is_some(), "another login's stays");
        assert!(c.get(&key("repository:app:pull,push", Some(&bob)), now).is_some(), "another scope's stays");
    }

    #[tokio::test]
    async fn callers_for_one_key_take_turns_and_leave_nothing_behind() {
        let c = Arc::new(TokenCache::default());
        let (k, other) = (key("repository:app:pull", None), key("repository:other:pull", None));
        let first = c.turn(&k).await;
        // Another key is not held up.
        drop(tokio::time::timeout(Duration::from_secs(1), c.turn(&other)).await.expect("another key's turn"));
        let waiter = {
            let (c, k) = (c.clone(), k.clone());
            tokio::spawn(async move {
                let _turn = c.turn(&k).await;
                c.get(&k, Instant::now())
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the second caller waits for the first");
        c.put(k.clone(), "t".into(), Some(300), Instant::now());
        drop(first);
        assert_eq!(waiter.await.unwrap().as_deref(), Some("t"), "and then finds its token");
        assert!(c.asking.lock().unwrap().is_empty(), "turns are not kept once taken");
    }

    #[test]
    fn expires_in_is_read_from_the_answer() {
        assert_eq!(expires_in(br#"{"token":"t","expires_in":300}"#), Some(300));
        assert_eq!(expires_in(br#"{"token":"t"}"#), None);
        assert_eq!(expires_in(br#"{"token":"t","expires_in":"300"}"#), None);
        assert_eq!(expires_in(b"<html>"), None);
    }
}
