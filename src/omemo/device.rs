//! This device's keys: identity, signed pre-key (with its predecessor during
//! the grace period) and one-time pre-keys, with the upkeep helpers the
//! service calls. Time is always passed in (seconds since the Unix epoch).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Namespace;
use super::bundle::Bundle;
use super::crypto::random;
use super::keys::{IdentityKey, IdentityKeyPair, PreKey, SignedPreKey};

/// Number of one-time pre-keys kept published.
pub const PRE_KEY_COUNT: usize = 100;
/// Signed pre-keys are rotated weekly.
pub const SIGNED_PRE_KEY_ROTATION_SECS: u64 = 7 * 24 * 3600;
/// A replaced signed pre-key still answers key exchanges for this long, for
/// messages built on the old bundle that arrive late (offline storage, MAM).
pub const SIGNED_PRE_KEY_GRACE_SECS: u64 = 30 * 24 * 3600;

/// A random device id: 31 bits, never 0, and not in `taken` (the ids already
/// on our device lists, so a clash is re-rolled).
pub fn generate_device_id<R: rand::CryptoRng + ?Sized>(rng: &mut R, taken: &[u32]) -> u32 {
    loop {
        let id = u32::from_le_bytes(random(rng)) & 0x7FFF_FFFF;
        if id != 0 && !taken.contains(&id) {
            return id;
        }
    }
}

/// Our own OMEMO device: its id and all its private keys. Serialize it into
/// the (encrypted) store; secrets zeroize when it is dropped.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OwnDevice {
    device_id: u32,
    identity: IdentityKeyPair,
    signed_pre_key: SignedPreKey,
    previous_signed_pre_key: Option<SignedPreKey>,
    pre_keys: BTreeMap<u32, PreKey>,
    next_pre_key_id: u32,
}

impl OwnDevice {
    /// A new device with a fresh identity, signed pre-key and 100 pre-keys.
    /// `taken_device_ids` are the ids on our published device lists.
    pub fn generate<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        taken_device_ids: &[u32],
        now: u64,
    ) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let device_id = generate_device_id(rng, taken_device_ids);
        Self::with_identity(rng, identity, device_id, now)
    }

    /// A device around an existing identity and id.
    pub fn with_identity<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        identity: IdentityKeyPair,
        device_id: u32,
        now: u64,
    ) -> Self {
        let signed_pre_key = SignedPreKey::generate(rng, &identity, 1, now);
        let mut device = Self {
            device_id,
            identity,
            signed_pre_key,
            previous_signed_pre_key: None,
            pre_keys: BTreeMap::new(),
            next_pre_key_id: 1,
        };
        device.replenish_pre_keys(rng);
        device
    }

    /// Our device id.
    pub fn device_id(&self) -> u32 {
        self.device_id
    }

    /// Re-rolls the device id, after finding it taken on a device list.
    pub fn reroll_device_id<R: rand::CryptoRng + ?Sized>(&mut self, rng: &mut R, taken: &[u32]) {
        self.device_id = generate_device_id(rng, taken);
    }

    /// Our identity key pair.
    pub fn identity(&self) -> &IdentityKeyPair {
        &self.identity
    }

    /// Our public identity in the form `namespace` publishes it.
    pub fn identity_key(&self, namespace: Namespace) -> IdentityKey {
        match namespace {
            Namespace::OldMemo => IdentityKey::Curve25519(self.identity.curve25519_public()),
            Namespace::TwoMemo => IdentityKey::Ed25519(self.identity.ed25519_public()),
        }
    }

    /// The current signed pre-key.
    pub fn signed_pre_key(&self) -> &SignedPreKey {
        &self.signed_pre_key
    }

    /// Ids of the one-time pre-keys we hold.
    pub fn pre_key_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.pre_keys.keys().copied()
    }

    pub(crate) fn signed_pre_key_by_id(&self, id: u32) -> Option<&SignedPreKey> {
        if self.signed_pre_key.id == id {
            return Some(&self.signed_pre_key);
        }
        self.previous_signed_pre_key.as_ref().filter(|k| k.id == id)
    }

    pub(crate) fn pre_key_by_id(&self, id: u32) -> Option<&PreKey> {
        self.pre_keys.get(&id)
    }

    /// Forgets a one-time pre-key after a key exchange used it. Call it in the
    /// same transaction that stores the new session (after catch-up ends, if
    /// the backlog may hold more messages built on it). Returns whether it existed.
    pub fn remove_pre_key(&mut self, id: u32) -> bool {
        self.pre_keys.remove(&id).is_some()
    }

    /// Tops the one-time pre-keys up to [`PRE_KEY_COUNT`] with fresh ids
    /// (ids are never reused). Returns how many were generated; republish the
    /// bundles when it is not 0.
    pub fn replenish_pre_keys<R: rand::CryptoRng + ?Sized>(&mut self, rng: &mut R) -> usize {
        let mut added = 0;
        while self.pre_keys.len() < PRE_KEY_COUNT {
            let id = self.next_pre_key_id;
            // Ids are 31-bit in the wild (Conversations' Random.nextInt); wrap
            // around rather than overflow, skipping ids still in use.
            self.next_pre_key_id = if id >= 0x7FFF_FFFF { 1 } else { id + 1 };
            if self.pre_keys.contains_key(&id) {
                continue;
            }
            self.pre_keys.insert(id, PreKey::generate(rng, id));
            added += 1;
        }
        added
    }

    /// Weekly signed pre-key rotation: when the current key is older than
    /// [`SIGNED_PRE_KEY_ROTATION_SECS`], a new one replaces it and the old one
    /// is kept as previous. A previous key past the grace period is dropped.
    /// Returns whether the bundles must be republished.
    pub fn rotate_signed_pre_key_if_due<R: rand::CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: u64,
    ) -> bool {
        if self.previous_signed_pre_key.is_some()
            && now.saturating_sub(self.signed_pre_key.created_at) > SIGNED_PRE_KEY_GRACE_SECS
        {
            self.previous_signed_pre_key = None;
        }
        if now.saturating_sub(self.signed_pre_key.created_at) < SIGNED_PRE_KEY_ROTATION_SECS {
            return false;
        }
        let id = if self.signed_pre_key.id >= 0x7FFF_FFFF {
            1
        } else {
            self.signed_pre_key.id + 1
        };
        let new = SignedPreKey::generate(rng, &self.identity, id, now);
        self.previous_signed_pre_key = Some(std::mem::replace(&mut self.signed_pre_key, new));
        true
    }

    /// Our bundle for `namespace`.
    pub fn bundle(&self, namespace: Namespace) -> Bundle {
        let spk = &self.signed_pre_key;
        Bundle {
            namespace,
            device_id: self.device_id,
            identity_key: self.identity_key(namespace),
            signed_pre_key_id: spk.id,
            signed_pre_key: spk.public,
            signed_pre_key_signature: match namespace {
                Namespace::OldMemo => spk.signature_xeddsa.clone(),
                Namespace::TwoMemo => spk.signature_ed25519.clone(),
            },
            pre_keys: self.pre_keys.values().map(|k| (k.id, k.public)).collect(),
        }
    }
}
