//! conversations: one per chat partner or room, ordered by last activity.

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
}

impl Store {
    /// All open conversations of every account, most recent first.
    pub async fn conversations(&self) -> Result<Vec<ConversationRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, jid, kind, name, last_activity, unread FROM conversations \
             WHERE open ORDER BY last_activity DESC NULLS LAST, id",
        )
        .fetch_all(&self.pool)
        .await?)
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
}
