//! Where the state folder is, and whether berth may trust it: a folder or
//! key file that another user owns or can write could hold a key someone
//! planted, so berth refuses it and says how to fix it.

use super::StateError;
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Root's state folder when nothing else names one (a system service
/// without `StateDirectory=`, a cron job without HOME).
pub const ROOT_FALLBACK: &str = "/var/lib/berth";

/// The state folder, from the environment (`var`) and the effective uid:
/// `$BERTH_STATE_DIR`; else `$STATE_DIRECTORY` (systemd's
/// `StateDirectory=`; the first one when it lists several); else
/// `$XDG_STATE_HOME/berth`; else `$HOME/.local/state/berth`; else, for root,
/// `/var/lib/berth`. Relative XDG and HOME values are ignored, as the XDG
/// spec says; there is no fallback under /tmp.
pub fn locate(var: impl Fn(&str) -> Option<OsString>, euid: u32) -> Result<PathBuf, StateError> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = set("BERTH_STATE_DIR") {
        return Ok(d);
    }
    if let Some(d) = var("STATE_DIRECTORY").filter(|v| !v.is_empty()) {
        let first = d.to_string_lossy().split(':').next().unwrap_or_default().to_string();
        return Ok(PathBuf::from(first));
    }
    if let Some(d) = set("XDG_STATE_HOME").filter(|d| d.is_absolute()) {
        return Ok(d.join("berth"));
    }
    if let Some(home) = set("HOME").filter(|d| d.is_absolute()) {
        return Ok(home.join(".local/state/berth"));
    }
    if euid == 0 {
        return Ok(PathBuf::from(ROOT_FALLBACK));
    }
    Err(StateError::NoStateDir)
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Create `dir` (mode 0700, parents too) when missing, then check it.
pub fn ensure(dir: &Path) -> Result<(), StateError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|error| StateError::Create { path: dir.to_path_buf(), error })?;
    }
    check(dir, Kind::Folder)
}

/// What is being checked: a folder may be readable by others; a key file may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Folder,
    KeyFile,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Folder => "state folder",
            Kind::KeyFile => "fingerprint key",
        }
    }
}

/// Refuse `path` when another user owns it, or when group or others can
/// write it (a key file: read it either).
pub fn check(path: &Path, kind: Kind) -> Result<(), StateError> {
    let meta = std::fs::metadata(path).map_err(|error| StateError::Inspect { path: path.to_path_buf(), error })?;
    let you = euid();
    if meta.uid() != you {
        return Err(StateError::NotYours { what: kind.name(), path: path.to_path_buf(), owner: meta.uid(), you });
    }
    let mode = meta.mode() & 0o7777;
    let (forbidden, fix) = match kind {
        Kind::Folder => (0o022, "go-w"),
        Kind::KeyFile => (0o077, "600"),
    };
    if mode & forbidden != 0 {
        return Err(StateError::TooOpen { what: kind.name(), path: path.to_path_buf(), mode, fix });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs.iter().map(|(k, v)| (k.to_string(), v.into())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn lookup_order() {
        let all = [
            ("BERTH_STATE_DIR", "/b"),
            ("STATE_DIRECTORY", "/var/lib/berth:/var/lib/other"),
            ("XDG_STATE_HOME", "/x"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(locate(env(&all), 1000).unwrap(), PathBuf::from("/b"));
        assert_eq!(locate(env(&all[1..]), 1000).unwrap(), PathBuf::from("/var/lib/berth"));
        assert_eq!(locate(env(&all[2..]), 1000).unwrap(), PathBuf::from("/x/berth"));
        assert_eq!(locate(env(&all[3..]), 1000).unwrap(), PathBuf::from("/home/u/.local/state/berth"));
        // Relative or empty values are not a place.
        assert_eq!(
            locate(env(&[("XDG_STATE_HOME", "rel"), ("HOME", "/h"), ("BERTH_STATE_DIR", "")]), 7).unwrap(),
            PathBuf::from("/h/.local/state/berth")
        );
    }

    #[test]
    fn without_home_root_uses_var_lib_and_others_get_an_error() {
        assert_eq!(locate(env(&[]), 0).unwrap(), PathBuf::from("/var/lib/berth"));
        assert_eq!(locate(env(&[("HOME", "")]), 0).unwrap(), PathBuf::from("/var/lib/berth"));
        let e = locate(env(&[]), 1000).unwrap_err().to_string();
        assert!(e.contains("HOME") && e.contains("STATE_DIRECTORY"), "{e}");
        assert!(!e.contains("/tmp"), "{e}");
    }

    #[test]
    fn a_folder_others_can_write_is_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        ensure(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure(&dir).unwrap_err().to_string();
        assert!(e.contains("chmod go-w") && e.contains(&dir.display().to_string()), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure(&dir).unwrap();
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let key = tmp.path().join("fingerprint.key");
        std::fs::write(&key, [0u8; 32]).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = check(&key, Kind::KeyFile).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        check(&key, Kind::KeyFile).unwrap();
    }

    #[test]
    fn a_folder_another_user_owns_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        if euid() != 0 {
            eprintln!("skipped: only root can give a folder to another user");
            return;
        }
        std::os::unix::fs::chown(tmp.path(), Some(65534), None).unwrap();
        let e = check(tmp.path(), Kind::Folder).unwrap_err().to_string();
        assert!(e.contains("uid 65534") && e.contains("chown"), "{e}");
    }
}
