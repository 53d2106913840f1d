//! The text plan: one line per action with its symbol and reason, then the
//! field-level changes indented; a summary line last (SPEC §3.4).

use crate::plan::{ActionKind, FieldChange, Plan};
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

fn kind_color(k: ActionKind) -> &'static str {
    match k {
        ActionKind::Build | ActionKind::Create => "32",
        ActionKind::Replace => "33",
        ActionKind::Remove => "31",
        ActionKind::Pull | ActionKind::Push => "36",
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
        let head = format!("{} {} {}", a.kind.symbol(), a.kind.verb(), a.target);
        writeln!(w, "{} ({})", style.paint(kind_color(a.kind), &head), a.reason)?;
        // Creates, builds and pushes list the values they set; replaces show old → new.
        let values = matches!(a.kind, ActionKind::Create | ActionKind::Build | ActionKind::Push | ActionKind::Pull);
        for c in &a.changes {
            write_change(w, c, values)?;
        }
    }
    if !plan.actions.is_empty() {
        writeln!(w)?;
    }
    if !plan.errors.is_empty() {
        writeln!(w, "Plan refused: {} error(s); nothing will be applied.", plan.errors.len())?;
    } else if plan.is_incomplete() {
        writeln!(w, "Plan incomplete: {} part(s) unknown; nothing will be applied.", plan.unknowns.len())?;
    }
    if plan.actions.is_empty() {
        if !plan.is_incomplete() {
            writeln!(w, "No changes. The engine matches the repository.")?;
        }
    } else {
        let s = &plan.summary;
        writeln!(
            w,
            "Plan: {} to build, {} to pull, {} to push, {} to create, {} to replace, {} to remove.",
            s.build, s.pull, s.push, s.create, s.replace, s.remove
        )?;
    }
    Ok(())
}

fn write_change(w: &mut dyn Write, c: &FieldChange, create: bool) -> io::Result<()> {
    if c.sensitive {
        let what = if create { "(sensitive)" } else { "(sensitive value changed)" };
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
