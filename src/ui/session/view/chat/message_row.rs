//! One message in the chat: a bubble (ours on the right in the accent
//! colour, theirs on the left), the day separator above it when a new day
//! starts, and what went wrong when something did.

use std::cell::RefCell;
use std::collections::HashSet;

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
        /// In a room: the sender's nick above the first bubble of a group.
        pub sender_label: gtk::Label,
        pub item: RefCell<Option<(MessageItem, Vec<glib::SignalHandlerId>)>>,
        /// This device's fingerprint, for the "ask them to trust" hint.
        pub own_fingerprint: RefCell<Option<String>>,
        /// The context menu (right click, long press, Menu key), made at
        /// its first use: most rows never show it.
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
            let obj = self.obj();
            obj.setup_menu();
            let sender = &self.sender_label;
            sender.set_xalign(0.0);
            sender.set_ellipsize(gtk::pango::EllipsizeMode::End);
            sender.add_css_class("message-sender");
            sender.add_css_class("caption-heading");
            sender.set_visible(false);
            self.bubble.prepend(sender);
            self.body_label.connect_activate_link(glib::clone!(
                #[weak]
                obj,
                #[upgrade_or]
                glib::Propagation::Proceed,
                move |_, uri| {
                    if uri != SHOW_MORE_URI {
                        return glib::Propagation::Proceed;
                    }
                    obj.show_whole_body();
                    glib::Propagation::Stop
                }
            ));
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

    /// The context menu, made on first use (a popover per row built with
    /// the row made opening a chat and tearing one down slower).
    fn menu(&self) -> gtk::PopoverMenu {
        let imp = self.imp();
        if let Some(menu) = imp.menu.borrow().as_ref() {
            return menu.clone();
        }
        let model = gtk::gio::Menu::new();
        model.append(Some(&gettext("_Copy Text")), Some("msg.copy"));
        model.append(Some(&gettext("_Encryption Details")), Some("msg.details"));
        let menu = gtk::PopoverMenu::from_model(Some(&model));
        menu.set_has_arrow(false);
        menu.set_halign(gtk::Align::Start);
        menu.set_parent(&*imp.bubble);
        imp.menu.replace(Some(menu.clone()));
        menu
    }

    fn setup_menu(&self) {
        let imp = self.imp();
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
        let menu = self.menu();
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
        let nick = item
            .with_message(|m| m.direction != "out" && m.sender_nick.is_some())
            .unwrap_or(false);
        imp.sender_label.set_visible(nick && item.first_in_group());
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
            self.show_body(message.id, message.body.as_deref().unwrap_or_default());
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
        if !outgoing && let Some(nick) = message.sender_nick.as_deref() {
            imp.sender_label.set_markup(&sender_markup(&message, nick));
        }
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

    /// The text, or for a very long one its beginning and "Show more":
    /// GTK shapes a label's whole text several times to measure it, so a
    /// page of long messages made opening a chat slow (benches/README.md).
    fn show_body(&self, id: i64, body: &str) {
        let label = &self.imp().body_label;
        let expanded = EXPANDED.with(|e| e.borrow().contains(&id));
        let markup = match preview(body) {
            Some(short) if !expanded => format!(
                "{}…\n<a href=\"{SHOW_MORE_URI}\">{}</a>",
                format::linkify(short),
                glib::markup_escape_text(&gettext("Show more"))
            ),
            _ => format::linkify(body),
        };
        // A state change (sent, read) updates the row: no new layout then.
        if label.label() == markup {
            return;
        }
        // GTK measures a wrapping label's minimum width by laying its text
        // out at width 0 (`width-chars` unset): one line per character with
        // `word-char`, each line shaped again (Pango was the largest cost
        // of opening a chat, benches/README.md). A text with a line twice
        // as long as `MIN_CHARS` is wider than that anyway, so that minimum
        // costs nothing in how it looks.
        let wide = body
            .lines()
            .any(|line| line.chars().nth(MIN_CHARS as usize * 2).is_some());
        label.set_width_chars(if wide { MIN_CHARS } else { -1 });
        label.set_markup(&markup);
    }

    fn show_whole_body(&self) {
        let Some(item) = self.item() else {
            return;
        };
        let Some((id, body)) = item.with_message(|m| (m.id, m.body.clone().unwrap_or_default()))
        else {
            return;
        };
        EXPANDED.with(|e| e.borrow_mut().insert(id));
        self.show_body(id, &body);
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
        // A room reports no delivery or reading per member: sent is all.
        let state = match state {
            MessageState::Delivered | MessageState::Read if message.sender_nick.is_some() => {
                MessageState::Sent
            }
            state => state,
        };
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

/// The narrowest a message body with long lines gets, in characters.
const MIN_CHARS: i32 = 20;
/// The `href` of the "Show more" link of a shortened message.
const SHOW_MORE_URI: &str = "sotto:show-more";
/// Bodies longer than this many characters are shortened...
const LONG_BODY_CHARS: usize = 700;
/// ...to about this many (cut after a word where there is one near).
const PREVIEW_CHARS: usize = 500;

thread_local! {
    /// Messages whose whole text the user asked for ("Show more"): they
    /// stay whole when their row is recycled and bound again.
    static EXPANDED: RefCell<HashSet<i64>> = RefCell::default();
}

/// The beginning of a body longer than `LONG_BODY_CHARS`, or `None`.
fn preview(body: &str) -> Option<&str> {
    body.chars().nth(LONG_BODY_CHARS)?;
    let (end, _) = body.char_indices().nth(PREVIEW_CHARS)?;
    let head = &body[..end];
    // A word boundary in the last fifth, else the character boundary.
    let start = head
        .char_indices()
        .nth(PREVIEW_CHARS * 4 / 5)
        .map_or(0, |(i, _)| i);
    let end = head[start..]
        .rfind(char::is_whitespace)
        .map_or(end, |i| start + i);
    Some(head[..end].trim_end())
}

/// The nick in the sender's XEP-0392 colour: from the real address where
/// the room shows it (so it matches the contact's avatar), else the nick.
fn sender_markup(message: &ChatMessage, nick: &str) -> String {
    let real = message.sender.split('/').next().unwrap_or_default();
    let identifier = if real.is_empty() || real == message.conversation {
        nick
    } else {
        real
    };
    let (r, g, b) = crate::ui::components::consistent_color::rgb(identifier);
    let channel = |c: f64| (c.clamp(0.0, 1.0) * 255.0).round() as u8;
    format!(
        "<span foreground=\"#{:02x}{:02x}{:02x}\">{}</span>",
        channel(r),
        channel(g),
        channel(b),
        glib::markup_escape_text(nick)
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_bodies_are_shortened_after_a_word() {
        assert_eq!(preview("short"), None);
        assert_eq!(preview(&"é".repeat(LONG_BODY_CHARS)), None);
        let words = "word ".repeat(200);
        let short = preview(&words).expect("shortened");
        assert!(short.len() <= PREVIEW_CHARS && short.len() > PREVIEW_CHARS * 4 / 5);
        assert!(short.ends_with("word"));
        let one = "ä".repeat(LONG_BODY_CHARS + 1);
        assert_eq!(
            preview(&one).map(|s| s.chars().count()),
            Some(PREVIEW_CHARS)
        );
    }
}
