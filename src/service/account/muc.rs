//! Group chats and channels (XEP-0045): joining (with the room archive
//! caught up first, XEP-0313), creating members-only non-anonymous rooms,
//! tracking who takes part from the affiliation lists and live presences,
//! OMEMO to all of them, reflections, bookmarks (XEP-0402) and
//! invitations (XEP-0249). ARCHITECTURE.md "Group chats".

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;

use super::Account;
use super::chat::Origin;
use crate::i18n::{gettext, gettext_f};
use crate::omemo::EncryptedMessage;
use crate::service::api::{Affiliation, ChatMessage, Event, RoomInfo, ServiceError};
use crate::store::RoomRow;
use crate::store::messages::{Direction, Encryption, Inserted, MessageState, NewMessage};
use crate::xmpp::link::{self, IqError};

const NS_MUC: &str = "http://jabber.org/protocol/muc";
const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
const NS_DATA: &str = "jabber:x:data";
const NS_CONFERENCE: &str = "jabber:x:conference";
const NS_BOOKMARKS2: &str = "urn:xmpp:bookmarks:1";
const NS_SID: &str = "urn:xmpp:sid:0";
const NS_OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Archive pages on rejoin; the first join looks back this far only.
const ROOM_MAM_PAGE: usize = 250;
const FIRST_JOIN_BACKLOG: usize = 100;

macro_rules! nc {
    ($s:literal) => {
        xmpp_parsers::minidom::rxml::xml_ncname!($s).to_owned()
    };
}
pub(crate) use nc;

mod bookmarks;
mod manage;
mod room;

pub(crate) use bookmarks::BookmarkStore;
pub(crate) use room::{Features, Occupant, Room};

/// Group chat state of one connection besides the rooms themselves.
#[derive(Debug, Default)]
pub(crate) struct Session {
    pub bookmarks: BookmarkStore,
    /// The server's group chat service, once found.
    pub conference: Option<Jid>,
}

fn muc_user(p: &[Element]) -> Option<&Element> {
    p.iter().find(|x| x.is("x", ns::MUC_USER))
}

/// The room-assigned occupant id (XEP-0421); rooms that offer it replace
/// whatever a sender put there.
fn occupant_id(payloads: &[Element]) -> Option<&str> {
    payloads
        .iter()
        .find(|p| p.is("occupant-id", NS_OCCUPANT_ID))
        .and_then(|p| p.attr("id"))
}

fn status_codes(x: &Element) -> Vec<u16> {
    x.children()
        .filter(|c| c.is("status", ns::MUC_USER))
        .filter_map(|c| c.attr("code")?.parse().ok())
        .collect()
}

fn first_item(x: &Element) -> Option<&Element> {
    x.children().find(|c| c.is("item", ns::MUC_USER))
}

fn item_jid(item: &Element) -> Option<BareJid> {
    item.attr("jid")
        .and_then(|j| Jid::new(j).ok())
        .map(|j| j.to_bare())
}

fn error_condition(p: &Presence) -> String {
    p.payloads
        .iter()
        .find(|e| e.name() == "error")
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
        })
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|| "error".to_owned())
}

fn refused(e: IqError) -> ServiceError {
    match e {
        IqError::Closed => ServiceError::NotConnected,
        other => ServiceError::Refused(other.to_string()),
    }
}

fn data_field(var: &str, values: &[&str]) -> Element {
    let mut b = Element::builder("field", NS_DATA).attr(nc!("var"), var);
    for v in values {
        b = b.append(
            Element::builder("value", NS_DATA)
                .append((*v).to_owned())
                .build(),
        );
    }
    b.build()
}

/// What kind of room to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// Members-only, non-anonymous: OMEMO.
    Group,
    /// Listed, open to anyone, real addresses for moderators only.
    Channel,
}

/// The answers for the owner's room form: only fields the server's form
/// offers are sent back.
fn room_config(form: &Element, create: Create, name: Option<&str>) -> Element {
    let group = create == Create::Group;
    let offered: Vec<&str> = form
        .children()
        .filter(|f| f.is("field", NS_DATA))
        .filter_map(|f| f.attr("var"))
        .collect();
    let mut wanted: Vec<(&str, String)> = vec![
        (
            "FORM_TYPE",
            "http://jabber.org/protocol/muc#roomconfig".into(),
        ),
        ("muc#roomconfig_persistentroom", "1".into()),
        (
            "muc#roomconfig_membersonly",
            if group { "1" } else { "0" }.into(),
        ),
        (
            "muc#roomconfig_whois",
            if group { "anyone" } else { "moderators" }.into(),
        ),
        (
            "muc#roomconfig_publicroom",
            if group { "0" } else { "1" }.into(),
        ),
        ("muc#roomconfig_enablearchiving", "1".into()),
        ("mam", "1".into()),
        ("muc#roomconfig_moderatedroom", "0".into()),
        ("muc#roomconfig_passwordprotectedroom", "0".into()),
        ("muc#roomconfig_changesubject", "1".into()),
    ];
    if let Some(n) = name {
        wanted.push(("muc#roomconfig_roomname", n.to_owned()));
    }
    let mut x = Element::builder("x", NS_DATA).attr(nc!("type"), "submit");
    for (var, value) in wanted {
        if var == "FORM_TYPE" || offered.contains(&var) {
            x = x.append(data_field(var, &[&value]));
        }
    }
    x.build()
}

