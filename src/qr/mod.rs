//! Trust by QR code (ARCHITECTURE.md "Trust"): the URI a code carries, the
//! code as pixels, and reading a code back from a picture. Pure: no GTK, no
//! I/O beyond the files it is asked to read or write, no network.
//!
//! # The URI
//!
//! The format Conversations and its forks (and Dino, Monal, Gajim) show
//! and scan, an RFC 5122 `xmpp:` URI whose query lists one parameter per
//! device:
//!
//! ```text
//! xmpp:alice@example.org?omemo-sid-1234=9d68…23d3;omemo-sid-98765=2583…6fdd
//!      └──── the JID ──┘ └─device id─┘ └─fingerprint─┘
//! ```
//!
//! - The JID is the path, percent-encoded UTF-8 (RFC 5122 §2.7): a `?` or
//!   `#` in a user name and every non-ASCII character are `%XX`-escaped.
//! - `omemo-sid-<device id>=<fingerprint>` per device, `;` between them.
//!   The fingerprint is the serialized Curve25519 identity key *without*
//!   its leading `05` type byte, as 64 lowercase hex digits: Conversations
//!   writes `getOwnFingerprint().substring(2)`, i.e. the 33-byte key minus
//!   the type byte. Sotto's identity is one key for both OMEMO versions, so
//!   this one form covers a device in 0.3 and :2 alike.
//!
//! A worked example: Alice's phone is device 1234 and her laptop device
//! 98765; their identity keys in Curve25519 form are
//! `9d6808…` and `258390…` (32 bytes each). Her code is
//!
//! ```text
//! xmpp:alice@example.org?omemo-sid-1234=9d680806c3485aecbf46cb04c4d819e09e625b8956f6f7ff5f532316dce323d3;omemo-sid-98765=2583908e98b61627f0e5d1a18549b49169ea94fd40af6ffff635472c42f96fdd
//! ```
//!
//! and the fingerprints a person reads aloud below it are the same hex in
//! groups of eight (`9d680806 c3485aec …`), as [`crate::omemo::fingerprint`]
//! writes them everywhere else.
//!
//! Read as well, so that codes from other clients verify:
//!
//! - `&` as separator (Conversations before 2.10 and its https invite
//!   links), upper-case keys and hex, any order, extra parameters (`body=`,
//!   `name=`, `otr-fingerprint=`, a leading query type like `message`);
//! - a fingerprint of 66 digits that keeps the `05` type byte;
//! - `omemo2-sid-<id>=<Ed25519 key>` from OMEMO:2-only clients (Moxxy);
//! - `omemo=<key>` (old Conversations) and Kaidan's XEP-0434 form
//!   `?trust-message;encryption=urn:xmpp:omemo:2;trust=<Ed25519 key>`,
//!   which name a key but no device: they verify whichever published device
//!   has that key. `distrust=` is ignored: scanning only ever verifies.
//!
//! Anything else is refused with a [`UriError`] that says why.

#[cfg(feature = "camera")]
mod camera;
mod render;
mod scan;
mod uri;

#[cfg(feature = "camera")]
pub use camera::{
    CameraError, CameraEvent, FoundCode, Frame, FrameSource, MAX_FRAME_SIZE, QrScanner,
    SCAN_INTERVAL, VideoSource,
};
pub use render::{PixelBuffer, QUIET_ZONE, QrMatrix, RenderError};
pub use scan::{ScanError, decode_file, decode_image, decode_luma, decode_rgba};
pub use uri::{KeyForm, MAX_FINGERPRINTS, TrustUri, UriError, UriFingerprint};

#[cfg(test)]
mod tests;
