//! What the sidebar's search finds: the chats whose name or address
//! matches (filtered at once, as the user types) and, a moment after the
//! typing stops, the messages across the whole archive (the service's
//! full-text index) with the matching words highlighted.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};

use super::ConversationRow;
use super::search_result_row::{SearchResultRow, fold};
use crate::service::Command;
use crate::ui::application::Application;
use crate::ui::session::model::{Conversation, MessageItem, Session};

/// Wait this long after the last key before searching the archive: one
/// query per pause, not one per letter.
pub const SEARCH_DELAY: Duration = Duration::from_millis(250);
/// Messages shown at most, newest first.
pub const MAX_RESULTS: u32 = 50;

mod imp {
    use std::sync::OnceLock;

    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/search_results.ui")]
    pub struct SearchResults {
        #[template_child]
        pub scrolled: TemplateChild<gtk::ScrolledWindow>,
        #[template_child]
        pub chats_heading: TemplateChild<gtk::Label>,
        #[template_child]
        pub chats_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub messages_heading: TemplateChild<gtk::Label>,
        #[template_child]
        pub messages_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub spinner: TemplateChild<gtk::Spinner>,
        #[template_child]
        pub messages_list: TemplateChild<gtk::ListBox>,
        pub session: RefCell<Option<Session>>,
        /// The words typed, shared with the chats filter.
        pub query: Rc<RefCell<String>>,
        pub filter: RefCell<Option<gtk::CustomFilter>>,
        pub chats: RefCell<Option<gtk::FilterListModel>>,
        /// `MessageItem`s found, newest first.
        pub hits: RefCell<Option<gio::ListStore>>,
        pub pending: RefCell<Option<glib::SourceId>>,
        /// Bumped per archive query, so a slow answer to old words is
        /// dropped.
        pub generation: Cell<u64>,
        /// Where Up from the first row goes back to.
        pub entry: glib::WeakRef<gtk::SearchEntry>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SearchResults {
        const NAME: &'static str = "SottoSearchResults";
        type Type = super::SearchResults;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for SearchResults {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    glib::subclass::Signal::builder("conversation-activated")
                        .param_types([Conversation::static_type()])
                        .build(),
                    glib::subclass::Signal::builder("message-activated")
                        .param_types([MessageItem::static_type()])
                        .build(),
                    // Escape in the results: close the search.
                    glib::subclass::Signal::builder("stop").build(),
                ]
            })
        }

        fn constructed(&self) {
            self.parent_constructed();
            self.obj().setup();
        }

        fn dispose(&self) {
            if let Some(source) = self.pending.take() {
                source.remove();
            }
        }
    }

    impl WidgetImpl for SearchResults {}
    impl BoxImpl for SearchResults {}
}

