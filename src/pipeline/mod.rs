//! The pipeline every command shares: load (source → spec + secrets →
//! resolve), then plan (observe → diff). `plan`, `apply`, `drift` and later
//! `watch` differ only in what they do with the resulting `Plan`.

use crate::apply::{ContextSource, FilesSource, Targets};
use crate::desired::{Desired, DesiredBuild};
use crate::diag::Diagnostic;
use crate::observe::registry::{ImagePlatforms, Login, RegistryClient, RegistryError, RegistryOptions};
use crate::observe::Pin;
use crate::observe::{Engine, EngineError, Observed, RemoteDigest};
use crate::plan::diff::DiffOptions;
use crate::plan::{Plan, Queries};
use crate::secrets::Credentials;
use crate::source::{Snapshot, SourceError, Tree};
use crate::spec::Repo;
use futures_util::future::join_all;
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod look;
mod saved;

pub use saved::SavedPlan;

/// How to load a repository.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--identity FILE`; else the environment and default lookup (SPEC §1).
    pub identity: Option<PathBuf>,
}

/// A repository read, validated, decrypted and resolved: ready to plan.
pub struct Loaded {
    pub repo: Repo,
    pub desired: Desired,
    /// Decrypted credentials, in memory only.
    pub credentials: Credentials,
    /// Remarks from loading, put first in every plan (uncommitted specs).
    pub notes: Vec<crate::plan::Note>,
    fingerprint_key: Vec<u8>,
    /// `Snapshot::content_hash` of the files read, for the plan's source.
    content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the repository has {} error(s); nothing was changed", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    FingerprintKey(crate::state::StateError),
    #[error("the saved plan is stale: {0}; run `berth plan --out` again")]
    StalePlan(String),
    /// A plan file that cannot be read, or of another format version.
    #[error("{0}")]
    PlanFile(String),
    #[error("the saved plan cannot be applied from {}: {why}\n  hint: {hint}", .dir.display())]
    Checkout { dir: PathBuf, why: String, hint: String },
}

/// [`load_snapshot`] of the working tree at `path`.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, PipelineError> {
    load_snapshot(&crate::source::read_working_tree(path)?, opts)
}

