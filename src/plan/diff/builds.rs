//! Build apps in the plan (SPEC §3.3): build what has no image yet for its
//! identity (every build input, see `source::context::identity`), push new
//! builds, re-pull what is in the registry but gone locally, and number
//! releases; refuse to push a build from uncommitted files. Pure:
//! everything it looks at is in `Observed` (local images and their
//! `berth.build` labels, registry answers the pipeline fetched for
//! `queries`, the app's history).

use super::familiar_image;
use crate::desired::{DesiredApp, DesiredBuild, DesiredPush};
use crate::observe::releases::release_number;
use crate::observe::{Observed, RemoteDigest};
use crate::plan::{Action, ActionDetail, ActionKind, FieldChange, Note, PlanError, Queries};
use crate::source::{BuildInputs, ContextFrom};

/// What a build app needs before its containers, and the image they run.
#[derive(Debug, Default)]
pub(crate) struct BuildPlan {
    /// The image the containers run: the build image, or its release tag.
    pub runtime: String,
    /// Its local id, when it is there already.
    pub image_id: Option<String>,
    pub build: Option<Action>,
    pub push: Option<Action>,
    pub pull: Option<Action>,
    pub notes: Vec<Note>,
    /// What the plan refuses for this app (a dirty build that would be pushed).
    pub errors: Vec<PlanError>,
    /// The release a push makes (`push-on-release`).
    pub release: Option<u32>,
}

/// What to ask the registry for one build app (see `queries`).
pub(crate) fn queries(app: &DesiredApp, b: &DesiredBuild, observed: &Observed, q: &mut Queries) {
    let Some(p) = &b.push else { return };
    if p.on_release {
        if release_for(b, &app.image, observed).is_some() {
            return;
        }
        q.tags.insert(b.repository.clone(), credential(app, p));
    }
    if !observed.images.contains_key(&app.image) {
        q.artifacts.insert(app.image.clone(), credential(app, p));
    }
}

/// Plan one build app; `Err` is why it cannot be planned (an unknown).
/// A build from uncommitted files that would be pushed is a plan error,
/// unless `allow_dirty`.
pub(crate) fn plan(
    project: &str,
    app: &DesiredApp,
    b: &DesiredBuild,
    observed: &Observed,
    allow_dirty: bool,
) -> Result<BuildPlan, String> {
    let artifact = &app.image;
    let local = observed.images.get(artifact).cloned();
    let mut out = BuildPlan { runtime: artifact.clone(), image_id: local.clone(), ..Default::default() };
    let note = |message: String| Note { app: Some(app.name.clone()), message };
    match &b.version.from {
        ContextFrom::WorkingTree { .. } if b.push.is_some() && !allow_dirty => {
            // Planned no further: what a push would do does not matter.
            out.errors.push(PlanError { app: Some(app.name.clone()), message: dirty_push(b) });
            if local.is_none() {
                out.build = Some(build_action(app, b, observed));
            }
            return Ok(out);
        }
        ContextFrom::WorkingTree { why, .. } => {
            let pushed = if b.push.is_some() { "; pushed anyway (--allow-dirty)" } else { "" };
            out.notes.push(note(format!(
                "app {}: {why}{}; the build uses the working tree, tagged by its content ({}){pushed}",
                app.name,
                listed(&b.version.from),
                b.tag()
            )));
        }
        ContextFrom::Commit { commit } if local.is_some() => {
            out.notes.push(note(format!(
                "app {}: image {} is up to date (same build inputs; {} as committed in {}): not rebuilt",
                app.name,
                familiar_image(artifact),
                b.context,
                short(commit)
            )));
        }
        ContextFrom::Commit { .. } => {}
    }
    let Some(p) = &b.push else {
        if local.is_none() {
            out.build = Some(build_action(app, b, observed));
        }
        return Ok(out);
    };

    if p.on_release {
        if let Some(n) = release_for(b, artifact, observed) {
            out.runtime = format!("{}:{n}", b.repository);
            out.image_id = observed.images.get(&out.runtime).cloned();
            if out.image_id.is_none() {
                out.pull = Some(pull_action(app, b, p, &out.runtime));
            }
            return Ok(out);
        }
        let n = next_release(project, app, b, observed)?;
        out.release = Some(n);
        out.runtime = format!("{}:{n}", b.repository);
        out.image_id = None;
        if local.is_none() {
            fetch_or_build(app, b, p, observed, &mut out)?;
        }
        let mut tags = p.extra_tags.clone();
        tags.push(n.to_string());
        let reason = match &out.build {
            Some(_) => format!("release {n} of a new build"),
            None => format!("release {n}: the build image is not released yet"),
        };
        out.push = Some(push_action(app, p, tags, Some(n), reason));
        return Ok(out);
    }

    match &local {
        // The engine knows it by a digest in its repository: pushed (or pulled from there).
        Some(id) if observed.pushed(&b.repository, id) => {}
        Some(_) => {
            let reason = format!("not yet pushed to {}", registry_of(&b.repository));
            out.push = Some(push_action(app, p, p.extra_tags.clone(), None, reason));
        }
        None => {
            fetch_or_build(app, b, p, observed, &mut out)?;
            if out.build.is_some() {
                let reason = "a new build".to_string();
                out.push = Some(push_action(app, p, p.extra_tags.clone(), None, reason));
            }
        }
    }
    Ok(out)
}

