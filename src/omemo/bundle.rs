//! Bundles (the PEP payload a peer starts sessions from) for both
//! namespaces: 0.3 `<bundle xmlns='eu.siacs.conversations.axolotl'>` with
//! 0x05-prefixed keys, :2 `<bundle xmlns='urn:xmpp:omemo:2'>` with raw keys.

use serde::{Deserialize, Serialize};
use xmpp_parsers::minidom::Element;

use super::Namespace;
use super::error::{OmemoError, Result};
use super::keys::IdentityKey;
use super::proto::{key32, key33, prefixed};
use super::xml::{
    MAX_PRE_KEYS, attr_u32, b64_child, base64_decode, base64_encode, check_name, child,
    text_element,
};
use super::{oldmemo, twomemo};

/// A device's published bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Which namespace the bundle belongs to.
    pub namespace: Namespace,
    /// The device the bundle belongs to (from the PEP node or item id).
    pub device_id: u32,
    /// The identity key as published.
    pub identity_key: IdentityKey,
    /// Id of the signed pre-key.
    pub signed_pre_key_id: u32,
    /// Curve25519 signed pre-key.
    pub signed_pre_key: [u8; 32],
    /// 64-byte signature (XEdDSA for 0.3, Ed25519 for :2).
    pub signed_pre_key_signature: Vec<u8>,
    /// One-time pre-keys (id, Curve25519 key).
    pub pre_keys: Vec<(u32, [u8; 32])>,
}

impl Bundle {
    /// The PEP node and item id this bundle is published at.
    pub fn pep_location(&self) -> (String, String) {
        match self.namespace {
            Namespace::OldMemo => (
                format!("{}{}", oldmemo::BUNDLE_NODE_PREFIX, self.device_id),
                "current".into(),
            ),
            Namespace::TwoMemo => (twomemo::BUNDLES_NODE.into(), self.device_id.to_string()),
        }
    }

    /// The `<bundle/>` element.
    pub fn to_xml(&self) -> Element {
        match self.namespace {
            Namespace::OldMemo => {
                let ns = oldmemo::NS;
                let ik = self
                    .identity_key
                    .curve25519()
                    .unwrap_or(*self.identity_key.as_bytes());
                let prekeys = Element::builder("prekeys", ns).append_all(self.pre_keys.iter().map(
                    |(id, k)| {
                        Element::builder("preKeyPublic", ns)
                            .attr(nc!("preKeyId"), id.to_string())
                            .append(base64_encode(&prefixed(k)))
                            .build()
                    },
                ));
                Element::builder("bundle", ns)
                    .append(
                        Element::builder("signedPreKeyPublic", ns)
                            .attr(nc!("signedPreKeyId"), self.signed_pre_key_id.to_string())
                            .append(base64_encode(&prefixed(&self.signed_pre_key)))
                            .build(),
                    )
                    .append(text_element(
                        "signedPreKeySignature",
                        ns,
                        base64_encode(&self.signed_pre_key_signature),
                    ))
                    .append(text_element(
                        "identityKey",
                        ns,
                        base64_encode(&prefixed(&ik)),
                    ))
                    .append(prekeys.build())
                    .build()
            }
            Namespace::TwoMemo => {
                let ns = twomemo::NS;
                let prekeys = Element::builder("prekeys", ns).append_all(self.pre_keys.iter().map(
                    |(id, k)| {
                        Element::builder("pk", ns)
                            .attr(nc!("id"), id.to_string())
                            .append(base64_encode(k))
                            .build()
                    },
                ));
                Element::builder("bundle", ns)
                    .append(
                        Element::builder("spk", ns)
                            .attr(nc!("id"), self.signed_pre_key_id.to_string())
                            .append(base64_encode(&self.signed_pre_key))
                            .build(),
                    )
                    .append(text_element(
                        "spks",
                        ns,
                        base64_encode(&self.signed_pre_key_signature),
                    ))
                    .append(text_element(
                        "ik",
                        ns,
                        base64_encode(self.identity_key.as_bytes()),
                    ))
                    .append(prekeys.build())
                    .build()
            }
        }
    }

    /// Parses a peer's `<bundle/>`; `device_id` comes from the node (0.3) or
    /// item id (:2). The signature is checked when a session is started.
    pub fn from_xml(namespace: Namespace, device_id: u32, element: &Element) -> Result<Self> {
        let ns = namespace.xmlns();
        check_name(element, "bundle", ns)?;
        let (spk_name, spk_id_attr, sig_name, ik_name, pk_name, pk_id_attr) = match namespace {
            Namespace::OldMemo => (
                "signedPreKeyPublic",
                "signedPreKeyId",
                "signedPreKeySignature",
                "identityKey",
                "preKeyPublic",
                "preKeyId",
            ),
            Namespace::TwoMemo => ("spk", "id", "spks", "ik", "pk", "id"),
        };
        let key = |bytes: &[u8], what: &'static str| match namespace {
            Namespace::OldMemo => key33(bytes, what),
            Namespace::TwoMemo => key32(bytes, what),
        };
        let spk_el = child(element, spk_name, ns)?;
        let signed_pre_key_id = attr_u32(spk_el, spk_id_attr)?;
        let signed_pre_key = key(&base64_decode(&spk_el.text())?, "signed pre-key")?;
        let signed_pre_key_signature = b64_child(element, sig_name, ns)?;
        if signed_pre_key_signature.len() != 64 {
            return Err(OmemoError::BadSignature);
        }
        let ik = key(&b64_child(element, ik_name, ns)?, "identity key")?;
        let identity_key = match namespace {
            Namespace::OldMemo => IdentityKey::Curve25519(ik),
            Namespace::TwoMemo => IdentityKey::Ed25519(ik),
        };
        let mut pre_keys = Vec::new();
        for pk in child(element, "prekeys", ns)?
            .children()
            .filter(|c| c.is(pk_name, ns))
        {
            if pre_keys.len() >= MAX_PRE_KEYS {
                return Err(OmemoError::TooLarge("pre-keys in bundle"));
            }
            pre_keys.push((
                attr_u32(pk, pk_id_attr)?,
                key(&base64_decode(&pk.text())?, "pre-key")?,
            ));
        }
        Ok(Self {
            namespace,
            device_id,
            identity_key,
            signed_pre_key_id,
            signed_pre_key,
            signed_pre_key_signature,
            pre_keys,
        })
    }
}
