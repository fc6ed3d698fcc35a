//! What we tell other entities we support (XEP-0030 / XEP-0115). The
//! `+notify` features subscribe us to contacts' OMEMO device lists through
//! PEP (XEP-0163 §4).

use xmpp_parsers::caps::{Caps, compute_disco, hash_caps};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::hashes::{Algo, Hash};

const NODE: &str = "https://sotto.im";

const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#info",
    "eu.siacs.conversations.axolotl.devicelist+notify",
    "jabber:iq:version",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:eme:0",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:omemo:2:devices+notify",
    "urn:xmpp:ping",
    "urn:xmpp:receipts",
    "urn:xmpp:sid:0",
];

pub(crate) fn disco_info() -> DiscoInfoResult {
    DiscoInfoResult {
        node: None,
        identities: vec![Identity::new("client", "pc", "en", "Sotto")],
        features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        extensions: vec![],
    }
}

/// The `<c/>` element for our presence.
pub(crate) fn caps() -> Caps {
    let data = compute_disco(&disco_info());
    let hash = hash_caps(&data, Algo::Sha_1).unwrap_or_else(|_| Hash::new(Algo::Sha_1, Vec::new()));
    Caps::new(NODE, hash)
}
