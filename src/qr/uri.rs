//! The trust URI carried by QR codes: parse what other clients emit, build
//! what they scan. See the module docs of [`crate::qr`] for the format.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Serialize;
use xmpp_parsers::jid::{BareJid, Jid};

use crate::i18n::{gettext, gettext_f};
use crate::omemo::IdentityKey;

/// Conversations, Dino, Gajim, Monal: `omemo-sid-<id>=<Curve25519 hex>`.
const OMEMO_SID: &str = "omemo-sid-";
/// Moxxy and other OMEMO:2-only clients: `omemo2-sid-<id>=<Ed25519 hex>`.
const OMEMO2_SID: &str = "omemo2-sid-";
/// Old Conversations: a key without its device.
const OMEMO_BARE: &str = "omemo";
/// XEP-0434 Trust Messages, as Kaidan (QXmpp) puts them in its codes.
const TRUST_MESSAGE: &str = "trust-message";
const NS_OMEMO2: &str = "urn:xmpp:omemo:2";
const NS_OMEMO0: &str = "eu.siacs.conversations.axolotl";
/// A person's code lists their devices: a few, a couple of dozen at most.
/// More is not a code anyone made by hand, and each entry costs a bundle fetch.
pub const MAX_FINGERPRINTS: usize = 64;

/// What RFC 5122 lets stand unescaped in the JID part (a bare JID cannot
/// contain `/`, so `?` and `#` are what matters); everything else,
/// non-ASCII included, is percent-encoded UTF-8.
const JID_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// Which form of the identity key a fingerprint gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyForm {
    /// The Curve25519 key without its 05 type byte (OMEMO 0.3 clients, and
    /// what Sotto emits for every device).
    Curve25519,
    /// The Ed25519 key (OMEMO:2-only clients).
    Ed25519,
}

/// One fingerprint in a code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UriFingerprint {
    /// `None` for a key given without its device (`omemo=`, XEP-0434
    /// `trust=`): it stands for whichever published device has that key.
    pub device_id: Option<u32>,
    pub key: [u8; 32],
    pub form: KeyForm,
}

impl UriFingerprint {
    /// A device's fingerprint as Sotto writes it.
    pub fn curve25519(device_id: u32, key: [u8; 32]) -> Self {
        UriFingerprint {
            device_id: Some(device_id),
            key,
            form: KeyForm::Curve25519,
        }
    }

    /// Whether this is the published key whose Curve25519 form is
    /// `published`. An Ed25519 fingerprint matches through its Montgomery
    /// form; it also matches as raw bytes, because OMEMO:2-only clients do
    /// not agree on the form and either way the code shows knowledge of
    /// exactly the published key.
    pub fn matches(&self, published: &[u8; 32]) -> bool {
        match self.form {
            KeyForm::Curve25519 => &self.key == published,
            KeyForm::Ed25519 => {
                &self.key == published
                    || IdentityKey::Ed25519(self.key).curve25519().as_ref() == Some(published)
            }
        }
    }

    /// Lowercase hex of the key, as it stands in the URI.
    pub fn hex(&self) -> String {
        hex::encode(self.key)
    }
}

/// A parsed trust code: whose devices, and their fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustUri {
    pub jid: BareJid,
    /// In the order of the code, without duplicates.
    pub fingerprints: Vec<UriFingerprint>,
}

/// Why a scanned text is not a usable trust code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UriError {
    #[error("the code is empty")]
    Empty,
    #[error("not an xmpp: URI (scheme {scheme:?})")]
    NotXmpp { scheme: String },
    #[error("not a URI: {detail}")]
    Malformed { detail: String },
    #[error("the URI names no address")]
    NoAddress,
    #[error("invalid address {address:?}: {detail}")]
    BadAddress { address: String, detail: String },
    #[error("the URI for {jid} carries no OMEMO fingerprints")]
    NoFingerprints { jid: String },
    #[error("{parameter:?} does not name a device id")]
    BadDeviceId { parameter: String },
    #[error("fingerprint in {parameter:?} is not 64 hex digits: {value:?}")]
    BadFingerprint { parameter: String, value: String },
    #[error("device {device_id} is listed twice with different fingerprints")]
    Conflicting { device_id: u32 },
    #[error("{count} fingerprints (at most {MAX_FINGERPRINTS})")]
    TooMany { count: usize },
    #[error("the keys are for {encryption:?}, not OMEMO")]
    UnsupportedEncryption { encryption: String },
}

