//! Pick contacts from the roster: a search field over a checkable list
//! (the members of a new group, the people to invite into a room).

use std::cell::RefCell;
use std::rc::Rc;

use adw::prelude::*;
use gtk::glib;

use crate::i18n::gettext;
use crate::ui::application::Application;
use crate::ui::components::Avatar;
use crate::ui::session::model::ContactItem;

#[derive(Debug, Clone)]
pub struct MemberPicker {
    /// The search field and the list, to put into a form.
    pub widget: gtk::Box,
    pub search: gtk::SearchEntry,
    pub list: gtk::ListBox,
    checks: Rc<RefCell<Vec<(String, gtk::CheckButton)>>>,
}

impl MemberPicker {
    /// The contacts of `account`, minus `exclude` (those already in).
    pub fn new(account: &str, exclude: &[String]) -> Self {
        let mut contacts: Vec<ContactItem> = Application::instance()
            .map(|app| {
                app.session()
                    .contacts()
                    .iter::<ContactItem>()
                    .flatten()
                    .filter(|c| c.account() == account && !exclude.contains(&c.jid()))
                    .collect()
            })
            .unwrap_or_default();
        contacts.sort_by_key(|c| c.display_name().to_lowercase());

        let search = gtk::SearchEntry::builder()
            .placeholder_text(gettext("Search contacts"))
            .build();
        let list = gtk::ListBox::builder()
            .selection_mode(gtk::SelectionMode::None)
            .css_classes(["boxed-list"])
            .build();
        let placeholder = gtk::Label::builder()
            .label(gettext("No contacts match"))
            .margin_top(12)
            .margin_bottom(12)
            .css_classes(["dim-label"])
            .build();
        list.set_placeholder(Some(&placeholder));
        let mut checks = Vec::new();
        for contact in &contacts {
            let name = contact.display_name();
            let jid = contact.jid();
            let check = gtk::CheckButton::builder()
                .valign(gtk::Align::Center)
                .build();
            let row = adw::ActionRow::builder()
                .title(glib::markup_escape_text(&name).as_str())
                .subtitle(glib::markup_escape_text(&jid).as_str())
                .activatable_widget(&check)
                .build();
            row.set_widget_name(&jid);
            let avatar = Avatar::new();
            avatar.set_size(32);
            avatar.set_text(name.as_str());
            avatar.set_seed(jid.as_str());
            row.add_prefix(&check);
            row.add_prefix(&avatar);
            list.append(&row);
            checks.push((jid, check));
        }
        let keys: Vec<String> = contacts
            .iter()
            .map(|c| format!("{} {}", c.display_name(), c.jid()).to_lowercase())
            .collect();
        let filter_search = search.clone();
        list.set_filter_func(move |row| {
            let query = filter_search.text().trim().to_lowercase();
            let index = usize::try_from(row.index()).unwrap_or(0);
            query.is_empty() || keys.get(index).is_some_and(|k| k.contains(&query))
        });
        search.connect_search_changed(glib::clone!(
            #[weak]
            list,
            move |_| list.invalidate_filter()
        ));
        let widget = gtk::Box::new(gtk::Orientation::Vertical, 12);
        widget.append(&search);
        widget.append(&list);
        Self {
            widget,
            search,
            list,
            checks: Rc::new(RefCell::new(checks)),
        }
    }

    /// Whether the roster had anyone to offer.
    pub fn is_empty(&self) -> bool {
        self.checks.borrow().is_empty()
    }

    /// The addresses ticked, in roster order.
    pub fn selected(&self) -> Vec<String> {
        self.checks
            .borrow()
            .iter()
            .filter(|(_, check)| check.is_active())
            .map(|(jid, _)| jid.clone())
            .collect()
    }

    /// Tick `jid` (tests, and a preselection).
    pub fn select(&self, jid: &str) {
        for (candidate, check) in self.checks.borrow().iter() {
            if candidate == jid {
                check.set_active(true);
            }
        }
    }

    /// Run `f` whenever the ticks change.
    pub fn connect_changed(&self, f: impl Fn() + 'static) {
        let f = Rc::new(f);
        for (_, check) in self.checks.borrow().iter() {
            let f = f.clone();
            check.connect_toggled(move |_| f());
        }
    }
}
