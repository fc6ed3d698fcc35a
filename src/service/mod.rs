//! The service: a tokio actor that owns the accounts, their XMPP streams,
//! the store and the keyring. It never touches GTK; the window, the CLI and
//! the tests drive it the same way through [`ServiceHandle`].

pub mod api;
mod handle;

use std::path::PathBuf;

pub use api::*;
pub use handle::{EventStream, ServiceHandle};

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
