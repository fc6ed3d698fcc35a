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
/// Deepest element nesting we accept. OMEMO structures are 2–4 levels deep
/// and an SCE envelope's content (stanza children, XHTML-IM) a few more.
/// minidom builds a tree whose clone, drop and serialization recurse once
/// per level, so `<a><a><a>…` within [`MAX_XML_BYTES`] overflowed the stack
/// (an abort, not an error; found with the `sce_envelope` and
/// `encrypted_xml` fuzz targets), and its namespace lookup walks every open
/// level, which made parsing quadratic in the depth.
pub const MAX_XML_DEPTH: usize = 64;

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

/// Parses an element from text, with the size and depth limits.
pub fn parse_element(text: &str) -> Result<Element> {
    if text.len() > MAX_XML_BYTES {
        return Err(OmemoError::TooLarge("XML document"));
    }
    // Checked before minidom sees the text: once its tree exists, merely
    // dropping it would recurse as deep as the attacker nested it.
    if !depth_within(text.as_bytes(), MAX_XML_DEPTH) {
        return Err(OmemoError::TooLarge("XML nesting depth"));
    }
    text.parse::<Element>()
        .map_err(|e| OmemoError::MalformedXml(e.to_string()))
}

/// Whether no element of `xml` is nested deeper than `max`: one linear
/// lexical pass over start tags, end tags and self-closing tags that skips
/// quoted attribute values (which may hold `/>`), comments, CDATA sections
/// and processing instructions (which may hold `<`). It is exact for
/// well-formed XML; on malformed XML it can go wrong only after the first
/// syntax error, where the parser stops anyway, so the parser never builds
/// a tree deeper than this pass saw (where unsure, e.g. `<a/ >`, it counts
/// an open element, i.e. it errs on the side of refusing).
fn depth_within(xml: &[u8], max: usize) -> bool {
    /// Index just past the first `pat` at or after `from`, if any.
    fn past(xml: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
        xml.get(from..)?
            .windows(pat.len())
            .position(|w| w == pat)
            .map(|p| from + p + pat.len())
    }
    /// Index of the `>` closing the tag whose body starts at `from`,
    /// skipping quoted attribute values.
    fn tag_end(xml: &[u8], from: usize) -> Option<usize> {
        let mut i = from;
        loop {
            match *xml.get(i)? {
                b'>' => return Some(i),
                q @ (b'"' | b'\'') => {
                    i += 1 + xml.get(i + 1..)?.iter().position(|&c| c == q)?;
                }
                _ => {}
            }
            i += 1;
        }
    }
    let mut depth = 0usize;
    let mut i = 0;
    // Text between tags holds no `<` in XML (it is escaped as `&lt;`).
    while let Some(p) = xml.get(i..).and_then(|t| t.iter().position(|&c| c == b'<')) {
        let start = i + p;
        let rest = xml.get(start..).unwrap_or_default();
        // `None` below means the input ends inside a construct: the parser
        // fails there, with no element deeper than counted so far.
        let next = if rest.starts_with(b"<!--") {
            past(xml, start + 4, b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            past(xml, start + 9, b"]]>")
        } else if rest.starts_with(b"<?") {
            past(xml, start + 2, b"?>")
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            tag_end(xml, start + 2).map(|e| e + 1)
        } else if rest.starts_with(b"<!") {
            tag_end(xml, start + 2).map(|e| e + 1)
        } else {
            let end = tag_end(xml, start + 1);
            // A `/` right before `>` is outside any quote (a quoted value
            // ends with its quote), so this is a self-closing tag.
            if end.is_none_or(|e| xml.get(e - 1) != Some(&b'/')) {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            end.map(|e| e + 1)
        };
        let Some(n) = next else { return true };
        i = n;
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth))
    }

    /// Regression (fuzzing, 2026-11-28): 30 000 nested elements, 210 kB, under
    /// MAX_XML_BYTES, overflowed the stack when minidom dropped the tree.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!(
            "<encrypted xmlns='urn:xmpp:omemo:2'>{}</encrypted>",
            nested(30_000)
        );
        assert!(text.len() <= MAX_XML_BYTES);
        assert_eq!(
            parse_element(&text).err(),
            Some(OmemoError::TooLarge("XML nesting depth"))
        );
        // Unclosed: was quadratic in the depth inside minidom.
        let open = "<a xmlns='x'>".to_owned() + &"<a>".repeat(80_000);
        assert_eq!(
            parse_element(&open).err(),
            Some(OmemoError::TooLarge("XML nesting depth"))
        );
    }

    #[test]
    fn depth_limit_is_exact_for_well_formed_xml() {
        let at = format!("<r xmlns='x'>{}</r>", nested(MAX_XML_DEPTH - 1));
        assert!(parse_element(&at).is_ok());
        let over = format!("<r xmlns='x'>{}</r>", nested(MAX_XML_DEPTH));
        assert!(parse_element(&over).is_err());
        // Self-closing siblings add no depth (device lists, bundles).
        let wide = format!("<r xmlns='x'>{}</r>", "<d id='1'/>".repeat(900));
        assert!(parse_element(&wide).is_ok());
        // Markup-like text in quotes, comments, CDATA and PIs is not markup.
        let noise = "<e k='/>' l=\"a>b\"/><!-- <a><a> --><![CDATA[<a><a>]]><?p <a>?>";
        let quiet = format!("<r xmlns='x'>{}{}</r>", noise.repeat(100), nested(10));
        assert!(depth_within(quiet.as_bytes(), 11));
        assert!(!depth_within(quiet.as_bytes(), 10));
        // `/>` inside a quoted value does not close the element.
        let sneaky = "<a x='/>'>".repeat(MAX_XML_DEPTH + 1);
        assert!(!depth_within(sneaky.as_bytes(), MAX_XML_DEPTH));
    }
}