impl Account {
    /// The nickname used where none was chosen: the account's local part.
    fn default_nick(&self) -> String {
        self.jid.node().map(|n| n.to_string()).unwrap_or_default()
    }

    /// On every connect: the bookmarks, then every room to join.
    pub(crate) async fn join_rooms_on_connect(&mut self) {
        self.rooms.clear();
        self.muc = Session::default();
        self.sync_bookmarks().await;
        let rows = match self.store.rooms(self.row.id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("reading rooms failed: {e}");
                return;
            }
        };
        for row in rows.into_iter().filter(|r| r.autojoin) {
            let Ok(jid) = BareJid::new(&row.jid) else {
                continue;
            };
            if let Err(e) = self.join(jid, Some(row.nick.clone()), None, None).await {
                tracing::info!(room = %row.jid, "rejoining failed: {e}");
                self.emit(Event::Error {
                    message: gettext_f(
                        "Could not join {room}: {detail}",
                        &[("room", &row.jid), ("detail", &e.user_message())],
                    ),
                });
            }
        }
    }

    async fn disco_room(&self, room: &BareJid) -> Result<Features, IqError> {
        let iq = Iq::from_get(
            link::new_id(),
            xmpp_parsers::disco::DiscoInfoQuery { node: None },
        )
        .with_to(Jid::from(room.clone()));
        let payload = self.link.iq(iq).await?;
        let Some(info) =
            payload.and_then(|p| xmpp_parsers::disco::DiscoInfoResult::try_from(p).ok())
        else {
            return Err(IqError::Stanza("the room sent no information".into()));
        };
        let has = |f: &str| info.features.iter().any(|x| x == f);
        Ok(Features {
            non_anonymous: has("muc_nonanonymous"),
            members_only: has("muc_membersonly"),
            public: has("muc_public"),
            persistent: has("muc_persistent"),
            archived: has(ns::MAM),
            occupant_ids: has(NS_OCCUPANT_ID),
            // XEP-0045 §15.5.4 names it roominfo; Prosody 0.12 sends the
            // roomconfig name.
            anyone_sets_subject: info
                .extensions
                .iter()
                .flat_map(|form| &form.fields)
                .find(|f| {
                    matches!(
                        f.var.as_deref(),
                        Some("muc#roominfo_changesubject" | "muc#roomconfig_changesubject")
                    )
                })
                .is_some_and(|f| f.values.iter().any(|v| v == "1" || v == "true")),
            name: info
                .identities
                .iter()
                .find(|i| i.category == "conference")
                .and_then(|i| i.name.clone())
                .filter(|n| !n.is_empty()),
        })
    }

    /// Join (or, with `create`, create and configure) a room.
    pub(crate) async fn join(
        &mut self,
        room: BareJid,
        nick: Option<String>,
        create: Option<Create>,
        name: Option<String>,
    ) -> Result<RoomInfo, ServiceError> {
        self.require_online()?;
        if room.node().is_none() {
            return Err(ServiceError::InvalidJid(room.to_string()));
        }
        let known = self
            .store
            .room(self.row.id, room.as_str())
            .await
            .map_err(super::storage)?;
        let before = match self.disco_room(&room).await {
            Ok(f) => Some(f),
            Err(IqError::Stanza(e)) if e.starts_with("ItemNotFound") => None,
            Err(IqError::Closed) => return Err(ServiceError::NotConnected),
            Err(e) => return Err(ServiceError::Refused(e.to_string())),
        };
        let exists = before.is_some();
        if exists && create.is_some() && known.is_none() {
            return Err(ServiceError::Refused(gettext(
                "a room with this address exists already",
            )));
        }
        if !exists && create.is_none() {
            return Err(ServiceError::Refused(gettext("there is no such room")));
        }
        let base_nick = nick
            .or_else(|| known.as_ref().map(|k| k.nick.clone()))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| self.default_nick());
        let mut nick = base_nick.clone();
        let mut attempt = 0;
        let presences = loop {
            let Ok(full) = room.with_resource_str(&nick) else {
                return Err(ServiceError::Refused(gettext(
                    "this nickname is not allowed",
                )));
            };
            let mut join = Presence::available().with_to(Jid::from(full));
            let history = Element::builder("history", NS_MUC)
                .attr(nc!("maxstanzas"), "0")
                .build();
            join.payloads
                .push(Element::builder("x", NS_MUC).append(history).build());
            let got = self
                .link
                .join_room(&room, join, JOIN_TIMEOUT)
                .await
                .map_err(refused)?;
            let failed = got.last().filter(|p| p.type_ == PresenceType::Error);
            match failed.map(error_condition).as_deref() {
                None => break got,
                Some("conflict") if attempt < 4 => {
                    attempt += 1;
                    nick = format!("{base_nick}{}", "_".repeat(attempt));
                }
                Some("registration-required") => {
                    return Err(ServiceError::Refused(gettext(
                        "this group chat is for members only, and you are not a member",
                    )));
                }
                Some("forbidden") => {
                    return Err(ServiceError::Refused(gettext(
                        "you are banned from this room",
                    )));
                }
                Some("not-authorized") => {
                    return Err(ServiceError::Refused(gettext("this room needs a password")));
                }
                Some(other) => return Err(ServiceError::Refused(other.to_owned())),
            }
        };
        let mut state = Room::new(room.clone(), nick.clone());
        state.features = before.unwrap_or_default();
        if let Some(old) = self.rooms.get(&room).filter(|r| r.joined) {
            // Joining again while in: the room may send only our presence.
            state.occupants = old.occupants.clone();
            state.occupant_ids = old.occupant_ids.clone();
        }
        let mut created = false;
        for p in &presences {
            if let Some(x) = muc_user(&p.payloads)
                && link::is_self_presence(p)
                && status_codes(x).contains(&201)
            {
                created = true;
            }
        }
        self.rooms.insert(room.clone(), state.clone());
        for p in presences {
            self.on_room_presence(p).await;
        }
        if created
            && let Err(e) = self
                .configure(&room, create.unwrap_or(Create::Group), name.as_deref())
                .await
        {
            // A room left unconfigured stays locked: leave it to the server.
            self.rooms.remove(&room);
            if let Ok(full) = room.with_resource_str(&nick) {
                let _ = self
                    .link
                    .send(Presence::unavailable().with_to(Jid::from(full)))
                    .await;
            }
            return Err(e);
        }
        let features = self.disco_room(&room).await.map_err(refused)?;
        state = self.rooms.get(&room).cloned().unwrap_or(state);
        state.features = features;
        state.joined = true;
        state.encrypt_open = crate::service::policy::load(&self.store)
            .await
            .is_ok_and(|p| p.open_groups);
        self.rooms.insert(room.clone(), state.clone());
        if state.features.non_anonymous {
            self.fetch_affiliations(&room).await;
        }
        let row = RoomRow {
            jid: room.to_string(),
            nick: nick.clone(),
            name: name.clone().or(state.features.name.clone()),
            autojoin: true,
            subject: None,
            bookmarked: known.as_ref().is_some_and(|k| k.bookmarked),
        };
        let kind = state.kind();
        self.store
            .save_room(self.row.id, &row, kind)
            .await
            .map_err(super::storage)?;
        if known.as_ref().is_none_or(|k| {
            !k.autojoin
                || !k.bookmarked
                || k.nick != nick
                || (row.name.is_some() && k.name != row.name)
        }) {
            self.publish_bookmark(&row).await;
        }
        if state.features.archived {
            self.catch_up_room(&room).await;
        }
        let info = self.room_info(&room).await?;
        self.emit(Event::Room { room: info.clone() });
        self.emit_room_summary(&room);
        Ok(info)
    }

    /// Preferences changed whether open non-anonymous rooms are group
    /// chats: joined rooms change kind (and lock) now.
    pub(crate) async fn apply_open_groups(&mut self, allow: bool) {
        let changed: Vec<BareJid> = self
            .rooms
            .values_mut()
            .filter(|r| r.encrypt_open != allow)
            .map(|r| {
                r.encrypt_open = allow;
                r.jid.clone()
            })
            .collect();
        for jid in changed {
            let kind = self.rooms.get(&jid).map_or("channel", |r| r.kind());
            if let Ok(Some(row)) = self.store.room(self.row.id, jid.as_str()).await
                && let Err(e) = self.store.save_room(self.row.id, &row, kind).await
            {
                tracing::warn!(room = %jid, "saving the room kind failed: {e}");
            }
            if let Ok(info) = self.room_info(&jid).await {
                self.emit(Event::Room { room: info });
            }
            self.emit_room_summary(&jid);
        }
    }

    fn emit_room_summary(&self, room: &BareJid) {
        let store = self.store.clone();
        let events = self.events.clone();
        let (account_id, account, jid) = (self.row.id, self.row.jid.clone(), room.to_string());
        tokio::spawn(async move {
            if let Ok(Some(c)) = store.conversation(account_id, &jid).await {
                let _ = events.send(Event::ConversationUpdated {
                    conversation: super::conversation_summary(&account, c),
                });
            }
        });
    }

    async fn configure(
        &mut self,
        room: &BareJid,
        create: Create,
        name: Option<&str>,
    ) -> Result<(), ServiceError> {
        let get = Iq::Get {
            from: None,
            to: Some(Jid::from(room.clone())),
            id: link::new_id(),
            payload: Element::builder("query", NS_MUC_OWNER).build(),
        };
        let form = self.link.iq(get).await.map_err(refused)?;
        let form = form
            .as_ref()
            .and_then(|q| q.children().find(|c| c.is("x", NS_DATA)))
            .cloned()
            .ok_or_else(|| ServiceError::Refused(gettext("the room sent no configuration form")))?;
        let set = Iq::Set {
            from: None,
            to: Some(Jid::from(room.clone())),
            id: link::new_id(),
            payload: Element::builder("query", NS_MUC_OWNER)
                .append(room_config(&form, create, name))
                .build(),
        };
        self.link.iq(set).await.map_err(refused)?;
        Ok(())
    }

    /// The owner, admin and member lists, each asked for separately (an
    /// owner is on no member list); a refusal falls back to presences.
    pub(crate) async fn fetch_affiliations(&mut self, room: &BareJid) {
        let mut lists = BTreeMap::new();
        let mut refused = false;
        for aff in [Affiliation::Owner, Affiliation::Admin, Affiliation::Member] {
            let get = Iq::Get {
                from: None,
                to: Some(Jid::from(room.clone())),
                id: link::new_id(),
                payload: Element::builder("query", NS_MUC_ADMIN)
                    .append(
                        Element::builder("item", NS_MUC_ADMIN)
                            .attr(nc!("affiliation"), aff.as_str())
                            .build(),
                    )
                    .build(),
            };
            match self.link.iq(get).await {
                Ok(Some(q)) => {
                    for item in q.children().filter(|c| c.is("item", NS_MUC_ADMIN)) {
                        if let Some(j) = item_jid(item) {
                            lists.insert(j, aff);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::info!(%room, list = aff.as_str(), "affiliation list refused: {e}");
                    refused = true;
                }
            }
        }
        if let Some(r) = self.rooms.get_mut(room) {
            r.lists_refused = refused;
            if !refused {
                r.affiliations = lists;
            } else {
                r.affiliations.extend(lists);
            }
        }
    }

    /// A presence from a room: an occupant came, changed or left.
    pub(crate) async fn on_room_presence(&mut self, p: Presence) -> bool {
        let Some(from) = p.from.clone() else {
            return false;
        };
        let room_jid = from.to_bare();
        let own = self.jid.clone();
        let Some(room) = self.rooms.get_mut(&room_jid) else {
            return false;
        };
        let Some(nick) = from.resource().map(|r| r.to_string()) else {
            return true;
        };
        if p.type_ == PresenceType::Error {
            return true;
        }
        let x = muc_user(&p.payloads);
        let codes = x.map(status_codes).unwrap_or_default();
        let item = x.and_then(first_item);
        let affiliation = item
            .and_then(|i| i.attr("affiliation"))
            .and_then(Affiliation::parse)
            .unwrap_or(Affiliation::None);
        let role = item
            .and_then(|i| i.attr("role"))
            .unwrap_or("none")
            .to_owned();
        let real = item.and_then(item_jid);
        if let (Some(real), Some(id), true) =
            (&real, occupant_id(&p.payloads), room.features.occupant_ids)
        {
            room.occupant_ids.insert(id.to_owned(), real.clone());
        }
        let is_self = codes.contains(&110) || (nick == room.nick && real.as_ref() == Some(&own));
        if let Some(real) = &real {
            if affiliation.is_participant() {
                room.affiliations.insert(real.clone(), affiliation);
            } else {
                room.affiliations.remove(real);
            }
        }
        let mut left_reason = None;
        if p.type_ == PresenceType::Unavailable {
            if codes.contains(&303) {
                // A nick change: the new presence follows.
                if let Some(new_nick) = item.and_then(|i| i.attr("nick")) {
                    if let Some(o) = room.occupants.remove(&nick) {
                        room.occupants.insert(new_nick.to_owned(), o);
                    }
                    if is_self {
                        room.nick = new_nick.to_owned();
                    }
                }
            } else {
                room.occupants.remove(&nick);
                if is_self {
                    room.joined = false;
                    room.occupants.clear();
                    // `true`: not joined again on the next connect.
                    left_reason = Some(if codes.contains(&301) {
                        (gettext("You were banned from the room."), true)
                    } else if codes.contains(&307) {
                        (gettext("You were removed from the room."), true)
                    } else if codes.contains(&321) || codes.contains(&322) {
                        (gettext("You are no longer a member of the room."), true)
                    } else if codes.contains(&332) {
                        (gettext("The room's server is shutting down."), false)
                    } else if p.payloads.iter().any(|c| c.is("destroy", ns::MUC_USER)) {
                        (gettext("The room was destroyed."), true)
                    } else {
                        (gettext("You are no longer in the room."), false)
                    });
                }
            }
        } else {
            room.occupants.insert(
                nick.clone(),
                Occupant {
                    real: real.clone(),
                    affiliation,
                    role: role.clone(),
                },
            );
            if is_self {
                room.nick = nick.clone();
                room.own_affiliation = affiliation;
                room.own_role = Some(role);
            }
        }
        let joined = room.joined;
        if let Some((reason, forget)) = left_reason {
            let room_str = room_jid.to_string();
            if forget
                && let Err(e) = self
                    .store
                    .set_room_autojoin(self.row.id, &room_str, false)
                    .await
            {
                tracing::warn!("forgetting the room failed: {e}");
            }
            self.emit(Event::RoomLeft {
                account: self.row.jid.clone(),
                room: room_str,
                reason,
            });
        }
        if joined && let Ok(info) = self.room_info(&room_jid).await {
            self.emit(Event::Room { room: info });
        }
        true
    }

    pub(crate) async fn room_info(&self, room: &BareJid) -> Result<RoomInfo, ServiceError> {
        let Some(state) = self.rooms.get(room) else {
            return Err(ServiceError::NotInRoom(room.to_string()));
        };
        let name = self
            .store
            .room(self.row.id, room.as_str())
            .await
            .ok()
            .flatten()
            .and_then(|r| r.name);
        Ok(state.info(&self.row.jid, name))
    }

    /// A message from a room: group chat traffic, an affiliation change of
    /// someone absent, the subject, or a mediated invitation. True when it
    /// was one of those (and is handled).
    pub(crate) async fn on_room_message(&mut self, msg: Message, origin: Origin) -> bool {
        let Some(from) = msg.from.clone() else {
            return false;
        };
        let room_jid = from.to_bare();
        if !self.rooms.contains_key(&room_jid) {
            // Invitations come from rooms we are not in.
            return self.on_invitation(&msg).await;
        }
        if from.resource().is_none() {
            if let Some(x) = muc_user(&msg.payloads) {
                let mut changed = false;
                for item in x.children().filter(|c| c.is("item", ns::MUC_USER)) {
                    let (Some(jid), Some(aff)) = (
                        item_jid(item),
                        item.attr("affiliation").and_then(Affiliation::parse),
                    ) else {
                        continue;
                    };
                    if let Some(r) = self.rooms.get_mut(&room_jid) {
                        if aff.is_participant() {
                            r.affiliations.insert(jid, aff);
                        } else {
                            r.affiliations.remove(&jid);
                        }
                        changed = true;
                    }
                }
                if changed && let Ok(info) = self.room_info(&room_jid).await {
                    self.emit(Event::Room { room: info });
                }
            }
            if msg.type_ != MessageType::Groupchat {
                return true;
            }
        }
        if msg.type_ == MessageType::Error {
            return false;
        }
        if msg.type_ != MessageType::Groupchat {
            // Private messages through the room are not supported: they
            // would need the occupant's real JID for encryption.
            tracing::debug!(room = %room_jid, "private message through a room ignored");
            return true;
        }
        if let Some(subject) = msg.subjects.values().next()
            && msg.bodies.is_empty()
        {
            let subject = Some(subject.clone()).filter(|s| !s.is_empty());
            if let Some(r) = self.rooms.get_mut(&room_jid) {
                r.subject = subject.clone();
            }
            let _ = self
                .store
                .set_room_subject(self.row.id, room_jid.as_str(), subject.as_deref())
                .await;
            if let Ok(info) = self.room_info(&room_jid).await {
                self.emit(Event::Room { room: info });
            }
            return true;
        }
        self.on_groupchat(msg, origin, false).await;
        true
    }

    async fn on_invitation(&mut self, msg: &Message) -> bool {
        let direct = msg.payloads.iter().find(|p| p.is("x", NS_CONFERENCE));
        let mediated = muc_user(&msg.payloads)
            .and_then(|x| x.children().find(|c| c.is("invite", ns::MUC_USER)));
        let (room, from, reason) = match (direct, mediated) {
            (Some(x), _) => (
                x.attr("jid").map(str::to_owned),
                msg.from.as_ref().map(|f| f.to_bare().to_string()),
                x.attr("reason").map(str::to_owned),
            ),
            (None, Some(inv)) => (
                msg.from.as_ref().map(|f| f.to_bare().to_string()),
                inv.attr("from")
                    .and_then(|j| Jid::new(j).ok())
                    .map(|j| j.to_bare().to_string()),
                inv.children()
                    .find(|c| c.name() == "reason")
                    .map(|r| r.text()),
            ),
            _ => return false,
        };
        let (Some(room), Some(from)) = (room, from) else {
            return true;
        };
        let Ok(room_jid) = BareJid::new(&room) else {
            return true;
        };
        if self.rooms.get(&room_jid).is_some_and(|r| r.joined) {
            return true;
        }
        self.emit(Event::Invitation {
            account: self.row.jid.clone(),
            room,
            from,
            reason: reason.filter(|r| !r.is_empty()),
        });
        true
    }

    /// A group chat message, live or from the room's archive. `backfill`:
    /// from before this device ever joined (first look at the archive).
    async fn on_groupchat(&mut self, msg: Message, origin: Origin, backfill: bool) -> Option<bool> {
        let from = msg.from.clone()?;
        let room_jid = from.to_bare();
        let nick = from.resource()?.to_string();
        let room = self.rooms.get(&room_jid)?;
        let kind = room.kind();
        // The archive carries the real JID (XEP-0313 §5.1.2); live, only
        // the occupant's presence does — an <x/> inside a live message is
        // whatever the sender wrote into it.
        // In the archive the room appends its <x/> after anything the
        // sender put in (Prosody does not strip those), so the last one is
        // the room's word.
        let real = match origin {
            Origin::Live => room.real_jid_of(&nick).or_else(|| {
                occupant_id(&msg.payloads)
                    .filter(|_| room.features.occupant_ids)
                    .and_then(|id| room.occupant_ids.get(id).cloned())
            }),
            _ => msg
                .payloads
                .iter()
                .filter(|x| x.is("x", ns::MUC_USER))
                .filter_map(first_item)
                .filter_map(item_jid)
                .next_back()
                .filter(|_| room.features.non_anonymous),
        };
        let outgoing = match &real {
            Some(r) => *r == self.jid,
            None => nick == room.nick && matches!(origin, Origin::Live),
        };
        let stanza_id = msg
            .payloads
            .iter()
            .filter(|p| p.is("stanza-id", NS_SID))
            .find(|p| p.attr("by") == Some(room_jid.as_str()))
            .and_then(|p| p.attr("id"))
            .map(str::to_owned);
        let stanza_id = match &origin {
            Origin::Archive { id } => Some(id.clone()),
            _ => stanza_id,
        };
        let origin_id = msg
            .payloads
            .iter()
            .find(|p| p.is("origin-id", NS_SID))
            .and_then(|p| p.attr("id"))
            .map(str::to_owned);
        let room_str = room_jid.to_string();
        if outgoing {
            // Our own message coming back: mark it sent, never decrypt it.
            let ids = [origin_id.as_deref(), msg.id.as_ref().map(|i| i.0.as_str())];
            for id in ids.into_iter().flatten() {
                if let Ok(Some(row)) = self
                    .store
                    .message_by_origin_id(self.row.id, &room_str, id)
                    .await
                    && row.direction == Direction::Out
                    && row.sender_jid == self.jid.as_str()
                {
                    if let Some(sid) = &stanza_id {
                        let _ = self.store.set_stanza_id(row.id, sid, &room_str).await;
                    }
                    if let Ok(Some(updated)) =
                        self.store.set_state(row.id, MessageState::Sent, None).await
                    {
                        self.emit_message(&updated);
                    }
                    return Some(true);
                }
            }
        }
        let timestamp = msg
            .payloads
            .iter()
            .find(|p| p.is("delay", "urn:xmpp:delay"))
            .and_then(|d| d.attr("stamp"))
            .and_then(|s| xmpp_parsers::date::DateTime::from_str(s).ok())
            .map(|d| d.0.timestamp_millis())
            .unwrap_or_else(crate::store::now_ms);
        let encrypted = super::e2e::NAMESPACES.into_iter().find_map(|ns| {
            msg.payloads
                .iter()
                .find(|p| p.is("encrypted", ns.xmlns()))
                .map(|e| (ns, e.clone()))
        });
        let body = msg.bodies.values().next().cloned();
        if encrypted.is_none() && body.is_none() {
            return Some(false);
        }
        let sender_jid = match (&real, outgoing) {
            (Some(r), _) => r.to_string(),
            (None, true) => self.jid.to_string(),
            (None, false) => from.to_string(),
        };
        let mut new = NewMessage {
            conversation_jid: room_str.clone(),
            conversation_kind: kind.into(),
            stanza_id,
            stanza_id_by: Some(room_str.clone()),
            origin_id,
            message_id: msg.id.as_ref().map(|i| i.0.clone()),
            direction: if outgoing {
                Direction::Out
            } else {
                Direction::In
            },
            sender_jid,
            sender_nick: Some(nick),
            timestamp,
            state: if outgoing {
                MessageState::Sent
            } else {
                MessageState::Received
            },
            replaces_id: msg
                .payloads
                .iter()
                .find(|p| p.is("replace", "urn:xmpp:message-correct:0"))
                .and_then(|r| r.attr("id"))
                .map(str::to_owned),
            ..NewMessage::default()
        };
        match self.store.find_duplicate(self.row.id, &new).await {
            Ok(Some(_)) => return Some(false),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("duplicate check failed: {e}");
                return Some(false);
            }
        }
        let stored = match encrypted {
            None => {
                new.body = body;
                self.store.insert_message(self.row.id, &new).await.map(Some)
            }
            Some((ns, element)) => {
                if real.is_none() {
                    new.encryption = match ns {
                        crate::omemo::Namespace::OldMemo => Encryption::Omemo0,
                        crate::omemo::Namespace::TwoMemo => Encryption::Omemo2,
                    };
                    new.error = Some(gettext(
                        "cannot decrypt: this room does not show who sent the message",
                    ));
                    self.store.insert_message(self.row.id, &new).await.map(Some)
                } else {
                    let own_id = self.e2e.as_ref().map(|e| e.own.device_id());
                    let for_us = own_id.is_some_and(|id| {
                        EncryptedMessage::from_xml(&element).is_ok_and(|m| m.key_for(id).is_ok())
                    });
                    if backfill && !for_us {
                        // From before we were a member: counted, summed up
                        // in one row by the caller.
                        return Some(true);
                    }
                    self.receive_encrypted(new, ns, &element, outgoing).await
                }
            }
        };
        match stored {
            Ok(Some(Inserted::New(row) | Inserted::Corrected(row))) => self.emit_message(&row),
            Ok(_) => {}
            Err(e) => self.emit(Event::Error {
                message: super::storage(e).user_message(),
            }),
        }
        Some(false)
    }

    /// The room's archive after the last message this device saw: before
    /// live traffic, so nothing is missed or doubled (stanza-ids dedupe).
    async fn catch_up_room(&mut self, room: &BareJid) {
        let room_str = room.to_string();
        let stored = self
            .store
            .room_mam_last_id(self.row.id, &room_str)
            .await
            .ok()
            .flatten();
        let was_catching_up = self.catching_up;
        self.catching_up = true;
        let first_time = stored.is_none();
        let mut after = stored.filter(|s| !s.is_empty());
        let mut skipped = 0u32;
        let mut oldest_skipped: Option<i64> = None;
        loop {
            let page = if first_time {
                self.link
                    .mam_page(
                        Some(room.clone()),
                        None,
                        Some(String::new()),
                        FIRST_JOIN_BACKLOG,
                    )
                    .await
            } else {
                self.link
                    .mam_page(Some(room.clone()), after.clone(), None, ROOM_MAM_PAGE)
                    .await
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!(%room, "room archive catch-up stopped: {e}");
                    break;
                }
            };
            for wrapper in page.results {
                if wrapper.from.as_ref().is_some_and(|f| f.to_bare() != *room) {
                    continue;
                }
                let Some(result) = wrapper
                    .payloads
                    .iter()
                    .find(|p| p.is("result", ns::MAM))
                    .cloned()
                else {
                    continue;
                };
                let Some(id) = result.attr("id").map(str::to_owned) else {
                    continue;
                };
                let Some(inner) = super::chat::forwarded_message(&result) else {
                    continue;
                };
                let stamp = inner
                    .payloads
                    .iter()
                    .find(|p| p.is("delay", "urn:xmpp:delay"))
                    .and_then(|d| d.attr("stamp"))
                    .and_then(|s| xmpp_parsers::date::DateTime::from_str(s).ok())
                    .map(|d| d.0.timestamp_millis());
                if inner.type_ == MessageType::Groupchat
                    && !(inner.subjects.values().next().is_some() && inner.bodies.is_empty())
                    && self
                        .on_groupchat(inner, Origin::Archive { id }, first_time)
                        .await
                        == Some(true)
                    && first_time
                {
                    skipped += 1;
                    oldest_skipped = oldest_skipped.or(stamp);
                }
            }
            let mark = match (&page.last, first_time) {
                (Some(last), _) => Some(last.clone()),
                (None, true) => Some(String::new()),
                (None, false) => None,
            };
            if let Some(mark) = mark
                && let Err(e) = self
                    .store
                    .set_room_mam_last_id(self.row.id, &room_str, &mark)
                    .await
            {
                tracing::warn!("remembering the room archive position failed: {e}");
            }
            if first_time || page.complete || page.last.is_none() {
                break;
            }
            after = page.last;
        }
        if skipped > 0 {
            // ARCHITECTURE.md: history from before one joined collapses
            // into one explanatory row.
            let note = NewMessage {
                conversation_jid: room_str.clone(),
                conversation_kind: "group".into(),
                origin_id: Some(format!("sotto-backfill-{}", link::new_id())),
                direction: Direction::In,
                sender_jid: room_str.clone(),
                timestamp: oldest_skipped.unwrap_or_else(crate::store::now_ms),
                encryption: Encryption::Omemo2,
                error: Some(gettext_f(
                    "{count} earlier messages were sent before this device joined and are not encrypted for it.",
                    &[("count", &skipped.to_string())],
                )),
                ..NewMessage::default()
            };
            if let Ok(Inserted::New(row)) = self.store.insert_message(self.row.id, &note).await {
                self.emit_message(&row);
            }
        }
        self.catching_up = was_catching_up;
        if !was_catching_up {
            self.finish_catch_up().await;
        }
    }

    // ---- sending -------------------------------------------------------

    pub(crate) fn is_room(&self, jid: &BareJid) -> bool {
        self.rooms.contains_key(jid)
    }

    /// A message into a room: stored first, shown at once, marked sent
    /// when the room reflects it.
    pub(crate) async fn send_group(
        &mut self,
        room: BareJid,
        body: String,
    ) -> Result<ChatMessage, ServiceError> {
        let state = self
            .rooms
            .get(&room)
            .filter(|r| r.joined)
            .ok_or_else(|| ServiceError::NotInRoom(room.to_string()))?;
        let kind = state.kind();
        let nick = state.nick.clone();
        let sticky_plain = matches!(
            self.store.conversation(self.row.id, room.as_str()).await,
            Ok(Some(c)) if c.encryption.as_deref() == Some("none")
        );
        let encrypt = kind == "group" && !sticky_plain && self.e2e.is_some();
        let row = self
            .store_outgoing(&room, kind, Some(nick), body, encrypt)
            .await?;
        let row = self.transmit(row, None).await?;
        Ok(super::chat_message(&self.row.jid, &row))
    }

    /// The recipients of a message into `room` and why it cannot be
    /// encrypted, if it cannot.
    pub(crate) fn group_recipients(&self, room: &BareJid) -> Result<Vec<BareJid>, ServiceError> {
        let state = self
            .rooms
            .get(room)
            .filter(|r| r.joined)
            .ok_or_else(|| ServiceError::NotInRoom(room.to_string()))?;
        if let Some(why) = state.encryption_refusal() {
            return Err(ServiceError::CannotEncrypt(why));
        }
        Ok(state.recipients(&self.jid))
    }
}

use std::str::FromStr;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_form_answers_only_what_the_server_asks() {
        let form = Element::builder("x", NS_DATA)
            .append(data_field(
                "FORM_TYPE",
                &["http://jabber.org/protocol/muc#roomconfig"],
            ))
            .append(data_field("muc#roomconfig_membersonly", &["0"]))
            .append(data_field("muc#roomconfig_whois", &["moderators"]))
            .append(data_field("muc#roomconfig_roomname", &[""]))
            .build();
        let answer = room_config(&form, Create::Group, Some("Team"));
        let vars: Vec<(String, String)> = answer
            .children()
            .map(|f| {
                (
                    f.attr("var").unwrap_or_default().to_owned(),
                    f.children().next().map(|v| v.text()).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            vars,
            vec![
                (
                    "FORM_TYPE".into(),
                    "http://jabber.org/protocol/muc#roomconfig".into()
                ),
                ("muc#roomconfig_membersonly".into(), "1".into()),
                ("muc#roomconfig_whois".into(), "anyone".into()),
                ("muc#roomconfig_roomname".into(), "Team".into()),
            ]
        );
        assert_eq!(answer.attr("type"), Some("submit"));
    }
}
