//! Names across the repository: each app's name, app names unique, and the
//! container names apps and processes make together
//! (`<project>-<app>-<process>-<replica>`) unique too.

use super::{Validator, NAME_HINT};
use crate::diag::Diagnostic;
use crate::spec::parse::Blanked;
use crate::spec::types::AppSpec;
use crate::spec::{values, AppFile};
use std::collections::BTreeMap;

/// The process an app runs when it declares none (as `resolve` names it).
const DEFAULT_PROCESS: &str = "web";

impl Validator<'_> {
    /// `name:` or the file stem, checked.
    pub(super) fn app_name(&mut self, path: &str, spec: &AppSpec, blanked: &Blanked) -> String {
        if let Some(n) = &spec.name {
            if !values::is_valid_name(n) {
                self.err_hint(path, n, format!("invalid app name `{}`", n.value), NAME_HINT);
            }
            return n.value.clone();
        }
        let file = path.rsplit('/').next().unwrap_or(path);
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s).to_string();
        // A `name:` blanked out for an error: the stem is not what the user meant.
        if !values::is_valid_name(&stem) && !blanked.touches(&["name"]) {
            self.push(
                Diagnostic::new(path, 0, 0, format!("invalid app name `{stem}` (taken from the file name)"))
                    .hint(format!("{NAME_HINT}; rename the file or set `name:`")),
            );
        }
        stem
    }

    /// Two files defining one app.
    pub(super) fn duplicate_apps(&mut self, files: &[AppFile], blanked: &[Blanked]) {
        let mut seen: BTreeMap<&str, (&str, u32, u32)> = BTreeMap::new();
        for (f, blanked) in files.iter().zip(blanked) {
            if f.spec.name.is_none() && blanked.touches(&["name"]) {
                continue;
            }
            let (l, c) = f.spec.name.as_ref().map_or((0, 0), |n| (n.line, n.col));
            match seen.get(f.name.as_str()) {
                Some((first, line, col)) => {
                    let at = if *line > 0 { format!("{first}:{line}:{col}") } else { first.to_string() };
                    self.push(
                        Diagnostic::new(&f.path, l, c, format!("app `{}` is also defined in {at}", f.name))
                            .hint("app names are unique; set a different `name:` or rename one file"),
                    );
                }
                None => {
                    seen.insert(&f.name, (&f.path, l, c));
                }
            }
        }
    }

    /// Two (app, process) pairs that make one container name, e.g. app
    /// `web-api` process `x` and app `web` process `api-x`.
    pub(super) fn container_names(&mut self, files: &[AppFile], blanked: &[Blanked]) {
        // Joined name → (file, app, process, line, col) of its first user.
        let mut seen: BTreeMap<String, (&str, &str, &str, u32, u32)> = BTreeMap::new();
        for (f, blanked) in files.iter().zip(blanked) {
            if blanked.touches(&["processes"]) {
                continue;
            }
            for (process, line, col) in processes(f) {
                let joined = format!("{}-{process}", f.name);
                match seen.get(&joined) {
                    Some((file, app, other, l, c)) if *app != f.name => {
                        let at = if *l > 0 { format!("{file}:{l}:{c}") } else { file.to_string() };
                        let message = format!(
                            "app `{}` process `{process}` and app `{app}` process `{other}` ({at}) make the same \
container names: {}-{joined}-<replica>",
                            f.name, self.project
                        );
                        self.push(Diagnostic::new(&f.path, line, col, message).hint(
                            "containers are named <project>-<app>-<process>-<replica>; rename an app or a process",
                        ));
                    }
                    Some(_) => {} // one app defined twice: reported as such
                    None => {
                        seen.insert(joined, (&f.path, &f.name, process, line, col));
                    }
                }
            }
        }
    }

    /// On the project network an app answers to `<app>` (through its `web`
    /// or only process) and each process to `<app>-<process>`: app `web-api`
    /// and app `web` process `api` would both answer to `web-api`.
    pub(super) fn network_aliases(&mut self, files: &[AppFile], blanked: &[Blanked]) {
        let apps: BTreeMap<&str, &AppFile> = files
            .iter()
            .zip(blanked)
            .filter(|(f, b)| !b.touches(&["processes"]) && serves(f))
            .map(|(f, _)| (f.name.as_str(), f))
            .collect();
        for (f, blanked) in files.iter().zip(blanked) {
            if blanked.touches(&["processes"]) {
                continue;
            }
            for (process, line, col) in processes(f) {
                let alias = format!("{}-{process}", f.name);
                let Some(other) = apps.get(alias.as_str()).filter(|o| o.name != f.name) else { continue };
                let message = format!(
                    "app `{}` process `{process}` answers to `{alias}` on the project network, the name of app `{alias}` ({})",
                    f.name, other.path
                );
                self.push(
                    Diagnostic::new(&f.path, line, col, message)
                        .hint("apps reach each other by these names; rename the app or the process"),
                );
            }
        }
    }
}

/// An app's process names and where each is declared (the default `web`: nowhere).
fn processes(f: &AppFile) -> Vec<(&str, u32, u32)> {
    match &f.spec.processes {
        Some(p) => p.keys().map(|k| (k.value.as_str(), k.line, k.col)).collect(),
        None => vec![(DEFAULT_PROCESS, 0, 0)],
    }
}

/// Whether the app's own name is an alias: it has a `web` process or only one.
fn serves(f: &AppFile) -> bool {
    f.spec.processes.as_ref().is_none_or(|p| p.len() == 1 || p.keys().any(|k| k.value == DEFAULT_PROCESS))
}
