//! The double ratchet shared by both namespaces, parameterised by a
//! [`Backend`] that supplies the constants and the wire format (as
//! python-omemo's `oldmemo` and `twomemo` parameterise `doubleratchet`).
//!
//! Decryption is transactional: all chain steps are computed on copies and
//! committed only once the MAC verified, the ciphertext decrypted and the
//! caller checked the payload, so a forged, corrupted or replayed message
//! never changes the state.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::crypto::{
    aes256_cbc_decrypt, aes256_cbc_encrypt, dh, hkdf, hmac, hmac_verify_truncated, random,
    x25519_public,
};
use super::error::{OmemoError, Result};

/// At most this many message keys are skipped (and stored) per chain.
pub const MAX_SKIP: u32 = 1000;
/// At most this many skipped message keys are kept per session; the oldest go first.
pub const MAX_SKIPPED_TOTAL: usize = 2000;

/// The ratchet header carried by every message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub dh: [u8; 32],
    pub n: u32,
    pub pn: u32,
}

/// A parsed ratchet message: the header, the ciphertext, the bytes the MAC
/// covers (after the associated data) and the received MAC.
pub(crate) struct Parsed {
    pub header: Header,
    pub ciphertext: Vec<u8>,
    pub authenticated: Vec<u8>,
    pub mac: Vec<u8>,
}

/// What differs between OMEMO 0.3 and OMEMO:2 inside the ratchet.
pub(crate) trait Backend {
    /// HKDF info of the root chain.
    const ROOT_INFO: &'static [u8];
    /// HKDF info of the message key expansion (80 bytes: AES key, MAC key, IV).
    const MESSAGE_KEY_INFO: &'static [u8];
    /// Serializes header and ciphertext, and appends/embeds the truncated MAC
    /// over `associated_data ‖ serialized message`.
    fn seal(
        header: &Header,
        ciphertext: Vec<u8>,
        mac_key: &[u8],
        associated_data: &[u8],
    ) -> Vec<u8>;
    /// Parses a serialized message (the MAC is checked by the ratchet).
    fn parse(wire: &[u8]) -> Result<Parsed>;
}

#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct Chain {
    key: [u8; 32],
    n: u32,
}

impl Chain {
    /// Symmetric-key ratchet step: message key = HMAC(CK, 0x01), next CK = HMAC(CK, 0x02).
    fn step(&mut self) -> Zeroizing<[u8; 32]> {
        let mk = Zeroizing::new(hmac(&self.key, &[&[0x01]]));
        self.key = hmac(&self.key, &[&[0x02]]);
        self.n = self.n.wrapping_add(1);
        mk
    }
}

#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SkippedKey {
    ratchet_pub: [u8; 32],
    n: u32,
    key: [u8; 32],
}

/// Double-ratchet state of one session.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Ratchet {
    root_key: [u8; 32],
    own_private: [u8; 32],
    own_public: [u8; 32],
    their_public: Option<[u8; 32]>,
    sending: Option<Chain>,
    receiving: Option<Chain>,
    previous_sending_n: u32,
    skipped: Vec<SkippedKey>,
}

fn kdf_root<B: Backend>(root: &[u8; 32], dh_out: &[u8; 32]) -> ([u8; 32], Chain) {
    let out: Zeroizing<[u8; 64]> = hkdf(Some(root), dh_out, B::ROOT_INFO);
    let mut rk = [0u8; 32];
    let mut ck = [0u8; 32];
    rk.copy_from_slice(&out[..32]);
    ck.copy_from_slice(&out[32..]);
    (rk, Chain { key: ck, n: 0 })
}

struct MessageKeys {
    keys: Zeroizing<[u8; 80]>,
}

impl MessageKeys {
    fn derive<B: Backend>(mk: &[u8; 32]) -> Self {
        Self {
            keys: hkdf(None, mk, B::MESSAGE_KEY_INFO),
        }
    }
    fn enc(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.keys[..32]);
        k
    }
    fn mac(&self) -> &[u8] {
        &self.keys[32..64]
    }
    fn iv(&self) -> [u8; 16] {
        let mut k = [0u8; 16];
        k.copy_from_slice(&self.keys[64..80]);
        k
    }
}

