//! Validate: parsed files → a `Repo`, with every semantic problem reported.
//!
//! Checks what the types cannot say: names (app, process, project, and the
//! container names they make together), references between files
//! (credentials, duplicate apps), host-port clashes across all apps and
//! replicas, networks, the update order, and that repository paths exist
//! and stay inside the repository. Each problem points at the offending
//! value. Values that were blanked out of a file for a parse error are
//! missing here; checks that would only report their absence stay quiet.
//! No I/O of its own: build contexts and bind-mount sources are looked up
//! through the snapshot's `Tree` (its working tree, or its commit).

use super::at::At;
use super::parse::{nearest, Parsed};
use super::types::{AppSpec, Settings};
use super::values;
use super::{AppFile, Repo};
use crate::diag::Diagnostic;
use crate::source::Snapshot;

mod app;
mod names;
mod paths;
mod ports;

/// Build the `Repo`; push a diagnostic for every problem. `settings` is `None`
/// when berth.yaml failed to parse (its errors are already reported).
pub(super) fn validate(
    snapshot: &Snapshot,
    settings: Option<Parsed<Settings>>,
    apps: Vec<(String, Parsed<AppSpec>)>,
    diags: &mut Vec<Diagnostic>,
) -> Repo {
    let credentials = credential_names(snapshot);
    let settings_file = snapshot.settings.as_ref().map_or("berth.yaml".to_string(), |f| f.path.clone());
    let mut v = Validator { snapshot, credentials: &credentials, diags, project: String::new(), settings_file };
    let project = v.project(settings.as_ref());
    v.project = project.clone();
    let (settings, settings_blanked) = settings.map(|s| (s.value, s.blanked)).unwrap_or_default();
    v.settings(&settings);

    let mut files: Vec<AppFile> = Vec::new();
    let mut blanked = Vec::new();
    for (path, parsed) in apps {
        let name = v.app_name(&path, &parsed.value, &parsed.blanked);
        v.app(&path, &parsed.value, &parsed.blanked);
        files.push(AppFile { path, name, spec: parsed.value });
        blanked.push(parsed.blanked);
    }
    v.duplicate_apps(&files, &blanked);
    v.container_names(&files, &blanked);
    v.network_aliases(&files, &blanked);
    v.port_clashes(&files);
    if !settings_blanked.touches(&["registry"]) {
        v.push_targets(&files, &blanked, &settings);
    }
    files.sort_by(|a, b| a.name.cmp(&b.name).then(a.path.cmp(&b.path)));
    Repo { tree: snapshot.tree.clone(), project, settings, apps: files, credentials }
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
    /// The project name (valid or not), for names derived from it.
    project: String,
    /// `berth.yaml` or `berth.yml`, as the repository spells it.
    settings_file: String,
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

    /// `project:` or the snapshot's name (the folder's, or a remote's from
    /// its URL); either must be a valid name.
    fn project(&mut self, settings: Option<&Parsed<Settings>>) -> String {
        if let Some(p) = settings.and_then(|s| s.value.project.as_ref()) {
            if !values::is_valid_name(p) {
                let file = self.settings_file.clone();
                self.err_hint(&file, p, format!("invalid project name `{}`", p.value), NAME_HINT);
            }
            return p.value.clone();
        }
        let folder = self.snapshot.name.clone();
        // A berth.yaml that failed to parse may well set `project:`; don't guess.
        let unknown = settings.is_none_or(|s| s.blanked.touches(&["project"]) || s.blanked.unknown_key_in(&[]));
        if !unknown && !values::is_valid_name(&folder) {
            let file = match &self.snapshot.settings {
                Some(f) => f.path.clone(),
                None => self.snapshot.tree.place().to_string(),
            };
            self.push(
                Diagnostic::new(
                    file,
                    0,
                    0,
                    format!(
                        "the repository {} `{folder}` is not a valid project name ([a-z0-9][a-z0-9-]*)",
                        match self.snapshot.tree.origin() {
                            crate::source::Origin::WorkTree { .. } => "folder name",
                            crate::source::Origin::Commit { .. } => "name",
                        }
                    ),
                )
                .hint(format!("set `project:` in {}", self.settings_file)),
            );
        }
        folder
    }

    fn settings(&mut self, s: &Settings) {
        let file = self.settings_file.clone();
        let file = file.as_str();
        if let Some(c) = s.credentials.as_ref().and_then(|c| c.default.as_ref()) {
            self.credential(file, c);
        }
        if let Some(r) = &s.registry {
            if let Some(server) = &r.server {
                self.server(file, server);
            }
            if let Some(t) = &r.image_repo_template {
                self.template(file, t);
            }
            for tag in r.push_extra_tags.iter().flatten() {
                self.tag(file, tag);
            }
        }
        for r in &s.insecure_registries {
            if r.trim().is_empty() || r.contains('/') || r.contains(char::is_whitespace) {
                self.err_hint(
                    file,
                    r,
                    format!("invalid insecure registry `{}`", r.value),
                    "write it as host or host:port",
                );
            }
        }
        for r in &s.recipients {
            if r.trim().is_empty() {
                self.err(file, r, "empty recipient");
            }
        }
    }

    /// `push-on-release` (the app's or berth.yaml's) needs a registry server
    /// (the app's or berth.yaml's) to push releases to.
    fn push_targets(&mut self, files: &[AppFile], blanked: &[super::parse::Blanked], settings: &Settings) {
        let global = settings.registry.as_ref();
        let global_server = global.and_then(|g| g.server.as_ref()).is_some_and(|s| !s.trim().is_empty());
        for (f, blanked) in files.iter().zip(blanked) {
            let Some(build) = &f.spec.build else { continue };
            if blanked.touches(&["registry"]) {
                continue;
            }
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
