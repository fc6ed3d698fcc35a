//! The "Remove …?" question before something that cannot be undone.

use adw::prelude::*;

use crate::i18n::gettext;

/// Ask `heading` / `body` with Cancel (the default, also on Escape) and a
/// destructive Remove; `on_remove` runs only when the user chose Remove.
pub fn confirm_removal(
    parent: Option<&gtk::Window>,
    heading: &str,
    body: &str,
    on_remove: impl Fn() + 'static,
) {
    let dialog = adw::MessageDialog::new(parent, Some(heading), Some(body));
    dialog.add_responses(&[
        ("cancel", &gettext("_Cancel")),
        ("remove", &gettext("_Remove")),
    ]);
    dialog.set_response_appearance("remove", adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));
    dialog.set_close_response("cancel");
    dialog.connect_response(None, move |_, response| {
        if response == "remove" {
            on_remove();
        }
    });
    dialog.present();
}
