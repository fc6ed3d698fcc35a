//! Preferences: the account, with a way to remove it, privacy, and the
//! Backup page. Settings appear here only once they do something.

use std::cell::RefCell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use crate::i18n::{gettext, gettext_f};
use crate::service::{Command, ConnectionState};
use crate::ui::application::Application;
use crate::ui::preferences::BackupPage;
use crate::ui::session::model::{AccountItem, Session};

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
        }
        groups.push(privacy_group(&session));
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
        let dialog = adw::MessageDialog::new(
            Some(self),
            Some(&gettext("Remove Account?")),
            Some(&gettext_f(
                "Sotto will forget {account}: its password, contacts and messages on this device. The account itself stays on the server and can be added again.",
                &[("account", &jid)],
            )),
        );
        dialog.add_responses(&[
            ("cancel", &gettext("_Cancel")),
            ("remove", &gettext("_Remove")),
        ]);
        dialog.set_response_appearance("remove", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        dialog.connect_response(
            None,
            glib::clone!(
                #[weak(rename_to = window)]
                self,
                move |_, response| {
                    if response == "remove" {
                        window.remove(jid.clone());
                    }
                }
            ),
        );
        dialog.present();
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
    let switch = gtk::Switch::builder().valign(gtk::Align::Center).build();
    session
        .bind_property("show-encrypted-previews", &switch, "active")
        .bidirectional()
        .sync_create()
        .build();
    let row = adw::ActionRow::builder()
        .title(gettext("Preview Encrypted Messages"))
        .subtitle(gettext(
            "Show the text of encrypted messages in the chat list",
        ))
        .activatable_widget(&switch)
        .build();
    row.add_suffix(&switch);
    group.add(&row);
    group
}
