//! berth's integration tests: one binary, shared fixtures in `common`.
//!
//! They run the real `berth` binary against the real Docker engine (started
//! by `tests/run.sh` when none answers). Every test uses its own project
//! name and removes what it created. None skips when the engine is missing:
//! it fails and says why.

mod common;

mod bad_input;
mod builds;
mod ci_templates;
mod command_line;
mod conflicts;
mod credentials;
mod engine;
mod engine_images;
mod lifecycle;
mod live_drift;
mod lock;
mod machine;
mod network;
mod operator;
mod pull_policy;
mod registry;
mod registry_push;
mod repo_files;
mod runners;
mod saved_plans;
mod secrets;
mod stopping;
mod timeouts;
mod unattended;
mod watch;
mod watch_events;
mod watch_files;
mod watch_outage;
mod watch_remote;
