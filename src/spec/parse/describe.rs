//! Describe: serde-saphyr's errors in berth's words — a one-line message
//! and, where one exists, a hint (the nearest valid key for a typo, how to
//! write a value, which bracket or quote is not closed).

use super::super::scalars::HINT;
use crate::diag::Diagnostic;
use serde_saphyr::{Error as YamlError, MessageFormatter, UserMessageFormatter};

/// What the document is when it parses as YAML but is not a mapping.
pub(super) fn non_mapping(text: &str) -> Option<&'static str> {
    struct Shape(Option<&'static str>);
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Shape;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("anything")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
            while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
            Ok(Shape(None))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(Shape(Some("a list")))
        }
        fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
            Ok(Shape(Some("a string")))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
            Ok(Shape(Some("a boolean")))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
            Ok(Shape(Some("a number")))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
            Ok(Shape(Some("a number")))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
            Ok(Shape(Some("a number")))
        }
        fn visit_unit<E>(self) -> Result<Shape, E> {
            Ok(Shape(Some("null")))
        }
    }
    impl<'de> serde::Deserialize<'de> for Shape {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Visitor)
        }
    }
    serde_saphyr::from_str::<Shape>(text).ok()?.0
}

/// Point a tab error at the first tab in indentation at or after the reported line.
pub(super) fn relocate_tab(text: &str, d: &mut Diagnostic) {
    let from = d.line.max(1) as usize - 1;
    for (i, line) in text.lines().enumerate().skip(from) {
        let indent = &line[..line.len() - line.trim_start().len()];
        if let Some(col) = indent.find('\t') {
            d.line = i as u32 + 1;
            d.col = col as u32 + 1;
            d.message = "tab in indentation".to_string();
            break;
        }
    }
    d.hint = Some("YAML indents with spaces, not tabs".to_string());
}

/// The line of an earlier `key:` at the same column as the duplicate at `line:col`.
pub(super) fn earlier_key(text: &str, key: &str, line: u32, col: u32) -> Option<u32> {
    let indent = col.checked_sub(1)? as usize;
    text.lines().take(line.saturating_sub(1) as usize).enumerate().find_map(|(i, l)| {
        let rest = l.get(indent..)?;
        let bare = rest.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with(':'));
        let quoted = rest.strip_prefix(&format!("\"{key}\"")).is_some_and(|r| r.trim_start().starts_with(':'));
        (l[..indent].trim_start_matches([' ', '-']).is_empty() && (bare || quoted)).then_some(i as u32 + 1)
    })
}

/// For a syntax error at `line:col`: a bracket or quote opened before it and never closed.
pub(super) fn unclosed(text: &str, line: u32, col: u32) -> Option<String> {
    let mut open: Vec<(char, usize, usize)> = Vec::new();
    let mut quote: Option<(char, usize, usize)> = None;
    for (i, l) in text.lines().enumerate().take(line as usize) {
        let chars: Vec<char> = l.chars().collect();
        let end = if i + 1 == line as usize { (col as usize).saturating_sub(1).min(chars.len()) } else { chars.len() };
        let mut j = 0;
        while j < end {
            let c = chars[j];
            match quote {
                Some(('"', ..)) if c == '\\' => j += 1,
                Some((q, ..)) if c == q => {
                    if q == '\'' && chars.get(j + 1) == Some(&'\'') {
                        j += 1;
                    } else {
                        quote = None;
                    }
                }
                Some(_) => {}
                None => {
                    let before = chars[..j].iter().rev().find(|c| !c.is_whitespace());
                    match c {
                        '#' if j == 0 || chars[j - 1].is_whitespace() => break,
                        '"' | '\'' if matches!(before, None | Some(':' | '-' | '[' | '{' | ',' | '?')) => {
                            quote = Some((c, i + 1, j + 1))
                        }
                        '[' | '{' => open.push((c, i + 1, j + 1)),
                        ']' | '}' => {
                            open.pop();
                        }
                        _ => {}
                    }
                }
            }
            j += 1;
        }
    }
    if let Some((q, l, c)) = quote {
        return Some(format!("the {q} opened at line {l}, column {c} is not closed"));
    }
    let (b, l, c) = open.pop()?;
    let close = if b == '[' { ']' } else { '}' };
    Some(format!("the `{b}` opened at line {l}, column {c} is not closed with `{close}`"))
}

/// A serde-saphyr error in berth's words.
pub(super) fn to_diagnostic(path: &str, what: &str, err: &YamlError) -> Diagnostic {
    let (line, col) = err.location().filter(|l| l.line() > 0).map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
    let (message, hint) = describe(what, original(err));
    let mut d = Diagnostic::new(path, line, col, message);
    d.hint = hint;
    d
}

