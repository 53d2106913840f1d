//! A remote repository's branch, followed without a checkout: `head` asks
//! the remote for the branch's commit (one ls-remote, nothing fetched),
//! `fetch` brings the branch into a bare mirror kept under a cache folder,
//! `is_fast_forward` tells a new commit from a rewritten branch, and
//! `snapshot` reads a commit's tree from the mirror (`read_commit`): its
//! `Tree` answers every later question from the commit's objects.
//!
//! Transport is the `git` command (`command`), not libgit2: berth's libgit2
//! is built without https and ssh on purpose (they cost every command
//! ~50 ms at start). Objects are read from the mirror with git2. The mirror
//! is a cache: deleting it costs one full fetch, nothing else.
//!
//! The project name of a remote is its repository's name from the URL
//! (`https://host/org/infra.git` → `infra`), never the mirror's folder.
//! Everything here blocks: call it off the async threads.

use super::{read_commit, Revision, SourceError};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod command;
#[cfg(test)]
mod tests;
mod url;

pub use url::{display_url, repository_name};

/// How to authenticate to the remote.
#[derive(Debug, Clone, Default)]
pub struct GitAuth {
    /// An https token (`BERTH_GIT_TOKEN`, `--git-token-file`): sent as HTTP
    /// Basic auth, the URL's user name (else `x-access-token`) with the
    /// token as password — what GitHub, GitLab, Gitea and Bitbucket take.
    pub token: Option<SecretString>,
    /// An ssh private key (`--ssh-key`): the only identity offered.
    pub ssh_key: Option<PathBuf>,
    /// The known_hosts file the ssh host key is checked against
    /// (`--ssh-known-hosts`; default `~/.ssh/known_hosts`). An unknown host
    /// is refused, never added.
    pub known_hosts: Option<PathBuf>,
}

/// A failed talk with the remote. Its text never holds the token.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct GitError {
    kind: GitErrorKind,
    message: String,
}

/// What kind of failure, for the retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitErrorKind {
    /// The network, the server (5xx, 429), a timeout: try again later.
    Transient,
    /// Credentials refused, or the host key unknown: fix the setup.
    Auth,
    /// No such repository or branch.
    NotFound,
    /// Anything else that retrying will not fix (a bad URL, a broken mirror).
    Permanent,
}

impl GitError {
    pub fn kind(&self) -> GitErrorKind {
        self.kind
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == GitErrorKind::Transient
    }

    fn new(kind: GitErrorKind, message: impl Into<String>) -> Self {
        GitError { kind, message: message.into() }
    }
}

/// Longest wait for `head` (one small request).
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for `fetch` (a first fetch brings the whole history).
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// Where berth keeps remote mirrors: `<state dir>/remotes`.
pub fn default_cache_dir() -> Result<PathBuf, crate::state::StateError> {
    Ok(crate::state::ensured_state_dir()?.join("remotes"))
}

/// One branch of a remote repository, and its mirror.
pub struct Remote {
    url: String,
    branch: String,
    auth: GitAuth,
    mirror: PathBuf,
    head_timeout: Duration,
    fetch_timeout: Duration,
}

impl std::fmt::Debug for Remote {
    // By hand: the URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url())
            .field("branch", &self.branch)
            .field("auth", &self.auth)
            .field("mirror", &self.mirror)
            .finish()
    }
}

