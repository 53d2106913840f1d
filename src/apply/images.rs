//! The image steps of an apply: builds (in parallel, up to `parallelism`;
//! each image labelled with its build inputs) and re-pulls of build images
//! already pushed, then pushes, then the other pulls. A push-on-release
//! number is checked against the registry after its push.

use super::{record, timed, ApplyOptions, ApplySecrets, Event, Outcome, Progress, Targets};
use crate::desired::DesiredBuild;
use crate::observe::registry::Login;
use crate::observe::{BuildLog, BuildRequest, EngineError};
use crate::plan::{Action, ActionDetail, ActionKind, Plan};
use futures_util::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub(super) async fn run(
    targets: &Targets,
    plan: &Plan,
    secrets: &ApplySecrets,
    opts: &ApplyOptions,
    progress: &Progress,
    outcome: &mut Outcome,
    failed_apps: &mut BTreeSet<String>,
) {
    let rebuilt = |a: &Action| matches!(&a.detail, ActionDetail::Pull { build_of: Some(_), .. });
    // A build image comes from a build or, already pushed, from its
    // registry; then pushes (which need it locally); then the other pulls.
    in_parallel(ActionKind::Build, targets, plan, secrets, opts, progress, outcome, failed_apps).await;
    pulls(targets, plan, secrets, progress, outcome, failed_apps, rebuilt).await;
    in_parallel(ActionKind::Push, targets, plan, secrets, opts, progress, outcome, failed_apps).await;
    pulls(targets, plan, secrets, progress, outcome, failed_apps, |a| !rebuilt(a)).await;
}

/// Builds or pushes, up to `parallelism` at once.
#[allow(clippy::too_many_arguments)]
async fn in_parallel(
    kind: ActionKind,
    targets: &Targets,
    plan: &Plan,
    secrets: &ApplySecrets,
    opts: &ApplyOptions,
    progress: &Progress,
    outcome: &mut Outcome,
    failed_apps: &mut BTreeSet<String>,
) {
    let steps: Vec<&Action> = plan.actions.iter().filter(|a| a.kind == kind && !failed_apps.contains(&a.app)).collect();
    let results: Vec<(&Action, Result<(), EngineError>)> = futures_util::stream::iter(steps)
        .map(|a| async move {
            let r = match kind {
                ActionKind::Build => timed(progress, a, build(targets, a, secrets, progress)).await,
                _ => timed(progress, a, push(targets, a, secrets)).await,
            };
            (a, r)
        })
        .buffer_unordered(opts.parallelism.max(1))
        .collect()
        .await;
    for (a, r) in results {
        record(outcome, a, r, failed_apps);
    }
}

/// The pulls `which` selects, one at a time. A failed pull fails every app
/// that needed the image.
async fn pulls(
    targets: &Targets,
    plan: &Plan,
    secrets: &ApplySecrets,
    progress: &Progress,
    outcome: &mut Outcome,
    failed_apps: &mut BTreeSet<String>,
    which: impl Fn(&Action) -> bool,
) {
    for a in plan.actions.iter().filter(|a| a.kind == ActionKind::Pull && which(a)) {
        let ActionDetail::Pull { image, platform, credential, digest, .. } = &a.detail else { continue };
        if failed_apps.contains(&a.app) {
            continue;
        }
        let auth = credential.as_ref().and_then(|c| secrets.logins.get(c));
        let pulled = async {
            // Exactly the content the plan saw: by digest, then tagged.
            let source = match digest {
                Some(d) => by_digest(image, d),
                None => image.clone(),
            };
            let transfer = transfer(progress, a);
            targets.engine.pull(&source, platform.as_deref(), auth, transfer).await.map_err(|e| match credential {
                Some(c) => EngineError::Pull { image: image.clone(), message: format!("{e} (credential `{c}`)") },
                None => e,
            })?;
            if source != *image {
                targets.engine.tag(&source, image).await?;
            }
            // (A build image pulled back is known by its digest in its
            // repository from now on: the engine records it, so it counts as pushed.)
            check_platform(targets, image, platform.as_deref()).await?;
            Ok(())
        };
        let r = timed(progress, a, pulled).await;
        if r.is_err() {
            failed_apps.extend(plan.actions.iter().filter(|o| uses_image(o, image)).map(|o| o.app.clone()));
        }
        record(outcome, a, r, failed_apps);
    }
}

/// Reports a pull's bytes as progress events of its action.
fn transfer(progress: &Progress, a: &Action) -> crate::observe::Transfer {
    let (target, progress) = (a.target.clone(), progress.clone());
    Arc::new(move |moved, known| progress(Event::Transfer { target: target.clone(), moved, known }))
}

/// A registry that serves a single-platform image for another platform
/// makes the engine pull it anyway; stop here, before a container fails
/// with "exec format error".
async fn check_platform(t: &Targets, image: &str, wanted: Option<&str>) -> Result<(), EngineError> {
    let wanted = match wanted {
        Some(w) => w.to_string(),
        None => t.engine.platform().await?,
    };
    match t.engine.image_platform(image).await? {
        Some(have) if !crate::spec::values::platform_matches(&have, &wanted) => Err(EngineError::Pull {
            image: image.to_string(),
            message: format!(
                "the registry has it only for {have}, not {wanted}: it would fail with \"exec format error\"; set `platform:` or use an image built for {wanted}"
            ),
        }),
        _ => Ok(()),
    }
}

