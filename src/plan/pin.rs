//! Rollback pins: `berth rollback` records which release an app runs
//! instead of the repository's image. A pin holds while the repository's
//! image for the app stays what it was at the rollback; the next change of
//! that image (a new commit in the build context, a new `image:`) ends it,
//! so `drift` and `watch --heal` neither undo a rollback nor keep it forever.

use super::Note;
use crate::desired::Desired;
use crate::spec::PullPolicy;
use crate::state::AppHistory;
use std::collections::BTreeMap;

/// `desired` with every pin in force applied, and a note per pinned app.
pub fn apply_pins(desired: &Desired, history: &BTreeMap<String, AppHistory>) -> (Desired, Vec<Note>) {
    let mut out = desired.clone();
    let mut notes = Vec::new();
    for app in &mut out.apps {
        let Some(pin) = history.get(&app.name).and_then(|h| h.pin.as_ref()) else { continue };
        if pin.while_repo_image != app.image {
            continue;
        }
        notes.push(Note {
            app: Some(app.name.clone()),
            message: format!(
                "app {} is rolled back to release {} ({}) by `berth rollback`; the next change of its image in the repository replaces it",
                app.name,
                pin.release,
                super::diff::familiar_image(&pin.image)
            ),
        });
        app.image = pin.image.clone();
        app.build = None;
        app.pull_policy = PullPolicy::Missing;
        for c in &mut app.containers {
            c.config.image = pin.image.clone();
        }
    }
    (out, notes)
}
