//! The content pane's details for a group chat or channel (where a chat
//! shows the contact's): name, address, subject (editable where the room
//! lets us), our nickname there, what kind of room it is and whether
//! messages are encrypted (and why not), the participants with their
//! affiliation and role, and for owners and admins what they may do to
//! each. Each participant with a real address leads to their devices and
//! trust, in the same device list as a contact's.

mod invite;
mod participants;

use std::cell::{OnceCell, RefCell};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use self::participants::{participant_name, participant_row};
use super::DeviceList;
use crate::i18n::{gettext, gettext_f, ngettext_f};
use crate::service::{Affiliation, Command, Participant, RoomInfo, ServiceError};
use crate::ui::application::Application;
use crate::ui::components::{ApplyRow, Avatar, confirm_destructive, confirm_removal};

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct RoomDetails {
        pub header_bar: adw::HeaderBar,
        pub back_button: gtk::Button,
        pub window_title: adw::WindowTitle,
        pub avatar: Avatar,
        pub name_label: gtk::Label,
        pub jid_label: gtk::Label,
        pub about: adw::PreferencesGroup,
        /// The subject where we may not change it.
        pub subject_row: adw::ActionRow,
        /// The subject where we may.
        pub subject_edit: OnceCell<ApplyRow>,
        pub nick_edit: OnceCell<ApplyRow>,
        pub kind_row: adw::ActionRow,
        pub encryption_row: adw::ActionRow,
        pub encryption_icon: gtk::Image,
        pub lists_row: adw::ActionRow,
        pub participants: adw::PreferencesGroup,
        pub participant_rows: RefCell<Vec<adw::ActionRow>>,
        pub destroy_button: gtk::Button,
        pub leave_button: gtk::Button,
        /// `(account, room)` shown.
        pub room: RefCell<Option<(String, String)>>,
        pub info: RefCell<Option<RoomInfo>>,
        pub room_changed: RefCell<Option<glib::SignalHandlerId>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RoomDetails {
        const NAME: &'static str = "SottoRoomDetails";
        type Type = super::RoomDetails;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.install_action("room.back", None, |details, _, _| {
                details.emit_by_name::<()>("back", &[]);
            });
            klass.install_action("room.invite", None, |details, _, _| details.show_invite());
            klass.install_action("room.leave", None, |details, _, _| details.confirm_leave());
            klass.install_action("room.destroy", None, |details, _, _| {
                details.confirm_destroy()
            });
            let string = Some(glib::VariantTy::STRING);
            klass.install_action("room.make-member", string, |details, _, jid| {
                if let Some(jid) = jid.and_then(|v| v.get::<String>()) {
                    details.set_affiliation(&jid, Affiliation::Member);
                }
            });
            klass.install_action("room.remove-member", string, |details, _, jid| {
                if let Some(jid) = jid.and_then(|v| v.get::<String>()) {
                    details.confirm_affiliation(&jid, Affiliation::None);
                }
            });
            klass.install_action("room.ban", string, |details, _, jid| {
                if let Some(jid) = jid.and_then(|v| v.get::<String>()) {
                    details.confirm_affiliation(&jid, Affiliation::Outcast);
                }
            });
            klass.install_action("room.kick", string, |details, _, nick| {
                if let Some(nick) = nick.and_then(|v| v.get::<String>()) {
                    details.kick(&nick);
                }
            });
            klass.install_action("room.devices", string, |details, _, jid| {
                if let Some(jid) = jid.and_then(|v| v.get::<String>()) {
                    details.show_devices(&jid);
                }
            });
        }
    }

    impl ObjectImpl for RoomDetails {
        fn signals() -> &'static [glib::subclass::Signal] {
            use std::sync::OnceLock;
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![glib::subclass::Signal::builder("back").build()])
        }

        fn constructed(&self) {
            self.parent_constructed();
            self.obj().build();
        }

        fn dispose(&self) {
            if let (Some(app), Some(handler)) = (Application::instance(), self.room_changed.take())
            {
                app.rooms().disconnect(handler);
            }
        }
    }

    impl WidgetImpl for RoomDetails {}
    impl BoxImpl for RoomDetails {}
}

