//! Preferences: the account, with a way to remove it, its own devices,
//! privacy, and the Backup page. Settings appear here only once they do
//! something.

use std::cell::RefCell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use crate::i18n::{gettext, gettext_f};
use crate::service::{Command, ConnectionState};
use crate::ui::application::Application;
use crate::ui::components::confirm_removal;
use crate::ui::preferences::{BackupPage, switch_row};
use crate::ui::session::model::{AccountItem, Session};
use crate::ui::session::view::DeviceList;
use crate::ui::settings;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/preferences/preferences_window.ui")]
    pub struct PreferencesWindow {
        #[template_child]
        pub account_page: TemplateChild<adw::PreferencesPage>,
        pub groups: RefCell<Vec<adw::PreferencesGroup>>,
        pub session: RefCell<Option<Session>>,
        pub backup: RefCell<Option<BackupPage>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PreferencesWindow {
        const NAME: &'static str = "SottoPreferencesWindow";
        type Type = super::PreferencesWindow;
        type ParentType = adw::PreferencesWindow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for PreferencesWindow {}
    impl WidgetImpl for PreferencesWindow {}
    impl WindowImpl for PreferencesWindow {}
    impl AdwWindowImpl for PreferencesWindow {}
    impl PreferencesWindowImpl for PreferencesWindow {}
}

glib::wrapper! {
    pub struct PreferencesWindow(ObjectSubclass<imp::PreferencesWindow>)
        @extends adw::PreferencesWindow, adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
                    gtk::Root, gtk::ShortcutManager;
}

impl PreferencesWindow {
    pub fn new(parent: &impl IsA<gtk::Window>, session: &Session) -> Self {
        let window: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        window.imp().session.replace(Some(session.clone()));
        let backup = BackupPage::new();
        window.add(backup.widget());
        window.imp().backup.replace(Some(backup));
        session.accounts().connect_items_changed(glib::clone!(
            #[weak]
            window,
            move |accounts, _, _, _| {
                if accounts.n_items() == 0 {
                    window.close();
                } else {
                    window.rebuild();
                }
            }
        ));
        window.rebuild();
        window
    }

    /// The Backup page, to show it (the backup reminder) or to drive it.
    pub fn backup_page(&self) -> Option<BackupPage> {
        self.imp().backup.borrow().clone()
    }

    fn rebuild(&self) {
        let imp = self.imp();
        for group in imp.groups.take() {
            imp.account_page.remove(&group);
        }
        let Some(session) = imp.session.borrow().clone() else {
            return;
        };
        let mut groups = Vec::new();
        for account in session.accounts().iter::<AccountItem>().flatten() {
            groups.push(self.account_group(&account));
            // The account's own devices, with trust and "remove lost device".
            let devices = DeviceList::default();
            devices.load(&account.jid(), &account.jid(), &account.jid());
            groups.push(devices.upcast());
        }
        groups.push(privacy_group(&session));
        groups.push(encryption_group());
        for group in &groups {
            imp.account_page.add(group);
        }
        imp.groups.replace(groups);
    }

    fn account_group(&self, account: &AccountItem) -> adw::PreferencesGroup {
        let group = adw::PreferencesGroup::builder()
            .title(gettext("Account"))
            .build();
        let address = adw::ActionRow::builder()
            .title(gettext("Address"))
            .subtitle(glib::markup_escape_text(&account.jid()))
            .build();
        address.add_css_class("property");
        group.add(&address);

        let server = account.info().and_then(|i| i.server.address);
        let server_row = adw::ActionRow::builder()
            .title(gettext("Server"))
            .subtitle(match server {
                Some(address) => glib::markup_escape_text(&address).to_string(),
                None => gettext("Found automatically from the address"),
            })
            .build();
        server_row.add_css_class("property");
        group.add(&server_row);

        let connection = adw::ActionRow::builder()
            .title(gettext("Connection"))
            .subtitle(glib::markup_escape_text(&state_text(
                account.state().as_ref(),
            )))
            .build();
        connection.add_css_class("property");
        account.connect_state_changed(glib::clone!(
            #[weak]
            connection,
            move |account| {
                connection.set_subtitle(&glib::markup_escape_text(&state_text(
                    account.state().as_ref(),
                )));
            }
        ));
        group.add(&connection);

        let remove = adw::ActionRow::builder()
            .title(gettext("Remove Account"))
            .subtitle(gettext(
                "Forget the password and everything stored on this device",
            ))
            .build();
        let button = gtk::Button::builder()
            .label(gettext("_Remove…"))
            .use_underline(true)
            .valign(gtk::Align::Center)
            .css_classes(["destructive-action"])
            .build();
        button.connect_clicked(glib::clone!(
            #[weak(rename_to = window)]
            self,
            #[weak]
            account,
            move |_| window.confirm_remove(&account)
        ));
        remove.add_suffix(&button);
        remove.set_activatable_widget(Some(&button));
        group.add(&remove);
        group
    }

    fn confirm_remove(&self, account: &AccountItem) {
        let jid = account.jid();
        confirm_removal(
            Some(self.upcast_ref()),
            &gettext("Remove Account?"),
            &gettext_f(
                "Sotto will forget {account}: its password, contacts and messages on this device. The account itself stays on the server and can be added again.",
                &[("account", &jid)],
            ),
            glib::clone!(
                #[weak(rename_to = window)]
                self,
                move || window.remove(jid.clone())
            ),
        );
    }

    fn remove(&self, account: String) {
        let Some(app) = Application::instance() else {
            return;
        };
        let Some(service) = app.service() else { return };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = window)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::RemoveAccount {
                        account: account.clone(),
                        reply,
                    })
                    .await;
                match result {
                    Ok(()) => {
                        app.session()
                            .apply(&crate::service::Event::AccountRemoved { account });
                    }
                    Err(error) => window.add_toast(adw::Toast::new(&glib::markup_escape_text(
                        &error.user_message(),
                    ))),
                }
            }
        ));
    }
}

