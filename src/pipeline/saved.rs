//! Saved plans: what a plan is made from (a commit and a content hash,
//! never a path), the checkout a saved plan is applied from, and what it
//! reads there — the secret values it needs (checked against its
//! fingerprints) and the settings — plus the check that the engine and the
//! registry answers it relied on are still what it was made against.

use super::{client_for, decrypt, LoadOptions, Loaded, PipelineError};
use crate::apply::ApplySecrets;
use crate::desired::EnvValue;
use crate::observe::registry::{Login, RegistryClient};
use crate::observe::{Engine, PullAuth};
use crate::plan::{ActionDetail, Plan, PlanSource, FORMAT_VERSION};
use crate::secrets::{CredentialKind, Credentials};
use crate::source::{Origin, Snapshot, SourceError, Tree};
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};

impl Loaded {
    /// The secret values `plan` needs at apply time, from memory. A secret
    /// whose value no longer matches the plan's fingerprint makes the plan
    /// stale: applying it would run something other than what was shown.
    pub fn apply_secrets(&self, plan: &Plan) -> Result<ApplySecrets, PipelineError> {
        apply_secrets(plan, &self.credentials, &self.fingerprint_key)
    }
}

/// What a plan of `tree`, whose files hash to `content`, is made from: a
/// commit's tree is that commit, clean; a working tree is at HEAD, and
/// whether the files read are HEAD's (compared whole, so an ignored or
/// untracked app file counts too). Blocking (git).
pub(super) fn plan_source(tree: &Tree, content: String) -> PlanSource {
    let root = match tree.origin() {
        Origin::WorkTree { root } => root,
        Origin::Commit { commit, .. } => {
            return PlanSource { commit: Some(commit.clone()), content, uncommitted: false };
        }
    };
    let Some(commit) = crate::source::head_commit(root) else {
        return PlanSource { commit: None, content, uncommitted: true };
    };
    let committed = crate::source::read_revision(root, &commit).map(|r| r.snapshot.content_hash());
    let uncommitted = !committed.is_ok_and(|c| c == content);
    PlanSource { commit: Some(commit), content, uncommitted }
}

/// A saved plan, and the checkout it is applied from.
pub struct SavedPlan {
    pub plan: Plan,
    /// The checkout (its working tree, canonical): build contexts come from
    /// its git objects, or (planned from uncommitted files) its working tree.
    pub tree: Tree,
    /// The plan's files as the checkout holds them: the commit's tree, or
    /// for a plan of uncommitted files, the working tree.
    snapshot: Snapshot,
    /// `insecure-registries` of its settings.
    insecure: Vec<String>,
}

impl SavedPlan {
    /// Read the plan `file` and open `dir` (`--repo`, else the current
    /// folder) for it. A plan made from a commit is read from that commit's
    /// tree, whatever the working tree holds; one made from uncommitted
    /// files needs a working tree holding exactly them. Any other checkout
    /// is refused, naming the commit (and content) the plan needs.
    pub fn open(file: &Path, dir: &Path) -> Result<Self, PipelineError> {
        let plan = read_plan(file)?;
        let (root, snapshot) = checkout(&plan.source, dir)?;
        let settings = crate::spec::load_settings(&snapshot).map_err(PipelineError::Invalid)?;
        let insecure = settings.insecure_registries.iter().map(|r| r.value.clone()).collect();
        Ok(SavedPlan { plan, tree: Tree::work_tree(root), snapshot, insecure })
    }

    /// The registry client the plan's settings ask for.
    pub fn registry(&self) -> RegistryClient {
        client_for(self.insecure.clone())
    }

    /// A saved plan applies only to the state it was made against: the
    /// engine as it is now and the registry answers it relied on, asked
    /// again, must give the plan's fingerprint.
    pub async fn check(&self, engine: &dyn Engine, opts: &LoadOptions) -> Result<(), PipelineError> {
        let plan = &self.plan;
        let observed = engine.observe(&plan.project).await?;
        let mut now = std::collections::BTreeMap::new();
        if !plan.registry.is_empty() {
            let credentials = decrypt(&self.snapshot, opts, &[]).map_err(PipelineError::Invalid)?;
            let client = self.registry();
            for (image, answer) in &plan.registry {
                let cred = answer.credential.as_deref();
                let login = cred
                    .and_then(|c| credentials.registry(c))
                    .map(|l| Login { username: l.username.clone(), password: l.password.expose_secret().to_string() });
                let digest = client.digest(image, login.as_ref(), cred).await.map_err(|e| {
                    PipelineError::StalePlan(format!("cannot ask the registry what {image} resolves to now ({e})"))
                })?;
                now.insert(
                    image.clone(),
                    crate::plan::RegistryAnswer { digest, credential: answer.credential.clone() },
                );
            }
        }
        if crate::plan::diff::fingerprint(&observed, &plan.images, &plan.project, &now) != plan.observed_fingerprint {
            return Err(PipelineError::StalePlan("the engine or a registry changed since it was made".into()));
        }
        Ok(())
    }

    /// The secret values the plan needs, decrypted from the checkout's
    /// credential files.
    pub fn secrets(&self, opts: &LoadOptions) -> Result<ApplySecrets, PipelineError> {
        let credentials = decrypt(&self.snapshot, opts, &[]).map_err(PipelineError::Invalid)?;
        let (key, _) =
            crate::state::fingerprint_key(credentials.fingerprint_key()).map_err(PipelineError::FingerprintKey)?;
        apply_secrets(&self.plan, &credentials, &key)
    }
}

