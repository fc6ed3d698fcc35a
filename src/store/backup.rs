//! What backups read from and merge into the archive (src/backup/ holds
//! the file format and the streaming; this module only speaks SQL).
//!
//! Rows are read as streams from one connection inside one read
//! transaction, so an export is a consistent snapshot taken in constant
//! memory while the service keeps writing. Merges run inside the caller's
//! write transaction and never overwrite what is already here: the local
//! copy wins, and a row that is already present is counted as a duplicate.

use futures_util::stream::{BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::StoreError;

/// How many rows of each kind a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCounts {
    pub accounts: u64,
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
    pub devices: u64,
    pub trust: u64,
    #[serde(default)]
    pub omemo_identities: u64,
    #[serde(default)]
    pub omemo_prekeys: u64,
    #[serde(default)]
    pub omemo_signed_prekeys: u64,
    #[serde(default)]
    pub omemo_sessions: u64,
}

impl BackupCounts {
    pub fn total(&self) -> u64 {
        self.accounts
            + self.contacts
            + self.conversations
            + self.messages
            + self.devices
            + self.trust
            + self.omemo_identities
            + self.omemo_prekeys
            + self.omemo_signed_prekeys
            + self.omemo_sessions
    }
}

/// An account, without its password (that lives in the keyring only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct BackupAccount {
    pub jid: String,
    pub server: Option<String>,
    pub ca_file: Option<String>,
    pub enabled: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct BackupContact {
    pub account: String,
    pub jid: String,
    pub name: Option<String>,
    pub subscription: String,
    pub pending_out: bool,
    pub pending_in: bool,
    pub wanted: bool,
    /// JSON array of group names, as stored.
    pub groups: String,
    pub in_roster: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct BackupConversation {
    pub account: String,
    pub jid: String,
    pub kind: String,
    pub name: Option<String>,
    pub encryption: Option<String>,
    pub last_activity: Option<i64>,
    pub unread: i64,
    pub open: bool,
}

/// One message with everything needed to show it again, including the
/// XEP-0308 corrections that were applied to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupMessage {
    pub account: String,
    pub conversation: String,
    pub stanza_id: Option<String>,
    pub stanza_id_by: Option<String>,
    pub origin_id: Option<String>,
    pub message_id: Option<String>,
    pub direction: String,
    pub sender_jid: String,
    pub sender_device: Option<u32>,
    pub sender_nick: Option<String>,
    pub timestamp: i64,
    pub received_at: i64,
    pub body: Option<String>,
    pub encryption: String,
    pub trusted: Option<bool>,
    pub state: String,
    pub error: Option<String>,
    pub replaces_id: Option<String>,
    pub corrected: bool,
    pub encryption_info: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corrections: Vec<BackupCorrection>,
}

/// The ids of one correction applied to a message (message_corrections).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCorrection {
    pub stanza_id: Option<String>,
    pub stanza_id_by: Option<String>,
    pub origin_id: Option<String>,
    pub message_id: Option<String>,
    pub timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct BackupDevice {
    pub account: String,
    pub jid: String,
    pub namespace: String,
    pub device_id: u32,
    pub label: Option<String>,
    /// Hex of the public identity key.
    pub identity_key: Option<String>,
    pub active: bool,
    pub last_seen: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct BackupTrust {
    pub account: String,
    pub jid: String,
    pub device_id: u32,
    /// Hex of the Curve25519 identity key the decision is about.
    pub identity_key: String,
    pub level: String,
    /// How it was decided: qr, manual, btbv, import.
    pub source: String,
    pub decided_at: i64,
}

/// Secret key material, hex of Sotto's own serialization. Only in a backup
/// made with the identity included.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, Zeroize, ZeroizeOnDrop)]
pub struct BackupIdentity {
    pub account: String,
    pub device_id: u32,
    pub identity: String,
    pub created_at: i64,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, Zeroize, ZeroizeOnDrop)]
pub struct BackupPrekey {
    pub account: String,
    pub prekey_id: u32,
    pub secret: String,
    pub used_at: Option<i64>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, Zeroize, ZeroizeOnDrop)]
