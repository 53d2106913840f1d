//! Validate: parsed files → a `Repo`, with every semantic problem reported.
//!
//! Checks what the types cannot say: names, references between files
//! (credentials, duplicate apps), value formats (via `values`), host-port
//! clashes across all apps and replicas, and that repository paths stay
//! inside the repository. Each problem points at the offending value. The
//! only I/O is one look at the file system for build contexts and bind-mount
//! folders, to catch a symlink that leads out of the repository.

use super::at::At;
use super::parse::nearest;
use super::types::{AppSpec, Healthcheck, ProcessSpec, Settings};
use super::values::{self, VolumeSource};
use super::{AppFile, Repo};
use crate::diag::Diagnostic;
use crate::source::Snapshot;
use std::collections::BTreeMap;
use std::path::Path;

mod ports;

/// Build the `Repo`; push a diagnostic for every problem. `settings` is `None`
/// when berth.yaml failed to parse (its errors are already reported).
pub(super) fn validate(
    snapshot: &Snapshot,
    settings: Option<Settings>,
    apps: Vec<(String, AppSpec)>,
    diags: &mut Vec<Diagnostic>,
) -> Repo {
    let credentials = credential_names(snapshot);
    let mut v = Validator { snapshot, credentials: &credentials, diags };
    let project = v.project(settings.as_ref());
    let settings = settings.unwrap_or_default();
    v.settings(&settings);

    let mut files: Vec<AppFile> = Vec::new();
    let mut seen: BTreeMap<String, (String, u32, u32)> = BTreeMap::new();
    for (path, spec) in apps {
        let name = v.app_name(&path, &spec);
        if let Some((first, line, col)) = seen.get(&name) {
            let (l, c) = spec.name.as_ref().map_or((0, 0), |n| (n.line, n.col));
            let at = if *line > 0 { format!("{first}:{line}:{col}") } else { first.clone() };
            v.push(
                Diagnostic::new(&path, l, c, format!("app `{name}` is also defined in {at}"))
                    .hint("app names are unique; set a different `name:` or rename one file"),
            );
        } else {
            let (l, c) = spec.name.as_ref().map_or((0, 0), |n| (n.line, n.col));
            seen.insert(name.clone(), (path.clone(), l, c));
        }
        v.app(&path, &spec);
        files.push(AppFile { path, name, spec });
    }
    v.port_clashes(&files);
    v.push_targets(&files, &settings);
    files.sort_by(|a, b| a.name.cmp(&b.name).then(a.path.cmp(&b.path)));
    Repo { root: snapshot.root.clone(), project, settings, apps: files, credentials }
}

/// Names of `credentials/**/*.age`, without the folder and extension.
fn credential_names(snapshot: &Snapshot) -> Vec<String> {
    let mut names: Vec<String> = snapshot
        .credentials
        .iter()
        .map(|f| {
            let p = f.path.strip_prefix("credentials/").unwrap_or(&f.path);
            p.strip_suffix(".age").unwrap_or(p).to_string()
        })
        .collect();
    names.sort();
    names
}

struct Validator<'a> {
    snapshot: &'a Snapshot,
    credentials: &'a [String],
    diags: &'a mut Vec<Diagnostic>,
}

