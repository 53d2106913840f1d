//! The pipeline every command shares: load (source → spec + secrets →
//! resolve), then plan (observe → diff). `plan`, `apply`, `drift` and later
//! `watch` differ only in what they do with the resulting `Plan`.

use crate::apply::ApplySecrets;
use crate::desired::{Desired, EnvValue};
use crate::diag::Diagnostic;
use crate::observe::registry::{Login, RegistryClient, RegistryOptions};
use crate::observe::{Engine, EngineError, PullAuth, RemoteDigest};
use crate::plan::diff::DiffOptions;
use crate::plan::{ActionDetail, Plan};
use crate::secrets::{CredentialKind, Credentials};
use crate::source::SourceError;
use crate::spec::{PullPolicy, Repo};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    fingerprint_key: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the repository has {} error(s); nothing was changed", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("failed to read the secret-fingerprint key: {0}")]
    FingerprintKey(std::io::Error),
    #[error("the saved plan is stale: {0}; run `berth plan --out` again")]
    StaleSecrets(String),
}

/// source → spec + secrets → resolve. Every problem of every file is
/// reported at once, credential files included.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, PipelineError> {
    let snapshot = crate::source::read_working_tree(path)?;
    let spec = crate::spec::load(&snapshot);
    let recipients: Vec<String> = match &spec {
        Ok(repo) => repo.settings.recipients.iter().map(|r| r.value.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let credentials = decrypt(&snapshot, opts, &recipients);
    let (repo, credentials) = match (spec, credentials) {
        (Ok(r), Ok(c)) => (r, c),
        (spec, creds) => {
            let mut diags = spec.err().unwrap_or_default();
            diags.extend(creds.err().unwrap_or_default());
            return Err(PipelineError::Invalid(diags));
        }
    };
    let fingerprint_key = crate::state::fingerprint_key().map_err(PipelineError::FingerprintKey)?;
    let order = crate::source::credentials_added_order(&snapshot.root);
    let inputs = crate::resolve::Inputs {
        credentials: &credentials,
        fingerprint_key: &fingerprint_key,
        added_order: order.as_deref(),
    };
    let desired = crate::resolve::resolve(&repo, &inputs).map_err(PipelineError::Invalid)?;
    Ok(Loaded { repo, desired, credentials, fingerprint_key })
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
}

/// observe → diff: two engine calls whatever the number of apps, plus one
/// registry HEAD per image whose tag is to be checked (`pull.policy:
/// always`, `--refresh-remote`).
pub async fn plan(engine: &dyn Engine, loaded: &Loaded, opts: PlanOptions) -> Result<Plan, PipelineError> {
    let (observed, remote) =
        tokio::join!(engine.observe(&loaded.desired.project), remote_digests(loaded, opts.refresh_remote));
    let mut observed = observed?;
    observed.remote = remote;
    let diff_opts =
        DiffOptions { repo: loaded.repo.root.to_string_lossy().into_owned(), allow_empty: opts.allow_empty };
    Ok(crate::plan::diff(&loaded.desired, &observed, &diff_opts))
}

/// What each checked tag resolves to in its registry (HEAD requests, in
/// parallel). Failures become `Unknown`: the plan says so and exits 1.
async fn remote_digests(loaded: &Loaded, all: bool) -> BTreeMap<String, RemoteDigest> {
    let mut wanted: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    for app in &loaded.desired.apps {
        let by_digest = app.image.contains("@sha256:");
        if !app.suspended && !by_digest && (all || app.pull_policy == PullPolicy::Always) {
            wanted.insert(&app.image, app.pull_credential.name.as_deref());
        }
    }
    if wanted.is_empty() {
        return BTreeMap::new();
    }
    let insecure = loaded.repo.settings.insecure_registries.iter().map(|r| r.value.clone()).collect();
    let client = RegistryClient::new(RegistryOptions { insecure, ..Default::default() });
    let checks = wanted.into_iter().map(|(image, cred)| {
        let login = cred
            .and_then(|c| loaded.credentials.registry(c))
            .map(|l| Login { username: l.username.clone(), password: l.password.expose_secret().to_string() });
        let client = &client;
        async move {
            let r = match client.digest(image, login.as_ref(), cred).await {
                Ok(d) => RemoteDigest::Digest(d),
                Err(e) => RemoteDigest::Unknown(e.to_string()),
            };
            (image.to_string(), r)
        }
    });
    futures_util::future::join_all(checks).await.into_iter().collect()
}

impl Loaded {
    /// The secret values `plan` needs at apply time, from memory. A secret
    /// whose value no longer matches the plan's fingerprint makes the plan
    /// stale: applying it would run something other than what was shown.
    pub fn apply_secrets(&self, plan: &Plan) -> Result<ApplySecrets, PipelineError> {
        apply_secrets(plan, &self.credentials, &self.fingerprint_key)
    }
}

/// Load just the credentials of a saved plan's repository.
pub fn saved_plan_secrets(plan: &Plan, opts: &LoadOptions) -> Result<ApplySecrets, PipelineError> {
    let snapshot = crate::source::read_working_tree(Path::new(&plan.repo))?;
    let recipients = Vec::new();
    let credentials = decrypt(&snapshot, opts, &recipients).map_err(PipelineError::Invalid)?;
    let key = crate::state::fingerprint_key().map_err(PipelineError::FingerprintKey)?;
    apply_secrets(plan, &credentials, &key)
}

fn apply_secrets(plan: &Plan, credentials: &Credentials, key: &[u8]) -> Result<ApplySecrets, PipelineError> {
    let mut out = ApplySecrets::default();
    for a in &plan.actions {
        match &a.detail {
            ActionDetail::Pull { credential: Some(name), .. } => {
                let Some(CredentialKind::Registry(login)) = credentials.items.get(name).map(|c| &c.kind) else {
                    return Err(PipelineError::StaleSecrets(format!("registry credential `{name}` is gone")));
                };
                let auth = PullAuth {
                    server: login.server.clone(),
                    username: login.username.clone(),
                    password: login.password.expose_secret().to_string(),
                };
                out.pull_auth.insert(name.clone(), auth);
            }
            ActionDetail::Create { container } | ActionDetail::Replace { container, .. } => {
                for (env_key, v) in &container.config.env {
                    let EnvValue::Secret { credential, fingerprint } = v else { continue };
                    let value = match credentials.items.get(credential).map(|c| &c.kind) {
                        Some(CredentialKind::Env(set)) => set.values.get(env_key),
                        _ => None,
                    };
                    let Some(value) = value else {
                        return Err(PipelineError::StaleSecrets(format!(
                            "secret env {env_key} of credential `{credential}` is gone"
                        )));
                    };
                    let value = value.expose_secret();
                    if &crate::resolve::fingerprint(key, credential, env_key, value) != fingerprint {
                        return Err(PipelineError::StaleSecrets(format!(
                            "secret env {env_key} of credential `{credential}` changed"
                        )));
                    }
                    out.env.entry(container.name.clone()).or_default().insert(env_key.clone(), value.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(out)
}
