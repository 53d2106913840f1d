//! What is not committed: `git status` under a folder of the work tree —
//! modified, staged, deleted and untracked files, never ignored ones.
//! Submodules are not sent with a context, so not weighed.

/// Paths (relative to the work tree, `/`-separated, sorted) with
/// uncommitted changes at or under any of `prefixes` (work-tree-relative,
/// `/`-separated; `""` is the whole work tree).
pub(super) fn uncommitted(repo: &git2::Repository, prefixes: &[&str]) -> Result<Vec<String>, git2::Error> {
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .include_unmodified(false)
        .exclude_submodules(true)
        .disable_pathspec_match(true);
    if !prefixes.contains(&"") {
        for p in prefixes {
            options.pathspec(p);
        }
    }
    let statuses = repo.statuses(Some(&mut options))?;
    let mut out: Vec<String> = statuses
        .iter()
        .filter(|s| s.status() != git2::Status::CURRENT && !s.status().is_ignored())
        .map(|s| String::from_utf8_lossy(s.path_bytes()).into_owned())
        .filter(|p| prefixes.iter().any(|prefix| below(p, prefix).is_some()))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// `path` relative to `prefix` when it is `prefix` itself (`""`) or below it.
pub(super) fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(path);
    }
    match path.strip_prefix(prefix) {
        Some("") => Some(""),
        Some(rest) => rest.strip_prefix('/'),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn below_matches_whole_components() {
        use super::below;
        assert_eq!(below("app/a.txt", "app"), Some("a.txt"));
        assert_eq!(below("app", "app"), Some(""));
        assert_eq!(below("app2/a.txt", "app"), None);
        assert_eq!(below("x/app/a", "app"), None);
        assert_eq!(below("a/b", ""), Some("a/b"));
    }
}
