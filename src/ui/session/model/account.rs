//! One configured account and the state of its connection.

use std::cell::RefCell;

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

use crate::service::{AccountInfo, ConnectionState};

mod imp {
    use super::*;

    #[derive(Debug, Default, glib::Properties)]
    #[properties(wrapper_type = super::AccountItem)]
    pub struct AccountItem {
        #[property(get, set, construct_only)]
        pub jid: RefCell<String>,
        /// `None` until the service reports on this account.
        pub state: RefCell<Option<ConnectionState>>,
        pub info: RefCell<Option<AccountInfo>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for AccountItem {
        const NAME: &'static str = "SottoAccountItem";
        type Type = super::AccountItem;
    }

    #[glib::derived_properties]
    impl ObjectImpl for AccountItem {
        fn signals() -> &'static [glib::subclass::Signal] {
            use std::sync::OnceLock;
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![glib::subclass::Signal::builder("state-changed").build()])
        }
    }
}

glib::wrapper! {
    pub struct AccountItem(ObjectSubclass<imp::AccountItem>);
}

impl AccountItem {
    pub fn new(info: &AccountInfo) -> Self {
        let item: Self = glib::Object::builder().property("jid", &info.jid).build();
        item.imp().info.replace(Some(info.clone()));
        item
    }

    pub fn info(&self) -> Option<AccountInfo> {
        self.imp().info.borrow().clone()
    }

    pub fn state(&self) -> Option<ConnectionState> {
        self.imp().state.borrow().clone()
    }

    pub fn set_state(&self, state: ConnectionState) {
        self.imp().state.replace(Some(state));
        self.emit_by_name::<()>("state-changed", &[]);
    }

    pub fn connect_state_changed<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("state-changed", false, move |args| {
            let item = args[0].get::<Self>().expect("AccountItem");
            f(&item);
            None
        })
    }
}
