//! X3DH key agreement for both namespaces (python's `x3dh` package as
//! oldmemo/twomemo configure it): HKDF-SHA-256 over 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3
//! ‖ DH4 with a zero salt, 32 bytes out (libsignal's 64-byte "WhisperText"
//! output starts with the same 32 bytes, its root key).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Namespace;
use super::bundle::Bundle;
use super::crypto::{dh, hkdf, random, x25519_public};
use super::device::OwnDevice;
use super::error::{OmemoError, Result};
use super::keys::{IdentityKey, IdentityKeyPair, ed25519_verify, xeddsa_verify};
use super::proto::prefixed;

/// What a key-exchange (pre-key) message carries besides the identity key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyExchange {
    /// The one-time pre-key used; libsignal allows none, python-omemo always uses one.
    pub pre_key_id: Option<u32>,
    /// The signed pre-key used.
    pub signed_pre_key_id: u32,
    /// The initiator's ephemeral (base) key.
    pub ephemeral: [u8; 32],
}

/// A 32-byte secret that zeroizes on drop.
type Secret32 = Zeroizing<[u8; 32]>;

fn derive(namespace: Namespace, dhs: &[&[u8; 32]]) -> Zeroizing<[u8; 32]> {
    let mut input = Zeroizing::new(Vec::with_capacity(32 * 5));
    input.extend_from_slice(&[0xFF; 32]);
    for d in dhs {
        input.extend_from_slice(*d);
    }
    hkdf(None, &input, namespace.x3dh_info())
}

fn peer_curve(identity: &IdentityKey) -> Result<[u8; 32]> {
    identity
        .curve25519()
        .ok_or(OmemoError::InvalidKey("identity key is not a curve point"))
}

/// Verifies the bundle's signed pre-key signature: XEdDSA over 0x05 ‖ key
/// for 0.3, Ed25519 over the raw key for :2.
pub(crate) fn verify_bundle(bundle: &Bundle) -> Result<()> {
    let ok = match bundle.identity_key {
        IdentityKey::Curve25519(ik) => xeddsa_verify(
            &ik,
            &prefixed(&bundle.signed_pre_key),
            &bundle.signed_pre_key_signature,
        ),
        IdentityKey::Ed25519(ik) => ed25519_verify(
            &ik,
            &bundle.signed_pre_key,
            &bundle.signed_pre_key_signature,
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(OmemoError::BadSignature)
    }
}

/// The initiator's half: returns the shared secret and the key exchange to send.
pub(crate) fn initiate<R: rand::CryptoRng + ?Sized>(
    rng: &mut R,
    identity: &IdentityKeyPair,
    bundle: &Bundle,
) -> Result<(Zeroizing<[u8; 32]>, KeyExchange)> {
    verify_bundle(bundle)?;
    if bundle.pre_keys.is_empty() {
        return Err(OmemoError::NoPreKeys);
    }
    let pick = u32::from_le_bytes(random(rng)) as usize % bundle.pre_keys.len();
    let (pre_key_id, pre_key) = bundle
        .pre_keys
        .get(pick)
        .copied()
        .ok_or(OmemoError::NoPreKeys)?;
    let ephemeral_private: Zeroizing<[u8; 32]> = Zeroizing::new(random(rng));
    let peer_ik = peer_curve(&bundle.identity_key)?;
    let own_ik = identity.x25519_private();
    let dh1 = dh(&own_ik, &bundle.signed_pre_key)?;
    let dh2 = dh(&ephemeral_private, &peer_ik)?;
    let dh3 = dh(&ephemeral_private, &bundle.signed_pre_key)?;
    let dh4 = dh(&ephemeral_private, &pre_key)?;
    let secret = derive(bundle.namespace, &[&dh1, &dh2, &dh3, &dh4]);
    let kex = KeyExchange {
        pre_key_id: Some(pre_key_id),
        signed_pre_key_id: bundle.signed_pre_key_id,
        ephemeral: x25519_public(&ephemeral_private),
    };
    Ok((secret, kex))
}

/// The responder's half: looks up our signed and one-time pre-keys by id.
/// Returns the shared secret and the signed pre-key's private key (the
/// responder's first ratchet key).
pub(crate) fn respond(
    namespace: Namespace,
    own: &OwnDevice,
    peer_identity: &IdentityKey,
    kex: &KeyExchange,
) -> Result<(Secret32, Secret32)> {
    let spk = own
        .signed_pre_key_by_id(kex.signed_pre_key_id)
        .ok_or(OmemoError::UnknownSignedPreKey(kex.signed_pre_key_id))?;
    let peer_ik = peer_curve(peer_identity)?;
    let own_ik = own.identity().x25519_private();
    let dh1 = dh(spk.private(), &peer_ik)?;
    let dh2 = dh(&own_ik, &kex.ephemeral)?;
    let dh3 = dh(spk.private(), &kex.ephemeral)?;
    let secret = match kex.pre_key_id {
        Some(id) => {
            let pk = own.pre_key_by_id(id).ok_or(OmemoError::UnknownPreKey(id))?;
            let dh4 = dh(pk.private(), &kex.ephemeral)?;
            derive(namespace, &[&dh1, &dh2, &dh3, &dh4])
        }
        None => derive(namespace, &[&dh1, &dh2, &dh3]),
    };
    Ok((secret, Zeroizing::new(*spk.private())))
}
