//! Secrets live in the Secret Service (GNOME Keyring, KWallet) through the
//! `keyring` crate, never in a file: account passwords and the key that
//! encrypts the archive. The `keyring` API blocks, so every call runs on
//! tokio's blocking pool.

use zeroize::Zeroizing;

use crate::config::SECRET_SERVICE;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// No keyring daemon, no D-Bus session, or the keyring is locked.
    #[error("no usable Secret Service (is GNOME Keyring or KWallet running and unlocked?): {0}")]
    Unavailable(String),
    #[error("the secret is missing from the keyring")]
    Missing,
    #[error("the keyring returned a damaged secret")]
    Damaged,
}

impl SecretError {
    fn from_keyring(e: keyring::Error) -> SecretError {
        match e {
            keyring::Error::NoEntry => SecretError::Missing,
            keyring::Error::BadEncoding(_) | keyring::Error::BadDataFormat(..) => {
                SecretError::Damaged
            }
            // PlatformFailure (no bus / autolaunch), NoStorageAccess (locked),
            // NoDefaultStore: all mean the user has to fix their keyring.
            other => SecretError::Unavailable(other.to_string()),
        }
    }
}

/// Which secret, named so that two profiles never collide.
#[derive(Debug, Clone)]
pub enum SecretKind<'a> {
    AccountPassword { profile: &'a str, jid: &'a str },
    DatabaseKey { profile: &'a str },
}

impl SecretKind<'_> {
    fn user(&self) -> String {
        match self {
            SecretKind::AccountPassword { profile, jid } => format!("password:{profile}:{jid}"),
            SecretKind::DatabaseKey { profile } => format!("database-key:{profile}"),
        }
    }
}

fn entry(kind: &SecretKind<'_>) -> Result<keyring::Entry, SecretError> {
    keyring::Entry::new(SECRET_SERVICE, &kind.user()).map_err(SecretError::from_keyring)
}

pub async fn store(kind: SecretKind<'_>, secret: Zeroizing<String>) -> Result<(), SecretError> {
    let user = kind.user();
    blocking(move || {
        let e = keyring::Entry::new(SECRET_SERVICE, &user).map_err(SecretError::from_keyring)?;
        e.set_password(&secret).map_err(SecretError::from_keyring)
    })
    .await
}

pub async fn load(kind: SecretKind<'_>) -> Result<Zeroizing<String>, SecretError> {
    let user = kind.user();
    blocking(move || {
        let e = keyring::Entry::new(SECRET_SERVICE, &user).map_err(SecretError::from_keyring)?;
        e.get_password()
            .map(Zeroizing::new)
            .map_err(SecretError::from_keyring)
    })
    .await
}

pub async fn delete(kind: SecretKind<'_>) -> Result<(), SecretError> {
    let user = kind.user();
    blocking(move || {
        let e = keyring::Entry::new(SECRET_SERVICE, &user).map_err(SecretError::from_keyring)?;
        match e.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(SecretError::from_keyring(e)),
        }
    })
    .await
}

/// The archive key: loaded, or made at first run. `fresh` says whether the
/// database is new; an existing database with no key is an error, never a
/// silent new key (that would make the archive unreadable).
pub async fn database_key(profile: &str, fresh: bool) -> Result<Zeroizing<String>, SecretError> {
    let kind = SecretKind::DatabaseKey { profile };
    match load(kind.clone()).await {
        Ok(key) if is_hex_key(&key) => Ok(key),
        Ok(_) => Err(SecretError::Damaged),
        Err(SecretError::Missing) if fresh => {
            let key = Zeroizing::new(hex::encode(
                Zeroizing::new(rand::random::<[u8; 32]>()).as_slice(),
            ));
            store(kind, key.clone()).await?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

fn is_hex_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
) -> Result<T, SecretError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SecretError::Unavailable(e.to_string()))?
}

// Keep `entry` referenced for callers that need a raw entry in tests.
#[doc(hidden)]
pub fn raw_entry_name(kind: &SecretKind<'_>) -> Result<String, SecretError> {
    entry(kind).map(|_| kind.user())
}
