//! One-to-one messages: sending (stored first, then sent, state driven by
//! stream-management acks, receipts and markers), receiving live, from
//! carbons and from the archive (MAM catch-up), OMEMO on both paths, and
//! exactly-once storage (ARCHITECTURE.md "Data that must never be lost").

use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::stanzastream::{StanzaStage, StanzaState};
use xmpp_parsers::minidom::Element;

use super::Account;
use super::e2e::{NAMESPACES, Recipient, ns_str, trust_key};
use crate::i18n::gettext;
use crate::omemo::{EncryptedMessage, Envelope, Namespace, OmemoError};
use crate::service::api::{ChatMessage, ChatState, Event, ServiceError};
use crate::store::messages::{
    Direction, Encryption, Inserted, MessageRow, MessageState, NewMessage,
};
use crate::store::{Store, StoreError, omemo as ostore};
use crate::xmpp::link;

const NS_RECEIPTS: &str = "urn:xmpp:receipts";
const NS_MARKERS: &str = "urn:xmpp:chat-markers:0";
const NS_SID: &str = "urn:xmpp:sid:0";
const NS_CARBONS: &str = "urn:xmpp:carbons:2";
const NS_HINTS: &str = "urn:xmpp:hints";
const NS_EME: &str = "urn:xmpp:eme:0";
const NS_CORRECT: &str = "urn:xmpp:message-correct:0";
const NS_DELAY: &str = "urn:xmpp:delay";
const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// Archive page size: large pages make catch-up fast; servers cap it.
const MAM_PAGE: usize = 250;

macro_rules! nc {
    ($s:literal) => {
        xmpp_parsers::minidom::rxml::xml_ncname!($s).to_owned()
    };
}

/// Where a message came from.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    Live,
    /// A copy of a message one of our other clients sent or received.
    Carbon,
    /// From our archive, with its archive id.
    Archive {
        id: String,
    },
}

pub(crate) fn chat_message(account: &str, row: &MessageRow) -> ChatMessage {
    let encryption = row.encryption.as_str();
    ChatMessage {
        id: row.id,
        account: account.to_owned(),
        conversation: row.conversation_jid.clone(),
        direction: row.direction.as_str().to_owned(),
        sender: row.sender_jid.clone(),
        sender_nick: row.sender_nick.clone(),
        sender_device: row.sender_device,
        namespace: (encryption != "none").then(|| encryption.to_owned()),
        encrypted: encryption != "none",
        trusted: row.trusted,
        body: row.body.clone(),
        error: row.error.clone(),
        timestamp: row.timestamp,
        state: row.state.as_str().to_owned(),
        corrected: row.corrected,
        encryption_info: row.encryption_info_json(),
    }
}

pub(crate) fn conversation_summary(
    account: &str,
    c: crate::store::ConversationRow,
) -> crate::service::api::ConversationSummary {
    crate::service::api::ConversationSummary {
        account: account.to_owned(),
        name: c.name.clone().unwrap_or_else(|| c.jid.clone()),
        jid: c.jid,
        kind: c.kind,
        last_activity: c.last_activity,
        unread: c.unread.clamp(0, i64::from(u32::MAX)) as u32,
        encryption: c.encryption.as_deref().map(|e| e == "omemo"),
        last_body: c.last_body,
        last_direction: c.last_direction.map(|d| d.as_str().to_owned()),
        last_encrypted: c.last_encryption.is_some_and(|e| e != Encryption::None),
        last_state: c.last_state.map(|s| s.as_str().to_owned()),
    }
}

fn child<'a>(m: &'a Message, name: &str, ns: &str) -> Option<&'a Element> {
    m.payloads.iter().find(|p| p.is(name, ns))
}

fn parse_stamp(s: &str) -> Option<i64> {
    xmpp_parsers::date::DateTime::from_str(s)
        .ok()
        .map(|d| d.0.timestamp_millis())
}

use std::str::FromStr;

fn storage(e: StoreError) -> ServiceError {
    ServiceError::Storage(e.to_string())
}

impl Account {
    pub(crate) fn emit_message(&mut self, row: &MessageRow) {
        self.emit(Event::Message {
            message: chat_message(&self.row.jid, row),
        });
        if self.catching_up {
            self.caught_up.insert(row.conversation_jid.clone());
        } else {
            self.emit_summary(row.conversation_jid.clone());
        }
    }

    fn emit_summary(&self, jid: String) {
        let store = self.store.clone();
        let events = self.events.clone();
        let (account_id, account) = (self.row.id, self.row.jid.clone());
        tokio::spawn(async move {
            if let Ok(Some(c)) = store.conversation(account_id, &jid).await {
                let _ = events.send(Event::ConversationUpdated {
                    conversation: conversation_summary(&account, c),
                });
            }
        });
    }

