//! A room as this connection sees it: its features, who is present, the
//! affiliation lists, and from those who gets message keys and whether
//! OMEMO is possible at all.

use std::collections::{BTreeMap, HashMap};

use tokio_xmpp::parsers::jid::BareJid;

use crate::i18n::gettext;
use crate::service::api::{Affiliation, Participant, RoomInfo};

/// What disco#info says about a room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Features {
    pub non_anonymous: bool,
    pub members_only: bool,
    pub public: bool,
    pub persistent: bool,
    pub archived: bool,
    /// The room assigns occupant ids (XEP-0421), so they can be believed.
    pub occupant_ids: bool,
    /// Every occupant may change the subject (`muc#roominfo_changesubject`),
    /// not only moderators.
    pub anyone_sets_subject: bool,
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Occupant {
    pub real: Option<BareJid>,
    pub affiliation: Affiliation,
    pub role: String,
}

/// A room while this connection is in it.
#[derive(Debug, Clone)]
pub(crate) struct Room {
    pub jid: BareJid,
    pub nick: String,
    pub joined: bool,
    pub features: Features,
    /// Present occupants by nickname.
    pub occupants: BTreeMap<String, Occupant>,
    /// Owners, admins and members from the lists, kept current by live
    /// affiliation changes.
    pub affiliations: BTreeMap<BareJid, Affiliation>,
    pub lists_refused: bool,
    pub subject: Option<String>,
    pub own_affiliation: Affiliation,
    pub own_role: Option<String>,
    /// Real JIDs by occupant id (XEP-0421), kept after the occupant left:
    /// a message still names its sender when it is handled late.
    pub occupant_ids: HashMap<String, BareJid>,
    /// The policy allows OMEMO in open, non-anonymous rooms.
    pub encrypt_open: bool,
}

impl Room {
    pub(super) fn new(jid: BareJid, nick: String) -> Room {
        Room {
            jid,
            nick,
            joined: false,
            features: Features::default(),
            occupants: BTreeMap::new(),
            affiliations: BTreeMap::new(),
            lists_refused: false,
            subject: None,
            own_affiliation: Affiliation::None,
            own_role: None,
            occupant_ids: HashMap::new(),
            encrypt_open: false,
        }
    }

    /// `group` where OMEMO is possible, else `channel` (ARCHITECTURE.md:
    /// encryption only where every participant's real JID is known).
    pub fn kind(&self) -> &'static str {
        if self.features.non_anonymous && (self.features.members_only || self.encrypt_open) {
            "group"
        } else {
            "channel"
        }
    }

    /// `None` when messages here can be encrypted, else why not.
    pub fn encryption_refusal(&self) -> Option<String> {
        if !self.features.non_anonymous {
            Some(gettext(
                "This room hides its participants' addresses, so their encryption keys cannot be found.",
            ))
        } else if !self.features.members_only && !self.encrypt_open {
            Some(gettext(
                "Anyone can join this room: it is a public channel, and messages here are not encrypted.",
            ))
        } else {
            None
        }
    }

    /// Everyone who gets message keys: the owners, admins and members,
    /// and whoever is present with a real address and has not been removed.
    pub fn recipients(&self, own: &BareJid) -> Vec<BareJid> {
        let mut all: Vec<BareJid> = self
            .affiliations
            .iter()
            .filter(|(_, a)| a.is_participant())
            .map(|(j, _)| j.clone())
            .collect();
        for o in self.occupants.values() {
            if let Some(real) = &o.real
                && !matches!(o.affiliation, Affiliation::Outcast)
                && (o.affiliation.is_participant() || !self.features.members_only)
            {
                all.push(real.clone());
            }
        }
        all.sort();
        all.dedup();
        all.retain(|j| j != own);
        all
    }

    pub fn real_jid_of(&self, nick: &str) -> Option<BareJid> {
        self.occupants.get(nick).and_then(|o| o.real.clone())
    }

    pub(super) fn info(&self, account: &str, name: Option<String>) -> RoomInfo {
        let mut participants: BTreeMap<String, Participant> = BTreeMap::new();
        for (jid, a) in &self.affiliations {
            participants.insert(
                jid.to_string(),
                Participant {
                    jid: Some(jid.to_string()),
                    nick: None,
                    affiliation: *a,
                    role: None,
                    present: false,
                },
            );
        }
        for (nick, o) in &self.occupants {
            let key = o
                .real
                .as_ref()
                .map(|j| j.to_string())
                .unwrap_or_else(|| format!("/{nick}"));
            let p = participants.entry(key).or_insert(Participant {
                jid: o.real.as_ref().map(|j| j.to_string()),
                nick: None,
                affiliation: o.affiliation,
                role: None,
                present: false,
            });
            p.nick = Some(nick.clone());
            p.role = Some(o.role.clone());
            p.present = true;
            p.affiliation = o.affiliation;
        }
        let refusal = self.encryption_refusal();
        RoomInfo {
            account: account.to_owned(),
            jid: self.jid.to_string(),
            name: name.or_else(|| self.features.name.clone()),
            nick: self.nick.clone(),
            kind: self.kind().to_owned(),
            joined: self.joined,
            subject: self.subject.clone(),
            non_anonymous: self.features.non_anonymous,
            members_only: self.features.members_only,
            public: self.features.public,
            persistent: self.features.persistent,
            archived: self.features.archived,
            encryption_possible: refusal.is_none(),
            encryption_reason: refusal,
            lists_refused: self.lists_refused,
            own_affiliation: self.own_affiliation,
            own_role: self.own_role.clone(),
            subject_changeable: self.joined
                && (self.features.anyone_sets_subject
                    || self.own_role.as_deref() == Some("moderator")),
            participants: participants.into_values().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    fn group() -> Room {
        let mut r = Room::new(jid("team@conf.x"), "me".into());
        r.features.non_anonymous = true;
        r.features.members_only = true;
        r
    }

    #[test]
    fn recipients_are_the_member_lists_and_present_members_minus_self_and_removed() {
        let mut r = group();
        r.affiliations.insert(jid("owner@x"), Affiliation::Owner);
        r.affiliations.insert(jid("alice@x"), Affiliation::Member);
        r.affiliations.insert(jid("me@x"), Affiliation::Member);
        r.occupants.insert(
            "carol".into(),
            Occupant {
                real: Some(jid("carol@x")),
                affiliation: Affiliation::Admin,
                role: "moderator".into(),
            },
        );
        // Present but no longer a member: gets nothing.
        r.occupants.insert(
            "dave".into(),
            Occupant {
                real: Some(jid("dave@x")),
                affiliation: Affiliation::None,
                role: "participant".into(),
            },
        );
        let got = r.recipients(&jid("me@x"));
        assert_eq!(got, vec![jid("alice@x"), jid("carol@x"), jid("owner@x")]);
        assert_eq!(r.kind(), "group");
        assert!(r.encryption_refusal().is_none());
    }

    #[test]
    fn anonymous_and_open_rooms_are_channels_without_encryption() {
        let mut r = group();
        r.features.non_anonymous = false;
        assert_eq!(r.kind(), "channel");
        assert!(r.encryption_refusal().is_some());
        let mut r = group();
        r.features.members_only = false;
        assert_eq!(r.kind(), "channel");
        assert!(r.encryption_refusal().is_some());
        // Unless the user wants OMEMO in open non-anonymous rooms too.
        r.encrypt_open = true;
        assert_eq!(r.kind(), "group");
        assert!(r.encryption_refusal().is_none());
    }
}
