//! Add someone by address, with an optional name; asks for their status.

use std::cell::{Cell, RefCell};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use crate::service::Command;
use crate::ui::address::{check_bare_jid, show_address_error};
use crate::ui::application::Application;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/add_contact_dialog.ui")]
    pub struct AddContactDialog {
        #[template_child]
        pub address_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub name_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub add_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub spinner: TemplateChild<gtk::Spinner>,
        #[template_child]
        pub error_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub error_label: TemplateChild<gtk::Label>,
        pub account: RefCell<String>,
        pub busy: Cell<bool>,
        pub check_live: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for AddContactDialog {
        const NAME: &'static str = "SottoAddContactDialog";
        type Type = super::AddContactDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("add-contact.add", None, |dialog, _, _| dialog.add());
            klass.add_binding_action(
                gtk::gdk::Key::Escape,
                gtk::gdk::ModifierType::empty(),
                "window.close",
            );
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for AddContactDialog {
        fn constructed(&self) {
            self.parent_constructed();
            let dialog = self.obj();
            self.address_row.connect_changed(glib::clone!(
                #[weak]
                dialog,
                move |_| dialog.on_input_changed()
            ));
            for row in [&*self.address_row, &*self.name_row] {
                row.connect_entry_activated(glib::clone!(
                    #[weak]
                    dialog,
                    move |_| {
                        let _ = dialog.activate_action("add-contact.add", None);
                    }
                ));
            }
            dialog.on_input_changed();
        }
    }

    impl WidgetImpl for AddContactDialog {}
    impl WindowImpl for AddContactDialog {}
    impl AdwWindowImpl for AddContactDialog {}
}

glib::wrapper! {
    pub struct AddContactDialog(ObjectSubclass<imp::AddContactDialog>)
        @extends adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
                    gtk::Root, gtk::ShortcutManager;
}

impl AddContactDialog {
    pub fn new(parent: &impl IsA<gtk::Window>, account: &str) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        dialog.imp().account.replace(account.to_owned());
        dialog
    }

    /// Prefill the address (from an `xmpp:` link).
    pub fn set_address(&self, jid: &str) {
        self.imp().address_row.set_text(jid);
    }

    fn on_input_changed(&self) {
        let imp = self.imp();
        let filled = !imp.address_row.text().trim().is_empty();
        self.action_set_enabled("add-contact.add", filled && !imp.busy.get());
        if imp.check_live.get() {
            let problem = check_bare_jid(&imp.address_row.text()).err();
            self.show_error(problem.map(|p| p.user_message()).as_deref());
        }
    }

    fn show_error(&self, message: Option<&str>) {
        let imp = self.imp();
        show_address_error(
            &*imp.address_row,
            &imp.error_revealer,
            &imp.error_label,
            message,
        );
    }

    fn set_busy(&self, busy: bool) {
        let imp = self.imp();
        imp.busy.set(busy);
        imp.address_row.set_sensitive(!busy);
        imp.name_row.set_sensitive(!busy);
        imp.spinner.set_spinning(busy);
        imp.add_stack
            .set_visible_child_name(if busy { "spinner" } else { "label" });
        self.on_input_changed();
    }

    fn add(&self) {
        let imp = self.imp();
        if imp.busy.get() {
            return;
        }
        imp.check_live.set(true);
        let jid = match check_bare_jid(&imp.address_row.text()) {
            Ok(jid) => jid.to_owned(),
            Err(problem) => {
                self.show_error(Some(&problem.user_message()));
                return;
            }
        };
        let name = Some(imp.name_row.text().trim().to_owned()).filter(|n| !n.is_empty());
        let account = imp.account.borrow().clone();
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        self.show_error(None);
        self.set_busy(true);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::AddContact {
                        account,
                        jid,
                        name,
                        reply,
                    })
                    .await;
                dialog.set_busy(false);
                match result {
                    Ok(()) => dialog.close(),
                    Err(error) => dialog.show_error(Some(&error.user_message())),
                }
            }
        ));
    }
}