    /// XEP-0085 §5.1: only to contacts who share presence with us.
    pub(crate) async fn send_chat_state(&mut self, to: BareJid, state: ChatState) {
        if !self.online {
            return;
        }
        let shares = self
            .store
            .contact(self.row.id, &to.to_string())
            .await
            .ok()
            .flatten()
            .is_some_and(|c| matches!(c.subscription.as_str(), "from" | "both"));
        if !shares {
            return;
        }
        let mut msg = Message::chat(Some(Jid::from(to)));
        msg.payloads
            .push(Element::builder(state.as_str(), NS_CHATSTATES).build());
        msg.payloads
            .push(Element::builder("no-store", NS_HINTS).build());
        let _ = self.link.send(msg).await;
    }

    /// Unread to zero and, when online, a read marker for the latest
    /// incoming message (XEP-0333: it covers the earlier ones).
    pub(crate) async fn mark_read(&mut self, jid: &str) {
        if let Err(e) = self.store.mark_read(self.row.id, jid).await {
            tracing::warn!("mark read failed: {e}");
            return;
        }
        if let Ok(Some(c)) = self.store.conversation(self.row.id, jid).await {
            self.emit(Event::ConversationUpdated {
                conversation: conversation_summary(&self.row.jid, c),
            });
        }
        if !self.online {
            return;
        }
        let latest = self
            .store
            .history(self.row.id, jid, None, 20)
            .await
            .ok()
            .and_then(|rows| {
                rows.into_iter()
                    .rev()
                    .find(|r| r.direction == Direction::In && r.message_id.is_some())
            });
        let (Some(row), Ok(to)) = (latest, BareJid::new(jid)) else {
            return;
        };
        if self.is_room(&to) {
            // Read markers in rooms would tell every member; not sent.
            return;
        }
        let mut marker = Message::chat(Some(Jid::from(to)));
        marker.id = Some(xmpp_parsers::message::Id(link::new_id()));
        marker.payloads.push(
            Element::builder("displayed", NS_MARKERS)
                .attr(nc!("id"), row.message_id.unwrap_or_default())
                .build(),
        );
        marker
            .payloads
            .push(Element::builder("store", NS_HINTS).build());
        let _ = self.link.send(marker).await;
    }

    // ---- sending -------------------------------------------------------

    /// Whether messages to `peer` are encrypted: the sticky choice, else
    /// OMEMO when the peer publishes devices.
    async fn wants_encryption(&mut self, peer: &BareJid) -> bool {
        let peer_str = peer.to_string();
        if let Ok(Some(c)) = self.store.conversation(self.row.id, &peer_str).await {
            match c.encryption.as_deref() {
                Some("omemo") => return true,
                Some("none") => return false,
                _ => {}
            }
        }
        if self.online && self.e2e.is_some() {
            let first = self
                .e2e
                .as_mut()
                .is_some_and(|e| e.fetched.insert(peer_str.clone()));
            if first {
                self.refresh_device_lists(peer).await;
            }
        }
        self.store
            .devices(self.row.id, Some(&peer_str))
            .await
            .map(|d| d.iter().any(|d| d.active))
            .unwrap_or(false)
    }

    /// A new outgoing message, stored (pending) and shown before anything
    /// goes on the wire.
    pub(super) async fn store_outgoing(
        &mut self,
        conversation: &BareJid,
        kind: &str,
        nick: Option<String>,
        body: String,
        encrypt: bool,
    ) -> Result<MessageRow, ServiceError> {
        let id = link::new_id();
        let new = NewMessage {
            conversation_jid: conversation.to_string(),
            conversation_kind: kind.into(),
            origin_id: Some(id.clone()),
            message_id: Some(id),
            direction: Direction::Out,
            sender_jid: self.jid.to_string(),
            sender_nick: nick,
            sender_device: self.e2e.as_ref().map(|e| e.own.device_id()),
            timestamp: crate::store::now_ms(),
            body: Some(body),
            encryption: if encrypt {
                Encryption::Omemo2
            } else {
                Encryption::None
            },
            state: MessageState::Pending,
            ..NewMessage::default()
        };
        let row = match self
            .store
            .insert_message(self.row.id, &new)
            .await
            .map_err(storage)?
        {
            Inserted::New(r) | Inserted::Duplicate(r) | Inserted::Corrected(r) => r,
        };
        self.emit_message(&row);
        Ok(row)
    }

    pub(crate) async fn send_chat(
        &mut self,
        to: BareJid,
        body: String,
    ) -> Result<ChatMessage, ServiceError> {
        if self.is_room(&to) {
            return self.send_group(to, body).await;
        }
        let encrypt = self.wants_encryption(&to).await;
        let row = self
            .store_outgoing(&to, "chat", None, body, encrypt)
            .await?;
        if encrypt {
            // Sticky from the first encrypted message on: if the contact's
            // devices vanish later, nothing silently goes out in the clear.
            let _ = self
                .store
                .set_conversation_encryption(self.row.id, &to.to_string(), Some("omemo"))
                .await;
        }
        if !self.online {
            return Ok(chat_message(&self.row.jid, &row));
        }
        let row = self.transmit(row, None).await?;
        Ok(chat_message(&self.row.jid, &row))
    }

