//! OMEMO state: this device's keys, sessions, peers' devices and trust
//! decisions. The protocol core's state types are stored as serde_json blobs.
//!
//! Durability: key material must survive a power loss once the network has
//! seen anything derived from it (a published bundle, a message sent on a
//! ratchet step), so it is written with `synchronous=FULL`. SQLite only takes
//! that setting outside a transaction, so the `*_in` functions cannot set it
//! themselves: run them in [`Store::begin`]'s transaction, which is FULL.
//! The `Store` methods here do that for you.

use sqlx::{Row, SqliteConnection};
use zeroize::Zeroizing;

use super::messages::text_enum;
use super::{Store, StoreError, now_ms};
use crate::omemo::{Namespace, OwnDevice, Session};

/// The namespace as the tables spell it.
pub fn namespace_str(ns: Namespace) -> &'static str {
    match ns {
        Namespace::OldMemo => "omemo0",
        Namespace::TwoMemo => "omemo2",
    }
}

fn namespace_from_str(s: &str) -> Result<Namespace, StoreError> {
    match s {
        "omemo0" => Ok(Namespace::OldMemo),
        "omemo2" => Ok(Namespace::TwoMemo),
        other => Err(StoreError::Database(format!(
            "unknown OMEMO namespace {other:?}"
        ))),
    }
}

fn unreadable(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Database(format!("the stored {what} cannot be read: {e}"))
}

// ---------------------------------------------------------------- own device

/// This account's OMEMO device. An error (not `None`) when the stored one
/// cannot be read: the caller must not replace an identity it cannot see.
pub async fn load_own_device_in(
    conn: &mut SqliteConnection,
    account_id: i64,
) -> Result<Option<OwnDevice>, StoreError> {
    let blob: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT identity FROM omemo_identity WHERE account_id = ?")
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(blob) = blob.map(Zeroizing::new) else {
        return Ok(None);
    };
    serde_json::from_slice(&blob)
        .map(Some)
        .map_err(|e| unreadable("OMEMO identity", e))
}

/// Stores this account's device (after generating it, consuming a pre-key,
/// replenishing or rotating keys).
pub async fn save_own_device_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    device: &OwnDevice,
) -> Result<(), StoreError> {
    let blob = Zeroizing::new(
        serde_json::to_vec(device).map_err(|e| StoreError::Database(e.to_string()))?,
    );
    sqlx::query(
        "INSERT INTO omemo_identity (account_id, device_id, identity, created_at) \
         VALUES (?, ?, ?, ?) ON CONFLICT(account_id) DO UPDATE SET \
           device_id = excluded.device_id, identity = excluded.identity",
    )
    .bind(account_id)
    .bind(device.device_id())
    .bind(&blob[..])
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ------------------------------------------------------------------ sessions

pub async fn load_session_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    ns: Namespace,
    jid: &str,
    device_id: u32,
) -> Result<Option<Session>, StoreError> {
    let blob: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT state FROM omemo_sessions \
         WHERE account_id = ? AND namespace = ? AND jid = ? AND device_id = ?",
    )
    .bind(account_id)
    .bind(namespace_str(ns))
    .bind(jid)
    .bind(device_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(blob) = blob.map(Zeroizing::new) else {
        return Ok(None);
    };
    serde_json::from_slice(&blob)
        .map(Some)
        .map_err(|e| unreadable("OMEMO session", e))
}

