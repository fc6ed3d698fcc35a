//! XML and base64 helpers with size limits. Peers control everything parsed
//! here, so every count and length is bounded and nothing indexes blindly.

use xmpp_parsers::minidom::Element;

use super::error::{OmemoError, Result};

/// Largest element we accept from the network in any OMEMO structure.
pub const MAX_XML_BYTES: usize = 256 * 1024;
/// Most pre-keys we read from one bundle (XEP-0384 asks for ≥ 25, clients publish 100).
pub const MAX_PRE_KEYS: usize = 1000;
/// Most devices we read from one device list.
pub const MAX_DEVICES: usize = 1000;
/// Most key elements we read from one encrypted message.
pub const MAX_KEYS: usize = 10_000;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sextet(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Base64 decoding; tolerates XML whitespace and missing padding, rejects
/// anything else.
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let bad = || OmemoError::MalformedXml("invalid base64".into());
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    let mut padding = 0usize;
    for &c in text.as_bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return Err(bad());
        }
        acc = (acc << 6) | sextet(c).ok_or_else(bad)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xFF) as u8);
        }
    }
    if padding > 2 || bits >= 6 {
        return Err(bad());
    }
    Ok(out)
}

/// Parses an element from text, with the size limit.
pub fn parse_element(text: &str) -> Result<Element> {
    if text.len() > MAX_XML_BYTES {
        return Err(OmemoError::TooLarge("XML document"));
    }
    text.parse::<Element>()
        .map_err(|e| OmemoError::MalformedXml(e.to_string()))
}

/// Serializes an element to text.
pub fn element_to_string(element: &Element) -> String {
    String::from(element)
}

pub(crate) fn check_name(element: &Element, name: &str, ns: &str) -> Result<()> {
    if element.is(name, ns) {
        Ok(())
    } else {
        Err(OmemoError::MalformedXml(format!(
            "expected <{name} xmlns='{ns}'>, got <{}>",
            element.name()
        )))
    }
}

pub(crate) fn child<'a>(element: &'a Element, name: &str, ns: &str) -> Result<&'a Element> {
    element
        .get_child(name, ns)
        .ok_or_else(|| OmemoError::MalformedXml(format!("missing <{name}>")))
}

pub(crate) fn attr_u32(element: &Element, name: &str) -> Result<u32> {
    element
        .attr(name)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            OmemoError::MalformedXml(format!("<{}> needs a numeric '{name}'", element.name()))
        })
}

pub(crate) fn b64_child(element: &Element, name: &str, ns: &str) -> Result<Vec<u8>> {
    base64_decode(&child(element, name, ns)?.text())
}

pub(crate) fn text_element(name: &str, ns: &str, text: String) -> Element {
    Element::builder(name, ns).append(text).build()
}
