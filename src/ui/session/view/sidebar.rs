//! The sidebar: connection banner, subscription requests, and two pages:
//! the conversations (first, as the HIG's chat apps have them) and the
//! roster; over both, the search (Ctrl+K) for chats and messages.

use std::cell::RefCell;

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};

use super::{ConnectionBanner, ContactRow, ConversationRow, SearchResults, SubscriptionRequestRow};
use crate::ui::session::model::{
    ContactItem, Conversation, MessageItem, Presence, Session, SubscriptionRequest,
};

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/sidebar.ui")]
    #[properties(wrapper_type = super::Sidebar)]
    pub struct Sidebar {
        #[template_child]
        pub header_bar: TemplateChild<adw::HeaderBar>,
        #[template_child]
        pub menu_button: TemplateChild<gtk::MenuButton>,
        #[template_child]
        pub search_button: TemplateChild<gtk::ToggleButton>,
        #[template_child]
        pub search_bar: TemplateChild<gtk::SearchBar>,
        #[template_child]
        pub search_entry: TemplateChild<gtk::SearchEntry>,
        #[template_child]
        pub content_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub search_results: TemplateChild<SearchResults>,
        #[template_child]
        pub banner: TemplateChild<ConnectionBanner>,
        #[template_child]
        pub requests_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub requests_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub invitations_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub invitations_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub view_stack: TemplateChild<adw::ViewStack>,
        #[template_child]
        pub chats_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub conversations_view: TemplateChild<gtk::ListView>,
        #[template_child]
        pub roster_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub roster_view: TemplateChild<gtk::ListView>,
        #[property(get, set = Self::set_primary_menu, nullable)]
        pub primary_menu: RefCell<Option<gio::MenuModel>>,
        /// The contact whose details are open.
        #[property(get, nullable)]
        pub selected_contact: RefCell<Option<ContactItem>>,
        pub selection: RefCell<Option<gtk::SingleSelection>>,
        /// The conversation whose chat is open.
        #[property(get, nullable)]
        pub selected_conversation: RefCell<Option<Conversation>>,
        pub conversation_selection: RefCell<Option<gtk::SingleSelection>>,
        /// Rows on screen, to age their times once a minute.
        pub conversation_rows: RefCell<Vec<glib::WeakRef<ConversationRow>>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Sidebar {
        const NAME: &'static str = "SottoSidebar";
        type Type = super::Sidebar;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            ConnectionBanner::ensure_type();
            SearchResults::ensure_type();
            klass.bind_template();
            klass.install_action("sidebar.show-contacts", None, |sidebar, _, _| {
                sidebar.imp().view_stack.set_visible_child_name("contacts");
            });
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for Sidebar {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: std::sync::OnceLock<Vec<glib::subclass::Signal>> =
                std::sync::OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    // A chat picked from the search results.
                    glib::subclass::Signal::builder("open-conversation")
                        .param_types([Conversation::static_type()])
                        .build(),
                    // A message picked from the search results.
                    glib::subclass::Signal::builder("open-message")
                        .param_types([MessageItem::static_type()])
                        .build(),
                ]
            })
        }

        fn constructed(&self) {
            self.parent_constructed();
            self.obj().setup_search();
            let factory = gtk::SignalListItemFactory::new();
            factory.connect_setup(|_, item| {
                let item = item.downcast_ref::<gtk::ListItem>().expect("ListItem");
                item.set_child(Some(&ContactRow::new()));
            });
            factory.connect_bind(|_, item| {
                let item = item.downcast_ref::<gtk::ListItem>().expect("ListItem");
                let row = item
                    .child()
                    .and_downcast::<ContactRow>()
                    .expect("ContactRow");
                row.set_contact(item.item().and_downcast::<ContactItem>());
            });
            factory.connect_unbind(|_, item| {
                let item = item.downcast_ref::<gtk::ListItem>().expect("ListItem");
                if let Some(row) = item.child().and_downcast::<ContactRow>() {
                    row.set_contact(None::<ContactItem>);
                }
            });
            self.roster_view.set_factory(Some(&factory));

            let obj = self.obj();
            let factory = gtk::SignalListItemFactory::new();
            factory.connect_setup(glib::clone!(
                #[weak]
                obj,
                move |_, item| {
                    let item = item.downcast_ref::<gtk::ListItem>().expect("ListItem");
                    let row = ConversationRow::new();
                    obj.imp()
                        .conversation_rows
                        .borrow_mut()
                        .push(row.downgrade());
                    item.set_child(Some(&row));
                }
            ));
            factory.connect_bind(|_, item| {
                let item = item.downcast_ref::<gtk::ListItem>().expect("ListItem");
                if let Some(row) = item.child().and_downcast::<ConversationRow>() {
                    row.set_conversation(item.item().and_downcast::<Conversation>());
                }
            });
            factory.connect_unbind(|_, item| {
                let item = item.downcast_ref::<gtk::ListItem>().expect("ListItem");
                if let Some(row) = item.child().and_downcast::<ConversationRow>() {
                    row.set_conversation(None);
                }
            });
            self.conversations_view.set_factory(Some(&factory));
            // "5 min" becomes "6 min": age the visible times.
            glib::timeout_add_seconds_local(
                60,
                glib::clone!(
                    #[weak]
                    obj,
                    #[upgrade_or]
                    glib::ControlFlow::Break,
                    move || {
                        obj.imp().conversation_rows.borrow_mut().retain(|row| {
                            match row.upgrade() {
                                Some(row) => {
                                    row.refresh_time();
                                    true
                                }
                                None => false,
                            }
                        });
                        glib::ControlFlow::Continue
                    }
                ),
            );
        }
    }

    impl WidgetImpl for Sidebar {}
    impl BoxImpl for Sidebar {}

    impl Sidebar {
        fn set_primary_menu(&self, menu: Option<gio::MenuModel>) {
            self.menu_button.set_menu_model(menu.as_ref());
            self.primary_menu.replace(menu);
        }
    }
}