/// Stores `session` under its own namespace, peer JID and device, replacing
/// the one there. The received-since-send counter is left as it is.
pub async fn save_session_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    session: &Session,
) -> Result<(), StoreError> {
    let blob = Zeroizing::new(
        serde_json::to_vec(session).map_err(|e| StoreError::Database(e.to_string()))?,
    );
    sqlx::query(
        "INSERT INTO omemo_sessions (account_id, namespace, jid, device_id, state, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT(account_id, namespace, jid, device_id) DO UPDATE SET \
           state = excluded.state, updated_at = excluded.updated_at",
    )
    .bind(account_id)
    .bind(namespace_str(session.namespace()))
    .bind(session.peer_jid())
    .bind(session.peer_device_id())
    .bind(&blob[..])
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_session_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    ns: Namespace,
    jid: &str,
    device_id: u32,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM omemo_sessions \
         WHERE account_id = ? AND namespace = ? AND jid = ? AND device_id = ?",
    )
    .bind(account_id)
    .bind(namespace_str(ns))
    .bind(jid)
    .bind(device_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One more message received in the session without sending (staleness
/// prevention); returns the new count, `None` without a session.
pub async fn bump_received_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    ns: Namespace,
    jid: &str,
    device_id: u32,
) -> Result<Option<u32>, StoreError> {
    let n: Option<i64> = sqlx::query_scalar(
        "UPDATE omemo_sessions SET received_since_send = received_since_send + 1 \
         WHERE account_id = ? AND namespace = ? AND jid = ? AND device_id = ? \
         RETURNING received_since_send",
    )
    .bind(account_id)
    .bind(namespace_str(ns))
    .bind(jid)
    .bind(device_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// We sent on the session: the count starts again.
pub async fn reset_received_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    ns: Namespace,
    jid: &str,
    device_id: u32,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE omemo_sessions SET received_since_send = 0 \
         WHERE account_id = ? AND namespace = ? AND jid = ? AND device_id = ?",
    )
    .bind(account_id)
    .bind(namespace_str(ns))
    .bind(jid)
    .bind(device_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ------------------------------------------------------------------- devices

/// A device on a peer's (or our own) device list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub jid: String,
    pub namespace: Namespace,
    pub device_id: u32,
    pub label: Option<String>,
    /// The Curve25519 form, as in [`TrustRow`], so that it matches the
    /// trust decisions and the fingerprint in both namespaces.
    pub identity_key: Option<Vec<u8>>,
    /// On the device list; devices that left it stay, inactive.
    pub active: bool,
    pub last_seen: Option<i64>,
}

impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for DeviceRow {
    fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        let namespace: String = row.try_get("namespace")?;
        Ok(DeviceRow {
            jid: row.try_get("jid")?,
            namespace: namespace_from_str(&namespace).map_err(|e| sqlx::Error::ColumnDecode {
                index: "namespace".into(),
                source: Box::new(std::io::Error::other(e.to_string())),
            })?,
            device_id: row.try_get("device_id")?,
            label: row.try_get("label")?,
            identity_key: row.try_get("identity_key")?,
            active: row.try_get("active")?,
            last_seen: row.try_get("last_seen")?,
        })
    }
}

/// What a device list update changed: `added` holds new devices and ones
/// that came back to the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceListChange {
    pub added: Vec<u32>,
    pub removed: Vec<u32>,
    /// Listed before and now, with another label.
    pub relabelled: Vec<u32>,
}

impl DeviceListChange {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.relabelled.is_empty()
    }
}

/// A device list as published (ids with optional labels): listed devices
/// are active, the others become inactive but keep their rows (and so
/// their identity keys and trust).
pub async fn apply_device_list_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    jid: &str,
    ns: Namespace,
    devices: &[(u32, Option<String>)],
) -> Result<DeviceListChange, StoreError> {
    let ns = namespace_str(ns);
    let known: Vec<(u32, bool, Option<String>)> = sqlx::query_as(
        "SELECT device_id, active, label FROM omemo_devices \
         WHERE account_id = ? AND jid = ? AND namespace = ?",
    )
    .bind(account_id)
    .bind(jid)
    .bind(ns)
    .fetch_all(&mut *conn)
    .await?;
    let mut change = DeviceListChange::default();
    for (device_id, label) in devices {
        if change.added.contains(device_id) {
            continue;
        }
        let before = known.iter().find(|(id, _, _)| id == device_id);
        match before {
            Some((_, true, old_label)) if old_label != label => change.relabelled.push(*device_id),
            Some((_, true, _)) => {}
            _ => change.added.push(*device_id),
        }
        sqlx::query(
            "INSERT INTO omemo_devices (account_id, jid, namespace, device_id, label, active) \
             VALUES (?, ?, ?, ?, ?, 1) \
             ON CONFLICT(account_id, jid, namespace, device_id) DO UPDATE SET \
               label = excluded.label, active = 1",
        )
        .bind(account_id)
        .bind(jid)
        .bind(ns)
        .bind(device_id)
        .bind(label)
        .execute(&mut *conn)
        .await?;
    }
    for (device_id, active, _) in known {
        if active && !devices.iter().any(|(id, _)| *id == device_id) {
            sqlx::query(
                "UPDATE omemo_devices SET active = 0 \
                 WHERE account_id = ? AND jid = ? AND namespace = ? AND device_id = ?",
            )
            .bind(account_id)
            .bind(jid)
            .bind(ns)
            .bind(device_id)
            .execute(&mut *conn)
            .await?;
            change.removed.push(device_id);
        }
    }
    Ok(change)
}

