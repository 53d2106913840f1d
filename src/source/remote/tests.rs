//! A remote on real transports: a bare repository over file:// and a plain
//! path, and over HTTP through `git http-backend` behind a local server
//! that wants a token. Histories are made with the `git` command.

use super::*;
use crate::source::ContextFrom;
use std::process::Command;

mod http;

/// A work tree `work/` pushing branch `main` to the bare `infra.git` beside it.
struct Upstream {
    dir: tempfile::TempDir,
}

impl Upstream {
    fn new() -> Self {
        let up = Upstream { dir: tempfile::tempdir().unwrap() };
        up.git(&["init", "-q", "-b", "main", "work"], None);
        up.git(&["init", "-q", "--bare", "-b", "main", "infra.git"], None);
        up.git(&["remote", "add", "origin", up.bare().to_str().unwrap()], Some("work"));
        up
    }

    fn bare(&self) -> std::path::PathBuf {
        self.dir.path().join("infra.git")
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.bare().display())
    }

    fn git(&self, args: &[&str], cwd: Option<&str>) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(args)
            .current_dir(cwd.map_or(self.dir.path().to_path_buf(), |c| self.dir.path().join(c)))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn write(&self, path: &str, content: &str) -> &Self {
        let p = self.dir.path().join("work").join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    /// Commit everything in the work tree and push it; the new commit.
    fn push(&self, message: &str) -> String {
        self.git(&["add", "-A"], Some("work"));
        self.git(&["commit", "-q", "-m", message], Some("work"));
        self.git(&["push", "-q", "origin", "main"], Some("work"));
        self.git(&["rev-parse", "HEAD"], Some("work"))
    }

    /// Rewrite the last commit and force-push it; the new commit.
    fn rewrite(&self) -> String {
        self.write("apps/web.yaml", "image: busybox:1.37\n");
        self.git(&["add", "-A"], Some("work"));
        self.git(&["commit", "-q", "--amend", "-m", "rewritten"], Some("work"));
        self.git(&["push", "-q", "--force", "origin", "main"], Some("work"));
        self.git(&["rev-parse", "HEAD"], Some("work"))
    }
}

fn remote(url: &str, branch: &str, auth: GitAuth, cache: &Path) -> Remote {
    Remote::new(url, branch, auth, cache).unwrap()
}

fn token(t: &str) -> GitAuth {
    GitAuth { token: Some(SecretString::from(t.to_string())), ..Default::default() }
}

#[test]
fn a_file_remote_is_asked_fetched_read_and_checked_for_rewrites() {
    let up = Upstream::new();
    up.write("berth.yaml", "registry: {push-on-release: false}\n").write("apps/web.yaml", "image: busybox:1.36\n");
    let first = up.push("first");
    let cache = tempfile::tempdir().unwrap();
    let r = remote(&up.file_url(), "main", GitAuth::default(), cache.path());
    assert!(r.mirror().starts_with(cache.path()));
    assert_ne!(r.mirror().file_name().unwrap(), "infra", "the mirror is named from a hash of the URL");

    assert_eq!(r.head().unwrap(), first);
    assert!(!r.mirror().exists(), "asking the head fetches nothing");
    assert_eq!(r.fetch().unwrap(), first);
    let rev = r.snapshot(&first).unwrap();
    assert_eq!((rev.commit.as_str(), rev.snapshot.name.as_str()), (first.as_str(), "infra"));
    assert_eq!(rev.snapshot.apps[0].bytes, b"image: busybox:1.36\n");
    assert_eq!(rev.snapshot.tree.commit_id(), Some(first.as_str()));

    up.write("apps/api.yaml", "image: busybox:1.36\n");
    let second = up.push("second");
    assert_eq!(r.head().unwrap(), second, "a new commit is seen without a fetch");
    assert_eq!(r.fetch().unwrap(), second);
    assert!(r.is_fast_forward(&first, &second).unwrap());
    assert!(r.is_fast_forward(&second, &second).unwrap());
    assert!(!r.is_fast_forward(&second, &first).unwrap(), "going back is no fast-forward");
    assert_eq!(r.snapshot(&second).unwrap().snapshot.apps.len(), 2);

    let rewritten = up.rewrite();
    assert_eq!(r.fetch().unwrap(), rewritten, "a rewritten branch is fetched");
    assert!(!r.is_fast_forward(&second, &rewritten).unwrap(), "a force-push is detected");
    assert!(r.is_fast_forward(&first, &rewritten).unwrap());
    // The commit replaced stays readable: the mirror never prunes.
    assert_eq!(r.snapshot(&second).unwrap().snapshot.apps.len(), 2);

    // A plain path works too, into the same kind of mirror.
    let plain = remote(up.bare().to_str().unwrap(), "main", GitAuth::default(), cache.path());
    assert_eq!(plain.head().unwrap(), rewritten);
    assert_eq!(plain.name(), "infra");
}

