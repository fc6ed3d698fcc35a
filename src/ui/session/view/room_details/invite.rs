//! Invite…: pick contacts who are not in the room yet; they become
//! members (where we may make them) and get an invitation (XEP-0249).

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use super::RoomDetails;
use crate::i18n::gettext;
use crate::service::Command;
use crate::ui::session::view::form_dialog::FormParts;
use crate::ui::session::view::member_picker::MemberPicker;

impl RoomDetails {
    /// Invite…: pick contacts who are not in the room yet.
    pub(super) fn show_invite(&self) {
        let Some((account, _)) = self.imp().room.borrow().clone() else {
            return;
        };
        let inside: Vec<String> = self
            .imp()
            .info
            .borrow()
            .as_ref()
            .map(|info| {
                info.participants
                    .iter()
                    .filter(|p| p.present || p.affiliation.is_participant())
                    .filter_map(|p| p.jid.clone())
                    .collect()
            })
            .unwrap_or_default();
        let window = adw::Window::new();
        if let Some(parent) = self.root().and_downcast::<gtk::Window>() {
            window.set_transient_for(Some(&parent));
        }
        let action = gio::SimpleAction::new("invite", None);
        let group = gio::SimpleActionGroup::new();
        group.add_action(&action);
        window.insert_action_group("invite", Some(&group));
        let form = FormParts::build(
            &window,
            &gettext("Invite to Room"),
            &gettext("_Invite"),
            "invite.invite",
        );
        let picker = MemberPicker::new(&account, &inside);
        let members = adw::PreferencesGroup::builder()
            .description(gettext(
                "They become members and get an invitation to join.",
            ))
            .build();
        if picker.is_empty() {
            members.set_description(Some(&gettext("Everyone in your contacts is here already.")));
        } else {
            members.add(&picker.widget);
        }
        form.content.append(&members);
        action.set_enabled(false);
        picker.connect_changed(glib::clone!(
            #[weak]
            action,
            #[strong]
            picker,
            move || action.set_enabled(!picker.selected().is_empty())
        ));
        action.connect_activate(glib::clone!(
            #[weak(rename_to = details)]
            self,
            #[weak]
            window,
            #[strong]
            picker,
            #[strong]
            form,
            move |_, _| {
                let Some((account, room, service)) = details.room_and_service() else {
                    return;
                };
                let jids = picker.selected();
                form.set_busy(true);
                form.show_error(None);
                let form = form.clone();
                glib::spawn_future_local(async move {
                    let result = service
                        .request(|reply| Command::Invite {
                            account,
                            room,
                            jids,
                            reason: None,
                            reply,
                        })
                        .await;
                    form.set_busy(false);
                    match result {
                        Ok(()) => {
                            details.refresh();
                            window.close();
                        }
                        Err(error) => form.show_error(Some(&error.user_message())),
                    }
                });
            }
        ));
        window.present();
    }
}
