//! The application: owns the connection to the service and the session
//! model, and turns service events into model updates on the GTK thread.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use crate::config;
use crate::i18n::gettext;
use crate::service::{self, Command, EventStream, ServiceHandle, ServiceOptions};
use crate::ui::preferences::PreferencesWindow;
use crate::ui::session::model::{Rooms, Session};
use crate::ui::window::Window;

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct Application {
        pub data_dir: RefCell<Option<PathBuf>>,
        pub service: RefCell<Option<ServiceHandle>>,
        pub session: Session,
        pub rooms: Rooms,
        pub started: std::cell::Cell<bool>,
        pub notifier: crate::ui::notifications::Notifier,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Application {
        const NAME: &'static str = "SottoApplication";
        type Type = super::Application;
        type ParentType = adw::Application;
    }

    impl ObjectImpl for Application {
        fn constructed(&self) {
            self.parent_constructed();
            let app = self.obj();
            app.add_main_option(
                "data-dir",
                glib::Char::from(b'd'),
                glib::OptionFlags::NONE,
                glib::OptionArg::Filename,
                &gettext("Keep the profile (accounts, history, keys) in DIR"),
                Some(&gettext("DIR")),
            );
            app.setup_actions();
        }
    }

    impl ApplicationImpl for Application {
        fn handle_local_options(
            &self,
            options: &glib::VariantDict,
        ) -> std::ops::ControlFlow<glib::ExitCode> {
            if let Ok(Some(dir)) = options.lookup::<PathBuf>("data-dir") {
                self.data_dir.replace(Some(dir));
            }
            std::ops::ControlFlow::Continue(())
        }

        fn startup(&self) {
            self.parent_startup();
            // Follow the system's light/dark preference.
            adw::StyleManager::default().set_color_scheme(adw::ColorScheme::Default);
        }

        fn activate(&self) {
            self.parent_activate();
            let app = self.obj();
            app.main_window().present();
            if !self.started.replace(true) {
                bench_timings(&app.main_window());
                app.start_service();
            }
        }

        /// `xmpp:` links (the desktop file registers the scheme): a trust
        /// link opens the scan flow; any other offers to add the address.
        fn open(&self, files: &[gio::File], _hint: &str) {
            self.activate();
            let Some(uri) = files.first().map(|f| f.uri()) else {
                return;
            };
            // A trust link (a code opened from a browser or another app):
            // the same check-then-verify flow as scanning the code.
            if crate::qr::TrustUri::parse(&uri).is_ok() {
                let app = self.obj().clone();
                glib::spawn_future_local(async move {
                    // The link may start the app: wait (bounded) for it.
                    for _ in 0..300 {
                        if app.service().is_some() && app.session().has_accounts() {
                            break;
                        }
                        glib::timeout_future(Duration::from_millis(100)).await;
                    }
                    if let Some(dialog) = app.main_window().scan_qr() {
                        dialog.scan_text(&uri);
                    }
                });
                return;
            }
            let Some(jid) = jid_from_xmpp_uri(&uri) else {
                tracing::warn!(%uri, "not an xmpp: address");
                return;
            };
            self.obj().main_window().offer_contact(&jid);
        }

        fn shutdown(&self) {
            if let Some(service) = self.service.take() {
                // The window is gone; wait (bounded) until the service has
                // flushed the store and said goodbye to the servers.
                crate::runtime::runtime().block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(5), service.shutdown()).await;
                });
            }
            self.parent_shutdown();
        }
    }

    impl GtkApplicationImpl for Application {}
    impl AdwApplicationImpl for Application {}
}

glib::wrapper! {
    pub struct Application(ObjectSubclass<imp::Application>)
        @extends adw::Application, gtk::Application, gio::Application,
        @implements gio::ActionGroup, gio::ActionMap;
}

impl Application {
    pub fn new() -> Self {
        glib::Object::builder()
            .property("application-id", config::APP_ID)
            .property("resource-base-path", "/im/sotto/Sotto")
            .property("flags", gio::ApplicationFlags::HANDLES_OPEN)
            .build()
    }

    /// The running instance (there is one per process).
    pub fn instance() -> Option<Self> {
        gio::Application::default().and_downcast()
    }

    /// The service, once it has started.
    pub fn service(&self) -> Option<ServiceHandle> {
        self.imp().service.borrow().clone()
    }

    pub fn session(&self) -> Session {
        self.imp().session.clone()
    }

    /// Group chats and channels, and invitations into them.
    pub fn rooms(&self) -> Rooms {
        self.imp().rooms.clone()
    }