#[test]
fn a_missing_branch_or_repository_is_not_transient() {
    let up = Upstream::new();
    up.write("apps/web.yaml", "image: a\n");
    up.push("first");
    let cache = tempfile::tempdir().unwrap();
    let r = remote(&up.file_url(), "nope", GitAuth::default(), cache.path());
    for err in [r.head().unwrap_err(), r.fetch().unwrap_err()] {
        assert_eq!(err.kind(), GitErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains("no such branch"), "{err}");
    }
    let gone = format!("file://{}/none.git", up.dir.path().display());
    let err = remote(&gone, "main", GitAuth::default(), cache.path()).head().unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(Remote::new(&up.file_url(), "bad..name", GitAuth::default(), cache.path()).is_err());
    assert!(Remote::new("--upload-pack=evil", "main", GitAuth::default(), cache.path()).is_err());
}

#[test]
fn an_http_remote_wants_the_token_and_never_shows_it() {
    let up = Upstream::new();
    up.write("apps/web.yaml", "image: busybox:1.36\n");
    let first = up.push("first");
    let server = http::GitHttp::start(up.dir.path(), "s3cret-token");
    let url = server.url("infra.git");
    let cache = tempfile::tempdir().unwrap();

    let r = remote(&url, "main", token("s3cret-token"), cache.path());
    assert_eq!(r.head().unwrap(), first);
    let asked = server.log();
    assert!(!asked.is_empty() && asked.iter().all(|l| !l.ends_with(" fetch") && !l.starts_with("401")), "{asked:#?}");
    assert!(!r.mirror().exists());
    assert_eq!(r.fetch().unwrap(), first);
    assert!(server.log().iter().any(|l| l.ends_with(" fetch")), "{:#?}", server.log());
    assert_eq!(r.snapshot(&first).unwrap().snapshot.name, "infra");

    let basic = base64::engine::general_purpose::STANDARD.encode("x-access-token:wrong-token-value");
    for auth in [token("wrong-token-value"), GitAuth::default()] {
        let bad = remote(&url, "main", auth, cache.path());
        for err in [bad.head().unwrap_err(), bad.fetch().unwrap_err()] {
            let text = format!("{err} {err:?}");
            assert_eq!(err.kind(), GitErrorKind::Auth, "{text}");
            assert!(!err.is_transient());
            assert!(!text.contains("wrong-token-value") && !text.contains(&basic), "{text}");
            assert!(text.contains("BERTH_GIT_TOKEN"), "says what to do: {text}");
        }
    }
    // A password in the URL is never shown either.
    let with_password = url.replace("http://", "http://bob:pw-in-url@");
    let err = remote(&with_password, "nope", token("s3cret-token"), cache.path()).head().unwrap_err();
    assert!(!format!("{err} {err:?}").contains("pw-in-url"), "{err}");
}

use base64::Engine as _;

#[test]
fn an_unreachable_or_silent_server_is_transient() {
    let cache = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = remote(&format!("http://127.0.0.1:{closed}/infra.git"), "main", GitAuth::default(), cache.path())
        .head()
        .unwrap_err();
    assert!(err.is_transient(), "{err}");

    // Accepts the connection, never answers: the timeout ends git and its helper.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/infra.git", silent.local_addr().unwrap().port());
    let r = remote(&url, "main", GitAuth::default(), cache.path())
        .with_timeouts(Duration::from_millis(500), Duration::from_millis(500));
    let started = std::time::Instant::now();
    let err = r.head().unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("no answer"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "killed, not waited for");
}

#[test]
fn a_snapshot_from_the_mirror_validates_and_loads_from_its_commit() {
    let up = Upstream::new();
    up.write("berth.yaml", "registry: {push-on-release: false}\n")
        .write("apps/web.yaml", "build: {context: web}\nvolumes: [\"./site:/srv:ro\"]\n")
        .write("web/Dockerfile", "FROM busybox:1.36\n")
        .write("site/index.html", "hi\n");
    let first = up.push("first");
    let cache = tempfile::tempdir().unwrap();
    let r = remote(&up.file_url(), "main", GitAuth::default(), cache.path());
    let commit = r.fetch().unwrap();
    let loaded = crate::pipeline::load_snapshot(&r.snapshot(&commit).unwrap().snapshot, &Default::default())
        .unwrap_or_else(|e| panic!("{e}: {e:?}"));
    assert_eq!(loaded.desired.project, "infra", "named from the URL, not the mirror's folder");
    let build = loaded.desired.apps[0].build.as_ref().unwrap();
    assert_eq!(build.version.from, ContextFrom::Commit { commit: first.clone() });
    let work = crate::source::read_working_tree(&up.dir.path().join("work")).unwrap();
    assert_eq!(build.version, work.tree.context_version("web", "Dockerfile").unwrap(), "as its clean checkout");
    let mounted = loaded.desired.repo_files();
    let (files, _) = mounted.values().next().unwrap();
    assert_eq!(files.content, work.tree.files_version("site").unwrap().content);

    // Validation reads the commit, not a working tree: a context only on disk is missing.
    up.write("apps/web.yaml", "build: {context: api}\n").write("web/Dockerfile", "FROM busybox:1.37\n");
    up.push("second");
    up.write("api/Dockerfile", "FROM busybox:1.36\n"); // never committed
    let second = r.fetch().unwrap();
    let err =
        crate::pipeline::load_snapshot(&r.snapshot(&second).unwrap().snapshot, &Default::default()).err().unwrap();
    let crate::pipeline::PipelineError::Invalid(diags) = err else { panic!("{err}") };
    assert!(diags.iter().any(|d| d.message.contains("build context `api` does not exist")), "{diags:#?}");
}
