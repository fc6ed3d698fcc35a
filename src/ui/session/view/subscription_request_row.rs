//! Someone asks to see our status: accept or decline.

use std::cell::RefCell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use crate::i18n::gettext_f;
use crate::service::Command;
use crate::ui::application::Application;
use crate::ui::components::Avatar;
use crate::ui::session::model::SubscriptionRequest;

mod imp {
    use super::*;

    #[derive(Debug, Default, gtk::CompositeTemplate)]
    #[template(resource = "/im/sotto/Sotto/ui/session/view/subscription_request_row.ui")]
    pub struct SubscriptionRequestRow {
        #[template_child]
        pub avatar: TemplateChild<Avatar>,
        pub request: RefCell<Option<SubscriptionRequest>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SubscriptionRequestRow {
        const NAME: &'static str = "SottoSubscriptionRequestRow";
        type Type = super::SubscriptionRequestRow;
        type ParentType = adw::ActionRow;

        fn class_init(klass: &mut Self::Class) {
            Avatar::ensure_type();
            klass.bind_template();
            klass.install_action("request.accept", None, |row, _, _| row.answer(true));
            klass.install_action("request.decline", None, |row, _, _| row.answer(false));
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for SubscriptionRequestRow {}
    impl WidgetImpl for SubscriptionRequestRow {}
    impl ListBoxRowImpl for SubscriptionRequestRow {}
    impl PreferencesRowImpl for SubscriptionRequestRow {}
    impl ActionRowImpl for SubscriptionRequestRow {}
}

glib::wrapper! {
    pub struct SubscriptionRequestRow(ObjectSubclass<imp::SubscriptionRequestRow>)
        @extends adw::ActionRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl SubscriptionRequestRow {
    pub fn new(request: &SubscriptionRequest) -> Self {
        let row: Self = glib::Object::new();
        let jid = request.jid();
        row.set_title(&glib::markup_escape_text(&jid));
        let imp = row.imp();
        imp.avatar.set_text(jid.split('@').next().unwrap_or(&jid));
        imp.avatar.set_seed(jid.as_str());
        imp.request.replace(Some(request.clone()));
        row
    }

    pub fn request(&self) -> Option<SubscriptionRequest> {
        self.imp().request.borrow().clone()
    }

    fn answer(&self, accept: bool) {
        let Some(request) = self.request() else {
            return;
        };
        let Some(app) = Application::instance() else {
            return;
        };
        let Some(service) = app.service() else { return };
        self.set_sensitive(false);
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = row)]
            self,
            async move {
                let (account, jid) = (request.account(), request.jid());
                let result = service
                    .request(|reply| Command::AnswerSubscription {
                        account: account.clone(),
                        jid: jid.clone(),
                        accept,
                        reply,
                    })
                    .await;
                match result {
                    Ok(()) => app.session().drop_request(&account, &jid),
                    Err(error) => {
                        row.set_sensitive(true);
                        let message = gettext_f(
                            "Could not answer {address}: {reason}",
                            &[("address", &jid), ("reason", &error.user_message())],
                        );
                        app.main_window().add_toast(&message);
                    }
                }
            }
        ));
    }
}