    /// Message notifications (GNotification) and what they show now.
    pub fn notifier(&self) -> &crate::ui::notifications::Notifier {
        &self.imp().notifier
    }

    /// The chat `account`/`jid` was read: its notification goes.
    pub fn withdraw_chat_notification(&self, account: &str, jid: &str) {
        self.imp().notifier.withdraw(self, account, jid);
    }

    /// A notification was clicked: the window comes up with that chat.
    fn open_chat(&self, account: &str, jid: &str) {
        let window = self.main_window();
        window.present();
        if let Some(conversation) = self.session().find_conversation(account, jid) {
            window.session_view().show_conversation(&conversation);
        }
    }

    pub fn main_window(&self) -> Window {
        if let Some(window) = self
            .windows()
            .into_iter()
            .find_map(|w| w.downcast::<Window>().ok())
        {
            return window;
        }
        Window::new(self)
    }

    fn setup_actions(&self) {
        let quit = gio::ActionEntry::builder("quit")
            .activate(|app: &Self, _, _| app.quit())
            .build();
        let about = gio::ActionEntry::builder("about")
            .activate(|app: &Self, _, _| app.show_about())
            .build();
        let preferences = gio::ActionEntry::builder("preferences")
            .activate(|app: &Self, _, _| {
                app.show_preferences();
            })
            .build();
        let backup = gio::ActionEntry::builder("backup")
            .activate(|app: &Self, _, _| app.show_backup())
            .build();
        let open_chat = gio::ActionEntry::builder("open-chat")
            .parameter_type(Some(&crate::ui::notifications::open_chat_parameter()))
            .activate(|app: &Self, _, target| {
                if let Some((account, jid)) = target.and_then(|t| t.get::<(String, String)>()) {
                    app.open_chat(&account, &jid);
                }
            })
            .build();
        self.add_action_entries([quit, about, preferences, backup, open_chat]);
        self.set_accels_for_action("app.quit", &["<Control>q"]);
        self.set_accels_for_action("app.preferences", &["<Control>comma"]);
        self.set_accels_for_action("win.new-chat", &["<Control>n"]);
        self.set_accels_for_action("win.search", &["<Control>k"]);
        self.set_accels_for_action("win.previous-chat", &["<Alt>Up"]);
        self.set_accels_for_action("win.next-chat", &["<Alt>Down"]);
        self.set_accels_for_action("win.show-help-overlay", &["<Control>question"]);
    }

    fn show_about(&self) {
        let window = self.main_window();
        let about = adw::AboutWindow::builder()
            .transient_for(&window)
            .modal(true)
            .application_name(gettext("Sotto"))
            .application_icon("im.sotto.Sotto")
            .developer_name(gettext("The Sotto developers"))
            .version(config::VERSION)
            .website("https://sotto.im")
            .issue_url("https://sotto.im/issues")
            .license_type(gtk::License::Gpl30)
            .copyright("© 2025 The Sotto developers")
            .comments(gettext("Chat over XMPP with OMEMO end-to-end encryption"))
            .translator_credits(gettext("translator-credits"))
            .build();
        about.present();
    }

    fn show_preferences(&self) -> Option<PreferencesWindow> {
        let window = self.main_window();
        if !self.session().has_accounts() {
            return None;
        }
        let preferences = PreferencesWindow::new(&window, &self.session());
        preferences.present();
        Some(preferences)
    }

    /// Preferences open at the Backup page (the backup reminder's button).
    fn show_backup(&self) {
        if let Some(preferences) = self.show_preferences()
            && let Some(page) = preferences.backup_page()
        {
            preferences.set_visible_page(page.widget());
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.imp()
            .data_dir
            .borrow()
            .clone()
            .unwrap_or_else(crate::profile::default_data_dir)
    }

    fn start_service(&self) {
        let options = ServiceOptions {
            data_dir: self.data_dir(),
            connect: true,
        };
        let window = self.main_window();
        window.show_loading();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = app)]
            self,
            async move {
                let started = crate::runtime::spawn(service::start(options)).await;
                let window = app.main_window();
                match started {
                    Ok(Ok((handle, events))) => app.on_service_started(handle, events).await,
                    Ok(Err(error)) => window.show_start_error(&error),
                    Err(panic) => window.show_fatal_error(&panic.to_string()),
                }
            }
        ));
    }

    async fn on_service_started(&self, handle: ServiceHandle, events: EventStream) {
        self.imp().service.replace(Some(handle.clone()));
        let session = self.session();
        // Snapshot first, events after: whatever the events say is newer.
        match handle.request(|reply| Command::Snapshot { reply }).await {
            Ok(snapshot) => session.load_snapshot(&snapshot),
            Err(error) => {
                self.main_window().show_fatal_error(&error.user_message());
                return;
            }
        }
        self.main_window().show_session();
        if let Ok(status) = handle
            .request(|reply| Command::BackupStatus { reply })
            .await
            && status.due
        {
            self.main_window()
                .show_backup_reminder(status.last_export_at);
        }
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = app)]
            self,
            async move { app.pump_events(events).await }
        ));
    }

    async fn pump_events(&self, mut events: EventStream) {
        let session = self.session();
        while let Some(event) = events.next().await {
            tracing::debug!(?event, "service event");
            session.apply(&event);
            self.imp().rooms.apply(&event);
            self.imp().notifier.on_event(self, &event);
        }
        // The stream ends only when the service stops: expected on quit.
        if self.imp().service.borrow().is_some() {
            self.main_window()
                .show_fatal_error(&gettext("The background service has stopped."));
        }
    }
}

