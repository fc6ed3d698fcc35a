//! The boundary between the service and its front ends (the GTK window,
//! `sotto-cli`, the tests). Front ends send [`Command`]s and render
//! [`Event`]s; requests that need an answer carry a oneshot sender, as in
//! Flare's backend actor.

use std::path::PathBuf;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use zeroize::Zeroizing;

pub use super::qr::{OwnQrCode, QrCheck, QrDevice, QrOutcome, QrSummary};
pub use crate::backup::{
    BackupError, BackupProgress, BackupStage, BackupStatus, CancelToken, ExportSummary,
    IdentityOutcome, ImportSummary,
};
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
    /// Send a chat message: stored first, then sent (OMEMO-encrypted when the
    /// conversation's policy says so). The reply carries the stored message;
    /// its state follows as [`Event::Message`] updates.
    SendMessage {
        account: String,
        to: String,
        body: String,
        reply: Reply<ChatMessage>,
    },
    /// Replace the text of one of our sent messages (XEP-0308), by its
    /// [`ChatMessage::id`].
    CorrectMessage {
        account: String,
        id: i64,
        body: String,
        reply: Reply<ChatMessage>,
    },
    /// Tell the contact we are typing, paused, or gone (XEP-0085). Sent only
    /// to contacts who share presence with us, never stored.
    SetChatState {
        account: String,
        jid: String,
        state: ChatState,
    },
    /// A window of a conversation from the archive, oldest first: the
    /// `limit` messages before `before` (`(timestamp, id)`), or the latest.
    History {
        account: String,
        jid: String,
        before: Option<(i64, i64)>,
        limit: u32,
        reply: Reply<Vec<ChatMessage>>,
    },
    /// The `limit` messages after `after` (`(timestamp, id)`), oldest first:
    /// paging back toward the present from a window opened around a
    /// search result.
    HistoryAfter {
        account: String,
        jid: String,
        after: (i64, i64),
        limit: u32,
        reply: Reply<Vec<ChatMessage>>,
    },
    /// About `limit` messages around message `id` (a search result), oldest
    /// first; empty when the conversation has no such message.
    HistoryAround {
        account: String,
        jid: String,
        id: i64,
        limit: u32,
        reply: Reply<HistoryWindow>,
    },
    /// The OMEMO devices of a contact (or, with our own address, our own),
    /// with fingerprints and trust.
    Devices {
        account: String,
        jid: String,
        reply: Reply<Vec<DeviceInfo>>,
    },
    /// Take a lost own device off our published device lists (both
    /// namespaces) and withdraw its bundles, so nobody encrypts for it any
    /// more. Refused for this very device. Emits `DevicesChanged`.
    RemoveOwnDevice {
        account: String,
        device_id: u32,
        reply: Reply<()>,
    },
    /// Record a trust decision for the device with this fingerprint.
    SetTrust {
        account: String,
        jid: String,
        fingerprint: String,
        trust: Trust,
        reply: Reply<DeviceInfo>,
    },
    /// Sticky per-conversation encryption: `Some(true)` OMEMO, `Some(false)`
    /// plain, `None` the default policy.
    SetEncryption {
        account: String,
        jid: String,
        encryption: Option<bool>,
        reply: Reply<()>,
    },
    /// The encryption policy of Preferences (all accounts).
    EncryptionPolicy {
        reply: Reply<super::EncryptionPolicy>,
    },
    SetEncryptionPolicy {
        policy: super::EncryptionPolicy,
        reply: Reply<()>,
    },
    /// The open conversations of every account, most recent first.
    Conversations {
        reply: Reply<Vec<ConversationSummary>>,
    },
    /// The user has seen the conversation: unread count to zero, and a
    /// read marker (XEP-0333) to the contact when online.
    MarkRead { account: String, jid: String },
    /// Full-text search over the archive (all accounts), newest first.
    Search {
        query: String,
        limit: u32,
        reply: Reply<Vec<ChatMessage>>,
    },
    /// Write the whole archive to a passphrase-encrypted backup file
    /// (docs/backup-format.md), replacing FILE only when complete. Progress
    /// goes to `progress`; `cancel` stops it and leaves no file behind.
    ExportBackup {
        path: PathBuf,
        passphrase: Zeroizing<String>,
        /// Also write the OMEMO identity and sessions (secret keys).
        include_identity: bool,
        progress: mpsc::UnboundedSender<BackupProgress>,
        cancel: CancelToken,
        reply: Reply<ExportSummary>,
    },
    /// Merge a backup file into the archive: all of it or, on any error or
    /// cancel, nothing.
    ImportBackup {
        path: PathBuf,
        passphrase: Zeroizing<String>,
        /// Restore the OMEMO identity from the file; refused where an
        /// account already has one.
        restore_identity: bool,
        progress: mpsc::UnboundedSender<BackupProgress>,
        cancel: CancelToken,
        reply: Reply<ImportSummary>,
    },
    /// When the last backup was made, and whether to remind the user.
    BackupStatus { reply: Reply<BackupStatus> },
    /// Remind after this many days without a backup (0: never).
    SetBackupReminder { days: u32, reply: Reply<()> },
    /// This account's trust code (`xmpp:…?omemo-sid-…`): this device and
    /// every verified, active own device, with their fingerprints for
    /// reading aloud. From the store; works offline once the account has
    /// been online.
    OwnQrUri {
        account: String,
        reply: Reply<OwnQrCode>,
    },
    /// What a scanned code (`uri`, the decoded text) would do: fetches the
    /// JID's published devices and compares. Saves nothing.
    PreviewQr {
        account: String,
        uri: String,
        reply: Reply<QrSummary>,
    },
    /// Check the code against the server again and save: matching devices
    /// become verified (recorded as verified by QR code), mismatched and
    /// unpublished ones are left as they were. Emits `DevicesChanged`.
    ApplyQr {
        account: String,
        uri: String,
        reply: Reply<QrSummary>,
    },
    /// Create a group chat (XEP-0045): a persistent, members-only,
    /// non-anonymous room with an archive, configured through the room
    /// form; `members` get the member affiliation and a direct invitation.
    /// Joined on every connect from then on (bookmarked, XEP-0402).
    CreateRoom {
        account: String,
        room: String,
        name: Option<String>,
        nick: Option<String>,
        members: Vec<String>,
        /// A public channel instead: listed, open to anyone, addresses
        /// visible to moderators only, never encrypted.
        channel: bool,
        reply: Reply<RoomInfo>,
    },
    /// Join an existing group chat or public channel (and keep joining it
    /// on connect). `nick` defaults to the one used before, else the
    /// account's local part; a taken nick gets a suffix.
    JoinRoom {
        account: String,
        room: String,
        nick: Option<String>,
        reply: Reply<RoomInfo>,
    },
    /// Leave the room and stop joining it; its history stays.
    LeaveRoom {
        account: String,
        room: String,
        reply: Reply<()>,
    },
    /// Owners only: destroy the room on the server.
    DestroyRoom {
        account: String,
        room: String,
        reason: Option<String>,
        reply: Reply<()>,
    },
    /// Participants, affiliations, roles and the encryption state of a
    /// joined room (`sotto-cli muc members`).
    RoomDetails {
        account: String,
        room: String,
        reply: Reply<RoomInfo>,
    },
    /// Owners and admins: make `jid` an owner, admin, member, nobody
    /// (`none`, which removes a member) or ban them (`outcast`).
    SetAffiliation {
        account: String,
        room: String,
        jid: String,
        affiliation: Affiliation,
        reason: Option<String>,
        reply: Reply<()>,
    },
    /// Moderators: remove an occupant from the room for now (role none).
    Kick {
        account: String,
        room: String,
        nick: String,
        reason: Option<String>,
        reply: Reply<()>,
    },
    /// Grant `jids` membership (where we may) and send each a direct
    /// invitation (XEP-0249).
    Invite {
        account: String,
        room: String,
        jids: Vec<String>,
        reason: Option<String>,
        reply: Reply<()>,
    },
    /// Change the room's subject (`RoomInfo::subject_changeable` says
    /// whether the room lets us; an empty one clears it). The reply comes
    /// once the room announced it, or with the room's refusal.
    SetSubject {
        account: String,
        room: String,
        subject: String,
        reply: Reply<()>,
    },
    /// Change our nickname in a joined room (XEP-0045 §7.6); kept for the
    /// next joins and in the bookmark. A taken or refused nickname is an
    /// error and the old one stays.
    SetNick {
        account: String,
        room: String,
        nick: String,
        reply: Reply<RoomInfo>,
    },
    /// The account's group chat service (the first `conference/text` item
    /// of its server), where new group chats get their address.
    ConferenceService {
        account: String,
        reply: Reply<String>,
    },
    /// The public rooms of a MUC service (`None`: the account's server's
    /// first conference service), for the join dialog's search.
    ListRooms {
        account: String,
        service: Option<String>,
        reply: Reply<Vec<RoomListing>>,
    },
    /// Stop the service; the reply comes once everything is flushed.
    Shutdown { reply: oneshot::Sender<()> },
}

