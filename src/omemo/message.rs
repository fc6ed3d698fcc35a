//! The `<encrypted/>` element of both namespaces: 0.3 keys sit directly in
//! the header next to the IV; :2 groups them in `<keys jid=…>` and has no IV.

use serde::{Deserialize, Serialize};
use xmpp_parsers::minidom::Element;

use super::Namespace;
use super::error::{OmemoError, Result};
use super::xml::{
    MAX_KEYS, attr_u32, base64_decode, base64_encode, check_name, child, text_element,
};

/// One key element: the ratchet message for one recipient device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedKey {
    /// Recipient bare JID (:2 carries it; empty when parsed from 0.3).
    pub jid: String,
    /// Recipient device id (`rid`).
    pub device_id: u32,
    /// Whether `data` is a key exchange (`prekey='true'` / `kex='true'`).
    pub key_exchange: bool,
    /// The serialized ratchet (or key-exchange) message.
    pub data: Vec<u8>,
}

/// An OMEMO message as carried in `<encrypted/>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedMessage {
    /// Namespace of the element.
    pub namespace: Namespace,
    /// Sender device id (`sid`).
    pub sender_device_id: u32,
    /// One entry per recipient device.
    pub keys: Vec<EncryptedKey>,
    /// 0.3 only: the AES-GCM IV (12 bytes; 16 from legacy senders).
    pub iv: Vec<u8>,
    /// The encrypted payload; `None` for an empty (key-transport) message.
    pub payload: Option<Vec<u8>>,
}

impl EncryptedMessage {
    /// The key element for our device; [`OmemoError::WrongRecipient`] when the
    /// sender did not encrypt for it.
    pub fn key_for(&self, device_id: u32) -> Result<&EncryptedKey> {
        self.keys
            .iter()
            .find(|k| k.device_id == device_id)
            .ok_or(OmemoError::WrongRecipient(device_id))
    }

    /// Device ids the message was encrypted for (for "not encrypted for this device" reports).
    pub fn recipient_device_ids(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.device_id).collect()
    }

    /// Decrypts the payload with key material from the ratchet.
    /// Returns `None` for an empty message.
    pub fn open_payload(
        &self,
        key_material: &super::payload::KeyMaterial,
    ) -> Result<Option<Vec<u8>>> {
        match &self.payload {
            None => Ok(None),
            Some(p) => super::payload::open(self.namespace, key_material, &self.iv, p).map(Some),
        }
    }

    /// The `<encrypted/>` element.
    pub fn to_xml(&self) -> Element {
        let ns = self.namespace.xmlns();
        let key_el = |k: &EncryptedKey| {
            let mut b = Element::builder("key", ns).attr(nc!("rid"), k.device_id.to_string());
            if k.key_exchange {
                b = if self.namespace == Namespace::OldMemo {
                    b.attr(nc!("prekey"), "true")
                } else {
                    b.attr(nc!("kex"), "true")
                };
            }
            b.append(base64_encode(&k.data)).build()
        };
        let mut header =
            Element::builder("header", ns).attr(nc!("sid"), self.sender_device_id.to_string());
        match self.namespace {
            Namespace::OldMemo => {
                header = header.append_all(self.keys.iter().map(key_el));
                header = header.append(text_element("iv", ns, base64_encode(&self.iv)));
            }
            Namespace::TwoMemo => {
                let mut jids: Vec<&str> = Vec::new();
                for k in &self.keys {
                    if !jids.contains(&k.jid.as_str()) {
                        jids.push(&k.jid);
                    }
                }
                header = header.append_all(jids.into_iter().map(|jid| {
                    Element::builder("keys", ns)
                        .attr(nc!("jid"), jid)
                        .append_all(self.keys.iter().filter(|k| k.jid == jid).map(key_el))
                        .build()
                }));
            }
        }
        let mut root = Element::builder("encrypted", ns).append(header.build());
        if let Some(p) = &self.payload {
            root = root.append(text_element("payload", ns, base64_encode(p)));
        }
        root.build()
    }

    /// Parses an `<encrypted/>` element of either namespace.
    pub fn from_xml(element: &Element) -> Result<Self> {
        let namespace = if element.is("encrypted", Namespace::OldMemo.xmlns()) {
            Namespace::OldMemo
        } else {
            Namespace::TwoMemo
        };
        let ns = namespace.xmlns();
        check_name(element, "encrypted", ns)?;
        let header = child(element, "header", ns)?;
        let sender_device_id = attr_u32(header, "sid")?;
        let mut keys = Vec::new();
        let mut parse_key = |k: &Element, jid: &str, attr: &str| -> Result<()> {
            if keys.len() >= MAX_KEYS {
                return Err(OmemoError::TooLarge("keys in encrypted message"));
            }
            let flag = k.attr(attr).is_some_and(|v| v == "true" || v == "1");
            keys.push(EncryptedKey {
                jid: jid.to_owned(),
                device_id: attr_u32(k, "rid")?,
                key_exchange: flag,
                data: base64_decode(&k.text())?,
            });
            Ok(())
        };
        let iv = match namespace {
            Namespace::OldMemo => {
                for k in header.children().filter(|c| c.is("key", ns)) {
                    parse_key(k, "", "prekey")?;
                }
                base64_decode(&child(header, "iv", ns)?.text())?
            }
            Namespace::TwoMemo => {
                for group in header.children().filter(|c| c.is("keys", ns)) {
                    let jid = group
                        .attr("jid")
                        .ok_or_else(|| OmemoError::MalformedXml("<keys> without jid".into()))?;
                    for k in group.children().filter(|c| c.is("key", ns)) {
                        parse_key(k, jid, "kex")?;
                    }
                }
                Vec::new()
            }
        };
        let payload = match element.get_child("payload", ns) {
            Some(p) => Some(base64_decode(&p.text())?),
            None => None,
        };
        Ok(Self {
            namespace,
            sender_device_id,
            keys,
            iv,
            payload,
        })
    }
}
