//! The chat: the history as a virtualised list that pages older messages
//! in as the user scrolls up, and the composer under it.

use std::cell::{Cell, RefCell};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use super::history_jump::{HIGHLIGHT_CLASS, HistoryJump};
use super::trust_banner::{self, TrustBanner};
use super::{Composer, EncryptionState, MessageRow};
use crate::i18n::{gettext, ngettext_f};
use crate::service::{ChatState, Command, DeviceInfo, ServiceError, Trust};
use crate::ui::application::Application;
use crate::ui::session::model::{
    Conversation, EncryptionChoice, MessageItem, MessageState, Timeline,
};
use crate::ui::settings;

/// How close to the top (in pixels) scrolling asks for the older page.
const LOAD_MARGIN: f64 = 600.0;
/// How close to the bottom still counts as "at the latest message".
const BOTTOM_MARGIN: f64 = 48.0;
/// Idle time after which "composing" becomes "paused" (XEP-0085 §5.2
/// suggests about this).
const PAUSED_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

mod imp {
    use std::sync::OnceLock;

    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/chat/chat_view.ui")]
    pub struct ChatView {
        #[template_child]
        pub header_bar: TemplateChild<adw::HeaderBar>,
        #[template_child]
        pub details_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub back_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub window_title: TemplateChild<adw::WindowTitle>,
        #[template_child]
        pub stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub scrolled: TemplateChild<gtk::ScrolledWindow>,
        #[template_child]
        pub list_view: TemplateChild<gtk::ListView>,
        #[template_child]
        pub loading_spinner: TemplateChild<gtk::Spinner>,
        #[template_child]
        pub empty_status: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub jump_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub jump_badge: TemplateChild<gtk::Label>,
        /// Unread messages when the chat was opened: where the "new
        /// messages" divider goes once the first page is in.
        pub unread_at_open: Cell<u32>,
        /// Just jumped to the latest message: for a moment every scroll
        /// is the list settling (pages replaced, rows measured), not the
        /// user leaving the bottom.
        pub pinning: Cell<bool>,
        /// The message carrying that divider, cleared when the chat closes.
        pub divider_item: RefCell<Option<MessageItem>>,
        #[template_child]
        pub composer: TemplateChild<Composer>,
        #[template_child]
        pub trust_banner: TemplateChild<TrustBanner>,
        /// Refetch the devices when the service learns something new.
        pub devices_changed:
            RefCell<Option<(crate::ui::session::model::Session, glib::SignalHandlerId)>>,
        pub conversation: RefCell<Option<Conversation>>,
        pub conversation_handlers: RefCell<Vec<glib::SignalHandlerId>>,
        pub timeline: RefCell<Option<Timeline>>,
        pub timeline_handlers: RefCell<Vec<glib::SignalHandlerId>>,
        /// The contact's devices, once fetched: the truth for the lock.
        pub devices: RefCell<Option<Vec<DeviceInfo>>>,
        /// Bumped per device fetch: only the latest answer is shown.
        pub devices_fetch: Cell<u64>,
        pub own_fingerprint: RefCell<Option<String>>,
        /// Follow new messages: the view is at the bottom.
        pub sticky: Cell<bool>,
        /// `(upper, page_size)` of the last scroll event: when they change,
        /// the content moved, not the user.
        pub extent: Cell<(f64, f64)>,
        pub stick_queued: Cell<bool>,
        pub settling: Cell<bool>,
        pub rows: RefCell<Vec<glib::WeakRef<MessageRow>>>,
        /// The chat state last sent to the contact of the open chat.
        pub chat_state: Cell<Option<ChatState>>,
        /// Turns "composing" into "paused" when typing stops.
        pub paused_timeout: RefCell<Option<glib::SourceId>>,
        /// Going to a search result.
        pub jump: HistoryJump,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ChatView {
        const NAME: &'static str = "SottoChatView";
        type Type = super::ChatView;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            Composer::ensure_type();
            TrustBanner::ensure_type();
            klass.bind_template();
            klass.install_action("chat.back", None, |view, _, _| {
                view.emit_by_name::<()>("back", &[]);
            });
            klass.install_action("chat.show-details", None, |view, _, _| {
                view.emit_by_name::<()>("show-details", &[]);
            });
            klass.install_action("chat.review-devices", None, |view, _, _| {
                view.emit_by_name::<()>("review-devices", &[]);
            });
            klass.install_action("chat.jump-to-bottom", None, |view, _, _| {
                view.scroll_to_bottom();
            });
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ChatView {
        fn signals() -> &'static [glib::subclass::Signal] {
            static SIGNALS: OnceLock<Vec<glib::subclass::Signal>> = OnceLock::new();
            SIGNALS.get_or_init(|| {
                vec![
                    glib::subclass::Signal::builder("back").build(),
                    glib::subclass::Signal::builder("show-details").build(),
                    // The trust banner's "Review": details at the devices.
                    glib::subclass::Signal::builder("review-devices").build(),
                ]
            })
        }

        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            self.sticky.set(true);
            obj.setup_list();
            obj.setup_composer();
            obj.action_set_enabled("chat.show-details", false);
            obj.action_set_enabled("chat.review-devices", false);
            obj.connect_map(|view| view.mark_read_if_visible());
            // A new device, a changed key or a decision made elsewhere
            // changes the lock and the banner of the open chat.
            if let Some(app) = Application::instance() {
                let session = app.session();
                let handler = session.connect_devices_changed(glib::clone!(
                    #[weak]
                    obj,
                    move |_, account, jid| {
                        if let Some(conversation) = obj.conversation()
                            && conversation.account() == account
                            && (conversation.jid() == jid || account == jid)
                        {
                            obj.fetch_devices(&conversation);
                        }
                    }
                ));
                self.devices_changed.replace(Some((session, handler)));
                // A room's state (and so its lock) comes with `Event::Room`.
                // The room list lives as long as the app: no disconnect.
                app.rooms().connect_room_changed(glib::clone!(
                    #[weak]
                    obj,
                    move |_, account, room| {
                        if let Some(conversation) = obj.conversation()
                            && conversation.account() == account
                            && conversation.jid() == room
                        {
                            obj.update_encryption();
                        }
                    }
                ));
            }
            obj.connect_root_notify(|view| {
                if let Some(window) = view.root().and_downcast::<gtk::Window>() {
                    window.connect_is_active_notify(glib::clone!(
                        #[weak]
                        view,
                        move |_| view.mark_read_if_visible()
                    ));
                }
            });
        }

