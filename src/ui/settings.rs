//! GSettings, with a fallback for uninstalled runs (`cargo run`, tests):
//! build.rs compiles the schema next to the build output.

use gtk::gio;
use gtk::prelude::*;

const SCHEMA_ID: &str = "im.sotto.Sotto";

/// Boolean key: show the text of encrypted messages in the chat list.
pub const ENCRYPTED_PREVIEWS: &str = "encrypted-previews";

/// Boolean key: tell contacts when the user is typing (XEP-0085).
pub const SEND_TYPING_NOTIFICATIONS: &str = "send-typing-notifications";

/// Boolean key: show the message text in notifications.
pub const NOTIFICATION_PREVIEWS: &str = "notification-previews";

/// A boolean key, or its schema default when there is no schema.
fn boolean(key: &str, default: bool) -> bool {
    thread_local! {
        // One `GSettings` per thread: it caches and follows changes.
        static SETTINGS: Option<gio::Settings> = settings();
    }
    SETTINGS.with(|s| s.as_ref().map_or(default, |s| s.boolean(key)))
}

pub fn send_typing_notifications() -> bool {
    boolean(SEND_TYPING_NOTIFICATIONS, true)
}

pub fn notification_previews() -> bool {
    boolean(NOTIFICATION_PREVIEWS, true)
}

/// The app's settings, or `None` (and a warning) when the schema is
/// nowhere to be found: the window then simply does not remember its size.
pub fn settings() -> Option<gio::Settings> {
    let installed = gio::SettingsSchemaSource::default().and_then(|s| s.lookup(SCHEMA_ID, true));
    let schema = installed.or_else(|| {
        let dir = concat!(env!("OUT_DIR"), "/schemas");
        let parent = gio::SettingsSchemaSource::default();
        gio::SettingsSchemaSource::from_directory(dir, parent.as_ref(), false)
            .ok()?
            .lookup(SCHEMA_ID, false)
    });
    match schema {
        Some(schema) => Some(gio::Settings::new_full(
            &schema,
            None::<&gio::SettingsBackend>,
            None,
        )),
        None => {
            tracing::warn!(
                "GSettings schema {SCHEMA_ID} is not installed; window size is not saved"
            );
            None
        }
    }
}