pub struct BackupSignedPrekey {
    pub account: String,
    pub spk_id: u32,
    pub secret: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, Zeroize, ZeroizeOnDrop)]
pub struct BackupSession {
    pub account: String,
    pub namespace: String,
    pub jid: String,
    pub device_id: u32,
    pub state: String,
    pub received_since_send: i64,
    pub updated_at: i64,
}

// Secrets never reach a log through Debug.
macro_rules! redacted_debug {
    ($($t:ty),+) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(account {}, redacted)", stringify!($t), self.account)
            }
        }
    )+};
}
redacted_debug!(
    BackupIdentity,
    BackupPrekey,
    BackupSignedPrekey,
    BackupSession
);

type RowStream<'c, T> = BoxStream<'c, Result<T, StoreError>>;

fn stream<'c, T>(conn: &'c mut SqliteConnection, sql: &'static str) -> RowStream<'c, T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin + 'c,
{
    sqlx::query_as::<_, T>(sql)
        .fetch(conn)
        .map(|r| r.map_err(StoreError::from))
        .boxed()
}

/// Counts for the header, in the same snapshot as the rows that follow.
pub async fn backup_counts_in(
    conn: &mut SqliteConnection,
    include_identity: bool,
) -> Result<BackupCounts, StoreError> {
    let mut counts = BackupCounts::default();
    for (table, slot) in [
        ("accounts", &mut counts.accounts),
        ("contacts", &mut counts.contacts),
        ("conversations", &mut counts.conversations),
        ("messages", &mut counts.messages),
        ("omemo_devices", &mut counts.devices),
        ("trust", &mut counts.trust),
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await?;
        *slot = n.max(0) as u64;
    }
    if include_identity {
        for (table, slot) in [
            ("omemo_identity", &mut counts.omemo_identities),
            ("omemo_prekeys", &mut counts.omemo_prekeys),
            ("omemo_signed_prekeys", &mut counts.omemo_signed_prekeys),
            ("omemo_sessions", &mut counts.omemo_sessions),
        ] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&mut *conn)
                .await?;
            *slot = n.max(0) as u64;
        }
    }
    Ok(counts)
}

pub fn backup_accounts(conn: &mut SqliteConnection) -> RowStream<'_, BackupAccount> {
    stream(
        conn,
        "SELECT jid, server, ca_file, enabled, created_at FROM accounts ORDER BY id",
    )
}

pub fn backup_contacts(conn: &mut SqliteConnection) -> RowStream<'_, BackupContact> {
    stream(
        conn,
        "SELECT a.jid AS account, c.jid, c.name, c.subscription, c.pending_out, c.pending_in, \
           c.wanted, c.groups, c.in_roster \
         FROM contacts c JOIN accounts a ON a.id = c.account_id ORDER BY a.id, c.jid",
    )
}

pub fn backup_conversations(conn: &mut SqliteConnection) -> RowStream<'_, BackupConversation> {
    stream(
        conn,
        "SELECT a.jid AS account, c.jid, c.kind, c.name, c.encryption, c.last_activity, \
           c.unread, c.open \
         FROM conversations c JOIN accounts a ON a.id = c.account_id ORDER BY c.id",
    )
}

/// The message row as SQL hands it over; JSON columns still as text.
#[derive(sqlx::FromRow)]
struct MessageSqlRow {
    account: String,
    conversation: String,
    stanza_id: Option<String>,
    stanza_id_by: Option<String>,
    origin_id: Option<String>,
    message_id: Option<String>,
    direction: String,
    sender_jid: String,
    sender_device: Option<u32>,
    sender_nick: Option<String>,
    timestamp: i64,
    received_at: i64,
    body: Option<String>,
    encryption: String,
    trusted: Option<bool>,
    state: String,
    error: Option<String>,
    replaces_id: Option<String>,
    corrected: bool,
    encryption_info: Option<String>,
    corrections: Option<String>,
}

