//! Repository paths an app refers to: build contexts and Dockerfiles,
//! mounted repository folders. They must stay inside the repository
//! (symlinks included) and exist, and a mounted folder is read-only; this
//! is validation's one look at the file system.

use super::Validator;
use crate::diag::Diagnostic;
use crate::spec::values::{self, VolumeSource, VolumeSpec};
use crate::spec::{At, BuildSpec};
use std::collections::BTreeMap;
use std::path::Path;

impl Validator<'_> {
    /// Mounts: one per target; a repository source is read-only, exists
    /// and stays inside.
    pub(super) fn volumes(&mut self, path: &str, volumes: &[At<VolumeSpec>]) {
        let mut targets: BTreeMap<&str, &At<VolumeSpec>> = BTreeMap::new();
        for v in volumes {
            if let VolumeSource::RepoPath(rel) = &v.source {
                // Repository files travel to the engine as a copy: what the
                // container wrote there would go nowhere.
                if !v.read_only {
                    let volume_name = |n: &&str| {
                        n.starts_with(|c: char| c.is_ascii_alphanumeric())
                            && n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                    };
                    let name = rel.rsplit('/').next().filter(volume_name).unwrap_or("data");
                    self.err_hint(
                        path,
                        v,
                        format!("volume source ./{rel} is mounted writable: repository files are shipped to the engine read-only"),
                        format!(
                            "add `:ro` (`./{rel}:{t}:ro`) to mount the repository's files, or use a named volume (`{name}:{t}`) for data the container writes",
                            t = v.target
                        ),
                    );
                }
                if !self.snapshot.root.join(rel).exists() {
                    self.err_hint(
                        path,
                        v,
                        format!("volume source ./{rel} does not exist in the repository"),
                        "create it (a folder or file of the repository), or fix the path",
                    );
                } else if let Some(problem) = self.symlink_escape(rel) {
                    self.err(path, v, format!("volume path {rel} {problem}"));
                }
            }
            if let Some(first) = targets.get(v.target.as_str()) {
                let msg = format!("duplicate mount point {} (also at line {})", v.target, first.line);
                self.err(path, v, msg);
            } else {
                targets.insert(&v.target, v);
            }
        }
    }

    /// A build context: relative, inside the repository, an existing folder.
    /// True when it is one.
    pub(super) fn build_context(&mut self, path: &str, ctx: &At<String>) -> bool {
        if ctx.starts_with('/') {
            self.err_hint(
                path,
                ctx,
                format!("build context `{}` must be repository-relative", ctx.value),
                "write it relative to the repository root, e.g. services/web",
            );
            return false;
        }
        let Some(rel) = values::normalize_relative(ctx) else {
            self.err(path, ctx, format!("build context `{}` escapes the repository", ctx.value));
            return false;
        };
        let full = self.snapshot.root.join(&rel);
        let problem = if !full.exists() {
            "does not exist"
        } else if let Some(problem) = self.symlink_escape(&rel) {
            problem
        } else if !full.is_dir() {
            "is not a folder"
        } else {
            return true;
        };
        self.err(path, ctx, format!("build context `{}` {problem}", ctx.value));
        false
    }

    /// The Dockerfile: relative, inside the context, present in the working tree.
    pub(super) fn dockerfile(&mut self, path: &str, b: &BuildSpec) {
        let Some(ctx) = values::normalize_relative(&b.context) else { return }; // reported above
        let d = b.dockerfile.as_ref();
        let name = d.map_or("Dockerfile", |d| d.value.as_str());
        if name.trim().is_empty() || name.starts_with('/') {
            let d = d.expect("the default is relative");
            return self.err(path, d, format!("dockerfile `{name}` must be a path relative to the build context"));
        }
        let Some(rel) = values::normalize_relative(name).filter(|r| r != ".") else {
            let d = d.expect("the default stays inside");
            return self.err(path, d, format!("dockerfile `{name}` leaves the build context `{}`", b.context.value));
        };
        let full = self.snapshot.root.join(&ctx).join(&rel);
        if self.snapshot.root.join(&ctx).is_dir() && !full.is_file() {
            let (line, col) = d.map_or((b.context.line, b.context.col), |d| (d.line, d.col));
            let msg = format!("build context `{}` has no {name}", b.context.value);
            self.diags.push(
                Diagnostic::new(path, line, col, msg)
                    .hint("add it, or set `build.dockerfile` to the Dockerfile's path inside the context"),
            );
        }
    }

    /// Whether an existing repository path resolves (through symlinks) outside the root.
    pub(super) fn symlink_escape(&self, rel: &str) -> Option<&'static str> {
        let root = &self.snapshot.root;
        let real = root.join(rel).canonicalize().ok()?;
        let root_real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        (!real.starts_with(Path::new(&root_real))).then_some("leaves the repository through a symlink")
    }
}
