//! The preferences window.

mod backup_page;
mod preferences_window;

pub use backup_page::BackupPage;
pub use preferences_window::PreferencesWindow;
