//! Build-time configuration. Meson passes the real values as environment
//! variables at compile time; plain `cargo build` gets development defaults,
//! so `cargo test` works without meson (as Loupe does).

pub const APP_ID: &str = match option_env!("SOTTO_APP_ID") {
    Some(v) => v,
    None => "im.sotto.Sotto",
};
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GETTEXT_PACKAGE: &str = "sotto";
pub const LOCALEDIR: &str = match option_env!("SOTTO_LOCALEDIR") {
    Some(v) => v,
    None => "/usr/share/locale",
};
/// "Devel" for development builds: striped header bar, `.Devel` app id.
pub const PROFILE: &str = match option_env!("SOTTO_PROFILE") {
    Some(v) => v,
    None => "Default",
};
/// Service name under which secrets are kept in the Secret Service.
pub const SECRET_SERVICE: &str = "im.sotto.Sotto";
/// Environment variable that overrides the data directory (tests, scripting).
pub const DATA_DIR_ENV: &str = "SOTTO_DATA_DIR";
