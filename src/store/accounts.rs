//! accounts: one row per XMPP account of this profile.

use super::{Store, StoreError, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub jid: String,
    pub server: Option<String>,
    pub ca_file: Option<String>,
    pub roster_ver: Option<String>,
    pub enabled: bool,
}

impl Store {
    pub async fn add_account(
        &self,
        jid: &str,
        server: Option<&str>,
        ca_file: Option<&str>,
    ) -> Result<AccountRow, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (jid, server, ca_file, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(jid)
        .bind(server)
        .bind(ca_file)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        self.account_by_id(id).await
    }

    pub async fn account_by_id(&self, id: i64) -> Result<AccountRow, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, jid, server, ca_file, roster_ver, enabled FROM accounts WHERE id = ?",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn account(&self, jid: &str) -> Result<Option<AccountRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, jid, server, ca_file, roster_ver, enabled FROM accounts WHERE jid = ?",
        )
        .bind(jid)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, jid, server, ca_file, roster_ver, enabled FROM accounts ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn remove_account(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM accounts WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_roster_version(&self, id: i64, ver: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET roster_ver = ? WHERE id = ?")
            .bind(ver)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
