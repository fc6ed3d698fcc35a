//! Everything the window shows about the accounts, kept up to date from the
//! service's events. The views bind to its list models; they never hold
//! state of their own that an event could make stale.

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};

use super::{AccountItem, ContactItem, SubscriptionRequest};
use crate::service::{ConnectionState, Event, PresenceInfo, Snapshot};

mod imp {
    use std::sync::OnceLock;

    use super::*;

    #[derive(Debug)]
    pub struct Session {
        pub accounts: gio::ListStore,
        pub contacts: gio::ListStore,
        pub requests: gio::ListStore,
    }

    impl Default for Session {
        fn default() -> Self {
            Self {
                accounts: gio::ListStore::new::<AccountItem>(),
                contacts: gio::ListStore::new::<ContactItem>(),
                requests: gio::ListStore::new::<SubscriptionRequest>(),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Session {
        const NAME: &'static str = "SottoSession";
        type Type = super::Session;
    }

    impl ObjectImpl for Session {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    // A contact changed in a way that may move it in a sorted list.
                    glib::subclass::Signal::builder("contacts-reordered").build(),
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
            Event::IdentityChanged { jid, device_id, .. } => {
                let message = crate::i18n::gettext_f(
                    "The encryption key of one of {contact}'s devices ({device}) changed. Messages are not encrypted for it until you check it.",
                    &[("contact", jid), ("device", &device_id.to_string())],
                );
                self.emit_by_name::<()>("error", &[&message]);
            }
            // Conversations get their screens with the chat view (issue 5).
            Event::Message { .. }
            | Event::CatchUp { .. }
            | Event::ConversationUpdated { .. }
            | Event::ChatState { .. } => {}
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