/// Every message, conversation by conversation in time order (the
/// messages_window index), with its corrections folded in as JSON by SQLite.
pub fn backup_messages(conn: &mut SqliteConnection) -> RowStream<'_, BackupMessage> {
    sqlx::query_as::<_, MessageSqlRow>(
        "SELECT a.jid AS account, c.jid AS conversation, m.stanza_id, m.stanza_id_by, \
           m.origin_id, m.message_id, m.direction, m.sender_jid, m.sender_device, \
           m.sender_nick, m.timestamp, m.received_at, m.body, m.encryption, m.trusted, m.state, \
           m.error, m.replaces_id, m.corrected, m.encryption_info, \
           (SELECT json_group_array(json_object('stanza_id', mc.stanza_id, \
                 'stanza_id_by', mc.stanza_id_by, 'origin_id', mc.origin_id, \
                 'message_id', mc.message_id, 'timestamp', mc.timestamp)) \
            FROM message_corrections mc WHERE mc.target_id = m.id) AS corrections \
         FROM conversations c JOIN accounts a ON a.id = c.account_id \
           JOIN messages m ON m.conversation_id = c.id \
         ORDER BY c.id, m.timestamp, m.id",
    )
    .fetch(conn)
    .map(|r| {
        let r = r.map_err(StoreError::from)?;
        let corrections = match r.corrections.as_deref() {
            None | Some("[]") => Vec::new(),
            Some(text) => serde_json::from_str::<Vec<CorrectionJson>>(text)
                .map_err(|e| StoreError::Database(format!("stored corrections: {e}")))?
                .into_iter()
                .map(Into::into)
                .collect(),
        };
        // Stored JSON that no longer parses is kept as the text it is.
        let encryption_info = r
            .encryption_info
            .map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)));
        Ok(BackupMessage {
            account: r.account,
            conversation: r.conversation,
            stanza_id: r.stanza_id,
            stanza_id_by: r.stanza_id_by,
            origin_id: r.origin_id,
            message_id: r.message_id,
            direction: r.direction,
            sender_jid: r.sender_jid,
            sender_device: r.sender_device,
            sender_nick: r.sender_nick,
            timestamp: r.timestamp,
            received_at: r.received_at,
            body: r.body,
            encryption: r.encryption,
            trusted: r.trusted,
            state: r.state,
            error: r.error,
            replaces_id: r.replaces_id,
            corrected: r.corrected,
            encryption_info,
            corrections,
        })
    })
    .boxed()
}

#[derive(Deserialize)]
struct CorrectionJson {
    stanza_id: Option<String>,
    stanza_id_by: Option<String>,
    origin_id: Option<String>,
    message_id: Option<String>,
    timestamp: i64,
}

impl From<CorrectionJson> for BackupCorrection {
    fn from(c: CorrectionJson) -> Self {
        BackupCorrection {
            stanza_id: c.stanza_id,
            stanza_id_by: c.stanza_id_by,
            origin_id: c.origin_id,
            message_id: c.message_id,
            timestamp: c.timestamp,
        }
    }
}

pub fn backup_devices(conn: &mut SqliteConnection) -> RowStream<'_, BackupDevice> {
    stream(
        conn,
        "SELECT a.jid AS account, d.jid, d.namespace, d.device_id, d.label, \
           lower(hex(d.identity_key)) AS identity_key, d.active, d.last_seen \
         FROM omemo_devices d JOIN accounts a ON a.id = d.account_id \
         ORDER BY a.id, d.jid, d.namespace, d.device_id",
    )
}

pub fn backup_trust(conn: &mut SqliteConnection) -> RowStream<'_, BackupTrust> {
    stream(
        conn,
        "SELECT a.jid AS account, t.jid, t.device_id, lower(hex(t.identity_key)) AS identity_key, \
           t.level, t.source, t.decided_at \
         FROM trust t JOIN accounts a ON a.id = t.account_id \
         ORDER BY a.id, t.jid, t.device_id, t.identity_key",
    )
}

pub fn backup_identities(conn: &mut SqliteConnection) -> RowStream<'_, BackupIdentity> {
    stream(
        conn,
        "SELECT a.jid AS account, i.device_id, lower(hex(i.identity)) AS identity, i.created_at \
         FROM omemo_identity i JOIN accounts a ON a.id = i.account_id ORDER BY a.id",
    )
}

