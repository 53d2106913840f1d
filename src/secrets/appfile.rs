//! App files as text: point an app at a credential for `registry login --app`.
//!
//! Edits are minimal and line-based, so comments, order and formatting of the
//! rest of the file stay as the user wrote them: a `credential:` line is added
//! to, replaced in, or removed from a top-level block (`pull:` or
//! `registry:`), written in block style or as a one-line `{…}` flow mapping.
//! Every edit is checked by parsing the result; what cannot be edited safely
//! is refused with a message saying what to write by hand.

use crate::source::SourceFile;
use crate::spec::AppSpec;

#[derive(Debug, thiserror::Error)]
pub enum AppFileError {
    #[error("no app `{app}` in apps/ (no file apps/{app}.yaml and no app file with `name: {app}`)")]
    NotFound { app: String },
    #[error("several app files define `{app}`: {}", .files.join(", "))]
    Ambiguous { app: String, files: Vec<String> },
    #[error("{file} does not parse; fix it first (`berth validate`)")]
    Unparsable { file: String },
    #[error("failed to edit {file} automatically; set `{block}.credential: {name}` in it by hand")]
    CannotEdit { file: String, block: String, name: String },
}

/// The app file of `app`: the one whose `name:` is `app`, else whose stem is.
pub fn find_app_file<'a>(apps: &'a [SourceFile], app: &str) -> Result<&'a SourceFile, AppFileError> {
    let named: Vec<&SourceFile> = apps.iter().filter(|f| parse(f).is_some_and(|s| app_name(f, &s) == app)).collect();
    let found = if named.is_empty() { apps.iter().filter(|f| stem(&f.path) == app).collect() } else { named };
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(AppFileError::NotFound { app: app.to_string() }),
        many => Err(AppFileError::Ambiguous { app: app.into(), files: many.iter().map(|f| f.path.clone()).collect() }),
    }
}

/// The app file parsed, if it parses.
pub fn parse(file: &SourceFile) -> Option<AppSpec> {
    let text = std::str::from_utf8(&file.bytes).ok()?;
    serde_saphyr::from_str::<AppSpec>(text).ok()
}

fn app_name(file: &SourceFile, spec: &AppSpec) -> String {
    spec.name.as_ref().map_or_else(|| stem(&file.path).to_string(), |n| n.value.clone())
}

fn stem(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.strip_suffix(".yaml").or_else(|| base.strip_suffix(".yml")).unwrap_or(base)
}

/// `text` with `<block>.credential: <name>` set (added or replaced), checked by parsing.
pub fn set_credential(file: &str, text: &str, block: &str, name: &str) -> Result<String, AppFileError> {
    let cannot = || AppFileError::CannotEdit { file: file.into(), block: block.into(), name: name.into() };
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    match find_block(&lines, block) {
        None => {
            if lines.last().is_some_and(|l| !l.ends_with('\n')) {
                lines.last_mut().unwrap().push('\n');
            }
            lines.push(format!("{block}:\n  credential: {name}\n"));
        }
        Some(Block::Flow { line, entries }) => {
            let mut entries: Vec<String> = entries.into_iter().filter(|e| key_of(e) != Some("credential")).collect();
            entries.push(format!("credential: {name}"));
            lines[line] = format!("{block}: {{{}}}\n", entries.join(", "));
        }
        Some(Block::Lines { line, children, indent }) => {
            let existing = children.iter().find(|&&i| is_child_key(&lines[i], &indent, "credential"));
            let new = format!("{indent}credential: {name}\n");
            match existing {
                Some(&i) => lines[i] = new,
                None => lines.insert(line + 1, new),
            }
        }
        Some(Block::Other) => return Err(cannot()),
    }
    let out = lines.concat();
    let spec = serde_saphyr::from_str::<AppSpec>(&out).map_err(|_| cannot())?;
    (credential_of(&spec, block) == Some(name)).then_some(out).ok_or_else(cannot)
}

/// `text` without `<block>.credential: <name>` (a block left empty goes too);
/// `None` when it does not say that.
pub fn remove_credential(text: &str, block: &str, name: &str) -> Option<String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    match find_block(&lines, block)? {
        Block::Flow { line, entries } => {
            let keep: Vec<String> =
                entries.iter().filter(|e| !(key_of(e) == Some("credential") && value_of(e) == name)).cloned().collect();
            if keep.len() == entries.len() {
                return None;
            }
            if keep.is_empty() {
                lines.remove(line);
            } else {
                lines[line] = format!("{block}: {{{}}}\n", keep.join(", "));
            }
        }
        Block::Lines { line, children, indent } => {
            let &i = children.iter().find(|&&i| {
                is_child_key(&lines[i], &indent, "credential")
                    && value_of(lines[i].trim().strip_prefix("credential:").unwrap_or_default()) == name
            })?;
            lines.remove(i);
            if children.len() == 1 {
                lines.remove(line);
            }
        }
        Block::Other => return None,
    }
    Some(lines.concat())
}

/// The credential an app spec names in `block`.
fn credential_of<'a>(spec: &'a AppSpec, block: &str) -> Option<&'a str> {
    let c = match block {
        "pull" => spec.pull.as_ref()?.credential.as_ref(),
        "registry" => spec.registry.as_ref()?.credential.as_ref(),
        _ => None,
    };
    c.map(|c| c.value.as_str())
}

