//! "New Group Chat…": a name, the room's address (made from the name on
//! the account's conference service, as the server names it, until the
//! user edits it), the members
//! from the roster, and Create. Like Conversations' "Create private group
//! chat": a members-only, non-anonymous room, so OMEMO works; a switch
//! makes it a public channel instead.

use std::cell::{Cell, RefCell};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use super::form_dialog::{FormParts, entry_row};
use super::member_picker::MemberPicker;
use crate::i18n::gettext;
use crate::service::{Command, RoomInfo};
use crate::ui::address::check_bare_jid;
use crate::ui::application::Application;

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct CreateGroupDialog {
        pub account: RefCell<String>,
        pub form: RefCell<Option<FormParts>>,
        pub name_row: RefCell<Option<adw::EntryRow>>,
        pub address_row: RefCell<Option<adw::EntryRow>>,
        pub channel_switch: RefCell<Option<gtk::Switch>>,
        pub picker: RefCell<Option<MemberPicker>>,
        /// The user typed an address of their own: the name no longer
        /// writes it.
        pub address_edited: Cell<bool>,
        /// The server's group chat service, once it told.
        pub conference: RefCell<Option<String>>,
        /// The address being written from the name (its change is ours).
        pub deriving: Cell<bool>,
        pub busy: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for CreateGroupDialog {
        const NAME: &'static str = "SottoCreateGroupDialog";
        type Type = super::CreateGroupDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.install_action("create-group.create", None, |dialog, _, _| dialog.create());
            klass.add_binding_action(
                gtk::gdk::Key::Escape,
                gtk::gdk::ModifierType::empty(),
                "window.close",
            );
        }
    }

    impl ObjectImpl for CreateGroupDialog {}
    impl WidgetImpl for CreateGroupDialog {}
    impl WindowImpl for CreateGroupDialog {}
    impl AdwWindowImpl for CreateGroupDialog {}
}

glib::wrapper! {
    pub struct CreateGroupDialog(ObjectSubclass<imp::CreateGroupDialog>)
        @extends adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
                    gtk::Root, gtk::ShortcutManager;
}

impl CreateGroupDialog {
    pub fn new(parent: &impl IsA<gtk::Window>, account: &str) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        let imp = dialog.imp();
        imp.account.replace(account.to_owned());
        let form = FormParts::build(
            dialog.upcast_ref(),
            &gettext("New Group Chat"),
            &gettext("C_reate"),
            "create-group.create",
        );

        let about = adw::PreferencesGroup::builder()
            .description(gettext(
                "Members see each other’s addresses, and messages are end-to-end encrypted.",
            ))
            .build();
        let name_row = entry_row(&gettext("Name"));
        let address_row = entry_row(&gettext("Address"));
        address_row.set_input_purpose(gtk::InputPurpose::Email);
        about.add(&name_row);
        about.add(&address_row);
        let channel_switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
        let channel_row = adw::ActionRow::builder()
            .title(gettext("Public Channel"))
            .subtitle(gettext(
                "Listed on the server and open to anyone; addresses stay hidden, so messages cannot be encrypted",
            ))
            .activatable_widget(&channel_switch)
            .build();
        channel_row.add_suffix(&channel_switch);
        about.add(&channel_row);
        form.content.append(&about);

        let picker = MemberPicker::new(account, &[]);
        let members = adw::PreferencesGroup::builder()
            .title(gettext("Members"))
            .description(gettext(
                "They become members and get an invitation. You can invite more people later.",
            ))
            .build();
        if picker.is_empty() {
            members.set_description(Some(&gettext(
                "Add contacts first to choose members here, or invite people later.",
            )));
        } else {
            members.add(&picker.widget);
        }
        form.content.append(&members);

