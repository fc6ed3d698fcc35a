//! "Join Channel…": type a room's address, or search the public rooms of
//! the account's conference service and pick one (as Dino's and
//! Conversations' join dialogs do). Join sends `JoinRoom`; what the
//! server answers shows in the dialog.

use std::cell::{Cell, RefCell};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use super::create_group_dialog::open_room;
use super::form_dialog::{FormParts, entry_row};
use crate::i18n::gettext;
use crate::service::{Command, RoomListing};
use crate::ui::address::check_bare_jid;
use crate::ui::application::Application;
use crate::ui::components::Avatar;

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct JoinChannelDialog {
        pub account: RefCell<String>,
        pub form: RefCell<Option<FormParts>>,
        pub address_row: RefCell<Option<adw::EntryRow>>,
        pub search: RefCell<Option<gtk::SearchEntry>>,
        pub list: RefCell<Option<gtk::ListBox>>,
        pub list_stack: RefCell<Option<gtk::Stack>>,
        pub listings: RefCell<Vec<RoomListing>>,
        pub busy: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for JoinChannelDialog {
        const NAME: &'static str = "SottoJoinChannelDialog";
        type Type = super::JoinChannelDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.install_action("join-channel.join", None, |dialog, _, _| dialog.join());
            klass.add_binding_action(
                gtk::gdk::Key::Escape,
                gtk::gdk::ModifierType::empty(),
                "window.close",
            );
        }
    }

    impl ObjectImpl for JoinChannelDialog {}
    impl WidgetImpl for JoinChannelDialog {}
    impl WindowImpl for JoinChannelDialog {}
    impl AdwWindowImpl for JoinChannelDialog {}
}

glib::wrapper! {
    pub struct JoinChannelDialog(ObjectSubclass<imp::JoinChannelDialog>)
        @extends adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
                    gtk::Root, gtk::ShortcutManager;
}

impl JoinChannelDialog {
    pub fn new(parent: &impl IsA<gtk::Window>, account: &str) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        let imp = dialog.imp();
        imp.account.replace(account.to_owned());
        let form = FormParts::build(
            dialog.upcast_ref(),
            &gettext("Join Channel"),
            &gettext("_Join"),
            "join-channel.join",
        );
        let address_group = adw::PreferencesGroup::builder()
            .description(gettext(
                "Type the address of a group chat or channel, like room@conference.example.org, or pick a public channel below.",
            ))
            .build();
        let address_row = entry_row(&gettext("Address"));
        address_row.set_input_purpose(gtk::InputPurpose::Email);
        address_group.add(&address_row);
        form.content.append(&address_group);

        let public = adw::PreferencesGroup::builder()
            .title(gettext("Public Channels"))
            .build();
        let search = gtk::SearchEntry::builder()
            .placeholder_text(gettext("Search channels"))
            .margin_bottom(12)
            .build();
        let list = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .css_classes(["boxed-list"])
            .build();
        list.set_placeholder(Some(
            &gtk::Label::builder()
                .label(gettext("No channel matches"))
                .margin_top(12)
                .margin_bottom(12)
                .css_classes(["dim-label"])
                .build(),
        ));
        let list_stack = gtk::Stack::builder().vhomogeneous(false).build();
        let loading = gtk::Spinner::builder()
            .spinning(true)
            .width_request(24)
            .height_request(24)
            .margin_top(12)
            .halign(gtk::Align::Center)
            .build();
        list_stack.add_named(&loading, Some("loading"));
        list_stack.add_named(&list, Some("list"));
        let unavailable = gtk::Label::builder()
            .wrap(true)
            .xalign(0.0)
            .css_classes(["dim-label"])
            .build();
        list_stack.add_named(&unavailable, Some("unavailable"));
        let public_box = gtk::Box::new(gtk::Orientation::Vertical, 0);
        public_box.append(&search);
        public_box.append(&list_stack);
        public.add(&public_box);
        form.content.append(&public);

