//! First run: log in with an existing XMPP account.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};
use zeroize::Zeroizing;

use crate::i18n::gettext;
use crate::service::{Command, Event, ServerOverride};
use crate::ui::address::{check_bare_jid, check_server};
use crate::ui::application::Application;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(resource = "/im/sotto/Sotto/ui/login/account_setup.ui")]
    #[properties(wrapper_type = super::AccountSetup)]
    pub struct AccountSetup {
        #[template_child]
        pub menu_button: TemplateChild<gtk::MenuButton>,
        #[template_child]
        pub scroller: TemplateChild<gtk::ScrolledWindow>,
        #[template_child]
        pub credentials: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub address_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub password_row: TemplateChild<adw::PasswordEntryRow>,
        #[template_child]
        pub advanced_row: TemplateChild<adw::ExpanderRow>,
        #[template_child]
        pub server_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub ca_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub clear_ca_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub error_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub error_label: TemplateChild<gtk::Label>,
        #[template_child]
        pub log_in_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub spinner: TemplateChild<gtk::Spinner>,
        /// The primary menu, shared with the session's sidebar.
        #[property(get, set = Self::set_primary_menu, nullable)]
        pub primary_menu: RefCell<Option<gio::MenuModel>>,
        pub ca_file: RefCell<Option<PathBuf>>,
        /// Whether to check the address while typing (after the first
        /// attempt or once the field was left), not from the first key.
        pub check_live: Cell<bool>,
        pub busy: Cell<bool>,
        pub file_chooser: RefCell<Option<gtk::FileChooserNative>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for AccountSetup {
        const NAME: &'static str = "SottoAccountSetup";
        type Type = super::AccountSetup;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("setup.log-in", None, |page, _, _| page.log_in());
            klass.install_action("setup.choose-ca-file", None, |page, _, _| {
                page.choose_ca_file()
            });
            klass.install_action("setup.clear-ca-file", None, |page, _, _| {
                page.set_ca_file(None)
            });
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for AccountSetup {
        fn constructed(&self) {
            self.parent_constructed();
            let page = self.obj();
            self.address_row.connect_changed(glib::clone!(
                #[weak]
                page,
                move |_| page.on_input_changed()
            ));
            self.password_row.connect_changed(glib::clone!(
                #[weak]
                page,
                move |_| page.on_input_changed()
            ));
            self.server_row.connect_changed(glib::clone!(
                #[weak]
                page,
                move |_| page.on_input_changed()
            ));
            for row in [
                self.address_row.upcast_ref::<adw::EntryRow>(),
                self.password_row.upcast_ref(),
            ] {
                row.connect_entry_activated(glib::clone!(
                    #[weak]
                    page,
                    move |_| {
                        let _ = page.activate_action("setup.log-in", None);
                    }
                ));
            }
            let focus = gtk::EventControllerFocus::new();
            focus.connect_leave(glib::clone!(
                #[weak]
                page,
                move |_| {
                    if !page.imp().address_row.text().is_empty() {
                        page.imp().check_live.set(true);
                        page.on_input_changed();
                    }
                }
            ));
            self.address_row.add_controller(focus);
            // The error sits under the form: bring it into view on small
            // screens (GTK 4.8 has no scroll_to).
            self.error_revealer
                .connect_child_revealed_notify(glib::clone!(
                    #[weak]
                    page,
                    move |revealer| {
                        if revealer.is_child_revealed() {
                            let adjustment = page.imp().scroller.vadjustment();
                            adjustment.set_value(adjustment.upper() - adjustment.page_size());
                        }
                    }
                ));
            page.on_input_changed();
        }
    }

    impl WidgetImpl for AccountSetup {}
    impl BoxImpl for AccountSetup {}

    impl AccountSetup {
        fn set_primary_menu(&self, menu: Option<gio::MenuModel>) {
            self.menu_button.set_menu_model(menu.as_ref());
            self.primary_menu.replace(menu);
        }
    }
}

glib::wrapper! {
    pub struct AccountSetup(ObjectSubclass<imp::AccountSetup>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl AccountSetup {
    /// Trust exactly this CA instead of the system's (from the file chooser).
    pub fn set_ca_file(&self, path: Option<PathBuf>) {
        let imp = self.imp();
        match &path {
            Some(p) => imp
                .ca_row
                .set_subtitle(&glib::markup_escape_text(&p.display().to_string())),
            None => imp.ca_row.set_subtitle(&gettext("System certificates")),
        }
        imp.clear_ca_button.set_visible(path.is_some());
        imp.ca_file.replace(path);
    }

    /// Back to an empty form (after the account was added).
    pub fn reset(&self) {
        let imp = self.imp();
        imp.address_row.set_text("");
        imp.password_row.set_text("");
        imp.server_row.set_text("");
        imp.advanced_row.set_expanded(false);
        self.set_ca_file(None);
        imp.check_live.set(false);
        self.show_error(None);
        self.set_busy(false);
    }

    /// The message under the form, if any.
    pub fn error_message(&self) -> Option<String> {
        let imp = self.imp();
        imp.error_revealer
            .reveals_child()
            .then(|| imp.error_label.text().to_string())
    }

    pub fn is_busy(&self) -> bool {
        self.imp().busy.get()
    }

    fn on_input_changed(&self) {
        let imp = self.imp();
        let filled =
            !imp.address_row.text().trim().is_empty() && !imp.password_row.text().is_empty();
        self.action_set_enabled("setup.log-in", filled && !imp.busy.get());
        if imp.check_live.get() {
            self.show_error(self.form_problem().as_deref());
        }
    }

    /// What is wrong with the form, checked without the network.
    fn form_problem(&self) -> Option<String> {
        let imp = self.imp();
        let address = check_bare_jid(&imp.address_row.text()).err();
        set_error_class(imp.address_row.upcast_ref(), address.is_some());
        let server_text = imp.server_row.text();
        let server = (!server_text.trim().is_empty())
            .then(|| check_server(&server_text).err())
            .flatten();
        set_error_class(imp.server_row.upcast_ref(), server.is_some());
        if let Some(problem) = address {
            return Some(problem.user_message());
        }
        if imp.password_row.text().is_empty() {
            return Some(gettext("Enter your password."));
        }
        if server.is_some() {
            imp.advanced_row.set_expanded(true);
        }
        server
    }

    fn show_error(&self, message: Option<&str>) {
        let imp = self.imp();
        if let Some(message) = message {
            imp.error_label.set_text(message);
        }
        imp.error_revealer.set_reveal_child(message.is_some());
    }

    fn set_busy(&self, busy: bool) {
        let imp = self.imp();
        imp.busy.set(busy);
        imp.credentials.set_sensitive(!busy);
        imp.spinner.set_spinning(busy);
        imp.log_in_stack
            .set_visible_child_name(if busy { "spinner" } else { "label" });
        self.on_input_changed();
    }

    fn log_in(&self) {
        let imp = self.imp();
        if imp.busy.get() {
            return;
        }
        imp.check_live.set(true);
        if let Some(problem) = self.form_problem() {
            self.show_error(Some(&problem));
            return;
        }
        self.show_error(None);
        let Some(app) = Application::instance() else {
            return;
        };
        let Some(service) = app.service() else { return };
        let jid = check_bare_jid(&imp.address_row.text())
            .unwrap_or_default()
            .to_owned();
        let password = Zeroizing::new(imp.password_row.text().to_string());
        let server_text = imp.server_row.text();
        let server = ServerOverride {
            address: check_server(&server_text).ok().map(str::to_owned),
            ca_file: imp.ca_file.borrow().clone(),
        };
        self.set_busy(true);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = page)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::AddAccount {
                        jid,
                        password,
                        server,
                        reply,
                    })
                    .await;
                page.set_busy(false);
                match result {
                    // The event may come later; the window switches on either.
                    Ok(account) => app.session().apply(&Event::AccountAdded { account }),
                    Err(error) => {
                        page.show_error(Some(&error.user_message()));
                        page.imp().password_row.grab_focus();
                    }
                }
            }
        ));
    }

    fn choose_ca_file(&self) {
        let parent = self.root().and_downcast::<gtk::Window>();
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Choose a Certificate Authority")),
            parent.as_ref(),
            gtk::FileChooserAction::Open,
            Some(&gettext("_Open")),
            Some(&gettext("_Cancel")),
        );
        chooser.set_modal(true);
        let filter = gtk::FileFilter::new();
        filter.set_name(Some(&gettext("PEM Certificates")));
        filter.add_pattern("*.pem");
        filter.add_pattern("*.crt");
        filter.add_mime_type("application/x-x509-ca-cert");
        chooser.add_filter(&filter);
        chooser.connect_response(glib::clone!(
            #[weak(rename_to = page)]
            self,
            move |chooser, response| {
                if response == gtk::ResponseType::Accept
                    && let Some(path) = chooser.file().and_then(|f| f.path())
                {
                    page.set_ca_file(Some(path));
                }
                page.imp().file_chooser.take();
            }
        ));
        chooser.show();
        self.imp().file_chooser.replace(Some(chooser));
    }
}

fn set_error_class(widget: &gtk::Widget, error: bool) {
    if error {
        widget.add_css_class("error");
    } else {
        widget.remove_css_class("error");
    }
}
