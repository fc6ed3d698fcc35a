//! Identity keys, XEdDSA (as libsignal does it) and pre-keys.
//!
//! One identity serves both namespaces, as in python-omemo: we keep the
//! Ed25519 seed; its Ed25519 public key is the :2 identity, and the
//! Montgomery form of the same point is the 0.3 (Curve25519) identity. The
//! X25519 private key is clamp(SHA-512(seed)[..32]), i.e. the Ed25519 secret
//! scalar, so both forms belong to one key pair.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::{Scalar, clamp_integer};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::crypto::{random, x25519_public};

/// The long-term identity key pair of this device. Only the seed is
/// serialized; both public forms are derived once (each costs a scalar
/// multiplication, and every session set-up needs them).
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(from = "IdentitySeed", into = "IdentitySeed")]
pub struct IdentityKeyPair {
    seed: [u8; 32],
    ed25519_public: [u8; 32],
    curve25519_public: [u8; 32],
}

#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct IdentitySeed {
    seed: [u8; 32],
}

impl From<IdentitySeed> for IdentityKeyPair {
    fn from(s: IdentitySeed) -> Self {
        Self::from_seed(s.seed)
    }
}

impl From<IdentityKeyPair> for IdentitySeed {
    fn from(k: IdentityKeyPair) -> Self {
        Self { seed: k.seed }
    }
}

impl std::fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("ed25519_public", &hex::encode(self.ed25519_public()))
            .finish_non_exhaustive()
    }
}

impl IdentityKeyPair {
    /// A fresh identity.
    pub fn generate<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_seed(random(rng))
    }

    /// Restores an identity from its 32-byte Ed25519 seed (python-omemo's
    /// `IdentityKeyPairSeed` holds the same bytes).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut k = Self {
            seed,
            ed25519_public: [0; 32],
            curve25519_public: [0; 32],
        };
        k.ed25519_public = k.signing_key().verifying_key().to_bytes();
        k.curve25519_public = x25519_public(&k.x25519_private());
        k
    }

    /// The Ed25519 seed; secret.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.seed)
    }

    /// The X25519 private key: the clamped first half of SHA-512(seed).
    pub(crate) fn x25519_private(&self) -> Zeroizing<[u8; 32]> {
        let mut h = Sha512::digest(self.seed);
        let mut k = [0u8; 32];
        k.copy_from_slice(&h[..32]);
        h.as_mut_slice().zeroize();
        Zeroizing::new(clamp_integer(k))
    }

    /// The Ed25519 public key (the :2 identity key).
    pub fn ed25519_public(&self) -> [u8; 32] {
        self.ed25519_public
    }

    /// The Curve25519 public key (the 0.3 identity key, without the 0x05 prefix).
    pub fn curve25519_public(&self) -> [u8; 32] {
        self.curve25519_public
    }

    /// A plain Ed25519 signature (used for :2 signed pre-keys).
    pub fn sign_ed25519(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key().sign(message).to_bytes()
    }

    /// An XEdDSA signature as libsignal's `curve25519_sign` makes it (used for
    /// 0.3 signed pre-keys): the private scalar is used as is (not negated to
    /// force a zero sign bit), the nonce is SHA-512(0xFE ‖ 0xFF×31 ‖ k ‖ M ‖ Z)
    /// and the Edwards sign bit of the public key travels in the top bit of
    /// byte 63, where verifiers read it.
    pub fn sign_xeddsa(&self, message: &[u8], random64: &[u8; 64]) -> [u8; 64] {
        let k = self.x25519_private();
        xeddsa_sign(&k, message, random64)
    }
}

pub(crate) fn xeddsa_sign(k: &[u8; 32], message: &[u8], random64: &[u8; 64]) -> [u8; 64] {
    let a = Scalar::from_bytes_mod_order(*k);
    let big_a = EdwardsPoint::mul_base(&a).compress().to_bytes();
    let sign_bit = big_a[31] & 0x80;

    let mut prefix = [0xFFu8; 32];
    prefix[0] = 0xFE;
    let mut h = Sha512::new();
    h.update(prefix);
    h.update(k);
    h.update(message);
    h.update(random64);
    let mut nonce_wide: [u8; 64] = h.finalize().into();
    let r = Scalar::from_bytes_mod_order_wide(&nonce_wide);
    nonce_wide.zeroize();
    let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();

    let mut h = Sha512::new();
    h.update(big_r);
    h.update(big_a);
    h.update(message);
    let hram: [u8; 64] = h.finalize().into();
    let hram = Scalar::from_bytes_mod_order_wide(&hram);
    let s = hram * a + r;

    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&big_r);
    sig[32..].copy_from_slice(s.as_bytes());
    sig[63] &= 0x7F;
    sig[63] |= sign_bit;
    sig
}

