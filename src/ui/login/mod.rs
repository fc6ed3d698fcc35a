//! Logging in: the first-run page.

mod account_setup;

pub use account_setup::AccountSetup;
