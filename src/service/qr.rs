//! Trust by QR code in the service (issue 7): what the front ends get back
//! from `OwnQrUri`, `PreviewQr` and `ApplyQr`, and this account's own code,
//! which works offline from the store. Checking a scanned code against the
//! server is in `account/qr.rs`.

use serde::Serialize;
use tokio_xmpp::parsers::jid::BareJid;

use super::api::{ServiceError, Trust};
use crate::omemo::{IdentityKey, Namespace, fingerprint};
use crate::qr::TrustUri;
use crate::store::Store;

/// This account's code: what to draw, and what to print below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnQrCode {
    pub account: String,
    /// `xmpp:…?omemo-sid-…=…;…`, the text the QR code carries (and what
    /// "Copy" puts on the clipboard).
    pub uri: String,
    /// This device first, then every own device the user verified that is
    /// still active (ARCHITECTURE.md "Trust"), in the URI's order.
    pub devices: Vec<QrDevice>,
}

/// One device in [`OwnQrCode`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrDevice {
    pub device_id: u32,
    /// Lowercase hex in groups of eight, for reading aloud.
    pub fingerprint: String,
    pub label: Option<String>,
    pub this_device: bool,
}

/// What a scanned code means for the devices of its JID. `PreviewQr`
/// returns it without saving anything; `ApplyQr` checks again against the
/// server, saves, and returns what it did (`applied`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrSummary {
    pub account: String,
    /// Whose devices the code lists (bare JID).
    pub jid: String,
    /// The JID is in the roster. If not (and not `own_account`), the front
    /// end offers `Command::AddContact`.
    pub is_contact: bool,
    /// The code is of another device of this very account.
    pub own_account: bool,
    /// `ApplyQr` saved the verifications.
    pub applied: bool,
    /// Devices that become (after apply: became) verified by this code.
    pub verified: u32,
    /// Devices whose key matched and that were verified before.
    pub already_verified: u32,
    /// Devices whose published key differs from the code: never trusted
    /// by a scan, and worth a loud warning.
    pub mismatched: u32,
    /// Devices in the code that the server does not publish (no device
    /// list entry, or no usable bundle): nothing to verify.
    pub not_published: u32,
    /// Per device, in the code's order.
    pub devices: Vec<QrCheck>,
}

impl QrSummary {
    /// Devices the code names that could not be verified (the "m
    /// mismatched" of "n verified, m mismatched").
    pub fn flagged(&self) -> u32 {
        self.mismatched + self.not_published
    }
}

/// One device of a scanned code, compared with what the server publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrCheck {
    /// `None` only for a key the code gives without a device (Kaidan's
    /// XEP-0434 codes) that no published device has.
    pub device_id: Option<u32>,
    /// The key in the code, as hex in groups of eight, in the Curve25519
    /// form the device list shows wherever it can be converted.
    pub fingerprint: String,
    /// The key the server publishes for the device, when it differs.
    pub published: Option<String>,
    /// Where the device is listed: `omemo0`, `omemo2`.
    pub namespaces: Vec<String>,
    pub outcome: QrOutcome,
    /// The device's trust before this code, when it was known.
    pub trust_before: Option<Trust>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QrOutcome {
    /// The published key matches: the device becomes verified.
    Verify,
    /// The published key matches and was verified already.
    AlreadyVerified,
    /// The published key differs from the code. Left as it was.
    Mismatch,
    /// The server lists no such device, or gives no key for it.
    NotPublished,
    /// This very device, in a code shown by another of our devices.
    ThisDevice,
}

fn storage(e: crate::store::StoreError) -> ServiceError {
    ServiceError::Storage(e.to_string())
}

/// Grouped hex of a Curve25519 key, as everywhere else in Sotto.
pub(crate) fn grouped(curve25519: &[u8; 32]) -> String {
    fingerprint::display_0_3(&IdentityKey::Curve25519(*curve25519))
        .unwrap_or_else(|| hex::encode(curve25519))
}

/// This account's code, from the store: this device, then every verified,
/// active own device. Works offline; fails only before the account was
/// ever online (no OMEMO device yet).
pub(crate) async fn own_code(store: &Store, account: &str) -> Result<OwnQrCode, ServiceError> {
    let row = store
        .account(account)
        .await
        .map_err(storage)?
        .ok_or_else(|| ServiceError::UnknownAccount(account.to_owned()))?;
    let jid = BareJid::new(&row.jid).map_err(|e| ServiceError::InvalidJid(e.to_string()))?;
    let own = store
        .load_own_device(row.id)
        .await
        .map_err(storage)?
        .ok_or(ServiceError::NotConnected)?;
    let this_key = own
        .identity_key(Namespace::OldMemo)
        .curve25519()
        .ok_or_else(|| ServiceError::Storage("this device's identity key is unusable".into()))?;
    let infos = super::account::device_infos(store, row.id, &row.jid, Some(&own))
        .await
        .map_err(storage)?;
    let mut devices = vec![QrDevice {
        device_id: own.device_id(),
        fingerprint: grouped(&this_key),
        label: infos.iter().find(|d| d.own).and_then(|d| d.label.clone()),
        this_device: true,
    }];
    let mut keys = vec![(own.device_id(), this_key)];
    for d in infos
        .iter()
        .filter(|d| !d.own && d.active && d.trust == Trust::Verified)
    {
        let mut key = [0u8; 32];
        let Some(fp) = &d.fingerprint else { continue };
        if hex::decode_to_slice(fp, &mut key).is_err() {
            continue;
        }
        keys.push((d.device_id, key));
        devices.push(QrDevice {
            device_id: d.device_id,
            fingerprint: grouped(&key),
            label: d.label.clone(),
            this_device: false,
        });
    }
    Ok(OwnQrCode {
        account: row.jid.clone(),
        uri: TrustUri::for_devices(jid, keys).to_uri(),
        devices,
    })
}
