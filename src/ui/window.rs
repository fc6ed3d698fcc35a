//! The main window: a stack of loading, start error, first-run setup and
//! the session (roster + details).

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use crate::config;
use crate::i18n::{gettext, gettext_f, ngettext_f};
use crate::service::StartError;
use crate::ui::application::Application;
use crate::ui::login::AccountSetup;
use crate::ui::session::view::{
    AddContactDialog, CreateGroupDialog, JoinChannelDialog, NewChatDialog, SessionView,
};
use crate::ui::settings;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/window.ui")]
    pub struct Window {
        #[template_child]
        pub toast_overlay: TemplateChild<adw::ToastOverlay>,
        #[template_child]
        pub main_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub error_page: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub account_setup: TemplateChild<AccountSetup>,
        #[template_child]
        pub session_view: TemplateChild<SessionView>,
        pub settings: Option<gio::Settings>,
        pub backup_reminder: std::cell::RefCell<Option<adw::Toast>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Window {
        const NAME: &'static str = "SottoWindow";
        type Type = super::Window;
        type ParentType = adw::ApplicationWindow;

        fn new() -> Self {
            Self {
                settings: settings::settings(),
                ..Default::default()
            }
        }

        fn class_init(klass: &mut Self::Class) {
            AccountSetup::ensure_type();
            SessionView::ensure_type();
            klass.bind_template();
            klass.install_action("win.add-contact", None, |window, _, _| {
                window.show_add_contact();
            });
            klass.install_action("win.new-chat", None, |window, _, _| {
                window.show_new_chat();
            });
            klass.install_action("win.new-group", None, |window, _, _| {
                window.show_new_group();
            });
            klass.install_action("win.join-channel", None, |window, _, _| {
                window.show_join_channel();
            });
            klass.install_action("win.previous-chat", None, |window, _, _| {
                window.session_view().sidebar().select_adjacent(-1);
            });
            klass.install_action("win.next-chat", None, |window, _, _| {
                window.session_view().sidebar().select_adjacent(1);
            });
            klass.install_action("win.search", None, |window, _, _| {
                window.imp().session_view.toggle_search();
            });
            klass.install_action("win.show-qr", None, |window, _, _| {
                window.show_qr();
            });
            klass.install_action("win.scan-qr", None, |window, _, _| {
                window.scan_qr();
            });
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for Window {
        fn constructed(&self) {
            self.parent_constructed();
            let window = self.obj();
            if config::PROFILE == "Devel" {
                window.add_css_class("devel");
            }
            window.load_window_size();
            window.action_set_enabled("win.add-contact", false);
            window.action_set_enabled("win.new-chat", false);
            window.action_set_enabled("win.new-group", false);
            window.action_set_enabled("win.join-channel", false);
            window.action_set_enabled("win.search", false);
            window.action_set_enabled("win.show-qr", false);
            window.action_set_enabled("win.scan-qr", false);
        }
    }

    impl WidgetImpl for Window {}

    impl WindowImpl for Window {
        fn close_request(&self) -> glib::Propagation {
            self.obj().save_window_size();
            self.parent_close_request()
        }
    }

    impl ApplicationWindowImpl for Window {}
    impl AdwApplicationWindowImpl for Window {}
}

glib::wrapper! {
    pub struct Window(ObjectSubclass<imp::Window>)
        @extends adw::ApplicationWindow, gtk::ApplicationWindow, gtk::Window, gtk::Widget,
        @implements gio::ActionGroup, gio::ActionMap, gtk::Buildable,
                    gtk::ConstraintTarget, gtk::Native, gtk::Root, gtk::ShortcutManager;
}

impl Window {
    pub fn new(app: &Application) -> Self {
        let window: Self = glib::Object::builder().property("application", app).build();
        window.imp().session_view.set_session(&app.session());
        let session = app.session();
        // Remembered once the schema has the key (see settings.rs).
        if let Some(settings) = &window.imp().settings
            && settings
                .settings_schema()
                .is_some_and(|s| s.has_key(settings::ENCRYPTED_PREVIEWS))
        {
            settings
                .bind(
                    settings::ENCRYPTED_PREVIEWS,
                    &session,
                    "show-encrypted-previews",
                )
                .build();
        }
        session.accounts().connect_items_changed(glib::clone!(
            #[weak]
            window,
            move |_, _, _, _| window.update_page()
        ));
        session.connect_error(glib::clone!(
            #[weak]
            window,
            move |_, message| window.add_toast(message)
        ));
        // Kicked, banned, removed or the room is gone: say so, with why.
        app.rooms().connect_room_left(glib::clone!(
            #[weak]
            window,
            move |_, account, room, reason| {
                let name = window
                    .application_session()
                    .and_then(|s| s.find_conversation(account, room))
                    .map_or_else(|| room.to_owned(), |c| c.name());
                window.add_toast(&gettext_f(
                    "You are no longer in {room}: {reason}",
                    &[("room", &name), ("reason", reason)],
                ));
            }
        ));
        window
    }

    pub fn show_loading(&self) {
        self.imp().main_stack.set_visible_child_name("loading");
    }

    /// After the service has started and the snapshot is loaded.
    pub fn show_session(&self) {
        self.imp().session_view.set_loaded(true);
        self.update_page();
    }

    pub fn show_start_error(&self, error: &StartError) {
        let imp = self.imp();
        let (title, description) = match error {
            StartError::ProfileInUse(path) => (
                gettext("Sotto Is Already Running"),
                gettext_f(
                    "Another Sotto uses the profile in {path}. Close it first, or start this one with another profile using --data-dir.",
                    &[("path", &path.display().to_string())],
                ),
            ),
            StartError::DataDir { path, source } => (
                gettext("Cannot Open the Profile"),
                gettext_f(
                    "Sotto cannot use the folder {path}: {reason}",
                    &[
                        ("path", &path.display().to_string()),
                        ("reason", &source.to_string()),
                    ],
                ),
            ),
            StartError::Store(detail) => (
                gettext("Cannot Open the Message Store"),
                gettext_f(
                    "The local database could not be opened: {detail}",
                    &[("detail", detail)],
                ),
            ),
            StartError::Secrets(detail) => (
                gettext("Keyring Not Available"),
                gettext_f(
                    "Sotto keeps passwords and the database key in the keyring (Secret Service), which is not available: {detail}",
                    &[("detail", detail)],
                ),
            ),
        };
        imp.error_page.set_title(&title);
        imp.error_page
            .set_description(Some(&glib::markup_escape_text(&description)));
        imp.main_stack.set_visible_child_name("error");
    }

    pub fn show_fatal_error(&self, message: &str) {
        let imp = self.imp();
        imp.error_page.set_title(&gettext("Something Went Wrong"));
        imp.error_page
            .set_description(Some(&glib::markup_escape_text(message)));
        imp.main_stack.set_visible_child_name("error");
    }

    pub fn add_toast(&self, message: &str) {
        self.imp()
            .toast_overlay
            .add_toast(adw::Toast::new(&glib::markup_escape_text(message)));
    }

    /// The reminder that no backup was made for a long time (the Backup
    /// page's setting); it stays until dismissed or a backup is made.
    pub fn show_backup_reminder(&self, last_export_at: Option<i64>) {
        let title = match last_export_at {
            Some(at) => {
                let days = (crate::store::now_ms() - at).max(0) / 86_400_000;
                ngettext_f(
                    "No backup of your history for {n} day",
                    "No backup of your history for {n} days",
                    u32::try_from(days).unwrap_or(u32::MAX),
                    &[],
                )
            }
            None => gettext("Your history has never been backed up"),
        };
        let toast = adw::Toast::builder()
            .title(glib::markup_escape_text(&title))
            .button_label(gettext("_Back Up…"))
            .action_name("app.backup")
            .priority(adw::ToastPriority::High)
            .timeout(0)
            .build();
        toast.connect_dismissed(glib::clone!(
            #[weak(rename_to = window)]
            self,
            move |toast| {
                let mut current = window.imp().backup_reminder.borrow_mut();
                if current.as_ref() == Some(toast) {
                    current.take();
                }
            }
        ));
        self.dismiss_backup_reminder();
        self.imp().backup_reminder.replace(Some(toast.clone()));
        self.imp().toast_overlay.add_toast(toast);
    }

    pub fn dismiss_backup_reminder(&self) {
        let toast = self.imp().backup_reminder.take();
        if let Some(toast) = toast {
            toast.dismiss();
        }
    }

    pub fn has_backup_reminder(&self) -> bool {
        self.imp().backup_reminder.borrow().is_some()
    }

    pub fn account_setup(&self) -> AccountSetup {
        self.imp().account_setup.get()
    }

    pub fn session_view(&self) -> SessionView {
        self.imp().session_view.get()
    }

    fn application_session(&self) -> Option<crate::ui::session::model::Session> {
        self.application()
            .and_downcast::<Application>()
            .map(|a| a.session())
    }

    fn update_page(&self) {
        let imp = self.imp();
        if !imp.session_view.is_loaded() {
            return;
        }
        let has_accounts = self.application_session().is_some_and(|s| s.has_accounts());
        let page = if has_accounts { "session" } else { "setup" };
        if imp.main_stack.visible_child_name().as_deref() != Some(page) {
            if has_accounts {
                imp.account_setup.reset();
            }
            imp.main_stack.set_visible_child_name(page);
        }
        self.action_set_enabled("win.add-contact", has_accounts);
        self.action_set_enabled("win.new-chat", has_accounts);
        self.action_set_enabled("win.new-group", has_accounts);
        self.action_set_enabled("win.join-channel", has_accounts);
        self.action_set_enabled("win.search", has_accounts);
        self.action_set_enabled("win.show-qr", has_accounts);
        self.action_set_enabled("win.scan-qr", has_accounts);
    }

    /// "Show My QR Code" for the account (Sotto has one per window).
    pub fn show_qr(&self) -> Option<crate::ui::qr::QrShowDialog> {
        let account = self.application_session()?.first_account()?;
        let dialog = crate::ui::qr::QrShowDialog::new(self, &account.jid());
        dialog.present();
        Some(dialog)
    }

    /// "Scan QR Code…" to verify a contact's devices.
    pub fn scan_qr(&self) -> Option<crate::ui::qr::QrScanDialog> {
        let account = self.application_session()?.first_account()?;
        let dialog = crate::ui::qr::QrScanDialog::new(self, &account.jid());
        dialog.present();
        Some(dialog)
    }

    fn show_new_chat(&self) {
        let Some(session) = self.application_session() else {
            return;
        };
        if let Some(account) = session.first_account() {
            NewChatDialog::new(self, &account.jid()).present();
        }
    }

    /// "New Group Chat…".
    pub fn show_new_group(&self) -> Option<CreateGroupDialog> {
        let account = self.application_session()?.first_account()?;
        let dialog = CreateGroupDialog::new(self, &account.jid());
        dialog.present();
        Some(dialog)
    }

    /// "Join Channel…".
    pub fn show_join_channel(&self) -> Option<JoinChannelDialog> {
        let account = self.application_session()?.first_account()?;
        let dialog = JoinChannelDialog::new(self, &account.jid());
        dialog.present();
        Some(dialog)
    }

    fn show_add_contact(&self) {
        let Some(session) = self.application_session() else {
            return;
        };
        if let Some(account) = session.first_account() {
            AddContactDialog::new(self, &account.jid()).present();
        }
    }

    /// Someone opened an `xmpp:` link: show the contact if we have them,
    /// else offer to add them.
    pub fn offer_contact(&self, jid: &str) {
        let Some(session) = self.application_session() else {
            return;
        };
        let Some(account) = session.first_account() else {
            return;
        };
        let sidebar = self.imp().session_view.sidebar();
        let position = sidebar.roster().and_then(|roster| {
            (0..roster.n_items()).find(|&i| {
                roster
                    .item(i)
                    .and_downcast::<crate::ui::session::model::ContactItem>()
                    .is_some_and(|c| c.jid() == jid)
            })
        });
        match position {
            Some(position) => sidebar.select(position),
            None => {
                let dialog = AddContactDialog::new(self, &account.jid());
                dialog.set_address(jid);
                dialog.present();
            }
        }
    }

    fn load_window_size(&self) {
        let Some(settings) = &self.imp().settings else {
            return;
        };
        self.set_default_size(settings.int("window-width"), settings.int("window-height"));
        if settings.boolean("is-maximized") {
            self.maximize();
        }
    }

    fn save_window_size(&self) {
        let Some(settings) = &self.imp().settings else {
            return;
        };
        let (width, height) = self.default_size();
        let _ = settings.set_int("window-width", width);
        let _ = settings.set_int("window-height", height);
        let _ = settings.set_boolean("is-maximized", self.is_maximized());
    }
}
