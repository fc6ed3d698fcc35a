//! Sessions: X3DH + double ratchet per (namespace, own device, peer JID,
//! peer device), and the encrypt/decrypt entry points built on them.

use serde::{Deserialize, Serialize};

use super::Namespace;
use super::bundle::Bundle;
use super::device::OwnDevice;
use super::error::{OmemoError, Result};
use super::keys::IdentityKey;
use super::message::{EncryptedKey, EncryptedMessage};
use super::oldmemo::{self, OldMemo};
use super::payload::{self, KeyMaterial};
use super::ratchet::{PendingDecrypt, Ratchet};
use super::twomemo::{self, TwoMemo};
use super::x3dh::{self, KeyExchange};

/// python-omemo's staleness rule: after this many received messages without
/// sending, send an empty message so the peer's ratchet moves on.
pub const HEARTBEAT_AFTER_RECEIVED: u32 = 53;

/// A session with one peer device. Serialize it into the store after every
/// encrypt/decrypt that changed it; secrets zeroize on drop.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    namespace: Namespace,
    peer_jid: String,
    peer_device_id: u32,
    peer_identity: IdentityKey,
    /// Our identity as this namespace publishes it (for the associated data).
    own_identity: [u8; 32],
    initiator: bool,
    /// The key exchange that built this session (to recognise repeats of it).
    origin: KeyExchange,
    /// Until the peer answers, every message we send carries the key exchange.
    confirmed: bool,
    received_since_send: u32,
    ratchet: Ratchet,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("namespace", &self.namespace)
            .field("peer_jid", &self.peer_jid)
            .field("peer_device_id", &self.peer_device_id)
            .field("initiator", &self.initiator)
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

/// The result of decrypting a message.
#[derive(Debug)]
pub struct Decrypted {
    /// The payload: the body (0.3) or SCE envelope (:2); `None` for an empty
    /// (key-transport) message.
    pub plaintext: Option<Vec<u8>>,
    /// The key material (for an empty message: the transported key).
    pub key_material: KeyMaterial,
    /// A session built by this key exchange; store it (replacing any old one
    /// with that device) together with the pre-key removal.
    pub new_session: Option<Session>,
    /// The one-time pre-key the new session consumed: remove it from
    /// [`OwnDevice`] in the same transaction (or after catch-up).
    pub consumed_pre_key: Option<u32>,
}

