//! messages: every conversation's archive, with XEP-0359 dedupe, XEP-0308
//! corrections, outgoing states, history windows and full-text search.
//!
//! The writers are free `*_in` functions on a connection so that the service
//! can put them in its own transaction (ARCHITECTURE "Exactly-once
//! decryption": ratchet state, consumed pre-key and message commit together,
//! see [`Store::begin`]); the `Store` methods wrap them in one of their own.

use serde::Serialize;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::{Store, StoreError, now_ms};

/// Most rows one call returns: the UI pages, nothing loads the whole archive.
pub const MAX_PAGE: u32 = 1000;

/// A text column's value that none of the enum's variants spells.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

/// An enum stored as TEXT: one literal per variant serves the CHECK
/// constraint, sqlx, serde and `as_str`/`FromStr`, so they cannot drift apart.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, sqlx::Type)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] #[sqlx(rename = $text)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::store::messages::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::store::messages::UnknownValue(other.to_owned())),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(super) use text_enum;

text_enum! {
    #[derive(Default)]
    pub enum Direction {
        #[default]
        In = "in",
        Out = "out",
    }
}

text_enum! {
    /// Outgoing: pending → sent → delivered → read, or failed. Incoming
    /// messages are `received`.
    #[derive(Default)]
    pub enum MessageState {
        Pending = "pending",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Failed = "failed",
        #[default]
        Received = "received",
    }
}

text_enum! {
    #[derive(Default)]
    pub enum Encryption {
        #[default]
        None = "none",
        Omemo0 = "omemo0",
        Omemo2 = "omemo2",
    }
}

impl MessageState {
    /// Whether an outgoing message may go from `self` to `to`. States only
    /// move forward, so a late receipt never downgrades a read marker.
    pub fn may_become(self, to: MessageState) -> bool {
        use MessageState::*;
        matches!(
            (self, to),
            (Pending, Sent | Delivered | Read | Failed)
                | (Sent, Delivered | Read | Failed)
                | (Delivered, Read)
                // Proof that it arrived beats our guess that it failed (a timeout).
                | (Failed, Sent | Delivered | Read)
                // The user asked to send it again.
                | (Failed, Pending)
        )
    }

    /// The states from which a message may become `to`, as an SQL list.
    fn sources_sql(to: MessageState) -> Option<String> {
        let from: Vec<String> = MessageState::ALL
            .iter()
            .filter(|s| s.may_become(to))
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        (!from.is_empty()).then(|| from.join(", "))
    }
}

/// A message to store, as the service parsed it.
///
/// `stanza_id` must only be set when `stanza_id_by` is an archive we trust
/// (our account, or the room), as XEP-0359 §8 asks: a forged one would
/// make a later genuine message look like a duplicate. Our own outgoing
/// messages and their reflections must carry the same `sender_jid`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub conversation_jid: String,
    /// "chat", "group" or "channel"; used when the conversation is new.
    pub conversation_kind: String,
    pub stanza_id: Option<String>,
    pub stanza_id_by: Option<String>,
    pub origin_id: Option<String>,
    pub message_id: Option<String>,
    pub direction: Direction,
    pub sender_jid: String,
    pub sender_device: Option<u32>,
    pub sender_nick: Option<String>,
    /// Unix milliseconds: the sender's (delayed) time, else when it arrived.
    pub timestamp: i64,
    /// `None` when it could not be decrypted (`error` says why).
    pub body: Option<String>,
    pub encryption: Encryption,
    pub trusted: Option<bool>,
    pub state: MessageState,
    pub error: Option<String>,
    /// XEP-0308: the id of the message this one corrects.
    pub replaces_id: Option<String>,
    pub encryption_info: Option<serde_json::Value>,
}

impl Default for NewMessage {
    fn default() -> Self {
        Self {
            conversation_jid: String::new(),
            conversation_kind: "chat".into(),
            stanza_id: None,
            stanza_id_by: None,
            origin_id: None,
            message_id: None,
            direction: Direction::In,
            sender_jid: String::new(),
            sender_device: None,
            sender_nick: None,
            timestamp: now_ms(),
            body: None,
            encryption: Encryption::None,
            trusted: None,
            state: MessageState::Received,
            error: None,
            replaces_id: None,
            encryption_info: None,
        }
    }
}

impl NewMessage {
    /// A received message in a 1:1 chat, timestamped now.
    pub fn incoming(conversation_jid: &str, sender_jid: &str, body: Option<&str>) -> Self {
        Self {
            conversation_jid: conversation_jid.into(),
            sender_jid: sender_jid.into(),
            body: body.map(Into::into),
            ..Self::default()
        }
    }

    /// A message we are about to send, stored pending first. `id` is both
    /// the message id and the origin-id (as Conversations and Dino do).
    pub fn outgoing(conversation_jid: &str, own_jid: &str, id: &str, body: Option<&str>) -> Self {
        Self {
            conversation_jid: conversation_jid.into(),
            sender_jid: own_jid.into(),
            message_id: Some(id.into()),
            origin_id: Some(id.into()),
            direction: Direction::Out,
            state: MessageState::Pending,
            body: body.map(Into::into),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    pub conversation_jid: String,
    pub stanza_id: Option<String>,
    pub stanza_id_by: Option<String>,
    pub origin_id: Option<String>,
    pub message_id: Option<String>,
    pub direction: Direction,
    pub sender_jid: String,
    pub sender_device: Option<u32>,
    pub sender_nick: Option<String>,
    pub timestamp: i64,
    pub received_at: i64,
    pub body: Option<String>,
    pub encryption: Encryption,
    pub trusted: Option<bool>,
    pub state: MessageState,
    pub error: Option<String>,
    pub replaces_id: Option<String>,
    pub corrected: bool,
    /// JSON text; serialized as the JSON value it holds.
    #[serde(serialize_with = "serialize_json_text")]
    pub encryption_info: Option<String>,
}

impl MessageRow {
    pub fn encryption_info_json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.encryption_info.as_deref()?).ok()
    }
}

fn serialize_json_text<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v.as_deref().map(serde_json::from_str::<serde_json::Value>) {
        Some(Ok(value)) => value.serialize(s),
        Some(Err(_)) => v.serialize(s),
        None => s.serialize_none(),
    }
}

/// A page of one conversation around a message ([`Store::history_around`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryWindow {
    /// Oldest first; empty when the message is not in the conversation.
    pub messages: Vec<MessageRow>,
    /// Older messages exist beyond the first one.
    pub more_before: bool,
    /// Newer messages exist beyond the last one.
    pub more_after: bool,
}

/// What [`insert_message_in`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New(MessageRow),
    /// Already stored (possibly completed with the archive's stanza-id, or
    /// marked sent because the server echoed it back).
    Duplicate(MessageRow),
    /// A XEP-0308 correction, applied to the row it corrects.
    Corrected(MessageRow),
}