/// The error under snippet and alias wrappers.
pub(super) fn original(mut err: &YamlError) -> &YamlError {
    loop {
        match err {
            YamlError::WithSnippet { error, .. } | YamlError::AliasError { error, .. } => err = error,
            _ => return err,
        }
    }
}

/// Message and hint for one error.
fn describe(what: &str, err: &YamlError) -> (String, Option<String>) {
    match err {
        YamlError::SerdeUnknownField { field, expected, .. } => {
            let message = format!("unknown key `{field}`");
            let per_process = ["command", "replicas", "ports"].contains(&field.as_str());
            if per_process && expected.contains(&"processes") {
                let hint = format!("`{field}` is set per process: processes: {{web: {{{field}: ...}}}}");
                return (message, Some(hint));
            }
            match nearest(field, expected) {
                Some(near) => (message, Some(format!("did you mean `{near}`?"))),
                None if expected.is_empty() => (message, None),
                None => (message, Some(format!("valid keys here: {}", expected.join(", ")))),
            }
        }
        YamlError::SerdeUnknownVariant { variant, expected, .. } => {
            let list = expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ");
            let message = format!("unknown value `{variant}`, expected one of {list}");
            (message, nearest(variant, expected).map(|near| format!("did you mean `{near}`?")))
        }
        YamlError::SerdeMissingField { field, .. } => (format!("missing key `{field}`"), None),
        // A value berth parses itself (a port, a duration…): its own words, maybe a hint.
        YamlError::Message { msg, .. } => match msg.split_once(HINT) {
            Some((message, hint)) => (one_line(message), Some(hint.to_string())),
            None => (one_line(msg), None),
        },
        YamlError::NullIntoString { .. } => {
            ("missing value".to_string(), Some("write \"\" for an empty string".to_string()))
        }
        YamlError::InvalidScalar { ty, .. } => (format!("expected {}", plain_expected(ty)), None),
        YamlError::Unexpected { expected: "sequence start", .. } => {
            ("expected a list".to_string(), Some("write a list: [a, b], or one `- item` per line".to_string()))
        }
        YamlError::Unexpected { expected: "string scalar", .. } => ("expected a string".to_string(), None),
        YamlError::Unexpected { expected: "mapping start", .. } => (
            "expected a mapping (key: value)".to_string(),
            Some("write `key: value` pairs, one per line, or {key: value}".to_string()),
        ),
        YamlError::InvalidBooleanStrict { .. } => {
            ("invalid boolean".to_string(), Some("use true or false".to_string()))
        }
        YamlError::DuplicateMappingKey { key, .. } => {
            let message = match key {
                Some(k) => format!("duplicate key `{k}`"),
                None => "duplicate key".to_string(),
            };
            (message, Some("each key may appear once in a mapping; remove one of them".to_string()))
        }
        YamlError::SerdeInvalidType { unexpected, expected, .. }
            if expected.starts_with("struct ") && is_top(expected) =>
        {
            let kind = if what == "app" { "an app file" } else { what };
            let message = format!("{kind} must be a mapping of keys to values, found {unexpected}");
            (message, None)
        }
        YamlError::SerdeInvalidType { unexpected, expected, .. } => {
            (format!("expected {}, found {unexpected}", plain_expected(expected)), None)
        }
        YamlError::SerdeInvalidValue { unexpected, expected, .. } => {
            (format!("expected {}, found {unexpected}", plain_expected(expected)), None)
        }
        _ => {
            let message = UserMessageFormatter.format_message(err);
            (one_line(&message), None)
        }
    }
}

fn is_top(expected: &str) -> bool {
    matches!(expected, "struct AppSpec" | "struct Settings")
}

/// serde's "expected" phrases for the types berth uses, in a user's words.
fn plain_expected(expected: &str) -> String {
    match expected {
        "u32" | "u16" | "u64" | "i64" => "a whole number".to_string(),
        "f64" | "f32" | "floating point" => "a number".to_string(),
        "a boolean" => "true or false".to_string(),
        "a string" => "a string".to_string(),
        "a sequence" => "a list".to_string(),
        "a map" => "a mapping (key: value)".to_string(),
        e if e.starts_with("struct ") => "a mapping (key: value)".to_string(),
        e if e.starts_with("enum ") => "one of the listed values".to_string(),
        e => e.to_string(),
    }
}

/// One line, no control characters, no trailing location.
fn one_line(message: &str) -> String {
    let line: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line,
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (*c, strsim::levenshtein(word, c), strsim::jaro_winkler(word, c)))
        .filter(|(c, lev, jw)| *lev <= 2.max(c.len() / 3) || *jw >= 0.85 || (c.len() >= 3 && word.starts_with(c)))
        .min_by(|a, b| a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)))
        .map(|(c, _, _)| c)
}