/// XEP-0045 affiliations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Affiliation {
    Owner,
    Admin,
    Member,
    None,
    Outcast,
}

impl Affiliation {
    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Owner => "owner",
            Affiliation::Admin => "admin",
            Affiliation::Member => "member",
            Affiliation::None => "none",
            Affiliation::Outcast => "outcast",
        }
    }

    pub fn parse(s: &str) -> Option<Affiliation> {
        Some(match s {
            "owner" => Affiliation::Owner,
            "admin" => Affiliation::Admin,
            "member" => Affiliation::Member,
            "none" => Affiliation::None,
            "outcast" => Affiliation::Outcast,
            _ => return None,
        })
    }

    /// Owners, admins and members are part of a members-only room and get
    /// message keys; `none` and `outcast` are not.
    pub fn is_participant(self) -> bool {
        matches!(
            self,
            Affiliation::Owner | Affiliation::Admin | Affiliation::Member
        )
    }
}

/// A joined (or known) room as the front ends see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomInfo {
    pub account: String,
    pub jid: String,
    pub name: Option<String>,
    pub nick: String,
    /// `group` (members-only, non-anonymous: OMEMO) or `channel`.
    pub kind: String,
    pub joined: bool,
    pub subject: Option<String>,
    /// Real addresses are visible to every occupant.
    pub non_anonymous: bool,
    pub members_only: bool,
    pub public: bool,
    pub persistent: bool,
    /// The room keeps a message archive (XEP-0313).
    pub archived: bool,
    /// Messages here are OMEMO-encrypted.
    pub encryption_possible: bool,
    /// Why not, when not.
    pub encryption_reason: Option<String>,
    /// The server refused the affiliation lists: participants come from
    /// presences only, and members who are offline get no keys.
    pub lists_refused: bool,
    pub own_affiliation: Affiliation,
    pub own_role: Option<String>,
    /// We may change the subject: we are a moderator, or the room lets
    /// every occupant (`muc#roominfo_changesubject`).
    pub subject_changeable: bool,
    /// Everyone on the affiliation lists and everyone present.
    pub participants: Vec<Participant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// The real bare JID, when the room shows it.
    pub jid: Option<String>,
    /// The nickname, while present.
    pub nick: Option<String>,
    pub affiliation: Affiliation,
    /// `moderator`, `participant`, `visitor`, while present.
    pub role: Option<String>,
    pub present: bool,
}

