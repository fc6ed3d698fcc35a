//! One account's XMPP stream: tokio-xmpp's `StanzaStream` (stream
//! management, resumption, resource binding) fed by our own reconnector, so
//! that every failed attempt is classified and reported — a wrong password
//! or an untrusted certificate stops the retries instead of looping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use sasl::common::Credentials;
use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::parsers::message::Message;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::sasl::DefinedCondition;
use tokio_xmpp::stanzastream::{Connection, StanzaStream, StanzaToken};
use tokio_xmpp::xmlstream::{StreamHeader, Timeouts};
use tokio_xmpp::{Error as XmppError, Stanza};
use zeroize::Zeroizing;

use super::connector::{Connector, ConnectorError};
use crate::service::ConnectionError;

/// What the reconnector reports about each attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptReport {
    Connecting,
    /// The attempt failed; `fatal` means no more retries until the user acts.
    Failed {
        error: ConnectionError,
        fatal: bool,
    },
    /// Fresh connections keep dying during negotiation (seen with Prosody
    /// 0.12 after a restart: its `<sm:failed/>` lacks `h`, which
    /// xmpp-parsers 0.23 rejects, so resumption is retried forever). The
    /// stream gives up; the owner should open a new one without SM state.
    Stuck,
}

/// What comes out of the stream for the account task.
#[derive(Debug)]
pub enum Incoming {
    /// Bound, with state lost (first connect, or resumption failed): the
    /// account must fetch its roster and send presence again.
    Reset {
        bound_jid: Jid,
    },
    Resumed,
    Suspended,
    Stanza(Box<Stanza>),
    Attempt(AttemptReport),
    /// The stream ended for good.
    Closed,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum IqError {
    #[error("no answer in time")]
    Timeout,
    #[error("the connection closed")]
    Closed,
    #[error("{0}")]
    Stanza(String),
}

type PendingIqs = Arc<Mutex<HashMap<String, oneshot::Sender<Iq>>>>;
/// MAM queries in flight: their result messages go to the query, not to the
/// account's live traffic.
type MamCollectors = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>>;
/// Presences from a room being joined, by the room's bare JID: the room
/// sends every occupant, then our own presence (XEP-0045 §7.2.3).
type JoinCollectors = Arc<Mutex<HashMap<BareJid, mpsc::UnboundedSender<Presence>>>>;
/// Messages someone waits for (see `Link::send_awaiting`): each matching
/// message is copied to the waiter and still delivered as usual.
#[derive(Clone, Default)]
struct AnswerWatchers(Arc<Mutex<Vec<AnswerWatcher>>>);
type AnswerWatcher = (
    Box<dyn Fn(&Message) -> bool + Send>,
    mpsc::UnboundedSender<Message>,
);

impl std::fmt::Debug for AnswerWatchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnswerWatchers")
    }
}

/// One page of an archive query.
#[derive(Debug)]
pub struct MamPage {
    /// The archived messages, oldest first, each with its archive id.
    pub results: Vec<Message>,
    pub complete: bool,
    /// The archive id of the last result, to continue after.
    pub last: Option<String>,
}

enum Outgoing {
    Stanza(Box<Stanza>, Option<oneshot::Sender<StanzaToken>>),
    Close(oneshot::Sender<()>),
}

/// A cheap handle to send on the stream.
#[derive(Clone, Debug)]
pub struct Link {
    out: mpsc::Sender<Outgoing>,
    iqs: PendingIqs,
    mam: MamCollectors,
    joins: JoinCollectors,
    answers: AnswerWatchers,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outgoing")
    }
}

const IQ_TIMEOUT: Duration = Duration::from_secs(30);

impl Link {
    /// Queue a stanza; the token follows it to Sent and (with XEP-0198) Acked.
    pub async fn send(&self, stanza: impl Into<Stanza>) -> Result<StanzaToken, IqError> {
        let (tx, rx) = oneshot::channel();
        self.out
            .send(Outgoing::Stanza(Box::new(stanza.into()), Some(tx)))
            .await
            .map_err(|_| IqError::Closed)?;
        rx.await.map_err(|_| IqError::Closed)
    }

