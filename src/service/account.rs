//! One task per logged-in account: it owns the stream, keeps the roster and
//! presence in sync with the server, and answers the requests routed to it.

mod caps;
mod chat;
mod e2e;
mod muc;
mod qr;

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::Stanza;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::presence::{Presence, Show, Type as PresenceType};
use tokio_xmpp::parsers::roster::{Ask, Group, Item, Roster, Subscription as RosterSubscription};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use zeroize::Zeroizing;

use super::api::{
    Affiliation, ChatMessage, ConnectionError, ConnectionState, Contact, DeviceInfo, Event,
    PresenceInfo, Reply, RoomInfo, RoomListing, ServiceError, Subscription,
};
use crate::store::{AccountRow, ContactRow, Store, contacts::RosterItem};
use crate::xmpp::{AttemptReport, Connector, Incoming, Link, link};
pub(crate) use chat::{chat_message, conversation_summary, history};
pub(crate) use e2e::{device_infos, normalize_fingerprint};

#[derive(Debug)]
pub(crate) enum AccountCommand {
    AddContact {
        jid: BareJid,
        name: Option<String>,
        reply: Reply<()>,
    },
    RemoveContact {
        jid: BareJid,
        reply: Reply<()>,
    },
    Answer {
        jid: BareJid,
        accept: bool,
        reply: Reply<()>,
    },
    Sync {
        reply: Reply<()>,
    },
    Send {
        to: BareJid,
        body: String,
        reply: Reply<ChatMessage>,
    },
    Devices {
        jid: BareJid,
        reply: Reply<Vec<DeviceInfo>>,
    },
    RemoveOwnDevice {
        device_id: u32,
        reply: Reply<()>,
    },
    MarkRead {
        jid: String,
    },
    ChatState {
        jid: BareJid,
        state: super::api::ChatState,
    },
    Correct {
        id: i64,
        body: String,
        reply: Reply<ChatMessage>,
    },
    /// Compare a scanned code with the server; `apply` saves (issue 7).
    CheckQr {
        uri: crate::qr::TrustUri,
        apply: bool,
        reply: Reply<super::qr::QrSummary>,
    },
    CreateRoom {
        room: BareJid,
        name: Option<String>,
        nick: Option<String>,
        members: Vec<BareJid>,
        channel: bool,
        reply: Reply<RoomInfo>,
    },
    JoinRoom {
        room: BareJid,
        nick: Option<String>,
        reply: Reply<RoomInfo>,
    },
    LeaveRoom {
        room: BareJid,
        reply: Reply<()>,
    },
    DestroyRoom {
        room: BareJid,
        reason: Option<String>,
        reply: Reply<()>,
    },
    RoomDetails {
        room: BareJid,
        reply: Reply<RoomInfo>,
    },
    SetAffiliation {
        room: BareJid,
        jid: BareJid,
        affiliation: Affiliation,
        reason: Option<String>,
        reply: Reply<()>,
    },
    Kick {
        room: BareJid,
        nick: String,
        reason: Option<String>,
        reply: Reply<()>,
    },
    Invite {
        room: BareJid,
        jids: Vec<BareJid>,
        reason: Option<String>,
        reply: Reply<()>,
    },
    SetSubject {
        room: BareJid,
        subject: String,
        reply: Reply<()>,
    },
    ListRooms {
        service: Option<String>,
        reply: Reply<Vec<RoomListing>>,
    },
    SetNick {
        room: BareJid,
        nick: String,
        reply: Reply<RoomInfo>,
    },
    ConferenceService {
        reply: Reply<String>,
    },
    /// The user changed whether open non-anonymous rooms are encrypted.
    OpenGroupsPolicy {
        allow: bool,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// The core's handle on a running account task.
#[derive(Debug)]
pub(crate) struct AccountHandle {
    pub tx: mpsc::UnboundedSender<AccountCommand>,
    pub task: tokio::task::JoinHandle<()>,
}

pub(crate) fn spawn(
    row: AccountRow,
    connector: Connector,
    password: Zeroizing<String>,
    store: Store,
    events: mpsc::UnboundedSender<Event>,
) -> Result<AccountHandle, ServiceError> {
    let jid = BareJid::new(&row.jid).map_err(|e| ServiceError::InvalidJid(e.to_string()))?;
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let link = link::open(
        connector.clone(),
        jid.clone(),
        password.clone(),
        in_tx.clone(),
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let account = Account {
        connector,
        password,
        incoming_tx: in_tx,
        relink: false,
        jid,
        row,
        store,
        events,
        link,
        online: false,
        stopped_by: None,
        roster_synced: false,
        sync_waiters: Vec::new(),
        presences: HashMap::new(),
        e2e: None,
        catching_up: false,
        caught_up: Default::default(),
        resent_pending: false,
        rooms: HashMap::new(),
        muc: Default::default(),
    };
    let task = tokio::spawn(account.run(rx, in_rx));
    Ok(AccountHandle { tx, task })
}

struct Account {
    connector: Connector,
    password: Zeroizing<String>,
    incoming_tx: mpsc::UnboundedSender<Incoming>,
    /// The current stream gave up (see `AttemptReport::Stuck`); open a new one when it closes.
    relink: bool,
    jid: BareJid,
    row: AccountRow,
    store: Store,
    events: mpsc::UnboundedSender<Event>,
    link: Link,
    online: bool,
    /// Set when a fatal error ended the stream.
    stopped_by: Option<ConnectionError>,
    roster_synced: bool,
    sync_waiters: Vec<Reply<()>>,
    /// Available resources per contact.
    presences: HashMap<BareJid, HashMap<String, PresenceInfo>>,
    /// OMEMO, once set up on this connection.
    e2e: Option<e2e::E2e>,
    /// Processing the archive backlog (see `catch_up`).
    catching_up: bool,
    /// Conversations touched during the catch-up: their summaries go out
    /// once at its end rather than once per archived message.
    caught_up: std::collections::BTreeSet<String>,
    /// Messages left pending by an earlier run were sent again.
    resent_pending: bool,
    /// Group chats and channels on this connection.
    rooms: HashMap<BareJid, muc::Room>,
    muc: muc::Session,
}

fn storage(e: crate::store::StoreError) -> ServiceError {
    ServiceError::Storage(e.to_string())
}

impl Account {
    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    fn set_state(&self, state: ConnectionState) {
        self.emit(Event::Connection {
            account: self.row.jid.clone(),
            state,
        });
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<AccountCommand>,
        mut incoming: mpsc::UnboundedReceiver<Incoming>,
    ) {
        loop {
            // Answer Sync only once everything that arrived before the
            // barrier (see `after_reset`) has been processed.
            if self.roster_synced
                && self.online
                && !self.sync_waiters.is_empty()
                && incoming.is_empty()
            {
                for w in self.sync_waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            tokio::select! {
                biased;
                msg = incoming.recv() => match msg {
                    Some(Incoming::Closed) if self.relink => {
                        self.relink = false;
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        self.link = link::open(
                            self.connector.clone(),
                            self.jid.clone(),
                            self.password.clone(),
                            self.incoming_tx.clone(),
                        );
                    }
                    Some(Incoming::Closed) | None => {
                        self.online = false;
                        self.forget_presences();
                        let reason = self.stopped_by.clone();
                        self.set_state(ConnectionState::Offline { reason: reason.clone() });
                        for w in self.sync_waiters.drain(..) {
                            let _ = w.send(Err(match &reason {
                                Some(e) => ServiceError::Connection(e.clone()),
                                None => ServiceError::NotConnected,
                            }));
                        }
                        // Keep answering commands (with NotConnected) until closed.
                        drain_offline(commands, reason).await;
                        return;
                    }
                    Some(msg) => self.on_incoming(msg).await,
                },
                cmd = commands.recv() => match cmd {
                    Some(AccountCommand::Close { reply }) => {
                        if self.online {
                            let _ = self.link.send(Presence::unavailable()).await;
                        }
                        self.link.close().await;
                        self.forget_presences();
                        self.set_state(ConnectionState::Offline { reason: None });
                        let _ = reply.send(());
                        return;
                    }
                    Some(cmd) => self.on_command(cmd).await,
                    None => {
                        self.link.close().await;
                        return;
                    }
                },
            }
        }
    }

    async fn on_incoming(&mut self, msg: Incoming) {
        match msg {
            Incoming::Attempt(AttemptReport::Connecting) => {
                if !self.online {
                    self.set_state(ConnectionState::Connecting);
                }
            }
            Incoming::Attempt(AttemptReport::Stuck) => {
                tracing::info!("stream negotiation keeps failing; starting a fresh stream");
                self.relink = true;
            }
            Incoming::Attempt(AttemptReport::Failed { error, fatal }) => {
                if fatal {
                    self.stopped_by = Some(error);
                } else {
                    self.set_state(ConnectionState::Reconnecting {
                        reason: error.user_message(),
                    });
                }
            }
            Incoming::Reset { bound_jid } => {
                tracing::debug!(%bound_jid, "stream bound");
                self.online = true;
                self.forget_presences();
                self.set_state(ConnectionState::Online);
                self.after_reset().await;
            }
            Incoming::Resumed => {
                self.online = true;
                self.set_state(ConnectionState::Online);
            }
            Incoming::Suspended => {
                self.online = false;
                self.forget_presences();
                self.set_state(ConnectionState::Reconnecting {
                    reason: crate::i18n::gettext("The connection was interrupted."),
                });
            }
            Incoming::Stanza(stanza) => self.on_stanza(*stanza).await,
            Incoming::Closed => {}
        }
    }

    /// A fresh session: fetch the roster, then announce ourselves.
    async fn after_reset(&mut self) {
        self.roster_synced = false;
        match self
            .link
            .iq(Iq::from_get(
                link::new_id(),
                Roster {
                    ver: None,
                    items: vec![],
                },
            ))
            .await
        {
            Ok(Some(payload)) => match Roster::try_from(payload) {
                Ok(roster) => {
                    let items: Vec<RosterItem> = roster.items.iter().map(roster_item).collect();
                    if let Err(e) = self
                        .store
                        .replace_roster(self.row.id, &items, roster.ver.as_deref())
                        .await
                    {
                        self.emit(Event::Error {
                            message: storage(e).user_message(),
                        });
                    }
                    self.emit_roster().await;
                }
                Err(e) => tracing::warn!("malformed roster from the server: {e}"),
            },
            Ok(None) => self.emit_roster().await,
            Err(e) => tracing::warn!("roster fetch failed: {e}"),
        }
        if let Err(e) = self.omemo_setup().await {
            tracing::warn!("OMEMO set-up failed: {e}");
            self.emit(Event::Error {
                message: crate::i18n::gettext_f(
                    "Encryption could not be set up on the server: {detail}",
                    &[("detail", &e)],
                ),
            });
        }
        // Before presence: live messages only flow once we are available,
        // so the backlog is processed first.
        self.catch_up().await;
        let carbons = Iq::from_set(link::new_id(), xmpp_parsers::carbons::Enable);
        if let Err(e) = self.link.iq(carbons).await {
            tracing::info!("carbons not enabled: {e}");
        }
        let mut presence = Presence::available();
        presence.payloads.push(caps::caps().into());
        let _ = self.link.send(presence).await;
        // A ping to our server is a barrier: the server handles stanzas in
        // order, so pending subscription requests and presences it sends in
        // answer to our initial presence are queued before the pong.
        let ping = Iq::from_get(link::new_id(), xmpp_parsers::ping::Ping)
            .with_to(Jid::from(self.jid.domain().to_owned()));
        if let Err(e) = self.link.iq(ping).await {
            tracing::debug!("ping after login: {e}");
        }
        // Rooms after our own archive; each catches up with its own.
        self.join_rooms_on_connect().await;
        self.roster_synced = true;
        if !self.resent_pending {
            self.resent_pending = true;
            self.resend_pending().await;
        }
    }

    async fn emit_roster(&self) {
        match self.store.contacts(self.row.id).await {
            Ok(rows) => self.emit(Event::Roster {
                account: self.row.jid.clone(),
                contacts: rows.iter().map(contact_from_row).collect(),
            }),
            Err(e) => self.emit(Event::Error {
                message: storage(e).user_message(),
            }),
        }
    }

    async fn emit_contact(&self, jid: &str) {
        match self.store.contact(self.row.id, jid).await {
            Ok(Some(row)) if row.in_roster || row.pending_in => self.emit(Event::ContactUpdated {
                account: self.row.jid.clone(),
                contact: contact_from_row(&row),
            }),
            Ok(_) => self.emit(Event::ContactRemoved {
                account: self.row.jid.clone(),
                jid: jid.to_owned(),
            }),
            Err(e) => self.emit(Event::Error {
                message: storage(e).user_message(),
            }),
        }
    }

    async fn on_stanza(&mut self, stanza: Stanza) {
        match stanza {
            Stanza::Iq(iq) => self.on_iq(iq).await,
            Stanza::Presence(p) => self.on_presence(p).await,
            Stanza::Message(m) => self.on_message(m).await,
        }
    }

    async fn on_iq(&mut self, iq: Iq) {
        let (from, id, payload, is_set) = match iq {
            Iq::Get {
                from, id, payload, ..
            } => (from, id, payload, false),
            Iq::Set {
                from, id, payload, ..
            } => (from, id, payload, true),
            _ => return,
        };
        // Roster pushes are only valid from our own account (RFC 6121 §2.1.6).
        let from_self = from.as_ref().is_none_or(|f| f.to_bare() == self.jid);
        let reply_to = from.clone().unwrap_or_else(|| Jid::from(self.jid.clone()));
        if is_set && payload.is("query", xmpp_parsers::ns::ROSTER) && from_self {
            if let Ok(roster) = Roster::try_from(payload) {
                for item in &roster.items {
                    let jid = item.jid.to_string();
                    let result = if item.subscription == RosterSubscription::Remove {
                        self.store.remove_roster_item(self.row.id, &jid).await
                    } else {
                        self.store
                            .upsert_roster_item(self.row.id, &roster_item(item))
                            .await
                    };
                    if let Err(e) = result {
                        self.emit(Event::Error {
                            message: storage(e).user_message(),
                        });
                    }
                    self.emit_contact(&jid).await;
                }
                let _ = self.link.send(Iq::empty_result(reply_to, id)).await;
            }
            return;
        }
        if !is_set && payload.is("query", xmpp_parsers::ns::DISCO_INFO) {
            let node = payload.attr("node").map(str::to_owned);
            let mut info = caps::disco_info();
            info.node = node;
            let answer = Iq::Result {
                from: None,
                to: Some(reply_to),
                id,
                payload: Some(info.into()),
            };
            let _ = self.link.send(answer).await;
            return;
        }
        if !is_set && payload.is("ping", xmpp_parsers::ns::PING) {
            let _ = self.link.send(Iq::empty_result(reply_to, id)).await;
            return;
        }
        // Anything else: say we don't do it (RFC 6120 §8.2.3), never stay silent.
        let error = StanzaError::new(
            ErrorType::Cancel,
            DefinedCondition::ServiceUnavailable,
            "en",
            "",
        );
        let _ = self
            .link
            .send(Iq::from_error(id, error).with_to(reply_to))
            .await;
    }

    /// Without a stream we know nothing about anyone's presence: say so,
    /// instead of leaving contacts shown as online.
    fn forget_presences(&mut self) {
        for (jid, resources) in std::mem::take(&mut self.presences) {
            if resources.is_empty() {
                continue;
            }
            self.emit(Event::Presence {
                account: self.row.jid.clone(),
                jid: jid.to_string(),
                presence: PresenceInfo {
                    available: false,
                    show: None,
                    status: None,
                },
            });
        }
    }

    async fn on_presence(&mut self, p: Presence) {
        let Some(from) = p.from.clone() else { return };
        if self.is_room(&from.to_bare()) {
            self.on_room_presence(p).await;
            return;
        }
        let bare = from.to_bare();
        let bare_str = bare.to_string();
        match p.type_ {
            PresenceType::None | PresenceType::Unavailable => {
                let resource = from.resource().map(|r| r.to_string()).unwrap_or_default();
                let entry = self.presences.entry(bare.clone()).or_default();
                if p.type_ == PresenceType::None {
                    entry.insert(
                        resource,
                        PresenceInfo {
                            available: true,
                            show: p.show.as_ref().map(show_str).map(str::to_owned),
                            status: p.statuses.values().next().cloned(),
                        },
                    );
                } else {
                    entry.remove(&resource);
                }
                let presence = entry.values().next().cloned().unwrap_or(PresenceInfo {
                    available: false,
                    show: None,
                    status: p.statuses.values().next().cloned(),
                });
                self.emit(Event::Presence {
                    account: self.row.jid.clone(),
                    jid: bare_str,
                    presence,
                });
            }
            PresenceType::Subscribe => {
                let known = self
                    .store
                    .contact(self.row.id, &bare_str)
                    .await
                    .ok()
                    .flatten();
                let asked_by_us = known.as_ref().is_some_and(|c| {
                    c.wanted || c.pending_out || matches!(c.subscription.as_str(), "to" | "both")
                });
                if asked_by_us {
                    // We asked them first: approving is what the user wants.
                    let _ = self.link.send(Presence::subscribed().with_to(bare)).await;
                    let _ = self
                        .store
                        .set_pending_in(self.row.id, &bare_str, false)
                        .await;
                } else {
                    if let Err(e) = self
                        .store
                        .set_pending_in(self.row.id, &bare_str, true)
                        .await
                    {
                        self.emit(Event::Error {
                            message: storage(e).user_message(),
                        });
                    }
                    self.emit_contact(&bare_str).await;
                    self.emit(Event::SubscriptionRequest {
                        account: self.row.jid.clone(),
                        jid: bare_str,
                    });
                }
            }
            // Subscription state changes arrive as roster pushes.
            _ => {}
        }
    }

    async fn on_command(&mut self, cmd: AccountCommand) {
        match cmd {
            AccountCommand::Sync { reply } => self.sync_waiters.push(reply),
            AccountCommand::AddContact { jid, name, reply } => {
                let _ = reply.send(self.add_contact(jid, name).await);
            }
            AccountCommand::RemoveContact { jid, reply } => {
                let _ = reply.send(self.remove_contact(jid).await);
            }
            AccountCommand::Answer { jid, accept, reply } => {
                let _ = reply.send(self.answer(jid, accept).await);
            }
            AccountCommand::MarkRead { jid } => self.mark_read(&jid).await,
            AccountCommand::ChatState { jid, state } => self.send_chat_state(jid, state).await,
            AccountCommand::Correct { id, body, reply } => {
                let _ = reply.send(self.correct(id, body).await);
            }
            AccountCommand::Send { to, body, reply } => {
                let _ = reply.send(self.send_chat(to, body).await);
            }
            AccountCommand::CheckQr { uri, apply, reply } => {
                let _ = reply.send(self.check_qr(&uri, apply).await);
            }
            AccountCommand::Devices { jid, reply } => {
                if self.online && self.e2e.is_some() {
                    if jid != self.jid {
                        self.refresh_device_lists(&jid).await;
                    }
                    self.fill_identities(&jid).await;
                }
                let _ = reply.send(self.device_infos(&jid.to_string()).await.map_err(storage));
            }
            AccountCommand::RemoveOwnDevice { device_id, reply } => {
                let result = if self.online {
                    self.remove_own_device(device_id).await
                } else {
                    Err(ServiceError::NotConnected)
                };
                let _ = reply.send(result);
            }
            AccountCommand::CreateRoom {
                room,
                name,
                nick,
                members,
                channel,
                reply,
            } => {
                let create = if channel {
                    muc::Create::Channel
                } else {
                    muc::Create::Group
                };
                let result = match self.join(room.clone(), nick, Some(create), name).await {
                    Ok(_) if !members.is_empty() => {
                        match self.invite(room.clone(), members, None).await {
                            Ok(()) => self.room_info(&room).await,
                            Err(e) => Err(e),
                        }
                    }
                    other => other,
                };
                let _ = reply.send(result);
            }
            AccountCommand::JoinRoom { room, nick, reply } => {
                let _ = reply.send(self.join(room, nick, None, None).await);
            }
            AccountCommand::LeaveRoom { room, reply } => {
                let _ = reply.send(self.leave(room).await);
            }
            AccountCommand::DestroyRoom {
                room,
                reason,
                reply,
            } => {
                let _ = reply.send(self.destroy(room, reason).await);
            }
            AccountCommand::RoomDetails { room, reply } => {
                let _ = reply.send(self.room_info(&room).await);
            }
            AccountCommand::SetAffiliation {
                room,
                jid,
                affiliation,
                reason,
                reply,
            } => {
                let _ = reply.send(self.set_affiliation(room, jid, affiliation, reason).await);
            }
            AccountCommand::Kick {
                room,
                nick,
                reason,
                reply,
            } => {
                let _ = reply.send(self.kick(room, nick, reason).await);
            }
            AccountCommand::Invite {
                room,
                jids,
                reason,
                reply,
            } => {
                let _ = reply.send(self.invite(room, jids, reason).await);
            }
            AccountCommand::SetSubject {
                room,
                subject,
                reply,
            } => {
                let _ = reply.send(self.set_subject(room, subject).await);
            }
            AccountCommand::ListRooms { service, reply } => {
                let _ = reply.send(self.list_rooms(service).await);
            }
            AccountCommand::SetNick { room, nick, reply } => {
                let _ = reply.send(self.set_nick(room, nick).await);
            }
            AccountCommand::ConferenceService { reply } => {
                let result = self.conference_service().await;
                let _ = reply.send(result.map(|jid| jid.to_string()));
            }
            AccountCommand::OpenGroupsPolicy { allow } => self.apply_open_groups(allow).await,
            // `run` handles Close before dispatching here.
            AccountCommand::Close { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn require_online(&self) -> Result<(), ServiceError> {
        if self.online {
            Ok(())
        } else {
            Err(ServiceError::NotConnected)
        }
    }

    async fn add_contact(
        &mut self,
        jid: BareJid,
        name: Option<String>,
    ) -> Result<(), ServiceError> {
        self.require_online()?;
        if jid == self.jid {
            return Err(ServiceError::InvalidJid(jid.to_string()));
        }
        let jid_str = jid.to_string();
        self.store
            .set_wanted(self.row.id, &jid_str, true)
            .await
            .map_err(storage)?;
        let name = name.filter(|n| !n.trim().is_empty());
        self.roster_set(&jid, name, RosterSubscription::None)
            .await?;
        let known = self
            .store
            .contact(self.row.id, &jid_str)
            .await
            .map_err(storage)?;
        if known.as_ref().is_some_and(|c| c.pending_in) {
            self.send_presence(Presence::subscribed().with_to(jid.clone()))
                .await?;
            self.store
                .set_pending_in(self.row.id, &jid_str, false)
                .await
                .map_err(storage)?;
        }
        self.send_presence(Presence::subscribe().with_to(jid))
            .await?;
        self.emit_contact(&jid_str).await;
        Ok(())
    }

    async fn remove_contact(&mut self, jid: BareJid) -> Result<(), ServiceError> {
        self.require_online()?;
        self.roster_set(&jid, None, RosterSubscription::Remove)
            .await?;
        let jid_str = jid.to_string();
        self.store
            .set_wanted(self.row.id, &jid_str, false)
            .await
            .map_err(storage)?;
        self.store
            .set_pending_in(self.row.id, &jid_str, false)
            .await
            .map_err(storage)?;
        self.emit_contact(&jid_str).await;
        Ok(())
    }

    async fn answer(&mut self, jid: BareJid, accept: bool) -> Result<(), ServiceError> {
        self.require_online()?;
        let jid_str = jid.to_string();
        let known = self
            .store
            .contact(self.row.id, &jid_str)
            .await
            .map_err(storage)?;
        if accept {
            self.send_presence(Presence::subscribed().with_to(jid.clone()))
                .await?;
            self.store
                .set_wanted(self.row.id, &jid_str, true)
                .await
                .map_err(storage)?;
            let subscribed_to_them = known
                .as_ref()
                .is_some_and(|c| c.pending_out || matches!(c.subscription.as_str(), "to" | "both"));
            if !subscribed_to_them {
                // Mutual by default, as people expect from a messenger.
                self.send_presence(Presence::subscribe().with_to(jid))
                    .await?;
            }
        } else {
            self.send_presence(Presence::new(PresenceType::Unsubscribed).with_to(jid))
                .await?;
        }
        self.store
            .set_pending_in(self.row.id, &jid_str, false)
            .await
            .map_err(storage)?;
        self.emit_contact(&jid_str).await;
        Ok(())
    }

    /// Add, rename or (with `Remove`) delete one roster item on the server.
    async fn roster_set(
        &self,
        jid: &BareJid,
        name: Option<String>,
        subscription: RosterSubscription,
    ) -> Result<(), ServiceError> {
        let item = Item {
            jid: jid.clone(),
            name,
            subscription,
            ask: Ask::None,
            groups: vec![],
            approved: None,
        };
        let set = Iq::from_set(
            link::new_id(),
            Roster {
                ver: None,
                items: vec![item],
            },
        );
        self.link
            .iq(set)
            .await
            .map(|_| ())
            .map_err(|e| ServiceError::Refused(e.to_string()))
    }

    async fn send_presence(&self, p: Presence) -> Result<(), ServiceError> {
        self.link
            .send(p)
            .await
            .map(|_| ())
            .map_err(|_| ServiceError::NotConnected)
    }
}

/// After a fatal stream end, answer what still arrives.
async fn drain_offline(
    mut commands: mpsc::UnboundedReceiver<AccountCommand>,
    reason: Option<ConnectionError>,
) {
    let err = || match &reason {
        Some(e) => ServiceError::Connection(e.clone()),
        None => ServiceError::NotConnected,
    };
    while let Some(cmd) = commands.recv().await {
        if cmd.fail(err()) {
            return;
        }
    }
}

impl AccountCommand {
    /// Answer with `error`; true for `Close`.
    pub(crate) fn fail(self, error: ServiceError) -> bool {
        match self {
            AccountCommand::AddContact { reply, .. }
            | AccountCommand::RemoveContact { reply, .. }
            | AccountCommand::Answer { reply, .. }
            | AccountCommand::RemoveOwnDevice { reply, .. }
            | AccountCommand::LeaveRoom { reply, .. }
            | AccountCommand::DestroyRoom { reply, .. }
            | AccountCommand::SetAffiliation { reply, .. }
            | AccountCommand::Kick { reply, .. }
            | AccountCommand::Invite { reply, .. }
            | AccountCommand::SetSubject { reply, .. }
            | AccountCommand::Sync { reply } => {
                let _ = reply.send(Err(error));
            }
            AccountCommand::CreateRoom { reply, .. }
            | AccountCommand::JoinRoom { reply, .. }
            | AccountCommand::RoomDetails { reply, .. }
            | AccountCommand::SetNick { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            AccountCommand::ConferenceService { reply } => {
                let _ = reply.send(Err(error));
            }
            AccountCommand::ListRooms { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            AccountCommand::Send { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            AccountCommand::Devices { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            AccountCommand::MarkRead { .. }
            | AccountCommand::ChatState { .. }
            | AccountCommand::OpenGroupsPolicy { .. } => {}
            AccountCommand::Correct { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            AccountCommand::CheckQr { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            AccountCommand::Close { reply } => {
                let _ = reply.send(());
                return true;
            }
        }
        false
    }
}

fn show_str(show: &Show) -> &'static str {
    match show {
        Show::Away => "away",
        Show::Chat => "chat",
        Show::Dnd => "dnd",
        Show::Xa => "xa",
    }
}

fn roster_item(item: &Item) -> RosterItem {
    RosterItem {
        jid: item.jid.to_string(),
        name: item.name.clone(),
        subscription: match item.subscription {
            RosterSubscription::To => "to",
            RosterSubscription::From => "from",
            RosterSubscription::Both => "both",
            _ => "none",
        }
        .to_owned(),
        pending_out: item.ask == Ask::Subscribe,
        groups: item.groups.iter().map(|Group(g)| g.clone()).collect(),
    }
}

pub(crate) fn contact_from_row(row: &ContactRow) -> Contact {
    Contact {
        jid: row.jid.clone(),
        name: row.name.clone(),
        subscription: Subscription::parse(&row.subscription),
        pending_out: row.pending_out,
        pending_in: row.pending_in,
        groups: row.group_list(),
        in_roster: row.in_roster,
    }
}