impl Inserted {
    pub fn row(&self) -> &MessageRow {
        match self {
            Inserted::New(r) | Inserted::Duplicate(r) | Inserted::Corrected(r) => r,
        }
    }
}

const COLUMNS: &str = "m.id, c.account_id, m.conversation_id, c.jid AS conversation_jid, \
    m.stanza_id, m.stanza_id_by, m.origin_id, m.message_id, m.direction, m.sender_jid, \
    m.sender_device, m.sender_nick, m.timestamp, m.received_at, m.body, m.encryption, m.trusted, \
    m.state, m.error, m.replaces_id, m.corrected, m.encryption_info";
const FROM: &str = "FROM messages m JOIN conversations c ON c.id = m.conversation_id";

/// A write transaction for the archive at the default durability
/// (`synchronous=NORMAL`, ARCHITECTURE "Storage"), which also resets a pooled
/// connection that [`Store::begin`] left at FULL. IMMEDIATE takes the write
/// lock up front, so a read-then-write waits for another writer instead of
/// failing with SQLITE_BUSY.
pub(super) async fn begin_archive_write(
    pool: &SqlitePool,
) -> Result<Transaction<'static, Sqlite>, StoreError> {
    Ok(pool
        .begin_with("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE")
        .await?)
}

pub async fn message_in(
    conn: &mut SqliteConnection,
    row_id: i64,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} {FROM} WHERE m.id = ?"))
            .bind(row_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

async fn row_in(conn: &mut SqliteConnection, row_id: i64) -> Result<MessageRow, StoreError> {
    message_in(conn, row_id).await?.ok_or(StoreError::NotFound)
}

pub(super) async fn conversation_id_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    jid: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM conversations WHERE account_id = ? AND jid = ?")
            .bind(account_id)
            .bind(jid)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// The stored copy of `msg`, if there is one (XEP-0359): the same archive
/// id, else the same sender's origin-id, else the same sender's message id
/// when neither the origin-ids nor the archive ids say they differ. Ask it
/// before decrypting: a copy that was decrypted once cannot be again.
pub async fn find_duplicate_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    msg: &NewMessage,
) -> Result<Option<MessageRow>, StoreError> {
    match conversation_id_in(conn, account_id, &msg.conversation_jid).await? {
        Some(conversation_id) => duplicate_in(conn, conversation_id, msg).await,
        None => Ok(None),
    }
}

async fn duplicate_in(
    conn: &mut SqliteConnection,
    conversation_id: i64,
    msg: &NewMessage,
) -> Result<Option<MessageRow>, StoreError> {
    if let Some(stanza_id) = &msg.stanza_id {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE conversation_id = ? AND stanza_id_by IS ? \
             AND stanza_id = ? LIMIT 1",
        )
        .bind(conversation_id)
        .bind(&msg.stanza_id_by)
        .bind(stanza_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = id {
            return message_in(conn, id).await;
        }
    }
    if let Some(origin_id) = &msg.origin_id {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE conversation_id = ? AND sender_jid = ? \
             AND origin_id = ?",
        )
        .bind(conversation_id)
        .bind(&msg.sender_jid)
        .bind(origin_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = id {
            return message_in(conn, id).await;
        }
    }
    if let Some(message_id) = &msg.message_id {
        // Two different origin-ids, or two ids from the same archive, mean
        // two messages that happen to share a message id.
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE conversation_id = ?1 AND message_id = ?2 \
               AND sender_jid = ?3 \
               AND (origin_id IS NULL OR ?4 IS NULL OR origin_id = ?4) \
               AND NOT (stanza_id IS NOT NULL AND ?5 IS NOT NULL \
                        AND stanza_id_by IS ?6 AND stanza_id <> ?5) \
             ORDER BY id LIMIT 1",
        )
        .bind(conversation_id)
        .bind(message_id)
        .bind(&msg.sender_jid)
        .bind(&msg.origin_id)
        .bind(&msg.stanza_id)
        .bind(&msg.stanza_id_by)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = id {
            return message_in(conn, id).await;
        }
    }
    Ok(None)
}

/// Stores `msg` unless it is a copy of a stored message or a correction of
/// one; see [`Inserted`]. Creates and reopens the conversation as needed.
pub async fn insert_message_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    msg: &NewMessage,
) -> Result<Inserted, StoreError> {
    let conversation_id =
        match conversation_id_in(conn, account_id, &msg.conversation_jid).await? {
            Some(id) => id,
            None => sqlx::query_scalar(
                "INSERT INTO conversations (account_id, jid, kind) VALUES (?, ?, ?) RETURNING id",
            )
            .bind(account_id)
            .bind(&msg.conversation_jid)
            .bind(&msg.conversation_kind)
            .fetch_one(&mut *conn)
            .await?,
        };

    if let Some(existing) = duplicate_in(conn, conversation_id, msg).await? {
        return Ok(Inserted::Duplicate(
            complete_copy_in(conn, existing, msg).await?,
        ));
    }

    // An undecryptable correction keeps its own row: never silently discard.
    if let (Some(replaces_id), Some(body)) = (&msg.replaces_id, &msg.body)
        && let Some(target) = correction_target_in(conn, conversation_id, msg, replaces_id).await?
    {
        return apply_correction_in(conn, target, msg, body).await;
    }

    let encryption_info = msg.encryption_info.as_ref().map(|v| v.to_string());
    // DO NOTHING: a copy that a concurrent writer stored first is a
    // duplicate, not an error.
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, stanza_id, stanza_id_by, origin_id, message_id, \
           direction, sender_jid, sender_device, sender_nick, timestamp, received_at, body, \
           encryption, trusted, state, error, replaces_id, encryption_info) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(conversation_id)
    .bind(&msg.stanza_id)
    .bind(&msg.stanza_id_by)
    .bind(&msg.origin_id)
    .bind(&msg.message_id)
    .bind(msg.direction)
    .bind(&msg.sender_jid)
    .bind(msg.sender_device)
    .bind(&msg.sender_nick)
    .bind(msg.timestamp)
    .bind(now_ms())
    .bind(&msg.body)
    .bind(msg.encryption)
    .bind(msg.trusted)
    .bind(msg.state)
    .bind(&msg.error)
    .bind(&msg.replaces_id)
    .bind(encryption_info)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else {
        return match duplicate_in(conn, conversation_id, msg).await? {
            Some(existing) => Ok(Inserted::Duplicate(existing)),
            None => Err(StoreError::Database(
                "the message clashes with a stored one".into(),
            )),
        };
    };

    // Our own newer message (sent here or from another device) means the
    // chat was read up to it; an older one from a MAM page does not.
    sqlx::query(
        "UPDATE conversations SET open = 1, \
           last_activity = max(coalesce(last_activity, ?1), ?1), \
           unread = CASE WHEN ?2 = 'in' THEN unread + 1 \
                         WHEN ?1 >= coalesce(last_activity, ?1) THEN 0 \
                         ELSE unread END \
         WHERE id = ?3",
    )
    .bind(msg.timestamp)
    .bind(msg.direction)
    .bind(conversation_id)
    .execute(&mut *conn)
    .await?;
    Ok(Inserted::New(row_in(conn, id).await?))
}