/// Verifies an XEdDSA signature (libsignal's `curve25519_verify`) by a
/// Curve25519 public key: the Edwards key is the birational image of `u`
/// with the sign bit taken from signature byte 63.
pub fn xeddsa_verify(curve25519_public: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let sign = sig[63] >> 7;
    let Some(ed) = MontgomeryPoint(*curve25519_public).to_edwards(sign) else {
        return false;
    };
    let mut sig = sig;
    sig[63] &= 0x7F;
    ed25519_verify(&ed.compress().to_bytes(), message, &sig)
}

/// Verifies a plain Ed25519 signature.
pub fn ed25519_verify(ed25519_public: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let Ok(vk) = VerifyingKey::from_bytes(ed25519_public) else {
        return false;
    };
    // Strict: refuses non-canonical encodings and small-order keys, which no honest peer produces.
    vk.verify_strict(message, &Signature::from_bytes(&sig))
        .is_ok()
}

/// The Curve25519 (Montgomery) form of an Ed25519 public key.
pub fn ed25519_to_curve25519(ed25519_public: &[u8; 32]) -> Option<[u8; 32]> {
    let point = CompressedEdwardsY(*ed25519_public).decompress()?;
    Some(point.to_montgomery().to_bytes())
}

/// A peer's identity key in the form its namespace publishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentityKey {
    /// OMEMO 0.3: the Curve25519 key (without the 0x05 type byte).
    Curve25519([u8; 32]),
    /// OMEMO:2: the Ed25519 key.
    Ed25519([u8; 32]),
}

impl IdentityKey {
    /// The Curve25519 form, used for X3DH and for fingerprints that must
    /// match across namespaces.
    pub fn curve25519(&self) -> Option<[u8; 32]> {
        match self {
            IdentityKey::Curve25519(k) => Some(*k),
            IdentityKey::Ed25519(k) => ed25519_to_curve25519(k),
        }
    }

    /// The raw 32 bytes as published.
    pub fn as_bytes(&self) -> &[u8; 32] {
        match self {
            IdentityKey::Curve25519(k) | IdentityKey::Ed25519(k) => k,
        }
    }
}

/// A signed pre-key. One key serves both namespaces, with a signature for each:
/// XEdDSA over 0x05 ‖ key for 0.3, Ed25519 over the raw key for :2.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SignedPreKey {
    /// Id published in the bundle.
    pub id: u32,
    private: [u8; 32],
    /// Curve25519 public key.
    pub public: [u8; 32],
    /// XEdDSA signature for the 0.3 bundle (sign bit in byte 63).
    pub signature_xeddsa: Vec<u8>,
    /// Ed25519 signature for the :2 bundle.
    pub signature_ed25519: Vec<u8>,
    /// Creation time (seconds since the Unix epoch) as passed by the caller.
    pub created_at: u64,
}

impl std::fmt::Debug for SignedPreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedPreKey")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl SignedPreKey {
    /// Generates and signs a signed pre-key.
    pub fn generate<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        identity: &IdentityKeyPair,
        id: u32,
        now: u64,
    ) -> Self {
        let private = clamp_integer(random(rng));
        let public = x25519_public(&private);
        let mut prefixed = [0u8; 33];
        prefixed[0] = 0x05;
        prefixed[1..].copy_from_slice(&public);
        let z: Zeroizing<[u8; 64]> = Zeroizing::new(random(rng));
        Self {
            id,
            private,
            public,
            signature_xeddsa: identity.sign_xeddsa(&prefixed, &z).to_vec(),
            signature_ed25519: identity.sign_ed25519(&public).to_vec(),
            created_at: now,
        }
    }

    pub(crate) fn private(&self) -> &[u8; 32] {
        &self.private
    }
}

/// A one-time pre-key.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct PreKey {
    /// Id published in the bundle.
    pub id: u32,
    private: [u8; 32],
    /// Curve25519 public key.
    pub public: [u8; 32],
}

impl std::fmt::Debug for PreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl PreKey {
    /// Generates a one-time pre-key.
    pub fn generate<R: rand::CryptoRng + ?Sized>(rng: &mut R, id: u32) -> Self {
        let private = clamp_integer(random(rng));
        Self {
            id,
            private,
            public: x25519_public(&private),
        }
    }

    pub(crate) fn private(&self) -> &[u8; 32] {
        &self.private
    }
}