/// The identity key a device's bundle (or key exchange) showed, in the
/// Curve25519 form (see [`TrustRow`]). A device not on the list yet is
/// recorded inactive: only the device list makes a device a recipient.
pub async fn set_device_identity_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    jid: &str,
    ns: Namespace,
    device_id: u32,
    identity_key: &[u8],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO omemo_devices (account_id, jid, namespace, device_id, identity_key, active) \
         VALUES (?, ?, ?, ?, ?, 0) \
         ON CONFLICT(account_id, jid, namespace, device_id) DO UPDATE SET \
           identity_key = excluded.identity_key",
    )
    .bind(account_id)
    .bind(jid)
    .bind(namespace_str(ns))
    .bind(device_id)
    .bind(identity_key)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// We heard from the device (a message from it): stale-device detection.
pub async fn touch_device_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    jid: &str,
    ns: Namespace,
    device_id: u32,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE omemo_devices SET last_seen = ? \
         WHERE account_id = ? AND jid = ? AND namespace = ? AND device_id = ?",
    )
    .bind(now_ms())
    .bind(account_id)
    .bind(jid)
    .bind(namespace_str(ns))
    .bind(device_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// --------------------------------------------------------------------- trust

text_enum! {
    /// ARCHITECTURE "Trust".
    pub enum TrustLevel {
        Undecided = "undecided",
        Verified = "verified",
        Blind = "blind",
        Distrusted = "distrusted",
    }
}

text_enum! {
    /// How a trust decision was made. `Btbv` is the automatic policy, also
    /// when it leaves a new device undecided.
    pub enum TrustSource {
        Qr = "qr",
        Manual = "manual",
        Btbv = "btbv",
        Import = "import",
    }
}

impl TrustLevel {
    /// Whether the device gets message keys.
    pub fn is_trusted(self) -> bool {
        matches!(self, TrustLevel::Verified | TrustLevel::Blind)
    }
}

/// One decision about one (JID, device id, identity key). The key is the
/// Curve25519 form (`IdentityKey::curve25519()`, the bytes of the QR
/// fingerprint) so that one decision covers the device in both namespaces.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TrustRow {
    pub jid: String,
    pub device_id: u32,
    pub identity_key: Vec<u8>,
    pub level: TrustLevel,
    pub source: TrustSource,
    pub decided_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewDeviceDecision {
    pub level: TrustLevel,
    /// The device id was known with another key: say so loudly.
    pub identity_changed: bool,
}

const TRUST_COLUMNS: &str = "jid, device_id, identity_key, level, source, decided_at";

pub async fn trust_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    jid: &str,
    device_id: u32,
    identity_key: &[u8],
) -> Result<Option<TrustRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TRUST_COLUMNS} FROM trust \
         WHERE account_id = ? AND jid = ? AND device_id = ? AND identity_key = ?"
    ))
    .bind(account_id)
    .bind(jid)
    .bind(device_id)
    .bind(identity_key)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn set_trust_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    jid: &str,
    device_id: u32,
    identity_key: &[u8],
    level: TrustLevel,
    source: TrustSource,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO trust (account_id, jid, device_id, identity_key, level, source, decided_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT(account_id, jid, device_id, identity_key) DO UPDATE SET \
           level = excluded.level, source = excluded.source, decided_at = excluded.decided_at",
    )
    .bind(account_id)
    .bind(jid)
    .bind(device_id)
    .bind(identity_key)
    .bind(level)
    .bind(source)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The trust a key gets when first seen: blind under BTBV until one of the
/// JID's devices is verified, never for a new key of a known device id.
pub fn new_device_level(btbv: bool, identity_changed: bool, any_verified: bool) -> TrustLevel {
    if btbv && !identity_changed && !any_verified {
        TrustLevel::Blind
    } else {
        TrustLevel::Undecided
    }
}

