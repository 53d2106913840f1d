//! Build contexts: which files a build sends, and the tag they earn.
//!
//! A build's context is the committed git tree of `build.context` (SPEC
//! §3.3): the image tag is the 12-hex id of the newest commit that changed
//! that folder, so commits elsewhere never cause a rebuild. Uncommitted
//! changes in the folder (or no git at all) fall back to the working tree and
//! a content-hash tag. `.dockerignore` is honoured in both cases. The tar is
//! produced on a blocking thread and streamed in chunks: a large context is
//! never held in memory whole.

use bytes::Bytes;
use futures_util::Stream;
use std::path::Path;
use std::pin::Pin;

/// A build context as tar bytes, in order.
pub type ContextStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static>>;

/// Where a build's files come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "from")]
pub enum ContextVersion {
    /// The committed tree at `id` (40 hex), the newest commit that changed the context.
    Commit { id: String },
    /// The working tree, with a hash (64 hex) of exactly the files sent.
    /// `why`: uncommitted changes in the context, or no git repository.
    WorkingTree { hash: String, why: String },
}

impl ContextVersion {
    /// The image tag: 12 hex of the commit id or of the content hash.
    pub fn tag(&self) -> String {
        match self {
            Self::Commit { id } => id[..12.min(id.len())].to_string(),
            Self::WorkingTree { hash, .. } => hash[..12.min(hash.len())].to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("build context `{context}` {problem}")]
    Invalid { context: String, problem: String },
    #[error("failed to read build context `{context}`: {message}")]
    Read { context: String, message: String },
}

/// Decide where the files of `context` (repository-relative, `/`-separated,
/// already checked not to escape) come from, and their tag.
pub fn context_version(_root: &Path, _context: &str) -> Result<ContextVersion, ContextError> {
    todo!("helper: source/context")
}

/// Stream the context as tar: the committed tree of `version` (or the
/// working tree), minus what `.dockerignore` excludes (the Dockerfile and
/// `.dockerignore` are always sent, as the docker CLI does).
pub fn context_tar(
    _root: &Path,
    _context: &str,
    _dockerfile: &str,
    _version: &ContextVersion,
) -> Result<ContextStream, ContextError> {
    todo!("helper: source/context")
}
