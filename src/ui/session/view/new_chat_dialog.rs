//! Start a chat (Ctrl+N): type an address, or part of a contact's name and
//! pick from the roster as you type. An address not in the roster can be
//! added as a contact on the way.

use std::cell::{Cell, RefCell};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use crate::service::Command;
use crate::ui::address::{check_bare_jid, show_address_error};
use crate::ui::application::Application;
use crate::ui::components::Avatar;
use crate::ui::session::model::ContactItem;

/// Enough to pick from while typing; a longer list means type more.
const MAX_MATCHES: usize = 50;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/new_chat_dialog.ui")]
    pub struct NewChatDialog {
        #[template_child]
        pub address_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub add_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub add_switch: TemplateChild<gtk::Switch>,
        #[template_child]
        pub matches_box: TemplateChild<gtk::Box>,
        #[template_child]
        pub matches: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub start_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub spinner: TemplateChild<gtk::Spinner>,
        #[template_child]
        pub error_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub error_label: TemplateChild<gtk::Label>,
        pub account: RefCell<String>,
        /// The roster contacts shown, in order.
        pub shown: RefCell<Vec<ContactItem>>,
        pub busy: Cell<bool>,
        /// After a failed attempt the address is checked as it is typed.
        pub check_live: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for NewChatDialog {
        const NAME: &'static str = "SottoNewChatDialog";
        type Type = super::NewChatDialog;
        type ParentType = adw::Window;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
            klass.install_action("new-chat.start", None, |dialog, _, _| dialog.start());
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

    impl ObjectImpl for NewChatDialog {
        fn constructed(&self) {
            self.parent_constructed();
            let dialog = self.obj();
            self.address_row.connect_changed(glib::clone!(
                #[weak]
                dialog,
                move |_| dialog.on_input_changed()
            ));
            self.address_row.connect_entry_activated(glib::clone!(
                #[weak]
                dialog,
                move |_| {
                    let _ = dialog.activate_action("new-chat.start", None);
                }
            ));
            // Down from the entry walks into the matches, as in a
            // completion popup.
            let keys = gtk::EventControllerKey::new();
            keys.connect_key_pressed(glib::clone!(
                #[weak]
                dialog,
                #[upgrade_or]
                glib::Propagation::Proceed,
                move |_, key, _, _| {
                    if key == gtk::gdk::Key::Down
                        && let Some(row) = dialog.imp().matches.row_at_index(0)
                    {
                        row.grab_focus();
                        return glib::Propagation::Stop;
                    }
                    glib::Propagation::Proceed
                }
            ));
            self.address_row.add_controller(keys);
            self.matches.connect_row_activated(glib::clone!(
                #[weak]
                dialog,
                move |_, row| {
                    let contact = usize::try_from(row.index())
                        .ok()
                        .and_then(|i| dialog.imp().shown.borrow().get(i).cloned());
                    if let Some(contact) = contact {
                        dialog.open(&contact.jid());
                    }
                }
            ));
        }
    }

    impl WidgetImpl for NewChatDialog {}
    impl WindowImpl for NewChatDialog {}
    impl AdwWindowImpl for NewChatDialog {}
}

glib::wrapper! {
    pub struct NewChatDialog(ObjectSubclass<imp::NewChatDialog>)
        @extends adw::Window, gtk::Window, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Native,
                    gtk::Root, gtk::ShortcutManager;
}

impl NewChatDialog {
    pub fn new(parent: &impl IsA<gtk::Window>, account: &str) -> Self {
        let dialog: Self = glib::Object::builder()
            .property("transient-for", parent)
            .build();
        dialog.imp().account.replace(account.to_owned());
        dialog.on_input_changed();
        dialog
    }

    pub fn address_row(&self) -> adw::EntryRow {
        self.imp().address_row.get()
    }

    /// The roster contacts listed for the text typed so far.
    pub fn matches(&self) -> Vec<ContactItem> {
        self.imp().shown.borrow().clone()
    }

    fn contacts(&self) -> Vec<ContactItem> {
        let account = self.imp().account.borrow().clone();
        let Some(app) = Application::instance() else {
            return Vec::new();
        };
        app.session()
            .contacts()
            .iter::<ContactItem>()
            .flatten()
            .filter(|c| c.account() == account)
            .collect()
    }

    fn on_input_changed(&self) {
        let imp = self.imp();
        let text = imp.address_row.text();
        let contacts = self.contacts();
        let shown = best_matches(&text, &contacts);
        self.show_matches(shown);

        let address = check_bare_jid(&text).ok().map(str::to_lowercase);
        let known = address
            .as_deref()
            .is_some_and(|jid| contacts.iter().any(|c| c.jid() == jid));
        imp.add_revealer
            .set_reveal_child(address.is_some() && !known);
        // Enabled for any text: trying an unusable one says what is wrong.
        let can_start = !text.trim().is_empty();
        self.action_set_enabled("new-chat.start", can_start && !imp.busy.get());
        if imp.check_live.get() {
            let problem = if imp.shown.borrow().is_empty() {
                check_bare_jid(&text).err().map(|p| p.user_message())
            } else {
                None
            };
            self.show_error(problem.as_deref());
        }
    }

    fn show_matches(&self, shown: Vec<ContactItem>) {
        let imp = self.imp();
        while let Some(row) = imp.matches.row_at_index(0) {
            imp.matches.remove(&row);
        }
        for contact in &shown {
            imp.matches.append(&match_row(contact));
        }
        imp.matches_box.set_visible(!shown.is_empty());
        imp.shown.replace(shown);
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
        imp.matches.set_sensitive(!busy);
        imp.spinner.set_spinning(busy);
        imp.start_stack
            .set_visible_child_name(if busy { "spinner" } else { "label" });
        self.on_input_changed();
    }

    /// Enter or "Start Chat": a typed address wins; otherwise the best
    /// matching contact.
    fn start(&self) {
        let imp = self.imp();
        if imp.busy.get() {
            return;
        }
        imp.check_live.set(true);
        let text = imp.address_row.text();
        let jid = match check_bare_jid(&text) {
            Ok(jid) => jid.to_lowercase(),
            Err(problem) => match imp.shown.borrow().first() {
                Some(contact) => contact.jid(),
                None => {
                    self.show_error(Some(&problem.user_message()));
                    return;
                }
            },
        };
        let known = self.contacts().iter().any(|c| c.jid() == jid);
        if known || !imp.add_switch.is_active() {
            self.open(&jid);
            return;
        }
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        let account = imp.account.borrow().clone();
        self.show_error(None);
        self.set_busy(true);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = dialog)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::AddContact {
                        account,
                        jid: jid.clone(),
                        name: None,
                        reply,
                    })
                    .await;
                dialog.set_busy(false);
                match result {
                    Ok(()) => dialog.open(&jid),
                    Err(error) => dialog.show_error(Some(&error.user_message())),
                }
            }
        ));
    }

    /// Open (or create) the conversation and close the dialog.
    fn open(&self, jid: &str) {
        let Some(app) = Application::instance() else {
            return;
        };
        let account = self.imp().account.borrow().clone();
        let conversation = app.session().conversation(&account, jid);
        app.main_window()
            .session_view()
            .show_conversation(&conversation);
        self.close();
    }
}

