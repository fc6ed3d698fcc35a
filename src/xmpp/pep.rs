//! PEP (XEP-0163) requests as raw elements: fetch items, publish with
//! publish-options, and configure a node when a server refuses the options.
//! OMEMO needs nothing else of XEP-0060, and raw elements keep the
//! "servers differ" fallbacks in plain sight.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

use super::link::new_id;

/// An attribute name, checked at compile time.
macro_rules! nc {
    ($s:literal) => {
        xmpp_parsers::minidom::rxml::xml_ncname!($s).to_owned()
    };
}

pub const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
pub const NS_PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
pub const NS_PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const NS_DATA: &str = "jabber:x:data";

/// How a node should be configured: OMEMO nodes must be readable by anyone
/// who wants to start a session (`access_model=open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeConfig {
    /// `None`: leave the server's default (1 for singleton nodes).
    pub max_items: Option<&'static str>,
    /// `open` for OMEMO; `whitelist` (only ourselves) for bookmarks.
    pub access_model: &'static str,
}

impl NodeConfig {
    /// Readable by anyone (OMEMO device lists and bundles).
    pub const fn open(max_items: Option<&'static str>) -> NodeConfig {
        NodeConfig {
            max_items,
            access_model: "open",
        }
    }
}

/// `<iq type=get><pubsub><items node=…/></pubsub></iq>` to `owner`.
pub fn items_request(owner: &BareJid, node: &str, item_id: Option<&str>) -> Iq {
    let mut items = Element::builder("items", NS_PUBSUB).attr(nc!("node"), node);
    if let Some(id) = item_id {
        items = items.append(
            Element::builder("item", NS_PUBSUB)
                .attr(nc!("id"), id)
                .build(),
        );
    }
    Iq::Get {
        from: None,
        to: Some(Jid::from(owner.clone())),
        id: new_id(),
        payload: Element::builder("pubsub", NS_PUBSUB)
            .append(items.build())
            .build(),
    }
}

/// The `(item id, payload)` pairs of an items result or an event.
pub fn item_payloads(items: &Element, ns: &str) -> Vec<(Option<String>, Element)> {
    items
        .children()
        .filter(|i| i.is("item", ns))
        .filter_map(|i| {
            let payload = i.children().next()?.clone();
            Some((i.attr("id").map(str::to_owned), payload))
        })
        .collect()
}

/// The `<items/>` of an items result.
pub fn result_items(payload: Option<&Element>) -> Option<&Element> {
    payload?.children().find(|c| c.is("items", NS_PUBSUB))
}

/// Publish one item, asking for an open access model.
pub fn publish_request(
    node: &str,
    item_id: &str,
    payload: Element,
    config: Option<NodeConfig>,
) -> Iq {
    let item = Element::builder("item", NS_PUBSUB)
        .attr(nc!("id"), item_id)
        .append(payload)
        .build();
    let mut pubsub = Element::builder("pubsub", NS_PUBSUB).append(
        Element::builder("publish", NS_PUBSUB)
            .attr(nc!("node"), node)
            .append(item)
            .build(),
    );
    if let Some(config) = config {
        pubsub = pubsub.append(
            Element::builder("publish-options", NS_PUBSUB)
                .append(form(
                    "http://jabber.org/protocol/pubsub#publish-options",
                    config,
                ))
                .build(),
        );
    }
    Iq::Set {
        from: None,
        to: None,
        id: new_id(),
        payload: pubsub.build(),
    }
}

/// Withdraw one item of one of our nodes (`notify` so subscribers learn).
pub fn retract_request(node: &str, item_id: &str) -> Iq {
    Iq::Set {
        from: None,
        to: None,
        id: new_id(),
        payload: Element::builder("pubsub", NS_PUBSUB)
            .append(
                Element::builder("retract", NS_PUBSUB)
                    .attr(nc!("node"), node)
                    .attr(nc!("notify"), "true")
                    .append(
                        Element::builder("item", NS_PUBSUB)
                            .attr(nc!("id"), item_id)
                            .build(),
                    )
                    .build(),
            )
            .build(),
    }
}

/// Delete one of our nodes with everything in it (owner namespace).
pub fn delete_request(node: &str) -> Iq {
    Iq::Set {
        from: None,
        to: None,
        id: new_id(),
        payload: Element::builder("pubsub", NS_PUBSUB_OWNER)
            .append(
                Element::builder("delete", NS_PUBSUB_OWNER)
                    .attr(nc!("node"), node)
                    .build(),
            )
            .build(),
    }
}

/// Set the node's configuration (owner namespace), for servers that
/// refuse publish-options.
pub fn configure_request(node: &str, config: NodeConfig) -> Iq {
    Iq::Set {
        from: None,
        to: None,
        id: new_id(),
        payload: Element::builder("pubsub", NS_PUBSUB_OWNER)
            .append(
                Element::builder("configure", NS_PUBSUB_OWNER)
                    .attr(nc!("node"), node)
                    .append(form(
                        "http://jabber.org/protocol/pubsub#node_config",
                        config,
                    ))
                    .build(),
            )
            .build(),
    }
}

fn form(form_type: &str, config: NodeConfig) -> Element {
    let field = |var: &str, value: &str, hidden: bool| {
        let mut b = Element::builder("field", NS_DATA).attr(nc!("var"), var);
        if hidden {
            b = b.attr(nc!("type"), "hidden");
        }
        b.append(
            Element::builder("value", NS_DATA)
                .append(value.to_owned())
                .build(),
        )
        .build()
    };
    let mut x = Element::builder("x", NS_DATA)
        .attr(nc!("type"), "submit")
        .append(field("FORM_TYPE", form_type, true))
        .append(field("pubsub#access_model", config.access_model, false));
    if config.access_model != "open" {
        // Private data (XEP-0223): kept, never pushed to anyone else.
        x = x
            .append(field("pubsub#persist_items", "true", false))
            .append(field("pubsub#send_last_published_item", "never", false));
    }
    if let Some(max) = config.max_items {
        x = x.append(field("pubsub#max_items", max, false));
    }
    x.build()
}

/// A PEP notification: `(publisher, node, items element)`.
pub fn event_items(message: &xmpp_parsers::message::Message) -> Option<(&Element, String)> {
    let event = message
        .payloads
        .iter()
        .find(|p| p.is("event", NS_PUBSUB_EVENT))?;
    let items = event.children().find(|c| c.is("items", NS_PUBSUB_EVENT))?;
    Some((items, items.attr("node")?.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_carries_open_access_options() {
        let iq = publish_request(
            "urn:xmpp:omemo:2:bundles",
            "42",
            Element::builder("bundle", "urn:xmpp:omemo:2").build(),
            Some(NodeConfig::open(Some("max"))),
        );
        let Iq::Set { payload, .. } = iq else {
            panic!("not a set")
        };
        let mut buf = Vec::new();
        payload.write_to(&mut buf).unwrap();
        let xml = String::from_utf8(buf).unwrap();
        assert!(xml.contains("pubsub#publish-options"), "{xml}");
        assert!(xml.contains("<value>open</value>"), "{xml}");
        assert!(xml.contains("<value>max</value>"), "{xml}");
        assert!(xml.contains("id='42'"), "{xml}");
    }
}
