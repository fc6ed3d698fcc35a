//! A profile made the way the app makes one (the database key in the
//! keyring), for tests that start the service or the window on a
//! pre-filled archive instead of a server.

use std::path::Path;

use sotto::store::Store;

/// Opens (creating) the profile in `dir` and adds `account` pointing at a
/// closed loopback port, so it stays offline. Returns the store and the
/// account's id; close the store before the app opens the profile.
pub async fn offline_profile(dir: &Path, account: &str) -> Result<(Store, i64), String> {
    let profile = sotto::profile::Profile::open(dir).map_err(|e| e.to_string())?;
    let key = sotto::secrets::database_key(profile.id(), true)
        .await
        .map_err(|e| e.to_string())?;
    let store = Store::open(&profile.database_path(), &key)
        .await
        .map_err(|e| e.to_string())?;
    let id = store
        .add_account(account, Some("127.0.0.1:1"), None)
        .await
        .map_err(|e| e.to_string())?
        .id;
    Ok((store, id))
}
