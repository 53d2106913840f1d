//! `.dockerignore` with Docker's semantics (moby `patternmatcher` and
//! `ignorefile`): one pattern per line, `#` comments, `!` exceptions, the
//! last matching pattern wins, and a pattern matching a parent directory
//! matches everything under it.

use globset::{GlobBuilder, GlobMatcher};

/// One parsed pattern.
struct Pattern {
    /// The whole pattern, matched against a path or one of its parents.
    matcher: GlobMatcher,
    /// `!pattern`: re-includes what earlier patterns excluded.
    exclusion: bool,
    /// Per `/`-component matchers, to tell whether an exception could match
    /// something under an excluded directory.
    components: Vec<Component>,
}

enum Component {
    /// Contains `**` (or could not be compiled alone): may match any depth.
    Any,
    Glob(GlobMatcher),
}

/// The patterns of one `.dockerignore`.
#[derive(Default)]
pub(super) struct DockerIgnore {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl DockerIgnore {
    /// Parse the file's text as moby's `ignorefile.ReadAll` then
    /// `patternmatcher.New` do. The error names the offending line.
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let mut out = DockerIgnore::default();
        for (n, line) in text.lines().enumerate() {
            let line = if n == 0 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
            // Comments are recognised before trimming, as moby does.
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let exclusion = pattern.starts_with('!');
            if exclusion {
                pattern = pattern[1..].trim();
            }
            let mut cleaned = if pattern.is_empty() { String::new() } else { clean(pattern) };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            if exclusion && cleaned.is_empty() {
                return Err(format!("line {}: illegal exclusion pattern \"!\"", n + 1));
            }
            let pattern = Pattern::new(&cleaned, exclusion).map_err(|e| format!("line {}: {e}", n + 1))?;
            out.exclusions |= exclusion;
            out.patterns.push(pattern);
        }
        Ok(out)
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded:
    /// moby's `MatchesOrParentMatches`.
    pub(super) fn excludes(&self, path: &str) -> bool {
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut matched = false;
        for pattern in &self.patterns {
            // An exclusion only matters once matched, an inclusion only before.
            if pattern.exclusion != matched {
                continue;
            }
            let hit = pattern.matcher.is_match(path) || parents.iter().any(|p| pattern.matcher.is_match(p));
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether an exception (`!pattern`) could re-include something strictly
    /// under the directory `dir`: then an excluded `dir` must still be walked.
    /// (A pattern with no more components than `dir` and no `**` can only
    /// match `dir` or its parents, which `excludes(dir)` already weighed.)
    pub(super) fn exception_under(&self, dir: &str) -> bool {
        if !self.exclusions {
            return false;
        }
        let dirs: Vec<&str> = dir.split('/').collect();
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            for (i, d) in dirs.iter().enumerate() {
                match p.components.get(i) {
                    None => return false,
                    Some(Component::Any) => return true,
                    Some(Component::Glob(g)) if !g.is_match(d) => return false,
                    Some(Component::Glob(_)) => {}
                }
            }
            p.components.len() > dirs.len()
        })
    }
}

impl Pattern {
    fn new(cleaned: &str, exclusion: bool) -> Result<Self, String> {
        // patternmatcher.New cleans once more (with the `!` already stripped
        // by ignorefile, this is the same as cleaning the pattern itself).
        let cleaned = clean(cleaned);
        let matcher = glob(&cleaned)?;
        let components = cleaned
            .split('/')
            .map(|c| if c.contains("**") { Component::Any } else { glob(c).map_or(Component::Any, Component::Glob) })
            .collect();
        Ok(Pattern { matcher, exclusion, components })
    }
}

/// Compile a moby pattern with globset. moby has no `{a,b}` alternation:
/// braces are literal there, so they are escaped here.
fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    let mut negated = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                match chars.next() {
                    Some(n) => out.push(n),
                    None => out.push('\\'), // a trailing `\` is literal
                }
                class_start = false;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                negated = false;
                out.push(c);
                continue;
            }
            ']' if in_class && !class_start => in_class = false,
            '!' | '^' if class_start && !negated => {
                negated = true;
                out.push(c);
                continue; // `]` right after a negation is still literal
            }
            '{' | '}' if !in_class => out.push('\\'),
            _ => {}
        }
        class_start = false;
        out.push(c);
    }
    GlobBuilder::new(&out)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad pattern `{pattern}`: {e}"))
}

/// Go's `path.Clean`: collapse `//`, drop `.`, resolve `..` lexically,
/// drop a trailing `/`; empty becomes `.`.
pub(super) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// What the walk does with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Sent (a directory is also walked into).
    Send,
    /// Not sent, and a directory is not walked into.
    Skip,
    /// An excluded directory that may hold exceptions: not sent itself, but
    /// walked into.
    Descend,
}

/// `.dockerignore` plus the files always sent (the Dockerfile and
/// `.dockerignore` itself, as the docker CLI adds them back as exceptions).
pub(super) struct Filter {
    ignore: DockerIgnore,
    keep: Vec<String>,
}

impl Filter {
    pub(super) fn new(ignore: DockerIgnore, dockerfile: &str) -> Self {
        Filter { ignore, keep: vec![dockerfile.to_string(), ".dockerignore".to_string()] }
    }

    pub(super) fn decide(&self, path: &str, is_dir: bool) -> Decision {
        if !is_dir && self.keep.iter().any(|k| k == path) {
            return Decision::Send;
        }
        if !self.ignore.excludes(path) {
            return Decision::Send;
        }
        if !is_dir {
            return Decision::Skip;
        }
        let holds_kept =
            self.keep.iter().any(|k| k.len() > path.len() && k.starts_with(path) && k.as_bytes()[path.len()] == b'/');
        if holds_kept || self.ignore.exception_under(path) {
            Decision::Descend
        } else {
            Decision::Skip
        }
    }
}