/// The trust of a device key, deciding (and recording) it the first time
/// the key is seen: blind under BTBV until one of the JID's devices is
/// verified, else undecided. A new key for a known device id is never
/// trusted by inheritance; the old key's decision stays as it was.
pub async fn decide_new_device_in(
    conn: &mut SqliteConnection,
    account_id: i64,
    jid: &str,
    device_id: u32,
    identity_key: &[u8],
    btbv: bool,
) -> Result<NewDeviceDecision, StoreError> {
    if let Some(row) = trust_in(conn, account_id, jid, device_id, identity_key).await? {
        return Ok(NewDeviceDecision {
            level: row.level,
            identity_changed: false,
        });
    }
    let (other_keys, verified): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE device_id = ?), count(*) FILTER (WHERE level = 'verified') \
         FROM trust WHERE account_id = ? AND jid = ?",
    )
    .bind(device_id)
    .bind(account_id)
    .bind(jid)
    .fetch_one(&mut *conn)
    .await?;
    let identity_changed = other_keys > 0;
    let level = new_device_level(btbv, identity_changed, verified > 0);
    set_trust_in(
        conn,
        account_id,
        jid,
        device_id,
        identity_key,
        level,
        TrustSource::Btbv,
    )
    .await?;
    Ok(NewDeviceDecision {
        level,
        identity_changed,
    })
}

