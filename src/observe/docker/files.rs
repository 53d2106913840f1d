//! Repository files into a volume, through the engine alone.
//!
//! The engine's import API makes an empty image (`berth/empty:1`, once per
//! engine); a container of it that is never started mounts the volume, and
//! the files go in as a tar through the archive API (`PUT
//! /containers/{id}/archive`). No host path and no pulled image is
//! involved, so a remote engine (`DOCKER_HOST=ssh://…` or tcp) is filled
//! like the local one, and a container that is never started needs no
//! binary. The helper is removed once the tar is in: while it exists, the
//! fill did not finish, and the plan fills the volume again.
//!
//! A repository file mounted on its own is a symlink in the container,
//! written the same way into the created container before it starts,
//! pointing at the file in its volume (`desired::MountKind::File`).

use super::{call, describe, drain, read, status, unreached, DockerEngine};
use crate::observe::{labels, Engine, EngineError};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, UploadToContainerOptionsBuilder,
};
use std::collections::HashMap;
use std::time::Duration;

/// The image of the helper containers: no files, no command of its own.
pub const EMPTY_IMAGE: &str = "berth/empty:1";
/// Where the helper mounts the volume.
const MOUNT_AT: &str = "/files";
/// The command a helper is created with; it never runs.
const NEVER_RUNS: &str = "/berth-never-runs";
/// How long one upload may take: a large folder over a slow link to a
/// remote engine takes a while.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Fill `volume` (labelled with the project and the content hash, created
/// when missing) with the tar `files`, through a never-started helper.
pub(super) async fn fill_volume(
    e: &DockerEngine,
    project: &str,
    volume: &str,
    content: &str,
    files: crate::source::ContextStream,
) -> Result<(), EngineError> {
    empty_image(e).await?;
    let helper = crate::desired::files_helper(volume);
    // What an unfinished fill left goes first. The volume keeps the files
    // it got: the same tar (same name, same content) writes them again.
    e.remove(&helper).await?;
    let volume_labels = HashMap::from([
        (labels::PROJECT.to_string(), project.to_string()),
        (labels::FILES.to_string(), content.to_string()),
    ]);
    let body = ContainerCreateBody {
        image: Some(EMPTY_IMAGE.to_string()),
        cmd: Some(vec![NEVER_RUNS.to_string()]),
        labels: Some(HashMap::from([(labels::FILES.to_string(), volume.to_string())])),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            mounts: Some(vec![Mount {
                typ: Some(MountType::VOLUME),
                source: Some(volume.to_string()),
                target: Some(MOUNT_AT.to_string()),
                read_only: Some(false),
                // The engine creates the volume, labelled, when it is missing;
                // nothing of the (empty) image is copied into it.
                volume_options: Some(MountVolumeOptions {
                    no_copy: Some(true),
                    labels: Some(volume_labels),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::new().name(&helper).build();
    let created = unreached(|| e.docker.create_container(Some(opts.clone()), body.clone())).await.map_err(|err| {
        let message = match status(&err) {
            Some(409) => format!("{}: is another berth filling it right now?", describe(&err)),
            _ => describe(&err),
        };
        EngineError::Call { action: format!("create the helper that fills volume {volume}"), message }
    })?;
    // One PUT: a consumed stream cannot be sent twice. On failure the
    // helper stays, and with it the sign that the volume is not complete.
    let upload = UploadToContainerOptionsBuilder::new().path(MOUNT_AT).build();
    e.docker
        .clone()
        .with_timeout(UPLOAD_TIMEOUT)
        .upload_to_container(&created.id, Some(upload), bollard::body_try_stream(files))
        .await
        .map_err(|err| EngineError::Call {
            action: format!("send the repository files into volume {volume}"),
            message: format!("{}; the next apply fills it again", describe(&err)),
        })?;
    e.remove(&created.id).await
}

/// Make [`EMPTY_IMAGE`] with the engine's import API unless it is there:
/// an image no registry has to serve.
pub(super) async fn empty_image(e: &DockerEngine) -> Result<(), EngineError> {
    match read(|| e.docker.inspect_image(EMPTY_IMAGE)).await {
        Ok(_) => return Ok(()),
        Err(err) if status(&err) == Some(404) => {}
        Err(err) => return Err(call(format!("inspect image {EMPTY_IMAGE}"))(err)),
    }
    let (repo, tag) = EMPTY_IMAGE.split_once(':').unwrap_or((EMPTY_IMAGE, "latest"));
    let opts = CreateImageOptionsBuilder::new().from_src("-").repo(repo).tag(tag).build();
    // An empty tar: two zero blocks.
    let empty = bytes::Bytes::from_static(&[0u8; 1024]);
    let stream = e.docker.create_image(Some(opts), Some(bollard::body_full(empty)), None);
    drain(stream).await.map_err(call(format!("make image {EMPTY_IMAGE} (an empty image, with the engine's import)")))
}

/// Write `links` (path in the container → where it points) into the
/// created, not yet started container `id`. An existing directory at a
/// path is an error, never replaced.
pub(super) async fn link_files(
    e: &DockerEngine,
    id: &str,
    name: &str,
    links: &[(String, String)],
) -> Result<(), EngineError> {
    let action = || format!("link the repository files of container {name}");
    let tar = links_tar(links).map_err(|err| EngineError::Call { action: action(), message: err.to_string() })?;
    let opts = UploadToContainerOptionsBuilder::new().path("/").no_overwrite_dir_non_dir("true").build();
    let body = bytes::Bytes::from(tar);
    unreached(|| e.docker.upload_to_container(id, Some(opts.clone()), bollard::body_full(body.clone())))
        .await
        .map_err(call(action()))
}

/// A tar of symlinks, paths relative to `/`, owned by root.
fn links_tar(links: &[(String, String)]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, to) in links {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(0);
        builder.append_link(&mut header, path.trim_start_matches('/'), to)?;
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_are_symlinks_below_the_root() {
        let links = [("/etc/app/app.conf".to_string(), "/.berth/p_files-0123456789ab/app.conf".to_string())];
        let tar = super::links_tar(&links).unwrap();
        let mut archive = tar::Archive::new(&tar[..]);
        let entries: Vec<(String, String)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(e.header().entry_type(), tar::EntryType::Symlink);
                let path = e.path().unwrap().to_string_lossy().into_owned();
                (path, e.link_name().unwrap().unwrap().to_string_lossy().into_owned())
            })
            .collect();
        assert_eq!(entries, [("etc/app/app.conf".into(), "/.berth/p_files-0123456789ab/app.conf".into())]);
    }
}