    /// Send an IQ get/set and wait for its result payload.
    pub async fn iq(&self, mut iq: Iq) -> Result<Option<xmpp_parsers::minidom::Element>, IqError> {
        if iq.id().is_empty() {
            *iq.id_mut() = new_id();
        }
        let id = iq.id().to_owned();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut map) = self.iqs.lock() {
            map.insert(id.clone(), tx);
        }
        let sent = self
            .out
            .send(Outgoing::Stanza(Box::new(iq.into()), None))
            .await;
        if sent.is_err() {
            self.forget(&id);
            return Err(IqError::Closed);
        }
        let answer = tokio::time::timeout(IQ_TIMEOUT, rx).await;
        self.forget(&id);
        match answer {
            Err(_) => Err(IqError::Timeout),
            Ok(Err(_)) => Err(IqError::Closed),
            Ok(Ok(Iq::Result { payload, .. })) => Ok(payload),
            Ok(Ok(Iq::Error { error, .. })) => Err(IqError::Stanza(describe_stanza_error(&error))),
            Ok(Ok(_)) => Err(IqError::Stanza("unexpected answer".into())),
        }
    }

    /// One page of `archive` (None: our own) after archive id `after`, or
    /// before `before` (`Some("")`: the last page).
    /// The results arrive as messages before the IQ answer, on the same
    /// stream, so they are all collected once the answer is in.
    pub async fn mam_page(
        &self,
        archive: Option<BareJid>,
        after: Option<String>,
        before: Option<String>,
        max: usize,
    ) -> Result<MamPage, IqError> {
        use xmpp_parsers::mam::{Fin, Query, QueryId};
        use xmpp_parsers::rsm::SetQuery;
        let queryid = new_id();
        let (tx, mut rx) = mpsc::unbounded_channel();
        if let Ok(mut map) = self.mam.lock() {
            map.insert(queryid.clone(), tx);
        }
        let query = Query {
            queryid: Some(QueryId(queryid.clone())),
            node: None,
            form: None,
            set: Some(SetQuery {
                max: Some(max),
                after,
                before,
                index: None,
            }),
            flip_page: false,
        };
        let mut iq = Iq::from_set(new_id(), query);
        if let Some(to) = archive {
            iq = iq.with_to(Jid::from(to));
        }
        let answer = self.iq(iq).await;
        if let Ok(mut map) = self.mam.lock() {
            map.remove(&queryid);
        }
        let payload = answer?;
        let mut results = Vec::new();
        while let Ok(m) = rx.try_recv() {
            results.push(m);
        }
        let fin = payload
            .and_then(|p| Fin::try_from(p).ok())
            .ok_or_else(|| IqError::Stanza("the archive sent no <fin/>".into()))?;
        Ok(MamPage {
            results,
            complete: fin.complete,
            last: fin.set.last,
        })
    }

    fn forget(&self, id: &str) {
        if let Ok(mut map) = self.iqs.lock() {
            map.remove(id);
        }
    }

    /// Send a join (or nick change) presence to `room` and collect what the
    /// room answers up to and including our own presence (status 110) or
    /// an error: the occupants come first. Presences from the room go nowhere else
    /// meanwhile, so the caller handles each exactly once.
    pub async fn join_room(
        &self,
        room: &BareJid,
        presence: Presence,
        timeout: Duration,
    ) -> Result<Vec<Presence>, IqError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        if let Ok(mut map) = self.joins.lock() {
            map.insert(room.clone(), tx);
        }
        let collected = async {
            self.send(presence).await?;
            let mut got = Vec::new();
            loop {
                let p =
                    match tokio::time::timeout_at(tokio::time::Instant::now() + timeout, rx.recv())
                        .await
                    {
                        Ok(Some(p)) => p,
                        Ok(None) => return Err(IqError::Closed),
                        Err(_) => return Err(IqError::Timeout),
                    };
                // A nick change reports our old presence gone (303) first;
                // the new one follows.
                let done =
                    p.type_ == PresenceType::Error || (is_self_presence(&p) && !is_nick_change(&p));
                got.push(p);
                if done {
                    return Ok(got);
                }
            }
        }
        .await;
        if let Ok(mut map) = self.joins.lock() {
            map.remove(room);
        }
        let mut got = collected?;
        // Whatever slipped in between our own presence and the removal.
        while let Ok(p) = rx.try_recv() {
            got.push(p);
        }
        Ok(got)
    }

    /// Send `msg` and wait for the first message that `matches` (an
    /// answer that carries no id of ours, such as a room's new subject,
    /// or an error that does). The answer is still delivered as usual.
    pub async fn send_awaiting(
        &self,
        msg: Message,
        timeout: Duration,
        matches: impl Fn(&Message) -> bool + Send + 'static,
    ) -> Result<Message, IqError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        if let Ok(mut watchers) = self.answers.0.lock() {
            watchers.push((Box::new(matches), tx));
        }
        let answer = async {
            self.send(msg).await?;
            match tokio::time::timeout(timeout, rx.recv()).await {
                Ok(Some(m)) => Ok(m),
                Ok(None) => Err(IqError::Closed),
                Err(_) => Err(IqError::Timeout),
            }
        }
        .await;
        // Our receiver gone, our watcher is the closed one.
        drop(rx);
        if let Ok(mut watchers) = self.answers.0.lock() {
            watchers.retain(|(_, tx)| !tx.is_closed());
        }
        answer
    }

    /// Close the stream cleanly (sends `</stream:stream>`).
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.out.send(Outgoing::Close(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
    }
}

