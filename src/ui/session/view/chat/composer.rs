//! Where messages are written: a multi-line entry (Enter sends,
//! Shift+Enter starts a new line, Up in an empty entry edits the last own
//! message), the encryption lock that says what will happen to the next
//! message, and a banner when sending failed.

use std::cell::{Cell, RefCell};

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gdk, glib};

use crate::i18n::{gettext, gettext_f};

/// What the lock tells about the next message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionState {
    /// Encrypted with OMEMO.
    #[default]
    Encrypted,
    /// Sent in the clear, by choice.
    Unencrypted,
    /// Sent in the clear: the contact has no OMEMO device.
    Unavailable,
    /// Encryption is on, but the contact has no OMEMO device: nothing can
    /// be sent until that changes or encryption is turned off.
    Impossible,
    /// The contact has OMEMO devices, but none that this device trusts:
    /// nothing can be sent until one is verified or trusted.
    Untrusted,
}

mod imp {
    use std::sync::OnceLock;

    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/chat/composer.ui")]
    pub struct Composer {
        #[template_child]
        pub error_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub error_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub encryption_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub text_view: TemplateChild<gtk::TextView>,
        #[template_child]
        pub placeholder: TemplateChild<gtk::Label>,
        #[template_child]
        pub send_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub editing_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub editing_label: TemplateChild<gtk::Label>,
        pub encryption: Cell<EncryptionState>,
        /// The message being corrected (XEP-0308), by its archive id.
        pub editing: Cell<Option<i64>>,
        /// The text before editing began, given back on cancel.
        pub draft: RefCell<String>,
        /// The buffer is being set by code, not typed into.
        pub setting_text: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Composer {
        const NAME: &'static str = "SottoComposer";
        type Type = super::Composer;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("composer.send", None, |composer, _, _| composer.send());
            klass.install_action("composer.toggle-encryption", None, |composer, _, _| {
                composer.emit_by_name::<()>("toggle-encryption", &[]);
            });
            klass.install_action("composer.show-devices", None, |composer, _, _| {
                composer.emit_by_name::<()>("show-devices", &[]);
            });
            klass.install_action("composer.dismiss-error", None, |composer, _, _| {
                composer.set_error(None);
            });
            klass.install_action("composer.cancel-edit", None, |composer, _, _| {
                composer.cancel_edit();
            });
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for Composer {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    glib::subclass::Signal::builder("send")
                        .param_types([String::static_type()])
                        .build(),
                    // The edited text of message `id` (i64), to correct.
                    glib::subclass::Signal::builder("correct")
                        .param_types([i64::static_type(), String::static_type()])
                        .build(),
                    // Up in an empty entry: the view picks the message.
                    glib::subclass::Signal::builder("edit-last").build(),
                    // The user typed; the argument says whether text is left.
                    glib::subclass::Signal::builder("typing")
                        .param_types([bool::static_type()])
                        .build(),
                    glib::subclass::Signal::builder("toggle-encryption").build(),
                    glib::subclass::Signal::builder("show-devices").build(),
                ]
            })
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            let keys = gtk::EventControllerKey::new();
            keys.set_propagation_phase(gtk::PropagationPhase::Capture);
            keys.connect_key_pressed(glib::clone!(
                #[weak]
                obj,
                #[upgrade_or]
                glib::Propagation::Proceed,
                move |_, key, _, modifiers| {
                    let enter = matches!(key, gdk::Key::Return | gdk::Key::KP_Enter);
                    let newline = modifiers.intersects(
                        gdk::ModifierType::SHIFT_MASK | gdk::ModifierType::CONTROL_MASK,
                    );
                    let plain = !modifiers.intersects(
                        gdk::ModifierType::SHIFT_MASK
                            | gdk::ModifierType::CONTROL_MASK
                            | gdk::ModifierType::ALT_MASK,
                    );
                    if enter && !newline {
                        obj.send();
                        glib::Propagation::Stop
                    } else if key == gdk::Key::Up && plain && obj.is_empty() && !obj.is_editing() {
                        obj.emit_by_name::<()>("edit-last", &[]);
                        glib::Propagation::Stop
                    } else if key == gdk::Key::Escape && obj.is_editing() {
                        obj.cancel_edit();
                        glib::Propagation::Stop
                    } else {
                        glib::Propagation::Proceed
                    }
                }
            ));
            self.text_view.add_controller(keys);
            self.text_view.buffer().connect_changed(glib::clone!(
                #[weak]
                obj,
                move |buffer| {
                    obj.update_send_state();
                    if !obj.imp().setting_text.get() {
                        obj.emit_by_name::<()>("typing", &[&(buffer.char_count() > 0)]);
                    }
                }
            ));
            obj.set_encryption(EncryptionState::Encrypted, "");
            obj.update_send_state();
        }
    }

    impl WidgetImpl for Composer {
        fn grab_focus(&self) -> bool {
            self.text_view.grab_focus()
        }
    }

    impl BoxImpl for Composer {}
}