/// One room in a service's public directory (disco#items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomListing {
    pub jid: String,
    pub name: Option<String>,
}

/// A message as the front ends see it (one row of the archive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub id: i64,
    pub account: String,
    /// The conversation's JID (the peer, or the room).
    pub conversation: String,
    /// `in` or `out`.
    pub direction: String,
    pub sender: String,
    /// The sender's nickname in a group chat or channel.
    pub sender_nick: Option<String>,
    pub sender_device: Option<u32>,
    /// `omemo0`, `omemo2`, or `None` for plain messages.
    pub namespace: Option<String>,
    pub encrypted: bool,
    /// Whether the sending device was trusted (received encrypted messages).
    pub trusted: Option<bool>,
    pub body: Option<String>,
    /// Why it could not be decrypted, or why sending failed.
    pub error: Option<String>,
    /// Unix milliseconds.
    pub timestamp: i64,
    /// `pending`, `sent`, `delivered`, `read`, `failed`, `received`.
    pub state: String,
    pub corrected: bool,
    /// Devices encrypted for / left out and why (JSON), for sent messages.
    pub encryption_info: Option<serde_json::Value>,
}

/// A page of a conversation around one message (`Command::HistoryAround`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HistoryWindow {
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
    /// Older messages exist: page on with `Command::History`.
    pub more_before: bool,
    /// Newer messages exist: page on with `Command::HistoryAfter`.
    pub more_after: bool,
}

/// XEP-0085 chat states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatState {
    Active,
    Composing,
    Paused,
    Inactive,
    Gone,
}

impl ChatState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatState::Active => "active",
            ChatState::Composing => "composing",
            ChatState::Paused => "paused",
            ChatState::Inactive => "inactive",
            ChatState::Gone => "gone",
        }
    }

    pub fn parse(s: &str) -> Option<ChatState> {
        Some(match s {
            "active" => ChatState::Active,
            "composing" => ChatState::Composing,
            "paused" => ChatState::Paused,
            "inactive" => ChatState::Inactive,
            "gone" => ChatState::Gone,
            _ => return None,
        })
    }
}

/// Trust levels (ARCHITECTURE.md "Trust").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    Undecided,
    Verified,
    Blind,
    Distrusted,
}

