//! The signed-in view: the sidebar (chats, contacts) and the content pane
//! (the open chat, or the contact's details with their devices) in a
//! leaflet that folds into one pane at a time on narrow windows (360 px).

use std::cell::{Cell, RefCell};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use super::chat::ChatView;
use super::{ContactDetails, RoomDetails, Sidebar};
use crate::service::{Contact, Subscription};
use crate::ui::session::model::{ContactItem, Conversation, MessageItem, Session};

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/session_view.ui")]
    #[properties(wrapper_type = super::SessionView)]
    pub struct SessionView {
        #[template_child]
        pub leaflet: TemplateChild<adw::Leaflet>,
        #[template_child]
        pub sidebar: TemplateChild<Sidebar>,
        #[template_child]
        pub content_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub chat_view: TemplateChild<ChatView>,
        #[template_child]
        pub details: TemplateChild<ContactDetails>,
        /// Where `details` goes for group chats and channels.
        pub room_details: RoomDetails,
        pub session: RefCell<Option<Session>>,
        #[property(get, set = Self::set_primary_menu, nullable)]
        pub primary_menu: RefCell<Option<gio::MenuModel>>,
        pub loaded: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SessionView {
        const NAME: &'static str = "SottoSessionView";
        type Type = super::SessionView;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            Sidebar::ensure_type();
            ChatView::ensure_type();
            ContactDetails::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for SessionView {
        fn constructed(&self) {
            self.parent_constructed();
            let view = self.obj();
            let leaflet = &*self.leaflet;
            self.content_stack
                .add_named(&self.room_details, Some("room"));
            leaflet
                .bind_property(
                    "folded",
                    &self.room_details.header_bar(),
                    "show-start-title-buttons",
                )
                .sync_create()
                .build();
            self.room_details.connect_back(glib::clone!(
                #[weak]
                view,
                move |_| view.details_back()
            ));
            // Title buttons only at the window's edges; back only when folded.
            leaflet
                .bind_property(
                    "folded",
                    &self.sidebar.header_bar(),
                    "show-end-title-buttons",
                )
                .sync_create()
                .build();
            leaflet
                .bind_property(
                    "folded",
                    &self.details.header_bar(),
                    "show-start-title-buttons",
                )
                .sync_create()
                .build();
            leaflet
                .bind_property(
                    "folded",
                    &self.chat_view.header_bar(),
                    "show-start-title-buttons",
                )
                .sync_create()
                .build();
            leaflet
                .bind_property("folded", &self.chat_view.back_button(), "visible")
                .sync_create()
                .build();
            leaflet.connect_folded_notify(glib::clone!(
                #[weak]
                view,
                move |_| view.update_details_back()
            ));
            view.update_details_back();
            self.sidebar.connect_selected_contact_notify(glib::clone!(
                #[weak]
                view,
                move |sidebar| view.show_contact(sidebar.selected_contact())
            ));
            self.sidebar
                .connect_selected_conversation_notify(glib::clone!(
                    #[weak]
                    view,
                    move |sidebar| {
                        if let Some(conversation) = sidebar.selected_conversation() {
                            view.show_conversation(&conversation);
                        }
                    }
                ));
            self.sidebar.connect_open_conversation(glib::clone!(
                #[weak]
                view,
                move |_, conversation| view.show_conversation(conversation)
            ));
            self.sidebar.connect_open_message(glib::clone!(
                #[weak]
                view,
                move |_, item| view.show_message(item)
            ));
            self.details.connect_back(glib::clone!(
                #[weak]
                view,
                move |_| view.details_back()
            ));
            self.chat_view.connect_back(glib::clone!(
                #[weak]
                view,
                move |_| view.go_back()
            ));
            self.chat_view.connect_review_devices(glib::clone!(
                #[weak]
                view,
                move |_| {
                    view.show_details_page();
                    view.imp().details.reveal_devices();
                }
            ));
            self.chat_view.connect_show_details(glib::clone!(
                #[weak]
                view,
                move |_| view.show_details_page()
            ));
            leaflet.connect_visible_child_notify(glib::clone!(
                #[weak]
                view,
                move |leaflet| {
                    // Back on the list when folded: clear the selection so
                    // tapping the same contact opens it again.
                    let imp = view.imp();
                    if leaflet.is_folded()
                        && leaflet.visible_child().as_ref() == Some(imp.sidebar.upcast_ref())
                    {
                        imp.sidebar.unselect();
                    }
                }
            ));
        }
    }

    impl WidgetImpl for SessionView {}
    impl BinImpl for SessionView {}

    impl SessionView {
        fn set_primary_menu(&self, menu: Option<gio::MenuModel>) {
            self.sidebar.set_primary_menu(menu.clone());
            self.primary_menu.replace(menu);
        }
    }
}

glib::wrapper! {
    pub struct SessionView(ObjectSubclass<imp::SessionView>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl SessionView {
    pub fn set_session(&self, session: &Session) {
        self.imp().session.replace(Some(session.clone()));
        self.imp().sidebar.set_session(session);
    }

    pub fn chat_view(&self) -> ChatView {
        self.imp().chat_view.get()
    }

    /// Open the chat with `conversation`.
    pub fn show_conversation(&self, conversation: &Conversation) {
        let imp = self.imp();
        imp.chat_view.set_conversation(Some(conversation.clone()));
        imp.sidebar.show_as_selected(conversation);
        if conversation.is_room() {
            imp.room_details.set_room(
                &conversation.account(),
                &conversation.jid(),
                &conversation.name(),
            );
            imp.content_stack.set_visible_child_name("chat");
            self.update_details_back();
            imp.leaflet.set_visible_child(&*imp.content_stack);
            return;
        }
        let contact = imp
            .session
            .borrow()
            .as_ref()
            .and_then(|s| s.contact(&conversation.account(), &conversation.jid()))
            .unwrap_or_else(|| stranger(conversation));
        imp.details.set_contact(Some(contact));
        imp.content_stack.set_visible_child_name("chat");
        self.update_details_back();
        imp.leaflet.set_visible_child(&*imp.content_stack);
    }

    /// Open the chat a search result is in, at that message.
    pub fn show_message(&self, item: &MessageItem) {
        let Some((account, jid, id)) =
            item.with_message(|m| (m.account.clone(), m.conversation.clone(), m.id))
        else {
            return;
        };
        let Some(conversation) = self
            .imp()
            .session
            .borrow()
            .as_ref()
            .map(|s| s.conversation(&account, &jid))
        else {
            return;
        };
        self.show_conversation(&conversation);
        self.imp().chat_view.show_message(id);
    }

    /// Ctrl+K: the search, in the sidebar (brought into view when folded).
    pub fn toggle_search(&self) {
        let imp = self.imp();
        if imp.leaflet.is_folded() {
            imp.leaflet.set_visible_child(&*imp.sidebar);
        }
        imp.sidebar.toggle_search();
    }

    /// The contact's details and devices, over the chat.
    pub fn show_details_page(&self) {
        let imp = self.imp();
        let room = imp.chat_view.conversation().is_some_and(|c| c.is_room());
        imp.content_stack
            .set_visible_child_name(if room { "room" } else { "details" });
        self.update_details_back();
        imp.leaflet.set_visible_child(&*imp.content_stack);
        if room {
            imp.room_details.focus_start();
        }
    }

    /// Whether the contact's details (not the chat) fill the content pane.
    pub fn shows_details_page(&self) -> bool {
        matches!(
            self.imp().content_stack.visible_child_name().as_deref(),
            Some("details" | "room")
        )
    }

    /// The group chat's or channel's details.
    pub fn room_details(&self) -> RoomDetails {
        self.imp().room_details.clone()
    }

    pub fn set_loaded(&self, loaded: bool) {
        self.imp().loaded.set(loaded);
    }

    pub fn is_loaded(&self) -> bool {
        self.imp().loaded.get()
    }

    pub fn sidebar(&self) -> Sidebar {
        self.imp().sidebar.get()
    }

    pub fn details(&self) -> ContactDetails {
        self.imp().details.get()
    }

    pub fn is_folded(&self) -> bool {
        self.imp().leaflet.is_folded()
    }

    /// Whether the content pane (chat or details) is what a narrow window
    /// shows.
    pub fn shows_details(&self) -> bool {
        let imp = self.imp();
        imp.leaflet.visible_child().as_ref() == Some(imp.content_stack.upcast_ref())
    }

    /// A contact picked in the roster: open (or start) the chat with them.
    fn show_contact(&self, contact: Option<ContactItem>) {
        let imp = self.imp();
        let Some(contact) = contact else {
            imp.details.set_contact(None::<ContactItem>);
            if self.shows_details_page() {
                imp.content_stack.set_visible_child_name("chat");
            }
            self.go_back();
            return;
        };
        let conversation = imp
            .session
            .borrow()
            .as_ref()
            .map(|s| s.conversation(&contact.account(), &contact.jid()));
        match conversation {
            Some(conversation) => self.show_conversation(&conversation),
            None => {
                imp.details.set_contact(Some(contact));
                self.show_details_page();
            }
        }
    }

    /// Back from the details: to the chat they were opened from, else to
    /// the sidebar.
    fn details_back(&self) {
        let imp = self.imp();
        if self.shows_details_page() && imp.chat_view.conversation().is_some() {
            imp.content_stack.set_visible_child_name("chat");
            self.update_details_back();
        } else {
            self.go_back();
        }
    }

    fn update_details_back(&self) {
        let imp = self.imp();
        let over_chat = self.shows_details_page() && imp.chat_view.conversation().is_some();
        imp.details
            .back_button()
            .set_visible(imp.leaflet.is_folded() || over_chat);
        imp.room_details
            .back_button()
            .set_visible(imp.leaflet.is_folded() || over_chat);
    }

    fn go_back(&self) {
        let imp = self.imp();
        imp.leaflet.set_visible_child(&*imp.sidebar);
    }
}

/// Details for someone who is not in the roster (they wrote first).
fn stranger(conversation: &Conversation) -> ContactItem {
    let contact = Contact {
        jid: conversation.jid(),
        name: Some(conversation.name()),
        subscription: Subscription::None,
        pending_out: false,
        pending_in: false,
        groups: Vec::new(),
        in_roster: false,
    };
    ContactItem::new(&conversation.account(), &contact)
}
