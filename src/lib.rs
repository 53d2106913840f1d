//! berth: a declarative GitOps reconciler for containers on a Docker host.
//!
//! The code is a one-way pipeline, one module per stage:
//!
//! `source` (working tree or git → a `Snapshot` of files) → `spec` (typed
//! YAML with positions, validated; all errors at once) → `resolve` (concrete
//! images, container names, env, ports → `Desired`) → `observe` (the engine
//! behind the narrow `Engine` trait → `Observed`, in O(1) calls) → `plan` (a
//! pure `diff(&Desired, &Observed) -> Plan`) → `apply` (walks a `Plan`,
//! decides nothing new) → `render` (text or JSON to any writer).
//!
//! `pipeline` strings the stages together for every command (plan, apply,
//! drift, and later watch); `cli` parses arguments and maps outcomes to exit
//! codes. No stage reaches back up the chain.

pub mod apply;
pub mod cli;
pub mod desired;
pub mod diag;
pub mod observe;
pub mod pipeline;
pub mod plan;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod resolve;
pub mod schema;
pub mod secrets;
pub mod source;
pub mod spec;
pub mod state;
pub mod watch;