/// The bare JID of an `xmpp:` URI (RFC 5122), without query or fragment.
fn jid_from_xmpp_uri(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("xmpp:")?.trim_start_matches("//");
    let jid = rest.split(['?', '#']).next()?;
    let jid = glib::Uri::unescape_string(jid, None::<&str>).map(|s| s.to_string())?;
    crate::ui::address::check_bare_jid(&jid)
        .ok()
        .map(str::to_owned)
}

// ---- Timing hook for the UI benchmarks (benches/ui_scenarios.rs, issue 5) ----

/// With `SOTTO_BENCH_TIMINGS` set, prints `sotto-bench MARK MICROSECONDS`
/// lines on stdout in CLOCK_MONOTONIC (`glib::monotonic_time`), so that a
/// launcher can subtract its own spawn time: `activate` at once, then after
/// the first painted frame of the window (`first-frame`), of the first-run
/// setup (`setup-frame`), of the session (`session-frame`) and of the
/// session with rows in the conversation list (`chats-frame`); the
/// `*-settled-frame` marks come once the crossfade to that page is over.
/// Call it once the window is presented. Does nothing without the variable.
fn bench_timings(window: &Window) {
    if std::env::var_os("SOTTO_BENCH_TIMINGS").is_none() {
        return;
    }
    // Not println!: a launcher that went away must not make the app panic.
    let mark = |name: &str| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "sotto-bench {name} {}",
            glib::monotonic_time()
        );
    };
    mark("activate");
    let Some(clock) = window.frame_clock() else {
        return;
    };
    let window = window.downgrade();
    let seen = RefCell::new(Vec::new());
    clock.connect_after_paint(move |_| {
        let Some(window) = window.upgrade() else {
            return;
        };
        let session = window.session_view();
        let setup = window.account_setup();
        let chats = session.is_mapped()
            && session
                .sidebar()
                .conversations()
                .is_some_and(|c| c.n_items() > 0);
        // The window's stack crossfades to a new page: fully shown once done.
        let settled = |page: &gtk::Widget| {
            page.parent()
                .and_downcast::<gtk::Stack>()
                .is_none_or(|s| !s.is_transition_running())
        };
        let shown = [
            ("first-frame", true),
            ("setup-frame", setup.is_mapped()),
            (
                "setup-settled-frame",
                setup.is_mapped() && settled(setup.upcast_ref()),
            ),
            ("session-frame", session.is_mapped()),
            ("chats-frame", chats),
            (
                "chats-settled-frame",
                chats && settled(session.upcast_ref()),
            ),
        ];
        for (name, shown) in shown {
            if shown && !seen.borrow().contains(&name) {
                seen.borrow_mut().push(name);
                mark(name);
            }
        }
    });
}

// ---- end of the timing hook ----

impl Default for Application {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::jid_from_xmpp_uri;

    #[test]
    fn xmpp_uris_give_the_bare_jid() {
        assert_eq!(
            jid_from_xmpp_uri("xmpp:romeo@montague.net"),
            Some("romeo@montague.net".into())
        );
        assert_eq!(
            jid_from_xmpp_uri("xmpp:romeo@montague.net?message;body=hi"),
            Some("romeo@montague.net".into())
        );
        assert_eq!(
            jid_from_xmpp_uri("xmpp:juliet%40capulet.lit"),
            Some("juliet@capulet.lit".into())
        );
        assert_eq!(jid_from_xmpp_uri("https://example.org"), None);
        assert_eq!(jid_from_xmpp_uri("xmpp:nobody"), None);
    }
}