pub fn backup_prekeys(conn: &mut SqliteConnection) -> RowStream<'_, BackupPrekey> {
    stream(
        conn,
        "SELECT a.jid AS account, p.prekey_id, lower(hex(p.secret)) AS secret, p.used_at \
         FROM omemo_prekeys p JOIN accounts a ON a.id = p.account_id ORDER BY a.id, p.prekey_id",
    )
}

pub fn backup_signed_prekeys(conn: &mut SqliteConnection) -> RowStream<'_, BackupSignedPrekey> {
    stream(
        conn,
        "SELECT a.jid AS account, s.spk_id, lower(hex(s.secret)) AS secret, s.created_at, \
           s.retired_at \
         FROM omemo_signed_prekeys s JOIN accounts a ON a.id = s.account_id \
         ORDER BY a.id, s.spk_id",
    )
}

pub fn backup_sessions(conn: &mut SqliteConnection) -> RowStream<'_, BackupSession> {
    stream(
        conn,
        "SELECT a.jid AS account, s.namespace, s.jid, s.device_id, lower(hex(s.state)) AS state, \
           s.received_since_send, s.updated_at \
         FROM omemo_sessions s JOIN accounts a ON a.id = s.account_id \
         ORDER BY a.id, s.namespace, s.jid, s.device_id",
    )
}

// -------------------------------------------------------------------- merge

/// Whether a merge added the row (with its rowid, for the import journal)
/// or found it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merged {
    Added(i64),
    Present,
}

fn merged(id: Option<i64>) -> Merged {
    match id {
        Some(id) => Merged::Added(id),
        None => Merged::Present,
    }
}

fn bad_hex(what: &str) -> StoreError {
    StoreError::Database(format!("the {what} is not valid hex"))
}

/// The local account with this address, created (without a password) when
/// missing.
pub async fn merge_account_in(
    conn: &mut SqliteConnection,
    account: &BackupAccount,
) -> Result<(i64, Merged), StoreError> {
    if let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM accounts WHERE jid = ?")
        .bind(&account.jid)
        .fetch_optional(&mut *conn)
        .await?
    {
        return Ok((id, Merged::Present));
    }
    let id = sqlx::query_scalar(
        "INSERT INTO accounts (jid, server, ca_file, enabled, created_at) \
         VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&account.jid)
    .bind(&account.server)
    .bind(&account.ca_file)
    .bind(account.enabled)
    .bind(account.created_at)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, Merged::Added(id)))
}

pub async fn merge_contact_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    c: &BackupContact,
) -> Result<Merged, StoreError> {
    let done: Option<i64> = sqlx::query_scalar(
        "INSERT INTO contacts (account_id, jid, name, subscription, pending_out, pending_in, \
           wanted, groups, in_roster) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT(account_id, jid) DO NOTHING RETURNING rowid",
    )
    .bind(account_id)
    .bind(&c.jid)
    .bind(&c.name)
    .bind(&c.subscription)
    .bind(c.pending_out)
    .bind(c.pending_in)
    .bind(c.wanted)
    .bind(&c.groups)
    .bind(c.in_roster)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(merged(done))
}

/// The local conversation with this JID, created when missing. What an
/// existing one can learn from the file is [`learn_conversation_in`]'s
/// job, done once the whole import stands.
pub async fn merge_conversation_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    c: &BackupConversation,
) -> Result<(i64, Merged), StoreError> {
    if let Some(id) = sqlx::query_scalar::<_, i64>(
        "SELECT id FROM conversations WHERE account_id = ? AND jid = ?",
    )
    .bind(account_id)
    .bind(&c.jid)
    .fetch_optional(&mut *conn)
    .await?
    {
        return Ok((id, Merged::Present));
    }
    let id = sqlx::query_scalar(
        "INSERT INTO conversations (account_id, jid, kind, name, encryption, last_activity, \
           unread, open) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(account_id)
    .bind(&c.jid)
    .bind(&c.kind)
    .bind(&c.name)
    .bind(&c.encryption)
    .bind(c.last_activity)
    .bind(c.unread)
    .bind(c.open)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, Merged::Added(id)))
}