        name_row.connect_changed(glib::clone!(
            #[weak]
            dialog,
            move |_| dialog.derive_address()
        ));
        address_row.connect_changed(glib::clone!(
            #[weak]
            dialog,
            move |_| {
                let imp = dialog.imp();
                if !imp.deriving.get() {
                    imp.address_edited.set(true);
                }
                dialog.update_action();
            }
        ));
        for row in [&name_row, &address_row] {
            row.connect_entry_activated(glib::clone!(
                #[weak]
                dialog,
                move |_| {
                    let _ = dialog.activate_action("create-group.create", None);
                }
            ));
        }
        channel_switch.connect_active_notify(glib::clone!(
            #[weak]
            about,
            #[weak]
            members,
            move |switch| {
                let channel = switch.is_active();
                about.set_description(Some(&if channel {
                    gettext("Anyone can find and join the channel. Messages are not encrypted.")
                } else {
                    gettext(
                        "Members see each other’s addresses, and messages are end-to-end encrypted.",
                    )
                }));
                members.set_title(&if channel {
                    gettext("Invite")
                } else {
                    gettext("Members")
                });
            }
        ));
        imp.form.replace(Some(form));
        imp.name_row.replace(Some(name_row));
        imp.address_row.replace(Some(address_row));
        imp.channel_switch.replace(Some(channel_switch));
        imp.picker.replace(Some(picker));
        dialog.update_action();
        dialog.ask_conference_service();
        dialog
    }

    /// Where new rooms go on this server. Until it answers (or when it
    /// cannot: offline, no service found), `conference.` + the account's
    /// domain, the usual name, stands in; the server has the last word
    /// when Create is pressed anyway.
    fn ask_conference_service(&self) {
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        let account = self.imp().account.borrow().clone();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let answer = service
                    .request(|reply| Command::ConferenceService { account, reply })
                    .await;
                match answer {
                    Ok(conference) => {
                        dialog.imp().conference.replace(Some(conference));
                        dialog.derive_address();
                    }
                    Err(error) => tracing::debug!("no conference service: {error}"),
                }
            }
        ));
    }

    /// The group chat service the server named, if it did (tests).
    pub fn conference_service(&self) -> Option<String> {
        self.imp().conference.borrow().clone()
    }

    pub fn name_row(&self) -> adw::EntryRow {
        self.imp().name_row.borrow().clone().expect("built")
    }

    pub fn address_row(&self) -> adw::EntryRow {
        self.imp().address_row.borrow().clone().expect("built")
    }

    pub fn picker(&self) -> MemberPicker {
        self.imp().picker.borrow().clone().expect("built")
    }

    /// What the service answered to the last Create, if it failed.
    pub fn error(&self) -> Option<String> {
        self.imp().form.borrow().as_ref().and_then(|f| f.error())
    }

    fn form(&self) -> FormParts {
        self.imp().form.borrow().clone().expect("built")
    }

    fn derive_address(&self) {
        let imp = self.imp();
        if imp.address_edited.get() {
            return;
        }
        let conference = imp.conference.borrow().clone().unwrap_or_else(|| {
            let account = imp.account.borrow();
            let domain = account.split('@').nth(1).unwrap_or_default();
            format!("conference.{domain}")
        });
        let local = room_local_part(&self.name_row().text());
        let address = if local.is_empty() {
            String::new()
        } else {
            format!("{local}@{conference}")
        };
        imp.deriving.set(true);
        self.address_row().set_text(&address);
        imp.deriving.set(false);
        self.update_action();
    }

    fn update_action(&self) {
        let imp = self.imp();
        let can = !imp.busy.get() && !self.address_row().text().trim().is_empty();
        self.action_set_enabled("create-group.create", can);
    }

    fn create(&self) {
        let imp = self.imp();
        if imp.busy.get() {
            return;
        }
        let form = self.form();
        let address_row = self.address_row();
        let room = match check_bare_jid(&address_row.text()) {
            Ok(room) => room.to_lowercase(),
            Err(problem) => {
                address_row.add_css_class("error");
                form.show_error(Some(&problem.user_message()));
                return;
            }
        };
        address_row.remove_css_class("error");
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        let name = self.name_row().text().trim().to_owned();
        let account = imp.account.borrow().clone();
        let members = self.picker().selected();
        let channel = imp
            .channel_switch
            .borrow()
            .as_ref()
            .is_some_and(|s| s.is_active());
        form.show_error(None);
        imp.busy.set(true);
        form.set_busy(true);
        self.update_action();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::CreateRoom {
                        account,
                        room,
                        name: (!name.is_empty()).then_some(name),
                        nick: None,
                        members,
                        channel,
                        reply,
                    })
                    .await;
                dialog.imp().busy.set(false);
                form.set_busy(false);
                dialog.update_action();
                match result {
                    Ok(info) => {
                        open_room(&info);
                        dialog.close();
                    }
                    Err(error) => form.show_error(Some(&error.user_message())),
                }
            }
        ));
    }
}

/// Remember the room and open its chat in the main window.
pub fn open_room(info: &RoomInfo) {
    let Some(app) = Application::instance() else {
        return;
    };
    app.rooms().update(info);
    let conversation = app.session().conversation(&info.account, &info.jid);
    conversation.set_kind(info.kind.clone());
    if let Some(name) = info.name.as_deref().filter(|n| !n.trim().is_empty()) {
        conversation.set_name(name);
    }
    app.main_window()
        .session_view()
        .show_conversation(&conversation);
}

/// A room address's local part from its name: lower case, words joined by
/// dashes, only what every server accepts in a node (RFC 7622 forbids
/// `"&'/:<>@` and spaces).
fn room_local_part(name: &str) -> String {
    let mut local = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_alphanumeric() {
            local.push(c);
        } else if !local.is_empty() && !local.ends_with('-') {
            local.push('-');
        }
    }
    local.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::room_local_part;

    #[test]
    fn room_addresses_come_from_the_name() {
        assert_eq!(room_local_part("Book Club"), "book-club");
        assert_eq!(room_local_part("  Tea & Cake! "), "tea-cake");
        assert_eq!(room_local_part("Straße 5"), "straße-5");
        assert_eq!(room_local_part("@@@"), "");
    }
}
