//! The sidebar: connection banner, subscription requests, and the roster.

use std::cell::RefCell;

use gtk::prelude::*;
use gtk::subclass::prelude::*;
use gtk::{gio, glib};

use super::{ConnectionBanner, ContactRow, SubscriptionRequestRow};
use crate::ui::session::model::{ContactItem, Presence, Session, SubscriptionRequest};

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/sidebar.ui")]
    #[properties(wrapper_type = super::Sidebar)]
    pub struct Sidebar {
        #[template_child]
        pub header_bar: TemplateChild<adw::HeaderBar>,
        #[template_child]
        pub menu_button: TemplateChild<gtk::MenuButton>,
        #[template_child]
        pub banner: TemplateChild<ConnectionBanner>,
        #[template_child]
        pub requests_revealer: TemplateChild<gtk::Revealer>,
        #[template_child]
        pub requests_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub roster_stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub roster_view: TemplateChild<gtk::ListView>,
        #[property(get, set = Self::set_primary_menu, nullable)]
        pub primary_menu: RefCell<Option<gio::MenuModel>>,
        /// The contact whose details are open.
        #[property(get, nullable)]
        pub selected_contact: RefCell<Option<ContactItem>>,
        pub selection: RefCell<Option<gtk::SingleSelection>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Sidebar {
        const NAME: &'static str = "SottoSidebar";
        type Type = super::Sidebar;
        type ParentType = gtk::Box;

        fn class_init(klass: &mut Self::Class) {
            ConnectionBanner::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for Sidebar {
        fn constructed(&self) {
            self.parent_constructed();
            let factory = gtk::SignalListItemFactory::new();
            factory.connect_setup(|_, item| {
                let item = item.downcast_ref::<gtk::ListItem>().expect("ListItem");
                item.set_child(Some(&ContactRow::new()));
            });
            factory.connect_bind(|_, item| {
                let item = item.downcast_ref::<gtk::ListItem>().expect("ListItem");
                let row = item
                    .child()
                    .and_downcast::<ContactRow>()
                    .expect("ContactRow");
                row.set_contact(item.item().and_downcast::<ContactItem>());
            });
            factory.connect_unbind(|_, item| {
                let item = item.downcast_ref::<gtk::ListItem>().expect("ListItem");
                if let Some(row) = item.child().and_downcast::<ContactRow>() {
                    row.set_contact(None::<ContactItem>);
                }
            });
            self.roster_view.set_factory(Some(&factory));
        }
    }

    impl WidgetImpl for Sidebar {}
    impl BoxImpl for Sidebar {}

    impl Sidebar {
        fn set_primary_menu(&self, menu: Option<gio::MenuModel>) {
            self.menu_button.set_menu_model(menu.as_ref());
            self.primary_menu.replace(menu);
        }
    }
}

glib::wrapper! {
    pub struct Sidebar(ObjectSubclass<imp::Sidebar>)
        @extends gtk::Box, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget, gtk::Orientable;
}

impl Sidebar {
    pub fn set_session(&self, session: &Session) {
        let imp = self.imp();
        imp.banner.set_accounts(&session.accounts());

        // Online people first, then by name, as Dino and Gajim list them.
        let sorter = gtk::CustomSorter::new(|a, b| {
            let (a, b) = (
                a.downcast_ref::<ContactItem>().expect("ContactItem"),
                b.downcast_ref::<ContactItem>().expect("ContactItem"),
            );
            let rank = |c: &ContactItem| u8::from(c.presence() == Presence::Offline);
            rank(a)
                .cmp(&rank(b))
                .then_with(|| {
                    a.display_name()
                        .to_lowercase()
                        .cmp(&b.display_name().to_lowercase())
                })
                .then_with(|| a.jid().cmp(&b.jid()))
                .into()
        });
        let sorted = gtk::SortListModel::new(Some(session.contacts()), Some(sorter.clone()));
        session.connect_contacts_reordered(move |_| sorter.changed(gtk::SorterChange::Different));
        let selection = gtk::SingleSelection::new(Some(sorted));
        selection.set_autoselect(false);
        selection.set_can_unselect(true);
        selection.set_selected(gtk::INVALID_LIST_POSITION);
        selection.connect_selected_item_notify(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |selection| {
                let contact = selection.selected_item().and_downcast::<ContactItem>();
                // Unselecting (going back on a narrow window) keeps the pane.
                if contact.is_some() {
                    sidebar.set_selected_contact(contact);
                }
            }
        ));
        imp.roster_view.set_model(Some(&selection));
        imp.selection.replace(Some(selection));

        let contacts = session.contacts();
        contacts.connect_items_changed(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |contacts, _, _, _| sidebar.on_contacts_changed(contacts)
        ));
        self.on_contacts_changed(&contacts);

        let requests = session.requests();
        imp.requests_list.bind_model(Some(&requests), |item| {
            let request = item
                .downcast_ref::<SubscriptionRequest>()
                .expect("SubscriptionRequest");
            SubscriptionRequestRow::new(request).upcast()
        });
        requests.connect_items_changed(glib::clone!(
            #[weak(rename_to = sidebar)]
            self,
            move |requests, _, _, _| {
                sidebar
                    .imp()
                    .requests_revealer
                    .set_reveal_child(requests.n_items() > 0);
            }
        ));
        imp.requests_revealer
            .set_reveal_child(requests.n_items() > 0);
    }

    pub fn header_bar(&self) -> adw::HeaderBar {
        self.imp().header_bar.get()
    }

    pub fn banner(&self) -> ConnectionBanner {
        self.imp().banner.get()
    }

    /// Select the contact at `position` in the sorted roster.
    pub fn select(&self, position: u32) {
        if let Some(selection) = self.imp().selection.borrow().as_ref() {
            selection.set_selected(position);
        }
    }

    /// Forget the list selection (the details pane keeps its contact).
    pub fn unselect(&self) {
        if let Some(selection) = self.imp().selection.borrow().as_ref() {
            selection.set_selected(gtk::INVALID_LIST_POSITION);
        }
    }

    /// The sorted roster, as shown.
    pub fn roster(&self) -> Option<gio::ListModel> {
        self.imp()
            .selection
            .borrow()
            .as_ref()
            .map(|s| s.clone().upcast())
    }

    fn set_selected_contact(&self, contact: Option<ContactItem>) {
        if *self.imp().selected_contact.borrow() != contact {
            self.imp().selected_contact.replace(contact);
            self.notify_selected_contact();
        }
    }

    fn on_contacts_changed(&self, contacts: &gio::ListStore) {
        let imp = self.imp();
        let page = if contacts.n_items() > 0 {
            "roster"
        } else {
            "empty"
        };
        imp.roster_stack.set_visible_child_name(page);
        // A removed contact's details must not stay on screen.
        let selected = imp.selected_contact.borrow().clone();
        if let Some(selected) = selected
            && contacts.find(&selected).is_none()
        {
            self.set_selected_contact(None);
        }
    }
}
