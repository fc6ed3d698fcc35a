//! The local archive: SQLite through sqlx, encrypted at rest with SQLCipher
//! (libsqlite3-sys's bundled SQLCipher under sqlx). The service owns the one
//! [`Store`]; nothing else opens the database.

mod accounts;
pub mod backup;
pub mod contacts;
mod conversations;
mod message_meta;
pub mod messages;
pub mod omemo;
mod rooms;
mod settings;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use accounts::AccountRow;
pub use contacts::ContactRow;
pub use conversations::ConversationRow;
pub use messages::{
    Direction, Encryption, HistoryWindow, Inserted, MessageRow, MessageState, NewMessage,
    find_duplicate_in, insert_message_in, mark_outgoing_up_to_in, mark_read_in, set_mam_last_id_in,
    set_room_mam_last_id_in, set_state_in,
};
pub use omemo::{
    DeviceListChange, DeviceRow, NewDeviceDecision, TrustLevel, TrustRow, TrustSource,
};
pub use rooms::RoomRow;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the archive cannot be opened with this key, or it is damaged")]
    WrongKeyOrCorrupt,
    #[error("the archive is locked by another program")]
    Locked,
    #[error(
        "the archive cannot be written (read-only file system, permissions, or a full disk): {0}"
    )]
    Unwritable(String),
    #[error("upgrading the archive failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("not found")]
    NotFound,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::RowNotFound = e {
            return StoreError::NotFound;
        }
        if let Some(db) = e.as_database_error() {
            // SQLite primary result codes (extended codes keep them in the low byte).
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0) & 0xff;
            match code {
                26 | 11 => return StoreError::WrongKeyOrCorrupt, // NOTADB, CORRUPT
                5 | 6 => return StoreError::Locked,              // BUSY, LOCKED
                8 | 13 | 14 | 10 => return StoreError::Unwritable(db.message().to_owned()), // READONLY, FULL, CANTOPEN, IOERR
                _ => {}
            }
        }
        StoreError::Database(e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Callers of `begin*` waiting for SQLite's write lock. SQLite's busy
    /// handler polls with growing sleeps and is not woken on unlock, so a
    /// long run of back-to-back transactions (a backup import) would starve
    /// them; such a run steps aside while this is above zero.
    writers_waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a writer as waiting for as long as it lives.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Open (or create) the archive at `path` with the hex `key`.
    pub async fn open(path: &Path, key: &str) -> Result<Store, StoreError> {
        if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::WrongKeyOrCorrupt);
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|e| StoreError::Database(e.to_string()))?
            .filename(path)
            // A raw 256-bit key: SQLCipher skips its passphrase KDF.
            .pragma("key", format!("\"x'{key}'\""))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(StoreError::from)?;
        // SQLCipher only notices a wrong key on the first read.
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .execute(&pool)
            .await
            .map_err(StoreError::from)?;
        sqlx::migrate!("src/store/migrations")
            .run(&pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
                other => StoreError::Migration(other.to_string()),
            })?;
        Ok(Store {
            pool,
            writers_waiting: Default::default(),
        })
    }

    /// SQLCipher's version, proving the archive is encrypted.
    pub async fn cipher_version(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("PRAGMA cipher_version")
            .fetch_optional(&self.pool)
            .await?)
    }

    /// A write transaction for work that must commit as one (ARCHITECTURE
    /// "Exactly-once decryption"); pass `&mut *tx` to the `*_in` functions.
    ///
    /// It commits with `synchronous=FULL`: these transactions carry key
    /// material (ratchet state, pre-keys) that the network sees right after
    /// the commit, and in WAL mode NORMAL may lose the last commits on power
    /// loss. SQLite refuses to change that setting inside a transaction, so
    /// it is set on the connection just before BEGIN (the connection keeps
    /// it; archive writes set NORMAL again). IMMEDIATE takes the write lock
    /// up front, so a read-then-write waits for another writer instead of
    /// failing with SQLITE_BUSY.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        let _waiting = Waiting::new(&self.writers_waiting);
        Ok(self
            .pool
            .begin_with("PRAGMA synchronous = FULL; BEGIN IMMEDIATE")
            .await?)
    }

    /// Like [`Store::begin`], at `synchronous=NORMAL`, for what arrives:
    /// a power loss may undo the last commits, but ratchet state, consumed
    /// pre-key, message and archive position roll back together, and the
    /// message comes again from the archive. (Sending keeps FULL: a rolled
    /// back sending chain would reuse message keys.)
    pub async fn begin_received(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        let _waiting = Waiting::new(&self.writers_waiting);
        Ok(self
            .pool
            .begin_with("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE")
            .await?)
    }

    /// Lets writers that wait for the lock go first (see
    /// `writers_waiting`); for code that commits many transactions in a row.
    /// Gives up after `patience`, so it never stalls for good.
    pub async fn yield_to_writers(&self, patience: Duration) {
        let deadline = std::time::Instant::now() + patience;
        while self
            .writers_waiting
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    pub async fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db"), KEY).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn the_archive_is_encrypted_at_rest() {
        let (dir, store) = temp_store().await;
        assert!(
            store.cipher_version().await.unwrap().is_some(),
            "built without SQLCipher"
        );
        store
            .add_account("alice@example.org", None, None)
            .await
            .unwrap();
        store.close().await;
        let bytes = std::fs::read(dir.path().join("t.db")).unwrap();
        assert!(!bytes.starts_with(b"SQLite format 3"));
        assert!(!bytes.windows(17).any(|w| w == b"alice@example.org"));
    }

    #[tokio::test]
    async fn a_wrong_key_is_a_clear_error() {
        let (dir, store) = temp_store().await;
        store.close().await;
        let other = KEY.replace('0', "1");
        let err = Store::open(&dir.path().join("t.db"), &other)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::WrongKeyOrCorrupt), "{err:?}");
    }

    #[tokio::test]
    async fn a_corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let err = Store::open(&path, KEY).await.unwrap_err();
        assert!(matches!(err, StoreError::WrongKeyOrCorrupt), "{err:?}");
    }

    #[tokio::test]
    async fn an_unwritable_directory_is_a_clear_error() {
        let err = Store::open(Path::new("/proc/sotto-cannot-exist/t.db"), KEY)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unwritable(_)), "{err:?}");
    }
}
