//! A profile is one data directory, and one data directory is one device:
//! it holds the archive and this device's OMEMO state. Only one process may
//! use it at a time (the window or one CLI command), enforced by an
//! advisory lock that the kernel releases when the process dies.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::config;

/// The data directory: `$SOTTO_DATA_DIR`, else `$XDG_DATA_HOME/sotto`,
/// else `~/.local/share/sotto`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(config::DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("sotto")
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("the profile {0} is in use by another Sotto process")]
    InUse(PathBuf),
    #[error("cannot use the data directory {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// An open, locked profile directory.
#[derive(Debug)]
pub struct Profile {
    dir: PathBuf,
    id: String,
    // Held for the lifetime of the profile; dropping it releases the lock.
    _lock: File,
}

impl Profile {
    /// Create (if needed) and lock `dir`.
    pub fn open(dir: &Path) -> Result<Profile, ProfileError> {
        let io_err = |source| ProfileError::Io {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        set_private(dir).map_err(io_err)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(io_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(ProfileError::InUse(dir.to_path_buf()));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let id = read_or_create_id(&dir.join("profile-id")).map_err(io_err)?;
        Ok(Profile {
            dir: dir.to_path_buf(),
            id,
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A random id naming this profile's secrets in the keyring, so two
    /// profiles (two devices of one account) never share a database key.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn database_path(&self) -> PathBuf {
        self.dir.join("sotto.db")
    }
}

fn read_or_create_id(path: &Path) -> io::Result<String> {
    match File::open(path) {
        Ok(mut f) => {
            let mut s = String::new();
            f.read_to_string(&mut s)?;
            let s = s.trim();
            if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(s.to_owned());
            }
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the profile id file is damaged",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let id = hex::encode(rand::random::<[u8; 16]>());
            let tmp = path.with_extension("tmp");
            let mut f = File::create(&tmp)?;
            f.write_all(id.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn set_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn set_private(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_the_same_profile_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let first = Profile::open(tmp.path()).unwrap();
        assert!(matches!(
            Profile::open(tmp.path()),
            Err(ProfileError::InUse(_))
        ));
        let id = first.id().to_owned();
        drop(first);
        let again = Profile::open(tmp.path()).unwrap();
        assert_eq!(again.id(), id, "the profile id is stable");
    }
}