/// A plan file of this berth's format. The version is read first, so an
/// older plan gets "run berth plan --out again" rather than a field error.
fn read_plan(path: &Path) -> Result<Plan, PipelineError> {
    let fail = |why: String| PipelineError::PlanFile(format!("failed to read plan file {}: {why}", path.display()));
    let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    #[derive(serde::Deserialize)]
    struct Versioned {
        format_version: u32,
    }
    let not_a_plan = |e: serde_json::Error| fail(format!("not a berth plan ({e})"));
    let version = serde_json::from_slice::<Versioned>(&text).map_err(not_a_plan)?.format_version;
    if version != FORMAT_VERSION {
        return Err(PipelineError::PlanFile(format!(
            "plan file {} has format version {version}, this berth reads {FORMAT_VERSION}; run `berth plan --out` again",
            path.display()
        )));
    }
    serde_json::from_slice(&text).map_err(not_a_plan)
}

/// The plan's files in `dir`, which must be a checkout of the plan's commit
/// (and, for a plan of uncommitted files, hold exactly them).
fn checkout(source: &PlanSource, dir: &Path) -> Result<(PathBuf, Snapshot), PipelineError> {
    let root = dir.canonicalize().map_err(|e| SourceError::Root { path: dir.to_path_buf(), source: e })?;
    let refuse = |why: String| PipelineError::Checkout { dir: root.clone(), why, hint: needs(source) };
    if let Some(commit) = &source.commit {
        match crate::source::head_commit(&root) {
            Some(head) if &head == commit => {}
            Some(head) => return Err(refuse(format!("it was made from commit {commit}; this checkout is at {head}"))),
            None => return Err(refuse(format!("it was made from commit {commit}; this folder is not a git checkout"))),
        }
    }
    let committed = source.commit.as_deref().filter(|_| !source.uncommitted);
    let snapshot = match committed {
        Some(commit) => crate::source::read_revision(&root, commit)?.snapshot,
        None => crate::source::read_working_tree(&root)?,
    };
    let found = snapshot.content_hash();
    if found != source.content {
        let (planned, found) = (short(&source.content), short(&found));
        return Err(refuse(match committed {
            // The same commit, another folder of it.
            Some(commit) => format!(
                "its berth.yaml, apps/ and credentials/ in commit {commit} hash to {found}, the plan's to {planned}: \
is this the folder the plan was made in?"
            ),
            None => format!(
                "it was made from uncommitted files (berth.yaml, apps/ and credentials/ hashing to {planned}); \
the files here hash to {found}"
            ),
        }));
    }
    Ok((root, snapshot))
}

/// What a saved plan needs, for the hint of a refusal.
fn needs(source: &PlanSource) -> String {
    let again = "or run `berth plan --out` again";
    match (&source.commit, source.uncommitted) {
        (Some(c), false) => format!("apply it from a checkout of commit {c} (`--repo DIR`, default: the current folder), {again}"),
        (Some(c), true) => format!(
            "apply it from a checkout of commit {c} whose berth.yaml, apps/ and credentials/ hold exactly the files planned (content {}), {again}",
            short(&source.content)
        ),
        (None, _) => format!(
            "apply it from a folder whose berth.yaml, apps/ and credentials/ hold exactly the files planned (content {}), {again}",
            short(&source.content)
        ),
    }
}

fn short(hash: &str) -> &str {
    &hash[..12.min(hash.len())]
}

fn apply_secrets(plan: &Plan, credentials: &Credentials, key: &[u8]) -> Result<ApplySecrets, PipelineError> {
    let mut out = ApplySecrets::default();
    let mut login = |name: &String| -> Result<(), PipelineError> {
        let Some(CredentialKind::Registry(l)) = credentials.items.get(name).map(|c| &c.kind) else {
            return Err(PipelineError::StalePlan(format!("registry credential `{name}` is gone")));
        };
        let auth = PullAuth {
            server: l.server.clone(),
            username: l.username.clone(),
            password: l.password.expose_secret().to_string(),
        };
        out.logins.insert(name.clone(), auth);
        Ok(())
    };
    for a in &plan.actions {
        match &a.detail {
            ActionDetail::Pull { credential: Some(name), .. } | ActionDetail::Push { credential: Some(name), .. } => {
                login(name)?
            }
            ActionDetail::Build { build, .. } => build.credentials.iter().try_for_each(&mut login)?,
            ActionDetail::Create { container } | ActionDetail::Replace { container, .. } => {
                for (env_key, v) in &container.config.env {
                    let EnvValue::Secret { credential, fingerprint } = v else { continue };
                    let value = match credentials.items.get(credential).map(|c| &c.kind) {
                        Some(CredentialKind::Env(set)) => set.values.get(env_key),
                        _ => None,
                    };
                    let Some(value) = value else {
                        return Err(PipelineError::StalePlan(format!(
                            "secret env {env_key} of credential `{credential}` is gone"
                        )));
                    };
                    let value = value.expose_secret();
                    if &crate::resolve::fingerprint(key, credential, env_key, value) != fingerprint {
                        return Err(PipelineError::StalePlan(format!(
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

#[cfg(test)]
mod tests;
