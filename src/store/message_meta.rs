//! Facts about a stored message that become known after it was stored:
//! how an outgoing message was encrypted (and for whom), whether the sender
//! of an incoming one was trusted.

use super::messages::{Encryption, MessageRow, NewMessage, find_duplicate_in};
use super::{Store, StoreError};

impl Store {
    /// The stored copy of `msg`, if any (see [`find_duplicate_in`]).
    pub async fn find_duplicate(
        &self,
        account_id: i64,
        msg: &NewMessage,
    ) -> Result<Option<MessageRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_duplicate_in(&mut conn, account_id, msg).await
    }

    /// Record how an outgoing message was encrypted: the namespace and the
    /// devices it was encrypted for or left out (JSON).
    pub async fn set_encryption(
        &self,
        row_id: i64,
        encryption: Encryption,
        info: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE messages SET encryption = ?, encryption_info = ? WHERE id = ?")
            .bind(encryption.as_str())
            .bind(info.map(|v| v.to_string()))
            .bind(row_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_encryption_info(
        &self,
        row_id: i64,
        info: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE messages SET encryption_info = ? WHERE id = ?")
            .bind(info.map(|v| v.to_string()))
            .bind(row_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_trusted(&self, row_id: i64, trusted: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE messages SET trusted = ? WHERE id = ?")
            .bind(trusted)
            .bind(row_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
