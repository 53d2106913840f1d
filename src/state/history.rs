//! Release history, per app: which images were deployed (numbered 1, 2, 3,
//! … per app), which build images are known to be in their registry, and
//! a rollback pin. One small JSON file per app under
//! `<state dir>/history/<project>/`, replaced atomically.
//!
//! The planner reads it as part of the observed state; `apply` writes it
//! only after the step it records succeeded (a release number moves only
//! after its push did), so a failure never leaves a gap. For
//! `push-on-release` apps the registry's tags are the authority for the
//! next number: a lost state folder does not reuse a number.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;

/// What berth remembers about one app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppHistory {
    /// Deployed images, oldest first.
    #[serde(default)]
    pub releases: Vec<Release>,
    /// Build images (`<repository>:<tag>`) known to be in their registry:
    /// pushed by berth, or pulled from there.
    #[serde(default)]
    pub pushed: BTreeSet<String>,
    /// Set by `berth rollback`: run this release instead of the
    /// repository's image, as long as the repository's image stays the one
    /// it was when the rollback was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,
}

/// One deploy of a new image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub number: u32,
    /// The image the containers ran (normalized reference).
    pub image: String,
    /// For a build app, the build image it came from (`<repository>:<tag>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

/// A rollback in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub release: u32,
    pub image: String,
    /// The repository's image for the app when the rollback was made.
    pub while_repo_image: String,
}

impl AppHistory {
    /// The number the next release gets, from this history alone.
    pub fn next_number(&self) -> u32 {
        self.releases.iter().map(|r| r.number).max().unwrap_or(0) + 1
    }
    /// The release with `number`.
    pub fn release(&self, number: u32) -> Option<&Release> {
        self.releases.iter().rev().find(|r| r.number == number)
    }
    /// The newest release of `image`.
    pub fn release_of_image(&self, image: &str) -> Option<&Release> {
        self.releases.iter().rev().find(|r| r.image == image)
    }
    /// The newest release made from the build image `artifact`.
    pub fn release_of_artifact(&self, artifact: &str) -> Option<&Release> {
        self.releases.iter().rev().find(|r| r.artifact.as_deref() == Some(artifact))
    }
}

/// The history files of one project.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

impl History {
    /// `<state dir>/history/<project>`.
    pub fn of(project: &str) -> Self {
        Self { dir: super::state_dir().join("history").join(project) }
    }

    /// Every app's history; none yet is an empty map.
    pub fn load(&self) -> io::Result<BTreeMap<String, AppHistory>> {
        let mut out = BTreeMap::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            let Some(app) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            out.insert(app.to_string(), read(&path)?);
        }
        Ok(out)
    }

    /// One app's history.
    pub fn app(&self, app: &str) -> io::Result<AppHistory> {
        let path = self.dir.join(format!("{app}.json"));
        match read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(AppHistory::default()),
            other => other,
        }
    }

    /// Change one app's history and write it back atomically (a temporary
    /// file renamed over the old one). Callers hold the project lock.
    pub fn update(&self, app: &str, change: impl FnOnce(&mut AppHistory)) -> io::Result<AppHistory> {
        let mut h = self.app(app)?;
        change(&mut h);
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("{app}.json"));
        let tmp = self.dir.join(format!(".{app}.json.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&h).map_err(io::Error::other)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(h)
    }

    /// Record a release: `number`, or the next one of this history.
    pub fn record_release(
        &self,
        app: &str,
        number: Option<u32>,
        image: &str,
        artifact: Option<&str>,
    ) -> io::Result<AppHistory> {
        self.update(app, |h| {
            let number = number.unwrap_or_else(|| h.next_number());
            let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            h.releases.retain(|r| r.number != number);
            h.releases.push(Release { number, image: image.into(), artifact: artifact.map(Into::into), at });
            h.releases.sort_by_key(|r| r.number);
            // A new release supersedes a rollback; a rollback records its own pin after this.
            h.pin = None;
        })
    }
}

fn read(path: &std::path::Path) -> io::Result<AppHistory> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_number_per_app_and_survive_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let h = History { dir: dir.path().join("p") };
        assert!(h.load().unwrap().is_empty());
        h.record_release("web", None, "a:1", Some("a:abc")).unwrap();
        h.record_release("web", Some(5), "a:5", Some("a:def")).unwrap();
        h.record_release("web", None, "a:6", None).unwrap();
        h.update("web", |a| {
            a.pushed.insert("a:abc".into());
        })
        .unwrap();
        h.record_release("worker", None, "w:1", None).unwrap();
        let all = h.load().unwrap();
        let web = &all["web"];
        assert_eq!(web.releases.iter().map(|r| r.number).collect::<Vec<_>>(), vec![1, 5, 6]);
        assert_eq!(web.release_of_artifact("a:def").unwrap().number, 5);
        assert!(web.pushed.contains("a:abc"));
        assert_eq!(all["worker"].next_number(), 2);
    }

    #[test]
    fn a_new_release_clears_a_pin() {
        let dir = tempfile::tempdir().unwrap();
        let h = History { dir: dir.path().to_path_buf() };
        h.update("web", |a| a.pin = Some(Pin { release: 1, image: "a:1".into(), while_repo_image: "a:2".into() }))
            .unwrap();
        assert!(h.app("web").unwrap().pin.is_some());
        assert!(h.record_release("web", None, "a:3", None).unwrap().pin.is_none());
    }
}
