//! `berth report`: each app's computed settings as flat string maps, as
//! Dokku's `registry:report` shows them — plain, `global-` and `computed-`
//! variants, the pull credential with its reason, and what is deployed.
//! Pure: built from the loaded repo and an (optional) engine observation.

use crate::observe::Observed;
use crate::pipeline::Loaded;
use crate::plan::diff::familiar_image;
use crate::resolve::names::RegistryView;
use std::collections::BTreeMap;

/// App name → key → value, all sorted.
pub type Report = BTreeMap<String, BTreeMap<String, String>>;

pub fn report(loaded: &Loaded, observed: Option<&Observed>) -> Report {
    let repo = &loaded.repo;
    let explicit = repo.settings.credentials.as_ref().and_then(|c| c.default.as_ref()).map(|d| d.value.as_str());
    let order = repo.tree.credentials_added_order();
    let default = crate::resolve::credentials::default_credential(explicit, &loaded.credentials, order.as_deref());
    let mut out = Report::new();
    for (file, app) in repo.apps.iter().zip(&loaded.desired.apps) {
        let v = RegistryView::of(&file.name, &file.spec, &repo.settings, &repo.project);
        let bool_s = |b: Option<bool>| b.map(|b| b.to_string()).unwrap_or_default();
        let tags_s = |t: &Option<Vec<String>>| t.as_ref().map(|t| t.join(",")).unwrap_or_default();
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("server", v.server.clone());
        put("global-server", v.global_server.clone());
        put("computed-server", v.computed_server.clone());
        put("image-repo-template", v.template.clone());
        put("global-image-repo-template", v.global_template.clone());
        put("computed-image-repo-template", v.computed_template.clone());
        put("push-on-release", bool_s(v.push_on_release));
        put("global-push-on-release", bool_s(v.global_push_on_release));
        put("computed-push-on-release", v.computed_push_on_release().to_string());
        put("push-extra-tags", tags_s(&v.push_extra_tags));
        put("global-push-extra-tags", tags_s(&v.global_push_extra_tags));
        put("computed-push-extra-tags", v.computed_push_extra_tags().join(","));
        put("image-repo", v.image_repo.clone());
        put("computed-image-repo", v.computed_image_repo.clone());
        put("computed-image", v.computed_image());
        put("image", familiar_image(&app.image));
        // As Dokku: the newest release number, none before the first.
        let releases =
            observed.map(|o| crate::plan::diff::next_release(o, &loaded.desired.project, &app.name) - 1).unwrap_or(0);
        put("tag-version", if releases == 0 { String::new() } else { releases.to_string() });
        put("pull-credential", app.pull_credential.name.clone().unwrap_or_default());
        put("pull-credential-reason", app.pull_credential.why.clone());
        let explicit_push = file.spec.registry.as_ref().and_then(|r| r.credential.as_ref()).map(|c| c.value.as_str());
        let push = crate::resolve::credentials::push_credential(&v.computed_server, explicit_push, &loaded.credentials);
        let (push_name, push_why) = match push {
            Ok(c) => (c.name.unwrap_or_default(), c.why),
            Err(e) => (String::new(), e),
        };
        put("push-credential", push_name);
        put("push-credential-reason", push_why);
        put("default-credential", default.as_ref().map(|d| d.name.clone()).unwrap_or_default());
        put("default-credential-reason", default.as_ref().map(|d| d.why.clone()).unwrap_or_default());
        put("suspended", app.suspended.to_string());
        let (tag, digest) = deployed(app, observed);
        put("deployed-tag", tag);
        put("deployed-digest", digest);
        out.insert(app.name.clone(), m);
    }
    out
}

/// The image reference and image id the app's first container runs.
fn deployed(app: &crate::desired::DesiredApp, observed: Option<&Observed>) -> (String, String) {
    let Some(o) = observed else { return (String::new(), String::new()) };
    let mut mine: Vec<_> = o.containers.iter().filter(|c| c.app == app.name).collect();
    mine.sort_by(|a, b| a.name.cmp(&b.name));
    match mine.first() {
        Some(c) => (c.config.as_ref().map(|cfg| familiar_image(&cfg.image)).unwrap_or_default(), c.image_id.clone()),
        None => (String::new(), String::new()),
    }
}
