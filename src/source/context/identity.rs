//! A build image's identity: a sha256 over every input of the build — the
//! content id of the files sent (the Dockerfile among them), the Dockerfile
//! path, `build.args`, `build.target` and `platform`. The image tag is its
//! first [`TAG_LEN`] hex digits; the inputs ride along as the image's
//! `berth.build` label, so a later plan can say which of them changed.
//!
//! Not inputs: the context's folder name or place (the same files build the
//! same image), commits (content is what counts), and `build.credentials`
//! (who may pull a base image does not change what is built).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Hex digits of the identity in an image tag (48 bits: a collision among
/// one app's builds is not a practical concern, and the tag stays short).
pub const TAG_LEN: usize = 12;

/// Everything a build depends on; its JSON is the image's `berth.build` label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInputs {
    /// Content id of the files sent (see `ContextVersion::content`).
    pub content: String,
    /// Dockerfile path, relative to the context.
    pub dockerfile: String,
    /// Git blob id of the Dockerfile, and the content id of the other
    /// files: both covered by `content` already, kept to say what changed.
    pub dockerfile_blob: String,
    #[serde(default)]
    pub other_files: String,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

impl BuildInputs {
    /// sha256 (64 hex) over a framed encoding of every input: each value is
    /// length-prefixed, so no two different sets encode alike.
    pub fn identity(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |name: &str, value: Option<&str>| {
            h.update(name.as_bytes());
            match value {
                Some(v) => h.update(format!("={}:{v}\n", v.len()).as_bytes()),
                None => h.update(b"-\n"),
            }
        };
        field("berth-build", Some("v1"));
        field("content", Some(&self.content));
        field("dockerfile", Some(&self.dockerfile));
        field("args", Some(&self.args.len().to_string()));
        for (k, v) in &self.args {
            field("arg", Some(k));
            field("value", Some(v));
        }
        field("target", self.target.as_deref());
        field("platform", self.platform.as_deref());
        hex::encode(h.finalize())
    }

    /// What differs from `old`, in the words of the spec: `args.RELEASE`,
    /// `target`, `platform`, `dockerfile` (path), `Dockerfile content`,
    /// `context files`.
    pub fn changes_from(&self, old: &BuildInputs) -> Vec<String> {
        let mut out = Vec::new();
        let keys: std::collections::BTreeSet<&String> = self.args.keys().chain(old.args.keys()).collect();
        out.extend(keys.into_iter().filter(|k| self.args.get(*k) != old.args.get(*k)).map(|k| format!("args.{k}")));
        if self.target != old.target {
            out.push("target".into());
        }
        if self.platform != old.platform {
            out.push("platform".into());
        }
        if self.dockerfile != old.dockerfile {
            out.push("dockerfile".into());
        } else if self.dockerfile_blob != old.dockerfile_blob {
            out.push("Dockerfile content".into());
        }
        if self.other_files != old.other_files {
            out.push("context files".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> BuildInputs {
        BuildInputs {
            content: "c".repeat(64),
            dockerfile: "Dockerfile".into(),
            dockerfile_blob: "d".repeat(40),
            other_files: "o".repeat(64),
            args: [("RELEASE".to_string(), "1".to_string())].into(),
            target: None,
            platform: None,
        }
    }

    #[test]
    fn every_input_changes_the_identity() {
        let base = inputs();
        assert_eq!(base.identity(), inputs().identity(), "the same inputs, the same identity");
        assert_eq!(base.identity().len(), 64);
        let variants: Vec<(BuildInputs, Vec<&str>)> = vec![
            (BuildInputs { content: "e".repeat(64), other_files: "p".repeat(64), ..inputs() }, vec!["context files"]),
            (BuildInputs { dockerfile: "prod.Dockerfile".into(), ..inputs() }, vec!["dockerfile"]),
            (BuildInputs { args: [("RELEASE".into(), "2".into())].into(), ..inputs() }, vec!["args.RELEASE"]),
            (BuildInputs { args: BTreeMap::new(), ..inputs() }, vec!["args.RELEASE"]),
            (BuildInputs { target: Some("runtime".into()), ..inputs() }, vec!["target"]),
            (BuildInputs { platform: Some("linux/arm64".into()), ..inputs() }, vec!["platform"]),
        ];
        for (changed, what) in variants {
            assert_ne!(changed.identity(), base.identity(), "{what:?}");
            assert_eq!(changed.changes_from(&base), what);
        }
        // The Dockerfile's content is part of the content id; told apart.
        let dockerfile = BuildInputs { content: "e".repeat(64), dockerfile_blob: "f".repeat(40), ..inputs() };
        assert_eq!(dockerfile.changes_from(&base), ["Dockerfile content"]);
        // Blob ids alone are not inputs: the content id covers them.
        let relabelled = BuildInputs { dockerfile_blob: "f".repeat(40), other_files: String::new(), ..inputs() };
        assert_eq!(relabelled.identity(), base.identity());
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        let a = BuildInputs { args: [("A".into(), "1\narg=B:1".into())].into(), ..inputs() };
        let b = BuildInputs { args: [("A".into(), "1".into()), ("B".into(), "1".into())].into(), ..inputs() };
        assert_ne!(a.identity(), b.identity());
        let empty = BuildInputs { target: Some(String::new()), ..inputs() };
        assert_ne!(empty.identity(), inputs().identity(), "an empty target is not no target");
    }

    #[test]
    fn the_label_round_trips() {
        let json = serde_json::to_string(&inputs()).unwrap();
        assert_eq!(serde_json::from_str::<BuildInputs>(&json).unwrap(), inputs());
    }
}
