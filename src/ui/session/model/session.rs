//! Everything the window shows about the accounts, kept up to date from the
//! service's events. The views bind to its list models; they never hold
//! state of their own that an event could make stale.

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};

use super::{AccountItem, ContactItem, Conversation, SubscriptionRequest};
use crate::service::{
    ChatState, ConnectionState, ConversationSummary, Event, PresenceInfo, Snapshot,
};

mod imp {
    use std::cell::{Cell, RefCell};
    use std::sync::OnceLock;

    use super::*;

    #[derive(Debug, glib::Properties)]
    #[properties(wrapper_type = super::Session)]
    pub struct Session {
        pub accounts: gio::ListStore,
        pub contacts: gio::ListStore,
        pub requests: gio::ListStore,
        pub conversations: gio::ListStore,
        /// Chats opened from the roster that the service does not list
        /// yet (nothing sent); they join `conversations` with their first
        /// summary.
        pub drafts: RefCell<Vec<Conversation>>,
        /// Show the text of encrypted messages in the conversation list.
        #[property(get, set = Self::set_show_encrypted_previews, default = true)]
        pub show_encrypted_previews: Cell<bool>,
    }

    impl Default for Session {
        fn default() -> Self {
            Self {
                accounts: gio::ListStore::new::<AccountItem>(),
                contacts: gio::ListStore::new::<ContactItem>(),
                requests: gio::ListStore::new::<SubscriptionRequest>(),
                conversations: gio::ListStore::new::<Conversation>(),
                drafts: Default::default(),
                show_encrypted_previews: Cell::new(true),
            }
        }
    }

    impl Session {
        fn set_show_encrypted_previews(&self, show: bool) {
            self.show_encrypted_previews.set(show);
            for conversation in self.conversations.iter::<Conversation>().flatten() {
                conversation.set_show_encrypted_previews(show);
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Session {
        const NAME: &'static str = "SottoSession";
        type Type = super::Session;
    }

    #[glib::derived_properties]
    impl ObjectImpl for Session {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    // A contact changed in a way that may move it in a sorted list.
                    glib::subclass::Signal::builder("contacts-reordered").build(),
                    // A conversation's last activity changed.
                    glib::subclass::Signal::builder("conversations-reordered").build(),
                    // The devices of (account, jid) or their trust changed.
                    glib::subclass::Signal::builder("devices-changed")
                        .param_types([String::static_type(), String::static_type()])
                        .build(),
                    // The service reported a problem not tied to a request.
                    glib::subclass::Signal::builder("error")
                        .param_types([String::static_type()])
                        .build(),
                ]
            })
        }
    }
}

glib::wrapper! {
    pub struct Session(ObjectSubclass<imp::Session>);
}

impl Default for Session {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl Session {
    /// `AccountItem`s, in the order they were added.
    pub fn accounts(&self) -> gio::ListStore {
        self.imp().accounts.clone()
    }

    /// `ContactItem`s of every account, unsorted.
    pub fn contacts(&self) -> gio::ListStore {
        self.imp().contacts.clone()
    }

    /// `SubscriptionRequest`s waiting for an answer.
    pub fn requests(&self) -> gio::ListStore {
        self.imp().requests.clone()
    }

    /// `Conversation`s the service lists, unsorted.
    pub fn conversations(&self) -> gio::ListStore {
        self.imp().conversations.clone()
    }

    /// The conversation with `jid`, listed or opened before; else a new,
    /// empty one (a chat started from the roster).
    pub fn conversation(&self, account: &str, jid: &str) -> Conversation {
        if let Some(found) = self.find_conversation(account, jid) {
            return found;
        }
        let draft = Conversation::new(account, jid, &self.display_name(account, jid, None));
        self.imp().drafts.borrow_mut().push(draft.clone());
        draft
    }

    /// What to call `jid`: the roster name, else the service's name for
    /// the conversation, else the address's local part.
    fn display_name(&self, account: &str, jid: &str, given: Option<&str>) -> String {
        if let Some(contact) = self.contact(account, jid) {
            return contact.display_name();
        }
        match given.map(str::trim) {
            Some(name) if !name.is_empty() && name != jid => name.to_owned(),
            _ => jid.split('@').next().unwrap_or(jid).to_owned(),
        }
    }

    /// Roster names change: so do the conversations' names.
    fn rename_conversations(&self) {
        let imp = self.imp();
        let all: Vec<Conversation> = imp
            .conversations
            .iter::<Conversation>()
            .flatten()
            .chain(imp.drafts.borrow().iter().cloned())
            .collect();
        for conversation in all {
            let given = conversation.name();
            let name =
                self.display_name(&conversation.account(), &conversation.jid(), Some(&given));
            if name != given {
                conversation.set_name(name);
            }
        }
    }

    /// The conversation if it is listed or open.
    pub fn find_conversation(&self, account: &str, jid: &str) -> Option<Conversation> {
        let matches = |c: &Conversation| c.account() == account && c.jid() == jid;
        find(&self.imp().conversations, matches)
            .map(|(_, c)| c)
            .or_else(|| {
                self.imp()
                    .drafts
                    .borrow()
                    .iter()
                    .find(|c| matches(c))
                    .cloned()
            })
    }

