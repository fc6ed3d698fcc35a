//! XML and base64 helpers with size limits. Peers control everything parsed
//! here, so every count and length is bounded and nothing indexes blindly.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
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

// Peers differ on padding; the bits are checked by every MAC downstream.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Base64 decoding; tolerates XML whitespace and missing padding, rejects
/// anything else.
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT
        .decode(compact)
        .map_err(|_| OmemoError::MalformedXml("invalid base64".into()))
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
