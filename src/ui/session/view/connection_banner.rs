//! A banner over the roster while an account is not online: connecting,
//! reconnecting (and why), or offline with the reason and a Retry button.

use std::cell::RefCell;

use adw::subclass::prelude::*;
use gtk::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::service::{Command, ConnectionState};
use crate::ui::application::Application;
use crate::ui::session::model::AccountItem;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/connection_banner.ui")]
    pub struct ConnectionBanner {
        #[template_child]
        pub revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub banner: TemplateChild<gtk::Box>,
        #[template_child]
        pub spinner: TemplateChild<gtk::Spinner>,
        #[template_child]
        pub title: TemplateChild<gtk::Label>,
        #[template_child]
        pub message: TemplateChild<gtk::Label>,
        #[template_child]
        pub retry_button: TemplateChild<gtk::Button>,
        pub accounts: RefCell<Option<gio::ListStore>>,
        pub handlers: RefCell<Vec<(AccountItem, glib::SignalHandlerId)>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ConnectionBanner {
        const NAME: &'static str = "SottoConnectionBanner";
        type Type = super::ConnectionBanner;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("banner.retry", None, |banner, _, _| banner.retry());
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ConnectionBanner {
        fn dispose(&self) {
            for (account, handler) in self.handlers.take() {
                account.disconnect(handler);
            }
        }
    }

    impl WidgetImpl for ConnectionBanner {}
    impl BinImpl for ConnectionBanner {}
}

glib::wrapper! {
    pub struct ConnectionBanner(ObjectSubclass<imp::ConnectionBanner>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl ConnectionBanner {
    /// Watch these `AccountItem`s.
    pub fn set_accounts(&self, accounts: &gio::ListStore) {
        accounts.connect_items_changed(glib::clone!(
            #[weak(rename_to = banner)]
            self,
            move |_, _, _, _| banner.watch_accounts()
        ));
        self.imp().accounts.replace(Some(accounts.clone()));
        self.watch_accounts();
    }

    /// The text shown, when the banner is revealed.
    pub fn message(&self) -> Option<String> {
        let imp = self.imp();
        imp.revealer
            .reveals_child()
            .then(|| imp.message.text().to_string())
    }

    fn watch_accounts(&self) {
        let imp = self.imp();
        for (account, handler) in imp.handlers.take() {
            account.disconnect(handler);
        }
        let accounts: Vec<AccountItem> = imp
            .accounts
            .borrow()
            .iter()
            .flat_map(|store| store.iter::<AccountItem>().flatten().collect::<Vec<_>>())
            .collect();
        let handlers = accounts
            .into_iter()
            .map(|account| {
                let handler = account.connect_state_changed(glib::clone!(
                    #[weak(rename_to = banner)]
                    self,
                    move |_| banner.update()
                ));
                (account, handler)
            })
            .collect();
        imp.handlers.replace(handlers);
        self.update();
    }

    fn update(&self) {
        let imp = self.imp();
        let several = imp.handlers.borrow().len() > 1;
        // The first account that is not online is the one to talk about.
        let trouble = imp.handlers.borrow().iter().find_map(|(account, _)| {
            let state = account.state()?;
            (state != ConnectionState::Online).then(|| (account.jid(), state))
        });
        let Some((jid, state)) = trouble else {
            imp.revealer.set_reveal_child(false);
            imp.spinner.set_spinning(false);
            return;
        };
        let (title, detail, busy, error) = match &state {
            ConnectionState::Connecting => (gettext("Connecting…"), None, true, false),
            ConnectionState::Reconnecting { reason } => (
                gettext("Connection lost, reconnecting…"),
                Some(reason.clone()),
                true,
                false,
            ),
            ConnectionState::Offline {
                reason: Some(error),
            } => (gettext("Offline"), Some(error.user_message()), false, true),
            ConnectionState::Offline { reason: None } => (gettext("Offline"), None, false, false),
            ConnectionState::Online => unreachable!("filtered above"),
        };
        let title = if several {
            gettext_f(
                "{account}: {status}",
                &[("account", &jid), ("status", &title)],
            )
        } else {
            title
        };
        imp.title.set_text(&title);
        imp.message.set_text(detail.as_deref().unwrap_or_default());
        imp.message.set_visible(detail.is_some());
        imp.spinner.set_spinning(busy);
        imp.spinner.set_visible(busy);
        imp.retry_button
            .set_visible(!matches!(state, ConnectionState::Connecting));
        imp.retry_button.set_label(&if busy {
            gettext("_Retry Now")
        } else {
            gettext("_Retry")
        });
        if error {
            imp.banner.add_css_class("error");
        } else {
            imp.banner.remove_css_class("error");
        }
        imp.revealer.set_reveal_child(true);
    }

    fn retry(&self) {
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        if let Err(error) = service.send(Command::ConnectAll) {
            let imp = self.imp();
            imp.message.set_text(&error.user_message());
            imp.message.set_visible(true);
        }
    }
}