/// Our own presence in a room: muc#user status 110.
pub fn is_self_presence(p: &Presence) -> bool {
    p.payloads
        .iter()
        .filter(|x| x.is("x", ns::MUC_USER))
        .flat_map(|x| x.children())
        .any(|c| c.is("status", ns::MUC_USER) && c.attr("code") == Some("110"))
}

/// The unavailable presence that announces a new nickname (status 303).
fn is_nick_change(p: &Presence) -> bool {
    p.type_ == PresenceType::Unavailable
        && p.payloads
            .iter()
            .filter(|x| x.is("x", ns::MUC_USER))
            .flat_map(|x| x.children())
            .any(|c| c.is("status", ns::MUC_USER) && c.attr("code") == Some("303"))
}

pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 12]>())
}

fn describe_stanza_error(e: &xmpp_parsers::stanza_error::StanzaError) -> String {
    let text = e.texts.values().next().cloned();
    let cond = format!("{:?}", e.defined_condition);
    match text {
        Some(t) => format!("{cond}: {t}"),
        None => cond,
    }
}

/// Classify a failed attempt; `true` means retrying cannot help.
pub fn classify(e: &XmppError) -> (ConnectionError, bool) {
    match e {
        XmppError::Auth(tokio_xmpp::error::AuthError::Fail(DefinedCondition::NotAuthorized)) => {
            (ConnectionError::WrongPassword, true)
        }
        XmppError::Auth(tokio_xmpp::error::AuthError::Fail(
            DefinedCondition::TemporaryAuthFailure,
        )) => (
            ConnectionError::Other {
                detail: "the server could not check the password right now".into(),
            },
            false,
        ),
        XmppError::Auth(other) => (
            ConnectionError::Other {
                detail: other.to_string(),
            },
            true,
        ),
        XmppError::Connection(inner) => {
            let inner: &(dyn std::error::Error + 'static) = &**inner;
            match inner.downcast_ref::<ConnectorError>() {
                Some(ConnectorError::CertificateNotTrusted(d)) => (
                    ConnectionError::CertificateNotTrusted { detail: d.clone() },
                    true,
                ),
                Some(other) => (
                    ConnectionError::Other {
                        detail: other.to_string(),
                    },
                    true,
                ),
                None => (
                    ConnectionError::Other {
                        detail: inner.to_string(),
                    },
                    false,
                ),
            }
        }
        XmppError::Io(io) => (
            ConnectionError::Unreachable {
                detail: io.to_string(),
            },
            false,
        ),
        XmppError::DnsProto(_) | XmppError::DnsNet(_) | XmppError::Idna | XmppError::Addr(_) => (
            ConnectionError::Unreachable {
                detail: e.to_string(),
            },
            false,
        ),
        other => (
            ConnectionError::Other {
                detail: other.to_string(),
            },
            false,
        ),
    }
}

/// One attempt: TCP, TLS, SASL; not yet bound (the `StanzaStream` binds).
pub async fn login(
    connector: &Connector,
    jid: &BareJid,
    password: &str,
) -> Result<Connection, XmppError> {
    let jid = Jid::from(jid.clone());
    let timeouts = Timeouts::default();
    let (stream, binding) = connector.connect(&jid, ns::JABBER_CLIENT, timeouts).await?;
    let (features, stream) = stream.recv_features().await?;
    let username = jid
        .node()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    let creds = Credentials::default()
        .with_username(username)
        .with_password(password.to_owned())
        .with_channel_binding(binding);
    let stream = tokio_xmpp::client_login(stream, features.sasl_mechanisms, creds).await?;
    let stream = stream
        .send_header(StreamHeader {
            to: Some(std::borrow::Cow::Owned(jid.domain().as_str().to_owned())),
            from: None,
            id: None,
        })
        .await?;
    let (features, stream) = stream.recv_features().await?;
    Ok(Connection {
        stream: stream.box_stream(),
        features,
        identity: jid,
    })
}

/// Start a stream for `jid`; events go to `incoming`. Returns the handle
/// used to send. The stream reconnects with backoff by itself until a
/// fatal error or [`Link::close`].
pub fn open(
    connector: Connector,
    jid: BareJid,
    password: Zeroizing<String>,
    incoming: mpsc::UnboundedSender<Incoming>,
) -> Link {
    let reports = incoming.clone();
    // Giving up hands the reconnect slot to the pump (see `pump`).
    let (abandon_tx, abandon_rx) = mpsc::unbounded_channel::<oneshot::Sender<Connection>>();
    let mut last_handover: Option<std::time::Instant> = None;
    let mut churn = 0u32;
    let reconnector = Box::new(
        move |_hint: Option<String>, slot: oneshot::Sender<Connection>| {
            let connector = connector.clone();
            let jid = jid.clone();
            let password = password.clone();
            let reports = reports.clone();
            let abandon = abandon_tx.clone();
            // A connection we handed over that died within seconds never got
            // through negotiation: don't hammer the server with it.
            if last_handover.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
                churn += 1;
            } else {
                churn = 0;
            }
            if churn >= 2 {
                let _ = reports.send(Incoming::Attempt(AttemptReport::Stuck));
                let _ = abandon.send(slot);
                return;
            }
            last_handover = Some(std::time::Instant::now());
            tokio::spawn(async move {
                let mut delay = Duration::from_secs(1);
                loop {
                    let _ = reports.send(Incoming::Attempt(AttemptReport::Connecting));
                    match login(&connector, &jid, &password).await {
                        Ok(conn) => {
                            let _ = slot.send(conn);
                            return;
                        }
                        Err(e) => {
                            let (error, fatal) = classify(&e);
                            tracing::info!(%error, fatal, "connection attempt failed");
                            let _ = reports
                                .send(Incoming::Attempt(AttemptReport::Failed { error, fatal }));
                            if slot.is_closed() {
                                return;
                            }
                            if fatal {
                                let _ = abandon.send(slot);
                                return;
                            }
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(60));
                        }
                    }
                }
            });
        },
    );
    let stream = StanzaStream::new(reconnector, 64);
    let (out_tx, out_rx) = mpsc::channel(64);
    let iqs: PendingIqs = Arc::default();
    let mam: MamCollectors = Arc::default();
    let joins: JoinCollectors = Arc::default();
    let answers = AnswerWatchers::default();
    tokio::spawn(pump(
        stream,
        out_rx,
        abandon_rx,
        Collectors {
            iqs: iqs.clone(),
            mam: mam.clone(),
            joins: joins.clone(),
            answers: answers.clone(),
        },
        incoming,
    ));
    Link {
        out: out_tx,
        iqs,
        mam,
        joins,
        answers,
    }
}

