//! Releases and rollback pins as every machine sees them: on the engine and
//! in the registry, never only in one machine's state dir.
//!
//! - A release is recorded by tagging its image on the engine
//!   `berth.local/<project>/<app>:<N>` (a local tag, never pushed; the
//!   newest [`KEPT`] per app are kept, so old images can go). A
//!   `push-on-release` app's releases are also its registry's integer tags.
//! - The containers of an app carry the release they run (`berth.release`)
//!   and, after `berth rollback`, the pin in force (`berth.pin*`).
//! - A build image is pushed once the engine knows a digest of it in its
//!   repository (`RepoDigests`, set by a push or a pull).
//!
//! These are plain functions of `Observed`: the planner reads them without I/O.

use super::{Observed, ObservedContainer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The registry host of release tags: a name that resolves nowhere, so
/// nothing is ever pushed there by mistake.
pub const HOST: &str = "berth.local";
/// Release tags kept per app on the engine.
pub const KEPT: usize = 10;

/// A rollback in force: run release `release` (`image`) instead of the
/// repository's image, while the repository's image stays `while_repo_image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Pin {
    pub release: u32,
    pub image: String,
    /// The repository's image for the app when the rollback was made.
    pub while_repo_image: String,
}

/// `berth.local/<project>/<app>`: the repository of an app's release tags.
pub fn release_repository(project: &str, app: &str) -> String {
    format!("{HOST}/{project}/{app}")
}

/// `berth.local/<project>/<app>:<n>`.
pub fn release_tag(project: &str, app: &str, n: u32) -> String {
    format!("{}:{n}", release_repository(project, app))
}

/// `5` → 5: release tags are plain decimal numbers.
pub fn release_number(tag: &str) -> Option<u32> {
    (!tag.is_empty() && tag.len() < 10 && tag.bytes().all(|c| c.is_ascii_digit())).then(|| tag.parse().ok()).flatten()
}

impl Observed {
    /// `<repository>:<number>` tags on the engine → image id.
    pub fn numbered_tags(&self, repository: &str) -> BTreeMap<u32, &str> {
        let prefix = format!("{repository}:");
        self.images
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, id)| release_number(&k[prefix.len()..]).map(|n| (n, id.as_str())))
            .collect()
    }

    /// An app's releases recorded on the engine: number → image id.
    pub fn releases(&self, project: &str, app: &str) -> BTreeMap<u32, &str> {
        self.numbered_tags(&release_repository(project, app))
    }

    /// Whether the engine knows the image `image_id` by a digest in
    /// `repository`: it was pushed there (or pulled from there).
    pub fn pushed(&self, repository: &str, image_id: &str) -> bool {
        let prefix = format!("{repository}@");
        self.images.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)).any(|(_, id)| id == image_id)
    }

    /// The app's containers.
    fn of_app<'a>(&'a self, app: &'a str) -> impl Iterator<Item = &'a ObservedContainer> + 'a {
        self.containers.iter().filter(move |c| c.app == app)
    }

    /// The release the app's containers run (the newest, when they differ).
    pub fn running_release(&self, app: &str) -> Option<u32> {
        self.of_app(app).filter_map(|c| c.release).max()
    }

    /// The rollback pin the app's containers carry, if any.
    pub fn pin(&self, app: &str) -> Option<&Pin> {
        self.containers.iter().filter(|c| c.app == app).find_map(|c| c.pin.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_come_from_numbered_tags_of_the_app() {
        let o = Observed {
            images: [
                ("berth.local/p/web:1", "sha256:a"),
                ("berth.local/p/web:12", "sha256:b"),
                ("berth.local/p/web:latest", "sha256:b"),
                ("berth.local/p/web-api:3", "sha256:c"),
                ("registry.example.com/app-web@sha256:d1", "sha256:b"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..Default::default()
        };
        assert_eq!(o.releases("p", "web"), BTreeMap::from([(1, "sha256:a"), (12, "sha256:b")]));
        assert!(o.pushed("registry.example.com/app-web", "sha256:b"));
        assert!(!o.pushed("registry.example.com/app-web", "sha256:a"));
        assert!(!o.pushed("registry.example.com/app", "sha256:b"), "another repository");
    }
}
