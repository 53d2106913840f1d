//! Image names an app pushes to (SPEC §3.3, Dokku's registry semantics):
//! computed repository (`image-repo` > app template > global template >
//! `app-<name>`) and computed server (app over global; Docker Hub aliases are
//! Docker Hub), joined with one `/`.

use super::credentials::normalize_server;
use crate::spec::{AppSpec, Settings};

/// The template used when none is set.
pub const DEFAULT_TEMPLATE: &str = "app-{{ .AppName }}";

/// Render `{{ .AppName }}` / `{{ .Project }}` (spaces optional); the output
/// is trimmed. Unknown variables and unclosed braces are errors (validate
/// reports them with positions first).
pub fn render_template(t: &str, app: &str, project: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = t;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("unclosed `{{{{` in template {t:?}"))?;
        match after[..end].trim() {
            ".AppName" => out.push_str(app),
            ".Project" => out.push_str(project),
            other => return Err(format!("unknown template variable `{other}` (use .AppName or .Project)")),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out.trim().to_string())
}

/// An app's registry settings: as written, globally, and computed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryView {
    pub server: String,
    pub global_server: String,
    pub computed_server: String,
    pub template: String,
    pub global_template: String,
    pub computed_template: String,
    pub push_on_release: Option<bool>,
    pub global_push_on_release: Option<bool>,
    pub push_extra_tags: Option<Vec<String>>,
    pub global_push_extra_tags: Option<Vec<String>>,
    pub image_repo: String,
    pub computed_image_repo: String,
}

impl RegistryView {
    pub fn of(app: &str, spec: &AppSpec, settings: &Settings, project: &str) -> Self {
        let a = spec.registry.as_ref();
        let g = settings.registry.as_ref();
        let s = |v: Option<&crate::spec::At<String>>| v.map(|v| v.value.trim().to_string()).unwrap_or_default();
        let tags = |v: Option<&Vec<crate::spec::At<String>>>| {
            v.map(|t| t.iter().map(|x| x.value.trim().to_string()).collect::<Vec<_>>())
        };
        let server = s(a.and_then(|a| a.server.as_ref()));
        let global_server = s(g.and_then(|g| g.server.as_ref()));
        let chosen = if server.is_empty() { &global_server } else { &server };
        let computed_server = if chosen.is_empty() { String::new() } else { normalize_server(chosen) };
        let template = s(a.and_then(|a| a.image_repo_template.as_ref()));
        let global_template = s(g.and_then(|g| g.image_repo_template.as_ref()));
        let computed_template = [&template, &global_template]
            .into_iter()
            .find(|t| !t.is_empty())
            .cloned()
            .unwrap_or_else(|| DEFAULT_TEMPLATE.into());
        let image_repo = s(a.and_then(|a| a.image_repo.as_ref()));
        let computed_image_repo = if image_repo.is_empty() {
            render_template(&computed_template, app, project).unwrap_or_else(|_| format!("app-{app}"))
        } else {
            image_repo.clone()
        };
        RegistryView {
            server,
            global_server,
            computed_server,
            template,
            global_template,
            computed_template,
            push_on_release: a.and_then(|a| a.push_on_release.as_ref().map(|p| p.value)),
            global_push_on_release: g.and_then(|g| g.push_on_release),
            push_extra_tags: tags(a.and_then(|a| a.push_extra_tags.as_ref())),
            global_push_extra_tags: tags(g.and_then(|g| g.push_extra_tags.as_ref())),
            image_repo,
            computed_image_repo,
        }
    }

    pub fn computed_push_on_release(&self) -> bool {
        self.push_on_release.or(self.global_push_on_release).unwrap_or(false)
    }

    pub fn computed_push_extra_tags(&self) -> Vec<String> {
        self.push_extra_tags.clone().or_else(|| self.global_push_extra_tags.clone()).unwrap_or_default()
    }

    /// `<server>/<repo>`, or just `<repo>` without a server.
    pub fn computed_image(&self) -> String {
        if self.computed_server.is_empty() {
            self.computed_image_repo.clone()
        } else {
            format!(
                "{}/{}",
                self.computed_server.trim_end_matches('/'),
                self.computed_image_repo.trim_start_matches('/')
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_trim() {
        assert_eq!(render_template("app-{{ .AppName }}", "web", "p").unwrap(), "app-web");
        assert_eq!(render_template(" {{.Project}}/{{ .AppName }}-prod ", "web", "demo").unwrap(), "demo/web-prod");
        assert!(render_template("{{ .Nope }}", "web", "p").unwrap_err().contains("unknown template variable"));
        assert!(render_template("{{ .AppName", "web", "p").unwrap_err().contains("unclosed"));
    }
}