/// The build image is not local: pull it when its registry has it (never
/// rebuild what was pushed), else build it.
fn fetch_or_build(
    app: &DesiredApp,
    b: &DesiredBuild,
    p: &DesiredPush,
    observed: &Observed,
    out: &mut BuildPlan,
) -> Result<(), String> {
    match observed.remote.get(&app.image) {
        Some(RemoteDigest::Digest(_)) => out.pull = Some(pull_action(app, b, p, &app.image)),
        Some(RemoteDigest::Absent) => out.build = Some(build_action(app, b, observed)),
        Some(RemoteDigest::Unknown(why)) => return Err(why.clone()),
        None => return Err(format!("registry not asked about {}", familiar_image(&app.image))),
    }
    Ok(())
}

/// The release already made from this build image: an integer tag of the
/// same image on the engine (made by its push, or its pull).
pub(crate) fn release_for(b: &DesiredBuild, artifact: &str, observed: &Observed) -> Option<u32> {
    let id = observed.images.get(artifact)?;
    observed.numbered_tags(&b.repository).into_iter().filter(|(_, i)| *i == id.as_str()).map(|(n, _)| n).max()
}

/// One past the highest release number anywhere: the registry's integer
/// tags (every machine sees them, so no number is used twice), the
/// engine's integer tags of the repository, and the app's release tags and
/// running release on the engine. Asked under the apply lock, so two
/// appliers never claim one number.
fn next_release(project: &str, app: &DesiredApp, b: &DesiredBuild, observed: &Observed) -> Result<u32, String> {
    let tags = match observed.registry_tags.get(&b.repository) {
        Some(Ok(tags)) => tags,
        Some(Err(why)) => return Err(format!("cannot number the next release: {why}")),
        None => return Err(format!("cannot number the next release: tags of {} not listed", b.repository)),
    };
    let registry = tags.iter().filter_map(|t| release_number(t)).max().unwrap_or(0);
    let local = observed.numbered_tags(&b.repository).into_keys().max().unwrap_or(0);
    let engine = super::next_release(observed, project, &app.name) - 1;
    Ok(registry.max(local).max(engine) + 1)
}

/// The credential to read and pull the build image with: the app's pull
/// credential for that registry, else its push credential.
fn credential(app: &DesiredApp, p: &DesiredPush) -> Option<String> {
    app.pull_credential.name.clone().or_else(|| p.credential.clone())
}

fn registry_of(repository: &str) -> &str {
    repository.split('/').next().unwrap_or(repository)
}

