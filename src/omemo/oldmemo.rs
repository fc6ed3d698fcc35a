//! OMEMO 0.3 (`eu.siacs.conversations.axolotl`): libsignal's wire format and
//! constants, as python's `oldmemo` reproduces them.

use prost::Message;

use super::crypto::hmac;
use super::error::{OmemoError, Result};
use super::keys::IdentityKey;
use super::proto::{OldKeyExchange, OldMessage, decode, key33, prefixed};
use super::ratchet::{Backend, Header, Parsed};
use super::x3dh::KeyExchange;

/// XML namespace of OMEMO 0.3.
pub const NS: &str = "eu.siacs.conversations.axolotl";
/// PEP node of the 0.3 device list.
pub const DEVICE_LIST_NODE: &str = "eu.siacs.conversations.axolotl.devicelist";
/// Prefix of the 0.3 bundle nodes (`…bundles:<device id>`).
pub const BUNDLE_NODE_PREFIX: &str = "eu.siacs.conversations.axolotl.bundles:";

/// libsignal's message version byte: (3 << 4) | 3.
const VERSION: u8 = 0x33;
/// libsignal truncates the message MAC to 8 bytes (SignalMessage.MAC_LENGTH).
const MAC_LEN: usize = 8;

pub(crate) const X3DH_INFO: &[u8] = b"WhisperText";

/// The 0.3 ratchet backend.
pub(crate) struct OldMemo;

impl Backend for OldMemo {
    const ROOT_INFO: &'static [u8] = b"WhisperRatchet";
    const MESSAGE_KEY_INFO: &'static [u8] = b"WhisperMessageKeys";

    fn seal(
        header: &Header,
        ciphertext: Vec<u8>,
        mac_key: &[u8],
        associated_data: &[u8],
    ) -> Vec<u8> {
        let msg = OldMessage {
            dh_pub: prefixed(&header.dh).to_vec(),
            n: header.n,
            pn: header.pn,
            ciphertext: Some(ciphertext),
        };
        let mut out = Vec::with_capacity(msg.encoded_len() + 1 + MAC_LEN);
        out.push(VERSION);
        msg.encode(&mut out).unwrap_or_default();
        let mac = hmac(mac_key, &[associated_data, &out]);
        out.extend_from_slice(&mac[..MAC_LEN]);
        out
    }

    fn parse(wire: &[u8]) -> Result<Parsed> {
        let Some((&version, _)) = wire.split_first() else {
            return Err(OmemoError::MalformedProtobuf("empty WhisperMessage"));
        };
        if version != VERSION {
            return Err(OmemoError::UnsupportedVersion(version));
        }
        if wire.len() < 1 + MAC_LEN {
            return Err(OmemoError::MalformedProtobuf(
                "WhisperMessage shorter than its MAC",
            ));
        }
        let (authenticated, mac) = wire.split_at(wire.len() - MAC_LEN);
        let msg: OldMessage = decode(authenticated.get(1..).unwrap_or_default(), "WhisperMessage")?;
        Ok(Parsed {
            header: Header {
                dh: key33(&msg.dh_pub, "ratchet key")?,
                n: msg.n,
                pn: msg.pn,
            },
            ciphertext: msg.ciphertext.unwrap_or_default(),
            authenticated: authenticated.to_vec(),
            mac: mac.to_vec(),
        })
    }
}

/// libsignal orders the MAC's associated data as sender ‖ receiver, whoever
/// started the session (python's oldmemo swaps its X3DH data to match).
pub(crate) fn associated_data(own: &[u8; 32], peer: &[u8; 32], sending: bool) -> Vec<u8> {
    let (first, second) = if sending { (own, peer) } else { (peer, own) };
    let mut ad = Vec::with_capacity(66);
    ad.extend_from_slice(&prefixed(first));
    ad.extend_from_slice(&prefixed(second));
    ad
}

/// Wraps a ratchet message into a `PreKeyWhisperMessage`.
pub(crate) fn wrap_key_exchange(
    kex: &KeyExchange,
    own_identity: &[u8; 32],
    message: Vec<u8>,
) -> Vec<u8> {
    let pkm = OldKeyExchange {
        pk_id: kex.pre_key_id,
        ek: prefixed(&kex.ephemeral).to_vec(),
        ik: prefixed(own_identity).to_vec(),
        message,
        registration_id: None,
        spk_id: Some(kex.signed_pre_key_id),
    };
    let mut out = Vec::with_capacity(pkm.encoded_len() + 1);
    out.push(VERSION);
    pkm.encode(&mut out).unwrap_or_default();
    out
}

/// Parses a `PreKeyWhisperMessage` into the key exchange, the sender's
/// identity and the embedded `WhisperMessage`.
pub(crate) fn parse_key_exchange(wire: &[u8]) -> Result<(KeyExchange, IdentityKey, Vec<u8>)> {
    let Some((&version, body)) = wire.split_first() else {
        return Err(OmemoError::MalformedProtobuf("empty PreKeyWhisperMessage"));
    };
    if version != VERSION {
        return Err(OmemoError::UnsupportedVersion(version));
    }
    let pkm: OldKeyExchange = decode(body, "PreKeyWhisperMessage")?;
    let signed_pre_key_id = pkm.spk_id.ok_or(OmemoError::MalformedProtobuf(
        "PreKeyWhisperMessage without signedPreKeyId",
    ))?;
    let kex = KeyExchange {
        pre_key_id: pkm.pk_id,
        signed_pre_key_id,
        ephemeral: key33(&pkm.ek, "base key")?,
    };
    Ok((
        kex,
        IdentityKey::Curve25519(key33(&pkm.ik, "identity key")?),
        pkm.message,
    ))
}
