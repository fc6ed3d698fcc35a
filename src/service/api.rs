//! The boundary between the service and its front ends (the GTK window,
//! `sotto-cli`, the tests). Front ends send [`Command`]s and render
//! [`Event`]s; requests that need an answer carry a oneshot sender, as in
//! Flare's backend actor.

use std::path::PathBuf;

use serde::Serialize;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::i18n::{gettext, gettext_f};

/// Where to connect, when SRV lookup is not wanted (tests, odd set-ups).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerOverride {
    /// `HOST:PORT`; `None` resolves `_xmpp-client._tcp` SRV records.
    pub address: Option<String>,
    /// Trust exactly this PEM CA file instead of the system roots.
    pub ca_file: Option<PathBuf>,
}

/// Answer to a request: either the value or an error a person can act on.
pub type Reply<T> = oneshot::Sender<Result<T, ServiceError>>;

#[derive(Debug)]
pub enum Command {
    /// Verify the credentials against the server, then store the account
    /// (password into the Secret Service) and keep it connected.
    AddAccount {
        jid: String,
        password: Zeroizing<String>,
        server: ServerOverride,
        reply: Reply<AccountInfo>,
    },
    /// Forget an account: its password, its roster and its local data.
    RemoveAccount { account: String, reply: Reply<()> },
    /// Everything the front end needs to draw its first frame, from the
    /// local store (works offline).
    Snapshot { reply: Reply<Snapshot> },
    /// Connect every stored account (idempotent).
    ConnectAll,
    /// Go offline cleanly.
    DisconnectAll { reply: Reply<()> },
    /// Add a contact and ask for a presence subscription.
    AddContact {
        account: String,
        jid: String,
        name: Option<String>,
        reply: Reply<()>,
    },
    /// Remove a contact from the roster (cancels subscriptions both ways).
    RemoveContact {
        account: String,
        jid: String,
        reply: Reply<()>,
    },
    /// Accept or decline a pending subscription request.
    AnswerSubscription {
        account: String,
        jid: String,
        accept: bool,
        reply: Reply<()>,
    },
    /// Wait until the roster of every online account was fetched from the
    /// server (used by `sotto-cli roster` to print fresh data).
    Sync { reply: Reply<()> },
    /// Stop the service; the reply comes once everything is flushed.
    Shutdown { reply: oneshot::Sender<()> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    AccountAdded {
        account: AccountInfo,
    },
    AccountRemoved {
        account: String,
    },
    Connection {
        account: String,
        state: ConnectionState,
    },
    /// The whole roster of an account, after a fetch.
    Roster {
        account: String,
        contacts: Vec<Contact>,
    },
    ContactUpdated {
        account: String,
        contact: Contact,
    },
    ContactRemoved {
        account: String,
        jid: String,
    },
    Presence {
        account: String,
        jid: String,
        presence: PresenceInfo,
    },
    /// Someone asks to see our presence; answer with `AnswerSubscription`.
    SubscriptionRequest {
        account: String,
        jid: String,
    },
    /// Something went wrong that is not tied to one request.
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    pub jid: String,
    pub server: ServerOverride,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub accounts: Vec<AccountInfo>,
    /// Per account, the roster as last seen.
    pub contacts: Vec<(String, Vec<Contact>)>,
    pub conversations: Vec<ConversationSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub jid: String,
    pub name: Option<String>,
    pub subscription: Subscription,
    /// We asked for a subscription and wait for the answer.
    pub pending_out: bool,
    /// They asked for a subscription and wait for our answer.
    pub pending_in: bool,
    pub groups: Vec<String>,
    /// False for someone who only asked to subscribe: a request, not yet a
    /// contact.
    pub in_roster: bool,
}

impl Contact {
    /// What to show for this contact: the roster name, else the local part.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) if !n.trim().is_empty() => n.clone(),
            _ => self.jid.split('@').next().unwrap_or(&self.jid).to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subscription {
    None,
    To,
    From,
    Both,
}

impl Subscription {
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "to" => Subscription::To,
            "from" => Subscription::From,
            "both" => Subscription::Both,
            _ => Subscription::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationSummary {
    pub account: String,
    pub jid: String,
    pub name: String,
    pub last_activity: Option<i64>,
    pub unread: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceInfo {
    pub available: bool,
    /// `away`, `chat`, `dnd`, `xa`, or `None` for plain available.
    pub show: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    Connecting,
    Online,
    /// Lost the connection; the service retries with backoff by itself.
    Reconnecting {
        reason: String,
    },
    /// Not connected and not retrying until the user acts.
    Offline {
        reason: Option<ConnectionError>,
    },
}

/// Why a connection failed, in terms a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectionError {
    #[error("wrong password")]
    WrongPassword,
    #[error("certificate not trusted: {detail}")]
    CertificateNotTrusted { detail: String },
    #[error("server unreachable: {detail}")]
    Unreachable { detail: String },
    #[error("{detail}")]
    Other { detail: String },
}

impl ConnectionError {
    /// A sentence for the user, translated.
    pub fn user_message(&self) -> String {
        match self {
            ConnectionError::WrongPassword => gettext(
                "The server refused the password. Check the address and password and try again.",
            ),
            ConnectionError::CertificateNotTrusted { detail } => gettext_f(
                "The server's certificate is not trusted, so Sotto did not connect. Someone may be intercepting the connection. ({detail})",
                &[("detail", detail)],
            ),
            ConnectionError::Unreachable { detail } => gettext_f(
                "Could not reach the server. Check the address and your network connection. ({detail})",
                &[("detail", detail)],
            ),
            ConnectionError::Other { detail } => {
                gettext_f("Could not connect: {detail}", &[("detail", detail)])
            }
        }
    }
}

/// Errors answered to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ServiceError {
    #[error("{0}")]
    Connection(ConnectionError),
    #[error("invalid address: {0}")]
    InvalidJid(String),
    #[error("no such account: {0}")]
    UnknownAccount(String),
    #[error("account already exists: {0}")]
    AccountExists(String),
    #[error("not connected")]
    NotConnected,
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("secret service: {0}")]
    Secrets(String),
    #[error("the service has stopped")]
    Stopped,
}

impl ServiceError {
    /// A sentence for the user, translated.
    pub fn user_message(&self) -> String {
        match self {
            ServiceError::Connection(e) => e.user_message(),
            ServiceError::InvalidJid(d) => gettext_f(
                "“{address}” is not a valid address. It looks like name@example.org.",
                &[("address", d)],
            ),
            ServiceError::UnknownAccount(a) => {
                gettext_f("No account {account} here.", &[("account", a)])
            }
            ServiceError::AccountExists(a) => gettext_f(
                "The account {account} is already set up.",
                &[("account", a)],
            ),
            ServiceError::NotConnected => gettext("Not connected. Try again when online."),
            ServiceError::Refused(d) => gettext_f("The server refused: {detail}", &[("detail", d)]),
            ServiceError::Storage(d) => {
                gettext_f("Local storage problem: {detail}", &[("detail", d)])
            }
            ServiceError::Secrets(d) => gettext_f(
                "The keyring (Secret Service) is not available: {detail}",
                &[("detail", d)],
            ),
            ServiceError::Stopped => gettext("The background service has stopped."),
        }
    }
}