/// A second copy of a stored message may know more: the archive's
/// stanza-id (our own message back from MAM or the room) or the origin-id;
/// and that the server has our pending message.
async fn complete_copy_in(
    conn: &mut SqliteConnection,
    existing: MessageRow,
    msg: &NewMessage,
) -> Result<MessageRow, StoreError> {
    let mut changed = false;
    // OR IGNORE: should another row hold these ids already, keep both rows
    // as they are rather than fail the whole insert.
    if existing.stanza_id.is_none() && msg.stanza_id.is_some() {
        changed |= sqlx::query(
            "UPDATE OR IGNORE messages SET stanza_id = ?, stanza_id_by = ? \
             WHERE id = ? AND stanza_id IS NULL",
        )
        .bind(&msg.stanza_id)
        .bind(&msg.stanza_id_by)
        .bind(existing.id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            > 0;
    }
    if existing.origin_id.is_none() && msg.origin_id.is_some() {
        changed |= sqlx::query(
            "UPDATE OR IGNORE messages SET origin_id = ? WHERE id = ? AND origin_id IS NULL",
        )
        .bind(&msg.origin_id)
        .bind(existing.id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            > 0;
    }
    // A copy that did not come from us (reflection, carbon, MAM) proves the
    // server has it; our own re-insert is still pending.
    if existing.direction == Direction::Out
        && msg.state != MessageState::Pending
        && matches!(existing.state, MessageState::Pending | MessageState::Failed)
    {
        changed |= set_state_in(conn, existing.id, MessageState::Sent, None)
            .await?
            .is_some();
    }
    if changed {
        row_in(conn, existing.id).await
    } else {
        Ok(existing)
    }
}

/// The message a XEP-0308 correction replaces: same conversation and
/// sender (§5: only the original sender may correct), by its message id or
/// origin-id, or through an earlier correction that used that id (clients
/// that chain corrections).
async fn correction_target_in(
    conn: &mut SqliteConnection,
    conversation_id: i64,
    msg: &NewMessage,
    replaces_id: &str,
) -> Result<Option<MessageRow>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM messages WHERE conversation_id = ?1 AND sender_jid = ?2 \
           AND (message_id = ?3 OR origin_id = ?3) \
         UNION ALL \
         SELECT mc.target_id FROM message_corrections mc JOIN messages m ON m.id = mc.target_id \
         WHERE m.conversation_id = ?1 AND m.sender_jid = ?2 \
           AND (mc.message_id = ?3 OR mc.origin_id = ?3) \
         LIMIT 1",
    )
    .bind(conversation_id)
    .bind(&msg.sender_jid)
    .bind(replaces_id)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => message_in(conn, id).await,
        None => Ok(None),
    }
}

async fn apply_correction_in(
    conn: &mut SqliteConnection,
    target: MessageRow,
    msg: &NewMessage,
    body: &str,
) -> Result<Inserted, StoreError> {
    // The same correction again (live, then from MAM) must not win over a
    // later one that has been applied since.
    let seen: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM message_corrections WHERE target_id = ?1 AND ( \
           (?2 IS NOT NULL AND stanza_id = ?2 AND stanza_id_by IS ?3) \
           OR (?4 IS NOT NULL AND origin_id = ?4) \
           OR (?5 IS NOT NULL AND message_id = ?5)) LIMIT 1",
    )
    .bind(target.id)
    .bind(&msg.stanza_id)
    .bind(&msg.stanza_id_by)
    .bind(&msg.origin_id)
    .bind(&msg.message_id)
    .fetch_optional(&mut *conn)
    .await?;
    if seen.is_some() {
        return Ok(Inserted::Duplicate(target));
    }
    sqlx::query(
        "INSERT INTO message_corrections \
           (target_id, stanza_id, stanza_id_by, origin_id, message_id, timestamp) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(target.id)
    .bind(&msg.stanza_id)
    .bind(&msg.stanza_id_by)
    .bind(&msg.origin_id)
    .bind(&msg.message_id)
    .bind(msg.timestamp)
    .execute(&mut *conn)
    .await?;
    // The row shows the corrected text, so it shows how that text came: a
    // plaintext correction of an encrypted message does not keep the lock.
    sqlx::query(
        "UPDATE messages SET body = ?, corrected = 1, encryption = ?, trusted = ?, \
           sender_device = ?, error = ?, encryption_info = ? WHERE id = ?",
    )
    .bind(body)
    .bind(msg.encryption)
    .bind(msg.trusted)
    .bind(msg.sender_device)
    .bind(&msg.error)
    .bind(msg.encryption_info.as_ref().map(|v| v.to_string()))
    .bind(target.id)
    .execute(&mut *conn)
    .await?;
    Ok(Inserted::Corrected(row_in(conn, target.id).await?))
}

/// Moves an outgoing message to `state` if [`MessageState::may_become`]
/// allows it; returns the row if it changed.
pub async fn set_state_in(
    conn: &mut SqliteConnection,
    row_id: i64,
    state: MessageState,
    error: Option<&str>,
) -> Result<Option<MessageRow>, StoreError> {
    let Some(sources) = MessageState::sources_sql(state) else {
        return Ok(None);
    };
    let changed = sqlx::query(&format!(
        "UPDATE messages SET state = ?, error = ? \
         WHERE id = ? AND direction = 'out' AND state IN ({sources})"
    ))
    .bind(state)
    .bind(error)
    .bind(row_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    message_in(conn, row_id).await
}

/// A receipt or chat marker for our message `id` (its message id,
/// origin-id, or in a room the stanza-id XEP-0333 asks for). A `Delivered`
/// or `Read` marker also covers every earlier outgoing message that was
/// sent or delivered (XEP-0333 §3). Returns the rows that changed.
pub async fn mark_outgoing_up_to_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    conversation_jid: &str,
    id: &str,
    state: MessageState,
) -> Result<Vec<MessageRow>, StoreError> {
    let Some(conversation_id) = conversation_id_in(conn, account_id, conversation_jid).await?
    else {
        return Ok(Vec::new());
    };
    let target: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, timestamp FROM ( \
           SELECT id, timestamp FROM messages WHERE conversation_id = ?1 AND message_id = ?2 \
             AND direction = 'out' \
           UNION ALL SELECT id, timestamp FROM messages WHERE conversation_id = ?1 \
             AND origin_id = ?2 AND direction = 'out' \
           UNION ALL SELECT id, timestamp FROM messages WHERE conversation_id = ?1 \
             AND stanza_id = ?2 AND direction = 'out') \
         ORDER BY timestamp DESC, id DESC LIMIT 1",
    )
    .bind(conversation_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((target_id, target_ts)) = target else {
        return Ok(Vec::new());
    };
    let mut changed = Vec::new();
    if matches!(state, MessageState::Delivered | MessageState::Read) {
        // `state IN ('sent', 'delivered')` spelled as in the partial index
        // messages_out_unacked, so only unacknowledged messages are walked.
        changed = sqlx::query_scalar(
            "UPDATE messages SET state = ?1, error = NULL \
             WHERE conversation_id = ?2 AND direction = 'out' \
               AND state IN ('sent', 'delivered') AND state <> ?1 \
               AND (timestamp < ?3 OR (timestamp = ?3 AND id < ?4)) \
             RETURNING id",
        )
        .bind(state)
        .bind(conversation_id)
        .bind(target_ts)
        .bind(target_id)
        .fetch_all(&mut *conn)
        .await?;
    }
    if set_state_in(conn, target_id, state, None).await?.is_some() {
        changed.push(target_id);
    }
    let mut rows = Vec::with_capacity(changed.len());
    for id in changed {
        rows.push(row_in(conn, id).await?);
    }
    rows.sort_by_key(|r| (r.timestamp, r.id));
    Ok(rows)
}