/// The plan error of a dirty build that would be pushed.
fn dirty_push(b: &DesiredBuild) -> String {
    let ContextFrom::WorkingTree { why, files, .. } = &b.version.from else { return String::new() };
    let what = if files.is_empty() {
        format!("build context {} is not committed ({why})", b.context)
    } else {
        format!("build context {} has uncommitted files{}", b.context, listed(&b.version.from))
    };
    format!(
        "{what}: a build from uncommitted files is never pushed or released; commit them, or pass --allow-dirty to push it anyway"
    )
}

/// ` (a, b and 3 more)`: the uncommitted files of a working-tree context.
fn listed(from: &ContextFrom) -> String {
    match from {
        ContextFrom::WorkingTree { files, more, .. } if !files.is_empty() => {
            let more = if *more > 0 { format!(" and {more} more") } else { String::new() };
            format!(" ({}{more})", files.join(", "))
        }
        _ => String::new(),
    }
}

fn short(commit: &str) -> &str {
    &commit[..12.min(commit.len())]
}

/// Why a build is needed: which inputs changed since the image the app
/// runs (known from its `berth.build` label), else that no image has this
/// identity yet.
fn build_reason(app: &DesiredApp, b: &DesiredBuild, observed: &Observed) -> String {
    let previous = observed
        .containers
        .iter()
        .filter(|c| c.app == app.name)
        .find_map(|c| observed.build_labels.get(&c.image_id))
        .and_then(|label| serde_json::from_str::<BuildInputs>(label).ok());
    if let Some(old) = previous {
        let changed = b.inputs().changes_from(&old);
        if !changed.is_empty() {
            return format!("build inputs changed: {}", changed.join(", "));
        }
    }
    match &b.version.from {
        ContextFrom::Commit { commit } => {
            format!("no image yet for build {} ({} as committed in {})", b.tag(), b.context, short(commit))
        }
        ContextFrom::WorkingTree { why, .. } => format!("no image yet for build {} ({why})", b.tag()),
    }
}

fn build_action(app: &DesiredApp, b: &DesiredBuild, observed: &Observed) -> Action {
    let reason = build_reason(app, b, observed);
    let mut changes = vec![value("context", &b.context), value("dockerfile", &b.dockerfile)];
    changes.extend(b.target.as_deref().map(|t| value("target", t)));
    changes.extend(b.platform.as_deref().map(|p| value("platform", p)));
    changes.extend(b.args.iter().map(|(k, v)| value(&format!("args.{k}"), v)));
    if !b.credentials.is_empty() {
        changes.push(value("credentials", &b.credentials.join(", ")));
    }
    Action {
        kind: ActionKind::Build,
        app: app.name.clone(),
        target: familiar_image(&app.image),
        reason,
        changes,
        detail: ActionDetail::Build {
            tags: vec![app.image.clone(), format!("{}:latest", b.repository)],
            build: b.clone(),
        },
    }
}

fn push_action(app: &DesiredApp, p: &DesiredPush, tags: Vec<String>, release: Option<u32>, reason: String) -> Action {
    let mut changes = Vec::new();
    if !tags.is_empty() {
        changes.push(value("tags", &tags.join(", ")));
    }
    if let Some(c) = &p.credential {
        changes.push(value("credential", c));
    }
    Action {
        kind: ActionKind::Push,
        app: app.name.clone(),
        target: familiar_image(&app.image),
        reason,
        changes,
        detail: ActionDetail::Push { image: app.image.clone(), tags, release, credential: p.credential.clone() },
    }
}

fn pull_action(app: &DesiredApp, b: &DesiredBuild, p: &DesiredPush, image: &str) -> Action {
    Action {
        kind: ActionKind::Pull,
        app: app.name.clone(),
        target: familiar_image(image),
        reason: "missing locally".into(),
        changes: Vec::new(),
        detail: ActionDetail::Pull {
            image: image.to_string(),
            platform: b.platform.clone(),
            credential: credential(app, p),
            build_of: Some(app.name.clone()),
            digest: None,
        },
    }
}

fn value(path: &str, v: &str) -> FieldChange {
    FieldChange { path: path.into(), old: None, new: Some(v.into()), sensitive: false }
}

#[cfg(test)]
mod tests;
