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
/// HEAD, the branch it points to, packed refs, and what the binary is made
/// of (for `-dirty`; a change elsewhere, say in README.md, is not watched).
/// Not the index: staging changes nothing here, and watching it would
/// rebuild berth at every `git add`.
fn from_git() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        // GIT_OPTIONAL_LOCKS=0: `describe --dirty` must not rewrite the
        // index (its stat refresh), or each build would dirty the next.
        let out = Command::new("git").args(args).env("GIT_OPTIONAL_LOCKS", "0").output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // In a worktree `.git` is a file; ask git where its files are.
    for name in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", name]) {
            println!("cargo:rerun-if-changed={}", PathBuf::from(p).display());
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["rev-parse", "--git-path", &branch]) {
            println!("cargo:rerun-if-changed={}", PathBuf::from(p).display());
        }
    }
    for tracked in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={tracked}");
    }
    git(&["describe", "--always", "--dirty", "--abbrev=12", "--exclude=*"]).filter(|c| !c.is_empty())
}
