//! The encryption section of a contact: every OMEMO device with its
//! fingerprint and a trust control (ARCHITECTURE.md "Trust"). Trust is
//! per device; it decides who gets the keys of the next message.

use std::cell::RefCell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

use crate::i18n::{gettext, gettext_f};
use crate::service::{Command, DeviceInfo, Trust};
use crate::ui::application::Application;
use crate::ui::components::confirm_removal;
use crate::ui::format;

mod imp {
    use super::*;

    #[derive(Debug, Default)]
    pub struct DeviceList {
        /// `(account, jid, name)` of whose devices these are.
        pub owner: RefCell<Option<(String, String, String)>>,
        pub rows: RefCell<Vec<gtk::Widget>>,
        pub devices: RefCell<Vec<DeviceInfo>>,
        pub devices_changed:
            RefCell<Option<(crate::ui::session::model::Session, glib::SignalHandlerId)>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for DeviceList {
        const NAME: &'static str = "SottoDeviceList";
        type Type = super::DeviceList;
        type ParentType = adw::PreferencesGroup;
    }

    impl ObjectImpl for DeviceList {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.set_title(&gettext("Encryption"));
            // Trust set elsewhere (the CLI, another window), a new device
            // or a changed key: what is shown must not go stale.
            if let Some(app) = Application::instance() {
                let session = app.session();
                let handler = session.connect_devices_changed(glib::clone!(
                    #[weak]
                    obj,
                    move |_, account, jid| {
                        if obj.is_for(account, jid) {
                            obj.refresh();
                        }
                    }
                ));
                self.devices_changed.replace(Some((session, handler)));
            }
        }

        fn dispose(&self) {
            if let Some((session, handler)) = self.devices_changed.take() {
                session.disconnect(handler);
            }
        }
    }

    impl WidgetImpl for DeviceList {}
    impl PreferencesGroupImpl for DeviceList {}
}

