//! Rollback pins: `berth rollback` runs a release instead of the
//! repository's image, and its containers carry the pin (`berth.pin*`
//! labels), so every machine sees it. A pin holds while the repository's
//! image for the app stays what it was at the rollback; the next change of
//! that image (a new build input, a new `image:`) ends it, so `drift` and
//! `watch --heal` neither undo a rollback nor keep it forever.

use super::Note;
use crate::desired::Desired;
use crate::observe::{Observed, Pin};
use crate::spec::PullPolicy;

/// `desired` with every pin in force applied (the containers' own, or
/// `rollback`'s for its app), and a note per pinned app.
pub fn apply_pins(desired: &Desired, observed: &Observed, rollback: Option<&(String, Pin)>) -> (Desired, Vec<Note>) {
    let mut out = desired.clone();
    let mut notes = Vec::new();
    for app in &mut out.apps {
        let asked = rollback.filter(|(name, _)| *name == app.name).map(|(_, pin)| pin);
        let Some(pin) = asked.or(observed.pin(&app.name)) else { continue };
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
            c.pin = Some(pin.clone());
        }
    }
    (out, notes)
}
