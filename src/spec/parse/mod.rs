//! Parse: YAML bytes → `Settings` and `AppSpec`s, or diagnostics.
//!
//! Each file is parsed on its own, so one broken file does not hide the
//! problems of the others, and within a file every error is found at once:
//! serde-saphyr stops at the first error, so the entry it is about is blanked
//! out (see `outline`) and the file parsed again, until it parses or a syntax
//! error ends the search. What parsed goes on to `validate`, with the list of
//! blanked entries, so semantic checks neither miss values nor report what
//! blanking caused. Errors become `Diagnostic`s in berth's words (`describe`).

mod describe;
mod outline;

pub(crate) use describe::nearest;

use super::types::{AppSpec, Settings};
use crate::diag::Diagnostic;
use crate::source::{Snapshot, SourceFile};
use describe::{earlier_key, non_mapping, original, relocate_tab, to_diagnostic, unclosed};
use outline::{Aim, Outline};
use serde::de::DeserializeOwned;
use serde_saphyr::Error as YamlError;

/// How many errors one file may report before berth stops looking.
const MAX_PASSES: usize = 50;

/// A file's value, and the entries left out of it because they were in error.
#[derive(Debug, Clone, Default)]
pub(super) struct Parsed<T> {
    pub value: T,
    pub blanked: Blanked,
}

/// Entries blanked out of a file: key paths (`[i]` for list items), and
/// whether the key itself was unknown (probably misspelt).
#[derive(Debug, Clone, Default)]
pub(super) struct Blanked(Vec<(Vec<String>, bool)>);

impl Blanked {
    /// Whether anything at or under `path` (or holding it) was blanked:
    /// checks that look there see an incomplete value.
    pub fn touches(&self, path: &[&str]) -> bool {
        self.0.iter().any(|(p, _)| p.iter().zip(path).all(|(a, b)| a == b))
    }

    /// Whether an unknown key was blanked from the mapping at `parent`
    /// (probably a misspelling of a key it now lacks).
    pub fn unknown_key_in(&self, parent: &[&str]) -> bool {
        self.0
            .iter()
            .any(|(p, unknown)| *unknown && p.len() == parent.len() + 1 && p.iter().zip(parent).all(|(a, b)| a == b))
    }

    /// Whether the mapping at `parent` lacks `field` because of a blanking.
    fn explains_missing(&self, parent: &[String], field: &str) -> bool {
        let parent: Vec<&str> = parent.iter().map(String::as_str).collect();
        let path = parent.iter().copied().chain([field]);
        self.unknown_key_in(&parent) || self.0.iter().any(|(p, _)| p.iter().map(String::as_str).eq(path.clone()))
    }
}

/// App files that parsed (perhaps with entries blanked), by path.
pub(super) type ParsedApps = Vec<(String, Parsed<AppSpec>)>;

/// Every file of the snapshot, parsed. `None` settings: berth.yaml exists but
/// could not be parsed (its diagnostics are in the list). Apps that failed to
/// parse are left out.
pub(super) fn parse_all(snapshot: &Snapshot) -> (Option<Parsed<Settings>>, ParsedApps, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let settings = match &snapshot.settings {
        None => Some(Parsed::default()),
        // `what` names the settings file in messages: berth.yaml or berth.yml.
        Some(file) => parse_file::<Settings>(file, &file.path, &mut diags),
    };
    let apps = snapshot
        .apps
        .iter()
        .filter_map(|file| parse_file::<AppSpec>(file, "app", &mut diags).map(|app| (file.path.clone(), app)))
        .collect();
    (settings, apps, diags)
}

