//! One roster entry as a GObject, so lists and labels can bind to it.

use std::cell::{Cell, RefCell};

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

use crate::i18n::{gettext, gettext_f};
use crate::service::{Contact, PresenceInfo, Subscription};

/// What the presence dot shows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[enum_type(name = "SottoPresence")]
pub enum Presence {
    #[default]
    Offline,
    Available,
    Away,
    Busy,
}

impl Presence {
    fn from_info(info: &PresenceInfo) -> Self {
        if !info.available {
            return Presence::Offline;
        }
        match info.show.as_deref() {
            Some("away") | Some("xa") => Presence::Away,
            Some("dnd") => Presence::Busy,
            _ => Presence::Available,
        }
    }

    /// The CSS class of the presence dot.
    pub fn css_class(self) -> &'static str {
        match self {
            Presence::Offline => "offline",
            Presence::Available => "available",
            Presence::Away => "away",
            Presence::Busy => "busy",
        }
    }

    pub fn label(self) -> String {
        match self {
            Presence::Offline => gettext("Offline"),
            Presence::Available => gettext("Available"),
            Presence::Away => gettext("Away"),
            Presence::Busy => gettext("Busy"),
        }
    }
}

mod imp {
    use super::*;

    #[derive(Debug, glib::Properties)]
    #[properties(wrapper_type = super::ContactItem)]
    pub struct ContactItem {
        /// The account whose roster holds this contact.
        #[property(get, set, construct_only)]
        pub account: RefCell<String>,
        #[property(get, set, construct_only)]
        pub jid: RefCell<String>,
        #[property(get, nullable)]
        pub name: RefCell<Option<String>>,
        #[property(get)]
        pub display_name: RefCell<String>,
        #[property(get)]
        pub pending_in: Cell<bool>,
        #[property(get)]
        pub pending_out: Cell<bool>,
        #[property(get, builder(Presence::default()))]
        pub presence: Cell<Presence>,
        #[property(get, nullable)]
        pub status_message: RefCell<Option<String>>,
        /// One line for the roster row: request state, else status.
        #[property(get)]
        pub subtitle: RefCell<String>,
        pub subscription: Cell<Option<Subscription>>,
    }

    impl Default for ContactItem {
        fn default() -> Self {
            Self {
                account: Default::default(),
                jid: Default::default(),
                name: Default::default(),
                display_name: Default::default(),
                pending_in: Default::default(),
                pending_out: Default::default(),
                presence: Default::default(),
                status_message: Default::default(),
                subtitle: Default::default(),
                subscription: Cell::new(None),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ContactItem {
        const NAME: &'static str = "SottoContactItem";
        type Type = super::ContactItem;
    }

    #[glib::derived_properties]
    impl ObjectImpl for ContactItem {}
}

glib::wrapper! {
    pub struct ContactItem(ObjectSubclass<imp::ContactItem>);
}

impl ContactItem {
    pub fn new(account: &str, contact: &Contact) -> Self {
        let item: Self = glib::Object::builder()
            .property("account", account)
            .property("jid", &contact.jid)
            .build();
        item.update(contact);
        item
    }

    pub fn subscription(&self) -> Subscription {
        self.imp().subscription.get().unwrap_or(Subscription::None)
    }

    /// Take the roster's view of this contact.
    pub fn update(&self, contact: &Contact) {
        let imp = self.imp();
        let _guard = self.freeze_notify();
        imp.name.replace(contact.name.clone());
        imp.display_name.replace(contact.display_name());
        imp.pending_in.set(contact.pending_in);
        imp.pending_out.set(contact.pending_out);
        imp.subscription.set(Some(contact.subscription));
        self.notify_name();
        self.notify_display_name();
        self.notify_pending_in();
        self.notify_pending_out();
        self.refresh_subtitle();
    }

    pub fn set_presence(&self, info: &PresenceInfo) {
        let imp = self.imp();
        let _guard = self.freeze_notify();
        imp.presence.set(Presence::from_info(info));
        imp.status_message.replace(
            info.status
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        self.notify_presence();
        self.notify_status_message();
        self.refresh_subtitle();
    }

    /// A sentence about who sees whose status, for the details pane.
    pub fn subscription_description(&self) -> String {
        let name = self.display_name();
        let name = [("name", name.as_str())];
        if self.pending_out() {
            return gettext_f(
                "Waiting for {name} to accept your request to see their status.",
                &name,
            );
        }
        match self.subscription() {
            Subscription::Both => gettext_f("You and {name} see each other’s status.", &name),
            Subscription::To => {
                gettext_f("You see {name}’s status; {name} does not see yours.", &name)
            }
            Subscription::From => {
                gettext_f("{name} sees your status; you do not see theirs.", &name)
            }
            Subscription::None => {
                gettext_f("You and {name} do not see each other’s status.", &name)
            }
        }
    }

    fn refresh_subtitle(&self) {
        let imp = self.imp();
        let subtitle = if self.pending_in() {
            gettext("Wants to see your status")
        } else if self.pending_out() {
            gettext("Request sent, awaiting approval")
        } else if let Some(status) = self.status_message() {
            status
        } else if matches!(self.subscription(), Subscription::To | Subscription::Both) {
            self.presence().label()
        } else {
            // Without a subscription we cannot know: say so instead of "Offline".
            gettext("Status not shared")
        };
        if *imp.subtitle.borrow() != subtitle {
            imp.subtitle.replace(subtitle);
            self.notify_subtitle();
        }
    }
}
