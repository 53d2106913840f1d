//! Running `git` for the network part: an environment that owns its
//! configuration (no global or system config, no prompt, no credential
//! helper, no inherited `GIT_*`), the token passed as an HTTP header through
//! the environment (never the command line or a file), ssh that checks host
//! keys and never asks, a timeout that kills the whole process group, and
//! failures sorted into transient or not, with the token scrubbed out.

use super::{GitError, GitErrorKind, Remote};
use base64::Engine as _;
use secrecy::ExposeSecret;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished `git` said.
pub(super) struct Output {
    /// The exit code; `None` when killed by a signal.
    pub(super) code: Option<i32>,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// A transfer slower than this many bytes a second…
const LOW_SPEED_LIMIT: &str = "1000";
/// …for this many seconds is given up (a stalled server), before the timeout.
const LOW_SPEED_TIME: &str = "60";
/// The longest stderr excerpt an error quotes.
const EXCERPT: usize = 600;

impl Remote {
    /// Run `git args`; `what` says what it was for (`ask`, `fetch`), in
    /// messages. Only a failure to run, or a timeout, is an error here.
    pub(super) fn git(&self, args: &[&str], timeout: Duration, what: &str) -> Result<Output, GitError> {
        let mut cmd = Command::new("git");
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Its own process group: a timeout kills git and its helpers (ssh, git-remote-https).
        cmd.process_group(0);
        self.environment(&mut cmd);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            let msg = format!("failed to run `git` to {what} {}: {e}\n  hint: install git (2.31 or newer)", self.url());
            GitError::new(GitErrorKind::Permanent, msg)
        })?;
        let read = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = read(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let stderr = read(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let mut pause = Duration::from_millis(2);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() >= timeout => break None,
                Ok(None) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => {
                    let msg = format!("failed to wait for `git` to {what} {}: {e}", self.url());
                    return Err(GitError::new(GitErrorKind::Transient, msg));
                }
            }
        };
        let Some(status) = status else {
            // SAFETY: kill(2) with the group id of the child we spawned in its own group.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            let msg = format!("failed to {what} {}: no answer within {}s", self.url(), timeout.as_secs());
            return Err(GitError::new(GitErrorKind::Transient, msg));
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        Ok(Output { code: status.code(), stdout, stderr })
    }

    /// `out` when git succeeded; else its failure, classified and scrubbed.
    pub(super) fn succeeded(&self, out: Output, what: &str) -> Result<Output, GitError> {
        if out.code == Some(0) {
            return Ok(out);
        }
        let kind = classify(&out.stderr);
        let excerpt = self.scrub(&excerpt(&out.stderr));
        let hint = match kind {
            GitErrorKind::Auth => {
                "check the credentials: the token (BERTH_GIT_TOKEN or --git-token-file) for https, the key (--ssh-key) and the host's entry in known_hosts (--ssh-known-hosts) for ssh"
            }
            GitErrorKind::NotFound => "check --remote (and that the credentials may read it)",
            GitErrorKind::Transient => "berth tries again later",
            GitErrorKind::Permanent => "check --remote",
        };
        let why = match kind {
            GitErrorKind::Auth => "the remote refused the credentials (or wants some)",
            GitErrorKind::NotFound => "no such repository",
            GitErrorKind::Transient | GitErrorKind::Permanent => "git failed",
        };
        let status = out.code.map_or_else(|| "killed".to_string(), |c| format!("exit {c}"));
        let (url, branch) = (self.url(), &self.branch);
        let msg = format!("failed to {what} {url} for branch {branch}: {why} ({status}: {excerpt})\n  hint: {hint}");
        Err(GitError::new(kind, msg))
    }

    /// The environment git runs in: only what berth sets.
    fn environment(&self, cmd: &mut Command) {
        for (key, _) in std::env::vars_os() {
            // Which CAs to trust is the host's setup, kept; nothing else of git's.
            let kept = |k: &str| matches!(k, "GIT_SSL_CAINFO" | "GIT_SSL_CAPATH");
            if key.to_str().is_some_and(|k| k.starts_with("GIT_") && !kept(k)) {
                cmd.env_remove(key);
            }
        }
        cmd.env_remove("SSH_ASKPASS");
        cmd.env("LC_ALL", "C"); // messages are classified by their English text
        cmd.env("GIT_TERMINAL_PROMPT", "0");
        cmd.env("GIT_ASKPASS", ""); // set and empty: no askpass program at all
        cmd.env("GIT_CONFIG_NOSYSTEM", "1");
        cmd.env("GIT_CONFIG_GLOBAL", "/dev/null");
        let mut config: Vec<(&str, String)> = vec![
            ("credential.helper", String::new()),
            ("http.lowSpeedLimit", LOW_SPEED_LIMIT.into()),
            ("http.lowSpeedTime", LOW_SPEED_TIME.into()),
            ("gc.auto", "0".into()),
            ("maintenance.auto", "false".into()),
        ];
        if let Some(header) = self.auth_header() {
            config.push(("http.extraHeader", header));
        }
        cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.into_iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), key);
            cmd.env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        cmd.env("GIT_SSH_COMMAND", self.ssh_command());
    }

    /// `Authorization: Basic …` with the token as password, if there is one.
    fn auth_header(&self) -> Option<String> {
        let token = self.auth.token.as_ref()?.expose_secret();
        let user = super::url::user(&self.url).unwrap_or_else(|| "x-access-token".into());
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
        Some(format!("Authorization: Basic {basic}"))
    }

    /// ssh that never asks (BatchMode), checks the host key against one
    /// known_hosts file and never adds to it, and offers only the given key.
    fn ssh_command(&self) -> String {
        let mut parts: Vec<String> =
            ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=30"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let known_hosts = self
            .auth
            .known_hosts
            .clone()
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".ssh/known_hosts")));
        if let Some(file) = known_hosts {
            parts.push("-o".into());
            parts.push(format!("UserKnownHostsFile={}", file.display()));
        }
        if let Some(key) = &self.auth.ssh_key {
            parts.extend(["-i".to_string(), key.display().to_string(), "-o".into(), "IdentitiesOnly=yes".into()]);
        }
        // GIT_SSH_COMMAND goes through a shell: every part quoted.
        shell_words::join(parts)
    }

    /// `text` without the token, its header form, or the URL's password.
    pub(super) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut secrets: Vec<String> = Vec::new();
        if let Some(t) = &self.auth.token {
            secrets.push(t.expose_secret().to_string());
        }
        if let Some(h) = self.auth_header() {
            secrets.push(h.trim_start_matches("Authorization: Basic ").to_string());
        }
        secrets.extend(super::url::password(&self.url));
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(s.as_str(), "***");
        }
        out.replace(&self.url, &self.url())
    }
}

