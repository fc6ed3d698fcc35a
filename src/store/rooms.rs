//! rooms: the group chats and channels an account joins on connect.

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoomRow {
    pub jid: String,
    pub nick: String,
    pub name: Option<String>,
    pub autojoin: bool,
    pub subject: Option<String>,
    /// The bookmark is on the server (set through `set_room_bookmarked`;
    /// `save_room` leaves it as it is).
    pub bookmarked: bool,
}

impl Store {
    /// The rooms of an account, in no particular order.
    pub async fn rooms(&self, account_id: i64) -> Result<Vec<RoomRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT jid, nick, name, autojoin, subject, bookmarked FROM rooms WHERE account_id = ? ORDER BY jid",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn room(&self, account_id: i64, jid: &str) -> Result<Option<RoomRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT jid, nick, name, autojoin, subject, bookmarked FROM rooms WHERE account_id = ? AND jid = ?",
        )
        .bind(account_id)
        .bind(jid)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Remember a room (or update it) with its conversation of `kind`.
    /// `name: None` keeps a name already known.
    pub async fn save_room(
        &self,
        account_id: i64,
        room: &RoomRow,
        kind: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO rooms (account_id, jid, nick, name, autojoin, subject) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT(account_id, jid) DO UPDATE SET nick = excluded.nick, \
               name = COALESCE(excluded.name, rooms.name), autojoin = excluded.autojoin, \
               subject = COALESCE(excluded.subject, rooms.subject)",
        )
        .bind(account_id)
        .bind(&room.jid)
        .bind(&room.nick)
        .bind(&room.name)
        .bind(room.autojoin)
        .bind(&room.subject)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO conversations (account_id, jid, kind, name) VALUES (?, ?, ?, ?) \
             ON CONFLICT(account_id, jid) DO UPDATE SET kind = excluded.kind, open = 1, \
               name = COALESCE(excluded.name, conversations.name)",
        )
        .bind(account_id)
        .bind(&room.jid)
        .bind(kind)
        .bind(&room.name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_room_subject(
        &self,
        account_id: i64,
        jid: &str,
        subject: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE rooms SET subject = ? WHERE account_id = ? AND jid = ?")
            .bind(subject)
            .bind(account_id)
            .bind(jid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The archive id the room gave our own message (seen on its
    /// reflection), so the same message from the room archive is known.
    pub async fn set_stanza_id(
        &self,
        row_id: i64,
        stanza_id: &str,
        by: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE messages SET stanza_id = ?, stanza_id_by = ? WHERE id = ? AND stanza_id IS NULL",
        )
        .bind(stanza_id)
        .bind(by)
        .bind(row_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_room_bookmarked(
        &self,
        account_id: i64,
        jid: &str,
        bookmarked: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE rooms SET bookmarked = ? WHERE account_id = ? AND jid = ?")
            .bind(bookmarked)
            .bind(account_id)
            .bind(jid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stop joining the room; its history stays.
    pub async fn set_room_autojoin(
        &self,
        account_id: i64,
        jid: &str,
        autojoin: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE rooms SET autojoin = ? WHERE account_id = ? AND jid = ?")
            .bind(autojoin)
            .bind(account_id)
            .bind(jid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::RoomRow;
    use crate::store::tests::temp_store;

    #[tokio::test]
    async fn a_saved_room_is_a_group_conversation_and_keeps_its_name() {
        let (_d, store) = temp_store().await;
        let acc = store.add_account("me@x", None, None).await.unwrap();
        let mut room = RoomRow {
            jid: "team@conference.x".into(),
            nick: "me".into(),
            name: Some("Team".into()),
            autojoin: true,
            subject: None,
            bookmarked: false,
        };
        store.save_room(acc.id, &room, "group").await.unwrap();
        room.name = None;
        room.nick = "me2".into();
        store.save_room(acc.id, &room, "group").await.unwrap();
        let got = store
            .room(acc.id, "team@conference.x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.name.as_deref(), Some("Team"));
        assert_eq!(got.nick, "me2");
        let conv = store
            .conversation(acc.id, "team@conference.x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(conv.kind, "group");
        assert_eq!(conv.name.as_deref(), Some("Team"));
        store
            .set_room_autojoin(acc.id, "team@conference.x", false)
            .await
            .unwrap();
        assert!(!store.rooms(acc.id).await.unwrap()[0].autojoin);
    }
}
