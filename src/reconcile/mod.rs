//! One reconcile step: plan → show → decide → lock → plan again under the
//! lock → apply. `berth apply`, `berth rollback` and `berth watch` all run
//! it; they differ only in their `Driver` (how a plan is shown, whether it
//! is applied) and their `Step` options (a rollback's pin and scope, a
//! watch's suspended apps).
//!
//! The first plan is made without the lock, after waiting out an apply in
//! progress: an unchanged repository makes no mutating engine call, not
//! even the lock's. What is applied is planned again under the lock, so
//! what it saw stays true while it is applied; a plan that changed in
//! between is shown again, or refused when a person confirmed the first.

use crate::apply::lock::{LockError, ProjectLock};
use crate::apply::{ApplyOptions, Outcome, Progress};
use crate::observe::{Engine, LockInfo, Pin};
use crate::pipeline::{LoadOptions, Loaded, PipelineError, PlanOptions, SavedPlan};
use crate::plan::{ActionDetail, Plan, Summary};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub mod rollback;

/// What a step starts from.
pub enum Start {
    /// A repository (working tree or revision), planned now.
    Repo(Box<Loaded>),
    /// A plan saved by `berth plan --out`, and the checkout it applies from.
    Saved(Box<SavedPlan>),
}

impl Start {
    pub fn project(&self) -> &str {
        match self {
            Start::Repo(l) => &l.desired.project,
            Start::Saved(s) => &s.plan.project,
        }
    }
}

/// Which apps a step may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    All,
    /// One app (a rollback); the project network too, when missing.
    Only(String),
    /// Every app but these (a watch's crash-looping apps).
    Except(BTreeSet<String>),
}

/// How to run a step.
#[derive(Clone)]
pub struct Step {
    pub engine: Arc<dyn Engine>,
    pub load: LoadOptions,
    pub plan: PlanOptions,
    pub apply: ApplyOptions,
    /// How long to wait for an apply of the project in progress (any machine).
    pub lock_timeout: Duration,
    /// A rollback: this app runs this release.
    pub pin: Option<(String, Pin)>,
    pub scope: Scope,
}

/// What a caller does at each point of a step.
pub trait Driver: Send + Sync {
    /// A plan was made (again, when `again`: the one applied under the lock
    /// differs from the one shown).
    fn show(&self, plan: &Plan, again: bool) -> Result<(), StepError>;
    /// Whether to apply a complete, non-empty plan. A driver that asked a
    /// person returns `Confirmed::ByPerson`: a plan that then changes under
    /// the lock is refused rather than applied unseen.
    fn decide(&self, plan: &Plan) -> Result<Decision, StepError>;
    /// Someone else holds the project's lock (told once per wait).
    fn waiting(&self, info: &LockInfo);
    /// Progress of the apply.
    fn progress(&self) -> Progress;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Apply; a changed plan under the lock is applied too (after `show`).
    Apply,
    /// Apply, leaving these apps alone (a watch's crash-looping apps).
    ApplyExcept(BTreeSet<String>),
    /// A person said yes to this very plan.
    ApplyConfirmed,
    /// Leave it: the step ends with the plan.
    Stop,
}

/// How a step ended.
#[derive(Debug)]
pub enum Done {
    /// Nothing applied: the plan was empty, or the driver stopped.
    Planned(Plan),
    /// The plan applied (`outcome.failed` lists what failed).
    Applied { plan: Plan, outcome: Outcome },
}

impl Done {
    pub fn plan(&self) -> &Plan {
        match self {
            Done::Planned(plan) | Done::Applied { plan, .. } => plan,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Lock(Box<LockError>),
    /// Unknowns or plan errors: nothing applied.
    #[error("the plan is incomplete; nothing was applied")]
    Incomplete(Box<Plan>),
    #[error(
        "the plan changed while waiting for the apply lock (another apply ran, or the engine changed); nothing was applied: run the command again to see the new plan"
    )]
    ChangedSinceConfirmed,
    /// A driver's own failure (a prompt that could not be read, output that could not be written).
    #[error("{0}")]
    Driver(String),
}

impl From<LockError> for StepError {
    fn from(e: LockError) -> Self {
        StepError::Lock(Box::new(e))
    }
}

