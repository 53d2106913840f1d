//! Applying a plan: the secret values it needs, from memory and checked
//! against its fingerprints, and, for a saved plan, that the engine and the
//! registry answers it relied on are still what it was made against.

use super::{decrypt, saved_plan_registry, LoadOptions, Loaded, PipelineError};
use crate::apply::ApplySecrets;
use crate::desired::EnvValue;
use crate::observe::registry::Login;
use crate::observe::{Engine, PullAuth};
use crate::plan::{ActionDetail, Plan};
use crate::secrets::{CredentialKind, Credentials};
use secrecy::ExposeSecret;
use std::path::Path;

impl Loaded {
    /// The secret values `plan` needs at apply time, from memory. A secret
    /// whose value no longer matches the plan's fingerprint makes the plan
    /// stale: applying it would run something other than what was shown.
    pub fn apply_secrets(&self, plan: &Plan) -> Result<ApplySecrets, PipelineError> {
        apply_secrets(plan, &self.credentials, &self.fingerprint_key)
    }
}

/// A saved plan applies only to the state it was made against: the engine
/// as it is now and the registry answers it relied on, asked again, must
/// give the plan's fingerprint.
pub async fn check_saved_plan(engine: &dyn Engine, plan: &Plan, opts: &LoadOptions) -> Result<(), PipelineError> {
    let observed = engine.observe(&plan.project).await?;
    let mut now = std::collections::BTreeMap::new();
    if !plan.registry.is_empty() {
        let snapshot = crate::source::read_working_tree(Path::new(&plan.repo))?;
        let credentials = decrypt(&snapshot, opts, &[]).map_err(PipelineError::Invalid)?;
        let client = saved_plan_registry(plan);
        for (image, answer) in &plan.registry {
            let cred = answer.credential.as_deref();
            let login = cred
                .and_then(|c| credentials.registry(c))
                .map(|l| Login { username: l.username.clone(), password: l.password.expose_secret().to_string() });
            let digest = client.digest(image, login.as_ref(), cred).await.map_err(|e| {
                PipelineError::StalePlan(format!("cannot ask the registry what {image} resolves to now ({e})"))
            })?;
            now.insert(image.clone(), crate::plan::RegistryAnswer { digest, credential: answer.credential.clone() });
        }
    }
    if crate::plan::diff::fingerprint(&observed, &plan.images, &plan.project, &now) != plan.observed_fingerprint {
        return Err(PipelineError::StalePlan("the engine or a registry changed since it was made".into()));
    }
    Ok(())
}

/// Load just the credentials of a saved plan's repository.
pub fn saved_plan_secrets(plan: &Plan, opts: &LoadOptions) -> Result<ApplySecrets, PipelineError> {
    let snapshot = crate::source::read_working_tree(Path::new(&plan.repo))?;
    let recipients = Vec::new();
    let credentials = decrypt(&snapshot, opts, &recipients).map_err(PipelineError::Invalid)?;
    let (key, _) =
        crate::state::fingerprint_key(credentials.fingerprint_key()).map_err(PipelineError::FingerprintKey)?;
    apply_secrets(plan, &credentials, &key)
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
