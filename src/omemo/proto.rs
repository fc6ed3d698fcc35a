//! Protobuf structures of both namespaces. Fields are `required` (proto2) as
//! in libsignal's and python-omemo's schemas: python's parser rejects a
//! message whose required field is missing, and proto3-style encoding would
//! drop `n = 0`.

use prost::Message;

use super::error::{OmemoError, Result};

/// 0.3 `WhisperMessage` (oldmemo's `OMEMOMessage`), without version byte and MAC.
#[derive(Clone, PartialEq, Message)]
pub struct OldMessage {
    #[prost(bytes = "vec", required, tag = "1")]
    pub dh_pub: Vec<u8>,
    #[prost(uint32, required, tag = "2")]
    pub n: u32,
    #[prost(uint32, required, tag = "3")]
    pub pn: u32,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

/// 0.3 `PreKeyWhisperMessage` (oldmemo's `OMEMOKeyExchange`), without version byte.
#[derive(Clone, PartialEq, Message)]
pub struct OldKeyExchange {
    #[prost(uint32, optional, tag = "1")]
    pub pk_id: Option<u32>,
    #[prost(bytes = "vec", required, tag = "2")]
    pub ek: Vec<u8>,
    #[prost(bytes = "vec", required, tag = "3")]
    pub ik: Vec<u8>,
    /// The complete serialized `WhisperMessage` (version byte, protobuf, MAC).
    #[prost(bytes = "vec", required, tag = "4")]
    pub message: Vec<u8>,
    /// libsignal's registration id; python-omemo leaves it out, so do we.
    #[prost(uint32, optional, tag = "5")]
    pub registration_id: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub spk_id: Option<u32>,
}

/// :2 `OMEMOMessage`.
#[derive(Clone, PartialEq, Message)]
pub struct TwoMessage {
    #[prost(uint32, required, tag = "1")]
    pub n: u32,
    #[prost(uint32, required, tag = "2")]
    pub pn: u32,
    #[prost(bytes = "vec", required, tag = "3")]
    pub dh_pub: Vec<u8>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

/// :2 `OMEMOAuthenticatedMessage`.
#[derive(Clone, PartialEq, Message)]
pub struct TwoAuthenticatedMessage {
    #[prost(bytes = "vec", required, tag = "1")]
    pub mac: Vec<u8>,
    /// The serialized `OMEMOMessage`; the MAC covers exactly these bytes.
    #[prost(bytes = "vec", required, tag = "2")]
    pub message: Vec<u8>,
}

/// :2 `OMEMOKeyExchange`. `message` is an embedded `OMEMOAuthenticatedMessage`,
/// which on the wire is the same as its serialized bytes.
#[derive(Clone, PartialEq, Message)]
pub struct TwoKeyExchange {
    #[prost(uint32, required, tag = "1")]
    pub pk_id: u32,
    #[prost(uint32, required, tag = "2")]
    pub spk_id: u32,
    #[prost(bytes = "vec", required, tag = "3")]
    pub ik: Vec<u8>,
    #[prost(bytes = "vec", required, tag = "4")]
    pub ek: Vec<u8>,
    #[prost(bytes = "vec", required, tag = "5")]
    pub message: Vec<u8>,
}

/// Decodes a protobuf, mapping prost's error to ours.
pub(crate) fn decode<M: Message + Default>(bytes: &[u8], what: &'static str) -> Result<M> {
    M::decode(bytes).map_err(|_| OmemoError::MalformedProtobuf(what))
}

/// A 32-byte field, or a malformed-protobuf error.
pub(crate) fn key32(bytes: &[u8], what: &'static str) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes).map_err(|_| OmemoError::InvalidKey(what))
}

/// A 0.3 serialized Curve25519 key: 0x05 ‖ 32 bytes.
pub(crate) fn key33(bytes: &[u8], what: &'static str) -> Result<[u8; 32]> {
    match bytes.split_first() {
        Some((0x05, rest)) => key32(rest, what),
        _ => Err(OmemoError::InvalidKey(what)),
    }
}

pub(crate) fn prefixed(key: &[u8; 32]) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = 0x05;
    out[1..].copy_from_slice(key);
    out
}
