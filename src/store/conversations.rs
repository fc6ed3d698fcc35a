//! conversations: one per chat partner or room, ordered by last activity.

use super::messages::{Direction, Encryption, MessageState};
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: i64,
    pub account_id: i64,
    pub jid: String,
    pub kind: String,
    pub name: Option<String>,
    pub last_activity: Option<i64>,
    pub unread: i64,
    /// The sticky choice, "omemo" or "none"; `None` follows the default policy.
    pub encryption: Option<String>,
    /// The latest message, for the list's preview.
    pub last_body: Option<String>,
    pub last_direction: Option<Direction>,
    pub last_encryption: Option<Encryption>,
    pub last_state: Option<MessageState>,
}

/// The latest message is found per conversation through messages_window
/// (one index step each), never by scanning messages.
/// A contact's roster name stands in when the conversation has none.
const SELECT: &str = "SELECT c.id, c.account_id, c.jid, c.kind, \
       COALESCE(c.name, NULLIF(ct.name, '')) AS name, c.last_activity, \
       c.unread, c.encryption, l.body AS last_body, l.direction AS last_direction, \
       l.encryption AS last_encryption, l.state AS last_state \
     FROM conversations c \
     LEFT JOIN contacts ct ON ct.account_id = c.account_id AND ct.jid = c.jid \
     LEFT JOIN messages l ON l.id = ( \
       SELECT id FROM messages WHERE conversation_id = c.id \
       ORDER BY timestamp DESC, id DESC LIMIT 1)";

impl Store {
    /// All open conversations of every account, most recent first.
    pub async fn conversations(&self) -> Result<Vec<ConversationRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SELECT} WHERE c.open ORDER BY c.last_activity DESC NULLS LAST, c.id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn conversation(
        &self,
        account_id: i64,
        jid: &str,
    ) -> Result<Option<ConversationRow>, StoreError> {
        Ok(
            sqlx::query_as(&format!("{SELECT} WHERE c.account_id = ? AND c.jid = ?"))
                .bind(account_id)
                .bind(jid)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The conversation with `jid`, created if it does not exist yet.
    pub async fn ensure_conversation(
        &self,
        account_id: i64,
        jid: &str,
        kind: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO conversations (account_id, jid, kind) VALUES (?, ?, ?) \
             ON CONFLICT(account_id, jid) DO UPDATE SET open = 1 RETURNING id",
        )
        .bind(account_id)
        .bind(jid)
        .bind(kind)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The sticky per-chat encryption: "omemo", "none", or `None` for the
    /// default policy (ARCHITECTURE "OMEMO": never a silent fallback).
    pub async fn set_conversation_encryption(
        &self,
        account_id: i64,
        jid: &str,
        encryption: Option<&str>,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE conversations SET encryption = ? WHERE account_id = ? AND jid = ?")
                .bind(encryption)
                .bind(account_id)
                .bind(jid)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::contacts::RosterItem;
    use crate::store::tests::temp_store;

    #[tokio::test]
    async fn a_conversation_is_named_after_the_roster_item() {
        let (_d, store) = temp_store().await;
        let acc = store
            .add_account("me@example.org", None, None)
            .await
            .unwrap();
        store
            .ensure_conversation(acc.id, "bob@x", "chat")
            .await
            .unwrap();
        store
            .ensure_conversation(acc.id, "stranger@x", "chat")
            .await
            .unwrap();
        let item = RosterItem {
            jid: "bob@x".into(),
            name: Some("Bob Builder".into()),
            subscription: "both".into(),
            pending_out: false,
            groups: vec![],
        };
        store.upsert_roster_item(acc.id, &item).await.unwrap();
        let bob = store.conversation(acc.id, "bob@x").await.unwrap().unwrap();
        assert_eq!(bob.name.as_deref(), Some("Bob Builder"));
        let stranger = store
            .conversation(acc.id, "stranger@x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stranger.name, None);
    }
}