        address_row.connect_changed(glib::clone!(
            #[weak]
            dialog,
            move |_| dialog.update_action()
        ));
        address_row.connect_entry_activated(glib::clone!(
            #[weak]
            dialog,
            move |_| {
                let _ = dialog.activate_action("join-channel.join", None);
            }
        ));
        let filter_search = search.clone();
        let filter_dialog = dialog.downgrade();
        list.set_filter_func(move |row| {
            let query = filter_search.text().trim().to_lowercase();
            if query.is_empty() {
                return true;
            }
            let Some(dialog) = filter_dialog.upgrade() else {
                return true;
            };
            let listings = dialog.imp().listings.borrow();
            usize::try_from(row.index())
                .ok()
                .and_then(|i| listings.get(i))
                .is_some_and(|l| {
                    l.jid.to_lowercase().contains(&query)
                        || l.name
                            .as_deref()
                            .is_some_and(|n| n.to_lowercase().contains(&query))
                })
        });
        search.connect_search_changed(glib::clone!(
            #[weak]
            list,
            move |_| list.invalidate_filter()
        ));
        list.connect_row_activated(glib::clone!(
            #[weak]
            dialog,
            move |_, row| {
                let jid = usize::try_from(row.index())
                    .ok()
                    .and_then(|i| dialog.imp().listings.borrow().get(i).map(|l| l.jid.clone()));
                if let Some(jid) = jid {
                    dialog.address_row().set_text(&jid);
                    let _ = dialog.activate_action("join-channel.join", None);
                }
            }
        ));
        imp.form.replace(Some(form));
        imp.address_row.replace(Some(address_row));
        imp.search.replace(Some(search));
        imp.list.replace(Some(list));
        imp.list_stack.replace(Some(list_stack));
        dialog.update_action();
        dialog.load_listings(unavailable);
        dialog
    }

    pub fn address_row(&self) -> adw::EntryRow {
        self.imp().address_row.borrow().clone().expect("built")
    }

    /// The public rooms listed so far.
    pub fn listings(&self) -> Vec<RoomListing> {
        self.imp().listings.borrow().clone()
    }

    pub fn error(&self) -> Option<String> {
        self.imp().form.borrow().as_ref().and_then(|f| f.error())
    }

    fn load_listings(&self, unavailable: gtk::Label) {
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        let account = self.imp().account.borrow().clone();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::ListRooms {
                        account,
                        service: None,
                        reply,
                    })
                    .await;
                let imp = dialog.imp();
                let Some(stack) = imp.list_stack.borrow().clone() else {
                    return;
                };
                let Some(list) = imp.list.borrow().clone() else {
                    return;
                };
                match result {
                    Ok(mut listings) => {
                        listings.sort_by_key(|l| {
                            l.name
                                .clone()
                                .unwrap_or_else(|| l.jid.clone())
                                .to_lowercase()
                        });
                        for listing in &listings {
                            list.append(&listing_row(listing));
                        }
                        imp.listings.replace(listings);
                        stack.set_visible_child_name("list");
                    }
                    Err(error) => {
                        unavailable.set_text(&crate::i18n::gettext_f(
                            "The list of public channels is not available: {reason}",
                            &[("reason", &error.user_message())],
                        ));
                        stack.set_visible_child_name("unavailable");
                    }
                }
            }
        ));
    }

    fn update_action(&self) {
        let can = !self.imp().busy.get() && !self.address_row().text().trim().is_empty();
        self.action_set_enabled("join-channel.join", can);
    }

    fn join(&self) {
        let imp = self.imp();
        if imp.busy.get() {
            return;
        }
        let form = imp.form.borrow().clone().expect("built");
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
        let account = imp.account.borrow().clone();
        form.show_error(None);
        imp.busy.set(true);
        form.set_busy(true);
        self.update_action();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::JoinRoom {
                        account,
                        room,
                        nick: None,
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

fn listing_row(listing: &RoomListing) -> adw::ActionRow {
    let name = listing
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| listing.jid.split('@').next().unwrap_or_default().to_owned());
    let row = adw::ActionRow::builder()
        .title(glib::markup_escape_text(&name).as_str())
        .subtitle(glib::markup_escape_text(&listing.jid).as_str())
        .activatable(true)
        .build();
    let avatar = Avatar::new();
    avatar.set_size(32);
    avatar.set_text(name.as_str());
    avatar.set_seed(listing.jid.as_str());
    row.add_prefix(&avatar);
    row.add_suffix(&gtk::Image::from_icon_name("go-next-symbolic"));
    row
}