    /// Send a stored outgoing message (first time, or again after a restart).
    /// With `correction_of`, `row` is the corrected original carrying the
    /// new text and a fresh id, sent as a XEP-0308 replacement: the stored
    /// original keeps its state and encryption record.
    pub(crate) async fn transmit(
        &mut self,
        row: MessageRow,
        correction_of: Option<&str>,
    ) -> Result<MessageRow, ServiceError> {
        let tracked = correction_of.is_none();
        let Ok(to) = BareJid::new(&row.conversation_jid) else {
            return Err(ServiceError::InvalidJid(row.conversation_jid.clone()));
        };
        let id = row.message_id.clone().unwrap_or_else(link::new_id);
        let body = row.body.clone().unwrap_or_default();
        let group = self.is_room(&to)
            || matches!(
                self.store.conversation(self.row.id, to.as_str()).await,
                Ok(Some(c)) if c.kind != "chat"
            );
        let mut msg = if group {
            if !self.rooms.get(&to).is_some_and(|r| r.joined) {
                // Stays pending: sent once the room is joined again.
                return Err(ServiceError::NotInRoom(to.to_string()));
            }
            Message::groupchat(Some(Jid::from(to.clone())))
        } else {
            Message::chat(Some(Jid::from(to.clone())))
        };
        msg.id = Some(xmpp_parsers::message::Id(id.clone()));
        let mut payloads = Vec::new();
        let mut saved_sessions = Vec::new();
        let mut row = row;
        if row.encryption.as_str() != "none" {
            let participants = if group {
                match self.group_recipients(&to) {
                    Ok(p) => p,
                    Err(e) => {
                        let reason = match &e {
                            ServiceError::CannotEncrypt(r) => r.clone(),
                            other => other.user_message(),
                        };
                        if tracked
                            && let Ok(Some(r)) = self
                                .store
                                .set_state(row.id, MessageState::Failed, Some(&reason))
                                .await
                        {
                            self.emit_message(&r);
                        }
                        return Err(e);
                    }
                }
            } else {
                vec![to.clone()]
            };
            let (mut sessions, report) = self.sessions_for_all(&participants).await;
            let got_key: Vec<&Recipient> = report.iter().filter(|r| r.left_out.is_none()).collect();
            let own = self.jid.to_string();
            let peer_got_key = if group {
                got_key.iter().any(|r| r.jid != own)
            } else {
                got_key.iter().any(|r| r.jid == row.conversation_jid)
            };
            let info = serde_json::to_value(&report).ok();
            if (sessions.is_empty() || !peer_got_key) && !tracked {
                return Err(ServiceError::CannotEncrypt(gettext(
                    "none of the contact's devices is trusted or reachable",
                )));
            }
            if sessions.is_empty() || !peer_got_key {
                let reason = if group && participants.is_empty() {
                    gettext("nobody else is in this group chat yet")
                } else if group {
                    gettext("none of the participants has a trusted device")
                } else if report.iter().all(|r| r.jid != row.conversation_jid) {
                    gettext("the contact has no OMEMO device")
                } else {
                    gettext("none of the contact's devices is trusted or reachable")
                };
                // Details first, so the failed message goes out with them.
                let _ = self.store.set_encryption_info(row.id, info.as_ref()).await;
                let failed = self
                    .store
                    .set_state(row.id, MessageState::Failed, Some(&reason))
                    .await
                    .map_err(storage)?;
                if let Some(r) = &failed {
                    self.emit_message(r);
                }
                return Err(ServiceError::CannotEncrypt(reason));
            }
            let from = self.jid.to_string();
            let to_str = to.to_string();
            let body_for = |ns: Namespace| -> Option<Vec<u8>> {
                Some(match ns {
                    Namespace::OldMemo => body.clone().into_bytes(),
                    Namespace::TwoMemo => {
                        let el = Element::builder("body", "jabber:client")
                            .append(body.clone())
                            .build();
                        Envelope::new(vec![el], &from, &to_str, Some(super::e2e::now_secs()))
                            .to_bytes(&mut rand::rng())
                    }
                })
            };
            let encrypted = self
                .encrypt_for(&mut sessions, &body_for)
                .map_err(|e| ServiceError::CannotEncrypt(e.to_string()))?;
            let first_ns = encrypted.first().map(|m| m.namespace);
            for m in &encrypted {
                payloads.push(m.to_xml());
            }
            if let Some(ns) = first_ns {
                payloads.push(
                    Element::builder("encryption", NS_EME)
                        .attr(nc!("namespace"), ns.xmlns())
                        .attr(nc!("name"), "OMEMO")
                        .build(),
                );
                let enc = if ns == Namespace::TwoMemo && encrypted.len() == 1 {
                    Encryption::Omemo2
                } else {
                    Encryption::Omemo0
                };
                if tracked {
                    let _ = self.store.set_encryption(row.id, enc, info.as_ref()).await;
                    if let Ok(Some(r)) = self.store.message(row.id).await {
                        row = r;
                    }
                } else {
                    // A correction: the caller stores it with these details.
                    row.encryption_info = info.as_ref().map(|v| v.to_string());
                }
            }
            msg.bodies.insert(
                xmpp_parsers::message::Lang::default(),
                gettext(
                    "This message is encrypted with OMEMO, which your client does not support.",
                ),
            );
            saved_sessions = sessions;
        } else {
            msg.bodies
                .insert(xmpp_parsers::message::Lang::default(), body.clone());
        }
        payloads.push(Element::builder("store", NS_HINTS).build());
        if let Some(original) = correction_of {
            payloads.push(
                Element::builder("replace", NS_CORRECT)
                    .attr(nc!("id"), original)
                    .build(),
            );
        }
        payloads.push(
            Element::builder("origin-id", NS_SID)
                .attr(nc!("id"), row.origin_id.clone().unwrap_or(id.clone()))
                .build(),
        );
        if !group {
            // Receipts in rooms would come from every member (XEP-0184 §5.3).
            payloads.push(Element::builder("request", NS_RECEIPTS).build());
        }
        payloads.push(Element::builder("markable", NS_MARKERS).build());
        payloads.push(Element::builder("active", NS_CHATSTATES).build());
        msg.payloads = payloads;
        let token = self
            .link
            .send(msg)
            .await
            .map_err(|_| ServiceError::NotConnected)?;
        // The ratchet moved: persist before anything else can use the sessions.
        self.save_sessions(&saved_sessions).await;
        if tracked && !group {
            self.follow_token(row.id, token);
        }
        Ok(row)
    }

