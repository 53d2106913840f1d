//! The Markdown plan, for pull-request comments and CI job summaries: the
//! summary first (the text plan's own lines), errors, unknowns and notes
//! always visible, then one foldable `<details>` per app holding its
//! actions exactly as the text plan prints them (reasons, field changes,
//! secret values only as `(sensitive …)`), in a `diff` block so `+`/`-`
//! lines are coloured where the host colours diffs.

use super::json::ErrorInfo;
use super::text::{summary, verdict, write_action};
use super::Style;
use crate::plan::{Action, ActionKind, Plan};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Which command the document reports, for its heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkdownTitle {
    Plan,
    Drift,
}

impl MarkdownTitle {
    fn command(self) -> &'static str {
        match self {
            Self::Plan => "berth plan",
            Self::Drift => "berth drift",
        }
    }
}

/// Print a plan as Markdown.
pub fn plan_markdown(plan: &Plan, w: &mut dyn Write, title: MarkdownTitle) -> io::Result<()> {
    writeln!(w, "### {}: project {}", title.command(), code(&plan.project))?;
    if let Some(commit) = &plan.source.commit {
        let short: String = commit.chars().take(12).collect();
        let dirty = if plan.source.uncommitted { ", with uncommitted changes" } else { "" };
        writeln!(w, "\nFrom commit {}{dirty}.", code(&short))?;
    } else if plan.source.uncommitted {
        writeln!(w, "\nFrom uncommitted files (no commit).")?;
    }
    writeln!(w)?;
    let mut lines = summary(plan).into_iter();
    if let Some(first) = lines.next() {
        writeln!(w, "**{}**", inline(&first))?;
    }
    for line in lines {
        writeln!(w, "{}", inline(&line))?;
    }
    if let Some(line) = verdict(plan) {
        writeln!(w, "\n**{}**", inline(&line))?;
    }

    let mut problems = Vec::new();
    for e in &plan.errors {
        let what = match &e.app {
            Some(app) => format!("app {app}: {}", e.message),
            None => e.message.clone(),
        };
        problems.push(format!("- **error:** {}", inline(&what)));
    }
    for u in &plan.unknowns {
        problems.push(format!("- **unknown:** {}", inline(&format!("{}: {}", u.app, u.message))));
    }
    for n in &plan.notes {
        problems.push(format!("- note: {}", inline(&n.message)));
    }
    if !problems.is_empty() {
        writeln!(w)?;
        for p in problems {
            writeln!(w, "{p}")?;
        }
    }

    for (app, actions) in by_app(plan) {
        let name = if app.is_empty() { "(the project)".to_string() } else { code(app) };
        writeln!(w, "\n<details><summary>{name}: {}</summary>\n", counts(&actions))?;
        let mut body = Vec::new();
        for a in &actions {
            write_action(&mut body, a, Style::PLAIN)?;
        }
        let body = String::from_utf8_lossy(&body);
        let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
        writeln!(w, "{fence}diff\n{body}{fence}\n\n</details>")?;
    }
    Ok(())
}

/// A command that ended without a plan, as Markdown: the error and its
/// causes, and every problem of an invalid repository, in a code block.
pub fn error_markdown(e: &ErrorInfo, w: &mut dyn Write, title: MarkdownTitle) -> io::Result<()> {
    writeln!(w, "### {}: failed\n", title.command())?;
    writeln!(w, "**error:** {}", inline(&e.message))?;
    for c in &e.causes {
        writeln!(w, "- caused by: {}", inline(c))?;
    }
    if !e.diagnostics.is_empty() {
        let body: String = e.diagnostics.iter().map(|d| format!("{d}\n")).collect();
        let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
        writeln!(w, "\n{fence}\n{body}{fence}")?;
    }
    Ok(())
}

/// The plan's actions by app, apps in the order they first act, each
/// app's actions in plan order.
fn by_app(plan: &Plan) -> Vec<(&str, Vec<&Action>)> {
    let mut apps: Vec<(&str, Vec<&Action>)> = Vec::new();
    for a in &plan.actions {
        match apps.iter_mut().find(|(app, _)| *app == a.app) {
            Some((_, list)) => list.push(a),
            None => apps.push((&a.app, vec![a])),
        }
    }
    apps
}

/// `1 build, 2 replace`: an app's actions counted by kind.
fn counts(actions: &[&Action]) -> String {
    let mut by_kind: BTreeMap<ActionKind, usize> = BTreeMap::new();
    for a in actions {
        *by_kind.entry(a.kind).or_default() += 1;
    }
    by_kind.iter().map(|(k, n)| format!("{n} {}", k.verb())).collect::<Vec<_>>().join(", ")
}

/// Text safe in a Markdown paragraph: HTML's specials as entities, the
/// characters Markdown gives a meaning backslash-escaped.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A name as inline code in HTML (valid inside `<summary>` too).
fn code(s: &str) -> String {
    let escaped = s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<code>{escaped}</code>")
}

/// The fence of a code block must be longer than any run of backticks in it.
fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests;
