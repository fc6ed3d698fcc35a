//! A row of the conversation list: avatar, name, lock, time, the last
//! message and the unread count.

use std::cell::RefCell;

use gtk::glib;
use gtk::prelude::*;
use gtk::subclass::prelude::*;

use crate::i18n::{gettext, ngettext_f};
use crate::ui::components::{Avatar, set_lazy_tooltip};
use crate::ui::session::model::Conversation;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/conversation_row.ui")]
    pub struct ConversationRow {
        #[template_child]
        pub avatar: TemplateChild<Avatar>,
        #[template_child]
        pub title: TemplateChild<gtk::Label>,
        #[template_child]
        pub lock_icon: TemplateChild<gtk::Image>,
        #[template_child]
        pub time_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub preview_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub unread_badge: TemplateChild<gtk::Label>,
        /// Group chats and channels look different from chats (as in
        /// Conversations): a people icon, or a hash for a channel.
        pub kind_icon: gtk::Image,
        pub conversation: RefCell<Option<(Conversation, glib::SignalHandlerId)>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ConversationRow {
        const NAME: &'static str = "SottoConversationRow";
        type Type = super::ConversationRow;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            Avatar::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ConversationRow {
        fn constructed(&self) {
            self.parent_constructed();
            self.kind_icon.set_pixel_size(14);
            self.kind_icon.add_css_class("dim-label");
            self.kind_icon.set_visible(false);
            if let Some(line) = self.title.parent().and_downcast::<gtk::Box>() {
                line.prepend(&self.kind_icon);
            }
        }

        fn dispose(&self) {
            if let Some((conversation, handler)) = self.conversation.take() {
                conversation.disconnect(handler);
            }
        }
    }

    impl WidgetImpl for ConversationRow {}
    impl BoxImpl for ConversationRow {}
}

glib::wrapper! {
    pub struct ConversationRow(ObjectSubclass<imp::ConversationRow>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl ConversationRow {
    pub fn new() -> Self {
        glib::Object::new()
    }

    pub fn set_conversation(&self, conversation: Option<Conversation>) {
        let imp = self.imp();
        if let Some((old, handler)) = imp.conversation.take() {
            old.disconnect(handler);
        }
        let Some(conversation) = conversation else {
            return;
        };
        let handler = conversation.connect_notify_local(
            None,
            glib::clone!(
                #[weak(rename_to = row)]
                self,
                move |conversation, _| row.update(conversation)
            ),
        );
        self.update(&conversation);
        imp.conversation.replace(Some((conversation, handler)));
    }

    /// Times like "5 min" age: the list calls this once a minute.
    pub fn refresh_time(&self) {
        if let Some((conversation, _)) = self.imp().conversation.borrow().as_ref() {
            self.imp().time_label.set_text(&conversation.time_label());
        }
    }

    fn update(&self, conversation: &Conversation) {
        let imp = self.imp();
        let name = conversation.name();
        imp.title.set_text(&name);
        set_lazy_tooltip(&*imp.title, Some(&conversation.jid()));
        imp.avatar.set_text(name.as_str());
        imp.avatar.set_seed(conversation.jid().as_str());
        imp.lock_icon.set_visible(conversation.encrypted());
        let (icon, tooltip) = match conversation.kind().as_str() {
            "group" => (Some("system-users-symbolic"), gettext("Group chat")),
            "channel" => (Some("sotto-channel-symbolic"), gettext("Channel")),
            _ => (None, String::new()),
        };
        imp.kind_icon.set_visible(icon.is_some());
        imp.kind_icon.set_icon_name(icon);
        set_lazy_tooltip(&imp.kind_icon, Some(&tooltip));
        imp.time_label.set_text(&conversation.time_label());
        // While the contact types, that is the news, not their last message.
        let typing = conversation.typing();
        let preview = if typing {
            gettext("typing…")
        } else {
            conversation.preview()
        };
        imp.preview_label.set_text(&preview);
        imp.preview_label.set_visible(!preview.is_empty());
        if typing {
            imp.preview_label.add_css_class("typing");
        } else {
            imp.preview_label.remove_css_class("typing");
        }
        let unread = conversation.unread();
        imp.unread_badge.set_visible(unread > 0);
        imp.unread_badge.set_text(&if unread > 99 {
            "99+".to_owned()
        } else {
            unread.to_string()
        });
        set_lazy_tooltip(
            &*imp.unread_badge,
            Some(&ngettext_f(
                "{n} unread message",
                "{n} unread messages",
                unread,
                &[],
            )),
        );
        if unread > 0 {
            imp.preview_label.remove_css_class("dim-label");
        } else {
            imp.preview_label.add_css_class("dim-label");
        }
    }
}

impl Default for ConversationRow {
    fn default() -> Self {
        Self::new()
    }
}
