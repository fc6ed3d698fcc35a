//! One conversation of the sidebar: who, the last message, unread count and
//! encryption, from the service's `ConversationSummary`.

use std::cell::{Cell, RefCell};

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

use super::Timeline;
use crate::i18n::gettext;
use crate::service::ConversationSummary;
use crate::ui::format;

/// How long "typing" shows without news from the contact. Clients send
/// "paused" after a few seconds; this only catches one that went away.
const TYPING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the composer's lock says about the next message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[enum_type(name = "SottoEncryptionChoice")]
pub enum EncryptionChoice {
    /// The default policy: OMEMO when the contact has devices.
    #[default]
    Default,
    On,
    Off,
}

impl EncryptionChoice {
    pub fn from_setting(setting: Option<bool>) -> Self {
        match setting {
            Some(true) => EncryptionChoice::On,
            Some(false) => EncryptionChoice::Off,
            None => EncryptionChoice::Default,
        }
    }
}

mod imp {
    use super::*;

    #[derive(Debug, Default, glib::Properties)]
    #[properties(wrapper_type = super::Conversation)]
    pub struct Conversation {
        #[property(get, set, construct_only)]
        pub account: RefCell<String>,
        #[property(get, set, construct_only)]
        pub jid: RefCell<String>,
        #[property(get, set)]
        pub name: RefCell<String>,
        /// `chat`, `group` or `channel` (empty until the service lists it:
        /// a chat).
        #[property(get, set)]
        pub kind: RefCell<String>,
        /// Unix milliseconds of the latest message; 0 when none.
        #[property(get)]
        pub last_activity: Cell<i64>,
        #[property(get)]
        pub unread: Cell<u32>,
        /// The preview line (respects the encrypted-previews setting).
        #[property(get)]
        pub preview: RefCell<String>,
        /// Whether the lock shows: the conversation is encrypted.
        #[property(get)]
        pub encrypted: Cell<bool>,
        #[property(get, builder(EncryptionChoice::default()))]
        pub encryption: Cell<EncryptionChoice>,
        /// Listed by the service (has messages or a setting), as opposed
        /// to opened from the roster and still empty.
        #[property(get)]
        pub listed: Cell<bool>,
        /// The contact is typing (XEP-0085 "composing").
        #[property(get)]
        pub typing: Cell<bool>,
        /// Clears `typing` if the contact goes quiet without saying so.
        pub typing_timeout: RefCell<Option<glib::SourceId>>,
        pub summary: RefCell<Option<ConversationSummary>>,
        pub show_encrypted_previews: Cell<bool>,
        pub timeline: RefCell<Option<Timeline>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Conversation {
        const NAME: &'static str = "SottoConversation";
        type Type = super::Conversation;
    }

    #[glib::derived_properties]
    impl ObjectImpl for Conversation {}
}

glib::wrapper! {
    pub struct Conversation(ObjectSubclass<imp::Conversation>);
}

impl Conversation {
    /// An empty conversation (opened from the roster, nothing sent yet).
    pub fn new(account: &str, jid: &str, name: &str) -> Self {
        let conversation: Self = glib::Object::builder()
            .property("account", account)
            .property("jid", jid)
            .property("name", name)
            .build();
        conversation.imp().show_encrypted_previews.set(true);
        conversation
    }

    pub fn from_summary(
        summary: &ConversationSummary,
        name: &str,
        show_encrypted_previews: bool,
    ) -> Self {
        let conversation = Self::new(&summary.account, &summary.jid, name);
        conversation
            .imp()
            .show_encrypted_previews
            .set(show_encrypted_previews);
        conversation.update(summary);
        conversation
    }

    /// A group chat or channel rather than a chat with one contact.
    pub fn is_room(&self) -> bool {
        matches!(self.kind().as_str(), "group" | "channel")
    }

