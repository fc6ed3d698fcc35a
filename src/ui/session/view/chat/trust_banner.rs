//! The banner above a chat that asks for a trust decision: a device whose
//! key changed (a warning that stays until the user decides about the new
//! key), or new devices that do not get messages until the user decides
//! (ARCHITECTURE.md "Trust": nothing is ever silently accepted).

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use crate::i18n::{gettext, gettext_f, ngettext_f};
use crate::service::{DeviceInfo, Trust};

/// What the banner says, and where "Review" leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub message: String,
    /// `chat.review-devices` (the contact's devices) or `app.preferences`
    /// (the account's own devices).
    pub action: &'static str,
    /// A changed key: shown as a warning, not as news.
    pub warning: bool,
}

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct TrustBanner {
        pub revealer: gtk::Revealer,
        pub title: gtk::Label,
        pub message: gtk::Label,
        pub icon: gtk::Image,
        pub button: gtk::Button,
        pub content: gtk::Box,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for TrustBanner {
        const NAME: &'static str = "SottoTrustBanner";
        type Type = super::TrustBanner;
        type ParentType = adw::Bin;
    }

    impl ObjectImpl for TrustBanner {
        fn constructed(&self) {
            self.parent_constructed();
            self.content.set_spacing(12);
            self.content.add_css_class("connection-banner");
            self.content.add_css_class("trust-banner");
            self.icon.set_valign(gtk::Align::Center);
            let text = gtk::Box::new(gtk::Orientation::Vertical, 0);
            text.set_hexpand(true);
            text.set_valign(gtk::Align::Center);
            for (label, class) in [(&self.title, "heading"), (&self.message, "caption")] {
                label.set_xalign(0.0);
                label.set_wrap(true);
                label.set_wrap_mode(gtk::pango::WrapMode::WordChar);
                label.add_css_class(class);
                text.append(label);
            }
            self.button.set_label(&gettext("_Review"));
            self.button.set_use_underline(true);
            self.button.set_valign(gtk::Align::Center);
            self.content.append(&self.icon);
            self.content.append(&text);
            self.content.append(&self.button);
            self.revealer
                .set_transition_type(gtk::RevealerTransitionType::SlideDown);
            self.revealer.set_child(Some(&self.content));
            self.obj().set_child(Some(&self.revealer));
        }
    }

    impl WidgetImpl for TrustBanner {}
    impl BinImpl for TrustBanner {}
}