enum Block {
    /// `block:` then indented lines: the block's line, its children's lines, their indent.
    Lines { line: usize, children: Vec<usize>, indent: String },
    /// `block: {a: b, c: d}` on one line.
    Flow { line: usize, entries: Vec<String> },
    /// Anything else (`block: null`, multi-line flow, an anchor): not edited.
    Other,
}

fn find_block(lines: &[String], block: &str) -> Option<Block> {
    let line = lines.iter().position(|l| l.strip_prefix(block).is_some_and(|r| r.starts_with(':')))?;
    let rest = strip_comment(&lines[line][block.len() + 1..]).trim();
    if rest.is_empty() {
        let mut children = Vec::new();
        for (i, l) in lines.iter().enumerate().skip(line + 1) {
            let t = l.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if !l.starts_with([' ', '\t']) {
                break;
            }
            children.push(i);
        }
        let indent = children.first().map_or("  ".to_string(), |&i| {
            let l = &lines[i];
            l[..l.len() - l.trim_start().len()].to_string()
        });
        return Some(Block::Lines { line, children, indent });
    }
    let inner = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}'));
    match inner {
        Some(inner) if !inner.contains(['{', '}', '[', ']', '"', '\'', '&', '*']) => {
            let entries = inner.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect();
            Some(Block::Flow { line, entries })
        }
        _ => Some(Block::Other),
    }
}

fn is_child_key(line: &str, indent: &str, key: &str) -> bool {
    line.strip_prefix(indent).is_some_and(|r| !r.starts_with([' ', '\t']) && key_of(r) == Some(key))
}

/// `key` of `key: value`.
fn key_of(entry: &str) -> Option<&str> {
    let (k, _) = entry.split_once(':')?;
    Some(k.trim().trim_matches(['"', '\'']))
}

/// The scalar after `key:` (or a bare value), comment and quotes removed.
fn value_of(entry: &str) -> &str {
    let v = entry.split_once(':').map_or(entry, |(_, v)| v);
    strip_comment(v).trim().trim_matches(['"', '\''])
}

fn strip_comment(s: &str) -> &str {
    match s.find(" #") {
        Some(i) => &s[..i],
        None if s.trim_start().starts_with('#') => "",
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, block: &str) -> String {
        set_credential("apps/web.yaml", text, block, "web-ghcr-io").unwrap()
    }

    #[test]
    fn appends_a_block() {
        assert_eq!(set("image: nginx", "pull"), "image: nginx\npull:\n  credential: web-ghcr-io\n");
        let once = set("image: nginx\n", "pull");
        assert_eq!(remove_credential(&once, "pull", "web-ghcr-io").unwrap(), "image: nginx\n");
    }

    #[test]
    fn edits_a_block_in_place() {
        let text = "image: nginx # the app\npull:\n    policy: always  # keep\nenv: {A: b}\n";
        let out = set(text, "pull");
        assert_eq!(
            out,
            "image: nginx # the app\npull:\n    credential: web-ghcr-io\n    policy: always  # keep\nenv: {A: b}\n"
        );
        let replaced = set(&out.replace("web-ghcr-io", "old"), "pull");
        assert_eq!(replaced, out);
        assert_eq!(remove_credential(&out, "pull", "web-ghcr-io").unwrap(), text);
        assert_eq!(remove_credential(&out, "pull", "other"), None);
    }

    #[test]
    fn edits_flow_mappings() {
        let out = set("image: nginx\npull: {policy: always}\n", "pull");
        assert_eq!(out, "image: nginx\npull: {policy: always, credential: web-ghcr-io}\n");
        assert_eq!(remove_credential(&out, "pull", "web-ghcr-io").unwrap(), "image: nginx\npull: {policy: always}\n");
        let out = set("image: nginx\npull: {credential: old}\n", "pull");
        assert_eq!(remove_credential(&out, "pull", "web-ghcr-io").unwrap(), "image: nginx\n");
    }

    #[test]
    fn registry_block() {
        let text = "build: {context: .}\nregistry:\n  server: ghcr.io\n  image-repo: acme/web\n";
        let out = set(text, "registry");
        assert!(out.contains("registry:\n  credential: web-ghcr-io\n  server: ghcr.io\n"), "{out}");
    }

    #[test]
    fn refuses_what_it_cannot_edit() {
        let e = set_credential("apps/web.yaml", "image: nginx\npull: &p {policy: always}\n", "pull", "x");
        assert!(matches!(e, Err(AppFileError::CannotEdit { .. })), "{e:?}");
    }

    #[test]
    fn finds_by_name_or_stem() {
        let f = |p: &str, t: &str| SourceFile { path: p.into(), bytes: t.as_bytes().to_vec() };
        let apps = [
            f("apps/a.yaml", "name: web\nimage: x\n"),
            f("apps/web.yml", "name: other\nimage: x\n"),
            f("apps/b/c.yaml", "image: x\n"),
        ];
        assert_eq!(find_app_file(&apps, "web").unwrap().path, "apps/a.yaml");
        assert_eq!(find_app_file(&apps, "c").unwrap().path, "apps/b/c.yaml");
        assert!(matches!(find_app_file(&apps, "nope"), Err(AppFileError::NotFound { .. })));
    }
}
