//! Stanza Content Encryption envelopes (XEP-0420) as OMEMO:2 uses them
//! (XEP-0384 §6): `<content>` holds the stanza children to protect,
//! `<rpad>` hides the length, `<from>`/`<to>` bind the envelope to the
//! conversation so a server cannot replay it elsewhere.

use xmpp_parsers::minidom::Element;

use super::crypto::random;
use super::error::{OmemoError, Result};
use super::xml::{MAX_XML_BYTES, parse_element};

/// XEP-0420 namespace.
pub const NS: &str = "urn:xmpp:sce:1";
/// Most padding characters we add.
const MAX_RPAD: usize = 200;

/// A decoded SCE envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// The protected stanza children (e.g. `<body xmlns='jabber:client'>`).
    pub content: Vec<Element>,
    /// `<time stamp>` as sent (XEP-0082 format), if any.
    pub time: Option<String>,
    /// `<from jid>`: the sender's bare JID.
    pub from: Option<String>,
    /// `<to jid>`: the recipient's bare JID (or the room's JID).
    pub to: Option<String>,
}

/// Formats seconds since the Unix epoch as an XEP-0082 UTC timestamp.
pub fn format_timestamp(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl Envelope {
    /// An envelope for `content` from `from` to `to`, sent at `now`.
    pub fn new(content: Vec<Element>, from: &str, to: &str, now: Option<u64>) -> Self {
        Self {
            content,
            time: now.map(format_timestamp),
            from: Some(from.to_owned()),
            to: Some(to.to_owned()),
        }
    }

    /// Serializes with random padding (0–200 printable characters).
    pub fn to_bytes<R: rand::CryptoRng + ?Sized>(&self, rng: &mut R) -> Vec<u8> {
        const PAD_ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let len = usize::from(u16::from_le_bytes(random(rng))) % (MAX_RPAD + 1);
        let pad: String = (0..len)
            .map(|_| {
                char::from(PAD_ALPHABET[usize::from(random::<1, _>(rng)[0]) % PAD_ALPHABET.len()])
            })
            .collect();
        let mut b = Element::builder("envelope", NS)
            .append(
                Element::builder("content", NS)
                    .append_all(self.content.iter().cloned())
                    .build(),
            )
            .append(Element::builder("rpad", NS).append(pad).build());
        if let Some(t) = &self.time {
            b = b.append(
                Element::builder("time", NS)
                    .attr(nc!("stamp"), t.as_str())
                    .build(),
            );
        }
        if let Some(to) = &self.to {
            b = b.append(
                Element::builder("to", NS)
                    .attr(nc!("jid"), to.as_str())
                    .build(),
            );
        }
        if let Some(from) = &self.from {
            b = b.append(
                Element::builder("from", NS)
                    .attr(nc!("jid"), from.as_str())
                    .build(),
            );
        }
        String::from(&b.build()).into_bytes()
    }

    /// Parses decrypted envelope bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_XML_BYTES {
            return Err(OmemoError::TooLarge("SCE envelope"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| OmemoError::Envelope("not UTF-8"))?;
        let root = parse_element(text)?;
        if !root.is("envelope", NS) {
            return Err(OmemoError::Envelope(
                "root is not <envelope xmlns='urn:xmpp:sce:1'>",
            ));
        }
        let content = root
            .get_child("content", NS)
            .ok_or(OmemoError::Envelope("missing <content>"))?;
        let jid_of = |name: &str| -> Result<Option<String>> {
            match root.get_child(name, NS) {
                None => Ok(None),
                Some(e) => e
                    .attr("jid")
                    .map(|j| Some(j.to_owned()))
                    .ok_or(OmemoError::Envelope("affix without jid")),
            }
        };
        Ok(Self {
            content: content.children().cloned().collect(),
            time: root
                .get_child("time", NS)
                .and_then(|t| t.attr("stamp"))
                .map(str::to_owned),
            from: jid_of("from")?,
            to: jid_of("to")?,
        })
    }

    /// XEP-0420 §5: the `<from>` affix must name the stanza's sender (bare
    /// JID) and `<to>`, when present, its recipient; otherwise the envelope
    /// may have been lifted from another conversation.
    pub fn check(&self, stanza_from_bare: &str, stanza_to_bare: &str) -> Result<()> {
        match &self.from {
            None => return Err(OmemoError::Envelope("missing <from> affix")),
            Some(f) if !f.eq_ignore_ascii_case(stanza_from_bare) => {
                return Err(OmemoError::Envelope("<from> does not match the sender"));
            }
            Some(_) => {}
        }
        if let Some(t) = &self.to
            && !t.eq_ignore_ascii_case(stanza_to_bare)
        {
            return Err(OmemoError::Envelope("<to> does not match the recipient"));
        }
        Ok(())
    }

    /// The text of the first `<body>` in the content, if any.
    pub fn body(&self) -> Option<String> {
        self.content
            .iter()
            .find(|e| e.name() == "body")
            .map(Element::text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (fuzz target `sce_envelope`, 2026-11-28): a decrypted
    /// envelope with 30 000 nested elements in `<content>` overflowed the
    /// stack while its children were cloned; now a distinct error.
    #[test]
    fn deeply_nested_envelope_is_refused() {
        let n = 30_000;
        let bytes = format!(
            "<envelope xmlns='urn:xmpp:sce:1'><content>{}{}</content>\
             <from jid='alice@example.org'/></envelope>",
            "<a>".repeat(n),
            "</a>".repeat(n)
        );
        assert_eq!(
            Envelope::parse(bytes.as_bytes()),
            Err(OmemoError::TooLarge("XML nesting depth"))
        );
    }
}