impl Step {
    /// Run one step from `start`.
    pub async fn run(&self, start: &Start, driver: &dyn Driver) -> Result<Done, StepError> {
        let project = start.project().to_string();
        let waiting = |info: &LockInfo| driver.waiting(info);
        let first = match start {
            Start::Repo(loaded) => {
                crate::apply::lock::wait_idle(self.engine.as_ref(), &project, self.lock_timeout, waiting).await?;
                self.plan_repo(loaded).await?
            }
            Start::Saved(saved) => saved.plan.clone(),
        };
        driver.show(&first, false)?;
        if first.is_incomplete() {
            return Err(StepError::Incomplete(Box::new(first)));
        }
        if first.is_empty() {
            return Ok(Done::Planned(first));
        }
        let decision = match start {
            // The saved plan was the question.
            Start::Saved(_) => Decision::ApplyConfirmed,
            Start::Repo(_) => driver.decide(&first)?,
        };
        let (first, scope) = match decision {
            Decision::Stop => return Ok(Done::Planned(first)),
            Decision::ApplyExcept(ref apps) => {
                let scope = narrowed(&self.scope, apps);
                let first = scoped(first, &scope);
                if first.is_empty() {
                    return Ok(Done::Planned(first));
                }
                (first, scope)
            }
            _ => (first, self.scope.clone()),
        };
        // One applier per project on this engine, whichever machine it runs on.
        let lock = ProjectLock::acquire(self.engine.clone(), &project, self.lock_timeout, waiting).await?;
        let result = self.locked(start, first, decision, &scope, driver).await;
        lock.release().await;
        result
    }

    async fn locked(
        &self,
        start: &Start,
        first: Plan,
        decision: Decision,
        scope: &Scope,
        driver: &dyn Driver,
    ) -> Result<Done, StepError> {
        let plan = match start {
            Start::Repo(loaded) => {
                let plan = scoped(self.plan_repo(loaded).await?, scope);
                if same_actions(&plan, &first) {
                    plan
                } else if decision == Decision::ApplyConfirmed {
                    return Err(StepError::ChangedSinceConfirmed);
                } else {
                    driver.show(&plan, true)?;
                    if plan.is_incomplete() {
                        return Err(StepError::Incomplete(Box::new(plan)));
                    }
                    if plan.is_empty() {
                        return Ok(Done::Planned(plan));
                    }
                    plan
                }
            }
            Start::Saved(saved) => {
                saved.check(self.engine.as_ref(), &self.load).await?;
                first
            }
        };
        let (secrets, targets) = match start {
            Start::Repo(l) => (
                l.apply_secrets(&plan)?,
                crate::pipeline::targets(self.engine.clone(), crate::pipeline::registry_client(&l.repo), &l.repo.tree),
            ),
            Start::Saved(s) => {
                (s.secrets(&self.load)?, crate::pipeline::targets(self.engine.clone(), s.registry(), &s.tree))
            }
        };
        let outcome = crate::apply::apply(&targets, &plan, &secrets, &self.apply, driver.progress()).await;
        Ok(Done::Applied { plan, outcome })
    }

    /// The plan of a repository, pinned and scoped as asked.
    async fn plan_repo(&self, loaded: &Loaded) -> Result<Plan, PipelineError> {
        let pin = self.pin.as_ref().map(|(app, pin)| (app.as_str(), pin.clone()));
        let plan = crate::pipeline::plan_pinned(self.engine.as_ref(), loaded, self.plan, pin).await?;
        Ok(scoped(plan, &self.scope))
    }
}

/// `scope` without `apps` as well.
fn narrowed(scope: &Scope, apps: &BTreeSet<String>) -> Scope {
    match scope {
        Scope::All => Scope::Except(apps.clone()),
        Scope::Except(skip) => Scope::Except(skip.union(apps).cloned().collect()),
        // No app is named "": the project network alone.
        Scope::Only(app) if apps.contains(app) => Scope::Only(String::new()),
        Scope::Only(app) => Scope::Only(app.clone()),
    }
}

/// Whether two plans do the same (their actions and releases), whatever
/// they observed on the way.
fn same_actions(a: &Plan, b: &Plan) -> bool {
    let json = |p: &Plan| serde_json::to_string(&(&p.actions, &p.releases)).ok();
    json(a).is_some() && json(a) == json(b)
}

/// The plan's steps within `scope`: a rollback changes only its app, a
/// watch leaves its suspended apps alone.
pub fn scoped(mut plan: Plan, scope: &Scope) -> Plan {
    let keep = |app: Option<&str>| match (scope, app) {
        (Scope::All, _) => true,
        (Scope::Only(only), Some(app)) => app == only,
        (Scope::Only(_), None) => false,
        (Scope::Except(skip), Some(app)) => !skip.contains(app),
        (Scope::Except(_), None) => true,
    };
    if *scope == Scope::All {
        return plan;
    }
    // The project network is everyone's: created whatever the scope.
    plan.actions.retain(|a| {
        let app = Some(a.app.as_str()).filter(|a| !a.is_empty());
        matches!(a.detail, ActionDetail::CreateNetwork { .. }) || keep(app)
    });
    plan.unknowns.retain(|u| keep(Some(&u.app)));
    plan.errors.retain(|e| e.app.as_deref().is_none_or(|a| keep(Some(a))));
    plan.notes.retain(|n| match scope {
        Scope::Only(_) => n.app.as_deref().is_some_and(|a| keep(Some(a))),
        _ => n.app.as_deref().is_none_or(|a| keep(Some(a))),
    });
    plan.releases.retain(|r| keep(Some(&r.app)));
    plan.summary = Summary::of(&plan.actions);
    plan
}

#[cfg(test)]
mod tests;
