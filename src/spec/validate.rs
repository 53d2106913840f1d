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

/// One published host-port range: a port entry times the replicas of its process.
struct Published<'a> {
    app: &'a str,
    path: &'a str,
    process: &'a str,
    at: &'a At<String>,
    ip: Option<String>,
    first: u32,
    last: u32,
    protocol: String,
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
            self.build_context(path, &b.context);
            if let Some(d) = &b.dockerfile {
                if d.trim().is_empty() || d.starts_with('/') {
                    self.err(path, d, format!("dockerfile `{}` must be a path relative to the build context", d.value));
                }
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
            if c.is_empty() {
                self.err_hint(path, c, "`command` is empty", "leave `command` out to run the image's own command");
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
    fn build_context(&mut self, path: &str, ctx: &At<String>) {
        if ctx.starts_with('/') {
            return self.err_hint(
                path,
                ctx,
                format!("build context `{}` must be repository-relative", ctx.value),
                "write it relative to the repository root, e.g. services/web",
            );
        }
        let Some(rel) = values::normalize_relative(ctx) else {
            return self.err(path, ctx, format!("build context `{}` escapes the repository", ctx.value));
        };
        let full = self.snapshot.root.join(&rel);
        if !full.exists() {
            return self.err(path, ctx, format!("build context `{}` does not exist", ctx.value));
        }
        if let Some(problem) = self.symlink_escape(&rel) {
            return self.err(path, ctx, format!("build context `{}` {problem}", ctx.value));
        }
        if !full.is_dir() {
            self.err(path, ctx, format!("build context `{}` is not a folder", ctx.value));
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

    /// Two ports of any apps that the engine could not both bind.
    fn port_clashes(&mut self, apps: &[AppFile]) {
        let mut published: Vec<Published> = Vec::new();
        for app in apps {
            for (process, spec) in app.spec.processes.iter().flatten() {
                let replicas = spec.replicas.as_ref().map_or(1, |r| r.value);
                for at in &spec.ports {
                    let Ok(port) = values::parse_port(at) else { continue };
                    if replicas == 0 {
                        continue;
                    }
                    let first = u32::from(port.host_port);
                    let last = first + replicas - 1;
                    if last > 65535 {
                        self.err(
                            &app.path,
                            at,
                            format!(
                                "replica {replicas} of process `{}` would publish host port {last}, above 65535",
                                process.value
                            ),
                        );
                    }
                    published.push(Published {
                        app: &app.name,
                        path: &app.path,
                        process,
                        at,
                        ip: port.host_ip.filter(|ip| ip != "0.0.0.0" && ip != "::"),
                        first,
                        last: last.min(65535),
                        protocol: port.protocol,
                    });
                }
            }
        }
        let mut found = Vec::new();
        for (j, b) in published.iter().enumerate() {
            // Report each entry once, against the first entry it clashes with.
            let clash = published[..j].iter().find(|a| {
                a.protocol == b.protocol
                    && (a.ip.is_none() || b.ip.is_none() || a.ip == b.ip)
                    && a.first <= b.last
                    && b.first <= a.last
            });
            if let Some(a) = clash {
                let port = a.first.max(b.first);
                let replica = |p: &Published| match port - p.first + 1 {
                    1 => String::new(),
                    n => format!(" replica {n}"),
                };
                let message = format!(
                    "host port {port}/{} of app `{}` process `{}`{} is also published by app `{}` process `{}`{} ({}:{}:{})",
                    b.protocol, b.app, b.process, replica(b), a.app, a.process, replica(a), a.path, a.at.line, a.at.col
                );
                let hint = "every replica i publishes host port + i - 1; pick host ports that do not overlap";
                found.push(Diagnostic::new(b.path, b.at.line, b.at.col, message).hint(hint));
            }
        }
        self.diags.extend(found);
    }
}

const NAME_HINT: &str =
    "use lowercase letters, digits and `-`, starting with a letter or digit ([a-z0-9][a-z0-9-]*, at most 63)";

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use crate::source::SourceFile;
    use std::path::PathBuf;

    fn snapshot(root: PathBuf, settings: Option<&str>, apps: &[(&str, &str)], creds: &[&str]) -> Snapshot {
        Snapshot {
            root,
            settings: settings.map(|s| SourceFile { path: "berth.yaml".into(), bytes: s.as_bytes().to_vec() }),
            apps: apps.iter().map(|(p, b)| SourceFile { path: p.to_string(), bytes: b.as_bytes().to_vec() }).collect(),
            credentials: creds
                .iter()
                .map(|c| SourceFile { path: format!("credentials/{c}.age"), bytes: vec![] })
                .collect(),
        }
    }

    fn run(snap: &Snapshot) -> (Repo, Vec<Diagnostic>) {
        let (settings, apps, mut diags) = parse::parse_all(snap);
        assert!(diags.is_empty(), "parse errors: {diags:?}");
        let repo = validate(snap, settings, apps, &mut diags);
        (repo, diags)
    }

    fn check(apps: &[(&str, &str)]) -> Vec<String> {
        let snap = snapshot(std::env::temp_dir().canonicalize().unwrap(), None, apps, &["ghcr", "db"]);
        run(&snap).1.iter().map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.col, d.message)).collect()
    }

    fn one(app: &str) -> String {
        let errs = check(&[("apps/web.yaml", app)]);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        errs[0].clone()
    }

    #[test]
    fn a_good_repo() {
        let snap = snapshot(
            PathBuf::from("/tmp/demo"),
            Some("registry:\n  image-repo-template: \"acme/{{ .AppName }}\"\ncredentials: {default: ghcr}\n"),
            &[
                ("apps/web.yaml", "image: nginx:1.27\nprocesses:\n  web:\n    replicas: 2\n    ports: [\"8080:80\"]\n  worker: {}\nenv: {PORT: \"80\"}\nsecret-env: [db]\nresources: {memory: 512MiB, cpus: 0.5}\nvolumes: [\"data:/data\"]\nhealthcheck: {command: [CMD, true], interval: 5s}\n"),
                ("apps/api.yaml", "image: acme/api\nprocesses:\n  web:\n    ports: [\"8082:80\", \"8080:80/udp\", \"127.0.0.1:9000:80\", \"127.0.0.2:9000:80\"]\n"),
            ],
            &["ghcr", "db"],
        );
        let (repo, diags) = run(&snap);
        assert!(diags.is_empty(), "{diags:#?}");
        assert_eq!(repo.project, "demo");
        let names: Vec<_> = repo.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["api", "web"]);
        assert_eq!(repo.credentials, ["db", "ghcr"]);
    }

    #[test]
    fn image_and_build() {
        assert_eq!(one("env: {}\n"), "apps/web.yaml:0:0: an app needs `image:` or `build:`");
        assert!(one("image: nginx\nbuild: {context: .}\n")
            .starts_with("apps/web.yaml:1:8: `image` and `build` are exclusive"));
        assert!(one("image: Nginx\n").starts_with("apps/web.yaml:1:8: invalid reference format"));
        assert!(one("build: {context: ../x}\n").contains("escapes the repository"));
        assert!(one("build: {context: /srv}\n").contains("repository-relative"));
    }

    #[test]
    fn names() {
        assert!(one("name: Web\nimage: nginx\n").starts_with("apps/web.yaml:1:7: invalid app name `Web`"));
        let errs = check(&[("apps/my_app.yaml", "image: nginx\n")]);
        assert_eq!(errs, ["apps/my_app.yaml:0:0: invalid app name `my_app` (taken from the file name)"]);
        let errs = check(&[("apps/a.yaml", "name: web\nimage: nginx\n"), ("apps/web.yaml", "image: nginx\n")]);
        assert_eq!(errs, ["apps/web.yaml:0:0: app `web` is also defined in apps/a.yaml:1:7"]);
        assert!(one("image: nginx\nprocesses:\n  Web: {}\n").starts_with("apps/web.yaml:3:3: invalid process name"));
    }

    #[test]
    fn ports_and_clashes() {
        assert!(one("image: nginx\nprocesses:\n  web:\n    ports: [\"80\"]\n")
            .starts_with("apps/web.yaml:4:13: invalid port"));
        let errs = check(&[
            ("apps/a.yaml", "image: nginx\nprocesses:\n  web:\n    replicas: 3\n    ports: [\"8080:80\"]\n"),
            ("apps/b.yaml", "image: nginx\nprocesses:\n  web:\n    ports: [\"8082:80\"]\n"),
        ]);
        assert_eq!(
            errs,
            ["apps/b.yaml:4:13: host port 8082/tcp of app `b` process `web` is also published by app `a` process `web` replica 3 (apps/a.yaml:5:13)"]
        );
        // Zero replicas publish nothing; a different protocol or address is no clash.
        let errs = check(&[
            ("apps/a.yaml", "image: nginx\nprocesses:\n  web:\n    replicas: 0\n    ports: [\"8080:80\"]\n"),
            ("apps/b.yaml", "image: nginx\nprocesses:\n  web:\n    ports: [\"8080:80\", \"8081:80/udp\"]\n  w2:\n    ports: [\"8081:80\"]\n"),
        ]);
        assert!(errs.is_empty(), "{errs:#?}");
        // An explicit address still clashes with all addresses.
        let errs = check(&[(
            "apps/a.yaml",
            "image: nginx\nprocesses:\n  web:\n    ports: [\"8080:80\", \"127.0.0.1:8080:81\"]\n",
        )]);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(one("image: nginx\nprocesses:\n  web:\n    replicas: 2\n    ports: [\"65535:80\"]\n")
            .contains("above 65535"));
    }

    #[test]
    fn values_and_references() {
        assert!(one("image: nginx\nvolumes: [\"../x:/x\"]\n").ends_with("volume path ../x escapes the repository"));
        assert!(one("image: nginx\nvolumes: [\"a:/x\", \"b:/x\"]\n").contains("duplicate mount point /x"));
        assert!(one("image: nginx\nresources: {memory: 1k}\n").contains("minimum"));
        assert!(one("image: nginx\nresources: {cpus: 0}\n").contains("cpus must be"));
        assert!(one("image: nginx\nhealthcheck: {command: [wget, x]}\n").contains("invalid healthcheck command"));
        assert!(
            one("image: nginx\nhealthcheck: {command: [CMD-SHELL, a, b]}\n").contains("invalid healthcheck command")
        );
        assert!(one("image: nginx\nhealthcheck: {command: [NONE], timeout: 5}\n").contains("invalid duration"));
        assert!(one("image: nginx\nenv: {\"A=B\": x}\n").contains("invalid environment variable name"));
        assert_eq!(
            one("image: nginx\nsecret-env: [dbb]\n"),
            "apps/web.yaml:2:14: credential `dbb` not found (no credentials/dbb.age)"
        );
        assert!(one("image: nginx\npull: {credential: nope}\n").contains("credential `nope`"));
        assert!(one("image: nginx\nregistry: {push-extra-tags: [\"a b\"]}\n").contains("invalid tag"));
        assert!(one("image: nginx\nregistry: {image-repo-template: \"{{ .App }}\"}\n")
            .contains("unknown template variable"));
    }

    #[test]
    fn project_names() {
        let snap = snapshot(PathBuf::from("/tmp/My_Repo"), None, &[], &[]);
        let d = &run(&snap).1[0];
        assert_eq!((d.file.as_str(), d.line), ("/tmp/My_Repo", 0));
        assert_eq!(d.hint.as_deref(), Some("set `project:` in berth.yaml"));
        let snap = snapshot(PathBuf::from("/tmp/My_Repo"), Some("project: ok\n"), &[], &[]);
        assert!(run(&snap).1.is_empty());
        let snap = snapshot(PathBuf::from("/tmp/ok"), Some("\nproject: Not_Ok\n"), &[], &[]);
        let d = &run(&snap).1[0];
        assert_eq!((d.file.as_str(), d.line, d.col), ("berth.yaml", 2, 10));
    }

    #[test]
    fn symlinked_context_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("services/web")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("out")).unwrap();
        let root = root.canonicalize().unwrap();
        let snap = snapshot(
            root.clone(),
            None,
            &[
                ("apps/a.yaml", "build: {context: services/web}\n"),
                ("apps/b.yaml", "build: {context: out}\n"),
                ("apps/c.yaml", "build: {context: nope}\n"),
            ],
            &[],
        );
        let errs: Vec<_> = run(&snap).1.into_iter().map(|d| format!("{}: {}", d.file, d.message)).collect();
        assert_eq!(
            errs,
            [
                "apps/b.yaml: build context `out` leaves the repository through a symlink",
                "apps/c.yaml: build context `nope` does not exist"
            ]
        );
    }
}