async fn build(t: &Targets, a: &Action, secrets: &ApplySecrets, progress: &Progress) -> Result<(), EngineError> {
    let ActionDetail::Build { tags, build } = &a.detail else { unreachable!("a build action") };
    let image = tags.first().cloned().unwrap_or_default();
    let failed = |message: String| EngineError::Build { image: image.clone(), message, log: Vec::new() };
    // Reading (and for a working tree, writing the tar once and checking
    // its hash against the plan) blocks: off the async threads. A context
    // that changed since the plan fails here, before the engine sees it.
    let (contexts, planned) = (t.contexts.clone(), build.clone());
    let context = tokio::task::spawn_blocking(move || contexts(&planned))
        .await
        .map_err(|e| failed(format!("the build context reader failed: {e}")))?
        .map_err(failed)?;
    // Base images are pulled with build.credentials only (SPEC §3.2).
    let auth = build.credentials.iter().filter_map(|c| secrets.logins.get(c)).cloned().collect();
    let req = BuildRequest {
        tags: tags.clone(),
        dockerfile: build.dockerfile.clone(),
        args: build.args.clone(),
        target: build.target.clone(),
        platform: build.platform.clone(),
        labels: build_labels(build),
        auth,
    };
    let (target, progress) = (a.target.clone(), progress.clone());
    let log: BuildLog =
        Arc::new(move |line: &str| progress(Event::Output { target: target.clone(), line: line.into() }));
    t.engine.build(&req, context, log).await.map(|_| ())
}

/// The labels a build image carries: its inputs (which a later plan
/// compares with its own) and, when committed, the commit of its context.
fn build_labels(b: &DesiredBuild) -> BTreeMap<String, String> {
    let inputs = serde_json::to_string(&b.inputs()).unwrap_or_default();
    let mut labels = BTreeMap::from([(crate::observe::labels::BUILD.to_string(), inputs)]);
    if let Some(commit) = b.version.commit() {
        labels.insert(crate::observe::labels::BUILD_COMMIT.to_string(), commit.to_string());
    }
    labels
}

/// The engine pushes the image (only layers the registry lacks); each
/// further tag is a manifest-only push of the same bytes.
async fn push(t: &Targets, a: &Action, secrets: &ApplySecrets) -> Result<(), EngineError> {
    let ActionDetail::Push { image, tags, release, credential } = &a.detail else { unreachable!("a push action") };
    let auth = credential.as_ref().and_then(|c| secrets.logins.get(c));
    // The engine records the digest it pushed (RepoDigests): that is what
    // tells every later plan, on any machine, that this build is pushed.
    let pushed = t.engine.push(image, auth).await?;
    let login = auth.map(Login::from);
    let repository = repository_of(image);
    let push_error = |message: String| EngineError::Push { image: format!("{repository}:{}", tags.join(",")), message };
    t.registry
        .retag_all(image, tags, login.as_ref(), credential.as_deref())
        .await
        .map_err(|e| push_error(e.to_string()))?;
    if let Some(n) = release {
        // The number was claimed under the engine lock from the registry's
        // tags; an applier on another engine may have pushed the same number
        // at the same time: the registry says whose content it holds now.
        let released = format!("{repository}:{n}");
        let now = t
            .registry
            .digest(&released, login.as_ref(), credential.as_deref())
            .await
            .map_err(|e| push_error(e.to_string()))?;
        if now != pushed {
            return Err(push_error(format!(
                "release {n} was pushed by someone else at the same time (the registry holds {now} under it); plan again to take the next number"
            )));
        }
        t.engine.tag(image, &released).await?;
    }
    Ok(())
}

/// `reg/app:tag` + digest → `reg/app@digest`.
fn by_digest(image: &str, digest: &str) -> String {
    format!("{}@{digest}", repository_of(image))
}

/// `reg/app:tag` → `reg/app` (a port's colon is not a tag's).
fn repository_of(image: &str) -> &str {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    }
}

fn uses_image(a: &Action, image: &str) -> bool {
    matches!(&a.detail, ActionDetail::Create { container } | ActionDetail::Replace { container, .. } if container.config.image == image)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pulls_by_digest_keep_the_repository() {
        assert_eq!(super::by_digest("127.0.0.1:5000/web:1", "sha256:ab"), "127.0.0.1:5000/web@sha256:ab");
    }

    #[test]
    fn repository_of_keeps_ports() {
        assert_eq!(super::repository_of("127.0.0.1:5000/app-web:abc"), "127.0.0.1:5000/app-web");
        assert_eq!(super::repository_of("docker.io/library/app:1"), "docker.io/library/app");
        assert_eq!(super::repository_of("127.0.0.1:5000/app-web"), "127.0.0.1:5000/app-web");
    }
}
