//! OMEMO:2 (`urn:xmpp:omemo:2`, XEP-0384 ≥ 0.8): wire format and constants.

use prost::Message;

use super::crypto::hmac;
use super::error::{OmemoError, Result};
use super::keys::IdentityKey;
use super::proto::{TwoAuthenticatedMessage, TwoKeyExchange, TwoMessage, decode, key32};
use super::ratchet::{Backend, Header, Parsed};
use super::x3dh::KeyExchange;

/// XML namespace of OMEMO:2.
pub const NS: &str = "urn:xmpp:omemo:2";
/// PEP node of the :2 device list (one item, id `current`).
pub const DEVICE_LIST_NODE: &str = "urn:xmpp:omemo:2:devices";
/// PEP node of the :2 bundles (item id = device id, `max_items=max`).
pub const BUNDLES_NODE: &str = "urn:xmpp:omemo:2:bundles";

/// XEP-0384 §7.2: HMAC-SHA-256 truncated to 16 bytes.
const MAC_LEN: usize = 16;

pub(crate) const X3DH_INFO: &[u8] = b"OMEMO X3DH";

/// The :2 ratchet backend.
pub(crate) struct TwoMemo;

impl Backend for TwoMemo {
    const ROOT_INFO: &'static [u8] = b"OMEMO Root Chain";
    const MESSAGE_KEY_INFO: &'static [u8] = b"OMEMO Message Key Material";

    fn seal(
        header: &Header,
        ciphertext: Vec<u8>,
        mac_key: &[u8],
        associated_data: &[u8],
    ) -> Vec<u8> {
        let message = TwoMessage {
            n: header.n,
            pn: header.pn,
            dh_pub: header.dh.to_vec(),
            ciphertext: Some(ciphertext),
        }
        .encode_to_vec();
        let mac = hmac(mac_key, &[associated_data, &message]);
        TwoAuthenticatedMessage {
            mac: mac[..MAC_LEN].to_vec(),
            message,
        }
        .encode_to_vec()
    }

    fn parse(wire: &[u8]) -> Result<Parsed> {
        let auth: TwoAuthenticatedMessage = decode(wire, "OMEMOAuthenticatedMessage")?;
        if auth.mac.len() != MAC_LEN {
            return Err(OmemoError::BadMac);
        }
        let msg: TwoMessage = decode(&auth.message, "OMEMOMessage")?;
        Ok(Parsed {
            header: Header {
                dh: key32(&msg.dh_pub, "ratchet key")?,
                n: msg.n,
                pn: msg.pn,
            },
            ciphertext: msg.ciphertext.unwrap_or_default(),
            authenticated: auth.message,
            mac: auth.mac,
        })
    }
}

/// XEP-0384 §4.4: the associated data is the X3DH one, IK(initiator) ‖
/// IK(responder) in Ed25519 form, in both directions.
pub(crate) fn associated_data(own: &[u8; 32], peer: &[u8; 32], initiator: bool) -> Vec<u8> {
    let (first, second) = if initiator { (own, peer) } else { (peer, own) };
    let mut ad = Vec::with_capacity(64);
    ad.extend_from_slice(first);
    ad.extend_from_slice(second);
    ad
}

/// Wraps an `OMEMOAuthenticatedMessage` into an `OMEMOKeyExchange`.
pub(crate) fn wrap_key_exchange(
    kex: &KeyExchange,
    own_identity: &[u8; 32],
    message: Vec<u8>,
) -> Vec<u8> {
    TwoKeyExchange {
        pk_id: kex.pre_key_id.unwrap_or_default(),
        spk_id: kex.signed_pre_key_id,
        ik: own_identity.to_vec(),
        ek: kex.ephemeral.to_vec(),
        message,
    }
    .encode_to_vec()
}

/// Parses an `OMEMOKeyExchange`.
pub(crate) fn parse_key_exchange(wire: &[u8]) -> Result<(KeyExchange, IdentityKey, Vec<u8>)> {
    let kex: TwoKeyExchange = decode(wire, "OMEMOKeyExchange")?;
    let out = KeyExchange {
        pre_key_id: Some(kex.pk_id),
        signed_pre_key_id: kex.spk_id,
        ephemeral: key32(&kex.ek, "ephemeral key")?,
    };
    Ok((
        out,
        IdentityKey::Ed25519(key32(&kex.ik, "identity key")?),
        kex.message,
    ))
}
