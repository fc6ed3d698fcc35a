//! Thin wrappers over the audited primitives (RustCrypto / dalek) so the
//! protocol code reads like the specs. Nothing here is a primitive of its own.

use aes::{Aes128, Aes256};
use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::{AeadInOut, AesGcm, KeyInit, Nonce, Tag};
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

use super::error::{OmemoError, Result};

type HmacSha256 = Hmac<Sha256>;

/// HKDF-SHA-256 with a salt of 32 zero bytes when `salt` is `None` (what both
/// python-omemo backends and libsignal use for X3DH and message keys).
pub(crate) fn hkdf<const N: usize>(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    let zero = [0u8; 32];
    let hk = Hkdf::<Sha256>::new(Some(salt.unwrap_or(&zero)), ikm);
    let mut out = Zeroizing::new([0u8; N]);
    // Only fails for N > 255 * 32, which no caller asks for.
    if hk.expand(info, out.as_mut_slice()).is_err() {
        out.zeroize();
    }
    out
}

/// HMAC-SHA-256 over the concatenation of `parts`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = match <HmacSha256 as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this arm is unreachable.
        Err(_) => return [0u8; 32],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time comparison of a truncated HMAC-SHA-256.
pub(crate) fn hmac_verify_truncated(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(key) else {
        return false;
    };
    for p in parts {
        mac.update(p);
    }
    !tag.is_empty() && mac.verify_truncated_left(tag).is_ok()
}

/// AES-256-CBC with PKCS#7 padding (inside the ratchet for both namespaces,
/// and for the :2 payload).
pub(crate) fn aes256_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

pub(crate) fn aes256_cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(OmemoError::DecryptionFailed(
            "ciphertext is not a whole number of AES blocks",
        ));
    }
    cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| OmemoError::DecryptionFailed("bad PKCS#7 padding"))
}

/// AES-128-GCM as OMEMO 0.3 uses it: returns ciphertext and the detached
/// 16-byte tag (the tag travels inside the ratchet, not in the payload).
pub(crate) fn aes128_gcm_encrypt(
    key: &[u8; 16],
    iv: &[u8; 12],
    plaintext: &[u8],
) -> (Vec<u8>, [u8; 16]) {
    let cipher = AesGcm::<Aes128, U12>::new(key.into());
    let mut buf = plaintext.to_vec();
    let nonce = Nonce::<U12>::from(*iv);
    match cipher.encrypt_inout_detached(&nonce, b"", buf.as_mut_slice().into()) {
        Ok(tag) => (buf, tag.into()),
        // Only fails for plaintexts beyond GCM's 64 GiB limit.
        Err(_) => (Vec::new(), [0u8; 16]),
    }
}

/// AES-128-GCM decryption; accepts the 12-byte IV of current clients and the
/// 16-byte IV that early Conversations/ChatSecure versions sent.
pub(crate) fn aes128_gcm_decrypt(
    key: &[u8; 16],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8; 16],
) -> Result<Vec<u8>> {
    let mut buf = ciphertext.to_vec();
    let tag = Tag::<U16>::from(*tag);
    let ok = match iv.len() {
        12 => {
            let mut n = [0u8; 12];
            n.copy_from_slice(iv);
            AesGcm::<Aes128, U12>::new(key.into())
                .decrypt_inout_detached(
                    &Nonce::<U12>::from(n),
                    b"",
                    buf.as_mut_slice().into(),
                    &tag,
                )
                .is_ok()
        }
        16 => {
            let mut n = [0u8; 16];
            n.copy_from_slice(iv);
            AesGcm::<Aes128, U16>::new(key.into())
                .decrypt_inout_detached(
                    &Nonce::<U16>::from(n),
                    b"",
                    buf.as_mut_slice().into(),
                    &tag,
                )
                .is_ok()
        }
        _ => return Err(OmemoError::DecryptionFailed("IV must be 12 or 16 bytes")),
    };
    if ok {
        Ok(buf)
    } else {
        Err(OmemoError::BadPayloadMac)
    }
}

/// X25519; refuses non-contributory results (low-order peer keys), which no
/// honest peer produces.
pub(crate) fn dh(own: &[u8; 32], their: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
    let secret = StaticSecret::from(*own);
    let shared = secret.diffie_hellman(&PublicKey::from(*their));
    if !shared.was_contributory() {
        return Err(OmemoError::InvalidKey("low-order Curve25519 public key"));
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

/// The Curve25519 public key of a (clamped or unclamped) private key.
pub(crate) fn x25519_public(private: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*private)).to_bytes()
}

/// Fresh random bytes from the caller's CSPRNG.
pub(crate) fn random<const N: usize, R: rand::CryptoRng + ?Sized>(rng: &mut R) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}