fn match_row(contact: &ContactItem) -> adw::ActionRow {
    let row = adw::ActionRow::builder()
        .title(glib::markup_escape_text(&contact.display_name()).as_str())
        .subtitle(glib::markup_escape_text(&contact.jid()).as_str())
        .activatable(true)
        .build();
    let avatar = Avatar::new();
    avatar.set_size(32);
    avatar.set_text(contact.display_name());
    avatar.set_seed(contact.jid());
    row.add_prefix(&avatar);
    row.add_suffix(&gtk::Image::from_icon_name("go-next-symbolic"));
    row
}

/// Contacts matching `text` (case-insensitive, on the name or the address),
/// best first: the name starting with it, then a word of the name, then
/// anywhere; alphabetical within each. Everyone when nothing is typed.
fn best_matches(text: &str, contacts: &[ContactItem]) -> Vec<ContactItem> {
    let query = text.trim().to_lowercase();
    let mut ranked: Vec<(u8, String, ContactItem)> = contacts
        .iter()
        .filter_map(|c| {
            let name = c.display_name().to_lowercase();
            let rank = match_rank(&query, &name, &c.jid().to_lowercase())?;
            Some((rank, name, c.clone()))
        })
        .collect();
    ranked.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    ranked
        .into_iter()
        .take(MAX_MATCHES)
        .map(|(_, _, c)| c)
        .collect()
}

/// Lower is better; `None`: no match.
fn match_rank(query: &str, name: &str, jid: &str) -> Option<u8> {
    if query.is_empty() {
        return Some(0);
    }
    if name.starts_with(query) || jid.starts_with(query) {
        Some(0)
    } else if name
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| word.starts_with(query))
    {
        Some(1)
    } else if name.contains(query) || jid.contains(query) {
        Some(2)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::match_rank;

    #[test]
    fn names_and_addresses_match_from_the_start_then_anywhere() {
        let jid = "ada.lovelace@example.org";
        assert_eq!(match_rank("", "ada", jid), Some(0));
        assert_eq!(match_rank("ada", "ada lovelace", jid), Some(0));
        assert_eq!(match_rank("love", "ada lovelace", jid), Some(1));
        assert_eq!(match_rank("lace", "ada lovelace", jid), Some(2));
        assert_eq!(match_rank("example", "ada lovelace", jid), Some(2));
        assert_eq!(match_rank("bob", "ada lovelace", jid), None);
    }
}