    pub fn has_accounts(&self) -> bool {
        self.imp().accounts.n_items() > 0
    }

    pub fn account(&self, jid: &str) -> Option<AccountItem> {
        find(&self.imp().accounts, |a: &AccountItem| a.jid() == jid).map(|(_, a)| a)
    }

    pub fn first_account(&self) -> Option<AccountItem> {
        self.imp().accounts.item(0).and_downcast()
    }

    pub fn load_snapshot(&self, snapshot: &Snapshot) {
        let imp = self.imp();
        imp.accounts.remove_all();
        imp.contacts.remove_all();
        imp.requests.remove_all();
        let accounts: Vec<AccountItem> = snapshot.accounts.iter().map(AccountItem::new).collect();
        imp.accounts.extend_from_slice(&accounts);
        for (account, contacts) in &snapshot.contacts {
            self.replace_roster(account, contacts);
        }
        imp.conversations.remove_all();
        let show = self.show_encrypted_previews();
        let conversations: Vec<Conversation> = snapshot
            .conversations
            .iter()
            .map(|s| {
                let name = self.display_name(&s.account, &s.jid, Some(&s.name));
                Conversation::from_summary(s, &name, show)
            })
            .collect();
        imp.conversations.extend_from_slice(&conversations);
        self.emit_by_name::<()>("conversations-reordered", &[]);
    }

    pub fn apply(&self, event: &Event) {
        let imp = self.imp();
        match event {
            Event::AccountAdded { account } => {
                if self.account(&account.jid).is_none() {
                    imp.accounts.append(&AccountItem::new(account));
                }
            }
            Event::AccountRemoved { account } => {
                retain(&imp.contacts, |c: &ContactItem| c.account() != *account);
                retain(&imp.requests, |r: &SubscriptionRequest| {
                    r.account() != *account
                });
                retain(&imp.conversations, |c: &Conversation| {
                    c.account() != *account
                });
                imp.drafts.borrow_mut().retain(|c| c.account() != *account);
                retain(&imp.accounts, |a: &AccountItem| a.jid() != *account);
            }
            Event::Connection { account, state } => {
                if let Some(item) = self.account(account) {
                    item.set_state(state.clone());
                }
                // Offline we know nobody's status: show none rather than stale.
                if *state != ConnectionState::Online {
                    let unknown = PresenceInfo {
                        available: false,
                        show: None,
                        status: None,
                    };
                    for contact in imp.contacts.iter::<ContactItem>().flatten() {
                        if contact.account() == *account {
                            contact.set_presence(&unknown);
                        }
                    }
                    self.emit_by_name::<()>("contacts-reordered", &[]);
                }
            }
            Event::Roster { account, contacts } => self.replace_roster(account, contacts),
            Event::ContactUpdated { account, contact } => {
                match self.contact(account, &contact.jid) {
                    // Someone who only asked is shown as a request, not twice.
                    Some(_) if !contact.in_roster => retain(&imp.contacts, |c: &ContactItem| {
                        !(c.account() == *account && c.jid() == contact.jid)
                    }),
                    Some(item) => item.update(contact),
                    None if contact.in_roster => {
                        imp.contacts.append(&ContactItem::new(account, contact))
                    }
                    None => {}
                }
                self.sync_request(account, &contact.jid, contact.pending_in);
                self.emit_by_name::<()>("contacts-reordered", &[]);
                self.rename_conversations();
            }
            Event::ContactRemoved { account, jid } => {
                retain(&imp.contacts, |c: &ContactItem| {
                    !(c.account() == *account && c.jid() == *jid)
                });
                self.sync_request(account, jid, false);
            }
            Event::Presence {
                account,
                jid,
                presence,
            } => {
                if let Some(item) = self.contact(account, jid) {
                    item.set_presence(presence);
                    self.emit_by_name::<()>("contacts-reordered", &[]);
                }
            }
            Event::SubscriptionRequest { account, jid } => self.sync_request(account, jid, true),
            Event::Error { message } => self.emit_by_name::<()>("error", &[message]),
            // A changed identity key is never silent (ARCHITECTURE.md "Trust").
            // The chat's banner and the device list keep it until decided.
            Event::IdentityChanged { account, jid, .. } => {
                let message = crate::i18n::gettext_f(
                    "{contact}’s encryption key changed: check it before trusting it",
                    &[("contact", &self.display_name(account, jid, None))],
                );
                self.emit_by_name::<()>("error", &[&message]);
            }
            Event::Message { message } => {
                // Their message is what they were typing.
                if message.direction == "in"
                    && let Some(conversation) =
                        self.find_conversation(&message.account, &message.conversation)
                {
                    conversation.set_typing(false);
                }
                let open = self
                    .find_conversation(&message.account, &message.conversation)
                    .and_then(|c| c.loaded_timeline());
                if let Some(timeline) = open {
                    timeline.apply(message);
                }
            }
            Event::ConversationUpdated { conversation } => self.update_conversation(conversation),
            Event::ChatState {
                account,
                jid,
                state,
            } => {
                if let Some(conversation) = self.find_conversation(account, jid) {
                    conversation.set_typing(*state == ChatState::Composing);
                }
            }
            Event::DevicesChanged { account, jid } => {
                self.emit_by_name::<()>("devices-changed", &[account, jid]);
            }
            // Catch-up progress gets its UI later.
            Event::CatchUp { .. } => {}
            // So do group chats (the service has them first).
            Event::Room { .. } | Event::RoomLeft { .. } | Event::Invitation { .. } => {}
        }
    }