        fn dispose(&self) {
            self.obj().set_conversation(None);
            if let Some((session, handler)) = self.devices_changed.take() {
                session.disconnect(handler);
            }
        }
    }

    impl WidgetImpl for ChatView {}
    impl BoxImpl for ChatView {}
}

glib::wrapper! {
    pub struct ChatView(ObjectSubclass<imp::ChatView>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

fn is_at_bottom(adjustment: &gtk::Adjustment) -> bool {
    adjustment.value() >= adjustment.upper() - adjustment.page_size() - BOTTOM_MARGIN
}

impl ChatView {
    pub fn header_bar(&self) -> adw::HeaderBar {
        self.imp().header_bar.get()
    }

    pub fn back_button(&self) -> gtk::Button {
        self.imp().back_button.get()
    }

    /// The banner asking for trust decisions about the open chat's devices.
    pub fn trust_banner(&self) -> TrustBanner {
        self.imp().trust_banner.get()
    }

    pub fn composer(&self) -> Composer {
        self.imp().composer.get()
    }

    pub fn conversation(&self) -> Option<Conversation> {
        self.imp().conversation.borrow().clone()
    }

    pub fn timeline(&self) -> Option<Timeline> {
        self.imp().timeline.borrow().clone()
    }

    /// The contact's devices as last fetched.
    pub fn devices(&self) -> Option<Vec<DeviceInfo>> {
        self.imp().devices.borrow().clone()
    }

    /// Whether the history is scrolled to the latest message.
    pub fn is_at_bottom(&self) -> bool {
        self.imp().sticky.get()
    }

    pub fn connect_back<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("back", false, move |args| {
            if let Ok(view) = args[0].get::<Self>() {
                f(&view);
            }
            None
        })
    }

    pub fn connect_review_devices<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("review-devices", false, move |args| {
            if let Ok(view) = args[0].get::<Self>() {
                f(&view);
            }
            None
        })
    }

    pub fn connect_show_details<F: Fn(&Self) + 'static>(&self, f: F) -> glib::SignalHandlerId {
        self.connect_local("show-details", false, move |args| {
            if let Ok(view) = args[0].get::<Self>() {
                f(&view);
            }
            None
        })
    }

    /// Open `conversation` (or nothing). The previous one forgets its
    /// loaded messages.
    pub fn set_conversation(&self, conversation: Option<Conversation>) {
        let imp = self.imp();
        if *imp.conversation.borrow() == conversation {
            return;
        }
        if let Some(old) = imp.conversation.take() {
            // Leaving while typing: the contact should not see us typing on.
            self.send_chat_state_to(&old, ChatState::Active, false);
            for handler in imp.conversation_handlers.take() {
                old.disconnect(handler);
            }
            old.release_timeline();
        }
        imp.chat_state.set(None);
        imp.jump.cancel();
        if let Some(timeline) = imp.timeline.take() {
            for handler in imp.timeline_handlers.take() {
                timeline.disconnect(handler);
            }
        }
        imp.devices.replace(None);
        imp.trust_banner.show(None);
        imp.composer.set_error(None);
        imp.composer.cancel_edit();
        imp.composer.set_text("");
        self.action_set_enabled("chat.show-details", conversation.is_some());
        self.action_set_enabled("chat.review-devices", conversation.is_some());
        let Some(conversation) = conversation else {
            imp.list_view.set_model(None::<&gtk::SelectionModel>);
            imp.window_title.set_title("");
            imp.window_title.set_subtitle("");
            imp.stack.set_visible_child_name("empty");
            return;
        };
        imp.window_title.set_title(&conversation.name());
        let handlers = vec![
            conversation.connect_notify_local(
                Some("typing"),
                glib::clone!(
                    #[weak(rename_to = view)]
                    self,
                    move |conversation, _| view.update_subtitle(conversation)
                ),
            ),
            conversation.connect_notify_local(
                Some("kind"),
                glib::clone!(
                    #[weak(rename_to = view)]
                    self,
                    move |_, _| view.update_encryption()
                ),
            ),
            conversation.connect_notify_local(
                Some("encryption"),
                glib::clone!(
                    #[weak(rename_to = view)]
                    self,
                    move |_, _| view.update_encryption()
                ),
            ),
            conversation.connect_notify_local(
                Some("unread"),
                glib::clone!(
                    #[weak(rename_to = view)]
                    self,
                    move |_, _| {
                        view.update_jump_badge();
                        view.mark_read_if_visible();
                    }
                ),
            ),
            conversation.connect_notify_local(
                Some("name"),
                glib::clone!(
                    #[weak(rename_to = view)]
                    self,
                    move |conversation, _| view.imp().window_title.set_title(&conversation.name())
                ),
            ),
        ];
        imp.conversation_handlers.replace(handlers);
        self.update_subtitle(&conversation);
        imp.conversation.replace(Some(conversation.clone()));
        if let Some(item) = imp.divider_item.take() {
            item.set_new_divider("");
        }
        imp.unread_at_open.set(conversation.unread());
        self.update_jump_badge();
        self.set_timeline(conversation.timeline());
        imp.stack.set_visible_child_name("chat");
        self.update_encryption();
        self.fetch_devices(&conversation);
        self.mark_read_if_visible();
        imp.composer.grab_focus();
    }

    fn set_timeline(&self, timeline: Timeline) {
        let imp = self.imp();
        imp.sticky.set(true);
        imp.jump_revealer.set_reveal_child(false);
        let selection = gtk::NoSelection::new(Some(timeline.items()));
        imp.list_view.set_model(Some(&selection));
        let handlers = vec![
            timeline.connect_message_added(glib::clone!(
                #[weak(rename_to = view)]
                self,
                move |_, item| view.on_message_added(item)
            )),
            timeline.connect_notify_local(
                None,
                glib::clone!(
                    #[weak(rename_to = view)]
                    self,
                    move |timeline, _| {
                        view.update_loading(timeline);
                        view.place_new_divider();
                    }
                ),
            ),
            timeline.connect_error(glib::clone!(
                #[weak(rename_to = view)]
                self,
                move |_, message| view.toast(message)
            )),
            timeline.connect_loaded_notify(glib::clone!(
                #[weak(rename_to = view)]
                self,
                move |_| {
                    view.place_new_divider();
                    view.reveal_jump_target();
                }
            )),
        ];
        imp.timeline_handlers.replace(handlers);
        imp.timeline.replace(Some(timeline.clone()));
        self.update_loading(&timeline);
        timeline.load_latest();
        // A timeline kept from before is loaded already.
        self.place_new_divider();
    }

    fn setup_list(&self) {
        let imp = self.imp();
        let factory = gtk::SignalListItemFactory::new();
        factory.connect_setup(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_, item| {
                let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
                    return;
                };
                let row = MessageRow::new();
                view.imp().rows.borrow_mut().push(row.downgrade());
                item.set_child(Some(&row));
                item.set_activatable(false);
                item.set_selectable(false);
            }
        ));
        factory.connect_bind(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_, item| {
                let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
                    return;
                };
                if let Some(row) = item.child().and_downcast::<MessageRow>() {
                    let fingerprint = view.imp().own_fingerprint.borrow().clone();
                    let message = item.item().and_downcast::<MessageItem>();
                    if message
                        .as_ref()
                        .is_some_and(|m| view.imp().jump.is_highlighted(m.id()))
                    {
                        row.add_css_class(HIGHLIGHT_CLASS);
                    } else {
                        row.remove_css_class(HIGHLIGHT_CLASS);
                    }
                    row.set_item(message, fingerprint);
                }
            }
        ));
        factory.connect_unbind(|_, item| {
            let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
                return;
            };
            if let Some(row) = item.child().and_downcast::<MessageRow>() {
                row.set_item(None, None);
            }
        });
        imp.list_view.set_factory(Some(&factory));

        let adjustment = imp.scrolled.vadjustment();
        adjustment.connect_value_changed(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |adjustment| view.on_scrolled(adjustment)
        ));
        // Rows measured, added, or the window resized. (Rows paged in or
        // dropped above keep what is on screen in place by themselves:
        // the list view anchors to the row on screen. Tested in
        // ui_timeline_window.)
        adjustment.connect_changed(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |adjustment| view.on_content_resized(adjustment)
        ));
    }

    fn setup_composer(&self) {
        let composer = &self.imp().composer;
        composer.connect_send(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_, text| view.send(text.to_owned())
        ));
        composer.connect_correct(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_, id, text| view.correct(id, text.to_owned())
        ));
        composer.connect_edit_last(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |composer| {
                if let Some(item) = view.last_editable() {
                    let body = item.with_message(|m| m.body.clone()).flatten();
                    composer.start_edit(item.id(), body.as_deref().unwrap_or_default());
                }
            }
        ));
        composer.connect_typing(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_, has_text| view.on_typing(has_text)
        ));
        composer.connect_toggle_encryption(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |_| view.toggle_encryption()
        ));
        composer.connect_show_devices(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move |view_composer| {
                view_composer.set_error(None);
                view.emit_by_name::<()>("show-details", &[]);
            }
        ));
    }

    fn on_scrolled(&self, adjustment: &gtk::Adjustment) {
        let imp = self.imp();
        let extent = (adjustment.upper(), adjustment.page_size());
        if imp.extent.replace(extent) != extent || imp.settling.get() || imp.pinning.get() {
            // The content changed under the view (the list re-anchors as it
            // measures rows): not the user scrolling.
            self.on_content_resized(adjustment);
            return;
        }
        let at_bottom = self.is_at_latest(adjustment);
        imp.sticky.set(at_bottom);
        self.update_jump_button(at_bottom);
        if adjustment.value() < LOAD_MARGIN
            && let Some(timeline) = self.timeline()
        {
            timeline.load_older();
        }
        // After a jump into the past: page toward the present.
        if adjustment.value() > adjustment.upper() - adjustment.page_size() - LOAD_MARGIN
            && let Some(timeline) = self.timeline()
        {
            timeline.load_newer();
        }
        if at_bottom {
            self.mark_read_if_visible();
        }
    }

    fn on_content_resized(&self, adjustment: &gtk::Adjustment) {
        let imp = self.imp();
        imp.extent.set((adjustment.upper(), adjustment.page_size()));
        // Scroll events of this main-loop turn belong to the layout.
        if !imp.settling.replace(true) {
            glib::idle_add_local_once(glib::clone!(
                #[weak(rename_to = view)]
                self,
                move || view.imp().settling.set(false)
            ));
        }
        let at_bottom = self.is_at_latest(adjustment);
        if imp.sticky.get() && !at_bottom {
            self.queue_stick_to_bottom();
        }
        self.update_jump_button(at_bottom || imp.sticky.get());
    }

    /// Bring the last row into view once the list has laid out. The list
    /// view only estimates the height of rows it has not measured, so
    /// scroll by item, not by pixels (`list.scroll-to-item`; GTK 4.8 has no
    /// `ListView::scroll_to`).
    fn queue_stick_to_bottom(&self) {
        let imp = self.imp();
        if imp.stick_queued.replace(true) {
            return;
        }
        glib::idle_add_local_once(glib::clone!(
            #[weak(rename_to = view)]
            self,
            move || {
                let imp = view.imp();
                imp.stick_queued.set(false);
                let n = imp
                    .list_view
                    .model()
                    .map(|m| m.n_items())
                    .unwrap_or_default();
                if n > 0 && imp.sticky.get() {
                    let _ = imp
                        .list_view
                        .activate_action("list.scroll-to-item", Some(&(n - 1).to_variant()));
                    let adjustment = imp.scrolled.vadjustment();
                    adjustment.set_value(adjustment.upper() - adjustment.page_size());
                }
            }
        ));
    }

    /// Unread messages on the jump button: what waits below.
    fn update_jump_badge(&self) {
        let unread = self.conversation().map_or(0, |c| c.unread());
        let badge = &self.imp().jump_badge;
        badge.set_visible(unread > 0);
        badge.set_text(&if unread > 99 {
            "99+".to_owned()
        } else {
            unread.to_string()
        });
    }

    /// "N new messages" above the first message that was unread when the
    /// chat opened (once the page holding it is loaded).
    fn place_new_divider(&self) {
        let imp = self.imp();
        let unread = imp.unread_at_open.get();
        let Some(timeline) = self.timeline() else {
            return;
        };
        let items = timeline.items();
        let n = items.n_items();
        if unread == 0 || n == 0 || !timeline.loaded() {
            return;
        }
        // Counted from the latest message: the loaded window may end before
        // it (paged far up, rows dropped at the bottom) or somewhere unknown
        // (around a search result, until the latest page loads).
        let Some(after) = timeline.messages_after() else {
            return;
        };
        let total = n + after;
        // The first unread message is on an older page: wait for it.
        if unread > total && !timeline.complete() {
            return;
        }
        let first = total.saturating_sub(unread);
        if first >= n {
            return;
        }
        imp.unread_at_open.set(0);
        if let Some(item) = items.item(first).and_downcast::<MessageItem>() {
            item.set_new_divider(&ngettext_f(
                "{n} new message",
                "{n} new messages",
                unread,
                &[],
            ));
            imp.divider_item.replace(Some(item));
        }
    }

    fn update_jump_button(&self, at_bottom: bool) {
        let revealer = &self.imp().jump_revealer;
        if revealer.reveals_child() == at_bottom {
            revealer.set_reveal_child(!at_bottom);
            revealer.set_can_target(!at_bottom);
        }
    }

    pub fn scroll_to_bottom(&self) {
        let imp = self.imp();
        imp.jump.cancel();
        // After a jump the latest page may not be loaded: load it afresh.
        if let Some(timeline) = self.timeline() {
            timeline.load_latest_again();
        }
        imp.sticky.set(true);
        imp.pinning.set(true);
        glib::timeout_add_local_once(
            std::time::Duration::from_millis(1200),
            glib::clone!(
                #[weak(rename_to = view)]
                self,
                move || view.imp().pinning.set(false)
            ),
        );
        self.update_jump_button(true);
        self.queue_stick_to_bottom();
    }

    /// Show message `id` of the open conversation (a search result): load
    /// the history around it, scroll to it and highlight it.
    pub fn show_message(&self, id: i64) {
        let imp = self.imp();
        let Some(timeline) = self.timeline() else {
            return;
        };
        imp.sticky.set(false);
        self.update_jump_button(false);
        imp.jump.start(id, &timeline);
        self.reveal_jump_target();
    }

    /// Whether a search result waits to be scrolled to.
    pub fn is_jumping(&self) -> bool {
        self.imp().jump.is_pending()
    }

    fn reveal_jump_target(&self) {
        let imp = self.imp();
        if let Some(timeline) = self.timeline() {
            imp.jump.reveal(&imp.list_view, &imp.scrolled, &timeline);
        }
    }

    /// At the bottom, and the bottom is the latest message (not the end of
    /// a page opened around a search result).
    fn is_at_latest(&self, adjustment: &gtk::Adjustment) -> bool {
        is_at_bottom(adjustment) && self.timeline().is_none_or(|t| t.latest())
    }

    fn update_loading(&self, timeline: &Timeline) {
        let imp = self.imp();
        imp.loading_spinner.set_visible(timeline.loading());
        imp.empty_status
            .set_visible(timeline.loaded() && timeline.items().n_items() == 0);
    }

    fn on_message_added(&self, item: &MessageItem) {
        let imp = self.imp();
        if let Some(timeline) = self.timeline() {
            self.update_loading(&timeline);
        }
        // Own messages always bring the view down; others only if it was.
        if item.is_outgoing() {
            self.scroll_to_bottom();
        } else if imp.sticky.get() {
            self.mark_read_if_visible();
        }
    }

    /// Tell the service the user has seen the chat, when they can.
    fn mark_read_if_visible(&self) {
        let Some(conversation) = self.conversation() else {
            return;
        };
        if conversation.unread() == 0 || !self.is_mapped() || !self.is_at_bottom() {
            return;
        }
        let active = self
            .root()
            .and_downcast::<gtk::Window>()
            .is_some_and(|w| w.is_active());
        if !active {
            return;
        }
        let Some(service) = Application::instance().and_then(|a| a.service()) else {
            return;
        };
        conversation.clear_unread();
        if let Some(app) = Application::instance() {
            app.withdraw_chat_notification(&conversation.account(), &conversation.jid());
        }
        let _ = service.send(Command::MarkRead {
            account: conversation.account(),
            jid: conversation.jid(),
        });
    }

    /// The address, or that the contact is typing.
    fn update_subtitle(&self, conversation: &Conversation) {
        let subtitle = if conversation.typing() {
            gettext("typing…")
        } else {
            conversation.jid()
        };
        self.imp().window_title.set_subtitle(&subtitle);
    }

    /// The newest own message that can still be corrected: sent (not
    /// failed), with text.
    pub fn last_editable(&self) -> Option<MessageItem> {
        let items = self.timeline()?.items();
        (0..items.n_items()).rev().find_map(|i| {
            let item = items.item(i).and_downcast::<MessageItem>()?;
            let editable = item.is_outgoing()
                && item.state() != MessageState::Failed
                && item.with_message(|m| m.body.is_some()) == Some(true);
            editable.then_some(item)
        })
    }

    /// Typing notifications (XEP-0085), unless the user turned them off.
    fn on_typing(&self, has_text: bool) {
        let imp = self.imp();
        if let Some(source) = imp.paused_timeout.take() {
            source.remove();
        }
        if !has_text {
            self.send_chat_state(ChatState::Active);
            return;
        }
        self.send_chat_state(ChatState::Composing);
        let source = glib::timeout_add_local_once(
            PAUSED_AFTER,
            glib::clone!(
                #[weak(rename_to = view)]
                self,
                move || {
                    view.imp().paused_timeout.take();
                    view.send_chat_state(ChatState::Paused);
                }
            ),
        );
        imp.paused_timeout.replace(Some(source));
    }

    fn send_chat_state(&self, state: ChatState) {
        if let Some(conversation) = self.conversation() {
            self.send_chat_state_to(&conversation, state, true);
        }
    }

    /// Send `state` when it says something new. `Active` is only worth
    /// sending after "composing" or "paused"; `start` allows a first state.
    fn send_chat_state_to(&self, conversation: &Conversation, state: ChatState, start: bool) {
        let imp = self.imp();
        if let Some(source) = imp.paused_timeout.take()
            && state != ChatState::Composing
        {
            source.remove();
        }
        let last = imp.chat_state.get();
        let typing = matches!(last, Some(ChatState::Composing | ChatState::Paused));
        let wanted = match state {
            ChatState::Composing | ChatState::Paused => start && last != Some(state),
            _ => typing,
        };
        if !wanted || !settings::send_typing_notifications() {
            return;
        }
        let Some(service) = Application::instance().and_then(|a| a.service()) else {
            return;
        };
        imp.chat_state.set(Some(state));
        let _ = service.send(Command::SetChatState {
            account: conversation.account(),
            jid: conversation.jid(),
            state,
        });
    }

    /// Send the edited text of message `id` as a correction (XEP-0308).
    fn correct(&self, id: i64, body: String) {
        let (Some(conversation), Some(service)) = (
            self.conversation(),
            Application::instance().and_then(|a| a.service()),
        ) else {
            return;
        };
        self.send_chat_state(ChatState::Active);
        self.imp().composer.set_error(None);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = view)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::CorrectMessage {
                        account: conversation.account(),
                        id,
                        body,
                        reply,
                    })
                    .await;
                match result {
                    Ok(message) => {
                        if let Some(timeline) = conversation.loaded_timeline() {
                            timeline.apply(&message);
                        }
                    }
                    Err(error) if view.conversation().as_ref() == Some(&conversation) => {
                        view.imp().composer.set_error(Some(&error.user_message()));
                    }
                    Err(error) => view.toast(&error.user_message()),
                }
            }
        ));
    }

    fn send(&self, body: String) {
        let (Some(conversation), Some(service)) = (
            self.conversation(),
            Application::instance().and_then(|a| a.service()),
        ) else {
            return;
        };
        self.send_chat_state(ChatState::Active);
        self.imp().composer.set_error(None);
        self.scroll_to_bottom();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = view)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::SendMessage {
                        account: conversation.account(),
                        to: conversation.jid(),
                        body: body.clone(),
                        reply,
                    })
                    .await;
                let still_open = view.conversation().as_ref() == Some(&conversation);
                match result {
                    Ok(message) => {
                        if let Some(timeline) = conversation.loaded_timeline() {
                            timeline.apply(&message);
                        }
                    }
                    // The failed message is in the history with its reason;
                    // the banner says what to do.
                    Err(error @ ServiceError::CannotEncrypt(_)) if still_open => {
                        let composer = &view.imp().composer;
                        composer.set_error(Some(&error.user_message()));
                        // The service just found nobody to encrypt for: the
                        // lock says so now, the device list (slower, it asks
                        // the server) refines it.
                        if composer.encryption() == EncryptionState::Encrypted {
                            composer
                                .set_encryption(EncryptionState::Untrusted, &conversation.name());
                        }
                        view.fetch_devices(&conversation);
                    }
                    Err(error) if still_open => {
                        let composer = &view.imp().composer;
                        if composer.text().is_empty() {
                            composer.set_text(&body);
                        }
                        composer.set_error(Some(&error.user_message()));
                    }
                    Err(error) => view.toast(&error.user_message()),
                }
            }
        ));
    }

    fn toggle_encryption(&self) {
        let (Some(conversation), Some(service)) = (
            self.conversation(),
            Application::instance().and_then(|a| a.service()),
        ) else {
            return;
        };
        let on = matches!(
            self.imp().composer.encryption(),
            EncryptionState::Unencrypted
        );
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = view)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::SetEncryption {
                        account: conversation.account(),
                        jid: conversation.jid(),
                        encryption: Some(on),
                        reply,
                    })
                    .await;
                match result {
                    Ok(()) => conversation.set_encryption_choice(if on {
                        EncryptionChoice::On
                    } else {
                        EncryptionChoice::Off
                    }),
                    Err(error) => view.toast(&error.user_message()),
                }
            }
        ));
    }

    /// The contact's devices (for the lock) and this device's fingerprint
    /// (for the hint under undecryptable messages).
    fn fetch_devices(&self, conversation: &Conversation) {
        let Some(service) = Application::instance().and_then(|a| a.service()) else {
            return;
        };
        // A room has no devices of its own; its members' are in its details.
        if conversation.is_room() {
            return;
        }
        let conversation = conversation.clone();
        let fetch = self.imp().devices_fetch.get() + 1;
        self.imp().devices_fetch.set(fetch);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = view)]
            self,
            async move {
                let (account, jid) = (conversation.account(), conversation.jid());
                let devices = service
                    .request(|reply| Command::Devices {
                        account: account.clone(),
                        jid: jid.clone(),
                        reply,
                    })
                    .await;
                let own = service
                    .request(|reply| Command::Devices {
                        account: account.clone(),
                        jid: account.clone(),
                        reply,
                    })
                    .await;
                if view.conversation().as_ref() != Some(&conversation)
                    || view.imp().devices_fetch.get() != fetch
                {
                    return;
                }
                let imp = view.imp();
                let own = own.unwrap_or_default();
                if let Ok(devices) = devices {
                    imp.trust_banner
                        .show(trust_banner::notice(&conversation.name(), &devices, &own).as_ref());
                    imp.devices.replace(Some(devices));
                    view.update_encryption();
                }
                let fingerprint = own.into_iter().find(|d| d.own).and_then(|d| d.fingerprint);
                if fingerprint.is_some() && *imp.own_fingerprint.borrow() != fingerprint {
                    imp.own_fingerprint.replace(fingerprint.clone());
                    imp.rows.borrow_mut().retain(|row| match row.upgrade() {
                        Some(row) => {
                            let item = row.item();
                            row.set_item(item, fingerprint.clone());
                            true
                        }
                        None => false,
                    });
                }
            }
        ));
    }

    fn update_encryption(&self) {
        let imp = self.imp();
        let Some(conversation) = self.conversation() else {
            return;
        };
        self.update_details_button(&conversation);
        if conversation.is_room() {
            self.update_room_encryption(&conversation);
            return;
        }
        let devices = imp.devices.borrow();
        let (has_devices, trusted) = match devices.as_ref() {
            Some(d) => {
                let (supports, trusted) = encryptable(d);
                (Some(supports), trusted)
            }
            None => (None, true),
        };
        drop(devices);
        let state = match (conversation.encryption(), has_devices) {
            (EncryptionChoice::Off, _) => EncryptionState::Unencrypted,
            (EncryptionChoice::On, Some(false)) => EncryptionState::Impossible,
            (_, Some(true)) if !trusted => EncryptionState::Untrusted,
            (EncryptionChoice::On, _) => EncryptionState::Encrypted,
            (EncryptionChoice::Default, Some(true)) => EncryptionState::Encrypted,
            (EncryptionChoice::Default, Some(false)) => EncryptionState::Unavailable,
            // Not fetched yet: what the last messages were.
            (EncryptionChoice::Default, None) if conversation.encrypted() => {
                EncryptionState::Encrypted
            }
            (EncryptionChoice::Default, None) => EncryptionState::Unavailable,
        };
        imp.composer.set_encryption(state, &conversation.name());
    }

    /// The header's details button says what it opens.
    fn update_details_button(&self, conversation: &Conversation) {
        let button = &self.imp().details_button;
        let (icon, tooltip) = if conversation.is_room() {
            (
                "system-users-symbolic",
                gettext("Participants and Encryption"),
            )
        } else {
            (
                "user-info-symbolic",
                gettext("Contact Details and Encryption"),
            )
        };
        button.set_icon_name(icon);
        button.set_tooltip_text(Some(&tooltip));
    }

    /// A room's lock: a channel has none; a group chat's is as in a chat,
    /// with the room's reason where it cannot be encrypted.
    fn update_room_encryption(&self, conversation: &Conversation) {
        let composer = &self.imp().composer;
        let info = Application::instance().and_then(|app| {
            app.rooms()
                .room(&conversation.account(), &conversation.jid())
        });
        if conversation.kind() == "channel" {
            composer.set_channel(info.as_ref().and_then(|i| i.encryption_reason.as_deref()));
            return;
        }
        let possible = info.as_ref().is_none_or(|i| i.encryption_possible);
        let state = match conversation.encryption() {
            EncryptionChoice::Off => EncryptionState::Unencrypted,
            _ if possible => EncryptionState::Encrypted,
            _ => EncryptionState::Unavailable,
        };
        composer.set_encryption(state, &conversation.name());
        if !possible
            && let Some(reason) = info.as_ref().and_then(|i| i.encryption_reason.as_deref())
        {
            composer.set_lock_reason(reason);
        }
    }

    fn toast(&self, message: &str) {
        if let Some(window) = self.root().and_downcast::<crate::ui::Window>() {
            window.add_toast(message);
        } else {
            tracing::warn!("chat: {message}");
        }
    }
}

/// Whether the contact has an active OMEMO device at all, and whether one
/// of them would get the key: verified or blindly trusted, or not yet
/// looked at while blind trust still applies to the contact (no device
/// verified yet; the service decides when it first sees the key).
fn encryptable(devices: &[DeviceInfo]) -> (bool, bool) {
    let any_verified = devices.iter().any(|d| d.trust == Trust::Verified);
    let active: Vec<&DeviceInfo> = devices.iter().filter(|d| d.active && !d.own).collect();
    let trusted = active.iter().any(|d| match d.trust {
        Trust::Verified | Trust::Blind => true,
        Trust::Undecided => d.fingerprint.is_none() && !any_verified,
        Trust::Distrusted => false,
    });
    (!active.is_empty(), trusted)
}