impl UriError {
    /// A sentence for the user, translated.
    pub fn user_message(&self) -> String {
        match self {
            UriError::Empty => gettext("The code is empty."),
            UriError::NotXmpp { scheme } if scheme.is_empty() => {
                gettext("This code is not an XMPP address.")
            }
            UriError::NotXmpp { scheme } => gettext_f(
                "This code is not an XMPP address: it is a “{scheme}:” link.",
                &[("scheme", scheme)],
            ),
            UriError::Malformed { detail } => gettext_f(
                "This code is not a valid XMPP link ({detail}).",
                &[("detail", detail)],
            ),
            UriError::NoAddress => gettext("This code names no address."),
            UriError::BadAddress { address, detail } => gettext_f(
                "The address “{address}” in this code is not valid ({detail}).",
                &[("address", address), ("detail", detail)],
            ),
            UriError::NoFingerprints { jid } => gettext_f(
                "The code for {address} carries no encryption fingerprints, so there is nothing to verify.",
                &[("address", jid)],
            ),
            UriError::BadDeviceId { parameter } => gettext_f(
                "The code is damaged: “{parameter}” does not name a device.",
                &[("parameter", parameter)],
            ),
            UriError::BadFingerprint { parameter, .. } => gettext_f(
                "The code is damaged: the fingerprint in “{parameter}” is not 64 hexadecimal digits.",
                &[("parameter", parameter)],
            ),
            UriError::Conflicting { device_id } => gettext_f(
                "The code lists device {device} twice with different fingerprints. Nothing was verified.",
                &[("device", &device_id.to_string())],
            ),
            UriError::TooMany { count } => gettext_f(
                "The code lists {count} fingerprints, more than any person has devices. Nothing was verified.",
                &[("count", &count.to_string())],
            ),
            UriError::UnsupportedEncryption { encryption } => gettext_f(
                "The code's keys are for {encryption}, not for OMEMO.",
                &[("encryption", encryption)],
            ),
        }
    }
}

impl TrustUri {
    /// A code for these devices (`(device id, Curve25519 key)`), in order.
    pub fn for_devices(jid: BareJid, devices: impl IntoIterator<Item = (u32, [u8; 32])>) -> Self {
        let mut fingerprints: Vec<UriFingerprint> = Vec::new();
        for (id, key) in devices {
            let fp = UriFingerprint::curve25519(id, key);
            if !fingerprints.contains(&fp) {
                fingerprints.push(fp);
            }
        }
        TrustUri { jid, fingerprints }
    }

    /// Parse a scanned or pasted text. Keys and hex are case-insensitive,
    /// order does not matter, `;` (RFC 5122) and `&` (older Conversations)
    /// both separate parameters, and parameters Sotto does not use (`body`,
    /// `name`, `otr-fingerprint`, ...) are ignored.
    pub fn parse(text: &str) -> Result<TrustUri, UriError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UriError::Empty);
        }
        let url = url::Url::parse(text).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => UriError::NotXmpp {
                scheme: String::new(),
            },
            other => UriError::Malformed {
                detail: other.to_string(),
            },
        })?;
        if url.scheme() != "xmpp" {
            return Err(UriError::NotXmpp {
                scheme: url.scheme().to_owned(),
            });
        }
        // `xmpp://account@host/jid` (RFC 5122 §2.3) names the account to use
        // in its authority; the JID is the path either way.
        let raw_jid = url.path().trim_start_matches('/');
        let jid = parse_jid(raw_jid)?;
        let params = query_params(url.query().unwrap_or(""))?;

        let action = params
            .first()
            .filter(|(_, value)| value.is_none())
            .map(|(key, _)| key.as_str());
        // XEP-0434 names its keys' encryption once for the whole query.
        let trust_form = if action == Some(TRUST_MESSAGE) {
            let encryption = params
                .iter()
                .find(|(k, _)| k == "encryption")
                .and_then(|(_, v)| v.clone())
                .unwrap_or_else(|| NS_OMEMO2.to_owned());
            match encryption.as_str() {
                NS_OMEMO2 => Some(KeyForm::Ed25519),
                NS_OMEMO0 => Some(KeyForm::Curve25519),
                _ => return Err(UriError::UnsupportedEncryption { encryption }),
            }
        } else {
            None
        };

        let mut fingerprints: Vec<UriFingerprint> = Vec::new();
        for (key, value) in &params {
            let (device_id, form) = if let Some(id) = key.strip_prefix(OMEMO_SID) {
                (Some(device_id(key, id)?), KeyForm::Curve25519)
            } else if let Some(id) = key.strip_prefix(OMEMO2_SID) {
                (Some(device_id(key, id)?), KeyForm::Ed25519)
            } else if key == OMEMO_BARE {
                (None, KeyForm::Curve25519)
            } else if key == "trust"
                && let Some(form) = trust_form
            {
                (None, form)
            } else {
                // `distrust=` of XEP-0434 included: a scan only ever verifies.
                continue;
            };
            let fp = UriFingerprint {
                device_id,
                key: fingerprint(key, value.as_deref().unwrap_or(""))?,
                form,
            };
            if fingerprints.contains(&fp) {
                continue;
            }
            if let Some(id) = device_id
                && fingerprints
                    .iter()
                    .any(|f| f.device_id == Some(id) && f.form == form)
            {
                return Err(UriError::Conflicting { device_id: id });
            }
            fingerprints.push(fp);
            if fingerprints.len() > MAX_FINGERPRINTS {
                return Err(UriError::TooMany {
                    count: count_fingerprints(&params),
                });
            }
        }
        if fingerprints.is_empty() {
            return Err(UriError::NoFingerprints {
                jid: jid.to_string(),
            });
        }
        Ok(TrustUri { jid, fingerprints })
    }

    /// The URI: `xmpp:` and the percent-encoded JID, then the fingerprints
    /// joined by `;` as Conversations writes them. Keys without a device
    /// are written as Conversations' `omemo=` (Curve25519) or as a
    /// XEP-0434 query (Ed25519), so every code parses back to itself.
    pub fn to_uri(&self) -> String {
        let mut items: Vec<String> = Vec::new();
        let trust: Vec<&UriFingerprint> = self
            .fingerprints
            .iter()
            .filter(|f| f.device_id.is_none() && f.form == KeyForm::Ed25519)
            .collect();
        if !trust.is_empty() {
            // The query type must come first (XEP-0147).
            items.push(TRUST_MESSAGE.to_owned());
            items.push(format!("encryption={NS_OMEMO2}"));
            items.extend(trust.iter().map(|f| format!("trust={}", f.hex())));
        }
        for f in &self.fingerprints {
            match (f.device_id, f.form) {
                (Some(id), KeyForm::Curve25519) => {
                    items.push(format!("{OMEMO_SID}{id}={}", f.hex()))
                }
                (Some(id), KeyForm::Ed25519) => items.push(format!("{OMEMO2_SID}{id}={}", f.hex())),
                (None, KeyForm::Curve25519) => items.push(format!("{OMEMO_BARE}={}", f.hex())),
                (None, KeyForm::Ed25519) => {}
            }
        }
        let jid = utf8_percent_encode(self.jid.as_str(), JID_ESCAPE);
        if items.is_empty() {
            format!("xmpp:{jid}")
        } else {
            format!("xmpp:{jid}?{}", items.join(";"))
        }
    }
}

