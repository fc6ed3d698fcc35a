//! Managing rooms: leaving, destroying, affiliations, kicks, invitations,
//! the subject, one's nickname, and finding the server's rooms.

use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::minidom::Element;

use super::super::Account;
use super::{JOIN_TIMEOUT, NS_CONFERENCE, NS_MUC_ADMIN, NS_MUC_OWNER, error_condition, refused};
use crate::i18n::gettext;
use crate::service::api::{Affiliation, Event, RoomInfo, RoomListing, ServiceError};
use crate::xmpp::link;

const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

impl Account {
    pub(crate) async fn leave(&mut self, room: BareJid) -> Result<(), ServiceError> {
        let room_str = room.to_string();
        if let Some(state) = self.rooms.remove(&room)
            && state.joined
            && self.online
            && let Ok(full) = room.with_resource_str(&state.nick)
        {
            let _ = self
                .link
                .send(Presence::unavailable().with_to(Jid::from(full)))
                .await;
        }
        self.store
            .set_room_autojoin(self.row.id, &room_str, false)
            .await
            .map_err(super::super::storage)?;
        if self.online {
            self.retract_bookmark(&room_str).await;
        }
        Ok(())
    }

    pub(crate) async fn destroy(
        &mut self,
        room: BareJid,
        reason: Option<String>,
    ) -> Result<(), ServiceError> {
        self.require_online()?;
        let mut destroy = Element::builder("destroy", NS_MUC_OWNER);
        if let Some(r) = reason {
            destroy = destroy.append(Element::builder("reason", NS_MUC_OWNER).append(r).build());
        }
        let set = Iq::Set {
            from: None,
            to: Some(Jid::from(room.clone())),
            id: link::new_id(),
            payload: Element::builder("query", NS_MUC_OWNER)
                .append(destroy.build())
                .build(),
        };
        self.link.iq(set).await.map_err(refused)?;
        self.rooms.remove(&room);
        let _ = self
            .store
            .set_room_autojoin(self.row.id, room.as_str(), false)
            .await;
        self.retract_bookmark(room.as_str()).await;
        Ok(())
    }

    async fn admin_set(&mut self, room: &BareJid, item: Element) -> Result<(), ServiceError> {
        self.require_online()?;
        if !self.rooms.get(room).is_some_and(|r| r.joined) {
            return Err(ServiceError::NotInRoom(room.to_string()));
        }
        let set = Iq::Set {
            from: None,
            to: Some(Jid::from(room.clone())),
            id: link::new_id(),
            payload: Element::builder("query", NS_MUC_ADMIN).append(item).build(),
        };
        self.link.iq(set).await.map_err(refused)?;
        Ok(())
    }

    pub(crate) async fn set_affiliation(
        &mut self,
        room: BareJid,
        jid: BareJid,
        affiliation: Affiliation,
        reason: Option<String>,
    ) -> Result<(), ServiceError> {
        let mut item = Element::builder("item", NS_MUC_ADMIN)
            .attr(nc!("jid"), jid.as_str())
            .attr(nc!("affiliation"), affiliation.as_str());
        if let Some(r) = reason {
            item = item.append(Element::builder("reason", NS_MUC_ADMIN).append(r).build());
        }
        self.admin_set(&room, item.build()).await?;
        // Honoured at once for our own next message, whatever the room
        // tells the others.
        if let Some(r) = self.rooms.get_mut(&room) {
            if affiliation.is_participant() {
                r.affiliations.insert(jid.clone(), affiliation);
            } else {
                r.affiliations.remove(&jid);
                for o in r.occupants.values_mut() {
                    if o.real.as_ref() == Some(&jid) {
                        o.affiliation = affiliation;
                    }
                }
            }
        }
        if let Ok(info) = self.room_info(&room).await {
            self.emit(Event::Room { room: info });
        }
        Ok(())
    }

    pub(crate) async fn kick(
        &mut self,
        room: BareJid,
        nick: String,
        reason: Option<String>,
    ) -> Result<(), ServiceError> {
        let mut item = Element::builder("item", NS_MUC_ADMIN)
            .attr(nc!("nick"), nick.as_str())
            .attr(nc!("role"), "none");
        if let Some(r) = reason {
            item = item.append(Element::builder("reason", NS_MUC_ADMIN).append(r).build());
        }
        self.admin_set(&room, item.build()).await
    }

