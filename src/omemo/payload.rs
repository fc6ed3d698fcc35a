//! Payload encryption. 0.3: AES-128-GCM, the 16-byte key and 16-byte tag
//! travel in the ratchet, the 12-byte IV in the header. :2 (XEP-0384 §4.5):
//! a 32-byte key expanded with HKDF "OMEMO Payload" into AES-256-CBC key,
//! HMAC key and IV; key ‖ 16-byte truncated HMAC travel in the ratchet.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::Namespace;
use super::crypto::{
    aes128_gcm_decrypt, aes128_gcm_encrypt, aes256_cbc_decrypt, aes256_cbc_encrypt, hkdf, hmac,
    hmac_verify_truncated, random,
};
use super::error::{OmemoError, Result};

const PAYLOAD_INFO: &[u8] = b"OMEMO Payload";

/// The key material a ratchet message carries: the payload key (and tag),
/// or for an empty (key-transport) message a fresh key only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct KeyMaterial(Vec<u8>);

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial({} bytes)", self.0.len())
    }
}

impl KeyMaterial {
    /// Wraps raw key material (e.g. restored from a key-transport use).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The raw bytes (secret).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The fresh key of an empty message, for protocols that transport keys
    /// (e.g. Jingle); the whole material for 0.3, the 32-byte key for :2.
    pub fn key(&self) -> &[u8] {
        self.0.get(..32).unwrap_or(&self.0)
    }
}

/// An encrypted payload: ciphertext and (0.3 only) IV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SealedPayload {
    pub ciphertext: Vec<u8>,
    pub iv: Vec<u8>,
}

/// Encrypts `plaintext` (message body for 0.3, SCE envelope for :2), or makes
/// the key of an empty message when `plaintext` is `None`.
pub(crate) fn seal<R: rand::CryptoRng + ?Sized>(
    rng: &mut R,
    namespace: Namespace,
    plaintext: Option<&[u8]>,
) -> (KeyMaterial, Option<SealedPayload>) {
    match (namespace, plaintext) {
        // python's oldmemo sends 16 random bytes for an empty message.
        (Namespace::OldMemo, None) => (KeyMaterial(random::<16, _>(rng).to_vec()), None),
        (Namespace::TwoMemo, None) => (KeyMaterial(random::<32, _>(rng).to_vec()), None),
        (Namespace::OldMemo, Some(pt)) => {
            let key: Zeroizing<[u8; 16]> = Zeroizing::new(random(rng));
            let iv: [u8; 12] = random(rng);
            let (ciphertext, tag) = aes128_gcm_encrypt(&key, &iv, pt);
            let mut km = key.to_vec();
            km.extend_from_slice(&tag);
            (
                KeyMaterial(km),
                Some(SealedPayload {
                    ciphertext,
                    iv: iv.to_vec(),
                }),
            )
        }
        (Namespace::TwoMemo, Some(pt)) => {
            let key: Zeroizing<[u8; 32]> = Zeroizing::new(random(rng));
            let (enc, auth, iv) = expand(&key);
            let ciphertext = aes256_cbc_encrypt(&enc, &iv, pt);
            let mac = hmac(&auth[..], &[&ciphertext]);
            let mut km = key.to_vec();
            km.extend_from_slice(&mac[..16]);
            (
                KeyMaterial(km),
                Some(SealedPayload {
                    ciphertext,
                    iv: Vec::new(),
                }),
            )
        }
    }
}

fn expand(key: &[u8; 32]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>, [u8; 16]) {
    let out: Zeroizing<[u8; 80]> = hkdf(None, key, PAYLOAD_INFO);
    let mut enc = Zeroizing::new([0u8; 32]);
    let mut auth = Zeroizing::new([0u8; 32]);
    let mut iv = [0u8; 16];
    enc.copy_from_slice(&out[..32]);
    auth.copy_from_slice(&out[32..64]);
    iv.copy_from_slice(&out[64..]);
    (enc, auth, iv)
}

/// Decrypts a payload with the key material from the ratchet.
pub fn open(
    namespace: Namespace,
    key_material: &KeyMaterial,
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    let km = key_material.as_bytes();
    match namespace {
        Namespace::OldMemo => {
            let mut key = Zeroizing::new([0u8; 16]);
            let mut tag = [0u8; 16];
            let ct = match km.len() {
                32 => {
                    key.copy_from_slice(&km[..16]);
                    tag.copy_from_slice(&km[16..]);
                    ciphertext
                }
                // Early 0.3 clients sent a 16-byte key and appended the tag to the payload.
                16 if ciphertext.len() >= 16 => {
                    key.copy_from_slice(km);
                    let (ct, t) = ciphertext.split_at(ciphertext.len() - 16);
                    tag.copy_from_slice(t);
                    ct
                }
                n => return Err(OmemoError::BadKeyMaterial(n)),
            };
            aes128_gcm_decrypt(&key, iv, ct, &tag)
        }
        Namespace::TwoMemo => {
            if km.len() != 48 {
                return Err(OmemoError::BadKeyMaterial(km.len()));
            }
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&km[..32]);
            let (enc, auth, iv) = expand(&key);
            if !hmac_verify_truncated(&auth[..], &[ciphertext], &km[32..]) {
                return Err(OmemoError::BadPayloadMac);
            }
            aes256_cbc_decrypt(&enc, &iv, ciphertext)
        }
    }
}