glib::wrapper! {
    pub struct Composer(ObjectSubclass<imp::Composer>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Composer {
    pub fn text(&self) -> String {
        let buffer = self.imp().text_view.buffer();
        buffer
            .text(&buffer.start_iter(), &buffer.end_iter(), false)
            .to_string()
    }

    /// Replace the text without it counting as typing.
    pub fn set_text(&self, text: &str) {
        let imp = self.imp();
        imp.setting_text.set(true);
        imp.text_view.buffer().set_text(text);
        imp.setting_text.set(false);
    }

    fn is_empty(&self) -> bool {
        self.imp().text_view.buffer().char_count() == 0
    }

    /// The id of the message being corrected.
    pub fn editing(&self) -> Option<i64> {
        self.imp().editing.get()
    }

    pub fn is_editing(&self) -> bool {
        self.editing().is_some()
    }

    /// Put message `id`'s text in the entry; sending corrects it.
    pub fn start_edit(&self, id: i64, text: &str) {
        let imp = self.imp();
        if imp.editing.replace(Some(id)).is_none() {
            imp.draft.replace(self.text());
        }
        imp.editing_label.set_text(text);
        imp.editing_revealer.set_reveal_child(true);
        self.set_text(text);
        let buffer = imp.text_view.buffer();
        buffer.place_cursor(&buffer.end_iter());
        imp.text_view.grab_focus();
        self.update_send_state();
    }

    /// Leave editing; what was written before comes back.
    pub fn cancel_edit(&self) {
        let imp = self.imp();
        if imp.editing.take().is_none() {
            return;
        }
        imp.editing_revealer.set_reveal_child(false);
        let draft = imp.draft.take();
        self.set_text(&draft);
        self.update_send_state();
    }

    fn finish_edit(&self) {
        let imp = self.imp();
        imp.editing.set(None);
        imp.editing_revealer.set_reveal_child(false);
        let draft = imp.draft.take();
        self.set_text(&draft);
        self.update_send_state();
    }

    pub fn encryption(&self) -> EncryptionState {
        self.imp().encryption.get()
    }

    /// Show the truth about the next message to `name`.
    pub fn set_encryption(&self, state: EncryptionState, name: &str) {
        let imp = self.imp();
        imp.encryption.set(state);
        imp.encryption_button.set_visible(true);
        imp.text_view.set_tooltip_text(None);
        let name = [("name", name)];
        let (icon, tooltip, placeholder) = match state {
            EncryptionState::Encrypted => (
                "channel-secure-symbolic",
                gettext("Messages are end-to-end encrypted (OMEMO). Click to turn encryption off."),
                gettext("Encrypted message"),
            ),
            EncryptionState::Unencrypted => (
                "channel-insecure-symbolic",
                gettext("Messages are not encrypted. Click to turn encryption on."),
                gettext("Unencrypted message"),
            ),
            EncryptionState::Unavailable => (
                "channel-insecure-symbolic",
                gettext_f(
                    "Messages are not encrypted: {name} has no device that supports OMEMO.",
                    &name,
                ),
                gettext("Unencrypted message"),
            ),
            EncryptionState::Untrusted => (
                "channel-secure-symbolic",
                gettext_f(
                    "Encryption is on, but none of {name}'s devices is trusted, so nothing can be sent. Verify or trust a device in their details, or click to turn encryption off.",
                    &name,
                ),
                gettext_f("No trusted device of {name}", &name),
            ),
            EncryptionState::Impossible => (
                "channel-secure-symbolic",
                gettext_f(
                    "Encryption is on, but {name} has no device that supports OMEMO, so nothing can be sent. Click to turn encryption off.",
                    &name,
                ),
                gettext_f("Cannot encrypt for {name}", &name),
            ),
        };
        let button = &imp.encryption_button;
        button.set_icon_name(icon);
        button.set_tooltip_text(Some(&tooltip));
        for (class, on) in [
            ("warning", state == EncryptionState::Unencrypted),
            (
                "error",
                matches!(
                    state,
                    EncryptionState::Impossible | EncryptionState::Untrusted
                ),
            ),
            ("dim-label", state == EncryptionState::Unavailable),
        ] {
            if on {
                button.add_css_class(class);
            } else {
                button.remove_css_class(class);
            }
        }
        self.action_set_enabled(
            "composer.toggle-encryption",
            state != EncryptionState::Unavailable,
        );
        imp.placeholder.set_text(&placeholder);
    }

    /// A group chat that cannot be encrypted: the lock is open and says
    /// the room's reason (set after `set_encryption`).
    pub fn set_lock_reason(&self, reason: &str) {
        self.imp().encryption_button.set_tooltip_text(Some(reason));
    }

    /// A channel is never encrypted: no lock at all (it would only ever be
    /// open), but why not stays available as the entry's tooltip.
    pub fn set_channel(&self, reason: Option<&str>) {
        let imp = self.imp();
        imp.encryption.set(EncryptionState::Unavailable);
        imp.encryption_button.set_visible(false);
        self.action_set_enabled("composer.toggle-encryption", false);
        let reason = reason
            .map(str::to_owned)
            .unwrap_or_else(|| gettext("Messages in channels are not encrypted."));
        imp.text_view.set_tooltip_text(Some(&reason));
        imp.placeholder.set_text(&gettext("Message to the channel"));
    }

    /// The banner above the entry; `None` hides it.
    pub fn set_error(&self, message: Option<&str>) {
        let imp = self.imp();
        if let Some(message) = message {
            imp.error_label.set_text(message);
        }
        imp.error_revealer.set_reveal_child(message.is_some());
    }

    pub fn error(&self) -> Option<String> {
        let imp = self.imp();
        imp.error_revealer
            .reveals_child()
            .then(|| imp.error_label.text().to_string())
    }

    pub fn connect_send<F: Fn(&Self, &str) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("send", false, move |args| {
            if let (Ok(composer), Ok(text)) = (args[0].get::<Self>(), args[1].get::<String>()) {
                f(&composer, &text);
            }
            None
        })
    }

    pub fn connect_correct<F: Fn(&Self, i64, &str) + 'static>(
        &self,
        f: F,
    ) -> glib::SignalHandlerId {
        self.connect_local("correct", false, move |args| {
            if let (Ok(composer), Ok(id), Ok(text)) = (
                args[0].get::<Self>(),
                args[1].get::<i64>(),
                args[2].get::<String>(),
            ) {
                f(&composer, id, &text);
            }
            None
        })
    }

    pub fn connect_edit_last<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("edit-last", false, move |args| {
            if let Ok(composer) = args[0].get::<Self>() {
                f(&composer);
            }
            None
        })
    }

    pub fn connect_typing<F: Fn(&Self, bool) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("typing", false, move |args| {
            if let (Ok(composer), Ok(has_text)) = (args[0].get::<Self>(), args[1].get::<bool>()) {
                f(&composer, has_text);
            }
            None
        })
    }

    pub fn connect_toggle_encryption<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("toggle-encryption", false, move |args| {
            if let Ok(composer) = args[0].get::<Self>() {
                f(&composer);
            }
            None
        })
    }

    pub fn connect_show_devices<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("show-devices", false, move |args| {
            if let Ok(composer) = args[0].get::<Self>() {
                f(&composer);
            }
            None
        })
    }

    /// Send what is written, if anything: the entry empties at once.
    /// While editing, the text corrects the edited message instead.
    pub fn send(&self) {
        let text = self.text();
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let text = text.to_owned();
        if let Some(id) = self.editing() {
            self.finish_edit();
            self.emit_by_name::<()>("correct", &[&id, &text]);
            return;
        }
        self.set_text("");
        self.emit_by_name::<()>("send", &[&text]);
    }

    fn update_send_state(&self) {
        let empty = self.is_empty();
        self.imp().placeholder.set_visible(empty);
        self.action_set_enabled("composer.send", !empty);
        self.action_set_enabled("composer.cancel-edit", self.is_editing());
    }
}