pub async fn mark_read_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    conversation_jid: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE conversations SET unread = 0 WHERE account_id = ? AND jid = ?")
        .bind(account_id)
        .bind(conversation_jid)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The last id seen in the account's own MAM archive; catch-up resumes there.
pub async fn set_mam_last_id_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    id: &str,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE accounts SET mam_last_id = ? WHERE id = ?")
        .bind(id)
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The last id seen in a room's MAM archive. The room's conversation must
/// exist ([`Store::ensure_conversation`]).
pub async fn set_room_mam_last_id_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    room_jid: &str,
    id: &str,
) -> Result<(), StoreError> {
    let done =
        sqlx::query("UPDATE conversations SET mam_last_id = ? WHERE account_id = ? AND jid = ?")
            .bind(id)
            .bind(account_id)
            .bind(room_jid)
            .execute(&mut *conn)
            .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A window of one conversation by (timestamp, id): `?` are account, JID,
/// timestamp, id, limit. Both directions are one range on messages_window.
fn history_sql(after: bool) -> String {
    let (cmp, order) = if after { (">", "") } else { ("<", " DESC") };
    format!(
        "SELECT {COLUMNS} {FROM} WHERE m.conversation_id = \
           (SELECT id FROM conversations WHERE account_id = ? AND jid = ?) \
         AND (m.timestamp, m.id) {cmp} (?, ?) \
         ORDER BY m.timestamp{order}, m.id{order} LIMIT ?"
    )
}

/// [`Store::search`]: FTS5 query, account (or NULL for all), limit. The
/// ORDER BY is on the FTS table's rowid alone, which FTS5 serves from its
/// index without sorting, so the LIMIT ends the scan.
fn search_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM messages_fts f JOIN messages m ON m.id = f.rowid \
         JOIN conversations c ON c.id = m.conversation_id \
         WHERE messages_fts MATCH ?1 AND (?2 IS NULL OR c.account_id = ?2) \
         ORDER BY f.rowid DESC LIMIT ?3"
    )
}

