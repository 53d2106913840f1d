//! Parse: YAML bytes → `Settings` and `AppSpec`s, or diagnostics.
//!
//! Each file is parsed on its own, so one broken file does not hide the
//! problems of the others. serde-saphyr's errors become `Diagnostic`s with
//! the file, line and column, a one-line message in berth's words, and a hint
//! (the nearest valid key for a typo, `true`/`false` for a loose boolean).
//! Semantic checks are not done here; see `validate`.

use super::types::{AppSpec, Settings};
use crate::diag::Diagnostic;
use crate::source::{Snapshot, SourceFile};
use serde::de::DeserializeOwned;
use serde_saphyr::{Error as YamlError, MessageFormatter, UserMessageFormatter};

/// Every file of the snapshot, parsed. `None` settings: berth.yaml exists but
/// could not be parsed (its diagnostics are in the list). Apps that failed to
/// parse are left out.
pub(super) fn parse_all(snapshot: &Snapshot) -> (Option<Settings>, Vec<(String, AppSpec)>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let settings = match &snapshot.settings {
        None => Some(Settings::default()),
        Some(file) => parse_file::<Settings>(file, "berth.yaml", &mut diags),
    };
    let apps = snapshot
        .apps
        .iter()
        .filter_map(|file| parse_file::<AppSpec>(file, "app", &mut diags).map(|app| (file.path.clone(), app)))
        .collect();
    (settings, apps, diags)
}

/// Parse one file; an empty berth.yaml is the default settings, an empty app file an error.
fn parse_file<T: DeserializeOwned + Default>(file: &SourceFile, what: &str, diags: &mut Vec<Diagnostic>) -> Option<T> {
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
        return Some(T::default());
    }
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    match serde_saphyr::from_str_with_options::<T>(text, options) {
        Ok(value) => Some(value),
        Err(err) => {
            let mut d = to_diagnostic(&file.path, what, &err);
            if let Some(found) = non_mapping(text) {
                let kind = if what == "app" { "an app file" } else { "berth.yaml" };
                d = Diagnostic::new(
                    &file.path,
                    d.line,
                    d.col,
                    format!("{kind} must be a mapping of keys to values, found {found}"),
                );
            } else if d.message.contains("tab") {
                relocate_tab(text, &mut d);
            } else if let YamlError::DuplicateMappingKey { key: Some(key), .. } = original(&err) {
                if let Some(first) = earlier_key(text, key, d.line, d.col) {
                    d.message = format!("duplicate key `{key}` (first at line {first})");
                }
            } else if d.hint.is_none() && d.line > 0 {
                d.hint = unclosed(text, d.line, d.col);
                if d.hint.is_none() && (d.message.contains("expected key") || d.message.contains("indentation")) {
                    d.hint = Some("check this line's indentation: the keys of one mapping must line up".to_string());
                }
            }
            diags.push(d);
            None
        }
    }
}

/// What the document is when it parses as YAML but is not a mapping.
fn non_mapping(text: &str) -> Option<&'static str> {
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
fn relocate_tab(text: &str, d: &mut Diagnostic) {
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
fn earlier_key(text: &str, key: &str, line: u32, col: u32) -> Option<u32> {
    let indent = col.checked_sub(1)? as usize;
    text.lines().take(line.saturating_sub(1) as usize).enumerate().find_map(|(i, l)| {
        let rest = l.get(indent..)?;
        let bare = rest.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with(':'));
        let quoted = rest.strip_prefix(&format!("\"{key}\"")).is_some_and(|r| r.trim_start().starts_with(':'));
        (l[..indent].trim_start_matches([' ', '-']).is_empty() && (bare || quoted)).then_some(i as u32 + 1)
    })
}