/// An existing conversation learns a later last activity and a name it
/// lacked.
pub async fn learn_conversation_in(
    conn: &mut SqliteConnection,
    id: i64,
    last_activity: Option<i64>,
    name: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE conversations SET \
           last_activity = max(coalesce(last_activity, ?1), coalesce(?1, last_activity)), \
           name = coalesce(name, ?2) \
         WHERE id = ?3",
    )
    .bind(last_activity)
    .bind(name)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The stored copy of `m` in the conversation: the same archive id, else
/// the same sender's origin-id (XEP-0359), else, for a message with neither,
/// the same sender, direction, time and message id (and text, when it has
/// no id at all), so that importing twice adds nothing.
async fn message_copy_in(
    conn: &mut SqliteConnection,
    conversation_id: i64,
    m: &BackupMessage,
) -> Result<Option<(i64, Option<String>, Option<String>)>, StoreError> {
    type Found = (i64, Option<String>, Option<String>);
    if let Some(stanza_id) = &m.stanza_id {
        let found: Option<Found> = sqlx::query_as(
            "SELECT id, stanza_id, origin_id FROM messages \
             WHERE conversation_id = ? AND stanza_id_by IS ? AND stanza_id = ? LIMIT 1",
        )
        .bind(conversation_id)
        .bind(&m.stanza_id_by)
        .bind(stanza_id)
        .fetch_optional(&mut *conn)
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    if let Some(origin_id) = &m.origin_id {
        let found: Option<Found> = sqlx::query_as(
            "SELECT id, stanza_id, origin_id FROM messages \
             WHERE conversation_id = ? AND sender_jid = ? AND origin_id = ? LIMIT 1",
        )
        .bind(conversation_id)
        .bind(&m.sender_jid)
        .bind(origin_id)
        .fetch_optional(&mut *conn)
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    if m.stanza_id.is_none() && m.origin_id.is_none() {
        let found: Option<Found> = sqlx::query_as(
            "SELECT id, stanza_id, origin_id FROM messages \
             WHERE conversation_id = ?1 AND timestamp = ?2 AND sender_jid = ?3 \
               AND direction = ?4 AND message_id IS ?5 \
               AND (?5 IS NOT NULL OR body IS ?6) LIMIT 1",
        )
        .bind(conversation_id)
        .bind(m.timestamp)
        .bind(&m.sender_jid)
        .bind(&m.direction)
        .bind(&m.message_id)
        .bind(&m.body)
        .fetch_optional(&mut *conn)
        .await?;
        return Ok(found);
    }
    Ok(None)
}

/// Adds `m` unless a copy is here; a copy only learns ids it lacked.
/// Corrections recorded in the file are added to whichever row it is; the
/// rowids of those added to a row that was already here come back too (the
/// others go with their message).
pub async fn merge_message_in(
    conn: &mut SqliteConnection,
    conversation_id: i64,
    m: &BackupMessage,
) -> Result<(Merged, Vec<i64>), StoreError> {
    let (id, outcome) = match message_copy_in(conn, conversation_id, m).await? {
        Some((id, stanza_id, origin_id)) => {
            // OR IGNORE: should another row hold these ids, keep both as they are.
            if stanza_id.is_none() && m.stanza_id.is_some() {
                sqlx::query(
                    "UPDATE OR IGNORE messages SET stanza_id = ?, stanza_id_by = ? WHERE id = ?",
                )
                .bind(&m.stanza_id)
                .bind(&m.stanza_id_by)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            }
            if origin_id.is_none() && m.origin_id.is_some() {
                sqlx::query("UPDATE OR IGNORE messages SET origin_id = ? WHERE id = ?")
                    .bind(&m.origin_id)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            (id, Merged::Present)
        }
        None => {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO messages (conversation_id, stanza_id, stanza_id_by, origin_id, \
                   message_id, direction, sender_jid, sender_device, sender_nick, timestamp, \
                   received_at, body, encryption, trusted, state, error, replaces_id, corrected, \
                   encryption_info) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(conversation_id)
            .bind(&m.stanza_id)
            .bind(&m.stanza_id_by)
            .bind(&m.origin_id)
            .bind(&m.message_id)
            .bind(&m.direction)
            .bind(&m.sender_jid)
            .bind(m.sender_device)
            .bind(&m.sender_nick)
            .bind(m.timestamp)
            .bind(m.received_at)
            .bind(&m.body)
            .bind(&m.encryption)
            .bind(m.trusted)
            .bind(&m.state)
            .bind(&m.error)
            .bind(&m.replaces_id)
            .bind(m.corrected)
            .bind(m.encryption_info.as_ref().map(|v| v.to_string()))
            .fetch_optional(&mut *conn)
            .await?;
            match id {
                Some(id) => (id, Merged::Added(id)),
                // A unique index caught a copy the lookups above did not.
                None => return Ok((Merged::Present, Vec::new())),
            }
        }
    };
    let mut corrections = Vec::new();
    for c in &m.corrections {
        let added: Option<i64> = sqlx::query_scalar(
            "INSERT INTO message_corrections \
               (target_id, stanza_id, stanza_id_by, origin_id, message_id, timestamp) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS ( \
               SELECT 1 FROM message_corrections WHERE target_id = ?1 \
                 AND stanza_id IS ?2 AND stanza_id_by IS ?3 AND origin_id IS ?4 \
                 AND message_id IS ?5) RETURNING rowid",
        )
        .bind(id)
        .bind(&c.stanza_id)
        .bind(&c.stanza_id_by)
        .bind(&c.origin_id)
        .bind(&c.message_id)
        .bind(c.timestamp)
        .fetch_optional(&mut *conn)
        .await?;
        if outcome == Merged::Present
            && let Some(id) = added
        {
            corrections.push(id);
        }
    }
    Ok((outcome, corrections))
}

pub async fn merge_device_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    d: &BackupDevice,
) -> Result<Merged, StoreError> {
    let key = match &d.identity_key {
        Some(h) => Some(hex::decode(h).map_err(|_| bad_hex("device key"))?),
        None => None,
    };
    let done: Option<i64> = sqlx::query_scalar(
        "INSERT INTO omemo_devices (account_id, jid, namespace, device_id, label, identity_key, \
           active, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING rowid",
    )
    .bind(account_id)
    .bind(&d.jid)
    .bind(&d.namespace)
    .bind(d.device_id)
    .bind(&d.label)
    .bind(key)
    .bind(d.active)
    .bind(d.last_seen)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(merged(done))
}

/// A decision about a key that is not decided here yet; a local decision
/// about the same key is never overwritten (ARCHITECTURE "Trust").
pub async fn merge_trust_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    t: &BackupTrust,
) -> Result<Merged, StoreError> {
    let key = hex::decode(&t.identity_key).map_err(|_| bad_hex("trusted key"))?;
    let done: Option<i64> = sqlx::query_scalar(
        "INSERT INTO trust (account_id, jid, device_id, identity_key, level, source, decided_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING rowid",
    )
    .bind(account_id)
    .bind(&t.jid)
    .bind(t.device_id)
    .bind(key)
    .bind(&t.level)
    .bind(&t.source)
    .bind(t.decided_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(merged(done))
}

/// Whether the account with this address exists here with an OMEMO
/// identity of its own.
pub async fn account_has_identity(store: &super::Store, jid: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT 1 FROM omemo_identity i JOIN accounts a ON a.id = i.account_id WHERE a.jid = ?",
    )
    .bind(jid)
    .fetch_optional(store.pool())
    .await?
    .is_some())
}