/// User text as an FTS5 query: every word a quoted prefix term, all of them
/// required. Quoting leaves no FTS5 syntax to the user (`"`, `*`, `NEAR`,
/// `col:`); a word with no letter or digit would be an empty phrase, so it is
/// dropped. `None` when nothing searchable is left.
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(|w| format!("\"{}\"*", w.replace('\0', "").replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl Store {
    /// [`insert_message_in`] in a transaction of its own.
    pub async fn insert_message(
        &self,
        account_id: i64,
        msg: &NewMessage,
    ) -> Result<Inserted, StoreError> {
        let mut tx = begin_archive_write(&self.pool).await?;
        let inserted = insert_message_in(&mut tx, account_id, msg).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    pub async fn set_state(
        &self,
        row_id: i64,
        state: MessageState,
        error: Option<&str>,
    ) -> Result<Option<MessageRow>, StoreError> {
        let mut tx = begin_archive_write(&self.pool).await?;
        let row = set_state_in(&mut tx, row_id, state, error).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn mark_outgoing_up_to(
        &self,
        account_id: i64,
        conversation_jid: &str,
        id: &str,
        state: MessageState,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let mut tx = begin_archive_write(&self.pool).await?;
        let rows = mark_outgoing_up_to_in(&mut tx, account_id, conversation_jid, id, state).await?;
        tx.commit().await?;
        Ok(rows)
    }

    pub async fn mark_read(
        &self,
        account_id: i64,
        conversation_jid: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        mark_read_in(&mut conn, account_id, conversation_jid).await
    }

    /// Outgoing messages not yet sent, oldest first, to send after a restart.
    pub async fn pending_outgoing(&self, account_id: i64) -> Result<Vec<MessageRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} {FROM} WHERE m.state = 'pending' AND c.account_id = ? \
             ORDER BY m.timestamp, m.id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn message(&self, row_id: i64) -> Result<Option<MessageRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        message_in(&mut conn, row_id).await
    }

    /// The latest message in the conversation with this origin-id (any sender).
    pub async fn message_by_origin_id(
        &self,
        account_id: i64,
        conversation_jid: &str,
        origin_id: &str,
    ) -> Result<Option<MessageRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} {FROM} WHERE m.conversation_id = \
               (SELECT id FROM conversations WHERE account_id = ? AND jid = ?) \
             AND m.origin_id = ? ORDER BY m.id DESC LIMIT 1"
        ))
        .bind(account_id)
        .bind(conversation_jid)
        .bind(origin_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Up to `limit` messages before `before` (timestamp, row id), or the
    /// latest ones; oldest first. Walks the messages_window index backwards,
    /// so the cost does not grow with the conversation.
    pub async fn history(
        &self,
        account_id: i64,
        conversation_jid: &str,
        before: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let (ts, id) = before.unwrap_or((i64::MAX, i64::MAX));
        let mut rows: Vec<MessageRow> = sqlx::query_as(&history_sql(false))
            .bind(account_id)
            .bind(conversation_jid)
            .bind(ts)
            .bind(id)
            .bind(limit.min(MAX_PAGE))
            .fetch_all(&self.pool)
            .await?;
        rows.reverse();
        Ok(rows)
    }

    /// Up to `limit` messages after `after` (timestamp, row id), oldest first.
    pub async fn history_after(
        &self,
        account_id: i64,
        conversation_jid: &str,
        after: (i64, i64),
        limit: u32,
    ) -> Result<Vec<MessageRow>, StoreError> {
        Ok(sqlx::query_as(&history_sql(true))
            .bind(account_id)
            .bind(conversation_jid)
            .bind(after.0)
            .bind(after.1)
            .bind(limit.min(MAX_PAGE))
            .fetch_all(&self.pool)
            .await?)
    }

    /// A window of about `limit` messages around message `row_id`, oldest
    /// first, for a search result: half before it, the rest after, and
    /// more on one side where the other runs out, so the page is full
    /// near either end. Empty when the conversation has no such message.
    /// Three index range walks: the cost does not grow with the
    /// conversation.
    pub async fn history_around(
        &self,
        account_id: i64,
        conversation_jid: &str,
        row_id: i64,
        limit: u32,
    ) -> Result<HistoryWindow, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let anchor: Option<MessageRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} {FROM} WHERE m.id = ? AND c.account_id = ? AND c.jid = ?"
        ))
        .bind(row_id)
        .bind(account_id)
        .bind(conversation_jid)
        .fetch_optional(&self.pool)
        .await?;
        let Some(anchor) = anchor else {
            return Ok(HistoryWindow::default());
        };
        let key = (anchor.timestamp, anchor.id);
        // Up to `limit` on each side: enough to fill the page from one side
        // alone, and to know whether more lies beyond what is kept.
        let mut before = self
            .history(account_id, conversation_jid, Some(key), limit)
            .await?;
        let mut after = self
            .history_after(account_id, conversation_jid, key, limit)
            .await?;
        let room = (limit - 1) as usize;
        let keep_before = before
            .len()
            .min(room.div_ceil(2).max(room.saturating_sub(after.len())));
        let keep_after = after.len().min(room - keep_before);
        let more_before = before.len() > keep_before;
        let more_after = after.len() > keep_after;
        before.drain(..before.len() - keep_before);
        after.truncate(keep_after);
        let mut messages = before;
        messages.push(anchor);
        messages.append(&mut after);
        Ok(HistoryWindow {
            messages,
            more_before,
            more_after,
        })
    }

    /// Messages whose text has every word of `query` (as a word prefix),
    /// newest first, in one account or all.
    ///
    /// "Newest" is the latest stored: FTS5 walks its index by rowid (=
    /// `messages.id`, the order messages arrived in) from the end and stops
    /// after `limit` hits of the account, so a common word costs the same
    /// as a rare one. Sorting all hits by timestamp instead read every
    /// matching row first (557,256 for "the" in a 1M archive: seconds).
    /// Those hits are then shown by timestamp. Messages arrive in time
    /// order except history fetched later (MAM), which then counts as new.
    pub async fn search(
        &self,
        account_id: Option<i64>,
        query: &str,
        limit: u32,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let mut rows: Vec<MessageRow> = sqlx::query_as(&search_sql())
            .bind(fts)
            .bind(account_id)
            .bind(limit.min(MAX_PAGE))
            .fetch_all(&self.pool)
            .await?;
        rows.sort_by_key(|r| std::cmp::Reverse((r.timestamp, r.id)));
        Ok(rows)
    }

    pub async fn mam_last_id(&self, account_id: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<String>>(
                "SELECT mam_last_id FROM accounts WHERE id = ?",
            )
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?
            .flatten(),
        )
    }

    pub async fn set_mam_last_id(&self, account_id: i64, id: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        set_mam_last_id_in(&mut conn, account_id, id).await
    }

    pub async fn room_mam_last_id(
        &self,
        account_id: i64,
        room_jid: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT mam_last_id FROM conversations WHERE account_id = ? AND jid = ?",
        )
        .bind(account_id)
        .bind(room_jid)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }

    pub async fn set_room_mam_last_id(
        &self,
        account_id: i64,
        room_jid: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        set_room_mam_last_id_in(&mut conn, account_id, room_jid, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    const ME: &str = "me@example.org";
    const BOB: &str = "bob@example.org";

    async fn setup() -> (tempfile::TempDir, Store, i64) {
        let (dir, store) = temp_store().await;
        let acc = store.add_account(ME, None, None).await.unwrap();
        (dir, store, acc.id)
    }

    fn from_bob(body: &str, ts: i64) -> NewMessage {
        NewMessage {
            timestamp: ts,
            ..NewMessage::incoming(BOB, BOB, Some(body))
        }
    }

    fn archived(mut msg: NewMessage, stanza_id: &str) -> NewMessage {
        msg.stanza_id = Some(stanza_id.into());
        msg.stanza_id_by = Some(ME.into());
        msg
    }

    async fn new_row(store: &Store, acc: i64, msg: &NewMessage) -> MessageRow {
        match store.insert_message(acc, msg).await.unwrap() {
            Inserted::New(row) => row,
            other => panic!("expected a new row, got {other:?}"),
        }
    }

    async fn count(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM messages")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn incoming_messages_open_the_chat_and_count_as_unread_until_we_reply() {
        let (_d, store, acc) = setup().await;
        let first = new_row(&store, acc, &from_bob("hi", 1_000)).await;
        assert_eq!(
            (first.account_id, first.conversation_jid.as_str()),
            (acc, BOB)
        );
        new_row(&store, acc, &from_bob("there?", 2_000)).await;
        let conv = store.conversation(acc, BOB).await.unwrap().unwrap();
        assert_eq!((conv.unread, conv.last_activity), (2, Some(2_000)));
        assert_eq!(conv.last_body.as_deref(), Some("there?"));
        assert_eq!(conv.last_direction, Some(Direction::In));

        // An older page from MAM neither moves the chat back nor clears it.
        let mut old = NewMessage::outgoing(BOB, ME, "old", Some("yesterday"));
        old.timestamp = 500;
        new_row(&store, acc, &old).await;
        let conv = store.conversation(acc, BOB).await.unwrap().unwrap();
        assert_eq!((conv.unread, conv.last_activity), (2, Some(2_000)));

        let mut reply = NewMessage::outgoing(BOB, ME, "r1", Some("yes"));
        reply.timestamp = 3_000;
        new_row(&store, acc, &reply).await;
        let conv = store.conversation(acc, BOB).await.unwrap().unwrap();
        assert_eq!((conv.unread, conv.last_activity), (0, Some(3_000)));
        assert_eq!(conv.last_state, Some(MessageState::Pending));

        new_row(&store, acc, &from_bob("ok", 4_000)).await;
        store.mark_read(acc, BOB).await.unwrap();
        assert_eq!(
            store.conversation(acc, BOB).await.unwrap().unwrap().unread,
            0
        );
    }

    #[tokio::test]
    async fn the_same_archive_id_is_a_duplicate() {
        let (_d, store, acc) = setup().await;
        let row = new_row(&store, acc, &archived(from_bob("hi", 1), "S1")).await;
        let again = store
            .insert_message(acc, &archived(from_bob("hi", 1), "S1"))
            .await
            .unwrap();
        assert_eq!(again, Inserted::Duplicate(row));
        // The same id from another archive is another message.
        let mut other = archived(from_bob("hi", 1), "S1");
        other.stanza_id_by = Some("room@muc.example.org".into());
        new_row(&store, acc, &other).await;
        assert_eq!(
            store.conversation(acc, BOB).await.unwrap().unwrap().unread,
            2
        );
    }

    #[tokio::test]
    async fn the_same_origin_id_is_a_duplicate_only_from_the_same_sender() {
        let (_d, store, acc) = setup().await;
        let mut msg = from_bob("hi", 1);
        msg.origin_id = Some("O1".into());
        let row = new_row(&store, acc, &msg).await;
        // The archived copy: same origin-id, now with a stanza-id.
        let copy = archived(msg.clone(), "S1");
        let Inserted::Duplicate(dup) = store.insert_message(acc, &copy).await.unwrap() else {
            panic!("not a duplicate");
        };
        assert_eq!(dup.id, row.id);
        assert_eq!(dup.stanza_id.as_deref(), Some("S1"));
        // Someone else cannot suppress Bob's messages by reusing the id.
        let mut spoof = msg.clone();
        spoof.sender_jid = "mallory@example.org".into();
        new_row(&store, acc, &spoof).await;
        assert_eq!(count(&store).await, 2);
    }

    #[tokio::test]
    async fn a_message_id_alone_dedupes_unless_the_archive_ids_differ() {
        let (_d, store, acc) = setup().await;
        let mut msg = from_bob("hi", 1);
        msg.message_id = Some("m1".into());
        let row = new_row(&store, acc, &msg).await;
        let copy = archived(msg.clone(), "S1");
        let Inserted::Duplicate(dup) = store.insert_message(acc, &copy).await.unwrap() else {
            panic!("not a duplicate");
        };
        assert_eq!((dup.id, dup.stanza_id.as_deref()), (row.id, Some("S1")));
        // Same message id, another archive id: a client that reuses ids.
        new_row(&store, acc, &archived(msg.clone(), "S2")).await;
        // Same message id, other origin-ids: two messages.
        let mut a = from_bob("a", 2);
        a.message_id = Some("m2".into());
        a.origin_id = Some("Oa".into());
        new_row(&store, acc, &a).await;
        a.origin_id = Some("Ob".into());
        new_row(&store, acc, &a).await;
        // No ids at all: nothing to dedupe on.
        new_row(&store, acc, &from_bob("hi", 1)).await;
        new_row(&store, acc, &from_bob("hi", 1)).await;
        assert_eq!(count(&store).await, 6);
    }

    #[tokio::test]
    async fn our_pending_message_reflected_by_the_archive_stays_one_sent_row() {
        let (_d, store, acc) = setup().await;
        let room = "room@muc.example.org";
        let mut out = NewMessage::outgoing(room, ME, "abc", Some("hello room"));
        out.conversation_kind = "group".into();
        let row = new_row(&store, acc, &out).await;
        assert_eq!(
            store.pending_outgoing(acc).await.unwrap(),
            vec![row.clone()]
        );
        // Storing it again locally (a retry) keeps it pending.
        let Inserted::Duplicate(same) = store.insert_message(acc, &out).await.unwrap() else {
            panic!("not a duplicate");
        };
        assert_eq!(same.state, MessageState::Pending);

        let mut reflection = out.clone();
        reflection.state = MessageState::Sent;
        reflection.stanza_id = Some("room-1".into());
        reflection.stanza_id_by = Some(room.into());
        let Inserted::Duplicate(dup) = store.insert_message(acc, &reflection).await.unwrap() else {
            panic!("not a duplicate");
        };
        assert_eq!(dup.id, row.id);
        assert_eq!(dup.state, MessageState::Sent);
        assert_eq!(dup.stanza_id.as_deref(), Some("room-1"));
        assert!(store.pending_outgoing(acc).await.unwrap().is_empty());
        assert_eq!(count(&store).await, 1);
        let conv = store.conversation(acc, room).await.unwrap().unwrap();
        assert_eq!(conv.kind, "group");
    }

    #[tokio::test]
    async fn a_correction_is_applied_once_and_never_reverted_by_a_replay() {
        let (_d, store, acc) = setup().await;
        let mut orig = from_bob("helo wrld", 1);
        orig.message_id = Some("m1".into());
        let row = new_row(&store, acc, &orig).await;

        let correction = |id: &str, body: &str, ts: i64| {
            let mut c = from_bob(body, ts);
            c.message_id = Some(id.into());
            c.replaces_id = Some("m1".into());
            c
        };
        let c1 = correction("c1", "hello wrld", 2);
        let Inserted::Corrected(fixed) = store.insert_message(acc, &c1).await.unwrap() else {
            panic!("not applied");
        };
        assert_eq!(
            (fixed.id, fixed.body.as_deref()),
            (row.id, Some("hello wrld"))
        );
        assert!(fixed.corrected);
        // A client that chains: c2 names c1.
        let mut c2 = correction("c2", "hello world", 3);
        c2.replaces_id = Some("c1".into());
        assert!(matches!(
            store.insert_message(acc, &c2).await.unwrap(),
            Inserted::Corrected(_)
        ));
        // c1 again (from MAM) must not bring the older text back.
        assert!(matches!(
            store
                .insert_message(acc, &archived(c1, "S9"))
                .await
                .unwrap(),
            Inserted::Duplicate(_)
        ));
        let now = store.message(row.id).await.unwrap().unwrap();
        assert_eq!(now.body.as_deref(), Some("hello world"));
        assert_eq!(count(&store).await, 1);
        // The index follows the corrected text.
        assert!(store.search(None, "wrld", 10).await.unwrap().is_empty());
        assert_eq!(store.search(None, "world", 10).await.unwrap().len(), 1);
        // Unread counts the message, not its corrections.
        assert_eq!(
            store.conversation(acc, BOB).await.unwrap().unwrap().unread,
            1
        );

        // Only the sender may correct; elsewhere a correction is a message.
        let mut spoof = correction("x1", "pwned", 4);
        spoof.sender_jid = "mallory@example.org".into();
        new_row(&store, acc, &spoof).await;
        let mut orphan = correction("x2", "no target", 5);
        orphan.replaces_id = Some("unknown".into());
        let orphan = new_row(&store, acc, &orphan).await;
        assert_eq!(orphan.replaces_id.as_deref(), Some("unknown"));
        // An undecryptable correction is shown, never dropped.
        let mut broken = correction("x3", "", 6);
        broken.body = None;
        broken.error = Some("no session".into());
        new_row(&store, acc, &broken).await;
        let now = store.message(row.id).await.unwrap().unwrap();
        assert_eq!(now.body.as_deref(), Some("hello world"));
    }

    #[tokio::test]
    async fn outgoing_states_only_move_forward() {
        let (_d, store, acc) = setup().await;
        let row = new_row(&store, acc, &NewMessage::outgoing(BOB, ME, "a", Some("x"))).await;
        use MessageState::*;
        let mut steps = Vec::new();
        for (state, error) in [
            (Sent, None),
            (Pending, None),
            (Read, None),
            (Delivered, None),
            (Failed, Some("timeout")),
            (Received, None),
        ] {
            let changed = store.set_state(row.id, state, error).await.unwrap();
            steps.push(changed.map(|r| r.state));
        }
        assert_eq!(steps, vec![Some(Sent), None, Some(Read), None, None, None]);

        let lost = new_row(&store, acc, &NewMessage::outgoing(BOB, ME, "b", Some("y"))).await;
        let failed = store
            .set_state(lost.id, Failed, Some("timeout"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.error.as_deref(), Some("timeout"));
        // The receipt proves it arrived after all.
        let late = store
            .set_state(lost.id, Delivered, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((late.state, late.error), (Delivered, None));
        // Incoming messages have no outgoing states.
        let incoming = new_row(&store, acc, &from_bob("hi", 1)).await;
        assert!(
            store
                .set_state(incoming.id, Read, None)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.set_state(9_999, Sent, None).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_read_marker_covers_every_earlier_sent_message() {
        let (_d, store, acc) = setup().await;
        let mut ids = Vec::new();
        for (i, state) in [
            MessageState::Sent,
            MessageState::Delivered,
            MessageState::Failed,
            MessageState::Pending,
            MessageState::Sent,
            MessageState::Sent,
        ]
        .into_iter()
        .enumerate()
        {
            let mut m = NewMessage::outgoing(BOB, ME, &format!("m{i}"), Some("x"));
            m.timestamp = 10 * i as i64;
            let row = new_row(&store, acc, &m).await;
            if state != MessageState::Pending {
                store.set_state(row.id, state, None).await.unwrap();
            }
            ids.push(row.id);
        }
        new_row(&store, acc, &from_bob("seen", 45)).await;
        let changed = store
            .mark_outgoing_up_to(acc, BOB, "m4", MessageState::Read)
            .await
            .unwrap();
        let changed: Vec<i64> = changed.iter().map(|r| r.id).collect();
        assert_eq!(changed, vec![ids[0], ids[1], ids[4]]);
        assert_eq!(
            store.message(ids[5]).await.unwrap().unwrap().state,
            MessageState::Sent
        );
        // A late "delivered" for m4 changes nothing; unknown ids neither.
        assert!(
            store
                .mark_outgoing_up_to(acc, BOB, "m4", MessageState::Delivered)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .mark_outgoing_up_to(acc, BOB, "nope", MessageState::Read)
                .await
                .unwrap()
                .is_empty()
        );
        // A delivery receipt for m5 by its archive id (XEP-0333 in rooms).
        let m5 = store.message(ids[5]).await.unwrap().unwrap();
        let mut copy = NewMessage::outgoing(BOB, ME, "m5", Some("x"));
        copy.state = MessageState::Sent;
        store
            .insert_message(acc, &archived(copy, "S5"))
            .await
            .unwrap();
        let changed = store
            .mark_outgoing_up_to(acc, BOB, "S5", MessageState::Delivered)
            .await
            .unwrap();
        assert_eq!(
            changed.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![m5.id]
        );
    }

    #[tokio::test]
    async fn history_pages_backwards_and_forwards_oldest_first() {
        let (_d, store, acc) = setup().await;
        let mut ids = Vec::new();
        for i in 0..25 {
            // Pairs share a timestamp: the row id breaks the tie.
            ids.push(
                new_row(&store, acc, &from_bob(&format!("m{i}"), i / 2))
                    .await
                    .id,
            );
        }
        let last = store.history(acc, BOB, None, 10).await.unwrap();
        assert_eq!(last.iter().map(|r| r.id).collect::<Vec<_>>(), ids[15..]);
        let before = Some((last[0].timestamp, last[0].id));
        let page = store.history(acc, BOB, before, 10).await.unwrap();
        assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), ids[5..15]);
        let first = store.history(acc, BOB, Some((page[0].timestamp, page[0].id)), 10);
        assert_eq!(first.await.unwrap().len(), 5);
        let after = (page[9].timestamp, page[9].id);
        let next = store.history_after(acc, BOB, after, 3).await.unwrap();
        assert_eq!(next.iter().map(|r| r.id).collect::<Vec<_>>(), ids[15..18]);
        assert!(
            store
                .history(acc, "nobody@x", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_window_around_a_message_is_full_near_either_end() {
        let (_d, store, acc) = setup().await;
        let mut ids = Vec::new();
        for i in 0..30 {
            // Pairs share a timestamp: the row id breaks the tie.
            ids.push(
                new_row(&store, acc, &from_bob(&format!("m{i}"), i / 2))
                    .await
                    .id,
            );
        }
        // Another conversation's messages never leak in.
        new_row(
            &store,
            acc,
            &NewMessage::incoming("carol@x", "carol@x", Some("c")),
        )
        .await;
        let around = |id: i64, limit: u32| {
            let store = store.clone();
            async move {
                let w = store.history_around(acc, BOB, id, limit).await.unwrap();
                let got: Vec<i64> = w.messages.iter().map(|r| r.id).collect();
                (got, w.more_before, w.more_after)
            }
        };
        // In the middle: half before (the odd one too), the rest after.
        assert_eq!(
            around(ids[15], 10).await,
            (ids[10..20].to_vec(), true, true)
        );
        // The first message: the page fills from after it.
        assert_eq!(around(ids[0], 10).await, (ids[..10].to_vec(), false, true));
        assert_eq!(around(ids[2], 10).await, (ids[..10].to_vec(), false, true));
        // The last message: the page fills from before it.
        assert_eq!(around(ids[29], 10).await, (ids[20..].to_vec(), true, false));
        assert_eq!(around(ids[27], 10).await, (ids[20..].to_vec(), true, false));
        // A page larger than the conversation holds all of it.
        assert_eq!(around(ids[7], 100).await, (ids.clone(), false, false));
        // One message: just it.
        assert_eq!(around(ids[7], 1).await, (vec![ids[7]], true, true));
        // Unknown ids, or a message of another conversation: nothing.
        assert_eq!(around(9_999, 10).await, (vec![], false, false));
        let carol = store.history(acc, "carol@x", None, 1).await.unwrap()[0].id;
        assert_eq!(around(carol, 10).await, (vec![], false, false));
        assert!(
            store
                .history_around(acc + 1, BOB, ids[3], 10)
                .await
                .unwrap()
                .messages
                .is_empty()
        );
        // Paging on from the window's edges meets the rest exactly.
        let (mid, _, _) = around(ids[15], 10).await;
        let last = store.message(mid[9]).await.unwrap().unwrap();
        let newer = store
            .history_after(acc, BOB, (last.timestamp, last.id), 50)
            .await
            .unwrap();
        assert_eq!(newer.iter().map(|r| r.id).collect::<Vec<_>>(), ids[20..]);
    }

    async fn query_plan(store: &Store, sql: &str, binds: &[&str]) -> String {
        let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(sql);
        for b in binds {
            q = q.bind(*b);
        }
        let rows = q.fetch_all(store.pool()).await.unwrap();
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
    }

    #[tokio::test]
    async fn history_and_markers_walk_indexes_not_the_conversation() {
        let (_d, store, _acc) = setup().await;
        for after in [false, true] {
            let sql = format!("EXPLAIN QUERY PLAN {}", history_sql(after));
            let plan = query_plan(&store, &sql, &["1", "b@x", "5", "5", "50"]).await;
            assert!(
                plan.contains("SEARCH m USING INDEX messages_window (conversation_id=? AND"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
        let plan = query_plan(
            &store,
            "EXPLAIN QUERY PLAN UPDATE messages SET state = ?1, error = NULL \
             WHERE conversation_id = ?2 AND direction = 'out' \
               AND state IN ('sent', 'delivered') AND state <> ?1 \
               AND (timestamp < ?3 OR (timestamp = ?3 AND id < ?4))",
            &["read", "1", "5", "5"],
        )
        .await;
        assert!(plan.contains("messages_out_unacked"), "{plan}");
    }

    #[tokio::test]
    async fn search_lists_the_newest_hits_of_the_account_without_reading_all() {
        let (_d, store, acc) = setup().await;
        let other = store
            .add_account("other@example.org", None, None)
            .await
            .unwrap()
            .id;
        // Older hits in this account, then more, newer ones in the other
        // account than the limit: the limit counts this account's hits.
        for ts in 1..=5 {
            new_row(&store, acc, &from_bob(&format!("ping {ts}"), ts)).await;
            new_row(&store, acc, &from_bob("no match here", ts)).await;
        }
        for ts in 6..=20 {
            new_row(&store, other, &from_bob(&format!("ping {ts}"), ts)).await;
        }
        let bodies = |rows: Vec<MessageRow>| {
            rows.into_iter()
                .map(|r| r.body.unwrap_or_default())
                .collect::<Vec<_>>()
        };
        let mine = store.search(Some(acc), "ping", 3).await.unwrap();
        assert!(mine.iter().all(|r| r.account_id == acc));
        assert_eq!(bodies(mine), ["ping 5", "ping 4", "ping 3"]);
        let all = store.search(None, "ping", 4).await.unwrap();
        assert_eq!(bodies(all), ["ping 20", "ping 19", "ping 18", "ping 17"]);
        assert_eq!(
            bodies(store.search(Some(other), "ping", 50).await.unwrap()).len(),
            15
        );
        // Shown newest first by time, whatever order they arrived in.
        new_row(&store, acc, &from_bob("late ping", 0)).await;
        new_row(&store, acc, &from_bob("last ping", 30)).await;
        let mine = store.search(Some(acc), "ping", 3).await.unwrap();
        assert_eq!(bodies(mine), ["last ping", "ping 5", "late ping"]);
        // FTS5 walks rowids backwards: no sort of all the hits.
        let plan = query_plan(
            &store,
            &format!("EXPLAIN QUERY PLAN {}", search_sql()),
            &["\"ping\"*", "1", "50"],
        )
        .await;
        assert!(plan.contains("SCAN f VIRTUAL TABLE"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[tokio::test]
    async fn search_takes_any_text_literally() {
        let (_d, store, acc) = setup().await;
        new_row(
            &store,
            acc,
            &from_bob("Meet at the café AND bring \"snacks\"", 1),
        )
        .await;
        new_row(&store, acc, &from_bob("NEAR(a b) body:x", 2)).await;
        let hits = |q: &'static str| {
            let store = store.clone();
            async move { store.search(Some(acc), q, 10).await.unwrap().len() }
        };
        assert_eq!(hits("caf").await, 1, "prefix, accents folded");
        assert_eq!(hits("meet bring").await, 1);
        assert_eq!(hits("meet nothing").await, 0);
        assert_eq!(hits("\"snacks").await, 1);
        for hostile in [
            "\"",
            "*",
            "\"\"*",
            "AND",
            "OR NOT",
            "NEAR(",
            "body:",
            "a\0b",
            "(",
            "^meet",
            "-",
            "",
            "   ",
            "'; DROP TABLE messages; --",
        ] {
            store.search(None, hostile, 10).await.unwrap();
        }
        assert_eq!(hits("near body").await, 1);
        assert!(
            store
                .search(Some(acc + 1), "meet", 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn mam_bookmarks_are_kept_per_account_and_room() {
        let (_d, store, acc) = setup().await;
        assert_eq!(store.mam_last_id(acc).await.unwrap(), None);
        store.set_mam_last_id(acc, "A1").await.unwrap();
        assert_eq!(store.mam_last_id(acc).await.unwrap().as_deref(), Some("A1"));
        let room = "room@muc.example.org";
        assert!(matches!(
            store.set_room_mam_last_id(acc, room, "R1").await,
            Err(StoreError::NotFound)
        ));
        store.ensure_conversation(acc, room, "group").await.unwrap();
        store.set_room_mam_last_id(acc, room, "R1").await.unwrap();
        assert_eq!(
            store.room_mam_last_id(acc, room).await.unwrap().as_deref(),
            Some("R1")
        );
    }

    #[tokio::test]
    async fn encryption_is_sticky_per_conversation_and_rows_serialize() {
        let (_d, store, acc) = setup().await;
        let mut msg = from_bob("secret", 1);
        msg.encryption = Encryption::Omemo2;
        msg.trusted = Some(true);
        msg.sender_device = Some(u32::MAX);
        msg.encryption_info = Some(serde_json::json!({"left_out": [{"device": 7}]}));
        let row = new_row(&store, acc, &msg).await;
        store
            .set_conversation_encryption(acc, BOB, Some("omemo"))
            .await
            .unwrap();
        let conv = store.conversation(acc, BOB).await.unwrap().unwrap();
        assert_eq!(conv.encryption.as_deref(), Some("omemo"));
        assert_eq!(conv.last_encryption, Some(Encryption::Omemo2));
        assert_eq!(store.conversations().await.unwrap(), vec![conv]);
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["encryption"], "omemo2");
        assert_eq!(json["direction"], "in");
        assert_eq!(json["encryption_info"]["left_out"][0]["device"], 7);
        assert_eq!(row.sender_device, Some(u32::MAX));
        assert_eq!("omemo0".parse::<Encryption>(), Ok(Encryption::Omemo0));
        assert!("OMEMO".parse::<Encryption>().is_err());
        assert!(matches!(
            store
                .set_conversation_encryption(acc, "nobody@x", None)
                .await,
            Err(StoreError::NotFound)
        ));
    }
}
