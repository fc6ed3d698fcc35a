//! Bookmarks, so rooms come back on every device. XEP-0402 in PEP where
//! the server keeps it in sync with the older format (it announces
//! `urn:xmpp:bookmarks:1#compat`, as Prosody's mod_bookmarks and ejabberd
//! do); elsewhere XEP-0048 in private XML storage (XEP-0049), which every
//! client reads. Conversations, Dino and Gajim choose the same way, so all
//! of them see the same rooms.

use std::collections::HashMap;

use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

use super::super::Account;
use super::NS_BOOKMARKS2;
use crate::store::RoomRow;
use crate::xmpp::link::{self, IqError};
use crate::xmpp::pep::{self, NodeConfig};

const NS_PRIVATE: &str = "jabber:iq:private";
const NS_BOOKMARKS: &str = "storage:bookmarks";
const COMPAT_FEATURE: &str = "urn:xmpp:bookmarks:1#compat";

/// Where this account keeps its bookmarks; found on each connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum BookmarkStore {
    /// XEP-0402: one PEP item per room.
    #[default]
    Pep,
    /// XEP-0048 in private XML storage: one document with every room.
    Private,
}

/// One bookmarked room, whichever store it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bookmark {
    jid: BareJid,
    name: Option<String>,
    autojoin: bool,
    nick: Option<String>,
}

/// XEP-0048 writes autojoin as `true`/`false` or `1`/`0`.
fn xs_bool(value: Option<&str>) -> bool {
    matches!(value, Some("true" | "1"))
}

/// The rooms of a `<storage xmlns='storage:bookmarks'/>`.
fn parse_private(storage: &Element) -> Vec<Bookmark> {
    storage
        .children()
        .filter(|c| c.is("conference", NS_BOOKMARKS))
        .filter_map(|c| {
            Some(Bookmark {
                jid: BareJid::new(c.attr("jid")?).ok()?,
                name: c.attr("name").filter(|n| !n.is_empty()).map(str::to_owned),
                autojoin: xs_bool(c.attr("autojoin")),
                nick: c
                    .children()
                    .find(|n| n.is("nick", NS_BOOKMARKS))
                    .map(|n| n.text())
                    .filter(|n| !n.is_empty()),
            })
        })
        .collect()
}

/// `storage` with the conference for `room` replaced by `with` (or taken
/// out): everything else in it — other rooms, URLs, what other clients
/// added — is kept, since the document is written back whole.
fn private_with(storage: &Element, room: &str, with: Option<&RoomRow>) -> Element {
    let mut out = Element::builder("storage", NS_BOOKMARKS);
    let mut replaced = false;
    for child in storage.children() {
        let this_room = child.is("conference", NS_BOOKMARKS)
            && child
                .attr("jid")
                .and_then(|j| BareJid::new(j).ok())
                .is_some_and(|j| j.as_str() == room);
        if !this_room {
            out = out.append(child.clone());
        } else if let Some(row) = with.filter(|_| !replaced) {
            out = out.append(private_conference(row, Some(child)));
            replaced = true;
        }
    }
    if let Some(row) = with.filter(|_| !replaced) {
        out = out.append(private_conference(row, None));
    }
    out.build()
}

/// A XEP-0048 conference for `row`, keeping the children of `old` that
/// we do not write ourselves (a password, extensions of other clients).
fn private_conference(row: &RoomRow, old: Option<&Element>) -> Element {
    let mut conf = Element::builder("conference", NS_BOOKMARKS)
        .attr(super::nc!("jid"), row.jid.as_str())
        .attr(
            super::nc!("autojoin"),
            if row.autojoin { "true" } else { "false" },
        );
    let name = row
        .name
        .as_deref()
        .or_else(|| old.and_then(|o| o.attr("name")));
    if let Some(name) = name {
        conf = conf.attr(super::nc!("name"), name);
    }
    conf = conf.append(
        Element::builder("nick", NS_BOOKMARKS)
            .append(row.nick.clone())
            .build(),
    );
    for child in old.into_iter().flat_map(|o| o.children()) {
        if !child.is("nick", NS_BOOKMARKS) {
            conf = conf.append(child.clone());
        }
    }
    conf.build()
}

fn private_query(storage: Element) -> Element {
    Element::builder("query", NS_PRIVATE)
        .append(storage)
        .build()
}

