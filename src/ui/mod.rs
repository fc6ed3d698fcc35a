//! GTK front end. It sends `Command`s to the service and renders its
//! `Event`s; it never does I/O of its own (ARCHITECTURE.md, rule 1).
//!
//! Folders name the domain: `login/` (first run), `session/` (models of the
//! service's state and the views over them), `preferences/`, and
//! `components/` for widgets used in several places.

mod address;
mod application;
pub mod components;
mod format;
pub mod login;
pub mod notifications;
pub mod preferences;
pub mod qr;
pub mod session;
pub mod settings;
mod window;

use gtk::prelude::*;
use gtk::{gio, glib};

pub use application::Application;
pub use window::Window;

/// Everything the process needs before the first widget: translations and
/// the bundled templates, style and icons. Safe to call more than once.
pub fn init() {
    use std::sync::Once;
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        crate::i18n::init();
        gio::resources_register_include!("sotto.gresource")
            .expect("the GResource bundle built by build.rs is valid");
        glib::set_application_name(&crate::i18n::gettext("Sotto"));
    });
}

/// Run the app with the process's command line.
pub fn run() -> glib::ExitCode {
    init();
    Application::new().run()
}
