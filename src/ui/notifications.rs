//! Desktop notifications (GNotification) for incoming messages: one per
//! conversation, replaced as more arrive, only when the user is not looking
//! at that chat, withdrawn once it is read (here or on another device).
//! While an account catches up with the server archive, messages are
//! counted instead and each conversation notifies once at the end.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use gtk::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, ngettext_f};
use crate::service::{ChatMessage, Event};
use crate::ui::settings;

/// The action a notification opens: `app.open-chat((account, jid))`.
pub const OPEN_CHAT_ACTION: &str = "app.open-chat";

/// What a notification says (kept for tests and for replacing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub id: String,
    pub title: String,
    pub body: String,
    /// Messages it stands for.
    pub count: u32,
}

#[derive(Debug, Default)]
pub struct Notifier {
    shown: RefCell<HashMap<String, Shown>>,
    /// Accounts catching up, and what arrived meanwhile per conversation.
    catching_up: RefCell<HashSet<String>>,
    held: RefCell<HashMap<(String, String), (u32, ChatMessage)>>,
    /// The newest message row notified. The service sends a row again when
    /// it changes (trust, state), which is not news; rows are numbered in
    /// the order they are stored, so one number (not a growing set of them)
    /// tells news apart.
    newest_seen: Cell<i64>,
}

pub fn notification_id(account: &str, jid: &str) -> String {
    format!("chat:{account}:{jid}")
}

impl Notifier {
    /// After the session applied `event`.
    pub fn on_event(&self, app: &super::Application, event: &Event) {
        match event {
            Event::CatchUp {
                account, finished, ..
            } => {
                if *finished {
                    self.catching_up.borrow_mut().remove(account);
                    let held: Vec<_> = {
                        let mut held = self.held.borrow_mut();
                        let keys: Vec<_> =
                            held.keys().filter(|(a, _)| a == account).cloned().collect();
                        keys.into_iter().filter_map(|k| held.remove(&k)).collect()
                    };
                    for (count, message) in held {
                        self.notify(app, &message, count);
                    }
                } else {
                    self.catching_up.borrow_mut().insert(account.clone());
                }
            }
            Event::Message { message } => {
                if message.direction != "in"
                    || message.corrected
                    || (message.body.is_none() && message.error.is_none())
                    || message.id <= self.newest_seen.get()
                {
                    return;
                }
                self.newest_seen.set(message.id);
                if self.catching_up.borrow().contains(&message.account) {
                    let mut held = self.held.borrow_mut();
                    let entry = held
                        .entry((message.account.clone(), message.conversation.clone()))
                        .or_insert((0, message.clone()));
                    entry.0 += 1;
                    if message.timestamp >= entry.1.timestamp {
                        entry.1 = message.clone();
                    }
                    return;
                }
                self.notify(app, message, 1);
            }
            Event::ConversationUpdated { conversation } if conversation.unread == 0 => {
                self.withdraw(app, &conversation.account, &conversation.jid);
            }
            _ => {}
        }
    }

    fn notify(&self, app: &super::Application, message: &ChatMessage, count: u32) {
        if looking_at(app, &message.account, &message.conversation) {
            return;
        }
        let id = notification_id(&message.account, &message.conversation);
        let session = app.session();
        let conversation = session.find_conversation(&message.account, &message.conversation);
        let title = conversation
            .as_ref()
            .map(|c| c.name())
            .unwrap_or_else(|| message.conversation.clone());
        let total = count + self.shown.borrow().get(&id).map_or(0, |s| s.count);
        let body = if !settings::notification_previews() {
            ngettext_f("{n} new message", "{n} new messages", total, &[])
        } else if message.body.is_none() {
            gettext("A message that could not be decrypted")
        } else {
            let text = message.body.clone().unwrap_or_default();
            if total > 1 {
                ngettext_f("{n} new message", "{n} new messages", total, &[]) + "\n" + &text
            } else {
                text
            }
        };
        let notification = gio::Notification::new(&title);
        notification.set_body(Some(&body));
        notification.set_default_action_and_target_value(
            OPEN_CHAT_ACTION,
            Some(&(message.account.as_str(), message.conversation.as_str()).to_variant()),
        );
        app.send_notification(Some(&id), &notification);
        self.shown.borrow_mut().insert(
            id.clone(),
            Shown {
                id,
                title,
                body,
                count: total,
            },
        );
    }

    pub fn withdraw(&self, app: &super::Application, account: &str, jid: &str) {
        let id = notification_id(account, jid);
        if self.shown.borrow_mut().remove(&id).is_some() {
            app.withdraw_notification(&id);
        }
    }

    /// The notifications on screen now.
    pub fn shown(&self) -> Vec<Shown> {
        let mut shown: Vec<Shown> = self.shown.borrow().values().cloned().collect();
        shown.sort_by(|a, b| a.id.cmp(&b.id));
        shown
    }
}

/// The window is focused and shows this chat.
fn looking_at(app: &super::Application, account: &str, jid: &str) -> bool {
    let window = app.main_window();
    window.is_active()
        && window
            .session_view()
            .chat_view()
            .conversation()
            .is_some_and(|c| c.account() == account && c.jid() == jid)
}

/// The parameter type of [`OPEN_CHAT_ACTION`].
pub fn open_chat_parameter() -> glib::VariantType {
    <(String, String)>::static_variant_type().into_owned()
}
