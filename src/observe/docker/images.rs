//! Image work through the engine: build (from a streamed tar context), push,
//! tag, and platform lookups.

use super::DockerEngine;
use crate::observe::{BuildLog, BuildRequest, EngineError, PullAuth};

pub(super) async fn build(
    _e: &DockerEngine,
    _req: &BuildRequest,
    _context: crate::source::ContextStream,
    _log: BuildLog,
) -> Result<String, EngineError> {
    todo!("helper: docker images")
}

pub(super) async fn push(_e: &DockerEngine, _image: &str, _auth: Option<&PullAuth>) -> Result<String, EngineError> {
    todo!("helper: docker images")
}

pub(super) async fn tag(_e: &DockerEngine, _image: &str, _new_ref: &str) -> Result<(), EngineError> {
    todo!("helper: docker images")
}

pub(super) async fn image_platform(_e: &DockerEngine, _image: &str) -> Result<Option<String>, EngineError> {
    todo!("helper: docker images")
}

pub(super) async fn engine_platform(_e: &DockerEngine) -> Result<String, EngineError> {
    todo!("helper: docker images")
}
