//! The content pane: who the selected contact is and what they share.
//! Chats take this place in a later version.

use std::cell::RefCell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use super::DeviceList;
use crate::i18n::gettext_f;
use crate::service::{Command, Subscription};
use crate::ui::application::Application;
use crate::ui::components::Avatar;
use crate::ui::components::confirm_removal;
use crate::ui::session::model::{ContactItem, Presence};

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/contact_details.ui")]
    #[properties(wrapper_type = super::ContactDetails)]
    pub struct ContactDetails {
        #[template_child]
        pub header_bar: TemplateChild<adw::HeaderBar>,
        #[template_child]
        pub back_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub window_title: TemplateChild<adw::WindowTitle>,
        #[template_child]
        pub stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub avatar: TemplateChild<Avatar>,
        #[template_child]
        pub name_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub jid_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub presence_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub presence_dot: TemplateChild<gtk::Box>,
        #[template_child]
        pub subscription_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub account_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub device_list: TemplateChild<DeviceList>,
        #[property(get, set = Self::set_contact, nullable)]
        pub contact: RefCell<Option<ContactItem>>,
        pub handler: RefCell<Option<glib::SignalHandlerId>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ContactDetails {
        const NAME: &'static str = "SottoContactDetails";
        type Type = super::ContactDetails;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            Avatar::ensure_type();
            DeviceList::ensure_type();
            klass.bind_template();
            klass.install_action("details.remove-contact", None, |details, _, _| {
                details.confirm_remove();
            });
            klass.install_action("details.back", None, |details, _, _| {
                details.emit_by_name::<()>("back", &[]);
            });
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for ContactDetails {
        fn signals() -> &'static [glib::subclass::Signal] {
            use std::sync::OnceLock;
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| vec![glib::subclass::Signal::builder("back").build()])
        }

        fn dispose(&self) {
            self.disconnect_contact();
        }
    }

    impl WidgetImpl for ContactDetails {}
    impl BoxImpl for ContactDetails {}

    impl ContactDetails {
        fn disconnect_contact(&self) {
            if let (Some(contact), Some(handler)) =
                (self.contact.borrow().as_ref(), self.handler.take())
            {
                contact.disconnect(handler);
            }
        }

        fn set_contact(&self, contact: Option<ContactItem>) {
            if *self.contact.borrow() == contact {
                return;
            }
            self.disconnect_contact();
            if let Some(contact) = &contact {
                let obj = self.obj();
                let handler = contact.connect_notify_local(
                    None,
                    glib::clone!(
                        #[weak]
                        obj,
                        move |contact, _| obj.imp().update(contact)
                    ),
                );
                self.handler.replace(Some(handler));
                self.update(contact);
                self.device_list
                    .load(&contact.account(), &contact.jid(), &contact.display_name());
            }
            self.stack.set_visible_child_name(if contact.is_some() {
                "contact"
            } else {
                "empty"
            });
            if contact.is_none() {
                self.window_title.set_title("");
            }
            self.obj()
                .action_set_enabled("details.remove-contact", contact.is_some());
            self.contact.replace(contact);
        }

        fn update(&self, contact: &ContactItem) {
            let name = contact.display_name();
            let jid = contact.jid();
            self.window_title.set_title(&name);
            self.name_label.set_text(&name);
            self.jid_label.set_text(&jid);
            self.avatar.set_text(name.as_str());
            self.avatar.set_seed(jid.as_str());

            let presence = contact.presence();
            let sees_status = matches!(
                contact.subscription(),
                Subscription::To | Subscription::Both
            );
            let status = if !sees_status {
                gettext_f(
                    "{name} does not share their status with you",
                    &[("name", &name)],
                )
            } else {
                match contact.status_message() {
                    Some(message) => gettext_f(
                        "{presence} — “{message}”",
                        &[("presence", &presence.label()), ("message", &message)],
                    ),
                    None => presence.label(),
                }
            };
            self.presence_row
                .set_subtitle(&glib::markup_escape_text(&status));
            for p in [
                Presence::Offline,
                Presence::Available,
                Presence::Away,
                Presence::Busy,
            ] {
                self.presence_dot.remove_css_class(p.css_class());
            }
            self.presence_dot.add_css_class(presence.css_class());
            self.presence_dot.set_visible(sees_status);

            let mut sharing = contact.subscription_description();
            if contact.pending_in() {
                sharing = gettext_f(
                    "{sharing} {name} asks to see your status.",
                    &[("sharing", &sharing), ("name", &name)],
                );
            }
            self.subscription_row
                .set_subtitle(&glib::markup_escape_text(&sharing));
            self.account_row
                .set_subtitle(&glib::markup_escape_text(&contact.account()));
        }
    }
}

glib::wrapper! {
    pub struct ContactDetails(ObjectSubclass<imp::ContactDetails>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl ContactDetails {
    pub fn header_bar(&self) -> adw::HeaderBar {
        self.imp().header_bar.get()
    }

    pub fn back_button(&self) -> gtk::Button {
        self.imp().back_button.get()
    }

    pub fn device_list(&self) -> DeviceList {
        self.imp().device_list.get()
    }

    /// Scroll the device list into view (the trust banner's "Review"),
    /// once the page has been laid out.
    pub fn reveal_devices(&self) {
        let devices = self.imp().device_list.get();
        devices.add_tick_callback(|devices, _| {
            let Some(scrolled) = devices
                .ancestor(gtk::ScrolledWindow::static_type())
                .and_downcast::<gtk::ScrolledWindow>()
            else {
                return glib::ControlFlow::Break;
            };
            let content = scrolled.child().and_then(|viewport| viewport.first_child());
            let position = content
                .as_ref()
                .and_then(|content| devices.translate_coordinates(content, 0.0, 0.0));
            match position {
                Some((_, y)) if devices.height() > 0 => {
                    let adjustment = scrolled.vadjustment();
                    let top = (y - 12.0).max(0.0);
                    adjustment.set_value(top.min(adjustment.upper() - adjustment.page_size()));
                    glib::ControlFlow::Break
                }
                // Not laid out yet: try on the next frame.
                _ => glib::ControlFlow::Continue,
            }
        });
    }

    pub fn connect_back<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("back", false, move |args| {
            f(&args[0].get::<Self>().expect("ContactDetails"));
            None
        })
    }

    fn confirm_remove(&self) {
        let Some(contact) = self.contact() else {
            return;
        };
        let parent = self.root().and_downcast::<gtk::Window>();
        confirm_removal(
            parent.as_ref(),
            &gettext_f("Remove {name}?", &[("name", &contact.display_name())]),
            &gettext_f(
                "{address} will be removed from your contacts, and you will stop sharing your status with each other.",
                &[("address", &contact.jid())],
            ),
            glib::clone!(
                #[weak(rename_to = details)]
                self,
                move || details.remove(&contact)
            ),
        );
    }

    fn remove(&self, contact: &ContactItem) {
        let Some(app) = Application::instance() else {
            return;
        };
        let Some(service) = app.service() else { return };
        let (account, jid) = (contact.account(), contact.jid());
        glib::spawn_future_local(async move {
            let result = service
                .request(|reply| Command::RemoveContact {
                    account,
                    jid: jid.clone(),
                    reply,
                })
                .await;
            if let Err(error) = result {
                app.main_window().add_toast(&gettext_f(
                    "Could not remove {address}: {reason}",
                    &[("address", &jid), ("reason", &error.user_message())],
                ));
            }
        });
    }
}