/// The device id of the account's OMEMO identity, if it has one.
pub async fn identity_device_in(
    conn: &mut SqliteConnection,
    account_id: i64,
) -> Result<Option<u32>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT device_id FROM omemo_identity WHERE account_id = ?")
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Restores an identity into an account that has none (the caller checks
/// with [`identity_device_in`] and refuses otherwise).
pub async fn restore_identity_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    i: &BackupIdentity,
) -> Result<Merged, StoreError> {
    let blob = Zeroizing::new(hex::decode(&i.identity).map_err(|_| bad_hex("identity"))?);
    let done: Option<i64> = sqlx::query_scalar(
        "INSERT INTO omemo_identity (account_id, device_id, identity, created_at) \
         VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING rowid",
    )
    .bind(account_id)
    .bind(i.device_id)
    .bind(&blob[..])
    .bind(i.created_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(merged(done))
}

pub async fn restore_prekey_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    p: &BackupPrekey,
) -> Result<Merged, StoreError> {
    let blob = Zeroizing::new(hex::decode(&p.secret).map_err(|_| bad_hex("pre-key"))?);
    let done: Option<i64> = sqlx::query_scalar(
        "INSERT INTO omemo_prekeys (account_id, prekey_id, secret, used_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT DO NOTHING RETURNING rowid",
    )
    .bind(account_id)
    .bind(p.prekey_id)
    .bind(&blob[..])
    .bind(p.used_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(merged(done))
}

pub async fn restore_signed_prekey_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    s: &BackupSignedPrekey,
) -> Result<Merged, StoreError> {
    let blob = Zeroizing::new(hex::decode(&s.secret).map_err(|_| bad_hex("signed pre-key"))?);
    let done: Option<i64> = sqlx::query_scalar(
        "INSERT INTO omemo_signed_prekeys (account_id, spk_id, secret, created_at, retired_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING rowid",
    )
    .bind(account_id)
    .bind(s.spk_id)
    .bind(&blob[..])
    .bind(s.created_at)
    .bind(s.retired_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(merged(done))
}

pub async fn restore_session_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    s: &BackupSession,
) -> Result<Merged, StoreError> {
    let blob = Zeroizing::new(hex::decode(&s.state).map_err(|_| bad_hex("session"))?);
    let done: Option<i64> = sqlx::query_scalar(
        "INSERT INTO omemo_sessions (account_id, namespace, jid, device_id, state, \
           received_since_send, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING rowid",
    )
    .bind(account_id)
    .bind(&s.namespace)
    .bind(&s.jid)
    .bind(s.device_id)
    .bind(&blob[..])
    .bind(s.received_since_send)
    .bind(s.updated_at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(merged(done))
}

// ------------------------------------------------------------ import journal

/// The tables an import adds to, children first: the order to undo in.
pub const JOURNALED_TABLES: [&str; 11] = [
    "message_corrections",
    "messages",
    "trust",
    "omemo_devices",
    "omemo_sessions",
    "omemo_prekeys",
    "omemo_signed_prekeys",
    "omemo_identity",
    "contacts",
    "conversations",
    "accounts",
];

/// Records rows an import added, in the same transaction that added them.
pub async fn journal_in(
    conn: &mut SqliteConnection,
    added: &[(&'static str, i64)],
) -> Result<(), StoreError> {
    for (table, id) in added {
        debug_assert!(JOURNALED_TABLES.contains(table));
        sqlx::query("INSERT INTO backup_import_journal (table_name, row_id) VALUES (?, ?)")
            .bind(table)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// How many added rows the journal lists (0: no import running or
/// interrupted).
pub async fn journal_len(store: &super::Store) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM backup_import_journal")
        .fetch_one(store.pool())
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The import finished: its rows stay.
pub async fn clear_journal_in(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM backup_import_journal")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Removes every row the journal lists, in short transactions (children
/// first, so no row is left pointing at a removed one), and the journal
/// with them. Returns how many rows were removed.
pub async fn undo_journal(store: &super::Store) -> Result<u64, StoreError> {
    const STEP: i64 = 5_000;
    let mut removed = 0u64;
    for table in JOURNALED_TABLES {
        loop {
            let mut tx = store.begin().await?;
            let ids: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT seq, row_id FROM backup_import_journal WHERE table_name = ? \
                 ORDER BY seq LIMIT ?",
            )
            .bind(table)
            .bind(STEP)
            .fetch_all(&mut *tx)
            .await?;
            if ids.is_empty() {
                break;
            }
            // Table names come from JOURNALED_TABLES, never from the file.
            let delete = format!("DELETE FROM {table} WHERE rowid = ?");
            for (seq, row) in &ids {
                let done = sqlx::query(&delete).bind(row).execute(&mut *tx).await?;
                removed += done.rows_affected();
                sqlx::query("DELETE FROM backup_import_journal WHERE seq = ?")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }
    // Entries naming a table not listed above cannot come from this code.
    sqlx::query("DELETE FROM backup_import_journal")
        .execute(store.pool())
        .await?;
    Ok(removed)
}