    /// Forget a request once it was answered (the roster push may come later).
    pub fn drop_request(&self, account: &str, jid: &str) {
        self.sync_request(account, jid, false);
    }

    pub fn contact(&self, account: &str, jid: &str) -> Option<ContactItem> {
        find(&self.imp().contacts, |c: &ContactItem| {
            c.account() == account && c.jid() == jid
        })
        .map(|(_, c)| c)
    }

    pub fn connect_contacts_reordered<F: Fn(&Self) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("contacts-reordered", false, move |args| {
            f(&args[0].get::<Self>().expect("Session"));
            None
        })
    }

    pub fn connect_conversations_reordered<F: Fn(&Self) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("conversations-reordered", false, move |args| {
            if let Ok(session) = args[0].get::<Self>() {
                f(&session);
            }
            None
        })
    }

    pub fn connect_devices_changed<F: Fn(&Self, &str, &str) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("devices-changed", false, move |args| {
            if let (Ok(session), Ok(account), Ok(jid)) = (
                args[0].get::<Self>(),
                args[1].get::<String>(),
                args[2].get::<String>(),
            ) {
                f(&session, &account, &jid);
            }
            None
        })
    }

    pub fn connect_error<F: Fn(&Self, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("error", false, move |args| {
            let session = args[0].get::<Self>().expect("Session");
            let message = args[1].get::<String>().expect("message");
            f(&session, &message);
            None
        })
    }

    fn replace_roster(&self, account: &str, contacts: &[crate::service::Contact]) {
        let imp = self.imp();
        // Keep existing items (and so their presence and any selection).
        retain(&imp.contacts, |c: &ContactItem| {
            c.account() != account || contacts.iter().any(|n| n.in_roster && n.jid == c.jid())
        });
        let mut added = Vec::new();
        for contact in contacts {
            match self.contact(account, &contact.jid) {
                Some(item) => item.update(contact),
                None if contact.in_roster => added.push(ContactItem::new(account, contact)),
                None => {}
            }
            if contact.pending_in {
                self.sync_request(account, &contact.jid, true);
            }
        }
        imp.contacts.extend_from_slice(&added);
        self.emit_by_name::<()>("contacts-reordered", &[]);
        self.rename_conversations();
    }

    fn update_conversation(&self, summary: &ConversationSummary) {
        let imp = self.imp();
        let matches = |c: &Conversation| c.account() == summary.account && c.jid() == summary.jid;
        if let Some((_, listed)) = find(&imp.conversations, matches) {
            listed.update(summary);
        } else {
            // A draft keeps its identity (and so the open chat) when listed.
            let draft = {
                let mut drafts = imp.drafts.borrow_mut();
                let position = drafts.iter().position(matches);
                position.map(|p| drafts.remove(p))
            };
            let conversation = match draft {
                Some(draft) => {
                    draft.set_show_encrypted_previews(self.show_encrypted_previews());
                    draft.update(summary);
                    draft
                }
                None => {
                    let name =
                        self.display_name(&summary.account, &summary.jid, Some(&summary.name));
                    Conversation::from_summary(summary, &name, self.show_encrypted_previews())
                }
            };
            imp.conversations.append(&conversation);
        }
        self.emit_by_name::<()>("conversations-reordered", &[]);
    }

    fn sync_request(&self, account: &str, jid: &str, pending: bool) {
        let requests = &self.imp().requests;
        let existing = find(requests, |r: &SubscriptionRequest| {
            r.account() == account && r.jid() == jid
        });
        match (existing, pending) {
            (None, true) => requests.append(&SubscriptionRequest::new(account, jid)),
            (Some((pos, _)), false) => requests.remove(pos),
            _ => {}
        }
    }
}

fn find<T: IsA<glib::Object>>(
    store: &gio::ListStore,
    pred: impl Fn(&T) -> bool,
) -> Option<(u32, T)> {
    (0..store.n_items()).find_map(|i| {
        let item = store.item(i).and_downcast::<T>()?;
        pred(&item).then_some((i, item))
    })
}

fn retain<T: IsA<glib::Object>>(store: &gio::ListStore, keep: impl Fn(&T) -> bool) {
    let mut i = 0;
    while i < store.n_items() {
        match store.item(i).and_downcast::<T>() {
            Some(item) if !keep(&item) => store.remove(i),
            _ => i += 1,
        }
    }
}