    /// XEP-0308: replace the text of one of our messages, here and for the
    /// contact. Encrypted like a new message.
    pub(crate) async fn correct(
        &mut self,
        row_id: i64,
        body: String,
    ) -> Result<ChatMessage, ServiceError> {
        let original = self
            .store
            .message(row_id)
            .await
            .map_err(storage)?
            .filter(|r| r.direction == Direction::Out && r.account_id == self.row.id)
            .ok_or_else(|| {
                ServiceError::Refused(gettext("only your own messages can be edited"))
            })?;
        let Some(original_id) = original.message_id.clone() else {
            return Err(ServiceError::Refused(gettext(
                "this message cannot be edited",
            )));
        };
        if !self.online {
            return Err(ServiceError::NotConnected);
        }
        let new_id = link::new_id();
        let wire = MessageRow {
            message_id: Some(new_id.clone()),
            origin_id: Some(new_id.clone()),
            body: Some(body.clone()),
            ..original.clone()
        };
        let sent = self.transmit(wire, Some(&original_id)).await?;
        let correction = NewMessage {
            encryption_info: sent.encryption_info_json(),
            conversation_jid: original.conversation_jid.clone(),
            origin_id: Some(new_id.clone()),
            message_id: Some(new_id),
            direction: Direction::Out,
            sender_jid: original.sender_jid.clone(),
            body: Some(body),
            encryption: original.encryption,
            state: MessageState::Sent,
            replaces_id: Some(original_id),
            ..NewMessage::default()
        };
        let row = match self
            .store
            .insert_message(self.row.id, &correction)
            .await
            .map_err(storage)?
        {
            Inserted::New(r) | Inserted::Duplicate(r) | Inserted::Corrected(r) => r,
        };
        self.emit_message(&row);
        Ok(chat_message(&self.row.jid, &row))
    }

    /// Pending → sent when the server acks the stanza (XEP-0198).
    fn follow_token(&self, row_id: i64, mut token: tokio_xmpp::stanzastream::StanzaToken) {
        let store = self.store.clone();
        let events = self.events.clone();
        let account = self.row.jid.clone();
        tokio::spawn(async move {
            let state = token.wait_for(StanzaStage::Acked).await;
            let (new_state, error) = match state {
                Some(StanzaState::Acked { .. }) => (MessageState::Sent, None),
                Some(StanzaState::Failed { error }) => {
                    (MessageState::Failed, Some(error.to_string()))
                }
                // Dropped with the stream: stays pending, sent again on restart.
                _ => return,
            };
            if let Ok(Some(row)) = store.set_state(row_id, new_state, error.as_deref()).await {
                let _ = events.send(Event::Message {
                    message: chat_message(&account, &row),
                });
            }
        });
    }