impl Account {
    /// Which store this server wants: asked of our own account (XEP-0402
    /// §5.2: the compat feature sits in the account's disco#info).
    async fn find_bookmark_store(&self) -> BookmarkStore {
        let iq = Iq::from_get(
            link::new_id(),
            xmpp_parsers::disco::DiscoInfoQuery { node: None },
        )
        .with_to(Jid::from(self.jid.clone()));
        let compat = match self.link.iq(iq).await {
            Ok(Some(p)) => xmpp_parsers::disco::DiscoInfoResult::try_from(p)
                .is_ok_and(|info| info.features.iter().any(|f| f == COMPAT_FEATURE)),
            _ => false,
        };
        if compat {
            BookmarkStore::Pep
        } else {
            BookmarkStore::Private
        }
    }

    async fn fetch_bookmarks(&self) -> Result<Vec<Bookmark>, IqError> {
        match self.muc.bookmarks {
            BookmarkStore::Pep => {
                let request = pep::items_request(&self.jid, NS_BOOKMARKS2, None);
                let payload = self.link.iq(request).await?;
                let Some(items) = pep::result_items(payload.as_ref()) else {
                    return Ok(Vec::new());
                };
                Ok(pep::item_payloads(items, pep::NS_PUBSUB)
                    .into_iter()
                    .filter_map(|(id, payload)| {
                        let jid = BareJid::new(&id?).ok()?;
                        let conf = xmpp_parsers::bookmarks2::Conference::try_from(payload).ok()?;
                        Some(Bookmark {
                            jid,
                            name: conf.name.filter(|n| !n.is_empty()),
                            autojoin: conf.autojoin,
                            nick: conf.nick.map(|n| n.to_string()),
                        })
                    })
                    .collect())
            }
            BookmarkStore::Private => Ok(parse_private(&self.private_storage().await?)),
        }
    }

    /// The whole XEP-0048 document (empty when there is none yet).
    async fn private_storage(&self) -> Result<Element, IqError> {
        let get = Iq::Get {
            from: None,
            to: None,
            id: link::new_id(),
            payload: private_query(Element::builder("storage", NS_BOOKMARKS).build()),
        };
        let payload = self.link.iq(get).await?;
        Ok(payload
            .as_ref()
            .and_then(|q| q.children().find(|c| c.is("storage", NS_BOOKMARKS)))
            .cloned()
            .unwrap_or_else(|| Element::builder("storage", NS_BOOKMARKS).build()))
    }

    /// Read, change one room, write back: XEP-0048 has no finer update.
    async fn update_private(&self, room: &str, with: Option<&RoomRow>) -> Result<(), IqError> {
        let storage = self.private_storage().await?;
        let set = Iq::Set {
            from: None,
            to: None,
            id: link::new_id(),
            payload: private_query(private_with(&storage, room, with)),
        };
        self.link.iq(set).await.map(drop)
    }

