//! The preferences window.

mod preferences_window;

pub use preferences_window::PreferencesWindow;
