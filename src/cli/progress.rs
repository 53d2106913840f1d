//! Apply progress on a terminal: a spinner per action in flight (its verb,
//! target, elapsed time and, for a build, its latest output line, for a
//! pull or push the bytes moved), above
//! which finished lines are printed as without a terminal. Used only when
//! stderr is a terminal and logs are not JSON; otherwise `apply` prints the
//! plain lines it always has.

use super::logging;
use crate::apply::Event;
use crate::render::Style;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// The spinners of the actions in flight, by target.
pub(super) struct Bars {
    multi: MultiProgress,
    style: ProgressStyle,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Spinners when stderr is a terminal and logs are not JSON; colored
    /// unless NO_COLOR says otherwise.
    pub(super) fn for_terminal() -> Option<Bars> {
        if !std::io::stderr().is_terminal() || logging::is_json() {
            return None;
        }
        Some(Bars::new(ProgressDrawTarget::stderr(), Style::detect(true)))
    }

    fn new(target: ProgressDrawTarget, style: Style) -> Bars {
        let template = if style.color {
            "  {spinner:.cyan} {prefix} {elapsed:.dim} {wide_msg:.dim}"
        } else {
            "  {spinner} {prefix} {elapsed} {wide_msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        Bars { multi: MultiProgress::with_draw_target(target), style, bars: Mutex::default() }
    }

    /// Shows an event: a spinner while an action runs, its end as `line`
    /// (on stdout when `to_stdout`, else stderr) above the spinners.
    pub(super) fn event(&self, e: &Event, line: Option<&str>, to_stdout: bool) {
        match e {
            Event::Started { kind, target } => {
                let bar = self.multi.add(ProgressBar::new_spinner().with_style(self.style.clone()));
                bar.set_prefix(format!("{} {target}", kind.verb()));
                bar.enable_steady_tick(Duration::from_millis(120));
                self.lock().insert(target.clone(), bar);
            }
            Event::Output { target, line } => {
                // Build output streams above the spinners, as it comes.
                self.multi.suspend(|| eprintln!("    {line}"));
                if let Some(bar) = self.lock().get(target) {
                    bar.set_message(line.clone());
                }
            }
            Event::Transfer { target, moved, known } => {
                if let Some(bar) = self.lock().get(target) {
                    bar.set_message(format!("{} / {}", HumanBytes(*moved), HumanBytes(*known)));
                }
            }
            Event::Done { target, .. } | Event::Failed { target, .. } | Event::Skipped { target, .. } => {
                if let Some(bar) = self.lock().remove(target) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if let Some(line) = line {
                    self.multi.suspend(|| if to_stdout { println!("{line}") } else { eprintln!("{line}") });
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ActionKind;

    #[test]
    fn a_spinner_lives_while_its_action_runs() {
        let bars = Bars::new(ProgressDrawTarget::hidden(), Style::PLAIN);
        let target = "busybox:1.36".to_string();
        bars.event(&Event::Started { kind: ActionKind::Pull, target: target.clone() }, None, true);
        bars.event(&Event::Started { kind: ActionKind::Build, target: "app:1".into() }, None, true);
        assert_eq!(bars.lock().len(), 2);
        bars.event(&Event::Output { target: "app:1".into(), line: "Step 1/2 : FROM busybox".into() }, None, true);
        assert_eq!(bars.lock()["app:1"].message(), "Step 1/2 : FROM busybox");
        let done = Event::Done { kind: ActionKind::Pull, target, elapsed: Duration::from_secs(1) };
        bars.event(&done, None, true);
        assert_eq!(bars.lock().keys().collect::<Vec<_>>(), ["app:1"]);
        bars.event(&Event::Failed { kind: ActionKind::Build, target: "app:1".into(), error: "x".into() }, None, true);
        assert!(bars.lock().is_empty());
    }
}