    pub(crate) async fn invite(
        &mut self,
        room: BareJid,
        jids: Vec<BareJid>,
        reason: Option<String>,
    ) -> Result<(), ServiceError> {
        self.require_online()?;
        let members_only = self
            .rooms
            .get(&room)
            .filter(|r| r.joined)
            .ok_or_else(|| ServiceError::NotInRoom(room.to_string()))?
            .features
            .members_only;
        for jid in jids {
            if members_only {
                self.set_affiliation(room.clone(), jid.clone(), Affiliation::Member, None)
                    .await?;
            }
            let mut x = Element::builder("x", NS_CONFERENCE).attr(nc!("jid"), room.as_str());
            if let Some(r) = &reason {
                x = x.attr(nc!("reason"), r.as_str());
            }
            let mut msg = Message::normal(Some(Jid::from(jid)));
            msg.id = Some(xmpp_parsers::message::Id(link::new_id()));
            msg.payloads.push(x.build());
            self.link
                .send(msg)
                .await
                .map_err(|_| ServiceError::NotConnected)?;
        }
        Ok(())
    }

    pub(crate) async fn set_subject(
        &mut self,
        room: BareJid,
        subject: String,
    ) -> Result<(), ServiceError> {
        self.require_online()?;
        if !self.rooms.get(&room).is_some_and(|r| r.joined) {
            return Err(ServiceError::NotInRoom(room.to_string()));
        }
        let id = link::new_id();
        let nick = self.rooms.get(&room).map(|r| r.nick.clone());
        let mut msg = Message::groupchat(Some(Jid::from(room.clone())));
        msg.id = Some(xmpp_parsers::message::Id(id.clone()));
        msg.subjects
            .insert(xmpp_parsers::message::Lang::default(), subject);
        // Prosody announces the new subject in a message of its own (no
        // id of ours) and refuses with an error that carries our id.
        let answer = self
            .link
            .send_awaiting(msg, JOIN_TIMEOUT, move |m| {
                let from_room = m.from.as_ref().is_some_and(|f| f.to_bare() == room);
                let refusal =
                    m.type_ == MessageType::Error && m.id.as_ref().is_some_and(|i| i.0 == id);
                let announced = m.type_ == MessageType::Groupchat
                    && !m.subjects.is_empty()
                    && m.bodies.is_empty()
                    && m.from
                        .as_ref()
                        .and_then(|f| f.resource())
                        .map(|r| r.as_str())
                        == nick.as_deref();
                from_room && (refusal || announced)
            })
            .await
            .map_err(refused)?;
        if answer.type_ != MessageType::Error {
            return Ok(());
        }
        let condition = answer
            .payloads
            .iter()
            .find(|p| p.name() == "error")
            .and_then(|e| {
                e.children()
                    .find(|c| c.ns() == NS_STANZAS && c.name() != "text")
            })
            .map(|c| c.name().to_owned());
        Err(ServiceError::Refused(match condition.as_deref() {
            Some("forbidden") => gettext("only moderators may change the subject here"),
            Some(other) => other.to_owned(),
            None => gettext("the room refused"),
        }))
    }