impl Session {
    /// Starts a session from a peer's bundle (verifying its signature). The
    /// first message sent on it carries the key exchange.
    pub fn from_bundle<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        own: &OwnDevice,
        peer_jid: &str,
        bundle: &Bundle,
    ) -> Result<Self> {
        let (secret, kex) = x3dh::initiate(rng, own.identity(), bundle)?;
        let ratchet = match bundle.namespace {
            Namespace::OldMemo => {
                Ratchet::new_active::<OldMemo, R>(rng, &secret, &bundle.signed_pre_key)?
            }
            Namespace::TwoMemo => {
                Ratchet::new_active::<TwoMemo, R>(rng, &secret, &bundle.signed_pre_key)?
            }
        };
        Ok(Self {
            namespace: bundle.namespace,
            peer_jid: peer_jid.to_owned(),
            peer_device_id: bundle.device_id,
            peer_identity: bundle.identity_key,
            own_identity: *own.identity_key(bundle.namespace).as_bytes(),
            initiator: true,
            origin: kex,
            confirmed: false,
            received_since_send: 0,
            ratchet,
        })
    }

    /// Namespace of the session.
    pub fn namespace(&self) -> Namespace {
        self.namespace
    }
    /// The peer's bare JID.
    pub fn peer_jid(&self) -> &str {
        &self.peer_jid
    }
    /// The peer's device id.
    pub fn peer_device_id(&self) -> u32 {
        self.peer_device_id
    }
    /// The peer's identity key: check it against the trust store.
    pub fn peer_identity(&self) -> &IdentityKey {
        &self.peer_identity
    }
    /// Whether the peer has answered (our messages no longer carry the key exchange).
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }
    /// Whether an empty message is due to move the peer's ratchet on.
    pub fn needs_heartbeat(&self) -> bool {
        self.received_since_send >= HEARTBEAT_AFTER_RECEIVED
    }
    /// Number of skipped message keys held (bounded by MAX_SKIPPED_TOTAL).
    pub fn skipped_keys(&self) -> usize {
        self.ratchet.skipped_len()
    }

    fn associated_data(&self, sending: bool) -> Vec<u8> {
        let peer = match self.namespace {
            Namespace::OldMemo => self
                .peer_identity
                .curve25519()
                .unwrap_or(*self.peer_identity.as_bytes()),
            Namespace::TwoMemo => *self.peer_identity.as_bytes(),
        };
        match self.namespace {
            Namespace::OldMemo => oldmemo::associated_data(&self.own_identity, &peer, sending),
            Namespace::TwoMemo => {
                twomemo::associated_data(&self.own_identity, &peer, self.initiator)
            }
        }
    }

    /// Encrypts key material for this device; wraps it into the key exchange
    /// while the session is unconfirmed. Returns the bytes and the `kex` flag.
    pub fn encrypt_key(&mut self, key_material: &KeyMaterial) -> Result<(Vec<u8>, bool)> {
        if !self.ratchet.can_send() {
            return Err(OmemoError::NoSession);
        }
        let ad = self.associated_data(true);
        let msg = match self.namespace {
            Namespace::OldMemo => self
                .ratchet
                .encrypt::<OldMemo>(key_material.as_bytes(), &ad)?,
            Namespace::TwoMemo => self
                .ratchet
                .encrypt::<TwoMemo>(key_material.as_bytes(), &ad)?,
        };
        self.received_since_send = 0;
        if self.confirmed || !self.initiator {
            return Ok((msg, false));
        }
        let wrapped = match self.namespace {
            Namespace::OldMemo => oldmemo::wrap_key_exchange(&self.origin, &self.own_identity, msg),
            Namespace::TwoMemo => twomemo::wrap_key_exchange(&self.origin, &self.own_identity, msg),
        };
        Ok((wrapped, true))
    }

    /// Decrypts a plain ratchet message on this session. On any error the
    /// session is unchanged.
    pub fn decrypt_message<R: rand::CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        message: &[u8],
    ) -> Result<KeyMaterial> {
        let (key_material, pending) = self.prepare_decrypt(rng, message)?;
        self.commit(pending);
        Ok(key_material)
    }

    fn prepare_decrypt<R: rand::CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        message: &[u8],
    ) -> Result<(KeyMaterial, PendingDecrypt)> {
        let ad = self.associated_data(false);
        let (plain, pending) = match self.namespace {
            Namespace::OldMemo => self
                .ratchet
                .prepare_decrypt::<OldMemo, R>(rng, message, &ad)?,
            Namespace::TwoMemo => self
                .ratchet
                .prepare_decrypt::<TwoMemo, R>(rng, message, &ad)?,
        };
        Ok((KeyMaterial::from_bytes(plain), pending))
    }

    fn commit(&mut self, pending: PendingDecrypt) {
        self.ratchet.commit(pending);
        self.confirmed = true;
        self.received_since_send = self.received_since_send.saturating_add(1);
    }
}

