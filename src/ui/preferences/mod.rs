//! The preferences window.

mod backup_page;
mod preferences_window;

pub use backup_page::BackupPage;
pub use preferences_window::PreferencesWindow;

use adw::prelude::*;

/// A row with a title, a subtitle and a switch that the whole row toggles;
/// `name` lets tests (and the inspector) find the switch.
pub(crate) fn switch_row(title: &str, subtitle: &str, name: &str) -> (adw::ActionRow, gtk::Switch) {
    let switch = gtk::Switch::builder()
        .valign(gtk::Align::Center)
        .name(name)
        .build();
    let row = adw::ActionRow::builder()
        .title(title)
        .subtitle(subtitle)
        .activatable_widget(&switch)
        .build();
    row.add_suffix(&switch);
    (row, switch)
}