glib::wrapper! {
    pub struct SearchResults(ObjectSubclass<imp::SearchResults>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl SearchResults {
    fn setup(&self) {
        let imp = self.imp();
        let hits = gio::ListStore::new::<MessageItem>();
        imp.messages_list.bind_model(
            Some(&hits),
            glib::clone!(
                #[weak(rename_to = results)]
                self,
                #[upgrade_or_else]
                || gtk::Label::new(None).upcast(),
                move |item| {
                    let Some(item) = item.downcast_ref::<MessageItem>() else {
                        return gtk::Label::new(None).upcast();
                    };
                    let name = results.conversation_name(item);
                    let query = results.imp().query.borrow().clone();
                    SearchResultRow::new(item, &name, &query).upcast()
                }
            ),
        );
        imp.hits.replace(Some(hits));
        imp.messages_list.connect_row_activated(glib::clone!(
            #[weak(rename_to = results)]
            self,
            move |_, row| {
                let item = row
                    .child()
                    .and_downcast::<SearchResultRow>()
                    .and_then(|r| r.item());
                if let Some(item) = item {
                    results.emit_by_name::<()>("message-activated", &[&item]);
                }
            }
        ));
        imp.chats_list.connect_row_activated(glib::clone!(
            #[weak(rename_to = results)]
            self,
            move |_, row| {
                let chats = results.imp().chats.borrow().clone();
                let conversation = chats
                    .and_then(|c| c.item(row.index().max(0) as u32))
                    .and_downcast::<Conversation>();
                if let Some(conversation) = conversation {
                    results.emit_by_name::<()>("conversation-activated", &[&conversation]);
                }
            }
        ));

        // Arrow keys run on from one list into the next and back to the
        // entry, as in one list.
        imp.chats_list.connect_keynav_failed(glib::clone!(
            #[weak(rename_to = results)]
            self,
            #[upgrade_or]
            glib::Propagation::Proceed,
            move |_, direction| match direction {
                gtk::DirectionType::Down => results.focus_row(&results.imp().messages_list, 0),
                gtk::DirectionType::Up => results.focus_entry(),
                _ => glib::Propagation::Proceed,
            }
        ));
        imp.messages_list.connect_keynav_failed(glib::clone!(
            #[weak(rename_to = results)]
            self,
            #[upgrade_or]
            glib::Propagation::Proceed,
            move |_, direction| {
                let imp = results.imp();
                match direction {
                    gtk::DirectionType::Up if imp.chats_list.is_visible() => {
                        let last = results.chat_count().saturating_sub(1);
                        results.focus_row(&imp.chats_list, last)
                    }
                    gtk::DirectionType::Up => results.focus_entry(),
                    _ => glib::Propagation::Proceed,
                }
            }
        ));
        let keys = gtk::EventControllerKey::new();
        keys.connect_key_pressed(glib::clone!(
            #[weak(rename_to = results)]
            self,
            #[upgrade_or]
            glib::Propagation::Proceed,
            move |_, key, _, modifiers| {
                if key == gtk::gdk::Key::Escape && modifiers.is_empty() {
                    results.emit_by_name::<()>("stop", &[]);
                    glib::Propagation::Stop
                } else {
                    glib::Propagation::Proceed
                }
            }
        ));
        self.add_controller(keys);
    }

    /// The conversations to filter (the sidebar's sorted list), and the
    /// session to name the chats of found messages.
    pub fn set_session(&self, session: &Session, conversations: &impl IsA<gio::ListModel>) {
        let imp = self.imp();
        imp.session.replace(Some(session.clone()));
        let query = imp.query.clone();
        let filter = gtk::CustomFilter::new(move |item| {
            let Some(conversation) = item.downcast_ref::<Conversation>() else {
                return false;
            };
            let query = query.borrow();
            let haystack = fold(&format!("{} {}", conversation.name(), conversation.jid()));
            let mut words = query.split_whitespace().peekable();
            words.peek().is_some() && words.all(|w| haystack.contains(&fold(w)))
        });
        let chats = gtk::FilterListModel::new(Some(conversations.clone()), Some(filter.clone()));
        imp.chats_list.bind_model(Some(&chats), |item| {
            let row = ConversationRow::new();
            row.set_conversation(item.downcast_ref::<Conversation>().cloned());
            row.upcast()
        });
        chats.connect_items_changed(glib::clone!(
            #[weak(rename_to = results)]
            self,
            move |_, _, _, _| results.update_chats_heading()
        ));
        imp.filter.replace(Some(filter));
        imp.chats.replace(Some(chats));
        self.update_chats_heading();
    }

    /// The entry the results belong to (Up from the top goes back there).
    pub fn set_entry(&self, entry: &gtk::SearchEntry) {
        self.imp().entry.set(Some(entry));
    }

    /// New words: filter the chats now, search the messages once typing
    /// pauses.
    pub fn set_query(&self, text: &str) {
        let imp = self.imp();
        let text = text.trim().to_owned();
        if *imp.query.borrow() == text {
            return;
        }
        imp.query.replace(text.clone());
        if let Some(filter) = imp.filter.borrow().as_ref() {
            filter.changed(gtk::FilterChange::Different);
        }
        if let Some(source) = imp.pending.take() {
            source.remove();
        }
        // Answers to the words before are not wanted any more.
        imp.generation.set(imp.generation.get() + 1);
        let searchable = text.chars().any(char::is_alphanumeric);
        if !searchable {
            self.show_hits(Vec::new());
            return;
        }
        if self.hit_count() == 0 {
            self.show_page("searching");
        }
        let source = glib::timeout_add_local_once(
            SEARCH_DELAY,
            glib::clone!(
                #[weak(rename_to = results)]
                self,
                move || {
                    results.imp().pending.take();
                    results.search_messages(text);
                }
            ),
        );
        imp.pending.replace(Some(source));
    }

    pub fn query(&self) -> String {
        self.imp().query.borrow().clone()
    }

    /// Chats shown.
    pub fn chat_count(&self) -> u32 {
        self.imp()
            .chats
            .borrow()
            .as_ref()
            .map_or(0, |c| c.n_items())
    }

    /// Messages shown.
    pub fn hit_count(&self) -> u32 {
        self.imp().hits.borrow().as_ref().map_or(0, |h| h.n_items())
    }

    /// The messages shown, newest first.
    pub fn hits(&self) -> Option<gio::ListStore> {
        self.imp().hits.borrow().clone()
    }

    /// Whether a search of the archive is waiting or on its way.
    pub fn is_searching(&self) -> bool {
        let imp = self.imp();
        imp.pending.borrow().is_some()
            || imp.messages_stack.visible_child_name().as_deref() == Some("searching")
    }

    /// Down from the entry: into the first result.
    pub fn focus_first(&self) -> bool {
        let imp = self.imp();
        let list = if self.chat_count() > 0 {
            &imp.chats_list
        } else {
            &imp.messages_list
        };
        self.focus_row(list, 0) == glib::Propagation::Stop
    }

    /// Enter in the entry: open the first result.
    pub fn activate_first(&self) {
        let imp = self.imp();
        let row = imp
            .chats_list
            .row_at_index(0)
            .or_else(|| imp.messages_list.row_at_index(0));
        if let Some(row) = row {
            row.emit_activate();
        }
    }

    fn focus_row(&self, list: &gtk::ListBox, index: u32) -> glib::Propagation {
        let row = i32::try_from(index)
            .ok()
            .and_then(|i| list.row_at_index(i))
            .filter(|_| list.is_visible() && list.is_mapped());
        match row {
            Some(row) => {
                row.grab_focus();
                glib::Propagation::Stop
            }
            None => glib::Propagation::Proceed,
        }
    }

    fn focus_entry(&self) -> glib::Propagation {
        match self.imp().entry.upgrade() {
            Some(entry) => {
                entry.grab_focus();
                glib::Propagation::Stop
            }
            None => glib::Propagation::Proceed,
        }
    }

    fn search_messages(&self, query: String) {
        let Some(service) = Application::instance().and_then(|a| a.service()) else {
            return;
        };
        let generation = self.imp().generation.get();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = results)]
            self,
            async move {
                let found = service
                    .request(|reply| Command::Search {
                        query,
                        limit: MAX_RESULTS,
                        reply,
                    })
                    .await;
                if results.imp().generation.get() != generation {
                    return;
                }
                match found {
                    Ok(found) => {
                        results.show_hits(found.into_iter().map(MessageItem::new).collect())
                    }
                    Err(error) => {
                        results.show_hits(Vec::new());
                        if let Some(window) = results.root().and_downcast::<crate::ui::Window>() {
                            window.add_toast(&error.user_message());
                        }
                    }
                }
            }
        ));
    }

    fn show_hits(&self, items: Vec<MessageItem>) {
        let empty = items.is_empty();
        if let Some(hits) = self.imp().hits.borrow().as_ref() {
            hits.splice(0, hits.n_items(), &items);
        }
        self.show_page(if empty { "empty" } else { "results" });
    }

    fn show_page(&self, name: &str) {
        let imp = self.imp();
        imp.spinner.set_spinning(name == "searching");
        imp.messages_stack.set_visible_child_name(name);
    }

    fn update_chats_heading(&self) {
        let imp = self.imp();
        let any = self.chat_count() > 0;
        imp.chats_heading.set_visible(any);
        imp.chats_list.set_visible(any);
    }

    /// The name of the chat `item` was found in, as the sidebar shows it.
    fn conversation_name(&self, item: &MessageItem) -> String {
        let Some((account, jid)) =
            item.with_message(|m| (m.account.clone(), m.conversation.clone()))
        else {
            return String::new();
        };
        let session = self.imp().session.borrow().clone();
        session
            .and_then(|s| {
                s.find_conversation(&account, &jid)
                    .map(|c| c.name())
                    .or_else(|| s.contact(&account, &jid).map(|c| c.display_name()))
            })
            .unwrap_or(jid)
    }

    pub fn connect_conversation_activated<F: Fn(&Self, &Conversation) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("conversation-activated", false, move |args| {
            if let (Ok(results), Ok(conversation)) =
                (args[0].get::<Self>(), args[1].get::<Conversation>())
            {
                f(&results, &conversation);
            }
            None
        })
    }

    pub fn connect_message_activated<F: Fn(&Self, &MessageItem) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("message-activated", false, move |args| {
            if let (Ok(results), Ok(item)) = (args[0].get::<Self>(), args[1].get::<MessageItem>()) {
                f(&results, &item);
            }
            None
        })
    }

    pub fn connect_stop<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("stop", false, move |args| {
            if let Ok(results) = args[0].get::<Self>() {
                f(&results);
            }
            None
        })
    }
}
