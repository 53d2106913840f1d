//! What berth reads from a remote's URL: the repository's name (the
//! default project name), the user name, and the URL as it may be shown
//! (no user, no password).

/// The URL without its user and password: `https://u:p@host/x` → `https://host/x`.
pub fn display_url(url: &str) -> String {
    match authority(url) {
        Some((start, end)) => match url[start..end].rfind('@') {
            Some(at) => format!("{}{}", &url[..start], &url[start + at + 1..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The repository's name: the URL's last path segment without `.git`
/// (`https://host/org/infra.git`, `git@host:org/infra.git`,
/// `/srv/git/infra/` → `infra`).
pub fn repository_name(url: &str) -> String {
    let shown = display_url(url);
    let path = shown.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    let last = path.rsplit(['/', ':']).next().unwrap_or(path);
    let last = last.strip_suffix(".git").unwrap_or(last);
    last.trim_end_matches('/').to_string()
}

/// The user name in the URL (`https://bob@host/x` → `bob`), if any.
pub(super) fn user(url: &str) -> Option<String> {
    let (start, end) = authority(url)?;
    let info = &url[start..start + url[start..end].rfind('@')?];
    let user = info.split(':').next().unwrap_or(info);
    (!user.is_empty()).then(|| user.to_string())
}

/// The password in the URL (`https://bob:pw@host/x` → `pw`), if any.
pub(super) fn password(url: &str) -> Option<String> {
    let (start, end) = authority(url)?;
    let info = &url[start..start + url[start..end].rfind('@')?];
    info.split_once(':').map(|(_, p)| p.to_string()).filter(|p| !p.is_empty())
}

/// Where the authority (`user:pw@host:port`) of a `scheme://` URL is.
fn authority(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_last_segment_without_git() {
        for (url, name) in [
            ("https://host/org/infra.git", "infra"),
            ("https://host/org/infra", "infra"),
            ("https://host/org/infra.git/", "infra"),
            ("https://bob:pw@host:8443/a/b/infra.git?x=1", "infra"),
            ("ssh://git@host:2222/org/infra.git", "infra"),
            ("git@github.com:org/infra.git", "infra"),
            ("git@host:infra.git", "infra"),
            ("file:///srv/git/infra.git", "infra"),
            ("/srv/git/infra/", "infra"),
            ("../infra.git", "infra"),
        ] {
            assert_eq!(repository_name(url), name, "{url}");
        }
    }

    #[test]
    fn user_and_password_are_read_and_never_shown() {
        let url = "https://bob:s3cret@host/org/infra.git";
        assert_eq!(display_url(url), "https://host/org/infra.git");
        assert_eq!(user(url).as_deref(), Some("bob"));
        assert_eq!(password(url).as_deref(), Some("s3cret"));
        assert_eq!(user("https://host/x"), None);
        assert_eq!(password("https://bob@host/x"), None);
        assert_eq!(display_url("git@host:org/x.git"), "git@host:org/x.git", "scp-like: the user is no secret");
        assert_eq!(display_url("https://host/a@b"), "https://host/a@b", "an @ in the path stays");
    }
}
