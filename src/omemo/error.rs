//! Errors of the OMEMO engine. Each failure a peer (or an attacker) can cause
//! has its own variant so the service can tell the user why a message could
//! not be read, and so tests can assert the exact reason.

use thiserror::Error;

/// Why an OMEMO operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OmemoError {
    /// A signed pre-key signature (XEdDSA for 0.3, Ed25519 for :2) did not verify.
    #[error("the signed pre-key signature of the bundle does not verify")]
    BadSignature,
    /// The authentication tag of a ratchet message did not match.
    #[error("message authentication failed (bad MAC)")]
    BadMac,
    /// The payload's AES-GCM tag (0.3) or HMAC (:2) did not match.
    #[error("payload authentication failed")]
    BadPayloadMac,
    /// A pre-key message names a one-time pre-key we no longer (or never) had.
    #[error(
        "the message uses one-time pre-key {0}, which this device does not have (already used?)"
    )]
    UnknownPreKey(u32),
    /// A pre-key message names a signed pre-key we no longer (or never) had.
    #[error("the message uses signed pre-key {0}, which this device does not have (rotated out?)")]
    UnknownSignedPreKey(u32),
    /// The message carries no key for this device.
    #[error("the message is not encrypted for this device (device id {0})")]
    WrongRecipient(u32),
    /// A protobuf structure could not be decoded or lacks a required field.
    #[error("malformed protobuf: {0}")]
    MalformedProtobuf(&'static str),
    /// An XML payload (bundle, device list, SCE envelope, encrypted element) is malformed.
    #[error("malformed XML: {0}")]
    MalformedXml(String),
    /// A public key has the wrong length, type byte, or is not a usable curve point.
    #[error("invalid public key: {0}")]
    InvalidKey(&'static str),
    /// 0.3 wire messages start with version byte 0x33; anything else is refused.
    #[error("unsupported message version byte {0:#04x}")]
    UnsupportedVersion(u8),
    /// The message was already decrypted (its key is neither current nor skipped).
    #[error("duplicate or replayed message (chain index {0})")]
    Duplicate(u32),
    /// Too many message keys would have to be skipped (MAX_SKIP per chain).
    #[error("message would skip {0} message keys, more than allowed")]
    TooManySkipped(u32),
    /// A normal message arrived for a session we do not have.
    #[error("no session with this device; the peer must start one with a key exchange")]
    NoSession,
    /// A ratchet message arrived on a session that cannot receive yet.
    #[error("session has no receiving chain yet")]
    NotReceiving,
    /// Padding or ciphertext length invalid after authentication passed.
    #[error("decryption failed: {0}")]
    DecryptionFailed(&'static str),
    /// The key material carried in the ratchet has an unexpected length.
    #[error("key material has unexpected length {0}")]
    BadKeyMaterial(usize),
    /// Sessions of another namespace were passed to an operation.
    #[error("session namespace does not match the message namespace")]
    NamespaceMismatch,
    /// The peer's identity key in a message differs from the one the session was built with.
    #[error("the sender's identity key differs from the session's")]
    IdentityMismatch,
    /// A bundle without one-time pre-keys; both python-omemo and libsignal clients require one.
    #[error("the bundle has no one-time pre-keys")]
    NoPreKeys,
    /// An SCE envelope check failed (XEP-0420 / XEP-0384 §6).
    #[error("SCE envelope rejected: {0}")]
    Envelope(&'static str),
    /// A size limit was exceeded on input.
    #[error("input too large: {0}")]
    TooLarge(&'static str),
}

/// Result alias for the OMEMO engine.
pub type Result<T> = std::result::Result<T, OmemoError>;
