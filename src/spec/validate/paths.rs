//! Repository paths an app refers to: build contexts and Dockerfiles,
//! mounted repository folders. They must stay inside the repository
//! (symlinks included) and exist, and a mounted folder is read-only. The
//! snapshot's `Tree` answers, from where the snapshot was read (a working
//! tree or a commit): validation itself reads no disk.

use super::Validator;
use crate::diag::Diagnostic;
use crate::source::PathKind;
use crate::spec::values::{self, VolumeSource, VolumeSpec};
use crate::spec::{At, BuildSpec};
use std::collections::BTreeMap;

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
                match self.snapshot.tree.path_kind(rel) {
                    PathKind::Missing => self.err_hint(
                        path,
                        v,
                        format!("volume source ./{rel} does not exist in the repository"),
                        "create it (a folder or file of the repository), or fix the path",
                    ),
                    PathKind::Escapes => self.err(path, v, format!("volume path {rel} {THROUGH_SYMLINK}")),
                    PathKind::Folder | PathKind::File | PathKind::Other => {}
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
        let problem = match self.snapshot.tree.path_kind(&rel) {
            PathKind::Folder => return true,
            PathKind::Missing => "does not exist",
            PathKind::Escapes => THROUGH_SYMLINK,
            PathKind::File | PathKind::Other => "is not a folder",
        };
        self.err(path, ctx, format!("build context `{}` {problem}", ctx.value));
        false
    }

    /// The Dockerfile: relative, inside the context, present in the snapshot's tree.
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
        let tree = &self.snapshot.tree;
        if tree.path_kind(&ctx) == PathKind::Folder && tree.path_kind(&format!("{ctx}/{rel}")) != PathKind::File {
            let (line, col) = d.map_or((b.context.line, b.context.col), |d| (d.line, d.col));
            let msg = format!("build context `{}` has no {name}", b.context.value);
            self.diags.push(
                Diagnostic::new(path, line, col, msg)
                    .hint("add it, or set `build.dockerfile` to the Dockerfile's path inside the context"),
            );
        }
    }
}

const THROUGH_SYMLINK: &str = "leaves the repository through a symlink";
