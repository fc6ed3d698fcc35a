//! The participants of a room as rows: who they are, their affiliation
//! and role, a way to their devices, and the menu of what we may do to
//! each (XEP-0045 §8–9).

use adw::prelude::*;
use gtk::{gio, glib};

use crate::i18n::{gettext, gettext_f};
use crate::service::{Affiliation, Participant, RoomInfo};
use crate::ui::components::Avatar;

/// What a participant is called: their nick, else their address.
pub(super) fn participant_name(p: &Participant) -> String {
    p.nick.clone().or_else(|| p.jid.clone()).unwrap_or_default()
}

fn affiliation_label(affiliation: Affiliation) -> String {
    match affiliation {
        Affiliation::Owner => gettext("Owner"),
        Affiliation::Admin => gettext("Admin"),
        Affiliation::Member => gettext("Member"),
        Affiliation::None => gettext("Guest"),
        Affiliation::Outcast => gettext("Banned"),
    }
}

fn role_label(role: Option<&str>) -> Option<String> {
    Some(match role? {
        "moderator" => gettext("Moderator"),
        "participant" => gettext("Participant"),
        "visitor" => gettext("Visitor (cannot write)"),
        _ => return None,
    })
}

pub(super) fn participant_row(info: &RoomInfo, p: &Participant) -> adw::ActionRow {
    let is_self = p.present && p.nick.as_deref() == Some(info.nick.as_str());
    let name = participant_name(p);
    let title = if is_self {
        gettext_f("{name} (you)", &[("name", &name)])
    } else {
        name.clone()
    };
    let mut facts = Vec::new();
    if let Some(jid) = &p.jid
        && Some(jid) != p.nick.as_ref()
    {
        facts.push(jid.clone());
    }
    facts.push(affiliation_label(p.affiliation));
    if p.present {
        facts.push(role_label(p.role.as_deref()).unwrap_or_else(|| gettext("Present")));
    } else {
        facts.push(gettext("Not present"));
    }
    let row = adw::ActionRow::builder()
        .title(glib::markup_escape_text(&title).as_str())
        .subtitle(glib::markup_escape_text(&facts.join(" · ")).as_str())
        .build();
    row.set_widget_name(p.jid.as_deref().or(p.nick.as_deref()).unwrap_or_default());
    let avatar = Avatar::new();
    avatar.set_size(32);
    avatar.set_text(name.as_str());
    avatar.set_seed(p.jid.as_deref().unwrap_or(name.as_str()));
    if !p.present {
        avatar.set_opacity(0.5);
    }
    row.add_prefix(&avatar);

    // A real address leads to the devices (and their trust) of that person.
    if let Some(jid) = &p.jid
        && !is_self
        && info.kind == "group"
    {
        row.set_activatable(true);
        row.set_action_name(Some("room.devices"));
        row.set_action_target_value(Some(&jid.to_variant()));
        row.set_tooltip_text(Some(&gettext("Show devices and trust")));
        row.add_suffix(&gtk::Image::from_icon_name("go-next-symbolic"));
    }

    if !is_self && let Some(menu) = participant_menu(info, p) {
        let button = gtk::MenuButton::builder()
            .icon_name("view-more-symbolic")
            .menu_model(&menu)
            .valign(gtk::Align::Center)
            .tooltip_text(gettext("Manage Participant"))
            .css_classes(["flat"])
            .build();
        row.add_suffix(&button);
    }
    row
}

/// What we may do to `p` (XEP-0045 §9 and §8.2): owners everything to
/// everyone but owners, admins only to members and guests; moderators
/// kick those present.
fn participant_menu(info: &RoomInfo, p: &Participant) -> Option<gio::Menu> {
    let menu = gio::Menu::new();
    let may_change = match info.own_affiliation {
        Affiliation::Owner => p.affiliation != Affiliation::Owner,
        Affiliation::Admin => matches!(
            p.affiliation,
            Affiliation::Member | Affiliation::None | Affiliation::Outcast
        ),
        _ => false,
    };
    if may_change && let Some(jid) = &p.jid {
        let target = jid.to_variant();
        let item = |label: &str, action: &str| {
            let item = gio::MenuItem::new(Some(label), None);
            item.set_action_and_target_value(Some(action), Some(&target));
            item
        };
        if p.affiliation != Affiliation::Member {
            menu.append_item(&item(&gettext("Make _Member"), "room.make-member"));
        }
        if p.affiliation != Affiliation::None && p.affiliation != Affiliation::Outcast {
            menu.append_item(&item(
                &gettext("_Remove from Members…"),
                "room.remove-member",
            ));
        }
        if p.affiliation != Affiliation::Outcast {
            menu.append_item(&item(&gettext("_Ban…"), "room.ban"));
        }
    }
    let moderator = info.own_role.as_deref() == Some("moderator");
    if moderator
        && p.present
        && p.affiliation != Affiliation::Owner
        && let Some(nick) = &p.nick
    {
        let item = gio::MenuItem::new(Some(&gettext("_Kick")), None);
        item.set_action_and_target_value(Some("room.kick"), Some(&nick.to_variant()));
        menu.append_item(&item);
    }
    (menu.n_items() > 0).then_some(menu)
}