fn state_text(state: Option<&ConnectionState>) -> String {
    match state {
        None => gettext("Not connected yet"),
        Some(ConnectionState::Connecting) => gettext("Connecting…"),
        Some(ConnectionState::Online) => gettext("Online"),
        Some(ConnectionState::Reconnecting { reason }) => {
            gettext_f("Reconnecting ({reason})", &[("reason", reason)])
        }
        Some(ConnectionState::Offline {
            reason: Some(error),
        }) => error.user_message(),
        Some(ConnectionState::Offline { reason: None }) => gettext("Offline"),
    }
}

/// What the chat list may show of encrypted messages.
fn privacy_group(session: &Session) -> adw::PreferencesGroup {
    let group = adw::PreferencesGroup::builder()
        .title(gettext("Privacy"))
        .build();
    let (row, switch) = switch_row(
        &gettext("Preview Encrypted Messages"),
        &gettext("Show the text of encrypted messages in the chat list"),
        "encrypted-previews",
    );
    session
        .bind_property("show-encrypted-previews", &switch, "active")
        .bidirectional()
        .sync_create()
        .build();
    group.add(&row);
    let settings = settings::settings();
    for (key, title, subtitle, name) in [
        (
            settings::SEND_TYPING_NOTIFICATIONS,
            gettext("Send Typing Notifications"),
            gettext("Let contacts see when you are typing to them"),
            "send-typing",
        ),
        (
            settings::NOTIFICATION_PREVIEWS,
            gettext("Message Text in Notifications"),
            gettext("When off, a notification only says who wrote"),
            "notification-previews",
        ),
    ] {
        let (row, switch) = switch_row(&title, &subtitle, name);
        match &settings {
            Some(settings) => settings.bind(key, &switch, "active").build(),
            // Without a schema the default holds and cannot change.
            None => {
                switch.set_active(true);
                row.set_sensitive(false);
            }
        }
        group.add(&row);
    }
    group
}

/// Blind trust, stale devices and open group chats: the service's
/// policy, shared with sotto-cli, so read from and written to the service.
fn encryption_group() -> adw::PreferencesGroup {
    let group = adw::PreferencesGroup::builder()
        .title(gettext("Encryption"))
        .build();
    let (blind_row, blind) = switch_row(
        &gettext("Trust New Devices Until Verified"),
        &gettext(
            "Encrypt to a contact's new devices without asking until you verify one of their devices; after that, every new device needs your decision",
        ),
        "blind-trust",
    );
    group.add(&blind_row);
    let stale = gtk::SpinButton::with_range(0.0, 365.0, 1.0);
    stale.set_valign(gtk::Align::Center);
    stale.set_widget_name("stale-days");
    let stale_row = adw::ActionRow::builder()
        .title(gettext("Leave Out Silent Own Devices After Days"))
        .subtitle(gettext(
            "Your own devices that have not been seen for this long get no keys (0: never leave them out)",
        ))
        .activatable_widget(&stale)
        .build();
    stale_row.add_suffix(&stale);
    group.add(&stale_row);
    let (open_row, open) = switch_row(
        &gettext("Encrypt in Open Group Chats"),
        &gettext(
            "Also encrypt in group chats anyone may join where members’ addresses are visible; whoever joins can read what is sent after that",
        ),
        "open-groups",
    );
    group.add(&open_row);
    group.set_sensitive(false);

    let Some(service) = Application::instance().and_then(|a| a.service()) else {
        return group;
    };
    let weak = group.downgrade();
    glib::spawn_future_local(async move {
        let policy = service
            .request(|reply| Command::EncryptionPolicy { reply })
            .await;
        let Some(group) = weak.upgrade() else { return };
        let Ok(policy) = policy else { return };
        blind.set_active(policy.blind_trust);
        stale.set_value(f64::from(policy.stale_device_days));
        open.set_active(policy.open_groups);
        group.set_sensitive(true);
        let (b, st, op) = (blind.downgrade(), stale.downgrade(), open.downgrade());
        // Weak: the widgets own the handlers that call this.
        let save = move || {
            let (Some(blind), Some(stale), Some(open)) = (b.upgrade(), st.upgrade(), op.upgrade())
            else {
                return;
            };
            // Fields this page does not show stay as the service had them.
            let mut policy = policy;
            policy.blind_trust = blind.is_active();
            policy.stale_device_days = u32::try_from(stale.value_as_int()).unwrap_or(0);
            policy.open_groups = open.is_active();
            let service = service.clone();
            glib::spawn_future_local(async move {
                if let Err(e) = service
                    .request(|reply| Command::SetEncryptionPolicy { policy, reply })
                    .await
                    && let Some(app) = Application::instance()
                {
                    app.main_window().add_toast(&e.user_message());
                }
            });
        };
        let save = std::rc::Rc::new(save);
        let s = save.clone();
        blind.connect_active_notify(move |_| s());
        let s = save.clone();
        open.connect_active_notify(move |_| s());
        stale.connect_value_changed(move |_| save());
    });
    group
}