    /// A new nickname in a joined room (XEP-0045 §7.6): the room answers
    /// with our old presence gone (303) and the new one, or an error.
    pub(crate) async fn set_nick(
        &mut self,
        room: BareJid,
        nick: String,
    ) -> Result<RoomInfo, ServiceError> {
        self.require_online()?;
        let nick = nick.trim().to_owned();
        let current = self
            .rooms
            .get(&room)
            .filter(|r| r.joined)
            .map(|r| r.nick.clone())
            .ok_or_else(|| ServiceError::NotInRoom(room.to_string()))?;
        if nick.is_empty() {
            return Err(ServiceError::Refused(gettext("a nickname cannot be empty")));
        }
        if nick != current {
            let Ok(full) = room.with_resource_str(&nick) else {
                return Err(ServiceError::Refused(gettext(
                    "this nickname is not allowed",
                )));
            };
            let got = self
                .link
                .join_room(
                    &room,
                    Presence::available().with_to(Jid::from(full)),
                    JOIN_TIMEOUT,
                )
                .await
                .map_err(refused)?;
            if let Some(failed) = got.last().filter(|p| p.type_ == PresenceType::Error) {
                return Err(ServiceError::Refused(
                    match error_condition(failed).as_str() {
                        "conflict" => gettext("someone in the room already uses this nickname"),
                        "not-acceptable" => {
                            gettext("the room does not accept this nickname (it may be reserved)")
                        }
                        "not-allowed" | "forbidden" => {
                            gettext("this room does not let occupants change their nickname")
                        }
                        other => other.to_owned(),
                    },
                ));
            }
            for p in got {
                self.on_room_presence(p).await;
            }
        }
        let nick = self
            .rooms
            .get(&room)
            .map(|r| r.nick.clone())
            .unwrap_or(nick);
        if let Some(mut row) = self
            .store
            .room(self.row.id, room.as_str())
            .await
            .map_err(super::super::storage)?
            && row.nick != nick
        {
            row.nick = nick;
            let kind = self.rooms.get(&room).map_or("group", |r| r.kind());
            self.store
                .save_room(self.row.id, &row, kind)
                .await
                .map_err(super::super::storage)?;
            self.publish_bookmark(&row).await;
        }
        let info = self.room_info(&room).await?;
        self.emit(Event::Room { room: info.clone() });
        Ok(info)
    }

    /// The public rooms of `service` (or of the server's conference service).
    pub(crate) async fn list_rooms(
        &mut self,
        service: Option<String>,
    ) -> Result<Vec<RoomListing>, ServiceError> {
        self.require_online()?;
        let service = match service {
            Some(s) => Jid::new(&s).map_err(|e| ServiceError::InvalidJid(e.to_string()))?,
            None => self.conference_service().await?,
        };
        let items = self.disco_items(service).await?;
        let mut rooms: Vec<RoomListing> = items
            .into_iter()
            .map(|i| RoomListing {
                jid: i.jid.to_bare().to_string(),
                name: i.name.filter(|n| !n.is_empty()),
            })
            .collect();
        rooms.sort_by(|a, b| a.jid.cmp(&b.jid));
        Ok(rooms)
    }

    /// The items of `to` (disco#items); none when the answer is unreadable.
    async fn disco_items(&self, to: Jid) -> Result<Vec<xmpp_parsers::disco::Item>, ServiceError> {
        let get = Iq::from_get(
            link::new_id(),
            xmpp_parsers::disco::DiscoItemsQuery {
                node: None,
                rsm: None,
            },
        )
        .with_to(to);
        Ok(self
            .link
            .iq(get)
            .await
            .map_err(refused)?
            .and_then(|p| xmpp_parsers::disco::DiscoItemsResult::try_from(p).ok())
            .map(|r| r.items)
            .unwrap_or_default())
    }

    /// The first item of our server that is a text conference service,
    /// asked once per connection.
    pub(crate) async fn conference_service(&mut self) -> Result<Jid, ServiceError> {
        self.require_online()?;
        if let Some(known) = &self.muc.conference {
            return Ok(known.clone());
        }
        let server = Jid::from(self.jid.domain().to_owned());
        let items = self.disco_items(server).await?;
        for item in items {
            let get = Iq::from_get(
                link::new_id(),
                xmpp_parsers::disco::DiscoInfoQuery { node: None },
            )
            .with_to(item.jid.clone());
            if let Ok(Some(p)) = self.link.iq(get).await
                && let Ok(info) = xmpp_parsers::disco::DiscoInfoResult::try_from(p)
                && info
                    .identities
                    .iter()
                    .any(|i| i.category == "conference" && i.type_ == "text")
            {
                self.muc.conference = Some(item.jid.clone());
                return Ok(item.jid);
            }
        }
        Err(ServiceError::Refused(gettext(
            "the server offers no group chat service",
        )))
    }
}