/// Parse one file, reporting every error; an empty berth.yaml is the default
/// settings, an empty app file an error. `None`: nothing usable parsed.
/// `what`: `app`, or the settings file's name (as messages call it).
fn parse_file<T: DeserializeOwned + Default>(
    file: &SourceFile,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Parsed<T>> {
    let text = match std::str::from_utf8(&file.bytes) {
        Ok(text) => text.strip_prefix('\u{feff}').unwrap_or(text),
        Err(e) => {
            let (line, col) = position_of(&file.bytes[..e.valid_up_to()]);
            diags
                .push(Diagnostic::new(&file.path, line, col, "file is not valid UTF-8").hint("save the file as UTF-8"));
            return None;
        }
    };
    if is_blank(text) {
        if what == "app" {
            diags.push(
                Diagnostic::new(&file.path, 0, 0, "empty app file")
                    .hint("an app needs at least `image:` or `build:`; delete the file to remove the app"),
            );
            return None;
        }
        return Some(Parsed::default());
    }
    let (parsed, found) = parse_recovering(&file.path, what, text);
    diags.extend(found);
    parsed
}

/// Parse `text`; after each error, blank the entry it is about and parse
/// again. Every error found, and the value once the file parses.
fn parse_recovering<T: DeserializeOwned>(path: &str, what: &str, text: &str) -> (Option<Parsed<T>>, Vec<Diagnostic>) {
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    let mut current = text.to_string();
    let mut blanked = Blanked::default();
    let mut found: Vec<Diagnostic> = Vec::new();
    let mut result = None;
    for _ in 0..MAX_PASSES {
        let err = match serde_saphyr::from_str_with_options::<T>(&current, options.clone()) {
            Ok(value) => {
                result = Some(Parsed { value, blanked });
                break;
            }
            Err(err) => err,
        };
        let outline = match Outline::parse(&current) {
            Ok(outline) => outline,
            Err(scan) => {
                // A syntax error ends the search. After a blanking it would be
                // berth's own doing (the file had none): then say nothing more.
                // (A value error serde-saphyr met on the way may be the syntax
                // error's doing, e.g. a scalar running on into the next line.)
                if blanked.0.is_empty() {
                    let mut d = to_diagnostic(path, what, &err);
                    let at = (scan.marker().line() as u32, scan.marker().col() as u32 + 1);
                    if d.line == 0 || (d.line, d.col) != at {
                        d = Diagnostic::new(path, at.0, at.1, scan_message(&scan));
                    }
                    found.push(syntax_error(text, d));
                }
                break;
            }
        };
        if found.is_empty() {
            if let Some(shape) = non_mapping(&current) {
                let kind = if what == "app" { "an app file" } else { what };
                let d = to_diagnostic(path, what, &err);
                let message = format!("{kind} must be a mapping of keys to values, found {shape}");
                found.push(Diagnostic::new(path, d.line, d.col, message));
                break;
            }
        }
        let d = value_error(text, to_diagnostic(path, what, &err), &err);
        let (aim, missing) = match original(&err) {
            YamlError::SerdeUnknownField { .. } | YamlError::DuplicateMappingKey { .. } => (Aim::Key, None),
            YamlError::SerdeMissingField { field, .. } => (Aim::Missing, Some(*field)),
            _ => (Aim::Value, None),
        };
        let target = if d.line > 0 { outline.target(aim, d.line, d.col) } else { None };
        let Some(target) = target else {
            found.push(d);
            break;
        };
        let follow_on = missing.is_some_and(|field| blanked.explains_missing(&target.path, field));
        if !follow_on && !found.contains(&d) {
            found.push(d);
        }
        let next = outline.blank(&target);
        let unknown = matches!(original(&err), YamlError::SerdeUnknownField { .. });
        blanked.0.push((target.path, unknown));
        if next == current {
            break;
        }
        current = next;
    }
    (result, found)
}

/// Details for a value error: where a duplicate key was first.
fn value_error(text: &str, mut d: Diagnostic, err: &YamlError) -> Diagnostic {
    if let YamlError::DuplicateMappingKey { key: Some(key), .. } = original(err) {
        if let Some(first) = earlier_key(text, key, d.line, d.col) {
            d.message = format!("duplicate key `{key}` (first at line {first})");
        }
    }
    d
}

/// Hints for a syntax error: a tab, a bracket or quote left open, indentation.
fn syntax_error(text: &str, mut d: Diagnostic) -> Diagnostic {
    if d.message.contains("tab") {
        relocate_tab(text, &mut d);
    } else if d.hint.is_none() && d.line > 0 {
        d.hint = unclosed(text, d.line, d.col);
        if d.hint.is_none() && (d.message.contains("expected key") || d.message.contains("indentation")) {
            d.hint = Some("check this line's indentation: the keys of one mapping must line up".to_string());
        }
    }
    d
}

/// A scanner error's message without its position.
fn scan_message(scan: &granit_parser::ScanError) -> String {
    let info = scan.info();
    match info.find(" at line ") {
        Some(i) => info[..i].to_string(),
        None => info,
    }
}

/// Line and column (1-based) just after `bytes`.
fn position_of(bytes: &[u8]) -> (u32, u32) {
    let line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&bytes[line_start..]).chars().count() + 1;
    (line as u32, col as u32)
}

/// Nothing but whitespace, comments and document markers.
fn is_blank(text: &str) -> bool {
    text.lines().map(str::trim).all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

/// The source line `line` with a caret under `col`.
pub(super) fn snippet(text: &str, line: u32, col: u32) -> Option<String> {
    let src = text.lines().nth(line.checked_sub(1)? as usize)?;
    let src: String = src.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
    let num = line.to_string();
    let pad = " ".repeat(num.len());
    let caret = " ".repeat(col.saturating_sub(1) as usize);
    Some(format!("{num} | {src}\n{pad} | {caret}^"))
}

/// Give every positioned diagnostic a snippet of its source line.
pub(super) fn attach_snippets(snapshot: &Snapshot, diags: &mut [Diagnostic]) {
    for d in diags.iter_mut().filter(|d| d.line > 0 && d.snippet.is_none()) {
        let file = snapshot.settings.iter().chain(&snapshot.apps).find(|f| f.path == d.file);
        if let Some(text) = file.and_then(|f| std::str::from_utf8(&f.bytes).ok()) {
            d.snippet = snippet(text.strip_prefix('\u{feff}').unwrap_or(text), d.line, d.col);
        }
    }
}

#[cfg(test)]
mod tests;
