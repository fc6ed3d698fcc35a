//! One message of a timeline, and where it sits among its neighbours
//! (first or last of a group, first of a day).

use std::cell::{Cell, RefCell};

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

use crate::service::ChatMessage;

/// Delivery state of a message, as the service names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    Pending,
    Sent,
    Delivered,
    Read,
    Failed,
    Received,
}

impl MessageState {
    pub fn parse(state: &str) -> Self {
        match state {
            "pending" => MessageState::Pending,
            "sent" => MessageState::Sent,
            "delivered" => MessageState::Delivered,
            "read" => MessageState::Read,
            "failed" => MessageState::Failed,
            _ => MessageState::Received,
        }
    }
}

mod imp {
    use std::sync::OnceLock;

    use super::*;

    #[derive(Debug, Default, glib::Properties)]
    #[properties(wrapper_type = super::MessageItem)]
    pub struct MessageItem {
        pub message: RefCell<Option<ChatMessage>>,
        /// Starts a run of messages by one sender within a minute.
        #[property(get)]
        pub first_in_group: Cell<bool>,
        /// Ends such a run: the time shows under it.
        #[property(get)]
        pub last_in_group: Cell<bool>,
        /// The day separator above it, empty when the day goes on.
        #[property(get)]
        pub day_label: RefCell<String>,
        /// "N new messages" above the first message that was unread when
        /// the chat was opened; empty elsewhere.
        #[property(get)]
        pub new_divider: RefCell<String>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MessageItem {
        const NAME: &'static str = "SottoMessageItem";
        type Type = super::MessageItem;
    }

    #[glib::derived_properties]
    impl ObjectImpl for MessageItem {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            // The message itself changed (state, correction, error).
            SIGNALS.get_or_init(|| vec![glib::subclass::Signal::builder("changed").build()])
        }
    }
}

glib::wrapper! {
    pub struct MessageItem(ObjectSubclass<imp::MessageItem>);
}

impl MessageItem {
    pub fn new(message: ChatMessage) -> Self {
        let item: Self = glib::Object::new();
        item.imp().message.replace(Some(message));
        item.imp().first_in_group.set(true);
        item.imp().last_in_group.set(true);
        item
    }

    /// A copy of the message (small: one row of the archive).
    pub fn message(&self) -> Option<ChatMessage> {
        self.imp().message.borrow().clone()
    }

    pub fn with_message<R>(&self, f: impl FnOnce(&ChatMessage) -> R) -> Option<R> {
        self.imp().message.borrow().as_ref().map(f)
    }

    pub fn id(&self) -> i64 {
        self.with_message(|m| m.id).unwrap_or_default()
    }

    /// The sort key of the archive: `(timestamp, id)`.
    pub fn key(&self) -> (i64, i64) {
        self.with_message(|m| (m.timestamp, m.id))
            .unwrap_or_default()
    }

    pub fn is_outgoing(&self) -> bool {
        self.with_message(|m| m.direction == "out")
            .unwrap_or_default()
    }

    pub fn state(&self) -> MessageState {
        self.with_message(|m| MessageState::parse(&m.state))
            .unwrap_or(MessageState::Received)
    }

    pub fn replace(&self, message: ChatMessage) {
        let changed = self.imp().message.borrow().as_ref() != Some(&message);
        if changed {
            self.imp().message.replace(Some(message));
            self.emit_by_name::<()>("changed", &[]);
        }
    }

    pub(super) fn set_layout(&self, first: bool, last: bool, day_label: String) {
        let imp = self.imp();
        if imp.first_in_group.replace(first) != first {
            self.notify_first_in_group();
        }
        if imp.last_in_group.replace(last) != last {
            self.notify_last_in_group();
        }
        if *imp.day_label.borrow() != day_label {
            imp.day_label.replace(day_label);
            self.notify_day_label();
        }
    }

    pub fn set_new_divider(&self, text: &str) {
        if *self.imp().new_divider.borrow() != text {
            self.imp().new_divider.replace(text.to_owned());
            self.notify_new_divider();
        }
    }

    pub fn connect_changed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("changed", false, move |args| {
            if let Ok(item) = args[0].get::<Self>() {
                f(&item);
            }
            None
        })
    }
}
