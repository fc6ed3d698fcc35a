//! "Encryption Details" of one message (from its context menu): for a sent
//! message, which devices got the key and which were left out and why; for
//! a received one, from which device, whether it was trusted, and whether
//! this device was among those it was encrypted for.

use adw::prelude::*;
use gtk::glib;
use serde::Deserialize;

use crate::i18n::{gettext, gettext_f, ngettext_f};
use crate::service::{ChatMessage, Command, DeviceInfo, Trust};
use crate::ui::application::Application;
use crate::ui::format;

/// One entry of a sent message's `encryption_info` (as the service writes
/// it; see `Recipient` in service/account/e2e.rs).
#[derive(Debug, Deserialize)]
struct Recipient {
    jid: String,
    device_id: u32,
    namespace: String,
    left_out: Option<String>,
}

/// A received message's `encryption_info`.
#[derive(Debug, Default, Deserialize)]
struct Received {
    #[serde(default)]
    encrypted_for: Vec<u32>,
}

/// The dialog, built at once from what the message carries; the sender's
/// fingerprint and this device's id are filled in when the service answers.
pub fn show(parent: Option<&gtk::Window>, message: &ChatMessage) -> adw::Window {
    let page = adw::PreferencesPage::new();
    let outgoing = message.direction == "out";
    if !message.encrypted {
        let group = adw::PreferencesGroup::builder()
            .title(gettext("Not Encrypted"))
            .description(if outgoing {
                gettext("This message was sent without end-to-end encryption: the servers on its way could read it.")
            } else {
                gettext("This message arrived without end-to-end encryption: the servers on its way could read it.")
            })
            .build();
        page.add(&group);
    } else if outgoing {
        sent_details(&page, message);
    } else {
        received_details(&page, message);
    }

    let header = adw::HeaderBar::new();
    let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
    content.append(&header);
    content.append(&page);
    let window = adw::Window::builder()
        .title(gettext("Encryption Details"))
        .modal(true)
        .default_width(480)
        .default_height(560)
        .content(&content)
        .build();
    window.set_transient_for(parent);
    // Escape closes it, like every dialog.
    let escape = gtk::EventControllerKey::new();
    escape.connect_key_pressed(glib::clone!(
        #[weak]
        window,
        #[upgrade_or]
        glib::Propagation::Proceed,
        move |_, key, _, _| {
            if key == gtk::gdk::Key::Escape {
                window.close();
                glib::Propagation::Stop
            } else {
                glib::Propagation::Proceed
            }
        }
    ));
    window.add_controller(escape);
    window.present();
    window
}

fn namespace_label(namespace: &str) -> String {
    match namespace {
        "omemo0" | "eu.siacs.conversations.axolotl" => "OMEMO 0.3".into(),
        "omemo2" | "urn:xmpp:omemo:2" => "OMEMO 2".into(),
        other => other.into(),
    }
}

fn row(title: &str, subtitle: &str, icon: &str, css: Option<&str>) -> adw::ActionRow {
    let row = adw::ActionRow::builder()
        .title(glib::markup_escape_text(title))
        .subtitle(glib::markup_escape_text(subtitle))
        .build();
    let image = gtk::Image::from_icon_name(icon);
    if let Some(css) = css {
        image.add_css_class(css);
    }
    row.add_prefix(&image);
    row
}

fn sent_details(page: &adw::PreferencesPage, message: &ChatMessage) {
    let recipients: Option<Vec<Recipient>> = message
        .encryption_info
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let Some(recipients) = recipients else {
        page.add(
            &adw::PreferencesGroup::builder()
                .title(gettext("Encrypted"))
                .description(gettext(
                    "Sent with end-to-end encryption. Which devices got the key was not recorded for this message.",
                ))
                .build(),
        );
        return;
    };
    let (got, left): (Vec<&Recipient>, Vec<&Recipient>) =
        recipients.iter().partition(|r| r.left_out.is_none());
    let n = u32::try_from(got.len()).unwrap_or(u32::MAX);
    let sent = adw::PreferencesGroup::builder()
        .title(gettext("Encrypted For"))
        .description(ngettext_f(
            "One device can decrypt it:",
            "These {n} devices can decrypt it:",
            n,
            &[],
        ))
        .build();
    for r in &got {
        sent.add(&row(
            &r.jid,
            &gettext_f(
                "Device {device} · {namespace}",
                &[
                    ("device", &r.device_id.to_string()),
                    ("namespace", &namespace_label(&r.namespace)),
                ],
            ),
            "channel-secure-symbolic",
            Some("success"),
        ));
    }
    if got.is_empty() {
        sent.set_description(Some(&gettext("No device got the key.")));
    }
    page.add(&sent);
    if !left.is_empty() {
        let group = adw::PreferencesGroup::builder()
            .title(gettext("Left Out"))
            .description(gettext(
                "These devices cannot read this message, and trusting them now does not change that.",
            ))
            .build();
        for r in left {
            group.add(&row(
                &r.jid,
                &gettext_f(
                    "Device {device} · {reason}",
                    &[
                        ("device", &r.device_id.to_string()),
                        ("reason", r.left_out.as_deref().unwrap_or_default()),
                    ],
                ),
                "dialog-warning-symbolic",
                Some("warning"),
            ));
        }
        page.add(&group);
    }
}

