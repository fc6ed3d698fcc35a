//! Device lists for both namespaces: 0.3 `<list><device id/></list>` at
//! `eu.siacs.conversations.axolotl.devicelist`, :2 `<devices><device id
//! label?/></devices>` at `urn:xmpp:omemo:2:devices` (item id `current`).

use serde::{Deserialize, Serialize};
use xmpp_parsers::minidom::Element;

use super::error::{OmemoError, Result};
use super::keys::{IdentityKey, IdentityKeyPair, ed25519_verify};
use super::xml::{MAX_DEVICES, attr_u32, base64_decode, base64_encode, check_name};
use super::{Namespace, oldmemo, twomemo};

/// Longest device label we keep (XEP-0384 labels are short, human-chosen names).
pub const MAX_LABEL_CHARS: usize = 128;

/// One entry of a device list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceListEntry {
    /// Device id (never 0).
    pub id: u32,
    /// Optional human-readable label (:2 only).
    pub label: Option<String>,
    /// Ed25519 signature of the label by the device's identity key
    /// (`labelsig`, as python-omemo publishes and requires it).
    pub label_signature: Option<Vec<u8>>,
}

impl DeviceListEntry {
    /// An entry with a label signed by our identity (for our own device).
    pub fn signed(id: u32, label: &str, identity: &IdentityKeyPair) -> Self {
        Self {
            id,
            label: Some(label.to_owned()),
            label_signature: Some(identity.sign_ed25519(label.as_bytes()).to_vec()),
        }
    }

    /// The label, only if its signature verifies against the device's :2
    /// identity key (fetched with its bundle); unsigned labels are not shown
    /// since anyone with write access to the node could set them.
    pub fn verified_label(&self, identity: &IdentityKey) -> Option<&str> {
        let (IdentityKey::Ed25519(ik), Some(label), Some(sig)) =
            (identity, &self.label, &self.label_signature)
        else {
            return None;
        };
        ed25519_verify(ik, label.as_bytes(), sig).then_some(label.as_str())
    }
}

/// A published device list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// Which namespace the list belongs to.
    pub namespace: Namespace,
    /// The devices, in published order, without duplicates.
    pub devices: Vec<DeviceListEntry>,
}

impl DeviceList {
    /// The PEP node (item id is `current` for both namespaces).
    pub fn pep_node(namespace: Namespace) -> &'static str {
        match namespace {
            Namespace::OldMemo => oldmemo::DEVICE_LIST_NODE,
            Namespace::TwoMemo => twomemo::DEVICE_LIST_NODE,
        }
    }

    /// The device ids.
    pub fn ids(&self) -> Vec<u32> {
        self.devices.iter().map(|d| d.id).collect()
    }

    /// The list element.
    pub fn to_xml(&self) -> Element {
        let ns = self.namespace.xmlns();
        let root = match self.namespace {
            Namespace::OldMemo => "list",
            Namespace::TwoMemo => "devices",
        };
        Element::builder(root, ns)
            .append_all(self.devices.iter().map(|d| {
                let mut b = Element::builder("device", ns).attr(nc!("id"), d.id.to_string());
                if let (Namespace::TwoMemo, Some(label)) = (self.namespace, &d.label) {
                    b = b.attr(nc!("label"), label.as_str());
                    if let Some(sig) = &d.label_signature {
                        b = b.attr(nc!("labelsig"), base64_encode(sig));
                    }
                }
                b.build()
            }))
            .build()
    }

    /// Parses a peer's list; entries with id 0 or a duplicate id are dropped
    /// (a broken entry must not hide the other devices), an oversized list is refused.
    pub fn from_xml(namespace: Namespace, element: &Element) -> Result<Self> {
        let ns = namespace.xmlns();
        let root = match namespace {
            Namespace::OldMemo => "list",
            Namespace::TwoMemo => "devices",
        };
        check_name(element, root, ns)?;
        let mut devices: Vec<DeviceListEntry> = Vec::new();
        for d in element.children().filter(|c| c.is("device", ns)) {
            if devices.len() >= MAX_DEVICES {
                return Err(OmemoError::TooLarge("devices in device list"));
            }
            let Ok(id) = attr_u32(d, "id") else { continue };
            if id == 0 || devices.iter().any(|e| e.id == id) {
                continue;
            }
            let (label, label_signature) = match namespace {
                Namespace::OldMemo => (None, None),
                Namespace::TwoMemo => (
                    d.attr("label")
                        .map(|l| l.chars().take(MAX_LABEL_CHARS).collect()),
                    d.attr("labelsig").and_then(|s| base64_decode(s).ok()),
                ),
            };
            devices.push(DeviceListEntry {
                id,
                label,
                label_signature,
            });
        }
        Ok(Self { namespace, devices })
    }
}