/// For a syntax error at `line:col`: a bracket or quote opened before it and never closed.
fn unclosed(text: &str, line: u32, col: u32) -> Option<String> {
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

/// A serde-saphyr error in berth's words.
fn to_diagnostic(path: &str, what: &str, err: &YamlError) -> Diagnostic {
    let (line, col) = err.location().filter(|l| l.line() > 0).map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
    let (message, hint) = describe(what, original(err));
    let mut d = Diagnostic::new(path, line, col, message);
    d.hint = hint;
    d
}

/// The error under snippet and alias wrappers.
fn original(mut err: &YamlError) -> &YamlError {
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
        YamlError::NullIntoString { .. } => {
            ("missing value".to_string(), Some("write \"\" for an empty string".to_string()))
        }
        YamlError::InvalidScalar { ty, .. } => (format!("expected {}", plain_expected(ty)), None),
        YamlError::Unexpected { expected: "sequence start", .. } => {
            ("expected a list".to_string(), Some("write a list: [a, b], or one `- item` per line".to_string()))
        }
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
            let message = if what == "app" {
                format!("an app file must be a mapping of keys to values, found {unexpected}")
            } else {
                format!("berth.yaml must be a mapping of keys to values, found {unexpected}")
            };
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
pub(super) fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (*c, strsim::levenshtein(word, c), strsim::jaro_winkler(word, c)))
        .filter(|(c, lev, jw)| *lev <= 2.max(c.len() / 3) || *jw >= 0.85 || (c.len() >= 3 && word.starts_with(c)))
        .min_by(|a, b| a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)))
        .map(|(c, _, _)| c)
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
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn snap(settings: Option<&str>, apps: &[(&str, &[u8])]) -> Snapshot {
        Snapshot {
            root: PathBuf::from("/nonexistent"),
            settings: settings.map(|s| SourceFile { path: "berth.yaml".into(), bytes: s.as_bytes().to_vec() }),
            apps: apps.iter().map(|(p, b)| SourceFile { path: p.to_string(), bytes: b.to_vec() }).collect(),
            credentials: vec![],
        }
    }

    fn errors(settings: Option<&str>, apps: &[(&str, &[u8])]) -> Vec<Diagnostic> {
        let (_, _, mut diags) = parse_all(&snap(settings, apps));
        attach_snippets(&snap(settings, apps), &mut diags);
        diags
    }

    fn one(app: &str) -> Diagnostic {
        let mut d = errors(None, &[("apps/web.yaml", app.as_bytes())]);
        assert_eq!(d.len(), 1, "{d:?}");
        d.remove(0)
    }

    #[test]
    fn good_files_parse() {
        let (settings, apps, diags) = parse_all(&snap(
            Some("project: demo\nregistry:\n  server: ghcr.io\n"),
            &[("apps/web.yaml", b"image: nginx\nprocesses:\n  web:\n    replicas: 2\n")],
        ));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(settings.unwrap().project.unwrap().value, "demo");
        assert_eq!(apps[0].0, "apps/web.yaml");
        assert_eq!(apps[0].1.image.as_ref().unwrap().value, "nginx");
    }

    #[test]
    fn unknown_key_suggests_nearest() {
        let d = one("imgae: nginx\n");
        assert_eq!((d.line, d.col), (1, 1));
        assert_eq!(d.message, "unknown key `imgae`");
        assert_eq!(d.hint.as_deref(), Some("did you mean `image`?"));
        assert_eq!(d.snippet.as_deref(), Some("1 | imgae: nginx\n  | ^"));

        let d = one("image: nginx\nprocesses:\n  web:\n    replica: 2\n");
        assert_eq!((d.line, d.col), (4, 5));
        assert_eq!(d.hint.as_deref(), Some("did you mean `replicas`?"));

        let d = one("image: nginx\nzzzzzzzz: 1\n");
        assert!(d.hint.unwrap().starts_with("valid keys here: name, image"));
    }

    #[test]
    fn bad_values() {
        let d = one("image: nginx\nsuspend: yes\n");
        assert_eq!((d.line, d.message.as_str(), d.hint.as_deref()), (2, "invalid boolean", Some("use true or false")));

        let d = one("image: nginx\nrestart: allways\n");
        assert_eq!(d.line, 2);
        assert!(d.message.starts_with("unknown value `allways`"), "{}", d.message);
        assert_eq!(d.hint.as_deref(), Some("did you mean `always`?"));

        let d = one("image: nginx\nprocesses:\n  web:\n    replicas: two\n");
        assert_eq!(d.line, 4);
        assert!(d.message.contains("whole number"), "{}", d.message);

        let d = one("image: nginx\nenv:\n  - A=1\n");
        assert_eq!(d.line, 3);
        assert!(d.message.contains("mapping"), "{}", d.message);

        let d = one("image: nginx\nimage: busybox\n");
        assert_eq!((d.line, d.message.as_str()), (2, "duplicate key `image` (first at line 1)"));

        let d = one("image: nginx\nenv:\n  EMPTY:\n");
        assert_eq!((d.line, d.message.as_str()), (3, "missing value"));

        let d = one("image: nginx\nresources: {cpus: lots}\n");
        assert_eq!(d.message, "expected a number");

        let d = one("image: nginx\nreplicas: 2\n");
        assert_eq!(d.hint.as_deref(), Some("`replicas` is set per process: processes: {web: {replicas: ...}}"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let d = one("image: nginx\nvolumes: [\"a:/a\"\nrestart: always\n");
        assert_eq!(d.line, 3, "{d:?}");
        assert_eq!(d.hint.as_deref(), Some("the `[` opened at line 2, column 10 is not closed with `]`"));
        let d = one("image: \"nginx\nrestart: always\n");
        assert_eq!(d.hint.as_deref(), Some("the \" opened at line 1, column 8 is not closed"));
        assert!(!d.message.contains(" at line "), "{}", d.message);
        let d = one("image: nginx\n\tenv: {}\n");
        assert_eq!((d.line, d.col, d.hint.as_deref()), (2, 1, Some("YAML indents with spaces, not tabs")), "{d:?}");
        let d = one("image: nginx\n  env: {}\n");
        assert!(d.line >= 1 && d.line <= 2, "{d:?}");
    }

    #[test]
    fn file_level_errors() {
        let d = one("# nothing\n\n");
        assert_eq!((d.line, d.message.as_str()), (0, "empty app file"));
        let d = one("- image: nginx\n");
        assert!(d.message.starts_with("an app file must be a mapping"), "{}", d.message);
        let d = errors(None, &[("apps/web.yaml", b"image: ngi\xffnx\n")]).remove(0);
        assert_eq!((d.line, d.col, d.message.as_str()), (1, 11, "file is not valid UTF-8"));
        let (settings, _, diags) = parse_all(&snap(Some("# settings later\n"), &[]));
        assert!(diags.is_empty() && settings.is_some());
    }

    #[test]
    fn every_file_reports() {
        let d = errors(Some("projekt: x\n"), &[("apps/a.yaml", b"imag: x\n"), ("apps/b.yaml", b"image: x\nport: 1\n")]);
        let at: Vec<_> = d.iter().map(|d| format!("{}:{}", d.file, d.line)).collect();
        assert_eq!(at, ["berth.yaml:1", "apps/a.yaml:1", "apps/b.yaml:2"]);
    }

    #[test]
    fn nearest_is_picky() {
        assert_eq!(nearest("imgae", &["name", "image", "build"]), Some("image"));
        assert_eq!(nearest("environment", &["env", "secret-env", "user"]), Some("env"));
        assert_eq!(nearest("zzzzzz", &["env", "image"]), None);
    }
}