impl Trust {
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Undecided => "undecided",
            Trust::Verified => "verified",
            Trust::Blind => "blind",
            Trust::Distrusted => "distrusted",
        }
    }

    pub fn parse(s: &str) -> Trust {
        match s {
            "verified" => Trust::Verified,
            "blind" => Trust::Blind,
            "distrusted" => Trust::Distrusted,
            _ => Trust::Undecided,
        }
    }

    /// Whether this device gets message keys.
    pub fn is_trusted(self) -> bool {
        matches!(self, Trust::Verified | Trust::Blind)
    }
}

/// One OMEMO device of a contact or of ourselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub jid: String,
    pub device_id: u32,
    /// Namespaces the device is listed in (`omemo0`, `omemo2`).
    pub namespaces: Vec<String>,
    pub label: Option<String>,
    /// Hex of the Curve25519 identity key (as in QR codes), when known.
    pub fingerprint: Option<String>,
    pub trust: Trust,
    /// Still in the published device list.
    pub active: bool,
    /// This very device.
    pub own: bool,
    pub last_seen: Option<i64>,
    /// The device id was known with another key and nobody has decided
    /// about the new one yet: a warning the user must answer (by deciding).
    pub identity_changed: bool,
    /// The key this device had before the change, for comparison.
    pub previous_fingerprint: Option<String>,
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
    /// A message was stored or changed (new, state, correction).
    Message {
        message: ChatMessage,
    },
    /// The contact is typing, paused, ... (XEP-0085).
    ChatState {
        account: String,
        jid: String,
        state: ChatState,
    },
    /// A conversation's summary changed (new message, read, setting).
    ConversationUpdated {
        conversation: ConversationSummary,
    },
    /// Catching up with the server archive after connecting.
    CatchUp {
        account: String,
        /// Messages processed so far.
        done: u64,
        finished: bool,
    },
    /// The devices of `jid` (a contact, or the account itself) or their
    /// trust changed: ask for `Command::Devices` again.
    DevicesChanged {
        account: String,
        jid: String,
    },
    /// A known device of a contact now shows another identity key: it is
    /// not encrypted to until the user decides (ARCHITECTURE.md "Trust").
    IdentityChanged {
        account: String,
        jid: String,
        device_id: u32,
        fingerprint: String,
    },
    /// A room's participants, affiliations, subject or state changed.
    Room {
        room: RoomInfo,
    },
    /// We are no longer in the room: kicked, banned, removed from the
    /// members, or the room was destroyed. It is not joined again.
    RoomLeft {
        account: String,
        room: String,
        reason: String,
    },
    /// Someone invites us into a room (XEP-0249 or a mediated invitation).
    Invitation {
        account: String,
        room: String,
        from: String,
        reason: Option<String>,
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
    /// `chat`, `group` or `channel`.
    pub kind: String,
    pub last_activity: Option<i64>,
    pub unread: u32,
    /// The sticky choice: `Some(true)` OMEMO, `Some(false)` plain, `None`
    /// the default policy.
    pub encryption: Option<bool>,
    /// The latest message, for the preview line.
    pub last_body: Option<String>,
    pub last_direction: Option<String>,
    pub last_encrypted: bool,
    pub last_state: Option<String>,
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
    /// Nothing was sent: the message could not be encrypted for anyone
    /// trusted, and Sotto never falls back to plain text by itself.
    #[error("cannot encrypt: {0}")]
    CannotEncrypt(String),
    #[error("unknown device: {0}")]
    UnknownDevice(String),
    /// A device can only remove other devices from the list, never itself.
    #[error("this is the device in use")]
    ThisDevice,
    #[error("backup: {0}")]
    Backup(BackupError),
    /// The request needs a room we have not joined.
    #[error("not in the group chat {0}")]
    NotInRoom(String),
    /// The scanned text is not a usable trust code.
    #[error("{0}")]
    InvalidQr(crate::qr::UriError),
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
            ServiceError::CannotEncrypt(d) => gettext_f(
                "The message was not sent: it could not be encrypted for any trusted device ({detail}). It was not sent unencrypted either.",
                &[("detail", d)],
            ),
            ServiceError::ThisDevice => gettext(
                "This is the device you are using now. To stop using it, remove the account instead.",
            ),
            ServiceError::UnknownDevice(d) => gettext_f(
                "No device with the fingerprint {fingerprint} is known for this contact.",
                &[("fingerprint", d)],
            ),
            ServiceError::Backup(e) => e.user_message(),
            ServiceError::NotInRoom(r) => gettext_f(
                "You are not in the group chat {room}. Join it first.",
                &[("room", r)],
            ),
            ServiceError::InvalidQr(e) => e.user_message(),
        }
    }
}
