//! The encryption policy the user sets in Preferences, kept in the
//! archive's settings (so `sotto-cli` and the window share it): blind trust
//! before verification (ARCHITECTURE "Trust") and when an own device that
//! stays silent is left out.

use serde::Serialize;

use crate::store::{Store, StoreError};

const BLIND_TRUST_KEY: &str = "omemo.blind_trust";
const STALE_DAYS_KEY: &str = "omemo.stale_own_device_days";
const OPEN_GROUPS_KEY: &str = "omemo.open_groups";
/// An own device silent for a month is probably lost or wiped.
pub const DEFAULT_STALE_DEVICE_DAYS: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EncryptionPolicy {
    /// New devices of a contact with no verified device are trusted
    /// without asking (BTBV); off: every new device needs a decision.
    pub blind_trust: bool,
    /// Own devices silent this many days get no keys (0: never left out).
    pub stale_device_days: u32,
    /// Also encrypt in rooms anyone may join whose members' addresses are
    /// visible (off: only members-only rooms are group chats).
    pub open_groups: bool,
}

impl Default for EncryptionPolicy {
    fn default() -> Self {
        EncryptionPolicy {
            blind_trust: true,
            stale_device_days: DEFAULT_STALE_DEVICE_DAYS,
            open_groups: false,
        }
    }
}

pub async fn load(store: &Store) -> Result<EncryptionPolicy, StoreError> {
    let default = EncryptionPolicy::default();
    let blind_trust = store.setting(BLIND_TRUST_KEY).await?.as_deref() != Some("false");
    let stale_device_days = store
        .setting(STALE_DAYS_KEY)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(default.stale_device_days);
    let open_groups = store.setting(OPEN_GROUPS_KEY).await?.as_deref() == Some("true");
    Ok(EncryptionPolicy {
        blind_trust,
        stale_device_days,
        open_groups,
    })
}

pub async fn save(store: &Store, policy: EncryptionPolicy) -> Result<(), StoreError> {
    store
        .set_setting(
            BLIND_TRUST_KEY,
            if policy.blind_trust { "true" } else { "false" },
        )
        .await?;
    store
        .set_setting(
            OPEN_GROUPS_KEY,
            if policy.open_groups { "true" } else { "false" },
        )
        .await?;
    store
        .set_setting(STALE_DAYS_KEY, &policy.stale_device_days.to_string())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_policy_round_trips_and_defaults_to_blind_trust() {
        let (_dir, store) = crate::store::tests::temp_store().await;
        assert_eq!(load(&store).await.unwrap(), EncryptionPolicy::default());
        let strict = EncryptionPolicy {
            blind_trust: false,
            stale_device_days: 7,
            open_groups: true,
        };
        save(&store, strict).await.unwrap();
        assert_eq!(load(&store).await.unwrap(), strict);
        assert_eq!(
            store.setting(BLIND_TRUST_KEY).await.unwrap().as_deref(),
            Some("false")
        );
    }
}
