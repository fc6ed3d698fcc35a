//! One contact in the roster list: avatar with presence dot, name, and a
//! line of status.

use std::cell::RefCell;

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

use crate::service::Subscription;
use crate::ui::components::{Avatar, set_lazy_tooltip};
use crate::ui::session::model::{ContactItem, Presence};

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/contact_row.ui")]
    #[properties(wrapper_type = super::ContactRow)]
    pub struct ContactRow {
        #[template_child]
        pub avatar: TemplateChild<Avatar>,
        #[template_child]
        pub presence_dot: TemplateChild<gtk::Box>,
        #[template_child]
        pub title: TemplateChild<gtk::Label>,
        #[template_child]
        pub subtitle: TemplateChild<gtk::Label>,
        #[template_child]
        pub pending_icon: TemplateChild<gtk::Image>,
        #[property(get, set = Self::set_contact, nullable)]
        pub contact: RefCell<Option<ContactItem>>,
        pub bindings: RefCell<Vec<glib::Binding>>,
        pub handlers: RefCell<Vec<glib::SignalHandlerId>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ContactRow {
        const NAME: &'static str = "SottoContactRow";
        type Type = super::ContactRow;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            Avatar::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for ContactRow {
        fn dispose(&self) {
            self.unbind();
        }
    }

    impl WidgetImpl for ContactRow {}
    impl BoxImpl for ContactRow {}

    impl ContactRow {
        fn unbind(&self) {
            for binding in self.bindings.take() {
                binding.unbind();
            }
            if let Some(contact) = self.contact.borrow().as_ref() {
                for handler in self.handlers.take() {
                    contact.disconnect(handler);
                }
            }
        }

        fn set_contact(&self, contact: Option<ContactItem>) {
            self.unbind();
            if let Some(contact) = &contact {
                let bindings = vec![
                    contact
                        .bind_property("display-name", &*self.title, "label")
                        .sync_create()
                        .build(),
                    contact
                        .bind_property("subtitle", &*self.subtitle, "label")
                        .sync_create()
                        .build(),
                    contact
                        .bind_property("display-name", &*self.avatar, "text")
                        .sync_create()
                        .build(),
                    contact
                        .bind_property("jid", &*self.avatar, "seed")
                        .sync_create()
                        .build(),
                    contact
                        .bind_property("pending-out", &*self.pending_icon, "visible")
                        .sync_create()
                        .build(),
                ];
                self.bindings.replace(bindings);
                let obj = self.obj();
                let mut handlers = Vec::new();
                for property in ["presence", "pending-in", "pending-out"] {
                    handlers.push(contact.connect_notify_local(
                        Some(property),
                        glib::clone!(
                            #[weak]
                            obj,
                            move |contact, _| obj.imp().update_presence(contact)
                        ),
                    ));
                }
                self.handlers.replace(handlers);
                self.update_presence(contact);
            }
            self.contact.replace(contact);
        }

        fn update_presence(&self, contact: &ContactItem) {
            let dot = &*self.presence_dot;
            for presence in [
                Presence::Offline,
                Presence::Available,
                Presence::Away,
                Presence::Busy,
            ] {
                dot.remove_css_class(presence.css_class());
            }
            // Only a contact whose status we receive gets a dot; an absent
            // dot means "unknown", not "offline".
            let known = matches!(
                contact.subscription(),
                Subscription::To | Subscription::Both
            );
            dot.add_css_class(contact.presence().css_class());
            dot.set_visible(known);
            set_lazy_tooltip(dot, Some(&contact.presence().label()));
            set_lazy_tooltip(&*self.title, Some(&contact.jid()));
        }
    }
}

glib::wrapper! {
    pub struct ContactRow(ObjectSubclass<imp::ContactRow>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl ContactRow {
    pub fn new() -> Self {
        glib::Object::new()
    }
}

impl Default for ContactRow {
    fn default() -> Self {
        Self::new()
    }
}
