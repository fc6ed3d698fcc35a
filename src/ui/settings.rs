//! GSettings, with a fallback for uninstalled runs (`cargo run`, tests):
//! build.rs compiles the schema next to the build output.

use gtk::gio;

const SCHEMA_ID: &str = "im.sotto.Sotto";

/// Boolean key: show the text of encrypted messages in the chat list. The
/// schema (data/, owned by the build) does not have it yet; until it does,
/// the choice lasts for the session.
pub const ENCRYPTED_PREVIEWS: &str = "encrypted-previews";

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