glib::wrapper! {
    pub struct RoomDetails(ObjectSubclass<imp::RoomDetails>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Default for RoomDetails {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl RoomDetails {
    fn build(&self) {
        let imp = self.imp();
        self.set_orientation(gtk::Orientation::Vertical);
        self.set_width_request(360);
        imp.back_button.set_icon_name("go-previous-symbolic");
        imp.back_button.set_tooltip_text(Some(&gettext("Back")));
        imp.back_button.set_action_name(Some("room.back"));
        imp.header_bar.pack_start(&imp.back_button);
        imp.header_bar.set_title_widget(Some(&imp.window_title));
        self.append(&imp.header_bar);

        let column = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(24)
            .margin_top(36)
            .margin_bottom(36)
            .margin_start(12)
            .margin_end(12)
            .build();
        let heading = gtk::Box::new(gtk::Orientation::Vertical, 6);
        imp.avatar.set_size(96);
        imp.avatar.set_halign(gtk::Align::Center);
        heading.append(&imp.avatar);
        imp.name_label.set_wrap(true);
        imp.name_label.set_justify(gtk::Justification::Center);
        imp.name_label.add_css_class("title-1");
        heading.append(&imp.name_label);
        imp.jid_label.set_wrap(true);
        imp.jid_label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
        imp.jid_label.add_css_class("dim-label");
        heading.append(&imp.jid_label);
        column.append(&heading);

        imp.subject_row.set_title(&gettext("Subject"));
        imp.subject_row.add_css_class("property");
        imp.subject_row.set_subtitle_lines(0);
        let subject_edit = ApplyRow::new(&gettext("Subject"), "room-subject");
        let weak = self.downgrade();
        subject_edit.connect_apply(move |subject| {
            let details = weak.upgrade();
            async move { details?.change_subject(subject).await }
        });
        let nick_edit = ApplyRow::new(&gettext("Your Nickname"), "room-nick");
        let weak = self.downgrade();
        nick_edit.connect_apply(move |nick| {
            let details = weak.upgrade();
            async move { details?.change_nick(nick).await }
        });
        imp.kind_row.set_title(&gettext("Kind"));
        imp.kind_row.add_css_class("property");
        imp.encryption_row.add_prefix(&imp.encryption_icon);
        imp.encryption_row.set_title_lines(0);
        imp.encryption_row.set_subtitle_lines(0);
        imp.lists_row
            .add_prefix(&gtk::Image::from_icon_name("dialog-warning-symbolic"));
        imp.lists_row.add_css_class("warning");
        imp.lists_row
            .set_title(&gettext("Only present members get the keys"));
        imp.lists_row.set_subtitle(&gettext(
            "The server does not share the member list, so members who are offline cannot read what is sent now.",
        ));
        imp.lists_row.set_subtitle_lines(0);
        imp.about.add(&imp.subject_row);
        imp.about.add(&subject_edit.row);
        imp.about.add(&nick_edit.row);
        imp.about.add(&imp.kind_row);
        imp.about.add(&imp.encryption_row);
        imp.about.add(&imp.lists_row);
        column.append(&imp.about);
        imp.subject_edit.set(subject_edit).expect("built once");
        imp.nick_edit.set(nick_edit).expect("built once");

        let invite = gtk::Button::builder()
            .label(gettext("_Invite…"))
            .use_underline(true)
            .action_name("room.invite")
            .valign(gtk::Align::Center)
            .css_classes(["flat"])
            .build();
        imp.participants.set_header_suffix(Some(&invite));
        column.append(&imp.participants);

        let actions = gtk::Box::builder()
            .orientation(gtk::Orientation::Vertical)
            .spacing(12)
            .halign(gtk::Align::Center)
            .build();
        imp.leave_button.set_label(&gettext("_Leave"));
        imp.leave_button.set_use_underline(true);
        imp.leave_button.set_action_name(Some("room.leave"));
        imp.leave_button.add_css_class("pill");
        imp.leave_button.add_css_class("destructive-action");
        imp.destroy_button
            .set_label(&gettext("_Destroy for Everyone…"));
        imp.destroy_button.set_use_underline(true);
        imp.destroy_button.set_action_name(Some("room.destroy"));
        imp.destroy_button.add_css_class("pill");
        imp.destroy_button.add_css_class("destructive-action");
        actions.append(&imp.leave_button);
        actions.append(&imp.destroy_button);
        column.append(&actions);

        let clamp = adw::Clamp::builder()
            .maximum_size(560)
            .child(&column)
            .build();
        let scrolled = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .vexpand(true)
            .child(&clamp)
            .build();
        self.append(&scrolled);

        if let Some(app) = Application::instance() {
            let handler = app.rooms().connect_room_changed(glib::clone!(
                #[weak(rename_to = details)]
                self,
                move |rooms, account, room| {
                    if details.is_for(account, room) {
                        details.render(rooms.room(account, room).as_ref());
                    }
                }
            ));
            imp.room_changed.replace(Some(handler));
        }
    }

    pub fn header_bar(&self) -> adw::HeaderBar {
        self.imp().header_bar.clone()
    }

    pub fn back_button(&self) -> gtk::Button {
        self.imp().back_button.clone()
    }

    /// Where the keyboard focus goes when the page opens: the stack and
    /// the leaflet hand it to the first focusable widget, the subject's
    /// field, and a key pressed then would start editing the subject.
    pub fn focus_start(&self) {
        let imp = self.imp();
        let in_field = [&self.subject_edit().row, &self.nick_edit().row]
            .iter()
            .any(|row| row.state_flags().contains(gtk::StateFlags::FOCUS_WITHIN));
        if !in_field {
            return;
        }
        if imp.back_button.is_visible() {
            imp.back_button.grab_focus();
        } else if let Some(window) = self.root().and_downcast::<gtk::Window>() {
            gtk::prelude::GtkWindowExt::set_focus(&window, None::<&gtk::Widget>);
        }
    }

    /// The subject's field, where the room lets us change it (tests).
    pub fn subject_row(&self) -> adw::EntryRow {
        self.subject_edit().row.clone()
    }

    /// The field with our nickname in the room (tests).
    pub fn nick_row(&self) -> adw::EntryRow {
        self.nick_edit().row.clone()
    }

    fn subject_edit(&self) -> &ApplyRow {
        self.imp().subject_edit.get().expect("built")
    }

    fn nick_edit(&self) -> &ApplyRow {
        self.imp().nick_edit.get().expect("built")
    }

    /// The participants shown (tests).
    pub fn participant_rows(&self) -> Vec<adw::ActionRow> {
        self.imp().participant_rows.borrow().clone()
    }

    pub fn info(&self) -> Option<RoomInfo> {
        self.imp().info.borrow().clone()
    }

    pub fn connect_back<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("back", false, move |args| {
            f(&args[0].get::<Self>().expect("RoomDetails"));
            None
        })
    }

    fn is_for(&self, account: &str, room: &str) -> bool {
        self.imp()
            .room
            .borrow()
            .as_ref()
            .is_some_and(|(a, r)| a == account && r == room)
    }

    /// Show `room` of `account` (named `name` until the service tells):
    /// what is known at once, then the service's fresh answer.
    pub fn set_room(&self, account: &str, room: &str, name: &str) {
        let imp = self.imp();
        let same = self.is_for(account, room);
        imp.room
            .replace(Some((account.to_owned(), room.to_owned())));
        if !same {
            imp.window_title.set_title(name);
            imp.name_label.set_text(name);
            imp.jid_label.set_text(room);
            imp.avatar.set_text(name);
            imp.avatar.set_seed(room);
        }
        let known = Application::instance().and_then(|app| app.rooms().room(account, room));
        if !same {
            // An edit begun in another room's details stays there.
            let subject = known.as_ref().and_then(|k| k.subject.clone());
            self.subject_edit().reset(&subject.unwrap_or_default());
            self.nick_edit()
                .reset(known.as_ref().map_or("", |k| k.nick.as_str()));
        }
        self.render(known.as_ref());
        self.refresh();
    }

    /// Ask the service for the room's participants and state.
    pub fn refresh(&self) {
        let Some((account, room)) = self.imp().room.borrow().clone() else {
            return;
        };
        let Some(app) = Application::instance() else {
            return;
        };
        let Some(service) = app.service() else { return };
        let generation = app.rooms().generation(&account, &room);
        glib::spawn_future_local(async move {
            let result = service
                .request(|reply| Command::RoomDetails {
                    account: account.clone(),
                    room: room.clone(),
                    reply,
                })
                .await;
            match result {
                Ok(info) => app.rooms().update_unless_newer(&info, generation),
                // Not joined (left, or not yet): what is known stays.
                Err(ServiceError::NotInRoom(_)) => {}
                Err(error) => tracing::debug!("room details of {room}: {error}"),
            }
        });
    }

    fn render(&self, info: Option<&RoomInfo>) {
        let imp = self.imp();
        imp.info.replace(info.cloned());
        let Some(info) = info else {
            imp.about.set_visible(false);
            imp.participants.set_visible(false);
            self.action_set_enabled("room.leave", false);
            imp.destroy_button.set_visible(false);
            return;
        };
        imp.about.set_visible(true);
        imp.participants.set_visible(true);
        let name = info
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| info.jid.split('@').next().unwrap_or_default().to_owned());
        imp.window_title.set_title(&name);
        imp.name_label.set_text(&name);
        imp.jid_label.set_text(&info.jid);
        imp.avatar.set_text(name.as_str());
        imp.avatar.set_seed(info.jid.as_str());

        let subject = info.subject.clone().unwrap_or_default();
        let changeable = info.joined && info.subject_changeable;
        let subject_edit = self.subject_edit();
        // A field waiting for the room's answer stays with its spinner,
        // even if an event meanwhile says we may no longer change it.
        let editing = subject_edit.is_busy() || changeable;
        subject_edit.row.set_visible(editing);
        subject_edit.set_value(&subject);
        imp.subject_row
            .set_visible(!editing && !subject.trim().is_empty());
        imp.subject_row
            .set_subtitle(&glib::markup_escape_text(&subject));
        let nick_edit = self.nick_edit();
        nick_edit
            .row
            .set_visible(info.joined || nick_edit.is_busy());
        nick_edit.set_value(&info.nick);
        imp.kind_row
            .set_subtitle(&glib::markup_escape_text(&kind_description(info)));
        if info.encryption_possible {
            imp.encryption_icon
                .set_icon_name(Some("channel-secure-symbolic"));
            imp.encryption_row
                .set_title(&gettext("Messages here are end-to-end encrypted"));
            imp.encryption_row
                .set_subtitle(&gettext("Only the members’ trusted devices can read them."));
        } else {
            imp.encryption_icon
                .set_icon_name(Some("channel-insecure-symbolic"));
            imp.encryption_row
                .set_title(&gettext("Messages here are not encrypted"));
            imp.encryption_row.set_subtitle(&glib::markup_escape_text(
                info.encryption_reason.as_deref().unwrap_or_default(),
            ));
        }
        imp.lists_row
            .set_visible(info.lists_refused && info.encryption_possible);

        for row in imp.participant_rows.take() {
            imp.participants.remove(&row);
        }
        let mut participants: Vec<&Participant> = info.participants.iter().collect();
        participants.sort_by_key(|p| {
            (
                !p.present,
                p.affiliation,
                participant_name(p).to_lowercase(),
            )
        });
        let present = participants.iter().filter(|p| p.present).count();
        imp.participants.set_title(&ngettext_f(
            "{n} Participant",
            "{n} Participants",
            u32::try_from(participants.len()).unwrap_or(u32::MAX),
            &[],
        ));
        imp.participants.set_description(Some(&ngettext_f(
            "{n} present now",
            "{n} present now",
            u32::try_from(present).unwrap_or(u32::MAX),
            &[],
        )));
        let mut rows = Vec::new();
        for participant in participants {
            let row = participant_row(info, participant);
            imp.participants.add(&row);
            rows.push(row);
        }
        imp.participant_rows.replace(rows);

        self.action_set_enabled("room.invite", info.joined);
        self.action_set_enabled("room.leave", info.joined);
        imp.destroy_button
            .set_visible(info.own_affiliation == Affiliation::Owner);
    }

    fn room_and_service(&self) -> Option<(String, String, crate::service::ServiceHandle)> {
        let (account, room) = self.imp().room.borrow().clone()?;
        let service = Application::instance()?.service()?;
        Some((account, room, service))
    }

    /// Run a room command; a failure is a toast, success a refresh.
    fn run(
        &self,
        failure: String,
        command: impl FnOnce(String, String, crate::service::Reply<()>) -> Command + 'static,
    ) {
        let Some((account, room, service)) = self.room_and_service() else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = details)]
            self,
            async move {
                let result = service.request(|reply| command(account, room, reply)).await;
                match result {
                    Ok(()) => details.refresh(),
                    Err(error) => details.failed(&failure, &error),
                }
            }
        ));
    }

    fn set_affiliation(&self, jid: &str, affiliation: Affiliation) {
        let jid = jid.to_owned();
        let failure = gettext_f("Could not change {address}", &[("address", &jid)]);
        self.run(failure, move |account, room, reply| {
            Command::SetAffiliation {
                account,
                room,
                jid,
                affiliation,
                reason: None,
                reply,
            }
        });
    }

    fn confirm_affiliation(&self, jid: &str, affiliation: Affiliation) {
        let name = self.participant_display(jid);
        let (heading, body) = if affiliation == Affiliation::Outcast {
            (
                gettext_f("Ban {name}?", &[("name", &name)]),
                gettext_f(
                    "{address} will be removed from the room and cannot join it again until unbanned.",
                    &[("address", jid)],
                ),
            )
        } else {
            (
                gettext_f("Remove {name}?", &[("name", &name)]),
                gettext_f(
                    "{address} will no longer be a member and gets no keys for new messages.",
                    &[("address", jid)],
                ),
            )
        };
        let parent = self.root().and_downcast::<gtk::Window>();
        let jid = jid.to_owned();
        confirm_removal(
            parent.as_ref(),
            &heading,
            &body,
            glib::clone!(
                #[weak(rename_to = details)]
                self,
                move || details.set_affiliation(&jid, affiliation)
            ),
        );
    }

    fn kick(&self, nick: &str) {
        let nick = nick.to_owned();
        let failure = gettext_f("Could not remove {name}", &[("name", &nick)]);
        self.run(failure, move |account, room, reply| Command::Kick {
            account,
            room,
            nick,
            reason: None,
            reply,
        });
    }

    fn participant_display(&self, jid: &str) -> String {
        self.imp()
            .info
            .borrow()
            .as_ref()
            .and_then(|info| {
                info.participants
                    .iter()
                    .find(|p| p.jid.as_deref() == Some(jid))
                    .map(participant_name)
            })
            .unwrap_or_else(|| jid.to_owned())
    }

    fn room_name(&self) -> String {
        self.imp().name_label.text().to_string()
    }

    fn confirm_leave(&self) {
        let parent = self.root().and_downcast::<gtk::Window>();
        confirm_destructive(
            parent.as_ref(),
            &gettext_f("Leave {room}?", &[("room", &self.room_name())]),
            &gettext("You stop getting its messages. The history stays on this device."),
            ("leave", &gettext("_Leave")),
            glib::clone!(
                #[weak(rename_to = details)]
                self,
                move || {
                    let failure = gettext("Could not leave the room");
                    details.run(failure, |account, room, reply| Command::LeaveRoom {
                        account,
                        room,
                        reply,
                    });
                }
            ),
        );
    }

    fn confirm_destroy(&self) {
        let parent = self.root().and_downcast::<gtk::Window>();
        confirm_destructive(
            parent.as_ref(),
            &gettext_f("Destroy {room}?", &[("room", &self.room_name())]),
            &gettext("The room is removed from the server for everyone. This cannot be undone."),
            ("destroy", &gettext("_Destroy")),
            glib::clone!(
                #[weak(rename_to = details)]
                self,
                move || {
                    let failure = gettext("Could not destroy the room");
                    details.run(failure, |account, room, reply| Command::DestroyRoom {
                        account,
                        room,
                        reason: None,
                        reply,
                    });
                }
            ),
        );
    }

    /// Send a new subject; the value in effect afterwards, or `None` (and a
    /// toast saying why) when the room refused.
    async fn change_subject(&self, subject: String) -> Option<String> {
        let (account, room, service) = self.room_and_service()?;
        let sent = subject.clone();
        let result = service
            .request(|reply| Command::SetSubject {
                account,
                room,
                subject: sent,
                reply,
            })
            .await;
        match result {
            Ok(()) => Some(subject),
            Err(error) => {
                self.refused(&gettext("Could not change the subject"), &error);
                None
            }
        }
    }

    /// Take another nickname in the room; as `change_subject`.
    async fn change_nick(&self, nick: String) -> Option<String> {
        let (account, room, service) = self.room_and_service()?;
        let result = service
            .request(|reply| Command::SetNick {
                account,
                room,
                nick,
                reply,
            })
            .await;
        match result {
            Ok(info) => {
                if let Some(app) = Application::instance() {
                    app.rooms().update(&info);
                }
                Some(info.nick)
            }
            Err(error) => {
                self.refused(&gettext("Could not change your nickname"), &error);
                None
            }
        }
    }

    /// A participant's devices and trust, in the contact details' list.
    fn show_devices(&self, jid: &str) {
        let Some((account, _)) = self.imp().room.borrow().clone() else {
            return;
        };
        let name = self.participant_display(jid);
        let window = adw::Window::builder()
            .title(gettext_f("Devices of {name}", &[("name", &name)]))
            .modal(true)
            .default_width(520)
            .default_height(600)
            .build();
        if let Some(parent) = self.root().and_downcast::<gtk::Window>() {
            window.set_transient_for(Some(&parent));
        }
        let devices = DeviceList::default();
        devices.load(&account, jid, &name);
        let page = adw::PreferencesPage::new();
        page.add(&devices);
        let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
        content.append(&adw::HeaderBar::new());
        content.append(&page);
        window.set_content(Some(&content));
        window.present();
    }

    /// "Could not …: why", as a toast.
    fn failed(&self, what: &str, error: &ServiceError) {
        self.toast(&gettext_f(
            "{what}: {reason}",
            &[("what", what), ("reason", &error.user_message())],
        ));
    }

    /// As `failed`, but the room's refusal of a subject or a nickname is
    /// a sentence of its own ("someone in the room already uses this
    /// nickname"), which "The server refused:" would only make longer.
    fn refused(&self, what: &str, error: &ServiceError) {
        let reason = match error {
            ServiceError::Refused(reason) => reason.clone(),
            other => other.user_message(),
        };
        self.toast(&gettext_f(
            "{what}: {reason}",
            &[("what", what), ("reason", &reason)],
        ));
    }

    fn toast(&self, message: &str) {
        if let Some(window) = self.root().and_downcast::<crate::ui::Window>() {
            window.add_toast(message);
        }
    }
}

fn kind_description(info: &RoomInfo) -> String {
    if info.kind == "channel" {
        if info.public {
            gettext("Public channel: anyone can find and join it")
        } else {
            gettext("Channel: anyone with the address can join")
        }
    } else {
        gettext("Group chat: members only, everyone sees the members’ addresses")
    }
}
