//! Records the git commit berth is built from, for `berth --version`, as the
//! compile-time variable `BERTH_GIT_COMMIT`: `$BERTH_GIT_COMMIT` when the
//! builder sets it (a container build without `.git`), else `git describe`
//! of this checkout (abbreviated hash, `-dirty` with uncommitted changes),
//! else empty: a build outside git, which `--version` says. Work happens
//! here, at build time, so that start-up does none.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_GIT_COMMIT");
    let commit = match std::env::var("BERTH_GIT_COMMIT") {
        Ok(c) => c.trim().to_string(),
        Err(_) => from_git().unwrap_or_default(),
    };
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
}

/// The checkout's commit, and `rerun-if-changed` lines for what moves it:
/// HEAD, the branch it points to, packed refs, and the sources (for
/// `-dirty`). Not the index (staging changes nothing here) nor Cargo.toml
/// (packaging metadata lives there): watching them would rebuild berth at
/// every `git add` or packaging edit. A change elsewhere shows as `-dirty`
/// at the next rebuild.
fn from_git() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        // GIT_OPTIONAL_LOCKS=0: `describe --dirty` must not rewrite the
        // index (its stat refresh), or each build would dirty the next.
        let out = Command::new("git").args(args).env("GIT_OPTIONAL_LOCKS", "0").output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // In a worktree `.git` is a file; ask git where its files are.
    // Only files that exist: cargo reruns a build script whose watched
    // file is missing every time (no packed-refs is common).
    let watch = |p: String| {
        let p = PathBuf::from(p);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    };
    for name in ["HEAD", "packed-refs"] {
        git(&["rev-parse", "--git-path", name]).map(watch);
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        git(&["rev-parse", "--git-path", &branch]).map(watch);
    }
    for tracked in ["src", "build.rs"] {
        println!("cargo:rerun-if-changed={tracked}");
    }
    git(&["describe", "--always", "--dirty", "--abbrev=12", "--exclude=*"]).filter(|c| !c.is_empty())
}