/// Encrypts one payload for several devices of one namespace: one payload
/// key, one ratchet message per session, in the order of `sessions`.
/// `plaintext` is the body (0.3) or the SCE envelope (:2); `None` makes an
/// empty key-transport message. Sessions are advanced; store them after
/// sending.
pub fn encrypt<R: rand::CryptoRng + ?Sized>(
    rng: &mut R,
    namespace: Namespace,
    own_device_id: u32,
    sessions: &mut [&mut Session],
    plaintext: Option<&[u8]>,
) -> Result<EncryptedMessage> {
    if sessions.iter().any(|s| s.namespace != namespace) {
        return Err(OmemoError::NamespaceMismatch);
    }
    let (key_material, sealed) = payload::seal(rng, namespace, plaintext);
    let mut keys = Vec::with_capacity(sessions.len());
    for s in sessions.iter_mut() {
        let (data, key_exchange) = s.encrypt_key(&key_material)?;
        keys.push(EncryptedKey {
            jid: s.peer_jid.clone(),
            device_id: s.peer_device_id,
            key_exchange,
            data,
        });
    }
    let (payload, iv) = match sealed {
        Some(p) => (Some(p.ciphertext), p.iv),
        // 0.3 carries an IV even in empty messages (python's oldmemo does too).
        None if namespace == Namespace::OldMemo => {
            (None, super::crypto::random::<12, _>(rng).to_vec())
        }
        None => (None, Vec::new()),
    };
    Ok(EncryptedMessage {
        namespace,
        sender_device_id: own_device_id,
        keys,
        iv,
        payload,
    })
}

/// Decrypts a received message for our device: the key element addressed
/// to us, then the payload. Nothing changes unless both succeed.
///
/// * Plain messages decrypt on `existing`, which is advanced.
/// * Key-exchange messages that repeat the exchange `existing` was built
///   from decrypt on it too (later messages of a session not answered yet).
/// * Other key-exchange messages build a new session, returned in
///   [`Decrypted::new_session`] with the consumed pre-key id; `existing`
///   is left untouched (the caller replaces it).
pub fn decrypt<R: rand::CryptoRng + ?Sized>(
    rng: &mut R,
    own: &OwnDevice,
    message: &EncryptedMessage,
    sender_jid: &str,
    existing: Option<&mut Session>,
) -> Result<Decrypted> {
    let namespace = message.namespace;
    if let Some(s) = existing.as_ref()
        && s.namespace != namespace
    {
        return Err(OmemoError::NamespaceMismatch);
    }
    let key = message.key_for(own.device_id())?;
    if !key.key_exchange {
        let session = existing.ok_or(OmemoError::NoSession)?;
        let (key_material, pending) = session.prepare_decrypt(rng, &key.data)?;
        let plaintext = message.open_payload(&key_material)?;
        session.commit(pending);
        return Ok(Decrypted {
            plaintext,
            key_material,
            new_session: None,
            consumed_pre_key: None,
        });
    }
    let (kex, peer_identity, inner) = match namespace {
        Namespace::OldMemo => oldmemo::parse_key_exchange(&key.data)?,
        Namespace::TwoMemo => twomemo::parse_key_exchange(&key.data)?,
    };
    if let Some(session) = existing
        && !session.initiator
        && session.origin == kex
    {
        if session.peer_identity != peer_identity {
            return Err(OmemoError::IdentityMismatch);
        }
        let (key_material, pending) = session.prepare_decrypt(rng, &inner)?;
        let plaintext = message.open_payload(&key_material)?;
        session.commit(pending);
        return Ok(Decrypted {
            plaintext,
            key_material,
            new_session: None,
            consumed_pre_key: None,
        });
    }
    let (secret, spk_private) = x3dh::respond(namespace, own, &peer_identity, &kex)?;
    let mut session = Session {
        namespace,
        peer_jid: sender_jid.to_owned(),
        peer_device_id: message.sender_device_id,
        peer_identity,
        own_identity: *own.identity_key(namespace).as_bytes(),
        initiator: false,
        origin: kex,
        confirmed: true,
        received_since_send: 0,
        ratchet: Ratchet::new_passive(&secret, &spk_private),
    };
    let key_material = session.decrypt_message(rng, &inner)?;
    let plaintext = message.open_payload(&key_material)?;
    Ok(Decrypted {
        plaintext,
        key_material,
        new_session: Some(session),
        consumed_pre_key: kex.pre_key_id,
    })
}