impl Remote {
    /// Follow `branch` of `url` (https, ssh, `git@host:path`, file://, or
    /// a path), keeping its mirror in `cache_dir` ([`default_cache_dir`]
    /// for berth) under a name made from a hash of the URL.
    /// Nothing is read or written yet.
    pub fn new(url: &str, branch: &str, auth: GitAuth, cache_dir: &Path) -> Result<Remote, GitError> {
        let shown = display_url(url);
        if url.trim().is_empty() || url.starts_with('-') {
            return Err(GitError::new(GitErrorKind::Permanent, format!("invalid remote URL `{shown}`")));
        }
        if branch.starts_with('-') || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(GitError::new(
                GitErrorKind::Permanent,
                format!("invalid branch name `{branch}`: give a branch of {shown}, e.g. main"),
            ));
        }
        let hash = hex::encode(Sha256::digest(shown.as_bytes()));
        let safe: String = repository_name(url)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_".contains(c) { c } else { '_' })
            .collect();
        let mirror = cache_dir.join(format!("{safe}-{}.git", &hash[..16]));
        Ok(Remote {
            url: url.to_string(),
            branch: branch.to_string(),
            auth,
            mirror,
            head_timeout: HEAD_TIMEOUT,
            fetch_timeout: FETCH_TIMEOUT,
        })
    }

    /// Other limits for `head` and `fetch` than 30 s and 10 min.
    pub fn with_timeouts(mut self, head: Duration, fetch: Duration) -> Remote {
        (self.head_timeout, self.fetch_timeout) = (head, fetch);
        self
    }

    /// The URL without any user or password in it, for messages.
    pub fn url(&self) -> String {
        display_url(&self.url)
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The bare mirror's folder (made by the first `fetch`).
    pub fn mirror(&self) -> &Path {
        &self.mirror
    }

    /// The project name by default: the repository's name in the URL.
    pub fn name(&self) -> String {
        repository_name(&self.url)
    }

    /// The branch's commit on the remote now: one ls-remote, nothing fetched.
    pub fn head(&self) -> Result<String, GitError> {
        let refname = format!("refs/heads/{}", self.branch);
        let args = ["ls-remote", "--exit-code", "--", &self.url, &refname];
        let out = self.git(&args, self.head_timeout, "ask")?;
        if out.code == Some(2) {
            return Err(self.branch_missing("ask"));
        }
        let out = self.succeeded(out, "ask")?;
        let found = out.stdout.lines().find_map(|l| {
            let (id, name) = l.split_once('\t')?;
            (name == refname && git2::Oid::from_str(id).is_ok()).then(|| id.to_string())
        });
        found.ok_or_else(|| self.branch_missing("ask"))
    }

    /// Fetch the branch into the mirror (made on first use) and return its
    /// commit. A rewritten branch is fetched too: `is_fast_forward` tells.
    pub fn fetch(&self) -> Result<String, GitError> {
        let repo = self.open_mirror(true)?;
        let refname = format!("refs/heads/{}", self.branch);
        let refspec = format!("+{refname}:{refname}");
        let dir = self.mirror.display().to_string();
        let args =
            ["--git-dir", &dir, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", &self.url, &refspec];
        let out = self.git(&args, self.fetch_timeout, "fetch")?;
        if out.code != Some(0) && out.stderr.contains("couldn't find remote ref") {
            return Err(self.branch_missing("fetch"));
        }
        self.succeeded(out, "fetch")?;
        let id = repo.refname_to_id(&refname).map_err(|e| self.mirror_error(e))?;
        Ok(id.to_string())
    }

    /// Whether `new` comes after `old` on one line of history (the same
    /// commit counts), from the mirror after a `fetch` of `new`. An `old`
    /// the mirror lacks is not an ancestor: a fetch brings every ancestor
    /// of what it fetches.
    pub fn is_fast_forward(&self, old: &str, new: &str) -> Result<bool, GitError> {
        let repo = self.open_mirror(false)?;
        let oid = |s: &str| {
            git2::Oid::from_str(s)
                .map_err(|_| GitError::new(GitErrorKind::Permanent, format!("`{s}` is not a commit id")))
        };
        let (old, new) = (oid(old)?, oid(new)?);
        if old == new {
            return Ok(true);
        }
        if repo.find_commit(new).is_err() {
            let msg = format!("commit {new} is not in the mirror of {}: fetch it first", self.url());
            return Err(GitError::new(GitErrorKind::Permanent, msg));
        }
        if repo.find_commit(old).is_err() {
            return Ok(false);
        }
        repo.graph_descendant_of(new, old).map_err(|e| self.mirror_error(e))
    }

    /// The repository's files in `commit` (fetched before), read from the
    /// mirror: named after the URL, answering from the commit's tree.
    pub fn snapshot(&self, commit: &str) -> Result<Revision, SourceError> {
        let place = self.url();
        let repo = git2::Repository::open_bare(&self.mirror).map_err(|e| SourceError::Revision {
            place: place.clone(),
            rev: commit.to_string(),
            message: format!("its mirror {} cannot be opened ({}): fetch first", self.mirror.display(), e.message()),
        })?;
        read_commit(&repo, "", commit, self.name(), place)
    }

    /// The mirror, made when `create` and missing. Its config turns off
    /// automatic gc, so the commit last applied stays readable after a
    /// rewrite of the branch.
    fn open_mirror(&self, create: bool) -> Result<git2::Repository, GitError> {
        match git2::Repository::open_bare(&self.mirror) {
            Ok(repo) => return Ok(repo),
            Err(e) if !create || e.code() != git2::ErrorCode::NotFound => return Err(self.mirror_error(e)),
            Err(_) => {}
        }
        let repo = git2::Repository::init_bare(&self.mirror).map_err(|e| self.mirror_error(e))?;
        let mut config = repo.config().map_err(|e| self.mirror_error(e))?;
        for (key, value) in [("gc.auto", "0"), ("maintenance.auto", "false")] {
            config.set_str(key, value).map_err(|e| self.mirror_error(e))?;
        }
        Ok(repo)
    }

    fn mirror_error(&self, e: git2::Error) -> GitError {
        let msg = format!(
            "failed to use the mirror {} of {}: {}\n  hint: the mirror is a cache: delete the folder and berth fetches it again",
            self.mirror.display(),
            self.url(),
            e.message()
        );
        GitError::new(GitErrorKind::Permanent, msg)
    }

    fn branch_missing(&self, what: &str) -> GitError {
        let msg = format!(
            "failed to {what} {} for branch {}: the remote has no such branch\n  hint: check --branch (and --remote)",
            self.url(),
            self.branch
        );
        GitError::new(GitErrorKind::NotFound, msg)
    }
}