glib::wrapper! {
    pub struct DeviceList(ObjectSubclass<imp::DeviceList>)
        @extends adw::PreferencesGroup, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl Default for DeviceList {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl DeviceList {
    /// The devices as last shown.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.imp().devices.borrow().clone()
    }

    /// Show the devices of `jid` (fetched from the service).
    pub fn load(&self, account: &str, jid: &str, name: &str) {
        let imp = self.imp();
        imp.owner
            .replace(Some((account.to_owned(), jid.to_owned(), name.to_owned())));
        let description = if account == jid {
            self.set_title(&gettext("Your Devices"));
            gettext(
                "Your other devices get the messages of your chats only if you trust them. Compare a fingerprint with the one that device shows for itself. Remove a device you no longer have, so that nobody encrypts for it any more.",
            )
        } else {
            gettext_f(
                "Messages are encrypted only for devices you trust. Compare the fingerprints with {name}, in person or on a call, and mark the ones that match as verified. Trust counts from the next message on.",
                &[("name", name)],
            )
        };
        self.set_description(Some(&glib::markup_escape_text(&description)));
        self.show(Vec::new(), Some(&gettext("Looking for devices…")));
        self.refresh();
    }

    /// Fetch again (after a trust change elsewhere).
    pub fn refresh(&self) {
        let Some((account, jid, _)) = self.imp().owner.borrow().clone() else {
            return;
        };
        let Some(service) = Application::instance().and_then(|a| a.service()) else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = list)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::Devices {
                        account: account.clone(),
                        jid: jid.clone(),
                        reply,
                    })
                    .await;
                if !list.is_for(&account, &jid) {
                    return;
                }
                match result {
                    Ok(devices) => list.show(devices, None),
                    Err(error) => list.show(Vec::new(), Some(&error.user_message())),
                }
            }
        ));
    }

    fn is_for(&self, account: &str, jid: &str) -> bool {
        self.imp()
            .owner
            .borrow()
            .as_ref()
            .is_some_and(|(a, j, _)| a == account && j == jid)
    }

    fn show(&self, mut devices: Vec<DeviceInfo>, message: Option<&str>) {
        let imp = self.imp();
        for row in imp.rows.take() {
            self.remove(&row);
        }
        // This device, then active ones, then by id, so the list does not
        // jump around.
        devices.sort_by_key(|d| (!d.own, !d.active, d.device_id));
        let name = imp
            .owner
            .borrow()
            .as_ref()
            .map(|(_, _, n)| n.clone())
            .unwrap_or_default();
        let mut rows: Vec<gtk::Widget> = Vec::new();
        if devices.is_empty() {
            let text = message.map(str::to_owned).unwrap_or_else(|| {
                gettext_f(
                    "{name} has no device that supports OMEMO encryption, so messages to them cannot be encrypted.",
                    &[("name", &name)],
                )
            });
            let row = adw::ActionRow::builder()
                .title(glib::markup_escape_text(&text).as_str())
                .build();
            row.add_css_class("dim-label");
            rows.push(row.upcast());
        }
        for device in &devices {
            rows.push(self.device_row(device).upcast());
        }
        if let Some((account, jid, _)) = imp.owner.borrow().as_ref() {
            rows.push(qr_row(account == jid, &name).upcast());
        }
        for row in &rows {
            self.add(row);
        }
        imp.rows.replace(rows);
        imp.devices.replace(devices);
    }

    fn device_row(&self, device: &DeviceInfo) -> adw::ActionRow {
        let title = match &device.label {
            Some(label) if !label.trim().is_empty() => gettext_f(
                "{label} ({id})",
                &[
                    ("label", label.trim()),
                    ("id", &device.device_id.to_string()),
                ],
            ),
            _ => gettext_f("Device {id}", &[("id", &device.device_id.to_string())]),
        };
        let title = if device.active {
            title
        } else {
            gettext_f("{device} — no longer in use", &[("device", &title)])
        };
        let mut fingerprint = match &device.fingerprint {
            Some(hex) => format!(
                "<tt>{}</tt>",
                glib::markup_escape_text(&format::fingerprint(hex))
            ),
            None => glib::markup_escape_text(&gettext("Fingerprint not known yet")).to_string(),
        };
        if device.own {
            fingerprint = format!(
                "{}\n{fingerprint}",
                glib::markup_escape_text(&gettext("This device"))
            );
        }
        // Never silent: the old key is shown so the change can be checked.
        if device.identity_changed {
            let previous = device
                .previous_fingerprint
                .as_deref()
                .map(format::fingerprint)
                .unwrap_or_default();
            fingerprint = format!(
                "<b>{}</b>\n{fingerprint}\n{}",
                glib::markup_escape_text(&gettext(
                    "The key of this device changed. Decide whether to trust the new key."
                )),
                glib::markup_escape_text(&gettext_f(
                    "Before: {fingerprint}",
                    &[("fingerprint", &previous)]
                )),
            );
        }
        let row = adw::ActionRow::builder()
            .title(glib::markup_escape_text(&title).as_str())
            .subtitle(fingerprint.as_str())
            .build();
        row.add_css_class("device-row");
        if !device.active {
            row.add_css_class("dim-label");
        }
        if device.identity_changed {
            row.add_css_class("identity-changed");
            let icon = gtk::Image::from_icon_name("dialog-warning-symbolic");
            icon.add_css_class("warning");
            icon.set_tooltip_text(Some(&gettext("Key changed")));
            row.add_prefix(&icon);
        }
        if device.own {
            // This device is trusted by definition; there is nothing to change.
            return row;
        }
        row.add_suffix(&self.trust_button(device));
        if self.is_own_list() && device.active {
            row.add_suffix(&self.remove_button(device));
        }
        row
    }

    fn is_own_list(&self) -> bool {
        self.imp()
            .owner
            .borrow()
            .as_ref()
            .is_some_and(|(account, jid, _)| account == jid)
    }

    /// Remove one of our devices from the published list (a lost phone).
    fn remove_button(&self, device: &DeviceInfo) -> gtk::Button {
        let button = gtk::Button::builder()
            .icon_name("user-trash-symbolic")
            .valign(gtk::Align::Center)
            // Screen readers name an icon button by its tooltip.
            .tooltip_text(gettext_f(
                "Remove Device {id}…",
                &[("id", &device.device_id.to_string())],
            ))
            .build();
        button.add_css_class("flat");
        button.add_css_class("remove-device");
        let device_id = device.device_id;
        button.connect_clicked(glib::clone!(
            #[weak(rename_to = list)]
            self,
            move |_| list.confirm_remove(device_id)
        ));
        button
    }

    fn confirm_remove(&self, device_id: u32) {
        let parent = self.root().and_downcast::<gtk::Window>();
        confirm_removal(
            parent.as_ref(),
            &gettext("Remove Device?"),
            &gettext_f(
                "Device {id} will be taken off your device list: your contacts and your other devices stop encrypting for it, so it cannot read new messages. If you still have it, it adds itself again the next time it goes online.",
                &[("id", &device_id.to_string())],
            ),
            glib::clone!(
                #[weak(rename_to = list)]
                self,
                move || list.remove_device(device_id)
            ),
        );
    }

    pub fn remove_device(&self, device_id: u32) {
        let Some((account, _, _)) = self.imp().owner.borrow().clone() else {
            return;
        };
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = list)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::RemoveOwnDevice {
                        account,
                        device_id,
                        reply,
                    })
                    .await;
                match result {
                    Ok(()) => list.refresh(),
                    Err(error) => list.toast(&error.user_message()),
                }
            }
        ));
    }

    /// In whichever window shows the list (the main window or Preferences).
    fn toast(&self, message: &str) {
        let text = glib::markup_escape_text(message);
        match self.root() {
            Some(root) if root.is::<adw::PreferencesWindow>() => {
                if let Some(window) = root.downcast_ref::<adw::PreferencesWindow>() {
                    window.add_toast(adw::Toast::new(&text));
                }
            }
            _ => {
                if let Some(app) = Application::instance() {
                    app.main_window().add_toast(message);
                }
            }
        }
    }

    /// The device's trust as a clear control: its state on the button,
    /// the choices in its popover.
    fn trust_button(&self, device: &DeviceInfo) -> gtk::MenuButton {
        let (label, class) = trust_label(device.trust);
        let button = gtk::MenuButton::builder()
            .label(label.as_str())
            .valign(gtk::Align::Center)
            .tooltip_text(gettext("Change trust"))
            .build();
        button.add_css_class("trust-button");
        button.add_css_class(class);
        let choices = gtk::Box::new(gtk::Orientation::Vertical, 0);
        let popover = gtk::Popover::builder().child(&choices).build();
        for (trust, text) in [
            (
                Trust::Verified,
                gettext("_Verified: the fingerprint matches"),
            ),
            (Trust::Blind, gettext("_Trusted without verifying")),
            (
                Trust::Distrusted,
                gettext("_Not trusted: never encrypt for it"),
            ),
        ] {
            let choice = gtk::Button::builder()
                .label(text.as_str())
                .use_underline(true)
                .sensitive(trust != device.trust && device.fingerprint.is_some())
                .build();
            choice.add_css_class("flat");
            if let Some(label) = choice.child().and_downcast::<gtk::Label>() {
                label.set_xalign(0.0);
            }
            let fingerprint = device.fingerprint.clone().unwrap_or_default();
            choice.connect_clicked(glib::clone!(
                #[weak(rename_to = list)]
                self,
                #[weak]
                popover,
                move |_| {
                    popover.popdown();
                    list.set_trust(&fingerprint, trust);
                }
            ));
            choices.append(&choice);
        }
        button.set_popover(Some(&popover));
        button
    }

    /// Record a decision; the row shows the service's answer.
    pub fn set_trust(&self, fingerprint: &str, trust: Trust) {
        let Some((account, jid, _)) = self.imp().owner.borrow().clone() else {
            return;
        };
        let Some(service) = Application::instance().and_then(|app| app.service()) else {
            return;
        };
        let fingerprint = fingerprint.to_owned();
        glib::spawn_future_local(glib::clone!(
            #[weak(rename_to = list)]
            self,
            async move {
                let result = service
                    .request(|reply| Command::SetTrust {
                        account,
                        jid,
                        fingerprint,
                        trust,
                        reply,
                    })
                    .await;
                match result {
                    // Deciding for one device can change others (BTBV).
                    Ok(_) => list.refresh(),
                    Err(error) => list.toast(&error.user_message()),
                }
            }
        ));
    }
}

/// What the trust button says, and its style class.
/// Verifying by QR code starts here too (issue 7): scan a contact's code,
/// or show this account's to another own device.
fn qr_row(own: bool, name: &str) -> adw::ActionRow {
    let (title, subtitle, action) = if own {
        (
            gettext("Show My QR Code"),
            gettext("Let another of your devices scan it"),
            "win.show-qr",
        )
    } else {
        (
            gettext("Scan QR Code…"),
            gettext_f("Verify {name}’s devices from their code", &[("name", name)]),
            "win.scan-qr",
        )
    };
    let row = adw::ActionRow::builder()
        .title(glib::markup_escape_text(&title).as_str())
        .subtitle(glib::markup_escape_text(&subtitle).as_str())
        .activatable(true)
        .action_name(action)
        .build();
    row.add_suffix(&gtk::Image::from_icon_name("go-next-symbolic"));
    row
}

pub fn trust_label(trust: Trust) -> (String, &'static str) {
    match trust {
        Trust::Verified => (gettext("Verified"), "success"),
        Trust::Blind => (gettext("Trusted, not verified"), "trust-blind"),
        Trust::Undecided => (gettext("Undecided"), "warning"),
        Trust::Distrusted => (gettext("Not trusted"), "error"),
    }
}
