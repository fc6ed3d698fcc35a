//! Fingerprints in the forms other clients show, and the stable form for
//! QR URIs (ARCHITECTURE.md "Trust").

use super::keys::IdentityKey;

fn grouped(hex: &str) -> String {
    let mut out = String::with_capacity(hex.len() + hex.len() / 8);
    for (i, c) in hex.chars().enumerate() {
        if i > 0 && i % 8 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The form Conversations and Dino show for 0.3: the Curve25519 key (without
/// the 05 type byte) as lowercase hex in groups of 8.
pub fn display_0_3(identity: &IdentityKey) -> Option<String> {
    identity.curve25519().map(|k| grouped(&hex::encode(k)))
}

/// The form Kaidan (QXmpp) shows for OMEMO:2: the Ed25519 key as lowercase
/// hex in groups of 8. For a key only known in Curve25519 form (0.3), the
/// 0.3 form is the only one defined.
pub fn display_2(identity: &IdentityKey) -> Option<String> {
    match identity {
        IdentityKey::Ed25519(k) => Some(grouped(&hex::encode(k))),
        IdentityKey::Curve25519(_) => display_0_3(identity),
    }
}

/// The stable form used in `xmpp:…?omemo-sid-<id>=<fingerprint>` URIs: hex
/// of the serialized Curve25519 key without its leading 05 byte. The same
/// for both namespaces, so a scan verifies a device in both.
pub fn qr(identity: &IdentityKey) -> Option<String> {
    identity.curve25519().map(hex::encode)
}
