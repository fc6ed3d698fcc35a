//! Fixtures shared by the integration tests: a real Prosody, its PKI, and
//! helpers to drive `sotto-cli`. Every test binary includes this with
//! `#[path = "support/mod.rs"] mod support;` (or `mod support;`).
#![allow(dead_code)]

pub mod certs;
pub mod cli;
pub mod peer;
pub mod profile;
pub mod prosody;
pub mod proxy;
pub mod service;

#[allow(unused_imports)]
pub use prosody::{Prosody, free_port};