/// spec + secrets → resolve, from a snapshot (a working tree, or a
/// commit). Build contexts and mounted folders are versioned from the
/// snapshot's tree: a commit's from its git tree. Every problem of every
/// file is reported at once, credential files included. Blocking (git,
/// and a working tree's files).
pub fn load_snapshot(snapshot: &Snapshot, opts: &LoadOptions) -> Result<Loaded, PipelineError> {
    let content = snapshot.content_hash();
    let spec = crate::spec::load(snapshot);
    let recipients: Vec<String> = match &spec {
        Ok(repo) => repo.settings.recipients.iter().map(|r| r.value.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let credentials = decrypt(snapshot, opts, &recipients);
    let (repo, credentials) = match (spec, credentials) {
        (Ok(r), Ok(c)) => (r, c),
        (spec, creds) => {
            let mut diags = spec.err().unwrap_or_default();
            diags.extend(creds.err().unwrap_or_default());
            return Err(PipelineError::Invalid(diags));
        }
    };
    let (fingerprint_key, key_source) =
        crate::state::fingerprint_key(credentials.fingerprint_key()).map_err(PipelineError::FingerprintKey)?;
    let tree = &snapshot.tree;
    let contexts = crate::resolve::build_contexts(&repo)
        .into_iter()
        .map(|(context, dockerfile)| {
            let v = tree.context_version(&context, &dockerfile).map_err(|e| e.to_string());
            ((context, dockerfile), v)
        })
        .collect();
    let files = crate::resolve::repo_folders(&repo)
        .into_iter()
        .map(|folder| {
            let v = tree.files_version(&folder);
            (folder, v)
        })
        .collect();
    let inputs = crate::resolve::Inputs {
        credentials: &credentials,
        fingerprint_key: &fingerprint_key,
        contexts: &contexts,
        files: &files,
    };
    let desired = crate::resolve::resolve(&repo, &inputs).map_err(PipelineError::Invalid)?;
    let mut notes: Vec<crate::plan::Note> = uncommitted_note(tree).into_iter().collect();
    notes.extend(own_key_note(&desired, &key_source));
    Ok(Loaded { repo, desired, credentials, notes, fingerprint_key, content })
}

impl Loaded {
    /// What the repository asks for, as one hash (64 hex): its files, every
    /// build input and mounted file (by content), the secrets (by
    /// fingerprint). Equal hashes plan alike against the same engine, so a
    /// watch tells a change of the repository from drift of the engine.
    pub fn identity(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(self.content.as_bytes());
        // Serializing plain data cannot fail; an empty hash part would only make a change look like one.
        hash.update(serde_json::to_vec(&self.desired).unwrap_or_default());
        hex::encode(hash.finalize())
    }

    /// `Snapshot::content_hash` of the files read.
    pub fn content(&self) -> &str {
        &self.content
    }
}

/// A warning when secret fingerprints use a key only this machine has:
/// another machine would see every secret as changed.
fn own_key_note(desired: &Desired, source: &crate::state::KeySource) -> Option<crate::plan::Note> {
    let crate::state::KeySource::StateDir(path) = source else { return None };
    let secrets = desired
        .apps
        .iter()
        .flat_map(|a| &a.containers)
        .any(|c| c.config.env.values().any(|v| matches!(v, crate::desired::EnvValue::Secret { .. })));
    secrets.then(|| crate::plan::Note {
        app: None,
        message: format!(
            "secret fingerprints use this machine's own key ({}): other machines make other fingerprints; run `berth secrets rekey` to put a shared key in credentials/fingerprint-key.age, and commit it",
            path.display()
        ),
    })
}

/// A warning when the specs planned are not the committed ones.
fn uncommitted_note(tree: &Tree) -> Option<crate::plan::Note> {
    let files = tree.uncommitted_config();
    let (first, rest) = (files.iter().take(5).cloned().collect::<Vec<_>>(), files.len().saturating_sub(5));
    let more = if rest > 0 { format!(" and {rest} more") } else { String::new() };
    (!files.is_empty()).then(|| crate::plan::Note {
        app: None,
        message: format!(
            "uncommitted changes in {}{more}: planned from the working tree, not from a commit",
            first.join(", ")
        ),
    })
}

/// Decrypt the credential files; no files, no identity needed.
fn decrypt(
    snapshot: &crate::source::Snapshot,
    opts: &LoadOptions,
    recipients: &[String],
) -> Result<Credentials, Vec<Diagnostic>> {
    crate::secrets::load_repo_credentials(snapshot, opts.identity.as_deref(), recipients)
}

/// How to plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Prune even when the repository yields no apps.
    pub allow_empty: bool,
    /// Ask the registries what every tag resolves to, not only for apps
    /// with `pull.policy: always`.
    pub refresh_remote: bool,
    /// Push builds from uncommitted files (`--allow-dirty`); else such a
    /// build with a push is a plan error.
    pub allow_dirty: bool,
}

/// observe → diff: two engine calls whatever the number of apps, and the
/// app history files; then whatever registry questions the plan needs
/// (`plan::queries`): none for an unchanged repository, a HEAD per tag to
/// check (`pull.policy: always`, `--refresh-remote`), per build image
/// missing locally, a tag listing per new release, a manifest per image to
/// pull (its platforms).
pub async fn plan(engine: &dyn Engine, loaded: &Loaded, opts: PlanOptions) -> Result<Plan, PipelineError> {
    plan_pinned(engine, loaded, opts, None).await
}

/// `plan`, with a rollback pin for one app taken as already recorded
/// (`berth rollback` plans with it and records it once applied).
pub async fn plan_pinned(
    engine: &dyn Engine,
    loaded: &Loaded,
    opts: PlanOptions,
    pin: Option<(&str, Pin)>,
) -> Result<Plan, PipelineError> {
    let project = &loaded.desired.project;
    // The commit and files planned (git, off the async threads), beside the engine calls.
    let (tree, content) = (loaded.repo.tree.clone(), loaded.content.clone());
    let source = tokio::task::spawn_blocking(move || saved::plan_source(&tree, content));
    let mut observed = engine.observe(project).await?;
    look::declared_env(&mut observed, &loaded.desired, &loaded.fingerprint_key);
    look::around(engine, &loaded.desired, &mut observed).await?;
    let rollback = pin.map(|(app, pin)| (app.to_string(), pin));
    let q = crate::plan::queries(&loaded.desired, &observed, opts.refresh_remote, rollback.as_ref());
    if !q.is_empty() {
        ask(engine, loaded, &q, &mut observed).await?;
    }
    let source = source.await.unwrap_or_else(|_| crate::plan::PlanSource {
        commit: None,
        content: loaded.content.clone(),
        uncommitted: true,
    });
    let diff_opts = DiffOptions {
        source,
        allow_empty: opts.allow_empty,
        refresh_remote: opts.refresh_remote,
        allow_dirty: opts.allow_dirty,
        rollback,
    };
    let mut plan = crate::plan::diff(&loaded.desired, &observed, &diff_opts);
    plan.notes.splice(0..0, loaded.notes.iter().cloned());
    Ok(plan)
}

/// An app's releases, as every machine sees them: the engine's release
/// tags and, for a push-on-release app, its registry's integer tags (number
/// → the image to run). A registry that cannot be listed leaves the
/// engine's alone, with a warning.
pub async fn releases(
    observed: &Observed,
    loaded: &Loaded,
    app: &crate::desired::DesiredApp,
) -> std::collections::BTreeMap<u32, String> {
    let project = &loaded.desired.project;
    let mut out: std::collections::BTreeMap<u32, String> = observed
        .releases(project, &app.name)
        .into_keys()
        .map(|n| (n, crate::observe::releases::release_tag(project, &app.name, n)))
        .collect();
    let Some(b) = app.build.as_ref().filter(|b| b.push.as_ref().is_some_and(|p| p.on_release)) else { return out };
    // A push-on-release app's releases are its repository's integer tags:
    // run those (the engine's, else pulled from the registry).
    for n in observed.numbered_tags(&b.repository).into_keys() {
        out.insert(n, format!("{}:{n}", b.repository));
    }
    let cred = app.pull_credential.name.clone().or_else(|| b.push.as_ref().and_then(|p| p.credential.clone()));
    let login = cred
        .as_deref()
        .and_then(|c| loaded.credentials.registry(c))
        .map(|l| Login { username: l.username.clone(), password: l.password.expose_secret().to_string() });
    match registry_client(&loaded.repo).tags(&b.repository, login.as_ref()).await {
        Ok(tags) => {
            for n in tags.iter().filter_map(|t| crate::observe::releases::release_number(t)) {
                out.insert(n, format!("{}:{n}", b.repository));
            }
        }
        Err(e) => tracing::warn!("the releases in {} are not listed: {e}", b.repository),
    }
    out
}

/// A registry client that speaks to the repository's insecure registries.
/// The process keeps one: every plan and apply of a command, and every pass
/// of a watch, reuse its connections and tokens.
pub fn registry_client(repo: &Repo) -> RegistryClient {
    client_for(repo.settings.insecure_registries.iter().map(|r| r.value.clone()).collect())
}

fn client_for(insecure: Vec<String>) -> RegistryClient {
    // One client, for the last list asked for: a repository that changes its
    // insecure registries gets a new one, and the old one goes (no map grows).
    static SHARED: std::sync::Mutex<Option<RegistryClient>> = std::sync::Mutex::new(None);
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    match shared.as_ref() {
        Some(c) if c.insecure() == insecure.as_slice() => c.clone(),
        _ => {
            let c = RegistryClient::new(RegistryOptions { insecure, ..Default::default() });
            *shared = Some(c.clone());
            c
        }
    }
}

/// Where an apply of a plan acts, with files from `tree` (a checkout, or
/// a commit). Build contexts and mounted folders are streamed from its git
/// objects (or working tree) when each build or container needs them.
pub fn targets(engine: Arc<dyn Engine>, registry: RegistryClient, tree: &Tree) -> Targets {
    let at = tree.clone();
    let contexts: ContextSource = Arc::new(move |b: &DesiredBuild| {
        at.context_tar(&b.context, &b.dockerfile, &b.version).map_err(|e| e.to_string())
    });
    let tree = tree.clone();
    let files: FilesSource =
        Arc::new(move |f: &crate::desired::RepoFiles| tree.files_tar(&f.path, &f.content).map_err(|e| e.to_string()));
    Targets { engine, registry: Arc::new(registry), contexts, files }
}

/// Put the answers to `q` into `observed`, all questions in parallel.
/// Failures become unknowns (the plan says so and exits 1); a platform
/// check the registry cannot answer is skipped (the pull will tell).
async fn ask(engine: &dyn Engine, loaded: &Loaded, q: &Queries, observed: &mut Observed) -> Result<(), PipelineError> {
    let client = registry_client(&loaded.repo);
    let client = &client;
    let login = |cred: &Option<String>| {
        cred.as_deref()
            .and_then(|c| loaded.credentials.registry(c))
            .map(|l| Login { username: l.username.clone(), password: l.password.expose_secret().to_string() })
    };
    let digests = q.digests.iter().map(|(image, cred)| {
        let login = login(cred);
        async move {
            let r = match client.digest(image, login.as_ref(), cred.as_deref()).await {
                Ok(d) => RemoteDigest::Digest(d),
                Err(e) => RemoteDigest::Unknown(e.to_string()),
            };
            (image.clone(), r)
        }
    });
    let artifacts = q.artifacts.iter().map(|(image, cred)| {
        let login = login(cred);
        async move {
            let r = match client.digest(image, login.as_ref(), cred.as_deref()).await {
                Ok(d) => RemoteDigest::Digest(d),
                Err(RegistryError::ManifestUnknown { .. }) => RemoteDigest::Absent,
                Err(e) => RemoteDigest::Unknown(e.to_string()),
            };
            (image.clone(), r)
        }
    });
    let tags = q.tags.iter().map(|(repo, cred)| {
        let login = login(cred);
        async move { (repo.clone(), client.tags(repo, login.as_ref()).await.map_err(|e| e.to_string())) }
    });
    let platforms = q.platforms.iter().map(|(image, cred)| {
        let login = login(cred);
        async move {
            let offered = match client.platforms(image, login.as_ref(), cred.as_deref()).await {
                Ok(ImagePlatforms::Index(ps)) => ps,
                Ok(ImagePlatforms::Single(p)) => vec![p],
                Err(e) => {
                    tracing::debug!("platforms of {image} not checked: {e}");
                    Vec::new()
                }
            };
            (image.clone(), offered)
        }
    });
    let own_platform = async {
        match q.engine_platform && !q.platforms.is_empty() {
            true => engine.platform().await.map(Some),
            false => Ok(None),
        }
    };
    let (d, a, t, p, own) =
        tokio::join!(join_all(digests), join_all(artifacts), join_all(tags), join_all(platforms), own_platform);
    observed.remote.extend(d.into_iter().chain(a));
    observed.registry_tags.extend(t);
    observed.platforms.extend(p);
    observed.engine_platform = own?;
    Ok(())
}