/// Where answers go instead of the account's incoming queue.
struct Collectors {
    iqs: PendingIqs,
    mam: MamCollectors,
    joins: JoinCollectors,
    answers: AnswerWatchers,
}

/// Owns the `StanzaStream`: one task reads and writes it, so neither
/// direction can starve the other.
///
/// Giving up: tokio-xmpp 6 panics its worker when a reconnect slot is
/// dropped (`ReconnectAborted`), and `StanzaStream::close` waits for a
/// worker that is waiting for that slot. So an abandoned slot is never
/// answered and never dropped, and the stream is dropped instead of closed:
/// one idle task stays behind per abandoned stream, which only happens after
/// a fatal error or a stuck negotiation.
async fn pump(
    mut stream: StanzaStream,
    mut out: mpsc::Receiver<Outgoing>,
    mut abandoned: mpsc::UnboundedReceiver<oneshot::Sender<Connection>>,
    Collectors {
        iqs,
        mam,
        joins,
        answers,
    }: Collectors,
    incoming: mpsc::UnboundedSender<Incoming>,
) {
    use tokio_xmpp::stanzastream::{Event as SEvent, StreamEvent};
    loop {
        tokio::select! {
            ev = stream.next() => {
                let msg = match ev {
                    None => break,
                    Some(SEvent::Stream(StreamEvent::Reset { bound_jid, .. })) => Incoming::Reset { bound_jid },
                    Some(SEvent::Stream(StreamEvent::Resumed)) => Incoming::Resumed,
                    Some(SEvent::Stream(StreamEvent::Suspended)) => Incoming::Suspended,
                    Some(SEvent::Stanza(Stanza::Iq(iq))) if matches!(iq, Iq::Result { .. } | Iq::Error { .. }) => {
                        let waiter = iqs.lock().ok().and_then(|mut m| m.remove(iq.id()));
                        match waiter {
                            Some(tx) => { let _ = tx.send(iq); continue; }
                            None => Incoming::Stanza(Box::new(Stanza::Iq(iq))),
                        }
                    }
                    Some(SEvent::Stanza(Stanza::Message(m))) => {
                        if let Ok(watchers) = answers.0.lock() {
                            for (matches, tx) in watchers.iter() {
                                if matches(&m) {
                                    let _ = tx.send(m.clone());
                                }
                            }
                        }
                        let collector = m
                            .payloads
                            .iter()
                            .find(|p| p.is("result", ns::MAM))
                            .and_then(|r| r.attr("queryid"))
                            .and_then(|q| mam.lock().ok().and_then(|map| map.get(q).cloned()));
                        match collector {
                            Some(tx) => { let _ = tx.send(m); continue; }
                            None => Incoming::Stanza(Box::new(Stanza::Message(m))),
                        }
                    }
                    Some(SEvent::Stanza(Stanza::Presence(p))) => {
                        let collector = p.from.as_ref().and_then(|f| {
                            joins.lock().ok().and_then(|map| map.get(&f.to_bare()).cloned())
                        });
                        match collector {
                            Some(tx) => { let _ = tx.send(p); continue; }
                            None => Incoming::Stanza(Box::new(Stanza::Presence(p))),
                        }
                    }
                    Some(SEvent::Stanza(s)) => Incoming::Stanza(Box::new(s)),
                };
                if incoming.send(msg).is_err() {
                    break;
                }
            }
            cmd = out.recv() => match cmd {
                Some(Outgoing::Stanza(stanza, token_tx)) => {
                    let token = stream.send(stanza).await;
                    if let Some(tx) = token_tx {
                        let _ = tx.send(token);
                    }
                }
                Some(Outgoing::Close(done)) => {
                    stream.close().await;
                    let _ = done.send(());
                    let _ = incoming.send(Incoming::Closed);
                    return;
                }
                None => break,
            },
            Some(slot) = abandoned.recv() => {
                std::mem::forget(slot);
                drop(stream);
                let _ = incoming.send(Incoming::Closed);
                return;
            }
        }
    }
    stream.close().await;
    let _ = incoming.send(Incoming::Closed);
}
