//! The service: a tokio actor that owns the accounts, their XMPP streams,
//! the store and the keyring. It never touches GTK; the window, the CLI and
//! the tests drive it the same way through [`ServiceHandle`].

pub mod api;
mod handle;

use std::path::PathBuf;

pub use api::*;
pub use handle::{EventStream, ServiceHandle};
pub use policy::{DEFAULT_STALE_DEVICE_DAYS, EncryptionPolicy};

/// How to start a service.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The profile directory: one directory is one device.
    pub data_dir: PathBuf,
    /// Connect stored accounts right away (the window does; most CLI
    /// commands connect only when they need the network).
    pub connect: bool,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("profile in use: {0}")]
    ProfileInUse(PathBuf),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Secrets(String),
}

mod account;
mod core;
mod policy;
mod qr;

pub use self::core::start;

impl StartError {
    /// A sentence for the user, translated.
    pub fn user_message(&self) -> String {
        use crate::i18n::gettext_f;
        match self {
            StartError::ProfileInUse(p) => gettext_f(
                "Sotto is already running with this profile ({path}). Close the other window or command first.",
                &[("path", &p.display().to_string())],
            ),
            StartError::DataDir { path, source } => gettext_f(
                "Cannot use the data folder {path}: {error}",
                &[
                    ("path", &path.display().to_string()),
                    ("error", &source.to_string()),
                ],
            ),
            StartError::Store(e) => {
                gettext_f("Cannot open the message archive: {error}", &[("error", e)])
            }
            StartError::Secrets(e) => {
                gettext_f("Cannot reach the keyring: {error}", &[("error", e)])
            }
        }
    }
}