impl fmt::Display for TrustUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

/// RFC 5122: the path is the JID, percent-encoded UTF-8. A full JID is
/// accepted and its resource dropped: trust is per account.
fn parse_jid(raw: &str) -> Result<BareJid, UriError> {
    if raw.is_empty() {
        return Err(UriError::NoAddress);
    }
    let bad = |detail: String| UriError::BadAddress {
        address: raw.to_owned(),
        detail,
    };
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad("not UTF-8".into()))?;
    let jid = Jid::new(&decoded).map_err(|e| UriError::BadAddress {
        address: decoded.to_string(),
        detail: e.to_string(),
    })?;
    if jid.node().is_none() {
        return Err(UriError::BadAddress {
            address: decoded.to_string(),
            detail: "no user part".into(),
        });
    }
    Ok(jid.to_bare())
}

/// The query items in order: keys lowercased, keys and values
/// percent-decoded; `None` for an item without `=` (a query type such as
/// `message`). A `+` stays a `+`: this is RFC 3986, not a web form.
fn query_params(query: &str) -> Result<Vec<(String, Option<String>)>, UriError> {
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| UriError::Malformed {
                detail: format!("{s:?} is not UTF-8"),
            })
    };
    query
        .split([';', '&'])
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) => Ok((decode(k)?.to_lowercase(), Some(decode(v)?))),
            None => Ok((decode(item)?.to_lowercase(), None)),
        })
        .collect()
}

fn device_id(parameter: &str, digits: &str) -> Result<u32, UriError> {
    let bad = || UriError::BadDeviceId {
        parameter: parameter.to_owned(),
    };
    // `parse` alone would take "+5".
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match digits.parse::<u32>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(id) => Ok(id),
    }
}

/// 64 hex digits, any case; a leading `05` type byte (66 digits), which some
/// clients keep, is dropped.
fn fingerprint(parameter: &str, value: &str) -> Result<[u8; 32], UriError> {
    let bad = || UriError::BadFingerprint {
        parameter: parameter.to_owned(),
        value: value.chars().take(80).collect(),
    };
    let hex_digits = match value.len() {
        66 if value.starts_with("05") => &value[2..],
        _ => value,
    };
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut key).map_err(|_| bad())?;
    Ok(key)
}

fn count_fingerprints(params: &[(String, Option<String>)]) -> usize {
    params
        .iter()
        .filter(|(k, _)| {
            k.starts_with(OMEMO_SID) || k.starts_with(OMEMO2_SID) || k == OMEMO_BARE || k == "trust"
        })
        .count()
}