    pub fn update(&self, summary: &ConversationSummary) {
        let imp = self.imp();
        let _guard = self.freeze_notify();
        imp.last_activity.set(summary.last_activity.unwrap_or(0));
        imp.unread.set(summary.unread);
        imp.encryption
            .set(EncryptionChoice::from_setting(summary.encryption));
        imp.encrypted.set(match summary.encryption {
            Some(on) => on,
            None => summary.last_encrypted,
        });
        imp.listed.set(true);
        if *imp.kind.borrow() != summary.kind {
            imp.kind.replace(summary.kind.clone());
            self.notify_kind();
        }
        imp.summary.replace(Some(summary.clone()));
        self.notify_last_activity();
        self.notify_unread();
        self.notify_encryption();
        self.notify_encrypted();
        self.notify_listed();
        self.refresh_preview();
    }

    /// After a successful `SetEncryption`, before the service says so.
    pub fn set_encryption_choice(&self, choice: EncryptionChoice) {
        let imp = self.imp();
        imp.encryption.set(choice);
        self.notify_encryption();
        if choice != EncryptionChoice::Default {
            imp.encrypted.set(choice == EncryptionChoice::On);
            self.notify_encrypted();
        }
    }

    /// The list shows a read conversation at once, before the service
    /// confirms.
    pub fn clear_unread(&self) {
        if self.unread() != 0 {
            self.imp().unread.set(0);
            self.notify_unread();
        }
    }

    pub fn set_show_encrypted_previews(&self, show: bool) {
        if self.imp().show_encrypted_previews.replace(show) != show {
            self.refresh_preview();
        }
    }

    /// The contact started or stopped typing. A client that vanishes
    /// mid-sentence sends nothing more, so "typing" also ends on its own.
    pub fn set_typing(&self, typing: bool) {
        let imp = self.imp();
        if let Some(source) = imp.typing_timeout.take() {
            source.remove();
        }
        if typing {
            let source = glib::timeout_add_local_once(
                TYPING_TIMEOUT,
                glib::clone!(
                    #[weak(rename_to = conversation)]
                    self,
                    move || {
                        conversation.imp().typing_timeout.take();
                        conversation.set_typing_flag(false);
                    }
                ),
            );
            imp.typing_timeout.replace(Some(source));
        }
        self.set_typing_flag(typing);
    }

    fn set_typing_flag(&self, typing: bool) {
        if self.imp().typing.replace(typing) != typing {
            self.notify_typing();
        }
    }

    /// The short time for the list ("5 min", "Yesterday").
    pub fn time_label(&self) -> String {
        match self.last_activity() {
            0 => String::new(),
            ms => format::relative_time(ms),
        }
    }

    /// The messages, loaded page by page while the chat is open.
    pub fn timeline(&self) -> Timeline {
        self.imp()
            .timeline
            .borrow_mut()
            .get_or_insert_with(|| Timeline::new(&self.account(), &self.jid()))
            .clone()
    }

    /// The timeline if the chat has it loaded.
    pub fn loaded_timeline(&self) -> Option<Timeline> {
        self.imp().timeline.borrow().clone()
    }

    /// Forget the loaded messages when the chat closes: memory stays
    /// bounded however many conversations were opened.
    pub fn release_timeline(&self) {
        self.imp().timeline.take();
    }

    fn refresh_preview(&self) {
        let imp = self.imp();
        let preview = {
            let summary = imp.summary.borrow();
            match summary.as_ref() {
                None => String::new(),
                Some(s) => preview_line(s, imp.show_encrypted_previews.get()),
            }
        };
        if *imp.preview.borrow() != preview {
            imp.preview.replace(preview);
            self.notify_preview();
        }
    }
}

fn preview_line(summary: &ConversationSummary, show_encrypted: bool) -> String {
    let outgoing = summary.last_direction.as_deref() == Some("out");
    let text = if summary.last_state.as_deref() == Some("failed") && outgoing {
        gettext("Not sent")
    } else if summary.last_encrypted && !show_encrypted {
        gettext("Encrypted message")
    } else {
        match summary.last_body.as_deref().map(str::trim) {
            Some(body) if !body.is_empty() => body.lines().next().unwrap_or(body).to_owned(),
            _ if summary.last_encrypted => gettext("Encrypted message"),
            _ => return String::new(),
        }
    };
    if outgoing {
        format::preview_from_you(&text)
    } else {
        text
    }
}