    /// After a restart: send what was stored but never acked.
    pub(crate) async fn resend_pending(&mut self) {
        let rows = match self.store.pending_outgoing(self.row.id).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("reading pending messages failed: {e}");
                return;
            }
        };
        for row in rows {
            if let Err(e) = self.transmit(row, None).await {
                tracing::info!("a pending message could not be sent: {e}");
            }
        }
    }

    /// An empty OMEMO message: completes a session after a pre-key message,
    /// repairs a broken one, or moves a stale ratchet on.
    pub(crate) async fn send_key_transport(
        &mut self,
        ns: Namespace,
        jid: &str,
        device_id: u32,
        fresh: bool,
    ) {
        let Ok(peer) = BareJid::new(jid) else { return };
        let session = async {
            if !fresh {
                let mut conn = self
                    .store
                    .pool()
                    .acquire()
                    .await
                    .map_err(|e| e.to_string())?;
                if let Some(s) = ostore::load_session_in(&mut conn, self.row.id, ns, jid, device_id)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Ok(s);
                }
            }
            self.new_session(&peer, ns, device_id).await
        }
        .await;
        let mut sessions = match session {
            Ok(s) => vec![s],
            Err(e) => {
                tracing::info!(%jid, device_id, "no empty message possible: {e}");
                return;
            }
        };
        let Ok(encrypted) = self.encrypt_for(&mut sessions, &|_| None) else {
            return;
        };
        let mut msg = Message::chat(Some(Jid::from(peer)));
        msg.id = Some(xmpp_parsers::message::Id(link::new_id()));
        msg.payloads = encrypted.iter().map(EncryptedMessage::to_xml).collect();
        msg.payloads
            .push(Element::builder("store", NS_HINTS).build());
        if self.link.send(msg).await.is_ok() {
            self.save_sessions(&sessions).await;
        }
    }

    // ---- receiving -----------------------------------------------------

    pub(crate) async fn on_message(&mut self, msg: Message) {
        let from_self = msg.from.as_ref().is_none_or(|f| f.to_bare() == self.jid);
        // Carbons (XEP-0280) are only valid from our own account.
        if from_self {
            for kind in ["received", "sent"] {
                if let Some(c) = child(&msg, kind, NS_CARBONS) {
                    if let Some(inner) = forwarded_message(c) {
                        Box::pin(self.on_chat(inner, Origin::Carbon)).await;
                    }
                    return;
                }
            }
        }
        if let Some((items, node)) = crate::xmpp::pep::event_items(&msg) {
            let publisher = msg
                .from
                .as_ref()
                .map(|f| f.to_bare())
                .unwrap_or_else(|| self.jid.clone());
            let items = items.clone();
            self.on_device_list_event(publisher, &node, &items).await;
            return;
        }
        let from_room = msg
            .from
            .as_ref()
            .is_some_and(|f| self.is_room(&f.to_bare()));
        let muc_related = from_room
            || msg.type_ == MessageType::Groupchat
            || msg
                .payloads
                .iter()
                .any(|p| p.is("x", "jabber:x:conference") || p.is("x", xmpp_parsers::ns::MUC_USER));
        if !from_self && muc_related && self.on_room_message(msg.clone(), Origin::Live).await {
            return;
        }
        self.on_chat(msg, Origin::Live).await;
    }

    /// A page of the archive: `result` wrappers around forwarded messages.
    async fn on_archived(&mut self, wrapper: Message) {
        if wrapper
            .from
            .as_ref()
            .is_some_and(|f| f.to_bare() != self.jid)
        {
            return;
        }
        let Some(result) = child(&wrapper, "result", xmpp_parsers::ns::MAM) else {
            return;
        };
        let Some(id) = result.attr("id").map(str::to_owned) else {
            return;
        };
        if let Some(inner) = forwarded_message(result) {
            self.on_chat(inner, Origin::Archive { id }).await;
        }
    }

    async fn on_chat(&mut self, msg: Message, origin: Origin) {
        if !matches!(
            msg.type_,
            MessageType::Chat | MessageType::Normal | MessageType::Error
        ) {
            return;
        }
        let sender = msg
            .from
            .as_ref()
            .map(|f| f.to_bare())
            .unwrap_or_else(|| self.jid.clone());
        let outgoing = sender == self.jid;
        let peer = if outgoing {
            match msg.to.as_ref().map(|t| t.to_bare()) {
                Some(p) => p,
                None => return,
            }
        } else {
            sender.clone()
        };
        let peer_str = peer.to_string();
        if msg.type_ == MessageType::Error {
            if let Some(id) = &msg.id {
                let reason = msg
                    .payloads
                    .iter()
                    .find(|p| p.name() == "error")
                    .map(|e| {
                        e.children()
                            .map(|c| c.name().to_owned())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_else(|| gettext("the server returned an error"));
                // Our message id is also its origin-id.
                if let Ok(Some(row)) = self
                    .store
                    .message_by_origin_id(self.row.id, &peer_str, &id.0)
                    .await
                    && let Ok(Some(row)) = self
                        .store
                        .set_state(row.id, MessageState::Failed, Some(&reason))
                        .await
                {
                    self.emit_message(&row);
                }
            }
            return;
        }
        // Receipts and markers move our outgoing messages on.
        if !outgoing {
            let mark = child(&msg, "received", NS_RECEIPTS)
                .and_then(|r| r.attr("id"))
                .map(|id| (id.to_owned(), MessageState::Delivered))
                .or_else(|| {
                    child(&msg, "displayed", NS_MARKERS)
                        .and_then(|r| r.attr("id"))
                        .map(|id| (id.to_owned(), MessageState::Read))
                });
            if let Some((id, state)) = mark
                && let Ok(rows) = self
                    .store
                    .mark_outgoing_up_to(self.row.id, &peer_str, &id, state)
                    .await
            {
                for r in &rows {
                    self.emit_message(r);
                }
            }
        } else if child(&msg, "displayed", NS_MARKERS).is_some() {
            // We read it on another device.
            let _ = self.store.mark_read(self.row.id, &peer_str).await;
        }
        if !outgoing
            && matches!(origin, Origin::Live)
            && let Some(state) = msg
                .payloads
                .iter()
                .filter(|p| p.ns() == NS_CHATSTATES)
                .find_map(|p| ChatState::parse(p.name()))
        {
            self.emit(Event::ChatState {
                account: self.row.jid.clone(),
                jid: peer_str.clone(),
                state,
            });
        }
        let encrypted = NAMESPACES
            .into_iter()
            .find_map(|ns| child(&msg, "encrypted", ns.xmlns()).map(|e| (ns, e.clone())));
        let body = msg.bodies.values().next().cloned();
        if encrypted.is_none() && body.is_none() {
            return;
        }
        let origin_id = child(&msg, "origin-id", NS_SID)
            .and_then(|e| e.attr("id"))
            .map(str::to_owned);
        let (stanza_id, stanza_id_by) = match &origin {
            Origin::Archive { id } => (Some(id.clone()), Some(self.jid.to_string())),
            _ => msg
                .payloads
                .iter()
                .filter(|p| p.is("stanza-id", NS_SID))
                .find(|p| p.attr("by") == Some(&self.jid.to_string()))
                .map(|p| (p.attr("id").map(str::to_owned), Some(self.jid.to_string())))
                .unwrap_or((None, None)),
        };
        let timestamp = child(&msg, "delay", NS_DELAY)
            .and_then(|d| d.attr("stamp"))
            .and_then(parse_stamp)
            .unwrap_or_else(crate::store::now_ms);
        let mut new = NewMessage {
            conversation_jid: peer_str.clone(),
            conversation_kind: "chat".into(),
            stanza_id,
            stanza_id_by,
            origin_id,
            message_id: msg.id.as_ref().map(|i| i.0.clone()),
            direction: if outgoing {
                Direction::Out
            } else {
                Direction::In
            },
            sender_jid: sender.to_string(),
            timestamp,
            body: None,
            state: if outgoing {
                MessageState::Sent
            } else {
                MessageState::Received
            },
            replaces_id: child(&msg, "replace", NS_CORRECT)
                .and_then(|r| r.attr("id"))
                .map(str::to_owned),
            ..NewMessage::default()
        };
        // Exactly once: a message we already have is never decrypted again
        // (its keys are gone).
        match self.store.find_duplicate(self.row.id, &new).await {
            Ok(Some(_)) => return,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("duplicate check failed: {e}");
                return;
            }
        }
        let wants_receipt = matches!(origin, Origin::Live)
            && !outgoing
            && child(&msg, "request", NS_RECEIPTS).is_some();
        let stored = match encrypted {
            None => {
                new.body = body;
                self.store.insert_message(self.row.id, &new).await.map(Some)
            }
            Some((ns, element)) => self.receive_encrypted(new, ns, &element, outgoing).await,
        };
        match stored {
            Ok(Some(Inserted::New(row) | Inserted::Corrected(row))) => {
                self.emit_message(&row);
                if wants_receipt && let Some(id) = &row.message_id {
                    let mut receipt = Message::chat(Some(Jid::from(peer.clone())));
                    receipt.id = Some(xmpp_parsers::message::Id(link::new_id()));
                    receipt.payloads.push(
                        Element::builder("received", NS_RECEIPTS)
                            .attr(nc!("id"), id.as_str())
                            .build(),
                    );
                    receipt
                        .payloads
                        .push(Element::builder("store", NS_HINTS).build());
                    let _ = self.link.send(receipt).await;
                }
            }
            Ok(_) => {}
            Err(e) => self.emit(Event::Error {
                message: storage(e).user_message(),
            }),
        }
    }

    /// Decrypt and store in one transaction: ratchet state, consumed
    /// pre-key and message commit together or not at all.
    pub(super) async fn receive_encrypted(
        &mut self,
        mut new: NewMessage,
        ns: Namespace,
        element: &Element,
        outgoing: bool,
    ) -> Result<Option<Inserted>, StoreError> {
        new.encryption = match ns {
            Namespace::OldMemo => Encryption::Omemo0,
            Namespace::TwoMemo => Encryption::Omemo2,
        };
        let sender = new.sender_jid.clone();
        let parsed = EncryptedMessage::from_xml(element);
        let Some(e2e) = self.e2e.as_ref() else {
            new.error = Some(gettext("encryption is not set up on this device yet"));
            return self.store.insert_message(self.row.id, &new).await.map(Some);
        };
        let own_id = e2e.own.device_id();
        let message = match parsed {
            Ok(m) => m,
            Err(e) => {
                new.error = Some(format!("{}: {e}", gettext("malformed encrypted message")));
                return self.store.insert_message(self.row.id, &new).await.map(Some);
            }
        };
        new.sender_device = Some(message.sender_device_id);
        new.encryption_info = Some(serde_json::json!({
            "encrypted_for": message.recipient_device_ids(),
        }));
        if outgoing && message.sender_device_id == own_id {
            // Our own message reflected back; it was stored when sent.
            return Ok(None);
        }
        if message.sender_device_id == own_id {
            // Only this device holds its keys: anyone else using its id is
            // forging, and a session under that id would poison trust.
            if message.payload.is_none() {
                return Ok(None);
            }
            new.error = Some(gettext(
                "refused: the message claims to come from this device",
            ));
            return self.store.insert_message(self.row.id, &new).await.map(Some);
        }
        if message.key_for(own_id).is_err() {
            if message.payload.is_none() {
                return Ok(None);
            }
            new.error = Some(gettext("not encrypted for this device"));
            return self.store.insert_message(self.row.id, &new).await.map(Some);
        }
        let btbv = self.btbv().await;
        let mut tx = self.store.begin_received().await?;
        let existing =
            ostore::load_session_in(&mut tx, self.row.id, ns, &sender, message.sender_device_id)
                .await?;
        let mut existing = existing;
        let result = crate::omemo::decrypt(
            &mut rand::rng(),
            &e2e.own,
            &message,
            &sender,
            existing.as_mut(),
        );
        let decrypted = match result {
            Ok(d) => d,
            Err(e) => {
                drop(tx);
                let reason = describe(&e);
                tracing::info!(%sender, device = message.sender_device_id, "undecryptable: {e}");
                let catching_up = self.catching_up;
                if !catching_up && self.repair_due(&sender, message.sender_device_id) {
                    self.send_key_transport(ns, &sender, message.sender_device_id, true)
                        .await;
                }
                if message.payload.is_none() {
                    return Ok(None);
                }
                new.error = Some(reason);
                return self.store.insert_message(self.row.id, &new).await.map(Some);
            }
        };
        let fresh_session = decrypted.new_session.is_some();
        let session = match decrypted.new_session {
            Some(s) => s,
            None => match existing {
                Some(s) => s,
                None => return Ok(None),
            },
        };
        let key = trust_key(session.peer_identity());
        ostore::save_session_in(&mut tx, self.row.id, &session).await?;
        ostore::touch_device_in(&mut tx, self.row.id, &sender, ns, message.sender_device_id)
            .await?;
        // Trust commits with the message, so the stored flag is never stale.
        let decision = ostore::decide_new_device_in(
            &mut tx,
            self.row.id,
            &sender,
            message.sender_device_id,
            &key,
            btbv,
        )
        .await?;
        new.trusted = Some(decision.level.is_trusted());
        if fresh_session {
            ostore::set_device_identity_in(
                &mut tx,
                self.row.id,
                &sender,
                ns,
                message.sender_device_id,
                &key,
            )
            .await?;
        }
        if let Some(pk) = decrypted.consumed_pre_key {
            if self.catching_up {
                if let Some(e) = self.e2e.as_mut() {
                    e.deferred_pre_keys.push(pk);
                }
            } else if let Some(e) = self.e2e.as_mut() {
                e.own.remove_pre_key(pk);
                ostore::save_own_device_in(&mut tx, self.row.id, &e.own).await?;
            }
        }
        let stored = match decrypted.plaintext {
            None => None,
            Some(plain) => {
                let own_bare = self.jid.to_string();
                let (to_bare, from_bare) = if new.conversation_kind != "chat" {
                    // XEP-0420 in a room: to the room, from the real JID.
                    (new.conversation_jid.clone(), sender.clone())
                } else if outgoing {
                    (new.conversation_jid.clone(), own_bare)
                } else {
                    (own_bare, sender.clone())
                };
                new.body = match ns {
                    Namespace::OldMemo => Some(String::from_utf8_lossy(&plain).into_owned()),
                    Namespace::TwoMemo => match Envelope::parse(&plain)
                        .and_then(|env| env.check(&from_bare, &to_bare).map(|_| env))
                    {
                        Ok(env) => env.body(),
                        Err(e) => {
                            new.error = Some(format!(
                                "{}: {e}",
                                gettext("the encrypted envelope is not valid")
                            ));
                            None
                        }
                    },
                };
                Some(crate::store::messages::insert_message_in(&mut tx, self.row.id, &new).await?)
            }
        };
        tx.commit().await?;
        if decision.identity_changed {
            self.emit(Event::IdentityChanged {
                account: self.row.jid.clone(),
                jid: sender.clone(),
                device_id: message.sender_device_id,
                fingerprint: hex::encode(&key),
            });
        }
        if decision.identity_changed || fresh_session {
            self.emit(Event::DevicesChanged {
                account: self.row.jid.clone(),
                jid: sender.clone(),
            });
        }
        let sid = message.sender_device_id;
        if fresh_session || session.needs_heartbeat() {
            if self.catching_up {
                if let Some(e) = self.e2e.as_mut() {
                    e.held_replies.push((ns, sender.clone(), sid));
                }
            } else {
                self.send_key_transport(ns, &sender, sid, false).await;
            }
        }
        if decrypted.consumed_pre_key.is_some() && !self.catching_up {
            self.after_pre_keys_used().await;
        }
        Ok(stored)
    }

    async fn after_pre_keys_used(&mut self) {
        let Some(e) = self.e2e.as_mut() else { return };
        let changed = e.own.replenish_pre_keys(&mut rand::rng()) > 0;
        if changed {
            let own = e.own.clone();
            let saved = async {
                let mut tx = self.store.begin().await?;
                ostore::save_own_device_in(&mut tx, self.row.id, &own).await?;
                tx.commit().await?;
                Ok::<(), StoreError>(())
            }
            .await;
            if let Err(e) = saved {
                tracing::warn!("saving replenished pre-keys failed: {e}");
                return;
            }
            if let Err(e) = self.publish_bundles().await {
                tracing::warn!("{e}");
            }
        }
    }

    /// Catch-up on connect: the archive after the last id we saw, paged,
    /// before live traffic. Pre-keys used meanwhile stay until the end (a
    /// backlog can hold several messages built on one), and automatic
    /// replies wait too.
    pub(crate) async fn catch_up(&mut self) {
        self.catching_up = true;
        // `None`: this device never looked at the archive; `Some("")`: it
        // did and the archive was empty, so everything in it is new.
        let stored = self.store.mam_last_id(self.row.id).await.ok().flatten();
        let first_time = stored.is_none();
        let mut after = stored.filter(|id| !id.is_empty());
        let mut done = 0u64;
        loop {
            let page = if first_time {
                // A new device starts at the end of the archive; anything
                // waiting for it comes as offline messages.
                self.link.mam_page(None, None, Some(String::new()), 1).await
            } else {
                self.link
                    .mam_page(None, after.clone(), None, MAM_PAGE)
                    .await
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!("archive catch-up stopped: {e}");
                    break;
                }
            };
            if !first_time {
                for m in page.results {
                    self.on_archived(m).await;
                    done += 1;
                }
            }
            let mark = match (&page.last, first_time) {
                (Some(last), _) => Some(last.as_str()),
                (None, true) => Some(""),
                (None, false) => None,
            };
            if let Some(mark) = mark
                && let Err(e) = self.store.set_mam_last_id(self.row.id, mark).await
            {
                tracing::warn!("remembering the archive position failed: {e}");
            }
            self.emit(Event::CatchUp {
                account: self.row.jid.clone(),
                done,
                finished: false,
            });
            if first_time || page.complete || page.last.is_none() {
                break;
            }
            after = page.last;
        }
        self.catching_up = false;
        for jid in std::mem::take(&mut self.caught_up) {
            self.emit_summary(jid);
        }
        self.emit(Event::CatchUp {
            account: self.row.jid.clone(),
            done,
            finished: true,
        });
        self.finish_catch_up().await;
    }

    pub(super) async fn finish_catch_up(&mut self) {
        let Some(e) = self.e2e.as_mut() else { return };
        let used = std::mem::take(&mut e.deferred_pre_keys);
        let replies = std::mem::take(&mut e.held_replies);
        let removed = used.iter().filter(|pk| e.own.remove_pre_key(**pk)).count();
        if removed > 0 {
            self.after_pre_keys_used().await;
        }
        let mut seen = std::collections::HashSet::new();
        for (ns, jid, device) in replies {
            if seen.insert((ns_str(ns), jid.clone(), device)) {
                self.send_key_transport(ns, &jid, device, false).await;
            }
        }
    }
}

pub(super) fn forwarded_message(wrapper: &Element) -> Option<Message> {
    let fwd = wrapper
        .children()
        .find(|c| c.is("forwarded", "urn:xmpp:forward:0"))?;
    let inner = fwd.children().find(|c| c.name() == "message")?.clone();
    let mut msg = Message::try_from(inner).ok()?;
    // The archive's timestamp rides on the forward wrapper.
    if let Some(delay) = fwd.children().find(|c| c.is("delay", NS_DELAY))
        && !msg.payloads.iter().any(|p| p.is("delay", NS_DELAY))
    {
        msg.payloads.push(delay.clone());
    }
    Some(msg)
}

fn describe(e: &OmemoError) -> String {
    match e {
        OmemoError::NoSession => gettext("no session with the sending device"),
        OmemoError::WrongRecipient(_) => gettext("not encrypted for this device"),
        other => other.to_string(),
    }
}

pub(crate) async fn history(
    store: &Store,
    account_id: i64,
    account: &str,
    jid: &str,
    before: Option<(i64, i64)>,
    limit: u32,
) -> Result<Vec<ChatMessage>, StoreError> {
    let rows = store.history(account_id, jid, before, limit).await?;
    Ok(rows.iter().map(|r| chat_message(account, r)).collect())
}
