//! Someone who asked to see our presence and waits for an answer.

use std::cell::RefCell;

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

mod imp {
    use super::*;

    #[derive(Debug, Default, glib::Properties)]
    #[properties(wrapper_type = super::SubscriptionRequest)]
    pub struct SubscriptionRequest {
        #[property(get, set, construct_only)]
        pub account: RefCell<String>,
        #[property(get, set, construct_only)]
        pub jid: RefCell<String>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SubscriptionRequest {
        const NAME: &'static str = "SottoSubscriptionRequest";
        type Type = super::SubscriptionRequest;
    }

    #[glib::derived_properties]
    impl ObjectImpl for SubscriptionRequest {}
}

glib::wrapper! {
    pub struct SubscriptionRequest(ObjectSubclass<imp::SubscriptionRequest>);
}

impl SubscriptionRequest {
    pub fn new(account: &str, jid: &str) -> Self {
        glib::Object::builder()
            .property("account", account)
            .property("jid", jid)
            .build()
    }
}