impl Validator<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn err<T>(&mut self, file: &str, at: &At<T>, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(file, at.line, at.col, message));
    }

    fn err_hint<T>(&mut self, file: &str, at: &At<T>, message: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::new(file, at.line, at.col, message).hint(hint));
    }

    /// `project:` or the folder name; either must be a valid name.
    fn project(&mut self, settings: Option<&Settings>) -> String {
        if let Some(p) = settings.and_then(|s| s.project.as_ref()) {
            if !values::is_valid_name(p) {
                self.err_hint(
                    "berth.yaml",
                    p,
                    format!("invalid project name `{}`", p.value),
                    "use lowercase letters, digits and `-`, starting with a letter or digit ([a-z0-9][a-z0-9-]*, at most 63)",
                );
            }
            return p.value.clone();
        }
        let folder = self.snapshot.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // A berth.yaml that failed to parse may well set `project:`; don't guess.
        if settings.is_some() && !values::is_valid_name(&folder) {
            let file = match &self.snapshot.settings {
                Some(f) => f.path.clone(),
                None => self.snapshot.root.display().to_string(),
            };
            self.push(
                Diagnostic::new(
                    file,
                    0,
                    0,
                    format!("the repository folder name `{folder}` is not a valid project name ([a-z0-9][a-z0-9-]*)"),
                )
                .hint("set `project:` in berth.yaml"),
            );
        }
        folder
    }

    fn settings(&mut self, s: &Settings) {
        const FILE: &str = "berth.yaml";
        if let Some(c) = s.credentials.as_ref().and_then(|c| c.default.as_ref()) {
            self.credential(FILE, c);
        }
        if let Some(r) = &s.registry {
            if let Some(server) = &r.server {
                self.server(FILE, server);
            }
            if let Some(t) = &r.image_repo_template {
                self.template(FILE, t);
            }
            for tag in r.push_extra_tags.iter().flatten() {
                self.tag(FILE, tag);
            }
        }
        for r in &s.insecure_registries {
            if r.trim().is_empty() || r.contains('/') || r.contains(char::is_whitespace) {
                self.err_hint(
                    FILE,
                    r,
                    format!("invalid insecure registry `{}`", r.value),
                    "write it as host or host:port",
                );
            }
        }
        for r in &s.recipients {
            if r.trim().is_empty() {
                self.err(FILE, r, "empty recipient");
            }
        }
    }

    /// `name:` or the file stem, checked.
    fn app_name(&mut self, path: &str, spec: &AppSpec) -> String {
        if let Some(n) = &spec.name {
            if !values::is_valid_name(n) {
                self.err_hint(path, n, format!("invalid app name `{}`", n.value), NAME_HINT);
            }
            return n.value.clone();
        }
        let file = path.rsplit('/').next().unwrap_or(path);
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s).to_string();
        if !values::is_valid_name(&stem) {
            self.push(
                Diagnostic::new(path, 0, 0, format!("invalid app name `{stem}` (taken from the file name)"))
                    .hint(format!("{NAME_HINT}; rename the file or set `name:`")),
            );
        }
        stem
    }

    fn app(&mut self, path: &str, app: &AppSpec) {
        match (&app.image, &app.build) {
            (None, None) => self.push(
                Diagnostic::new(path, 0, 0, "an app needs `image:` or `build:`")
                    .hint("set `image:` to deploy an existing image, or `build:` to build one from this repository"),
            ),
            (Some(image), Some(_)) => {
                self.err_hint(path, image, "`image` and `build` are exclusive", "keep one of them")
            }
            _ => {}
        }
        if let Some(image) = &app.image {
            if let Err(e) = values::parse_image(image) {
                self.err(path, image, e);
            }
        }
        if let Some(b) = &app.build {
            if self.build_context(path, &b.context) && app.image.is_none() {
                self.dockerfile(path, b);
            }
            for c in &b.credentials {
                self.credential(path, c);
            }
        }
        if let Some(c) = app.pull.as_ref().and_then(|p| p.credential.as_ref()) {
            self.credential(path, c);
        }
        if let Some(p) = &app.platform {
            let parts: Vec<&str> = p.split('/').collect();
            if !(2..=3).contains(&parts.len()) || parts.iter().any(|s| s.is_empty() || s.contains(char::is_whitespace))
            {
                self.err_hint(
                    path,
                    p,
                    format!("invalid platform `{}`", p.value),
                    "write it as os/arch[/variant], e.g. linux/amd64",
                );
            }
        }
        if let Some(r) = &app.registry {
            if let Some(server) = &r.server {
                self.server(path, server);
            }
            if let Some(repo) = &r.image_repo {
                let ok = !repo.contains([':', '@'])
                    && values::parse_image(&format!("registry.invalid/{}", repo.value)).is_ok();
                if !ok {
                    self.err_hint(
                        path,
                        repo,
                        format!("invalid image repository `{}`", repo.value),
                        "lowercase path such as acme/web, without tag or registry",
                    );
                }
            }
            if let Some(t) = &r.image_repo_template {
                self.template(path, t);
            }
            for tag in r.push_extra_tags.iter().flatten() {
                self.tag(path, tag);
            }
            if let Some(c) = &r.credential {
                self.credential(path, c);
            }
        }
        for (name, process) in app.processes.iter().flatten() {
            self.process(path, name, process);
        }
        for key in app.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                self.err(
                    path,
                    key,
                    format!("invalid environment variable name `{}` (non-empty, without `=`)", key.value),
                );
            }
        }
        for c in &app.secret_env {
            self.credential(path, c);
        }
        if let Some(u) = &app.user {
            if u.trim().is_empty() {
                self.err(path, u, "`user` is empty");
            }
        }
        if let Some(r) = &app.resources {
            if let Some(m) = &r.memory {
                if let Err(e) = values::parse_memory(m) {
                    self.err(path, m, e);
                }
            }
            if let Some(c) = &r.cpus {
                if !(c.value > 0.0 && c.value <= 1024.0) {
                    self.err(path, c, format!("cpus must be more than 0 and at most 1024, found {}", c.value));
                }
            }
        }
        self.volumes(path, &app.volumes);
        if let Some(h) = &app.healthcheck {
            self.healthcheck(path, h);
        }
    }

    fn process(&mut self, path: &str, name: &At<String>, p: &ProcessSpec) {
        if !values::is_valid_name(name) {
            self.err_hint(path, name, format!("invalid process name `{}`", name.value), NAME_HINT);
        }
        if let Some(c) = &p.command {
            match c.argv() {
                Err(e) => {
                    self.err_hint(path, c, e, "close the quote, or write the command as a list: [\"prog\", \"arg\"]")
                }
                Ok(argv) if argv.is_empty() => {
                    self.err_hint(path, c, "`command` is empty", "leave `command` out to run the image's own command")
                }
                Ok(_) => {}
            }
        }
        for port in &p.ports {
            if let Err(e) = values::parse_port(port) {
                self.err(path, port, e);
            }
        }
    }

    fn volumes(&mut self, path: &str, volumes: &[At<String>]) {
        let mut targets: BTreeMap<String, &At<String>> = BTreeMap::new();
        for v in volumes {
            match values::parse_volume(v) {
                Err(e) => self.err(path, v, e),
                Ok(spec) => {
                    if let VolumeSource::RepoPath(rel) = &spec.source {
                        if let Some(problem) = self.symlink_escape(rel) {
                            self.err(path, v, format!("volume path {rel} {problem}"));
                        }
                    }
                    if let Some(first) = targets.get(&spec.target) {
                        let msg = format!("duplicate mount point {} (also at line {})", spec.target, first.line);
                        self.err(path, v, msg);
                    } else {
                        targets.insert(spec.target, v);
                    }
                }
            }
        }
    }

    fn healthcheck(&mut self, path: &str, h: &At<Healthcheck>) {
        let cmd = &h.command;
        let ok = match cmd.first().map(String::as_str) {
            Some("CMD") => cmd.len() >= 2,
            Some("CMD-SHELL") => cmd.len() == 2,
            Some("NONE") => cmd.len() == 1,
            _ => false,
        };
        if !ok {
            self.err_hint(
                path,
                cmd,
                "invalid healthcheck command",
                r#"use ["CMD", "prog", "arg", ...], ["CMD-SHELL", "shell command"] or ["NONE"]"#,
            );
        }
        for d in [&h.interval, &h.timeout, &h.start_period].into_iter().flatten() {
            if let Err(e) = values::parse_duration(d) {
                self.err(path, d, e);
            }
        }
    }

    /// A build context: relative, inside the repository, an existing folder.
    /// True when it is one.
    fn build_context(&mut self, path: &str, ctx: &At<String>) -> bool {
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

    /// `push-on-release` (the app's or berth.yaml's) needs a registry server
    /// (the app's or berth.yaml's) to push releases to.
    fn push_targets(&mut self, files: &[AppFile], settings: &Settings) {
        let global = settings.registry.as_ref();
        let global_server = global.and_then(|g| g.server.as_ref()).is_some_and(|s| !s.trim().is_empty());
        for f in files {
            let Some(build) = &f.spec.build else { continue };
            let app = f.spec.registry.as_ref();
            let server = app.and_then(|a| a.server.as_ref()).map_or(global_server, |s| !s.trim().is_empty());
            let own = app.and_then(|a| a.push_on_release.as_ref());
            let on = own.map(|p| p.value).or(global.and_then(|g| g.push_on_release)).unwrap_or(false);
            if on && !server {
                let (line, col) = own.map_or((build.line, build.col), |p| (p.line, p.col));
                self.push(
                    Diagnostic::new(&f.path, line, col, "push-on-release is set but no registry server is")
                        .hint("set `registry.server` (in berth.yaml or the app), or drop push-on-release"),
                );
            }
        }
    }

    /// The Dockerfile: relative, inside the context, present in the working tree.
    fn dockerfile(&mut self, path: &str, b: &crate::spec::BuildSpec) {
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
    fn symlink_escape(&self, rel: &str) -> Option<&'static str> {
        let root = &self.snapshot.root;
        let real = root.join(rel).canonicalize().ok()?;
        let root_real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        (!real.starts_with(Path::new(&root_real))).then_some("leaves the repository through a symlink")
    }

    fn credential(&mut self, path: &str, name: &At<String>) {
        if self.credentials.contains(&name.value) {
            return;
        }
        let names: Vec<&str> = self.credentials.iter().map(String::as_str).collect();
        let message = format!("credential `{0}` not found (no credentials/{0}.age)", name.value);
        match nearest(name, &names) {
            Some(near) => self.err_hint(path, name, message, format!("did you mean `{near}`?")),
            None if names.is_empty() => {
                self.err_hint(path, name, message, "create it with `berth secrets encrypt` or `berth registry login`")
            }
            None => self.err_hint(path, name, message, format!("existing credentials: {}", names.join(", "))),
        }
    }

    fn server(&mut self, path: &str, server: &At<String>) {
        if server.contains(char::is_whitespace)
            || server.contains("://") && !server.starts_with("https://index.docker.io")
        {
            self.err_hint(
                path,
                server,
                format!("invalid registry server `{}`", server.value),
                "write a host[:port], e.g. ghcr.io or registry.example.com:5000",
            );
        }
    }

    fn template(&mut self, path: &str, t: &At<String>) {
        let mut rest = t.as_str();
        while let Some(start) = rest.find("{{") {
            let Some(end) = rest[start..].find("}}") else {
                return self.err(path, t, "unclosed `{{` in image-repo-template");
            };
            let var = rest[start + 2..start + end].trim();
            if var != ".AppName" && var != ".Project" {
                let hint = nearest(var, &[".AppName", ".Project"])
                    .map_or("the variables are .AppName and .Project".to_string(), |n| format!("did you mean `{n}`?"));
                return self.err_hint(path, t, format!("unknown template variable `{var}`"), hint);
            }
            rest = &rest[start + end + 2..];
        }
    }

    fn tag(&mut self, path: &str, tag: &At<String>) {
        let t = tag.trim();
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            self.err_hint(
                path,
                tag,
                format!("invalid tag `{}`", tag.value),
                "tags are [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128 characters",
            );
        }
    }
}

const NAME_HINT: &str =
    "use lowercase letters, digits and `-`, starting with a letter or digit ([a-z0-9][a-z0-9-]*, at most 63)";

#[cfg(test)]
mod tests;