fn open<B: Backend>(mk: &[u8; 32], parsed: &Parsed, associated_data: &[u8]) -> Result<Vec<u8>> {
    let keys = MessageKeys::derive::<B>(mk);
    if !hmac_verify_truncated(
        keys.mac(),
        &[associated_data, &parsed.authenticated],
        &parsed.mac,
    ) {
        return Err(OmemoError::BadMac);
    }
    let mut enc = Zeroizing::new(keys.enc());
    let out = aes256_cbc_decrypt(&enc, &keys.iv(), &parsed.ciphertext);
    enc.zeroize();
    out
}

impl Ratchet {
    /// The initiator's state after X3DH: a sending chain from DH(new ratchet
    /// key, peer's signed pre-key).
    pub(crate) fn new_active<B: Backend, R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        shared_secret: &[u8; 32],
        their_signed_pre_key: &[u8; 32],
    ) -> Result<Self> {
        let own_private: [u8; 32] = random(rng);
        let dh_out = dh(&own_private, their_signed_pre_key)?;
        let (root_key, chain) = kdf_root::<B>(shared_secret, &dh_out);
        Ok(Self {
            root_key,
            own_public: x25519_public(&own_private),
            own_private,
            their_public: Some(*their_signed_pre_key),
            sending: Some(chain),
            receiving: None,
            previous_sending_n: 0,
            skipped: Vec::new(),
        })
    }

    /// The responder's state after X3DH: the signed pre-key acts as our first
    /// ratchet key; the first received message performs the DH step.
    pub(crate) fn new_passive(shared_secret: &[u8; 32], signed_pre_key_private: &[u8; 32]) -> Self {
        Self {
            root_key: *shared_secret,
            own_private: *signed_pre_key_private,
            own_public: x25519_public(signed_pre_key_private),
            their_public: None,
            sending: None,
            receiving: None,
            previous_sending_n: 0,
            skipped: Vec::new(),
        }
    }

    /// Number of skipped message keys held.
    pub(crate) fn skipped_len(&self) -> usize {
        self.skipped.len()
    }

    pub(crate) fn can_send(&self) -> bool {
        self.sending.is_some()
    }

    pub(crate) fn encrypt<B: Backend>(
        &mut self,
        plaintext: &[u8],
        associated_data: &[u8],
    ) -> Result<Vec<u8>> {
        let chain = self.sending.as_mut().ok_or(OmemoError::NoSession)?;
        let header = Header {
            dh: self.own_public,
            n: chain.n,
            pn: self.previous_sending_n,
        };
        let mk = chain.step();
        let keys = MessageKeys::derive::<B>(&mk);
        let enc = Zeroizing::new(keys.enc());
        let ciphertext = aes256_cbc_encrypt(&enc, &keys.iv(), plaintext);
        Ok(B::seal(&header, ciphertext, keys.mac(), associated_data))
    }

    /// Decrypts without changing the state; [`Ratchet::commit`] applies the
    /// returned change once the caller has checked everything else (the payload).
    pub(crate) fn prepare_decrypt<B: Backend, R: rand::CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        wire: &[u8],
        associated_data: &[u8],
    ) -> Result<(Vec<u8>, PendingDecrypt)> {
        let parsed = B::parse(wire)?;
        let h = parsed.header;

        // The number first: it rules out nearly every stored key without
        // a 32-byte compare (up to MAX_SKIPPED_TOTAL are scanned).
        if let Some(s) = self
            .skipped
            .iter()
            .find(|s| s.n == h.n && s.ratchet_pub == h.dh)
        {
            let plaintext = open::<B>(&s.key, &parsed, associated_data)?;
            return Ok((
                plaintext,
                PendingDecrypt(Pending::UsedSkipped {
                    ratchet_pub: h.dh,
                    n: h.n,
                }),
            ));
        }

        let mut next = Candidate {
            root_key: self.root_key,
            own_private: self.own_private,
            own_public: self.own_public,
            their_public: self.their_public,
            sending: self.sending.clone(),
            receiving: self.receiving.clone(),
            previous_sending_n: self.previous_sending_n,
            new_skipped: Vec::new(),
        };

        if next.their_public != Some(h.dh) {
            if let (Some(chain), Some(old_pub)) = (next.receiving.as_mut(), next.their_public) {
                // Keys left on the previous receiving chain; like python's
                // doubleratchet, a gap beyond MAX_SKIP is not computed.
                let gap = h.pn.saturating_sub(chain.n);
                if gap <= MAX_SKIP {
                    while chain.n < h.pn {
                        let n = chain.n;
                        let key = *chain.step();
                        next.new_skipped.push(SkippedKey {
                            ratchet_pub: old_pub,
                            n,
                            key,
                        });
                    }
                }
            }
            let dh_recv = dh(&next.own_private, &h.dh)?;
            let (rk, recv) = kdf_root::<B>(&next.root_key, &dh_recv);
            let new_private: [u8; 32] = random(rng);
            let dh_send = dh(&new_private, &h.dh)?;
            let (rk, send) = kdf_root::<B>(&rk, &dh_send);
            next.previous_sending_n = next.sending.as_ref().map_or(0, |c| c.n);
            next.root_key = rk;
            next.receiving = Some(recv);
            next.sending = Some(send);
            next.own_private = new_private;
            next.own_public = x25519_public(&new_private);
            next.their_public = Some(h.dh);
        }

        let chain = next.receiving.as_mut().ok_or(OmemoError::NotReceiving)?;
        if h.n < chain.n {
            return Err(OmemoError::Duplicate(h.n));
        }
        let gap = h.n - chain.n;
        if gap > MAX_SKIP {
            return Err(OmemoError::TooManySkipped(gap));
        }
        while chain.n < h.n {
            let n = chain.n;
            let key = *chain.step();
            next.new_skipped.push(SkippedKey {
                ratchet_pub: h.dh,
                n,
                key,
            });
        }
        let mk = chain.step();
        let plaintext = open::<B>(&mk, &parsed, associated_data)?;
        Ok((plaintext, PendingDecrypt(Pending::Advance(Box::new(next)))))
    }

    /// Applies a prepared decryption.
    pub(crate) fn commit(&mut self, pending: PendingDecrypt) {
        match pending.0 {
            Pending::UsedSkipped { ratchet_pub, n } => {
                // The key that was used (the first match, as in
                // `prepare_decrypt`); the rest stay oldest first for eviction.
                if let Some(i) = self
                    .skipped
                    .iter()
                    .position(|s| s.n == n && s.ratchet_pub == ratchet_pub)
                {
                    self.skipped.remove(i);
                }
            }
            Pending::Advance(mut next) => {
                self.root_key = next.root_key;
                self.own_private = next.own_private;
                self.own_public = next.own_public;
                self.their_public = next.their_public;
                self.sending = next.sending.take();
                self.receiving = next.receiving.take();
                self.previous_sending_n = next.previous_sending_n;
                self.skipped.append(&mut next.new_skipped);
                if self.skipped.len() > MAX_SKIPPED_TOTAL {
                    let excess = self.skipped.len() - MAX_SKIPPED_TOTAL;
                    self.skipped.drain(..excess);
                }
            }
        }
    }
}

/// A decryption that succeeded but is not applied to the state yet.
pub(crate) struct PendingDecrypt(Pending);

enum Pending {
    UsedSkipped { ratchet_pub: [u8; 32], n: u32 },
    Advance(Box<Candidate>),
}

#[derive(Zeroize, ZeroizeOnDrop)]
struct Candidate {
    root_key: [u8; 32],
    own_private: [u8; 32],
    own_public: [u8; 32],
    their_public: Option<[u8; 32]>,
    sending: Option<Chain>,
    receiving: Option<Chain>,
    previous_sending_n: u32,
    new_skipped: Vec<SkippedKey>,
}