fn received_details(page: &adw::PreferencesPage, message: &ChatMessage) {
    let sender = message
        .sender
        .split('/')
        .next()
        .unwrap_or(&message.sender)
        .to_owned();
    let group = adw::PreferencesGroup::builder()
        .title(gettext("From"))
        .build();
    let device = message.sender_device;
    let device_row = row(
        &sender,
        &match device {
            Some(d) => gettext_f(
                "Device {device} · {namespace}",
                &[
                    ("device", &d.to_string()),
                    (
                        "namespace",
                        &namespace_label(message.namespace.as_deref().unwrap_or_default()),
                    ),
                ],
            ),
            None => gettext("Unknown device"),
        },
        "phone-symbolic",
        None,
    );
    group.add(&device_row);
    let fingerprint_row = adw::ActionRow::builder()
        .title(gettext("Fingerprint"))
        .subtitle(gettext("Looking it up…"))
        .build();
    fingerprint_row.add_css_class("property");
    group.add(&fingerprint_row);
    let (trust_title, trust_icon, trust_css) = match (message.body.is_some(), message.trusted) {
        (false, _) => (
            gettext_f(
                "Not decrypted: {reason}",
                &[("reason", message.error.as_deref().unwrap_or_default())],
            ),
            "dialog-warning-symbolic",
            "warning",
        ),
        (true, Some(false)) => (
            gettext("The device was not trusted when the message arrived"),
            "dialog-warning-symbolic",
            "warning",
        ),
        (true, _) => (
            gettext("The device was trusted when the message arrived"),
            "channel-secure-symbolic",
            "success",
        ),
    };
    let trust_row = adw::ActionRow::builder()
        .title(glib::markup_escape_text(&trust_title))
        .build();
    let icon = gtk::Image::from_icon_name(trust_icon);
    icon.add_css_class(trust_css);
    trust_row.add_prefix(&icon);
    group.add(&trust_row);
    page.add(&group);

    let received: Received = message
        .encryption_info
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let mut ids = received.encrypted_for.clone();
    ids.sort_unstable();
    let ids_text = ids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let recipients = adw::PreferencesGroup::builder()
        .title(gettext("Encrypted For"))
        .build();
    let ids_row = adw::ActionRow::builder()
        .title(ngettext_f(
            "{n} device",
            "{n} devices",
            u32::try_from(ids.len()).unwrap_or(u32::MAX),
            &[],
        ))
        .subtitle(if ids_text.is_empty() {
            gettext("Not recorded")
        } else {
            ids_text
        })
        .css_classes(["property"])
        .build();
    recipients.add(&ids_row);
    let this_row = adw::ActionRow::builder()
        .title(gettext("This Device"))
        .subtitle(gettext("Looking it up…"))
        .build();
    recipients.add(&this_row);
    page.add(&recipients);

    // The sender's key and this device's id come from the service.
    let Some(service) = Application::instance().and_then(|a| a.service()) else {
        fingerprint_row.set_subtitle(&gettext("Unknown"));
        this_row.set_subtitle(&gettext("Unknown"));
        return;
    };
    let account = message.account.clone();
    glib::spawn_future_local(async move {
        let theirs = service
            .request(|reply| Command::Devices {
                account: account.clone(),
                jid: sender.clone(),
                reply,
            })
            .await
            .unwrap_or_default();
        let own = service
            .request(|reply| Command::Devices {
                account: account.clone(),
                jid: account.clone(),
                reply,
            })
            .await
            .unwrap_or_default();
        let sender_device: Option<&DeviceInfo> =
            device.and_then(|id| theirs.iter().find(|d| d.device_id == id));
        fingerprint_row.set_subtitle(&glib::markup_escape_text(&match sender_device
            .and_then(|d| d.fingerprint.as_deref())
        {
            Some(f) => {
                let trust = sender_device.map(|d| d.trust).unwrap_or(Trust::Undecided);
                gettext_f(
                    "{fingerprint}\nNow: {trust}",
                    &[
                        ("fingerprint", &format::fingerprint(f)),
                        ("trust", &trust_label(trust)),
                    ],
                )
            }
            None => gettext("Not known: the device is not in the contact's published list"),
        }));
        this_row.set_subtitle(&glib::markup_escape_text(&match own.iter().find(|d| d.own) {
            Some(me) if ids.contains(&me.device_id) => gettext_f(
                "Device {device} was among them",
                &[("device", &me.device_id.to_string())],
            ),
            Some(me) => gettext_f(
                "Device {device} was not among them: the sender's client did not trust or know it",
                &[("device", &me.device_id.to_string())],
            ),
            None => gettext("Unknown"),
        }));
    });
}

fn trust_label(trust: Trust) -> String {
    match trust {
        Trust::Verified => gettext("verified"),
        Trust::Blind => gettext("trusted without verification"),
        Trust::Undecided => gettext("not decided"),
        Trust::Distrusted => gettext("not trusted"),
    }
}
