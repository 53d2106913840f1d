//! The text plan: one line per action with its symbol and reason, then the
//! field-level changes indented; a summary line last (SPEC §3.4).

use crate::plan::{Action, ActionDetail, ActionKind, FieldChange, Plan};
use std::io::{self, Write};

/// Whether to use ANSI colors (only on a TTY, never with NO_COLOR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub const PLAIN: Style = Style { color: false };

    /// Color when `stream_is_tty` and NO_COLOR is unset or empty.
    pub fn detect(stream_is_tty: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style { color: stream_is_tty && !no_color }
    }

    fn paint(self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Green makes, yellow changes, red removes, cyan moves images.
fn color(symbol: &str) -> &'static str {
    match symbol {
        "+" => "32",
        "~" => "33",
        "-" => "31",
        _ => "36",
    }
}

/// Print a plan for people.
pub fn plan_text(plan: &Plan, w: &mut dyn Write, style: Style) -> io::Result<()> {
    for n in &plan.notes {
        writeln!(w, "{} {}", style.paint("2", "note:"), n.message)?;
    }
    for u in &plan.unknowns {
        writeln!(w, "{} {}: {}", style.paint("31", "? unknown"), u.app, u.message)?;
    }
    for e in &plan.errors {
        let what = match &e.app {
            Some(app) => format!("app {app}: {}", e.message),
            None => e.message.clone(),
        };
        writeln!(w, "{} {what}", style.paint("31", "error:"))?;
    }
    if !plan.notes.is_empty() || !plan.unknowns.is_empty() || !plan.errors.is_empty() {
        writeln!(w)?;
    }
    for a in &plan.actions {
        write_action(w, a, style)?;
    }
    if !plan.actions.is_empty() {
        writeln!(w)?;
    }
    for line in summary(plan) {
        writeln!(w, "{line}")?;
    }
    // Last, so it is the line one reads: nothing of the above will happen.
    if let Some(line) = verdict(plan) {
        writeln!(w, "{line}")?;
    }
    Ok(())
}

/// One action: its line (symbol, verb, target, reason), then its field
/// changes indented, secret values only as `(sensitive …)`.
pub(super) fn write_action(w: &mut dyn Write, a: &Action, style: Style) -> io::Result<()> {
    let head = format!("{} {} {}", a.symbol(), a.kind.verb(), a.target);
    write!(w, "{} ({})", style.paint(color(a.symbol()), &head), a.reason)?;
    if let ActionDetail::Replace { strategy, order_reason, .. } = &a.detail {
        write!(w, " ({}: {order_reason})", strategy.as_str())?;
    }
    writeln!(w)?;
    // Creates, builds and pushes list the values they set; replaces show old → new.
    let values = matches!(a.kind, ActionKind::Create | ActionKind::Build | ActionKind::Push | ActionKind::Pull);
    for c in &a.changes {
        write_change(w, c, values)?;
    }
    Ok(())
}

/// The summary: `Plan: N to build, …` and `Also: …`, or why there is
/// nothing to do.
pub(super) fn summary(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    if plan.actions.is_empty() {
        if plan.unpruned > 0 {
            lines.push(format!("No changes planned: the repository yields no apps, and the engine still runs {} of the project's container(s).", plan.unpruned));
        } else if !plan.is_incomplete() {
            lines.push("No changes. The engine matches the repository.".to_string());
        }
        return lines;
    }
    let s = &plan.summary;
    lines.push(format!(
        "Plan: {} to build, {} to pull, {} to push, {} to create, {} to replace, {} to remove.",
        s.build, s.pull, s.push, s.create, s.replace, s.remove
    ));
    // The line above is the contract's; what it has no words for follows.
    let count = |f: fn(&ActionDetail) -> bool| plan.actions.iter().filter(|a| f(&a.detail)).count();
    let also: Vec<String> = [
        (s.update, "container", "to update in place"),
        (count(|d| matches!(d, ActionDetail::CreateNetwork { .. })), "network", "to create"),
        (count(|d| matches!(d, ActionDetail::CreateVolume { .. })), "volume", "to create"),
        (count(|d| matches!(d, ActionDetail::RemoveNetwork { .. })), "network", "to remove"),
    ]
    .into_iter()
    .filter(|(n, ..)| *n > 0)
    .map(|(n, what, to)| format!("{n} {what}{} {to}", if n == 1 { "" } else { "s" }))
    .collect();
    if !also.is_empty() {
        lines.push(format!("Also: {}.", also.join(", ")));
    }
    lines
}

/// Why nothing of the plan will happen, when it will not.
pub(super) fn verdict(plan: &Plan) -> Option<String> {
    if !plan.errors.is_empty() {
        Some(format!("Plan refused: {} error(s); nothing will be applied.", plan.errors.len()))
    } else if plan.is_incomplete() {
        Some(format!("Plan incomplete: {} part(s) unknown; nothing will be applied.", plan.unknowns.len()))
    } else {
        None
    }
}

fn write_change(w: &mut dyn Write, c: &FieldChange, create: bool) -> io::Result<()> {
    if c.sensitive {
        let what = match (create, &c.old, &c.new) {
            (true, ..) => "(sensitive)",
            (false, None, Some(_)) => "(sensitive value added)",
            (false, Some(_), None) => "(sensitive value removed)",
            _ => "(sensitive value changed)",
        };
        return writeln!(w, "    {}: {what}", c.path);
    }
    // Free-form strings are quoted (so spaces and empty values show);
    // structured values (image, ports, command…) print as they are.
    let quote = c.path.starts_with("env.") || c.path == "user";
    let q = |v: &Option<String>| match v {
        None => "(none)".to_string(),
        Some(s) if quote => format!("{s:?}"),
        Some(s) => s.clone(),
    };
    let multiline =
        c.old.as_deref().is_some_and(|s| s.contains('\n')) || c.new.as_deref().is_some_and(|s| s.contains('\n'));
    if multiline {
        writeln!(w, "    {}:", c.path)?;
        let (o, n) = (c.old.as_deref().unwrap_or(""), c.new.as_deref().unwrap_or(""));
        let diff = similar::TextDiff::from_lines(o, n);
        for change in diff.iter_all_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => "-",
                similar::ChangeTag::Insert => "+",
                similar::ChangeTag::Equal => " ",
            };
            write!(w, "      {sign} {}", change.value())?;
            if change.missing_newline() {
                writeln!(w)?;
            }
        }
        return Ok(());
    }
    if create {
        writeln!(w, "    {}: {}", c.path, q(&c.new))
    } else {
        writeln!(w, "    {}: {} → {}", c.path, q(&c.old), q(&c.new))
    }
}

#[cfg(test)]
mod tests;
