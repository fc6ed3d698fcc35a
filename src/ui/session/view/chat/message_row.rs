//! One message in the chat: a bubble (ours on the right in the accent
//! colour, theirs on the left), the day separator above it when a new day
//! starts, and what went wrong when something did.

use std::cell::RefCell;

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

use crate::i18n::{gettext, gettext_f};
use crate::service::ChatMessage;
use crate::ui::components::set_lazy_tooltip;
use crate::ui::format;
use crate::ui::session::model::{MessageItem, MessageState};

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/chat/message_row.ui")]
    pub struct MessageRow {
        #[template_child]
        pub day_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub new_divider: TemplateChild<gtk::Box>,
        #[template_child]
        pub new_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub bubble: TemplateChild<gtk::Box>,
        #[template_child]
        pub problem_box: TemplateChild<gtk::Box>,
        #[template_child]
        pub problem_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub body_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub hint_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub footer: TemplateChild<gtk::Box>,
        #[template_child]
        pub lock_icon: TemplateChild<gtk::Image>,
        #[template_child]
        pub edited_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub time_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub state_icon: TemplateChild<gtk::Image>,
        #[template_child]
        pub error_label: TemplateChild<gtk::Label>,
        pub item: RefCell<Option<(MessageItem, Vec<glib::SignalHandlerId>)>>,
        /// This device's fingerprint, for the "ask them to trust" hint.
        pub own_fingerprint: RefCell<Option<String>>,
        /// The context menu (right click, long press, Menu key).
        pub menu: RefCell<Option<gtk::PopoverMenu>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MessageRow {
        const NAME: &'static str = "SottoMessageRow";
        type Type = super::MessageRow;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.set_css_name("message-row");
            klass.install_action("msg.copy", None, |row, _, _| row.copy_text());
            klass.install_action("msg.details", None, |row, _, _| {
                row.show_encryption_details();
            });
            klass.install_action("msg.menu", None, |row, _, _| row.popup_menu(None));
            klass.add_binding_action(
                gtk::gdk::Key::F10,
                gtk::gdk::ModifierType::SHIFT_MASK,
                "msg.menu",
            );
            klass.add_binding_action(
                gtk::gdk::Key::Menu,
                gtk::gdk::ModifierType::empty(),
                "msg.menu",
            );
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for MessageRow {
        fn constructed(&self) {
            self.parent_constructed();
            self.obj().setup_menu();
        }

        fn dispose(&self) {
            self.obj().set_item(None, None);
            if let Some(menu) = self.menu.take() {
                menu.unparent();
            }
        }
    }

    impl WidgetImpl for MessageRow {}
    impl BoxImpl for MessageRow {}
}

glib::wrapper! {
    pub struct MessageRow(ObjectSubclass<imp::MessageRow>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl MessageRow {
    pub fn new() -> Self {
        glib::Object::new()
    }

    pub fn item(&self) -> Option<MessageItem> {
        self.imp().item.borrow().as_ref().map(|(i, _)| i.clone())
    }

    pub fn set_item(&self, item: Option<MessageItem>, own_fingerprint: Option<String>) {
        let imp = self.imp();
        if let Some((old, handlers)) = imp.item.take() {
            for handler in handlers {
                old.disconnect(handler);
            }
        }
        imp.own_fingerprint.replace(own_fingerprint);
        let Some(item) = item else {
            return;
        };
        let changed = item.connect_changed(glib::clone!(
            #[weak(rename_to = row)]
            self,
            move |item| row.update(item)
        ));
        let layout = item.connect_notify_local(
            None,
            glib::clone!(
                #[weak(rename_to = row)]
                self,
                move |item, _| row.update_layout(item)
            ),
        );
        self.update(&item);
        imp.item.replace(Some((item, vec![changed, layout])));
    }

    fn setup_menu(&self) {
        let imp = self.imp();
        let model = gtk::gio::Menu::new();
        model.append(Some(&gettext("_Copy Text")), Some("msg.copy"));
        model.append(Some(&gettext("_Encryption Details")), Some("msg.details"));
        let menu = gtk::PopoverMenu::from_model(Some(&model));
        menu.set_has_arrow(false);
        menu.set_halign(gtk::Align::Start);
        menu.set_parent(&*imp.bubble);
        imp.menu.replace(Some(menu));

        let click = gtk::GestureClick::builder()
            .button(gtk::gdk::BUTTON_SECONDARY)
            .build();
        click.connect_pressed(glib::clone!(
            #[weak(rename_to = row)]
            self,
            move |gesture, _, x, y| {
                gesture.set_state(gtk::EventSequenceState::Claimed);
                row.popup_menu(Some((x, y)));
            }
        ));
        imp.bubble.add_controller(click);
        let press = gtk::GestureLongPress::new();
        press.set_touch_only(true);
        press.connect_pressed(glib::clone!(
            #[weak(rename_to = row)]
            self,
            move |gesture, x, y| {
                gesture.set_state(gtk::EventSequenceState::Claimed);
                row.popup_menu(Some((x, y)));
            }
        ));
        imp.bubble.add_controller(press);
    }

    /// The context menu at `at` (bubble coordinates), or under the bubble.
    pub fn popup_menu(&self, at: Option<(f64, f64)>) {
        let imp = self.imp();
        let Some(menu) = imp.menu.borrow().clone() else {
            return;
        };
        let has_text = self
            .item()
            .and_then(|i| i.with_message(|m| m.body.is_some()))
            .unwrap_or(false);
        self.action_set_enabled("msg.copy", has_text);
        let rect = match at {
            Some((x, y)) => gtk::gdk::Rectangle::new(x as i32, y as i32, 1, 1),
            None => gtk::gdk::Rectangle::new(0, imp.bubble.height(), imp.bubble.width(), 1),
        };
        menu.set_pointing_to(Some(&rect));
        menu.popup();
    }

    fn copy_text(&self) {
        if let Some(body) = self
            .item()
            .and_then(|i| i.with_message(|m| m.body.clone()))
            .flatten()
        {
            self.clipboard().set_text(&body);
        }
    }

    /// Opens the message's encryption details (returns the dialog, for tests).
    pub fn show_encryption_details(&self) -> Option<adw::Window> {
        let message = self.item()?.message()?;
        let parent = self.root().and_downcast::<gtk::Window>();
        Some(super::encryption_details::show(parent.as_ref(), &message))
    }

    fn update_layout(&self, item: &MessageItem) {
        let imp = self.imp();
        let day = item.day_label();
        imp.day_label.set_visible(!day.is_empty());
        imp.day_label.set_text(&day);
        let new = item.new_divider();
        imp.new_divider.set_visible(!new.is_empty());
        imp.new_label.set_text(&new);
        self.set_margin_top(if item.first_in_group() { 8 } else { 2 });
        self.update_footer(item);
        for (class, on) in [
            ("first-in-group", item.first_in_group()),
            ("last-in-group", item.last_in_group()),
        ] {
            if on {
                imp.bubble.add_css_class(class);
            } else {
                imp.bubble.remove_css_class(class);
            }
        }
    }

    fn update(&self, item: &MessageItem) {
        let Some(message) = item.message() else {
            return;
        };
        let imp = self.imp();
        let outgoing = message.direction == "out";
        let align = if outgoing {
            gtk::Align::End
        } else {
            gtk::Align::Start
        };
        imp.bubble.set_halign(align);
        imp.error_label.set_halign(align);
        set_class(imp.bubble.upcast_ref(), "outgoing", outgoing);
        set_class(imp.bubble.upcast_ref(), "incoming", !outgoing);

        let undecryptable = !outgoing && message.body.is_none() && message.error.is_some();
        set_class(imp.bubble.upcast_ref(), "problem", undecryptable);
        set_class(
            imp.bubble.upcast_ref(),
            "failed",
            item.state() == MessageState::Failed,
        );
        imp.problem_box.set_visible(undecryptable);
        imp.hint_label.set_visible(undecryptable);
        imp.body_label.set_visible(!undecryptable);
        if undecryptable {
            self.show_undecryptable(&message);
        } else {
            imp.body_label.set_markup(&format::linkify(
                message.body.as_deref().unwrap_or_default(),
            ));
        }

        // From a device the user has not trusted (new, changed key): not
        // the same lock as a trusted message.
        let untrusted = message.trusted == Some(false);
        imp.lock_icon.set_icon_name(Some(if untrusted {
            "dialog-warning-symbolic"
        } else {
            "channel-secure-symbolic"
        }));
        if untrusted {
            imp.lock_icon.add_css_class("warning");
        } else {
            imp.lock_icon.remove_css_class("warning");
        }
        set_lazy_tooltip(
            &*imp.lock_icon,
            Some(&if untrusted {
                gettext("Encrypted, by a device you do not trust")
            } else {
                gettext("Encrypted")
            }),
        );
        imp.edited_label.set_visible(message.corrected);
        imp.time_label.set_text(&format::clock(message.timestamp));
        set_lazy_tooltip(
            &*imp.time_label,
            Some(&format::day_label(message.timestamp)),
        );
        self.show_state(&message, item.state());
        self.update_layout(item);
    }

    /// Time and lock close a group; what can differ per message (delivery
    /// state, "edited") shows on each.
    fn update_footer(&self, item: &MessageItem) {
        let imp = self.imp();
        let last = item.last_in_group();
        let (encrypted, corrected, untrusted) = item
            .with_message(|m| {
                let encrypted = m.encrypted && m.body.is_some();
                (
                    encrypted,
                    m.corrected,
                    encrypted && m.trusted == Some(false),
                )
            })
            .unwrap_or_default();
        imp.time_label.set_visible(last);
        imp.lock_icon.set_visible((last && encrypted) || untrusted);
        let state = item.state() != MessageState::Received;
        imp.footer.set_visible(last || corrected || state);
    }

    fn show_undecryptable(&self, message: &ChatMessage) {
        let imp = self.imp();
        let reason = message.error.as_deref().unwrap_or_default();
        let sender = message.sender.split('/').next().unwrap_or(&message.sender);
        // Naming the device lets both sides find it in their device lists.
        imp.problem_label.set_text(&match message.sender_device {
            Some(device) => gettext_f(
                "This message from device {device} could not be decrypted: {reason}",
                &[("device", &device.to_string()), ("reason", reason)],
            ),
            None => gettext_f(
                "This message could not be decrypted: {reason}",
                &[("reason", reason)],
            ),
        });
        let hint = match imp.own_fingerprint.borrow().as_deref() {
            Some(fingerprint) => {
                gettext_f(
                    "Ask {sender} to trust this device. Its fingerprint is:",
                    &[("sender", sender)],
                ) + &format!(
                    "\n<tt>{}</tt>",
                    glib::markup_escape_text(&format::fingerprint(fingerprint))
                )
            }
            None => gettext_f("Ask {sender} to trust this device.", &[("sender", sender)]),
        };
        imp.hint_label.set_markup(&hint);
    }

    fn show_state(&self, message: &ChatMessage, state: MessageState) {
        let imp = self.imp();
        let icon = &imp.state_icon;
        icon.remove_css_class("error");
        icon.remove_css_class("read");
        let reason = message.error.as_deref().unwrap_or_default();
        let (name, tooltip) = match state {
            MessageState::Received => (None, String::new()),
            MessageState::Pending => (Some("document-open-recent-symbolic"), gettext("Sending…")),
            MessageState::Sent => (Some("object-select-symbolic"), gettext("Sent")),
            MessageState::Delivered => (
                Some("sotto-message-delivered-symbolic"),
                gettext("Delivered"),
            ),
            MessageState::Read => {
                icon.add_css_class("read");
                (Some("sotto-message-delivered-symbolic"), gettext("Read"))
            }
            MessageState::Failed => {
                icon.add_css_class("error");
                let tooltip = if reason.is_empty() {
                    gettext("Not sent")
                } else {
                    gettext_f("Not sent: {reason}", &[("reason", reason)])
                };
                (Some("dialog-error-symbolic"), tooltip)
            }
        };
        icon.set_visible(name.is_some());
        icon.set_icon_name(name);
        set_lazy_tooltip(&**icon, Some(&tooltip));
        let failed = state == MessageState::Failed;
        imp.error_label.set_visible(failed);
        if failed {
            imp.error_label.set_text(&tooltip);
        }
    }
}

fn set_class(widget: &gtk::Widget, class: &str, on: bool) {
    if on {
        widget.add_css_class(class);
    } else {
        widget.remove_css_class(class);
    }
}

impl Default for MessageRow {
    fn default() -> Self {
        Self::new()
    }
}
