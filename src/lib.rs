//! Sotto: an XMPP messenger with OMEMO end-to-end encryption.
//!
//! Layers, depending down only: `ui` (GTK, behind the `gui` feature) →
//! `service` (tokio actor: accounts, XMPP, OMEMO manager) → `store` (SQLite),
//! `xmpp` (stanza helpers, TLS) and `omemo` (pure protocol core).

pub mod backup;
pub mod config;
pub mod i18n;
pub mod omemo;
pub mod profile;
pub mod qr;
pub mod runtime;
pub mod secrets;
pub mod service;
pub mod store;
pub mod xmpp;

#[cfg(feature = "gui")]
pub mod ui;