    /// On connect: find the store, and rooms bookmarked by any of our
    /// clients become rooms here too.
    pub(super) async fn sync_bookmarks(&mut self) {
        self.muc.bookmarks = self.find_bookmark_store().await;
        let bookmarks = match self.fetch_bookmarks().await {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(store = ?self.muc.bookmarks, "no bookmarks: {e}");
                return;
            }
        };
        let known: HashMap<String, RoomRow> = self
            .store
            .rooms(self.row.id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.jid.clone(), r))
            .collect();
        // A room another of our devices left has lost its bookmark: stop
        // joining it here too. Only rooms that were bookmarked before, so a
        // room whose bookmark could not be saved is not dropped.
        let marked: std::collections::HashSet<&str> =
            bookmarks.iter().map(|b| b.jid.as_str()).collect();
        for row in known.values() {
            if row.autojoin && row.bookmarked && !marked.contains(row.jid.as_str()) {
                tracing::info!(room = %row.jid, "bookmark removed elsewhere: not joining");
                if let Err(e) = self
                    .store
                    .set_room_autojoin(self.row.id, &row.jid, false)
                    .await
                {
                    tracing::warn!("forgetting the room failed: {e}");
                }
            }
        }
        for mark in bookmarks {
            let nick = mark
                .nick
                .or_else(|| known.get(mark.jid.as_str()).map(|k| k.nick.clone()))
                .unwrap_or_else(|| self.default_nick());
            if known
                .get(mark.jid.as_str())
                .is_some_and(|k| k.autojoin == mark.autojoin && k.nick == nick && k.bookmarked)
            {
                continue;
            }
            let row = RoomRow {
                jid: mark.jid.to_string(),
                nick,
                name: mark.name,
                autojoin: mark.autojoin,
                subject: None,
                bookmarked: true,
            };
            let kind = self
                .store
                .conversation(self.row.id, mark.jid.as_str())
                .await
                .ok()
                .flatten()
                .map(|c| c.kind)
                .unwrap_or_else(|| "group".into());
            let saved = match self.store.save_room(self.row.id, &row, &kind).await {
                Ok(()) => {
                    self.store
                        .set_room_bookmarked(self.row.id, &row.jid, true)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = saved {
                tracing::warn!("saving a bookmark failed: {e}");
            }
        }
    }

    pub(super) async fn publish_bookmark(&self, room: &RoomRow) {
        let result = match self.muc.bookmarks {
            BookmarkStore::Pep => {
                let mut conf = Element::builder("conference", NS_BOOKMARKS2).attr(
                    super::nc!("autojoin"),
                    if room.autojoin { "true" } else { "false" },
                );
                if let Some(name) = &room.name {
                    conf = conf.attr(super::nc!("name"), name.as_str());
                }
                let conf = conf
                    .append(
                        Element::builder("nick", NS_BOOKMARKS2)
                            .append(room.nick.clone())
                            .build(),
                    )
                    .build();
                let config = NodeConfig {
                    max_items: Some("max"),
                    access_model: "whitelist",
                };
                self.publish(NS_BOOKMARKS2, &room.jid, conf, config).await
            }
            BookmarkStore::Private => self.update_private(&room.jid, Some(room)).await,
        };
        match result {
            Ok(()) => {
                if let Err(e) = self
                    .store
                    .set_room_bookmarked(self.row.id, &room.jid, true)
                    .await
                {
                    tracing::warn!("remembering the bookmark failed: {e}");
                }
            }
            Err(e) => tracing::info!(room = %room.jid, "bookmark not saved: {e}"),
        }
    }

    pub(super) async fn retract_bookmark(&self, room: &str) {
        let result = match self.muc.bookmarks {
            BookmarkStore::Pep => self
                .link
                .iq(pep::retract_request(NS_BOOKMARKS2, room))
                .await
                .map(drop),
            BookmarkStore::Private => self.update_private(room, None).await,
        };
        if let Err(e) = result {
            tracing::debug!(%room, "bookmark not removed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(jid: &str, nick: &str, autojoin: bool) -> RoomRow {
        RoomRow {
            jid: jid.into(),
            nick: nick.into(),
            name: None,
            autojoin,
            subject: None,
            bookmarked: false,
        }
    }

    fn storage(xml: &str) -> Element {
        xml.parse().expect("test XML")
    }

    #[test]
    fn private_storage_is_read_as_xep_0048_writes_it() {
        let s = storage(
            "<storage xmlns='storage:bookmarks'>\
               <conference jid='team@conf.x' name='Team' autojoin='1'><nick>al</nick></conference>\
               <conference jid='lobby@conf.x' autojoin='false'/>\
               <conference jid='not a jid@@' autojoin='true'/>\
               <url name='site' url='https://x'/>\
             </storage>",
        );
        let got = parse_private(&s);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].jid.as_str(), "team@conf.x");
        assert_eq!(got[0].name.as_deref(), Some("Team"));
        assert!(got[0].autojoin);
        assert_eq!(got[0].nick.as_deref(), Some("al"));
        assert!(!got[1].autojoin);
        assert_eq!(got[1].nick, None);
    }

    #[test]
    fn updating_one_room_keeps_every_other_entry_and_extension() {
        let s = storage(
            "<storage xmlns='storage:bookmarks'>\
               <conference jid='team@conf.x' name='Team' autojoin='false'>\
                 <nick>old</nick><password>pw</password></conference>\
               <conference jid='other@conf.x' autojoin='true'/>\
               <url name='site' url='https://x'/>\
             </storage>",
        );
        let updated = private_with(&s, "team@conf.x", Some(&row("team@conf.x", "new", true)));
        let got = parse_private(&updated);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].nick.as_deref(), Some("new"));
        assert_eq!(got[0].name.as_deref(), Some("Team"), "the name is kept");
        assert!(got[0].autojoin);
        let team = updated.children().next().expect("conference");
        assert!(team.children().any(|c| c.name() == "password"));
        assert!(updated.children().any(|c| c.name() == "url"));

        let added = private_with(&updated, "new@conf.x", Some(&row("new@conf.x", "me", true)));
        assert_eq!(parse_private(&added).len(), 3);

        let removed = private_with(&added, "team@conf.x", None);
        let left: Vec<_> = parse_private(&removed)
            .into_iter()
            .map(|b| b.jid.to_string())
            .collect();
        assert_eq!(left, vec!["other@conf.x", "new@conf.x"]);
        assert!(removed.children().any(|c| c.name() == "url"));
    }
}
