//! OMEMO protocol engine (pure): no I/O, no async, no clock; randomness and
//! time are passed in. See ARCHITECTURE.md "OMEMO" and "Trust".
//!
//! Both namespaces are spoken: OMEMO 0.3 (`eu.siacs.conversations.axolotl`,
//! libsignal's wire format) and OMEMO:2 (`urn:xmpp:omemo:2`, XEP-0384 ≥ 0.8).
//! As in python-omemo, the double ratchet is written once
//! (`ratchet::Ratchet`) and parameterised by a small backend per namespace
//! (`oldmemo`, `twomemo`) that supplies the KDF labels and wire format.
//!
//! # Flow for the service
//!
//! ```no_run
//! use sotto::omemo::*;
//! let mut rng = rand::rng();
//! let now = 1_700_000_000;
//! // Own device: keep `OwnDevice` (serde) in the encrypted store.
//! let mut alice = OwnDevice::generate(&mut rng, &[], now);
//! let bob = OwnDevice::generate(&mut rng, &[], now);
//! // Publish: device list + bundle for each namespace.
//! let list = DeviceList { namespace: Namespace::TwoMemo,
//!     devices: vec![DeviceListEntry::signed(alice.device_id(), "Laptop", alice.identity())] };
//! let (_node, _xml) = (DeviceList::pep_node(Namespace::TwoMemo), list.to_xml());
//! let bob_bundle_xml = bob.bundle(Namespace::TwoMemo).to_xml();
//! // Start a session from a peer's bundle (signature verified here).
//! let bundle = Bundle::from_xml(Namespace::TwoMemo, bob.device_id(), &bob_bundle_xml).unwrap();
//! let mut session = Session::from_bundle(&mut rng, &alice, "bob@example.org", &bundle).unwrap();
//! // Encrypt an SCE envelope for all sessions of the recipients.
//! let body = xmpp_parsers::minidom::Element::builder("body", "jabber:client").append("hi").build();
//! let envelope = Envelope::new(vec![body], "alice@example.org", "bob@example.org", Some(now)).to_bytes(&mut rng);
//! let msg = encrypt(&mut rng, Namespace::TwoMemo, alice.device_id(), &mut [&mut session], Some(&envelope)).unwrap();
//! let wire = msg.to_xml();
//! // Bob decrypts the key for his device; a pre-key message yields a new session.
//! let msg = EncryptedMessage::from_xml(&wire).unwrap();
//! let out = decrypt(&mut rng, &bob, &msg, "alice@example.org", None).unwrap();
//! let plaintext = out.plaintext.unwrap();
//! Envelope::parse(&plaintext).unwrap().check("alice@example.org", "bob@example.org").unwrap();
//! // Persist in one transaction: out.new_session (serde), the removal of
//! // out.consumed_pre_key from Bob's OwnDevice, and the plaintext.
//! let _ = (serde_json::to_vec(&out.new_session), out.consumed_pre_key, alice.replenish_pre_keys(&mut rng));
//! ```

/// An attribute name for minidom's builder, checked at compile time.
macro_rules! nc {
    ($s:literal) => {
        xmpp_parsers::minidom::rxml::xml_ncname!($s).to_owned()
    };
}

mod bundle;
mod crypto;
mod device;
mod devicelist;
mod error;
pub mod fingerprint;
mod keys;
mod message;
mod oldmemo;
mod payload;
mod proto;
mod ratchet;
mod sce;
mod session;
mod twomemo;
mod x3dh;
pub mod xml;

use serde::{Deserialize, Serialize};

pub use bundle::Bundle;
pub use device::{
    OwnDevice, PRE_KEY_COUNT, SIGNED_PRE_KEY_GRACE_SECS, SIGNED_PRE_KEY_ROTATION_SECS,
    generate_device_id,
};
pub use devicelist::{DeviceList, DeviceListEntry};
pub use error::{OmemoError, Result};
pub use keys::{IdentityKey, IdentityKeyPair, PreKey, SignedPreKey, ed25519_verify, xeddsa_verify};
pub use message::{EncryptedKey, EncryptedMessage};
pub use payload::KeyMaterial;
pub use ratchet::{MAX_SKIP, MAX_SKIPPED_TOTAL};
pub use sce::{Envelope, format_timestamp};
pub use session::{Decrypted, HEARTBEAT_AFTER_RECEIVED, Session, decrypt, encrypt};
pub use x3dh::KeyExchange;

/// Namespace constants, for the XMPP layer.
pub mod ns {
    pub use super::oldmemo::{
        BUNDLE_NODE_PREFIX as OLD_BUNDLE_NODE_PREFIX, DEVICE_LIST_NODE as OLD_DEVICE_LIST_NODE,
        NS as OLD,
    };
    pub use super::sce::NS as SCE;
    pub use super::twomemo::{
        BUNDLES_NODE as TWO_BUNDLES_NODE, DEVICE_LIST_NODE as TWO_DEVICE_LIST_NODE, NS as TWO,
    };
}

/// The two OMEMO versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Namespace {
    /// OMEMO 0.3, `eu.siacs.conversations.axolotl`.
    OldMemo,
    /// OMEMO:2, `urn:xmpp:omemo:2`.
    TwoMemo,
}

impl Namespace {
    /// The XML namespace.
    pub fn xmlns(self) -> &'static str {
        match self {
            Namespace::OldMemo => oldmemo::NS,
            Namespace::TwoMemo => twomemo::NS,
        }
    }

    pub(crate) fn x3dh_info(self) -> &'static [u8] {
        match self {
            Namespace::OldMemo => oldmemo::X3DH_INFO,
            Namespace::TwoMemo => twomemo::X3DH_INFO,
        }
    }
}

#[cfg(test)]
mod tests;

/// Entry points for the cargo-fuzz targets (fuzz/): the wire parsers that
/// are otherwise internal. Not part of the service API.
#[doc(hidden)]
pub mod fuzzing {
    use super::error::Result;
    use super::ratchet::Backend;

    /// Parses a 0.3 `WhisperMessage` (version byte, protobuf, MAC).
    pub fn parse_old_message(data: &[u8]) -> Result<()> {
        super::oldmemo::OldMemo::parse(data).map(drop)
    }
    /// Parses a 0.3 `PreKeyWhisperMessage` and the message inside it.
    pub fn parse_old_key_exchange(data: &[u8]) -> Result<()> {
        let (_, _, inner) = super::oldmemo::parse_key_exchange(data)?;
        super::oldmemo::OldMemo::parse(&inner).map(drop)
    }
    /// Parses a :2 `OMEMOAuthenticatedMessage`.
    pub fn parse_two_message(data: &[u8]) -> Result<()> {
        super::twomemo::TwoMemo::parse(data).map(drop)
    }
    /// Parses a :2 `OMEMOKeyExchange` and the message inside it.
    pub fn parse_two_key_exchange(data: &[u8]) -> Result<()> {
        let (_, _, inner) = super::twomemo::parse_key_exchange(data)?;
        super::twomemo::TwoMemo::parse(&inner).map(drop)
    }
}