impl Store {
    pub async fn load_own_device(&self, account_id: i64) -> Result<Option<OwnDevice>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_own_device_in(&mut conn, account_id).await
    }

    pub async fn save_own_device(
        &self,
        account_id: i64,
        device: &OwnDevice,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        save_own_device_in(&mut tx, account_id, device).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn load_session(
        &self,
        account_id: i64,
        ns: Namespace,
        jid: &str,
        device_id: u32,
    ) -> Result<Option<Session>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_session_in(&mut conn, account_id, ns, jid, device_id).await
    }

    pub async fn save_session(&self, account_id: i64, session: &Session) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        save_session_in(&mut tx, account_id, session).await?;
        tx.commit().await?;
        Ok(())
    }

    /// All sessions with `jid`'s devices in `ns`. One that cannot be read is
    /// skipped with a warning: that device then has no session and gets a
    /// new one, instead of blocking every message to the contact.
    pub async fn sessions(
        &self,
        account_id: i64,
        ns: Namespace,
        jid: &str,
    ) -> Result<Vec<Session>, StoreError> {
        let blobs: Vec<(u32, Vec<u8>)> = sqlx::query_as(
            "SELECT device_id, state FROM omemo_sessions \
             WHERE account_id = ? AND namespace = ? AND jid = ? ORDER BY device_id",
        )
        .bind(account_id)
        .bind(namespace_str(ns))
        .bind(jid)
        .fetch_all(&self.pool)
        .await?;
        let mut sessions = Vec::with_capacity(blobs.len());
        for (device_id, blob) in blobs {
            let blob = Zeroizing::new(blob);
            match serde_json::from_slice(&blob) {
                Ok(session) => sessions.push(session),
                Err(e) => tracing::warn!(jid, device_id, "unreadable OMEMO session skipped: {e}"),
            }
        }
        Ok(sessions)
    }

    pub async fn delete_session(
        &self,
        account_id: i64,
        ns: Namespace,
        jid: &str,
        device_id: u32,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        delete_session_in(&mut conn, account_id, ns, jid, device_id).await
    }

    pub async fn apply_device_list(
        &self,
        account_id: i64,
        jid: &str,
        ns: Namespace,
        devices: &[(u32, Option<String>)],
    ) -> Result<DeviceListChange, StoreError> {
        let mut tx = self.begin().await?;
        let change = apply_device_list_in(&mut tx, account_id, jid, ns, devices).await?;
        tx.commit().await?;
        Ok(change)
    }

    pub async fn set_device_identity(
        &self,
        account_id: i64,
        jid: &str,
        ns: Namespace,
        device_id: u32,
        identity_key: &[u8],
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        set_device_identity_in(&mut conn, account_id, jid, ns, device_id, identity_key).await
    }

    /// Devices of one JID, or of everyone; by JID, namespace and id.
    pub async fn devices(
        &self,
        account_id: i64,
        jid: Option<&str>,
    ) -> Result<Vec<DeviceRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT jid, namespace, device_id, label, identity_key, active, last_seen \
             FROM omemo_devices WHERE account_id = ?1 AND (?2 IS NULL OR jid = ?2) \
             ORDER BY jid, namespace, device_id",
        )
        .bind(account_id)
        .bind(jid)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn trust(
        &self,
        account_id: i64,
        jid: &str,
        device_id: u32,
        identity_key: &[u8],
    ) -> Result<Option<TrustRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        trust_in(&mut conn, account_id, jid, device_id, identity_key).await
    }

    /// Every decision about `jid`'s devices (old keys included), for the
    /// encryption settings.
    pub async fn trust_rows(
        &self,
        account_id: i64,
        jid: &str,
    ) -> Result<Vec<TrustRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TRUST_COLUMNS} FROM trust WHERE account_id = ? AND jid = ? \
             ORDER BY device_id, decided_at"
        ))
        .bind(account_id)
        .bind(jid)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn set_trust(
        &self,
        account_id: i64,
        jid: &str,
        device_id: u32,
        identity_key: &[u8],
        level: TrustLevel,
        source: TrustSource,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        set_trust_in(
            &mut tx,
            account_id,
            jid,
            device_id,
            identity_key,
            level,
            source,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn decide_new_device(
        &self,
        account_id: i64,
        jid: &str,
        device_id: u32,
        identity_key: &[u8],
        btbv: bool,
    ) -> Result<NewDeviceDecision, StoreError> {
        let mut tx = self.begin().await?;
        let decision =
            decide_new_device_in(&mut tx, account_id, jid, device_id, identity_key, btbv).await?;
        tx.commit().await?;
        Ok(decision)
    }

    /// [`Store::decide_new_device`] for many devices in one transaction
    /// (a message into a room of 50 members asks for 150 at once).
    pub async fn decide_new_devices(
        &self,
        account_id: i64,
        devices: &[(String, u32, Vec<u8>)],
        btbv: bool,
    ) -> Result<Vec<NewDeviceDecision>, StoreError> {
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(devices.len());
        for (jid, device_id, key) in devices {
            out.push(decide_new_device_in(&mut tx, account_id, jid, *device_id, key, btbv).await?);
        }
        tx.commit().await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::omemo::IdentityKeyPair;
    use crate::store::messages::{Inserted, NewMessage, insert_message_in};
    use crate::store::tests::temp_store;

    const ALICE: &str = "alice@example.org";
    const BOB: &str = "bob@example.org";

    async fn setup() -> (tempfile::TempDir, Store, i64) {
        let (dir, store) = temp_store().await;
        let acc = store.add_account(ALICE, None, None).await.unwrap();
        (dir, store, acc.id)
    }

    fn same_device(a: &OwnDevice, b: &OwnDevice) -> bool {
        serde_json::to_vec(a).unwrap() == serde_json::to_vec(b).unwrap()
    }

    /// A session with Bob's device `device_id`, from a fresh bundle each time.
    fn session_with_bob(alice: &OwnDevice, ns: Namespace, device_id: u32) -> Session {
        let mut rng = rand::rng();
        let identity = IdentityKeyPair::generate(&mut rng);
        let bob = OwnDevice::with_identity(&mut rng, identity, device_id, 1);
        Session::from_bundle(&mut rng, alice, BOB, &bob.bundle(ns)).unwrap()
    }

    fn blob(session: &Session) -> Vec<u8> {
        serde_json::to_vec(session).unwrap()
    }

    #[tokio::test]
    async fn own_device_and_sessions_round_trip() {
        let (_d, store, acc) = setup().await;
        assert!(store.load_own_device(acc).await.unwrap().is_none());
        let mut alice = OwnDevice::generate(&mut rand::rng(), &[], 1);
        store.save_own_device(acc, &alice).await.unwrap();
        let loaded = store.load_own_device(acc).await.unwrap().unwrap();
        assert!(same_device(&alice, &loaded));
        let first_pre_key = alice.pre_key_ids().next().unwrap();
        alice.remove_pre_key(first_pre_key);
        store.save_own_device(acc, &alice).await.unwrap();
        let loaded = store.load_own_device(acc).await.unwrap().unwrap();
        assert!(!loaded.pre_key_ids().any(|id| id == first_pre_key));
        let device_id: u32 = sqlx::query_scalar("SELECT device_id FROM omemo_identity")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(device_id, alice.device_id());

        let two = session_with_bob(&alice, Namespace::TwoMemo, 11);
        let old = session_with_bob(&alice, Namespace::OldMemo, 11);
        store.save_session(acc, &two).await.unwrap();
        store.save_session(acc, &old).await.unwrap();
        let (ns, id) = (Namespace::TwoMemo, two.peer_device_id());
        let loaded = store.load_session(acc, ns, BOB, id).await.unwrap().unwrap();
        assert_eq!(blob(&loaded), blob(&two));
        let listed = store.sessions(acc, ns, BOB).await.unwrap();
        assert_eq!(
            listed.iter().map(blob).collect::<Vec<_>>(),
            vec![blob(&two)]
        );
        assert!(
            store
                .load_session(acc, ns, BOB, id ^ 1)
                .await
                .unwrap()
                .is_none()
        );

        let mut conn = store.pool().acquire().await.unwrap();
        assert_eq!(
            bump_received_in(&mut conn, acc, ns, BOB, id).await.unwrap(),
            Some(1)
        );
        assert_eq!(
            bump_received_in(&mut conn, acc, ns, BOB, id).await.unwrap(),
            Some(2)
        );
        // Saving the ratchet leaves the counter alone; sending resets it.
        save_session_in(&mut conn, acc, &two).await.unwrap();
        assert_eq!(
            bump_received_in(&mut conn, acc, ns, BOB, id).await.unwrap(),
            Some(3)
        );
        reset_received_in(&mut conn, acc, ns, BOB, id)
            .await
            .unwrap();
        assert_eq!(
            bump_received_in(&mut conn, acc, ns, BOB, id).await.unwrap(),
            Some(1)
        );
        assert_eq!(
            bump_received_in(&mut conn, acc, ns, BOB, 1).await.unwrap(),
            None
        );
        drop(conn);

        store.delete_session(acc, ns, BOB, id).await.unwrap();
        assert!(store.sessions(acc, ns, BOB).await.unwrap().is_empty());
        assert_eq!(
            store
                .sessions(acc, Namespace::OldMemo, BOB)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn a_rolled_back_decryption_leaves_session_keys_and_message_as_they_were() {
        let (_d, store, acc) = setup().await;
        let mut alice = OwnDevice::generate(&mut rand::rng(), &[], 1);
        let session = session_with_bob(&alice, Namespace::TwoMemo, 11);
        store.save_own_device(acc, &alice).await.unwrap();
        store.save_session(acc, &session).await.unwrap();
        let (ns, id) = (Namespace::TwoMemo, session.peer_device_id());

        let mut tx = store.begin().await.unwrap();
        let pre_key = alice.pre_key_ids().next().unwrap();
        alice.remove_pre_key(pre_key);
        save_own_device_in(&mut tx, acc, &alice).await.unwrap();
        // Same peer device, new ratchet state.
        let replaced = session_with_bob(&alice, ns, id);
        save_session_in(&mut tx, acc, &replaced).await.unwrap();
        let msg = NewMessage::incoming(BOB, BOB, Some("decrypted once"));
        assert!(matches!(
            insert_message_in(&mut tx, acc, &msg).await.unwrap(),
            Inserted::New(_)
        ));
        // Inside the transaction, all three changed.
        let seen = load_session_in(&mut tx, acc, ns, BOB, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(blob(&seen), blob(&replaced));
        tx.rollback().await.unwrap();

        let kept = store.load_own_device(acc).await.unwrap().unwrap();
        assert!(kept.pre_key_ids().any(|k| k == pre_key));
        let kept = store.load_session(acc, ns, BOB, id).await.unwrap().unwrap();
        assert_eq!(blob(&kept), blob(&session));
        assert!(store.history(acc, BOB, None, 10).await.unwrap().is_empty());
        assert!(store.conversation(acc, BOB).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn device_lists_add_and_deactivate_but_keep_devices() {
        let (_d, store, acc) = setup().await;
        let ns = Namespace::TwoMemo;
        let list = |ids: &[u32]| ids.iter().map(|&i| (i, None)).collect::<Vec<_>>();
        let change = store
            .apply_device_list(
                acc,
                BOB,
                ns,
                &[(1, Some("Phone".into())), (2, None), (1, None)],
            )
            .await
            .unwrap();
        assert_eq!(
            change,
            DeviceListChange {
                added: vec![1, 2],
                removed: vec![],
                relabelled: vec![],
            }
        );
        store
            .set_device_identity(acc, BOB, ns, 2, &[7; 32])
            .await
            .unwrap();
        let change = store
            .apply_device_list(acc, BOB, ns, &list(&[2, 3]))
            .await
            .unwrap();
        assert_eq!(
            change,
            DeviceListChange {
                added: vec![3],
                removed: vec![1],
                relabelled: vec![],
            }
        );
        // The other namespace is another list.
        let change = store
            .apply_device_list(acc, BOB, Namespace::OldMemo, &list(&[1]))
            .await
            .unwrap();
        assert_eq!(change.added, vec![1]);
        let change = store
            .apply_device_list(acc, BOB, ns, &list(&[1, 2, 3]))
            .await
            .unwrap();
        assert_eq!(
            change,
            DeviceListChange {
                added: vec![1],
                removed: vec![],
                relabelled: vec![],
            }
        );
        // The same list again is no news; a new label is.
        let change = store
            .apply_device_list(acc, BOB, ns, &list(&[1, 2, 3]))
            .await
            .unwrap();
        assert!(change.is_empty(), "{change:?}");
        let change = store
            .apply_device_list(
                acc,
                BOB,
                ns,
                &[(1, None), (2, Some("Tablet".into())), (3, None)],
            )
            .await
            .unwrap();
        assert_eq!(change.relabelled, vec![2]);

        let mut conn = store.pool().acquire().await.unwrap();
        touch_device_in(&mut conn, acc, BOB, ns, 2).await.unwrap();
        drop(conn);
        // A key seen before the device list is recorded, but not a recipient.
        store
            .set_device_identity(acc, "carol@x", ns, 9, &[1; 32])
            .await
            .unwrap();
        let carol = store.devices(acc, Some("carol@x")).await.unwrap();
        assert!(!carol[0].active);

        let bob = store.devices(acc, Some(BOB)).await.unwrap();
        let summary: Vec<_> = bob
            .iter()
            .map(|d| (d.namespace, d.device_id, d.active, d.identity_key.is_some()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Namespace::OldMemo, 1, true, false),
                (ns, 1, true, false),
                (ns, 2, true, true),
                (ns, 3, true, false),
            ]
        );
        assert!(bob[2].last_seen.is_some() && bob[1].last_seen.is_none());
        assert_eq!(store.devices(acc, None).await.unwrap().len(), 5);
    }

    #[tokio::test]
    async fn blind_trust_until_a_device_is_verified_and_a_new_key_is_never_inherited() {
        let (_d, store, acc) = setup().await;
        let decide = |device: u32, key: u8, btbv: bool| {
            let store = store.clone();
            async move {
                store
                    .decide_new_device(acc, BOB, device, &[key; 32], btbv)
                    .await
                    .unwrap()
            }
        };
        let blind = NewDeviceDecision {
            level: TrustLevel::Blind,
            identity_changed: false,
        };
        assert_eq!(decide(1, 1, true).await, blind);
        assert_eq!(decide(1, 1, true).await, blind, "decided once");
        assert_eq!(decide(2, 2, false).await.level, TrustLevel::Undecided);
        let row = store.trust(acc, BOB, 1, &[1; 32]).await.unwrap().unwrap();
        assert_eq!(
            (row.level, row.source),
            (TrustLevel::Blind, TrustSource::Btbv)
        );

        store
            .set_trust(acc, BOB, 1, &[1; 32], TrustLevel::Verified, TrustSource::Qr)
            .await
            .unwrap();
        // From now on, Bob's new devices need a decision.
        assert_eq!(decide(3, 3, true).await.level, TrustLevel::Undecided);
        // Device 1 shows a new key: loud, undecided, and the old key's
        // verification is still on record.
        assert_eq!(
            decide(1, 9, true).await,
            NewDeviceDecision {
                level: TrustLevel::Undecided,
                identity_changed: true
            }
        );
        let old = store.trust(acc, BOB, 1, &[1; 32]).await.unwrap().unwrap();
        assert_eq!(old.level, TrustLevel::Verified);
        assert_eq!(store.trust_rows(acc, BOB).await.unwrap().len(), 4);
        // Other contacts are not affected by Bob's verification.
        let carol = store
            .decide_new_device(acc, "carol@x", 1, &[1; 32], true)
            .await
            .unwrap();
        assert_eq!(carol.level, TrustLevel::Blind);
        assert!(TrustLevel::Blind.is_trusted() && !TrustLevel::Undecided.is_trusted());
        assert_eq!(
            "distrusted".parse::<TrustLevel>(),
            Ok(TrustLevel::Distrusted)
        );
    }
}