glib::wrapper! {
    pub struct TrustBanner(ObjectSubclass<imp::TrustBanner>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl Default for TrustBanner {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl TrustBanner {
    pub fn show(&self, notice: Option<&Notice>) {
        let imp = self.imp();
        imp.revealer.set_reveal_child(notice.is_some());
        let Some(notice) = notice else { return };
        imp.title.set_text(&notice.title);
        imp.message.set_text(&notice.message);
        imp.button.set_action_name(Some(notice.action));
        imp.icon.set_icon_name(Some(if notice.warning {
            "dialog-warning-symbolic"
        } else {
            "security-medium-symbolic"
        }));
        if notice.warning {
            imp.content.add_css_class("error");
        } else {
            imp.content.remove_css_class("error");
        }
    }

    pub fn is_shown(&self) -> bool {
        self.imp().revealer.reveals_child()
    }

    /// The title and message as shown (for tests).
    pub fn text(&self) -> (String, String) {
        let imp = self.imp();
        (imp.title.text().into(), imp.message.text().into())
    }
}

/// What needs the user's decision in a chat with `name`: the contact's
/// devices first (they decide whether the chat is encrypted for them),
/// then our own other devices.
pub fn notice(name: &str, contact: &[DeviceInfo], own: &[DeviceInfo]) -> Option<Notice> {
    let pending = |devices: &[DeviceInfo], changed: bool| -> Vec<u32> {
        devices
            .iter()
            .filter(|d| d.active && !d.own && d.fingerprint.is_some())
            .filter(|d| d.trust == Trust::Undecided && d.identity_changed == changed)
            .map(|d| d.device_id)
            .collect()
    };
    let count = |ids: &[u32]| u32::try_from(ids.len()).unwrap_or(u32::MAX);
    let changed = pending(contact, true);
    if let Some(first) = changed.first() {
        return Some(Notice {
            title: gettext_f("{name}’s encryption key changed", &[("name", name)]),
            message: ngettext_f(
                "Device {id} now has another key. Compare its fingerprint with {name} before trusting it: until you decide, it does not get your messages.",
                "{count} devices now have other keys. Compare their fingerprints with {name} before trusting them: until you decide, they do not get your messages.",
                count(&changed),
                &[
                    ("id", &first.to_string()),
                    ("count", &changed.len().to_string()),
                    ("name", name),
                ],
            ),
            action: "chat.review-devices",
            warning: true,
        });
    }
    let own_changed = pending(own, true);
    if let Some(first) = own_changed.first() {
        return Some(Notice {
            title: gettext("The key of one of your devices changed"),
            message: gettext_f(
                "Your device {id} now has another key. Check it on that device before trusting it: until you decide, it does not get your messages.",
                &[("id", &first.to_string())],
            ),
            action: "app.preferences",
            warning: true,
        });
    }
    let new = pending(contact, false);
    if !new.is_empty() {
        return Some(Notice {
            title: ngettext_f(
                "{name} has a new device",
                "{name} has {count} new devices",
                count(&new),
                &[("name", name), ("count", &new.len().to_string())],
            ),
            message: ngettext_f(
                "It does not get your messages until you decide whether to trust it.",
                "They do not get your messages until you decide whether to trust them.",
                count(&new),
                &[],
            ),
            action: "chat.review-devices",
            warning: false,
        });
    }
    let own_new = pending(own, false);
    if !own_new.is_empty() {
        return Some(Notice {
            title: ngettext_f(
                "You have a new device",
                "You have {count} new devices",
                count(&own_new),
                &[("count", &own_new.len().to_string())],
            ),
            message: ngettext_f(
                "It does not get the messages of your chats until you decide whether to trust it.",
                "They do not get the messages of your chats until you decide whether to trust them.",
                count(&own_new),
                &[],
            ),
            action: "app.preferences",
            warning: false,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: u32, trust: Trust, changed: bool) -> DeviceInfo {
        DeviceInfo {
            jid: "bob@example.org".into(),
            device_id: id,
            namespaces: vec!["omemo2".into()],
            label: None,
            fingerprint: Some("ab".repeat(32)),
            trust,
            active: true,
            own: false,
            last_seen: None,
            identity_changed: changed,
            previous_fingerprint: changed.then(|| "cd".repeat(32)),
        }
    }

    #[test]
    fn a_changed_key_comes_first_and_is_a_warning() {
        let contact = [
            device(1, Trust::Undecided, false),
            device(2, Trust::Undecided, true),
        ];
        let n = notice("Bob", &contact, &[]).unwrap();
        assert!(n.warning);
        assert!(n.message.contains("Device 2"), "{n:?}");
        assert_eq!(n.action, "chat.review-devices");
    }

    #[test]
    fn undecided_devices_are_news_until_decided() {
        let mut contact = vec![
            device(1, Trust::Verified, false),
            device(2, Trust::Undecided, false),
        ];
        let n = notice("Bob", &contact, &[]).unwrap();
        assert!(!n.warning);
        assert!(n.title.contains("Bob has a new device"), "{n:?}");
        contact[1].trust = Trust::Distrusted;
        assert_eq!(notice("Bob", &contact, &[]), None);
    }

    #[test]
    fn own_devices_lead_to_the_account_and_inactive_ones_do_not_count() {
        let mut own = vec![device(5, Trust::Undecided, false)];
        own[0].own = true; // this very device
        let mut other = device(6, Trust::Undecided, false);
        other.active = false;
        own.push(other);
        assert_eq!(notice("Bob", &[], &own), None);
        own[1].active = true;
        let n = notice("Bob", &[], &own).unwrap();
        assert_eq!(n.action, "app.preferences");
        // Without a known key there is nothing to decide yet.
        own[1].fingerprint = None;
        assert_eq!(notice("Bob", &[], &own), None);
    }
}
