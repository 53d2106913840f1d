//! One app file's semantic checks: image xor build, names, references to
//! credentials, registry settings, processes, env, healthcheck, networks and
//! the update order. Values the types parse (ports, volumes, sizes,
//! durations, signals, commands) are already checked by then.

use super::{Validator, NAME_HINT};
use crate::diag::Diagnostic;
use crate::spec::parse::Blanked;
use crate::spec::types::{AppSpec, Healthcheck, UpdateOrder};
use crate::spec::values;
use crate::spec::At;
use std::collections::BTreeMap;

impl Validator<'_> {
    pub(super) fn app(&mut self, path: &str, app: &AppSpec, blanked: &Blanked) {
        match (&app.image, &app.build) {
            // A key blanked out for an error (or a misspelt one) may have been meant as either.
            (None, None)
                if blanked.touches(&["image"]) || blanked.touches(&["build"]) || blanked.unknown_key_in(&[]) => {}
            (None, None) => self.push(
                Diagnostic::new(path, 0, 0, "an app needs `image:` or `build:`")
                    .hint("set `image:` to deploy an existing image, or `build:` to build one from this repository"),
            ),
            (Some(image), Some(_)) => {
                self.err_hint(path, image, "`image` and `build` are exclusive", "keep one of them")
            }
            _ => {}
        }
        if let Some(b) = &app.build {
            // A `dockerfile:` blanked out for an error: the default is not what was meant.
            if self.build_context(path, &b.context) && app.image.is_none() && !blanked.touches(&["build", "dockerfile"])
            {
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
        self.app_registry(path, app);
        for name in app.processes.iter().flatten().map(|(name, _)| name) {
            if !values::is_valid_name(name) {
                self.err_hint(path, name, format!("invalid process name `{}`", name.value), NAME_HINT);
            }
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
        self.volumes(path, &app.volumes);
        if let Some(h) = &app.healthcheck {
            self.healthcheck(path, h);
        }
        self.networks(path, &app.networks);
        self.update_order(path, app);
    }

    fn app_registry(&mut self, path: &str, app: &AppSpec) {
        let Some(r) = &app.registry else { return };
        if let Some(server) = &r.server {
            self.server(path, server);
        }
        if let Some(repo) = &r.image_repo {
            let ok =
                !repo.contains([':', '@']) && values::parse_image(&format!("registry.invalid/{}", repo.value)).is_ok();
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
    }

    /// Extra networks: Docker network names, each once, not the project's own.
    fn networks(&mut self, path: &str, networks: &[At<String>]) {
        let own = format!("{}_default", self.project);
        let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
        for n in networks {
            if !is_network_name(n) {
                self.err_hint(
                    path,
                    n,
                    format!("invalid network name `{}`", n.value),
                    "Docker network names are letters, digits, `_`, `.` and `-`, starting with a letter or digit",
                );
            } else if n.value == own {
                self.err_hint(
                    path,
                    n,
                    format!("`{own}` is the project network"),
                    "every container joins it already; remove it from `networks`",
                );
            } else if matches!(n.as_str(), "host" | "none") {
                self.err_hint(
                    path,
                    n,
                    format!("network `{}` cannot be joined beside the project network", n.value),
                    "berth runs every container on the project network; `networks` adds other bridge or overlay networks",
                );
            } else if let Some(first) = seen.get(n.as_str()) {
                self.err_hint(
                    path,
                    n,
                    format!("network `{}` is listed twice (first at line {first})", n.value),
                    "remove one of them",
                );
            } else {
                seen.insert(n, n.line);
            }
        }
    }

    /// `start-first` runs the new container beside the old one: impossible
    /// when the process publishes a host port the old one holds.
    fn update_order(&mut self, path: &str, app: &AppSpec) {
        let Some(order) = app.update_order.as_ref().filter(|o| o.value == UpdateOrder::StartFirst) else { return };
        let published = app
            .processes
            .iter()
            .flatten()
            .filter(|(_, p)| p.replicas.as_ref().is_none_or(|r| r.value > 0))
            .find_map(|(name, p)| p.ports.first().map(|port| (name, port)));
        if let Some((process, port)) = published {
            self.err_hint(
                path,
                order,
                format!(
                    "`update-order: start-first` cannot replace process `{}`: it publishes host port {} (line {}), \
which the new container cannot bind while the old one holds it",
                    process.value, port.host_port, port.line
                ),
                "drop `update-order` (a process that publishes a host port is replaced stop-first) or write `stop-first`",
            );
        }
    }
}

/// Docker's rule for network names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn is_network_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= 255
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
