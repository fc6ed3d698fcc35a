//! The "Remove …?" question before something that cannot be undone.

use adw::prelude::*;

use crate::i18n::gettext;

/// Ask `heading` / `body` with Cancel (the default, also on Escape) and a
/// destructive action labelled `label` (with a mnemonic) under the
/// response id `response`; `on_confirm` runs only when the user chose it.
pub fn confirm_destructive(
    parent: Option<&gtk::Window>,
    heading: &str,
    body: &str,
    (response, label): (&str, &str),
    on_confirm: impl Fn() + 'static,
) {
    let dialog = adw::MessageDialog::new(parent, Some(heading), Some(body));
    dialog.add_responses(&[("cancel", &gettext("_Cancel")), (response, label)]);
    dialog.set_response_appearance(response, adw::ResponseAppearance::Destructive);
    dialog.set_default_response(Some("cancel"));
    dialog.set_close_response("cancel");
    let chosen = response.to_owned();
    dialog.connect_response(None, move |_, response| {
        if response == chosen {
            on_confirm();
        }
    });
    dialog.present();
}

/// [`confirm_destructive`] with Remove (response id `remove`).
pub fn confirm_removal(
    parent: Option<&gtk::Window>,
    heading: &str,
    body: &str,
    on_remove: impl Fn() + 'static,
) {
    confirm_destructive(
        parent,
        heading,
        body,
        ("remove", &gettext("_Remove")),
        on_remove,
    );
}