/// The lines of git's stderr worth quoting, joined, at most [`EXCERPT`] long.
fn excerpt(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut text = lines.join("; ");
    if text.is_empty() {
        text = "git said nothing".into();
    }
    if text.len() > EXCERPT {
        let mut end = EXCERPT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Sort a failure by what git printed (with `LC_ALL=C`). What is not
/// known to be the setup's fault is taken as transient: the loop backs
/// off and tries again, which never does harm.
pub(super) fn classify(stderr: &str) -> GitErrorKind {
    let s = stderr.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if any(&[
        "authentication failed",
        "could not read username",
        "could not read password",
        "terminal prompts disabled",
        "returned error: 401",
        "returned error: 403",
        "permission denied (publickey",
        "permission denied, please try again",
        "host key verification failed",
        "no matching host key",
        "invalid username or password",
        "access denied",
    ]) {
        GitErrorKind::Auth
    } else if any(&[
        "repository not found",
        "does not appear to be a git repository",
        "returned error: 404",
        "couldn't find remote ref",
    ]) {
        GitErrorKind::NotFound
    } else if any(&[
        "not allowed",
        "unsupported protocol",
        "invalid url",
        "url rejected",
        "unable to find remote helper",
    ]) {
        GitErrorKind::Permanent
    } else {
        GitErrorKind::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::remote::GitAuth;
    use secrecy::SecretString;

    #[test]
    fn ssh_checks_host_keys_offers_one_key_and_quotes_paths() {
        let auth = GitAuth {
            ssh_key: Some("/keys/deploy key".into()),
            known_hosts: Some("/etc/berth/known hosts".into()),
            ..Default::default()
        };
        let r = Remote::new("git@host:org/infra.git", "main", auth, std::path::Path::new("/cache")).unwrap();
        let words = shell_words::split(&r.ssh_command()).unwrap();
        for expected in [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=/etc/berth/known hosts",
            "/keys/deploy key",
            "IdentitiesOnly=yes",
        ] {
            assert!(words.iter().any(|w| w == expected), "{expected} in {words:?}");
        }
        assert_eq!(words[0], "ssh");
    }

    #[test]
    fn the_token_goes_in_a_header_with_the_urls_user() {
        let token = |url: &str| {
            let auth = GitAuth { token: Some(SecretString::from("t0k".to_string())), ..Default::default() };
            let r = Remote::new(url, "main", auth, std::path::Path::new("/cache")).unwrap();
            let header = r.auth_header().unwrap();
            let basic = header.strip_prefix("Authorization: Basic ").unwrap();
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(basic).unwrap()).unwrap()
        };
        assert_eq!(token("https://host/org/infra.git"), "x-access-token:t0k");
        assert_eq!(token("https://oauth2@gitlab.example/org/infra.git"), "oauth2:t0k");
    }

    #[test]
    fn failures_are_sorted_by_what_git_said() {
        for (stderr, kind) in [
            ("fatal: could not read Username for 'https://h': terminal prompts disabled", GitErrorKind::Auth),
            (
                "remote: Invalid username or password.\nfatal: Authentication failed for 'https://h/x.git/'",
                GitErrorKind::Auth,
            ),
            ("fatal: unable to access 'https://h/x.git/': The requested URL returned error: 403", GitErrorKind::Auth),
            (
                "git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.",
                GitErrorKind::Auth,
            ),
            ("Host key verification failed.\nfatal: Could not read from remote repository.", GitErrorKind::Auth),
            ("remote: Repository not found.\nfatal: repository 'https://h/x.git/' not found", GitErrorKind::NotFound),
            ("fatal: couldn't find remote ref refs/heads/nope", GitErrorKind::NotFound),
            (
                "fatal: unable to access 'https://h/x.git/': The requested URL returned error: 502",
                GitErrorKind::Transient,
            ),
            ("fatal: unable to access 'https://h/': Could not resolve host: h", GitErrorKind::Transient),
            (
                "ssh: connect to host h port 22: Connection refused\nfatal: Could not read from remote repository.",
                GitErrorKind::Transient,
            ),
            ("error: RPC failed; HTTP 429 curl 22\nfatal: expected flush after ref listing", GitErrorKind::Transient),
            ("fatal: transport 'ext' not allowed", GitErrorKind::Permanent),
        ] {
            assert_eq!(classify(stderr), kind, "{stderr}");
        }
    }
}