glib::wrapper! {
    pub struct Sidebar(ObjectSubclass<imp::Sidebar>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Sidebar {
    pub fn set_session(&self, session: &Session) {
        let imp = self.imp();
        imp.banner.set_accounts(&session.accounts());

        // Online people first, then by name, as Dino and Gajim list them.
        let sorter = gtk::CustomSorter::new(|a, b| {
            let (a, b) = (
                a.downcast_ref::<ContactItem>().expect("ContactItem"),
                b.downcast_ref::<ContactItem>().expect("ContactItem"),
            );
            let rank = |c: &ContactItem| u8::from(c.presence() == Presence::Offline);
            rank(a)
                .cmp(&rank(b))
                .then_with(|| {
                    a.display_name()
                        .to_lowercase()
                        .cmp(&b.display_name().to_lowercase())
                })
                .then_with(|| a.jid().cmp(&b.jid()))
                .into()
        });
        let sorted = gtk::SortListModel::new(Some(session.contacts()), Some(sorter.clone()));
        session.connect_contacts_reordered(move |_| sorter.changed(gtk::SorterChange::Different));
        let selection = gtk::SingleSelection::new(Some(sorted));
        selection.set_autoselect(false);
        selection.set_can_unselect(true);
        selection.set_selected(gtk::INVALID_LIST_POSITION);
        selection.connect_selected_item_notify(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |selection| {
                let contact = selection.selected_item().and_downcast::<ContactItem>();
                // Unselecting (going back on a narrow window) keeps the pane.
                if contact.is_some() {
                    sidebar.set_selected_contact(contact);
                }
            }
        ));
        imp.roster_view.set_model(Some(&selection));
        imp.selection.replace(Some(selection));

        let contacts = session.contacts();
        contacts.connect_items_changed(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |contacts, _, _, _| sidebar.on_contacts_changed(contacts)
        ));
        self.on_contacts_changed(&contacts);

        let requests = session.requests();
        imp.requests_list.bind_model(Some(&requests), |item| {
            let request = item
                .downcast_ref::<SubscriptionRequest>()
                .expect("SubscriptionRequest");
            SubscriptionRequestRow::new(request).upcast()
        });
        requests.connect_items_changed(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |requests, _, _, _| {
                sidebar
                    .imp()
                    .requests_revealer
                    .set_reveal_child(requests.n_items() > 0);
            }
        ));
        imp.requests_revealer
            .set_reveal_child(requests.n_items() > 0);
        self.set_invitations();
        self.set_conversations(session);
    }

    /// Invitations into group chats, answered with Join or Dismiss.
    fn set_invitations(&self) {
        let Some(app) = crate::ui::Application::instance() else {
            return;
        };
        let imp = self.imp();
        let invitations = app.rooms().invitations();
        imp.invitations_list.bind_model(Some(&invitations), |item| {
            let invitation = item
                .downcast_ref::<crate::ui::session::model::RoomInvitation>()
                .expect("RoomInvitation");
            super::InvitationRow::new(invitation).upcast()
        });
        invitations.connect_items_changed(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |invitations, _, _, _| {
                sidebar
                    .imp()
                    .invitations_revealer
                    .set_reveal_child(invitations.n_items() > 0);
            }
        ));
        imp.invitations_revealer
            .set_reveal_child(invitations.n_items() > 0);
    }

    fn set_conversations(&self, session: &Session) {
        let imp = self.imp();
        // Most recent first; ties (no messages yet) by name.
        let sorter = gtk::CustomSorter::new(|a, b| {
            let (Some(a), Some(b)) = (
                a.downcast_ref::<Conversation>(),
                b.downcast_ref::<Conversation>(),
            ) else {
                return gtk::Ordering::Equal;
            };
            b.last_activity()
                .cmp(&a.last_activity())
                .then_with(|| a.name().to_lowercase().cmp(&b.name().to_lowercase()))
                .then_with(|| a.jid().cmp(&b.jid()))
                .into()
        });
        let sorted = gtk::SortListModel::new(Some(session.conversations()), Some(sorter.clone()));
        session
            .connect_conversations_reordered(move |_| sorter.changed(gtk::SorterChange::Different));
        let selection = gtk::SingleSelection::new(Some(sorted.clone()));
        selection.set_autoselect(false);
        selection.set_can_unselect(true);
        selection.set_selected(gtk::INVALID_LIST_POSITION);
        selection.connect_selected_item_notify(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |selection| {
                let conversation = selection.selected_item().and_downcast::<Conversation>();
                if conversation.is_some() {
                    sidebar.set_selected_conversation(conversation);
                }
            }
        ));
        imp.conversations_view.set_model(Some(&selection));
        imp.search_results.set_session(session, &sorted);
        imp.conversation_selection.replace(Some(selection));
        let conversations = session.conversations();
        conversations.connect_items_changed(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |conversations, _, _, _| sidebar.on_conversations_changed(conversations)
        ));
        self.on_conversations_changed(&conversations);
    }

    /// The sorted conversation list, as shown.
    pub fn conversations(&self) -> Option<gio::ListModel> {
        self.imp()
            .conversation_selection
            .borrow()
            .as_ref()
            .map(|s| s.clone().upcast())
    }

    /// Open the chat at `position` of the conversation list.
    pub fn select_conversation(&self, position: u32) {
        if let Some(selection) = self.imp().conversation_selection.borrow().as_ref() {
            selection.set_selected(position);
        }
    }

    /// Open the chat above (`delta` -1) or below (+1) the open one in the
    /// conversation list (Alt+Up / Alt+Down); from none, the first or last.
    pub fn select_adjacent(&self, delta: i32) {
        let Some(selection) = self.imp().conversation_selection.borrow().clone() else {
            return;
        };
        let n = selection.n_items();
        if n == 0 {
            return;
        }
        let current = selection.selected();
        let next = if current == gtk::INVALID_LIST_POSITION {
            if delta > 0 { 0 } else { n - 1 }
        } else {
            (i64::from(current) + i64::from(delta)).clamp(0, i64::from(n) - 1) as u32
        };
        if next != current {
            selection.set_selected(next);
        }
    }

    /// Mark `conversation` as the open one in the list, if it is listed
    /// (a chat opened from the roster is not, until its first message).
    pub fn show_as_selected(&self, conversation: &Conversation) {
        let Some(selection) = self.imp().conversation_selection.borrow().clone() else {
            return;
        };
        let position = (0..selection.n_items())
            .find(|&i| selection.item(i).as_ref() == Some(conversation.upcast_ref()));
        match position {
            Some(position) if selection.selected() != position => selection.set_selected(position),
            Some(_) => {}
            None => selection.set_selected(gtk::INVALID_LIST_POSITION),
        }
        if self.selected_conversation().as_ref() != Some(conversation) {
            self.imp()
                .selected_conversation
                .replace(Some(conversation.clone()));
        }
    }

    fn setup_search(&self) {
        let imp = self.imp();
        let entry = &*imp.search_entry;
        imp.search_bar.connect_entry(entry);
        imp.search_results.set_entry(entry);
        // `changed`, not the entry's own delayed `search-changed`: the chats
        // filter at once; the results debounce the archive search.
        entry.connect_changed(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |entry| sidebar.on_search_text(&entry.text())
        ));
        entry.connect_activate(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |_| sidebar.imp().search_results.activate_first()
        ));
        let keys = gtk::EventControllerKey::new();
        // Before the entry's text field sees the arrow.
        keys.set_propagation_phase(gtk::PropagationPhase::Capture);
        keys.connect_key_pressed(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            #[upgrade_or]
            glib::Propagation::Proceed,
            move |_, key, _, modifiers| {
                let results = &sidebar.imp().search_results;
                if key == gtk::gdk::Key::Down && modifiers.is_empty() && results.focus_first() {
                    glib::Propagation::Stop
                } else {
                    glib::Propagation::Proceed
                }
            }
        ));
        entry.add_controller(keys);
        imp.search_bar
            .connect_search_mode_enabled_notify(glib::clone!(
                #[weak(rename_to = sidebar)]
                self,
                move |bar| {
                    if !bar.is_search_mode() {
                        let imp = sidebar.imp();
                        imp.search_entry.set_text("");
                        // Focus back to the list rather than lost in a
                        // hidden entry.
                        if imp.search_entry.has_focus() || imp.search_results.has_focus() {
                            imp.conversations_view.grab_focus();
                        }
                    }
                }
            ));
        imp.search_results.connect_stop(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |_| {
                sidebar.imp().search_bar.set_search_mode(false);
                sidebar.imp().conversations_view.grab_focus();
            }
        ));
        imp.search_results
            .connect_conversation_activated(glib::clone!(
                #[weak(rename_to = sidebar)]
                self,
                move |_, conversation| {
                    sidebar.emit_by_name::<()>("open-conversation", &[conversation]);
                }
            ));
        imp.search_results.connect_message_activated(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |_, item| sidebar.emit_by_name::<()>("open-message", &[item])
        ));
    }

    fn on_search_text(&self, text: &str) {
        let imp = self.imp();
        imp.search_results.set_query(text);
        let page = if text.trim().is_empty() {
            "browse"
        } else {
            "search"
        };
        imp.content_stack.set_visible_child_name(page);
    }

    /// Ctrl+K: open the search with the entry focused; from the entry,
    /// close it again.
    pub fn toggle_search(&self) {
        let imp = self.imp();
        let entry = &*imp.search_entry;
        let in_entry = entry
            .root()
            .and_then(|root| root.focus())
            .is_some_and(|focus| focus.is_ancestor(entry));
        if imp.search_bar.is_search_mode() && in_entry {
            imp.search_bar.set_search_mode(false);
            return;
        }
        imp.search_bar.set_search_mode(true);
        entry.grab_focus();
        entry.select_region(0, -1);
    }

    pub fn search_bar(&self) -> gtk::SearchBar {
        self.imp().search_bar.get()
    }

    pub fn search_entry(&self) -> gtk::SearchEntry {
        self.imp().search_entry.get()
    }

    pub fn search_results(&self) -> SearchResults {
        self.imp().search_results.get()
    }

    /// Whether the search results (not the chats or contacts) show.
    pub fn shows_search_results(&self) -> bool {
        self.imp().content_stack.visible_child_name().as_deref() == Some("search")
    }

    pub fn connect_open_conversation<F: Fn(&Self, &Conversation) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("open-conversation", false, move |args| {
            if let (Ok(sidebar), Ok(conversation)) =
                (args[0].get::<Self>(), args[1].get::<Conversation>())
            {
                f(&sidebar, &conversation);
            }
            None
        })
    }

    pub fn connect_open_message<F: Fn(&Self, &MessageItem) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("open-message", false, move |args| {
            if let (Ok(sidebar), Ok(item)) = (args[0].get::<Self>(), args[1].get::<MessageItem>()) {
                f(&sidebar, &item);
            }
            None
        })
    }

    /// Which page shows: `chats` or `contacts`.
    pub fn set_page(&self, name: &str) {
        self.imp().view_stack.set_visible_child_name(name);
    }

    pub fn page(&self) -> Option<glib::GString> {
        self.imp().view_stack.visible_child_name()
    }

    fn set_selected_conversation(&self, conversation: Option<Conversation>) {
        if *self.imp().selected_conversation.borrow() != conversation {
            self.imp().selected_conversation.replace(conversation);
            self.notify_selected_conversation();
        }
    }

    fn on_conversations_changed(&self, conversations: &gio::ListStore) {
        let page = if conversations.n_items() > 0 {
            "list"
        } else {
            "empty"
        };
        self.imp().chats_stack.set_visible_child_name(page);
    }

    pub fn header_bar(&self) -> adw::HeaderBar {
        self.imp().header_bar.get()
    }

    pub fn banner(&self) -> ConnectionBanner {
        self.imp().banner.get()
    }

    /// Select the contact at `position` in the sorted roster.
    pub fn select(&self, position: u32) {
        if let Some(selection) = self.imp().selection.borrow().as_ref() {
            selection.set_selected(position);
        }
    }

    /// Forget the list selections (the content pane keeps what it shows).
    pub fn unselect(&self) {
        let imp = self.imp();
        if let Some(selection) = imp.selection.borrow().as_ref() {
            selection.set_selected(gtk::INVALID_LIST_POSITION);
        }
        if let Some(selection) = imp.conversation_selection.borrow().as_ref() {
            selection.set_selected(gtk::INVALID_LIST_POSITION);
        }
    }

    /// The sorted roster, as shown.
    pub fn roster(&self) -> Option<gio::ListModel> {
        self.imp()
            .selection
            .borrow()
            .as_ref()
            .map(|s| s.clone().upcast())
    }

    fn set_selected_contact(&self, contact: Option<ContactItem>) {
        if *self.imp().selected_contact.borrow() != contact {
            self.imp().selected_contact.replace(contact);
            self.notify_selected_contact();
        }
    }

    fn on_contacts_changed(&self, contacts: &gio::ListStore) {
        let imp = self.imp();
        let page = if contacts.n_items() > 0 {
            "roster"
        } else {
            "empty"
        };
        imp.roster_stack.set_visible_child_name(page);
        // A removed contact's details must not stay on screen.
        let selected = imp.selected_contact.borrow().clone();
        if let Some(selected) = selected
            && contacts.find(&selected).is_none()
        {
            self.set_selected_contact(None);
        }
    }
}
