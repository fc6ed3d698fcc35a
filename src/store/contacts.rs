//! contacts: the roster as last seen, plus pending subscription requests
//! from people who are not (yet) in it.

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContactRow {
    pub jid: String,
    pub name: Option<String>,
    pub subscription: String,
    pub pending_out: bool,
    pub pending_in: bool,
    pub wanted: bool,
    /// JSON array of group names.
    pub groups: String,
    pub in_roster: bool,
}

impl ContactRow {
    pub fn group_list(&self) -> Vec<String> {
        serde_json::from_str(&self.groups).unwrap_or_default()
    }
}

/// One roster item as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterItem {
    pub jid: String,
    pub name: Option<String>,
    pub subscription: String,
    pub pending_out: bool,
    pub groups: Vec<String>,
}

const COLUMNS: &str = "jid, name, subscription, pending_out, pending_in, wanted, groups, in_roster";

impl Store {
    /// The roster plus pending requests, ordered by name.
    pub async fn contacts(&self, account_id: i64) -> Result<Vec<ContactRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM contacts WHERE account_id = ? AND (in_roster OR pending_in) \
             ORDER BY lower(coalesce(name, jid))"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn contact(
        &self,
        account_id: i64,
        jid: &str,
    ) -> Result<Option<ContactRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM contacts WHERE account_id = ? AND jid = ?"
        ))
        .bind(account_id)
        .bind(jid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A roster push: add or update one item.
    pub async fn upsert_roster_item(
        &self,
        account_id: i64,
        item: &RosterItem,
    ) -> Result<(), StoreError> {
        upsert(&self.pool, account_id, item).await
    }

    /// A full roster fetch: the server's list replaces ours in one
    /// transaction, keeping local-only facts (pending requests, wanted).
    pub async fn replace_roster(
        &self,
        account_id: i64,
        items: &[RosterItem],
        version: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE contacts SET in_roster = 0 WHERE account_id = ?")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        for item in items {
            upsert(&mut *tx, account_id, item).await?;
        }
        sqlx::query(
            "DELETE FROM contacts WHERE account_id = ? AND in_roster = 0 AND pending_in = 0",
        )
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE accounts SET roster_ver = ? WHERE id = ?")
            .bind(version)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The server removed the item (subscription="remove").
    pub async fn remove_roster_item(&self, account_id: i64, jid: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM contacts WHERE account_id = ? AND jid = ? AND pending_in = 0")
            .bind(account_id)
            .bind(jid)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "UPDATE contacts SET in_roster = 0, wanted = 0 WHERE account_id = ? AND jid = ?",
        )
        .bind(account_id)
        .bind(jid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user asked to add this contact: their request gets approved.
    pub async fn set_wanted(
        &self,
        account_id: i64,
        jid: &str,
        wanted: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO contacts (account_id, jid, wanted, in_roster) VALUES (?, ?, ?, 0) \
             ON CONFLICT(account_id, jid) DO UPDATE SET wanted = excluded.wanted",
        )
        .bind(account_id)
        .bind(jid)
        .bind(wanted)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_pending_in(
        &self,
        account_id: i64,
        jid: &str,
        pending: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO contacts (account_id, jid, pending_in, in_roster) VALUES (?, ?, ?, 0) \
             ON CONFLICT(account_id, jid) DO UPDATE SET pending_in = excluded.pending_in",
        )
        .bind(account_id)
        .bind(jid)
        .bind(pending)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM contacts WHERE account_id = ? AND jid = ? AND in_roster = 0 AND pending_in = 0 AND wanted = 0")
            .bind(account_id)
            .bind(jid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

async fn upsert<'e, E>(executor: E, account_id: i64, item: &RosterItem) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let groups = serde_json::to_string(&item.groups).unwrap_or_else(|_| "[]".into());
    sqlx::query(
        "INSERT INTO contacts (account_id, jid, name, subscription, pending_out, groups, in_roster) \
         VALUES (?, ?, ?, ?, ?, ?, 1) \
         ON CONFLICT(account_id, jid) DO UPDATE SET name = excluded.name, \
           subscription = excluded.subscription, pending_out = excluded.pending_out, \
           groups = excluded.groups, in_roster = 1",
    )
    .bind(account_id)
    .bind(&item.jid)
    .bind(&item.name)
    .bind(&item.subscription)
    .bind(item.pending_out)
    .bind(groups)
    .execute(executor)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    fn item(jid: &str, sub: &str) -> RosterItem {
        RosterItem {
            jid: jid.into(),
            name: None,
            subscription: sub.into(),
            pending_out: false,
            groups: vec!["Friends".into()],
        }
    }

    #[tokio::test]
    async fn a_full_fetch_replaces_the_roster_but_keeps_pending_requests() {
        let (_d, store) = temp_store().await;
        let acc = store
            .add_account("me@example.org", None, None)
            .await
            .unwrap();
        store
            .replace_roster(acc.id, &[item("a@x", "both"), item("b@x", "to")], Some("1"))
            .await
            .unwrap();
        store
            .set_pending_in(acc.id, "stranger@x", true)
            .await
            .unwrap();
        store
            .replace_roster(acc.id, &[item("b@x", "both")], Some("2"))
            .await
            .unwrap();
        let jids: Vec<_> = store
            .contacts(acc.id)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.jid, c.in_roster))
            .collect();
        assert_eq!(
            jids,
            vec![("b@x".to_string(), true), ("stranger@x".to_string(), false)]
        );
        assert_eq!(
            store
                .account_by_id(acc.id)
                .await
                .unwrap()
                .roster_ver
                .as_deref(),
            Some("2")
        );
        let b = store.contact(acc.id, "b@x").await.unwrap().unwrap();
        assert_eq!(b.group_list(), vec!["Friends".to_string()]);
    }
}
