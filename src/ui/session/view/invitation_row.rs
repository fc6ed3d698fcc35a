//! An invitation into a group chat, in the sidebar beside subscription
//! requests: who invites, where, why; Join or Dismiss.

use std::cell::RefCell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use super::create_group_dialog::open_room;
use crate::i18n::{gettext, gettext_f};
use crate::service::Command;
use crate::ui::application::Application;
use crate::ui::components::Avatar;
use crate::ui::session::model::RoomInvitation;

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct InvitationRow {
        pub invitation: RefCell<Option<RoomInvitation>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for InvitationRow {
        const NAME: &'static str = "SottoInvitationRow";
        type Type = super::InvitationRow;
        type ParentType = adw::ActionRow;

        fn class_init(klass: &mut Self::Class) {
            klass.install_action("invitation.join", None, |row, _, _| row.join());
            klass.install_action("invitation.dismiss", None, |row, _, _| row.dismiss());
        }
    }

    impl ObjectImpl for InvitationRow {}
    impl WidgetImpl for InvitationRow {}
    impl ListBoxRowImpl for InvitationRow {}
    impl PreferencesRowImpl for InvitationRow {}
    impl ActionRowImpl for InvitationRow {}
}

glib::wrapper! {
    pub struct InvitationRow(ObjectSubclass<imp::InvitationRow>)
        @extends adw::ActionRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl InvitationRow {
    pub fn new(invitation: &RoomInvitation) -> Self {
        let row: Self = glib::Object::new();
        let room = invitation.room();
        let from = invitation.from();
        let from_name = Application::instance()
            .and_then(|app| app.session().contact(&invitation.account(), &from))
            .map(|c| c.display_name())
            .unwrap_or_else(|| from.clone());
        row.set_title(&glib::markup_escape_text(&room));
        let subtitle = match invitation.reason().filter(|r| !r.trim().is_empty()) {
            Some(reason) => gettext_f(
                "{name} invites you: “{reason}”",
                &[("name", &from_name), ("reason", &reason)],
            ),
            None => gettext_f("{name} invites you", &[("name", &from_name)]),
        };
        row.set_subtitle(&glib::markup_escape_text(&subtitle));
        row.set_subtitle_lines(2);
        let avatar = Avatar::new();
        avatar.set_size(32);
        avatar.set_text(room.split('@').next().unwrap_or(&room));
        avatar.set_seed(room.as_str());
        row.add_prefix(&avatar);
        let buttons = gtk::Box::builder()
            .spacing(6)
            .valign(gtk::Align::Center)
            .build();
        let dismiss = gtk::Button::builder()
            .icon_name("window-close-symbolic")
            .tooltip_text(gettext("Dismiss"))
            .action_name("invitation.dismiss")
            .css_classes(["flat", "circular"])
            .build();
        let join = gtk::Button::builder()
            .label(gettext("_Join"))
            .use_underline(true)
            .action_name("invitation.join")
            .css_classes(["suggested-action"])
            .build();
        buttons.append(&dismiss);
        buttons.append(&join);
        row.add_suffix(&buttons);
        row.imp().invitation.replace(Some(invitation.clone()));
        row
    }

    fn dismiss(&self) {
        let Some(invitation) = self.imp().invitation.borrow().clone() else {
            return;
        };
        if let Some(app) = Application::instance() {
            app.rooms()
                .dismiss_invitation(&invitation.account(), &invitation.room());
        }
    }

    fn join(&self) {
        let Some(invitation) = self.imp().invitation.borrow().clone() else {
            return;
        };
        let Some(app) = Application::instance() else {
            return;
        };
        let Some(service) = app.service() else { return };
        self.set_sensitive(false);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = row)]
            self,
            async move {
                let room = invitation.room();
                let result = service
                    .request(|reply| Command::JoinRoom {
                        account: invitation.account(),
                        room: room.clone(),
                        nick: None,
                        reply,
                    })
                    .await;
                match result {
                    Ok(info) => open_room(&info),
                    Err(error) => {
                        row.set_sensitive(true);
                        app.main_window().add_toast(&gettext_f(
                            "Could not join {room}: {reason}",
                            &[("room", &room), ("reason", &error.user_message())],
                        ));
                    }
                }
            }
        ));
    }
}
