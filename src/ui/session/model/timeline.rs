//! The messages of one conversation, as far as the chat has scrolled: the
//! latest page first, older pages of ~50 on demand (ARCHITECTURE.md
//! "Storage": a conversation opens in constant time whatever its length).
//! Live messages from the service merge in by id.
//!
//! A search result opens the timeline *around* a message instead; it then
//! pages newer messages in as the user scrolls down, until it reaches the
//! latest one and live messages append again.
//!
//! The window is bounded ([`Timeline::MAX_ROWS`]): a page that comes in
//! at one end pushes as many rows out at the other, so scrolling through
//! a long conversation holds the same few hundred messages at any point.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};

use super::MessageItem;
use crate::service::{ChatMessage, Command, HistoryWindow, ServiceError};
use crate::ui::application::Application;
use crate::ui::format;

/// Messages asked for at a time.
pub const PAGE_SIZE: u32 = 50;

mod imp {
    use std::sync::OnceLock;

    use super::*;

    #[derive(Debug, glib::Properties)]
    #[properties(wrapper_type = super::Timeline)]
    pub struct Timeline {
        #[property(get, set, construct_only)]
        pub account: RefCell<String>,
        #[property(get, set, construct_only)]
        pub jid: RefCell<String>,
        pub items: gio::ListStore,
        /// A page request is on its way.
        #[property(get)]
        pub loading: Cell<bool>,
        /// The first page has arrived.
        #[property(get)]
        pub loaded: Cell<bool>,
        /// The oldest message is loaded: nothing more to page in.
        #[property(get)]
        pub complete: Cell<bool>,
        /// The newest message is loaded (or the latest page is on its way):
        /// live messages append, and there is nothing newer to page in.
        #[property(get)]
        pub latest: Cell<bool>,
        /// Bumped when the window is replaced, so that the answer to an
        /// older request is dropped.
        pub generation: Cell<u64>,
        /// Live messages that arrived past the loaded window while a page
        /// of newer messages was on its way: that page may predate them.
        pub held: RefCell<Vec<ChatMessage>>,
        /// How many stored messages are newer than the newest loaded one,
        /// as far as this timeline knows: 0 while `latest`, the rows
        /// dropped from the bottom after paging up; `None` in a window
        /// opened around a search result.
        pub after: Cell<Option<u32>>,
        /// The "new messages" divider of a row that was dropped (message
        /// id, text): it comes back with the row.
        pub divider: RefCell<Option<(i64, String)>>,
    }

    impl Default for Timeline {
        fn default() -> Self {
            Self {
                account: Default::default(),
                jid: Default::default(),
                items: gio::ListStore::new::<MessageItem>(),
                loading: Default::default(),
                loaded: Default::default(),
                complete: Default::default(),
                latest: Default::default(),
                generation: Default::default(),
                held: Default::default(),
                after: Default::default(),
                divider: Default::default(),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Timeline {
        const NAME: &'static str = "SottoTimeline";
        type Type = super::Timeline;
    }

    #[glib::derived_properties]
    impl ObjectImpl for Timeline {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    // A message arrived live (not paged in from history).
                    glib::subclass::Signal::builder("message-added")
                        .param_types([MessageItem::static_type()])
                        .build(),
                    // A page could not be loaded.
                    glib::subclass::Signal::builder("error")
                        .param_types([String::static_type()])
                        .build(),
                ]
            })
        }
    }
}

glib::wrapper! {
    pub struct Timeline(ObjectSubclass<imp::Timeline>);
}

impl Timeline {
    /// Rows held at most: eight pages. A page dropped at the far end must
    /// lie wholly outside the view, which shows a few dozen rows at most
    /// and asks for a page within `LOAD_MARGIN` (600 px, ~15 rows) of
    /// its edge; eight pages leave several screens of slack, so scrolling
    /// back and forth over a few pages reloads nothing, while memory
    /// stays at a few hundred small rows however long the conversation.
    pub const MAX_ROWS: u32 = 8 * PAGE_SIZE;

    pub fn new(account: &str, jid: &str) -> Self {
        glib::Object::builder()
            .property("account", account)
            .property("jid", jid)
            .build()
    }

    /// `MessageItem`s, oldest first.
    pub fn items(&self) -> gio::ListStore {
        self.imp().items.clone()
    }

    /// Load the latest page, once.
    pub fn load_latest(&self) {
        if self.loaded() || self.loading() {
            return;
        }
        self.imp().after.set(Some(0));
        self.set_flag("latest", true);
        self.load_page(None);
    }

