//! The signed-in view: roster sidebar and details pane in a leaflet that
//! folds into one pane at a time on narrow windows (down to 360 px).

use std::cell::{Cell, RefCell};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};

use super::{ContactDetails, Sidebar};
use crate::ui::session::model::{ContactItem, Session};

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate, glib::Properties)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/session_view.ui")]
    #[properties(wrapper_type = super::SessionView)]
    pub struct SessionView {
        #[template_child]
        pub leaflet: TemplateChild<adw::Leaflet>,
        #[template_child]
        pub sidebar: TemplateChild<Sidebar>,
        #[template_child]
        pub details: TemplateChild<ContactDetails>,
        #[property(get, set = Self::set_primary_menu, nullable)]
        pub primary_menu: RefCell<Option<gio::MenuModel>>,
        pub loaded: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SessionView {
        const NAME: &'static str = "SottoSessionView";
        type Type = super::SessionView;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            Sidebar::ensure_type();
            ContactDetails::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    #[glib::derived_properties]
    impl ObjectImpl for SessionView {
        fn constructed(&self) {
            self.parent_constructed();
            let view = self.obj();
            let leaflet = &*self.leaflet;
            // Title buttons only at the window's edges; back only when folded.
            leaflet
                .bind_property(
                    "folded",
                    &self.sidebar.header_bar(),
                    "show-end-title-buttons",
                )
                .sync_create()
                .build();
            leaflet
                .bind_property(
                    "folded",
                    &self.details.header_bar(),
                    "show-start-title-buttons",
                )
                .sync_create()
                .build();
            leaflet
                .bind_property("folded", &self.details.back_button(), "visible")
                .sync_create()
                .build();
            self.sidebar.connect_selected_contact_notify(glib::clone!(
                #[weak]
                view,
                move |sidebar| view.show_contact(sidebar.selected_contact())
            ));
            self.details.connect_back(glib::clone!(
                #[weak]
                view,
                move |_| view.go_back()
            ));
            leaflet.connect_visible_child_notify(glib::clone!(
                #[weak]
                view,
                move |leaflet| {
                    // Back on the list when folded: clear the selection so
                    // tapping the same contact opens it again.
                    let imp = view.imp();
                    if leaflet.is_folded()
                        && leaflet.visible_child().as_ref() == Some(imp.sidebar.upcast_ref())
                    {
                        imp.sidebar.unselect();
                    }
                }
            ));
        }
    }

    impl WidgetImpl for SessionView {}
    impl BinImpl for SessionView {}

    impl SessionView {
        fn set_primary_menu(&self, menu: Option<gio::MenuModel>) {
            self.sidebar.set_primary_menu(menu.clone());
            self.primary_menu.replace(menu);
        }
    }
}

glib::wrapper! {
    pub struct SessionView(ObjectSubclass<imp::SessionView>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl SessionView {
    pub fn set_session(&self, session: &Session) {
        self.imp().sidebar.set_session(session);
    }

    pub fn set_loaded(&self, loaded: bool) {
        self.imp().loaded.set(loaded);
    }

    pub fn is_loaded(&self) -> bool {
        self.imp().loaded.get()
    }

    pub fn sidebar(&self) -> Sidebar {
        self.imp().sidebar.get()
    }

    pub fn details(&self) -> ContactDetails {
        self.imp().details.get()
    }

    pub fn is_folded(&self) -> bool {
        self.imp().leaflet.is_folded()
    }

    /// Whether the details pane is what a narrow window shows.
    pub fn shows_details(&self) -> bool {
        let imp = self.imp();
        imp.leaflet.visible_child().as_ref() == Some(imp.details.upcast_ref())
    }

    fn show_contact(&self, contact: Option<ContactItem>) {
        let imp = self.imp();
        let has_contact = contact.is_some();
        imp.details.set_contact(contact);
        if has_contact {
            imp.leaflet.set_visible_child(&*imp.details);
        } else {
            self.go_back();
        }
    }

    fn go_back(&self) {
        let imp = self.imp();
        imp.leaflet.set_visible_child(&*imp.sidebar);
    }
}