    /// Show the latest page again after a jump into the past or paging far
    /// up: the loaded window is dropped (it may be far from the present).
    pub fn load_latest_again(&self) {
        if self.latest() {
            return;
        }
        self.reset();
        self.load_latest();
    }

    /// Replace what is loaded with a page around message `id` (a search
    /// result). When the conversation has no such message any more, the
    /// latest page loads instead.
    pub fn load_around(&self, id: i64) {
        let Some(service) = Application::instance().and_then(|a| a.service()) else {
            return;
        };
        let generation = self.reset();
        self.imp().after.set(None);
        self.set_flag("loading", true);
        let (account, jid) = (self.account(), self.jid());
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = timeline)]
            self,
            async move {
                let window = service
                    .request(|reply| Command::HistoryAround {
                        account,
                        jid,
                        id,
                        limit: PAGE_SIZE,
                        reply,
                    })
                    .await;
                if timeline.imp().generation.get() == generation {
                    timeline.on_window(window);
                }
            }
        ));
    }

    /// Load the page after the newest loaded message, when the window does
    /// not reach the present.
    pub fn load_newer(&self) {
        if !self.loaded() || self.loading() || self.latest() {
            return;
        }
        let last = self
            .imp()
            .items
            .item(self.imp().items.n_items().saturating_sub(1))
            .and_downcast::<MessageItem>();
        let Some(last) = last else {
            self.load_latest_again();
            return;
        };
        let Some(service) = Application::instance().and_then(|a| a.service()) else {
            return;
        };
        self.set_flag("loading", true);
        let generation = self.imp().generation.get();
        let (account, jid, after) = (self.account(), self.jid(), last.key());
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = timeline)]
            self,
            async move {
                let page = service
                    .request(|reply| Command::HistoryAfter {
                        account,
                        jid,
                        after,
                        limit: PAGE_SIZE,
                        reply,
                    })
                    .await;
                if timeline.imp().generation.get() == generation {
                    timeline.on_newer_page(page);
                }
            }
        ));
    }

    /// The position of message `id`, if it is loaded.
    pub fn position(&self, id: i64) -> Option<u32> {
        self.find(id).map(|(position, _)| position)
    }

    /// How many stored messages are newer than the loaded window, when the
    /// timeline knows: `Some(0)` when it reaches the present, the rows
    /// dropped from the bottom after paging up (live messages that came
    /// since are not counted), `None` around a search result.
    pub fn messages_after(&self) -> Option<u32> {
        self.imp().after.get()
    }

    /// Load the page before the oldest loaded message.
    pub fn load_older(&self) {
        if !self.loaded() || self.loading() || self.complete() {
            return;
        }
        let first = self.imp().items.item(0).and_downcast::<MessageItem>();
        match first {
            Some(first) => self.load_page(Some(first.key())),
            None => self.set_flag("complete", true),
        }
    }

    /// A message the service stored or changed.
    pub fn apply(&self, message: &ChatMessage) {
        if !self.loaded() && !self.loading() {
            // Not open: the first page will include it.
            return;
        }
        let items = &self.imp().items;
        if let Some((position, item)) = self.find(message.id) {
            item.replace(message.clone());
            self.relayout(position, position + 1);
            return;
        }
        let key = (message.timestamp, message.id);
        let position = self.insertion_point(key);
        // Newer than everything loaded while the window does not reach the
        // present: paging down brings it.
        if position == items.n_items() && !self.latest() {
            if self.loading() {
                self.imp().held.borrow_mut().push(message.clone());
            }
            return;
        }
        // Older than everything loaded while more is to come: paging brings it.
        if position == 0 && items.n_items() > 0 && !self.complete() {
            return;
        }
        let mut position = position;
        if items.n_items() >= Self::MAX_ROWS {
            // Full: the oldest row makes room, as live messages land at
            // the present, where the reader is. One older than all
            // loaded would be that row itself: paging up brings it.
            self.set_flag("complete", false);
            if position == 0 {
                return;
            }
            self.drop_rows(0, 1);
            position -= 1;
            self.relayout(0, 1);
        }
        let item = self.item_for(message.clone());
        items.insert(position, &item);
        self.relayout(position, position + 1);
        self.emit_by_name::<()>("message-added", &[&item]);
    }

    pub fn connect_message_added<F: Fn(&Self, &MessageItem) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("message-added", false, move |args| {
            if let (Ok(timeline), Ok(item)) = (args[0].get::<Self>(), args[1].get::<MessageItem>())
            {
                f(&timeline, &item);
            }
            None
        })
    }

    pub fn connect_error<F: Fn(&Self, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("error", false, move |args| {
            if let (Ok(timeline), Ok(message)) = (args[0].get::<Self>(), args[1].get::<String>()) {
                f(&timeline, &message);
            }
            None
        })
    }

    fn load_page(&self, before: Option<(i64, i64)>) {
        let Some(service) = Application::instance().and_then(|a| a.service()) else {
            return;
        };
        self.set_flag("loading", true);
        let generation = self.imp().generation.get();
        let (account, jid) = (self.account(), self.jid());
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = timeline)]
            self,
            async move {
                let page = service
                    .request(|reply| Command::History {
                        account,
                        jid,
                        before,
                        limit: PAGE_SIZE,
                        reply,
                    })
                    .await;
                if timeline.imp().generation.get() == generation {
                    timeline.on_page(before.is_none(), page);
                }
            }
        ));
    }

    fn on_page(&self, latest: bool, page: Result<Vec<ChatMessage>, ServiceError>) {
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                self.set_flag("loading", false);
                self.emit_by_name::<()>("error", &[&error.user_message()]);
                return;
            }
        };
        let complete = page.len() < PAGE_SIZE as usize;
        // Live messages may have arrived meanwhile: keep one row per id.
        let new = self.new_items(page);
        let count = new.len() as u32;
        let imp = self.imp();
        let items = &imp.items;
        // Paging up: the newest rows make room first, so the list never
        // holds more than the bound. They lie below the view: nothing on
        // screen moves.
        let excess = (items.n_items() + count).saturating_sub(Self::MAX_ROWS);
        if excess > 0 {
            self.drop_rows(items.n_items() - excess, excess);
            imp.after.set(imp.after.get().map(|after| after + excess));
        }
        // Either page is older than anything already here (live messages
        // that arrived during the first request are newer still).
        items.splice(0, 0, &new);
        self.relayout(0, count + 1);
        if excess > 0 {
            let n = items.n_items();
            self.relayout(n - 1, n);
            self.set_flag("latest", false);
        }
        self.set_flag("complete", complete);
        // Last: `loading` turning false says the page is in (the chat
        // places its divider then), and a scroll while the rows change
        // asks for no page before this one is in.
        self.set_flag("loading", false);
        if latest {
            self.set_flag("loaded", true);
        }
    }

    fn on_window(&self, window: Result<HistoryWindow, ServiceError>) {
        self.set_flag("loading", false);
        let window = match window {
            Ok(window) if !window.messages.is_empty() => window,
            Ok(_) => {
                // Gone (or never there): the present is the best we have.
                self.load_latest();
                return;
            }
            Err(error) => {
                self.emit_by_name::<()>("error", &[&error.user_message()]);
                self.load_latest();
                return;
            }
        };
        let new: Vec<MessageItem> = window
            .messages
            .into_iter()
            .map(|m| self.item_for(m))
            .collect();
        let count = new.len() as u32;
        let items = &self.imp().items;
        items.splice(0, items.n_items(), &new);
        self.relayout(0, count);
        self.imp().after.set((!window.more_after).then_some(0));
        self.set_flag("complete", !window.more_before);
        self.set_flag("latest", !window.more_after);
        self.set_flag("loaded", true);
        let held = self.imp().held.take();
        if self.latest() {
            for message in held {
                self.apply(&message);
            }
        }
    }

    fn on_newer_page(&self, page: Result<Vec<ChatMessage>, ServiceError>) {
        let page = match page {
            Ok(page) => page,
            Err(error) => {
                self.set_flag("loading", false);
                self.imp().held.take();
                self.emit_by_name::<()>("error", &[&error.user_message()]);
                return;
            }
        };
        let latest = page.len() < PAGE_SIZE as usize;
        let imp = self.imp();
        let held = imp.held.take();
        let items = &imp.items;
        let new = self.new_items(page);
        let count = new.len() as u32;
        // Paging down: the oldest rows make room first. They lie above the
        // view; the list keeps the row on screen in place (it anchors to
        // it, as when a page comes in above).
        let excess = (items.n_items() + count).saturating_sub(Self::MAX_ROWS);
        if excess > 0 {
            self.drop_rows(0, excess);
        }
        let start = items.n_items();
        items.splice(start, 0, &new);
        imp.after.set(if latest {
            Some(0)
        } else {
            imp.after.get().map(|after| after.saturating_sub(count))
        });
        self.relayout(start, items.n_items());
        if excess > 0 {
            self.relayout(0, 1);
            self.set_flag("complete", false);
        }
        self.set_flag("latest", latest);
        // Last, as in `on_page`.
        self.set_flag("loading", false);
        if latest {
            // Stored after the page was read: they belong at the end now.
            for message in held {
                self.apply(&message);
            }
        }
    }

    /// Forget what is loaded; answers to earlier requests are dropped.
    /// Returns the new generation.
    fn reset(&self) -> u64 {
        let imp = self.imp();
        let generation = imp.generation.get() + 1;
        imp.generation.set(generation);
        imp.held.take();
        let n = imp.items.n_items();
        self.drop_rows(0, n);
        imp.after.set(Some(0));
        for flag in ["loading", "loaded", "complete", "latest"] {
            self.set_flag(flag, false);
        }
        generation
    }

    /// Set one of the flags `loading`, `loaded`, `complete`, `latest` (the
    /// property of the same name).
    fn set_flag(&self, name: &str, value: bool) {
        let imp = self.imp();
        let cell = match name {
            "loading" => &imp.loading,
            "loaded" => &imp.loaded,
            "latest" => &imp.latest,
            _ => &imp.complete,
        };
        if cell.replace(value) != value {
            self.notify(name);
        }
    }

    /// Remove `count` rows from `position`, keeping the "new messages"
    /// divider of any of them for when it loads again.
    fn drop_rows(&self, position: u32, count: u32) {
        let imp = self.imp();
        for i in position..position + count {
            let Some(item) = imp.items.item(i).and_downcast::<MessageItem>() else {
                continue;
            };
            let divider = item.new_divider();
            if !divider.is_empty() {
                imp.divider.replace(Some((item.id(), divider)));
            }
        }
        imp.items.splice(position, count, &[] as &[MessageItem]);
    }

    /// The rows for a page, minus messages already loaded (live messages
    /// may have come in while the page was on its way).
    fn new_items(&self, page: Vec<ChatMessage>) -> Vec<MessageItem> {
        let items = &self.imp().items;
        let loaded: HashSet<i64> = (0..items.n_items())
            .filter_map(|i| items.item(i).and_downcast::<MessageItem>())
            .map(|item| item.id())
            .collect();
        page.into_iter()
            .filter(|m| !loaded.contains(&m.id))
            .map(|m| self.item_for(m))
            .collect()
    }

    /// A row for `message`, with the divider it had when it was dropped.
    fn item_for(&self, message: ChatMessage) -> MessageItem {
        let item = MessageItem::new(message);
        if let Some((id, text)) = &*self.imp().divider.borrow()
            && *id == item.id()
        {
            item.set_new_divider(text);
        }
        item
    }

    fn find(&self, id: i64) -> Option<(u32, MessageItem)> {
        let items = &self.imp().items;
        // Newest first: live updates are almost always about recent rows.
        (0..items.n_items()).rev().find_map(|i| {
            let item = items.item(i).and_downcast::<MessageItem>()?;
            (item.id() == id).then_some((i, item))
        })
    }

    fn insertion_point(&self, key: (i64, i64)) -> u32 {
        let items = &self.imp().items;
        let mut position = items.n_items();
        while position > 0 {
            let before = items
                .item(position - 1)
                .and_downcast::<MessageItem>()
                .map(|i| i.key());
            if before.is_some_and(|b| b < key) {
                break;
            }
            position -= 1;
        }
        position
    }

    /// Recompute grouping and day separators for `start..end` and their
    /// neighbours.
    fn relayout(&self, start: u32, end: u32) {
        let items = &self.imp().items;
        let n = items.n_items();
        let get = |i: u32| items.item(i).and_downcast::<MessageItem>();
        let from = start.saturating_sub(1);
        let to = (end + 1).min(n);
        for i in from..to {
            let Some(item) = get(i) else { continue };
            let prev = i.checked_sub(1).and_then(get);
            let next = get(i + 1);
            let first = prev.as_ref().is_none_or(|p| !same_group(p, &item));
            let last = next.as_ref().is_none_or(|n| !same_group(&item, n));
            let (ts, _) = item.key();
            let new_day = prev
                .as_ref()
                .is_none_or(|p| !format::same_day(p.key().0, ts));
            let day = if new_day {
                format::day_label(ts)
            } else {
                String::new()
            };
            item.set_layout(first || new_day, last, day);
        }
    }
}

/// Same sender (and nick, in a room), same direction, same minute, same
/// day, and both readable.
fn same_group(a: &MessageItem, b: &MessageItem) -> bool {
    let key = |m: &MessageItem| {
        m.with_message(|m| {
            (
                m.direction.clone(),
                m.sender.clone(),
                m.sender_nick.clone(),
                m.timestamp.div_euclid(60_000),
                m.body.is_some(),
            )
        })
    };
    match (key(a), key(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}
