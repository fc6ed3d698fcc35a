//! OMEMO in the service (ARCHITECTURE.md "OMEMO", "Trust"): our device,
//! device lists and bundles in both namespaces, sessions, trust, and the
//! encrypt/decrypt steps the messaging layer calls. The protocol itself is
//! the pure `crate::omemo`; this file is the I/O and the bookkeeping.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tokio_xmpp::parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;

use super::Account;
use crate::omemo::{
    Bundle, DeviceList, DeviceListEntry, EncryptedMessage, Namespace, OmemoError, OwnDevice,
    Session,
};
use crate::service::EncryptionPolicy;
use crate::service::api::{DeviceInfo, Event, ServiceError, Trust};
use crate::store::omemo as ostore;
use crate::xmpp::link::IqError;
use crate::xmpp::pep::{self, NodeConfig};

pub(crate) const NAMESPACES: [Namespace; 2] = [Namespace::TwoMemo, Namespace::OldMemo];
/// A device we could not decrypt from gets at most one repair message per
/// this interval (ARCHITECTURE.md: repair, rate-limited).
const REPAIR_INTERVAL: Duration = Duration::from_secs(3600);
const DEVICE_LABEL: &str = "Sotto";
/// Requests to the server in flight at once while building sessions.
const FETCH_CONCURRENCY: usize = 8;

/// OMEMO state of one connected account.
pub(crate) struct E2e {
    pub own: OwnDevice,
    /// Pre-keys consumed during catch-up, removed when it ends.
    pub deferred_pre_keys: Vec<u32>,
    /// Session completions (empty messages) held until catch-up ends.
    pub held_replies: Vec<(Namespace, String, u32)>,
    pub repairs: HashMap<(String, u32), Instant>,
    /// Contacts whose device lists were fetched on this connection.
    pub fetched: HashSet<String>,
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn ns_str(ns: Namespace) -> &'static str {
    match ns {
        Namespace::OldMemo => "omemo0",
        Namespace::TwoMemo => "omemo2",
    }
}

/// Canonical key bytes for trust: the Curve25519 form, the same in both
/// namespaces (and the one QR codes carry).
pub(crate) fn trust_key(identity: &crate::omemo::IdentityKey) -> Vec<u8> {
    identity
        .curve25519()
        .map(|k| k.to_vec())
        .unwrap_or_else(|| identity.as_bytes().to_vec())
}

/// A fingerprint as people type it: hex, any case, spaces and colons ignored.
pub(crate) fn normalize_fingerprint(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// How one device fared when encrypting a message.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Recipient {
    pub jid: String,
    pub device_id: u32,
    pub namespace: &'static str,
    /// `None` when it got the key; otherwise why not.
    pub left_out: Option<String>,
}

impl Account {
    fn e2e(&self) -> Option<&E2e> {
        self.e2e.as_ref()
    }

    /// Publish-options first; a server that refuses them gets the node
    /// configured and the item published again (Prosody 0.12 honours the
    /// options, others answer precondition-not-met).
    pub(super) async fn publish(
        &self,
        node: &str,
        item: &str,
        payload: Element,
        config: NodeConfig,
    ) -> Result<(), IqError> {
        match self
            .link
            .iq(pep::publish_request(
                node,
                item,
                payload.clone(),
                Some(config),
            ))
            .await
        {
            Ok(_) => return Ok(()),
            Err(IqError::Stanza(e)) => {
                tracing::info!(node, "publish-options refused ({e}); configuring the node")
            }
            Err(e) => return Err(e),
        }
        if self
            .link
            .iq(pep::configure_request(node, config))
            .await
            .is_err()
        {
            // The node may not exist yet: create it by publishing, then configure.
            self.link
                .iq(pep::publish_request(node, item, payload.clone(), None))
                .await?;
            return self
                .link
                .iq(pep::configure_request(node, config))
                .await
                .map(drop);
        }
        self.link
            .iq(pep::publish_request(node, item, payload, None))
            .await
            .map(drop)
    }

    pub(super) async fn fetch_device_list(
        &self,
        jid: &BareJid,
        ns: Namespace,
    ) -> Result<Option<DeviceList>, IqError> {
        let answer = self
            .link
            .iq(pep::items_request(jid, DeviceList::pep_node(ns), None))
            .await;
        let payload = match answer {
            Ok(p) => p,
            // No node: this contact has no devices in this namespace.
            Err(IqError::Stanza(e)) => {
                tracing::debug!(%jid, ns = ns_str(ns), "no device list: {e}");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(items) = pep::result_items(payload.as_ref()) else {
            return Ok(None);
        };
        let list = pep::item_payloads(items, pep::NS_PUBSUB)
            .into_iter()
            .next()
            .and_then(|(_, p)| match DeviceList::from_xml(ns, &p) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::info!(%jid, "unusable device list: {e}");
                    None
                }
            });
        Ok(list)
    }

    pub(super) async fn fetch_bundle(
        &self,
        jid: &BareJid,
        ns: Namespace,
        device_id: u32,
    ) -> Result<Bundle, String> {
        let (node, item) = bundle_location(ns, device_id);
        let payload = self
            .link
            .iq(pep::items_request(jid, &node, Some(&item)))
            .await
            .map_err(|e| format!("no bundle: {e}"))?;
        let items = pep::result_items(payload.as_ref()).ok_or("no bundle published")?;
        let (_, bundle) = pep::item_payloads(items, pep::NS_PUBSUB)
            .into_iter()
            .next()
            .ok_or("no bundle published")?;
        Bundle::from_xml(ns, device_id, &bundle).map_err(|e| e.to_string())
    }

    /// On every fresh stream: load or create our device, make sure both
    /// device lists name it, and publish fresh bundles.
    pub(crate) async fn omemo_setup(&mut self) -> Result<(), String> {
        let mut lists = HashMap::new();
        for ns in NAMESPACES {
            let list = self
                .fetch_device_list(&self.jid, ns)
                .await
                .map_err(|e| e.to_string())?
                .unwrap_or(DeviceList {
                    namespace: ns,
                    devices: Vec::new(),
                });
            lists.insert(ns, list);
        }
        let stored = self
            .store
            .load_own_device(self.row.id)
            .await
            .map_err(|e| e.to_string())?;
        let now = now_secs();
        let (mut own, mut changed) = match stored {
            Some(own) => (own, false),
            None => {
                let taken: Vec<u32> = lists.values().flat_map(|l| l.ids()).collect();
                (OwnDevice::generate(&mut rand::rng(), &taken, now), true)
            }
        };
        changed |= own.rotate_signed_pre_key_if_due(&mut rand::rng(), now);
        changed |= own.replenish_pre_keys(&mut rand::rng()) > 0;
        if changed {
            let mut tx = self.store.begin().await.map_err(|e| e.to_string())?;
            ostore::save_own_device_in(&mut tx, self.row.id, &own)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
        }
        let own_id = own.device_id();
        for ns in NAMESPACES {
            let Some(mut list) = lists.remove(&ns) else {
                continue;
            };
            if !list.devices.iter().any(|d| d.id == own_id) {
                list.devices.push(DeviceListEntry::signed(
                    own_id,
                    DEVICE_LABEL,
                    own.identity(),
                ));
                self.publish(
                    DeviceList::pep_node(ns),
                    "current",
                    list.to_xml(),
                    NodeConfig::open(None),
                )
                .await
                .map_err(|e| format!("publishing the device list: {e}"))?;
            }
            self.record_device_list(&self.jid.clone(), ns, &list).await;
        }
        self.e2e = Some(E2e {
            own,
            deferred_pre_keys: Vec::new(),
            held_replies: Vec::new(),
            repairs: HashMap::new(),
            fetched: HashSet::new(),
        });
        self.publish_bundles().await
    }

    pub(crate) async fn publish_bundles(&self) -> Result<(), String> {
        let Some(e2e) = self.e2e() else {
            return Ok(());
        };
        for ns in NAMESPACES {
            let bundle = e2e.own.bundle(ns);
            let (node, item) = bundle.pep_location();
            let max_items = (ns == Namespace::TwoMemo).then_some("max");
            self.publish(&node, &item, bundle.to_xml(), NodeConfig::open(max_items))
                .await
                .map_err(|e| format!("publishing the bundle: {e}"))?;
        }
        Ok(())
    }

    async fn record_device_list(&self, jid: &BareJid, ns: Namespace, list: &DeviceList) {
        let entries: Vec<(u32, Option<String>)> = list
            .devices
            .iter()
            .map(|d| (d.id, d.label.clone()))
            .collect();
        let result = async {
            let mut tx = self.store.begin_received().await?;
            let change =
                ostore::apply_device_list_in(&mut tx, self.row.id, &jid.to_string(), ns, &entries)
                    .await?;
            tx.commit().await?;
            Ok::<_, crate::store::StoreError>(change)
        }
        .await;
        match result {
            // Only news: views refetch on this event, and a fetch records
            // the lists again.
            Ok(change) if change.is_empty() => {}
            Ok(_) => self.emit(Event::DevicesChanged {
                account: self.row.jid.clone(),
                jid: jid.to_string(),
            }),
            Err(e) => tracing::warn!("storing a device list failed: {e}"),
        }
    }

    /// Take a lost device of ours off both device lists and withdraw its
    /// bundles. The list is fetched fresh so that a device added meanwhile
    /// by another client is kept.
    pub(crate) async fn remove_own_device(&mut self, device_id: u32) -> Result<(), ServiceError> {
        let Some(own_id) = self.e2e().map(|e| e.own.device_id()) else {
            return Err(ServiceError::NotConnected);
        };
        if device_id == own_id {
            return Err(ServiceError::ThisDevice);
        }
        let jid = self.jid.clone();
        for ns in NAMESPACES {
            let list = self
                .fetch_device_list(&jid, ns)
                .await
                .map_err(|e| ServiceError::Refused(e.to_string()))?;
            let Some(mut list) = list else { continue };
            let before = list.devices.len();
            list.devices.retain(|d| d.id != device_id);
            if list.devices.len() != before {
                self.publish(
                    DeviceList::pep_node(ns),
                    "current",
                    list.to_xml(),
                    NodeConfig::open(None),
                )
                .await
                .map_err(|e| ServiceError::Refused(e.to_string()))?;
            }
            self.record_device_list(&jid, ns, &list).await;
            // Its bundle would still let others start sessions with it;
            // failing to withdraw it is harmless once it is off the list.
            let (node, item) = bundle_location(ns, device_id);
            let withdraw = match ns {
                Namespace::OldMemo => pep::delete_request(&node),
                Namespace::TwoMemo => pep::retract_request(&node, &item),
            };
            if let Err(e) = self.link.iq(withdraw).await {
                tracing::info!(device_id, ns = ns_str(ns), "bundle not withdrawn: {e}");
            }
        }
        Ok(())
    }

    /// Fetch and record both device lists of `jid`.
    pub(crate) async fn refresh_device_lists(&self, jid: &BareJid) {
        for ns in NAMESPACES {
            match self.fetch_device_list(jid, ns).await {
                Ok(Some(list)) => self.record_device_list(jid, ns, &list).await,
                Ok(None) => {}
                Err(e) => tracing::info!(%jid, "device list fetch failed: {e}"),
            }
        }
    }

    /// Learn the identity keys of listed devices we know no key for (from
    /// their bundles), so they can be shown with fingerprints and verified.
    pub(crate) async fn fill_identities(&self, jid: &BareJid) {
        let Ok(devices) = self
            .store
            .devices(self.row.id, Some(&jid.to_string()))
            .await
        else {
            return;
        };
        for d in devices
            .iter()
            .filter(|d| d.active && d.identity_key.is_none())
        {
            match self.fetch_bundle(jid, d.namespace, d.device_id).await {
                Ok(bundle) => {
                    let key = trust_key(&bundle.identity_key);
                    let _ = self
                        .store
                        .set_device_identity(self.row.id, &d.jid, d.namespace, d.device_id, &key)
                        .await;
                }
                Err(e) => tracing::info!(%jid, device = d.device_id, "no bundle: {e}"),
            }
        }
    }

    /// A PEP notification for one of the OMEMO device list nodes.
    pub(crate) async fn on_device_list_event(
        &mut self,
        from: BareJid,
        node: &str,
        items: &Element,
    ) {
        let Some(ns) = NAMESPACES
            .into_iter()
            .find(|ns| DeviceList::pep_node(*ns) == node)
        else {
            return;
        };
        let Some((_, payload)) = pep::item_payloads(items, pep::NS_PUBSUB_EVENT)
            .into_iter()
            .next()
        else {
            return;
        };
        let Ok(mut list) = DeviceList::from_xml(ns, &payload) else {
            tracing::info!(%from, "ignoring an unusable device list");
            return;
        };
        if from == self.jid
            && let Some(e2e) = self.e2e()
        {
            // Another client of ours replaced the list without us: put us back.
            let own_id = e2e.own.device_id();
            if !list.devices.iter().any(|d| d.id == own_id) {
                list.devices.push(DeviceListEntry::signed(
                    own_id,
                    DEVICE_LABEL,
                    e2e.own.identity(),
                ));
                if let Err(e) = self
                    .publish(
                        DeviceList::pep_node(ns),
                        "current",
                        list.to_xml(),
                        NodeConfig::open(None),
                    )
                    .await
                {
                    tracing::warn!("re-adding our device to the list failed: {e}");
                }
            }
        }
        self.record_device_list(&from, ns, &list).await;
    }

    /// The policy of Preferences; an unreadable setting means the default.
    async fn policy(&self) -> EncryptionPolicy {
        crate::service::policy::load(&self.store)
            .await
            .unwrap_or_default()
    }

    pub(crate) async fn btbv(&self) -> bool {
        self.policy().await.blind_trust
    }

    /// Sessions for every device that should get this message: the peer's
    /// active devices and our own other active devices. Missing sessions are
    /// built from bundles. Returns the sessions (grouped by namespace) and a
    /// record of every device and whether it got the key.
    /// Sessions with every trusted device of `peers` (a contact, or the
    /// participants of a group chat) and of our own other devices.
    pub(crate) async fn sessions_for_all(
        &mut self,
        peers: &[BareJid],
    ) -> (Vec<Session>, Vec<Recipient>) {
        let mut sessions = Vec::new();
        let mut report = Vec::new();
        let mut candidates = Vec::new();
        let stale_days = i64::from(self.policy().await.stale_device_days);
        let stale_after_ms = stale_days.saturating_mul(86_400_000);
        let own_id = match self.e2e() {
            Some(e) => e.own.device_id(),
            None => return (sessions, report),
        };
        let everyone = peers
            .iter()
            .filter(|p| **p != self.jid)
            .cloned()
            .chain([self.jid.clone()])
            .collect::<Vec<_>>();
        // Device lists of whoever we have not asked this connection, a few
        // at a time: a new room of 50 members is 100 requests.
        let unfetched: Vec<BareJid> = everyone
            .iter()
            .filter(|jid| **jid != self.jid)
            .filter(|jid| {
                self.e2e
                    .as_mut()
                    .is_some_and(|e| e.fetched.insert(jid.to_string()))
            })
            .cloned()
            .collect();
        for chunk in unfetched.chunks(FETCH_CONCURRENCY) {
            let this = &*self;
            let fetches: Vec<_> = chunk
                .iter()
                .map(|jid| this.refresh_device_lists(jid))
                .collect();
            futures_util::future::join_all(fetches).await;
        }
        let mut targets = Vec::new();
        for jid in everyone {
            let jid_str = jid.to_string();
            let devices = match self.store.devices(self.row.id, Some(&jid_str)).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("device lookup failed: {e}");
                    continue;
                }
            };
            // Per device, :2 where it is listed there, else 0.3.
            let mut chosen: HashMap<u32, Namespace> = HashMap::new();
            let stale_before = crate::store::now_ms() - stale_after_ms;
            for d in devices.iter().filter(|d| d.active) {
                if jid == self.jid && d.device_id == own_id {
                    continue;
                }
                // Own devices silent for long are not encrypted to (but stay
                // listed): a lost phone should not get every message forever.
                if jid == self.jid
                    && stale_days > 0
                    && d.last_seen.is_some_and(|t| t < stale_before)
                {
                    report.push(Recipient {
                        jid: jid_str.clone(),
                        device_id: d.device_id,
                        namespace: ns_str(d.namespace),
                        left_out: Some(crate::i18n::gettext("stale: silent for too long")),
                    });
                    continue;
                }
                let ns = d.namespace;
                let entry = chosen.entry(d.device_id).or_insert(ns);
                if ns == Namespace::TwoMemo {
                    *entry = ns;
                }
            }
            let mut ids: Vec<_> = chosen.into_iter().collect();
            ids.sort_by_key(|(id, _)| *id);
            for (device_id, ns) in ids {
                targets.push((jid.clone(), ns, device_id));
            }
        }
        // Stored sessions load quickly; missing ones wait for a bundle from
        // the server, so those requests overlap.
        let mut found: Vec<Result<Session, String>> = Vec::with_capacity(targets.len());
        for chunk in targets.chunks(FETCH_CONCURRENCY) {
            let this = &*self;
            let loads: Vec<_> = chunk
                .iter()
                .map(|(jid, ns, device_id)| this.session_with(jid, *ns, *device_id))
                .collect();
            found.extend(futures_util::future::join_all(loads).await);
        }
        for ((jid, ns, device_id), result) in targets.into_iter().zip(found) {
            let rec = Recipient {
                jid: jid.to_string(),
                device_id,
                namespace: ns_str(ns),
                left_out: None,
            };
            match result {
                Ok(session) => candidates.push((rec, session)),
                Err(e) => report.push(Recipient {
                    left_out: Some(e),
                    ..rec
                }),
            }
        }
        // Trust for all of them in one transaction, not one each.
        let keys: Vec<(String, u32, Vec<u8>)> = candidates
            .iter()
            .map(|(r, s)| (r.jid.clone(), r.device_id, trust_key(s.peer_identity())))
            .collect();
        let btbv = self.btbv().await;
        let decisions = match self
            .store
            .decide_new_devices(self.row.id, &keys, btbv)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("trust lookup failed: {e}");
                Vec::new()
            }
        };
        for (i, (mut rec, session)) in candidates.into_iter().enumerate() {
            let trust = match decisions.get(i) {
                Some(d) => {
                    if d.identity_changed {
                        self.emit(Event::IdentityChanged {
                            account: self.row.jid.clone(),
                            jid: rec.jid.clone(),
                            device_id: rec.device_id,
                            fingerprint: hex::encode(&keys[i].2),
                        });
                        self.emit(Event::DevicesChanged {
                            account: self.row.jid.clone(),
                            jid: rec.jid.clone(),
                        });
                    }
                    Trust::parse(d.level.as_str())
                }
                None => Trust::Undecided,
            };
            if trust.is_trusted() {
                sessions.push(session);
            } else {
                rec.left_out = Some(match trust {
                    Trust::Distrusted => crate::i18n::gettext("not trusted (distrusted by you)"),
                    Trust::Undecided => {
                        crate::i18n::gettext("not trusted (undecided: waiting for your decision)")
                    }
                    _ => crate::i18n::gettext("not trusted"),
                });
            }
            report.push(rec);
        }
        report.sort_by(|a, b| (&a.jid, a.device_id).cmp(&(&b.jid, b.device_id)));
        (sessions, report)
    }

    /// A new session from the device's bundle (for repairs).
    pub(crate) async fn new_session(
        &self,
        jid: &BareJid,
        ns: Namespace,
        device_id: u32,
    ) -> Result<Session, String> {
        let own = &self.e2e().ok_or("OMEMO is not ready")?.own;
        let bundle = self.fetch_bundle(jid, ns, device_id).await?;
        let key = trust_key(&bundle.identity_key);
        let _ = self
            .store
            .set_device_identity(self.row.id, &jid.to_string(), ns, device_id, &key)
            .await;
        Session::from_bundle(&mut rand::rng(), own, &jid.to_string(), &bundle)
            .map_err(|e| format!("bad bundle: {e}"))
    }

    async fn session_with(
        &self,
        jid: &BareJid,
        ns: Namespace,
        device_id: u32,
    ) -> Result<Session, String> {
        let jid_str = jid.to_string();
        let stored = async {
            let mut conn = self.store.pool().acquire().await?;
            ostore::load_session_in(&mut conn, self.row.id, ns, &jid_str, device_id).await
        }
        .await
        .map_err(|e| e.to_string())?;
        match stored {
            Some(s) => Ok(s),
            None => self.new_session(jid, ns, device_id).await,
        }
    }

    /// Encrypt `payload` (per namespace: the body for 0.3, an SCE envelope
    /// for :2) for the given sessions; sessions are advanced and must be
    /// saved by the caller once the stanza is queued.
    pub(crate) fn encrypt_for(
        &self,
        sessions: &mut [Session],
        payload: &dyn Fn(Namespace) -> Option<Vec<u8>>,
    ) -> Result<Vec<EncryptedMessage>, OmemoError> {
        let own_id = self
            .e2e()
            .map(|e| e.own.device_id())
            .ok_or(OmemoError::NoSession)?;
        let mut out = Vec::new();
        for ns in NAMESPACES {
            let mut group: Vec<&mut Session> = sessions
                .iter_mut()
                .filter(|s| s.namespace() == ns)
                .collect();
            if group.is_empty() {
                continue;
            }
            let plaintext = payload(ns);
            out.push(crate::omemo::encrypt(
                &mut rand::rng(),
                ns,
                own_id,
                &mut group,
                plaintext.as_deref(),
            )?);
        }
        Ok(out)
    }

    pub(crate) async fn save_sessions(&self, sessions: &[Session]) {
        let result = async {
            let mut tx = self.store.begin().await?;
            for s in sessions {
                ostore::save_session_in(&mut tx, self.row.id, s).await?;
            }
            tx.commit().await?;
            Ok::<_, crate::store::StoreError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!("saving sessions failed: {e}");
        }
    }

    /// Whether we may send a repair to this device now (rate limit).
    pub(crate) fn repair_due(&mut self, jid: &str, device_id: u32) -> bool {
        let Some(e2e) = self.e2e.as_mut() else {
            return false;
        };
        let key = (jid.to_owned(), device_id);
        match e2e.repairs.get(&key) {
            Some(t) if t.elapsed() < REPAIR_INTERVAL => false,
            _ => {
                e2e.repairs.insert(key, Instant::now());
                true
            }
        }
    }

    /// The devices of `jid` (ours when it is our own address) for display.
    pub(crate) async fn device_infos(
        &self,
        jid: &str,
    ) -> Result<Vec<DeviceInfo>, crate::store::StoreError> {
        device_infos(&self.store, self.row.id, jid, self.e2e().map(|e| &e.own)).await
    }
}

/// Devices with trust, from the store alone (works offline).
pub(crate) async fn device_infos(
    store: &crate::store::Store,
    account_id: i64,
    jid: &str,
    own: Option<&OwnDevice>,
) -> Result<Vec<DeviceInfo>, crate::store::StoreError> {
    let rows = store.devices(account_id, Some(jid)).await?;
    // Every decision about this JID, old keys included: one query, and the
    // history shows whether a device id came back with another key.
    let decisions = store.trust_rows(account_id, jid).await?;
    let decided_at = |device_id: u32, key: &[u8]| {
        decisions
            .iter()
            .filter(|t| t.device_id == device_id && t.identity_key == key)
            .map(|t| t.decided_at)
            .max()
    };
    let mut by_id: std::collections::BTreeMap<u32, DeviceInfo> = Default::default();
    for r in rows {
        let entry = by_id.entry(r.device_id).or_insert_with(|| DeviceInfo {
            jid: r.jid.clone(),
            device_id: r.device_id,
            namespaces: Vec::new(),
            label: None,
            fingerprint: None,
            trust: Trust::Undecided,
            active: false,
            own: own.is_some_and(|o| o.device_id() == r.device_id),
            last_seen: None,
            identity_changed: false,
            previous_fingerprint: None,
        });
        entry.namespaces.push(ns_str(r.namespace).to_owned());
        entry.active |= r.active;
        entry.label = entry.label.take().or(r.label.clone());
        entry.last_seen = entry.last_seen.max(r.last_seen);
        // A key change learned in one namespace leaves the other's row
        // with the old key until its bundle is fetched again: the key seen
        // (decided about) last is the device's key now.
        if let Some(k) = &r.identity_key {
            let newer = match entry.fingerprint.as_deref().map(hex::decode) {
                Some(Ok(shown)) => decided_at(r.device_id, k) > decided_at(r.device_id, &shown),
                _ => true,
            };
            if newer {
                entry.fingerprint = Some(hex::encode(k));
            }
        }
    }
    let blind_trust = tokio::sync::OnceCell::new();
    let mut out = Vec::new();
    for (_, mut d) in by_id {
        if d.own
            && let Some(o) = own
        {
            d.fingerprint = crate::omemo::fingerprint::qr(&o.identity_key(Namespace::OldMemo));
            d.trust = Trust::Verified;
        } else if let Some(fp) = &d.fingerprint
            && let Ok(key) = hex::decode(fp)
        {
            let of_device: Vec<_> = decisions
                .iter()
                .filter(|t| t.device_id == d.device_id)
                .collect();
            match of_device.iter().find(|t| t.identity_key == key) {
                Some(current) => {
                    d.trust = Trust::parse(current.level.as_str());
                    // Rows come oldest first: the key decided about last
                    // before this one is the one it replaced.
                    let previous = of_device
                        .iter()
                        .rev()
                        .find(|t| t.identity_key != key && t.decided_at <= current.decided_at);
                    if let Some(previous) = previous
                        && current.level == ostore::TrustLevel::Undecided
                        && current.source == ostore::TrustSource::Btbv
                    {
                        d.identity_changed = true;
                        d.previous_fingerprint = Some(hex::encode(&previous.identity_key));
                    }
                }
                // Known from its bundle, not used yet: show the decision
                // the first message will make, so that a device blind
                // trust will take is not shown as waiting for the user.
                None => {
                    let btbv = *blind_trust
                        .get_or_init(|| async {
                            crate::service::policy::load(store)
                                .await
                                .map(|p| p.blind_trust)
                                .unwrap_or(true)
                        })
                        .await;
                    let any_verified = decisions
                        .iter()
                        .any(|t| t.level == ostore::TrustLevel::Verified);
                    let previous = of_device.last();
                    d.trust = Trust::parse(
                        ostore::new_device_level(btbv, previous.is_some(), any_verified).as_str(),
                    );
                    if let Some(previous) = previous {
                        d.identity_changed = true;
                        d.previous_fingerprint = Some(hex::encode(&previous.identity_key));
                    }
                }
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// Where a device's bundle lives: `(node, item id)`.
fn bundle_location(ns: Namespace, device_id: u32) -> (String, String) {
    Bundle {
        namespace: ns,
        device_id,
        identity_key: crate::omemo::IdentityKey::Curve25519([0; 32]),
        signed_pre_key_id: 0,
        signed_pre_key: [0; 32],
        signed_pre_key_signature: Vec::new(),
        pre_keys: Vec::new(),
    }
    .pep_location()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    const BOB: &str = "bob@example.org";

    /// A device id that comes back with another key is flagged, shows the
    /// old key, and stays flagged until the user decides about the new key.
    #[tokio::test]
    async fn a_new_key_for_a_known_device_is_a_warning_until_decided() {
        let (_dir, store) = temp_store().await;
        let acc = store
            .add_account("alice@example.org", None, None)
            .await
            .unwrap()
            .id;
        store
            .apply_device_list(acc, BOB, Namespace::TwoMemo, &[(7, None), (8, None)])
            .await
            .unwrap();
        let (old, new, other) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        for (device, key) in [(7, old), (8, other)] {
            store
                .set_device_identity(acc, BOB, Namespace::TwoMemo, device, &key)
                .await
                .unwrap();
            store
                .decide_new_device(acc, BOB, device, &key, true)
                .await
                .unwrap();
        }
        // Device 7 is in the 0.3 list too, with the same key.
        store
            .apply_device_list(acc, BOB, Namespace::OldMemo, &[(7, None)])
            .await
            .unwrap();
        store
            .set_device_identity(acc, BOB, Namespace::OldMemo, 7, &old)
            .await
            .unwrap();
        let shown = device_infos(&store, acc, BOB, None).await.unwrap();
        assert!(shown.iter().all(|d| !d.identity_changed), "{shown:?}");
        assert!(shown.iter().all(|d| d.trust == Trust::Blind), "{shown:?}");

        // Device 7 now shows another key, learned through :2 only (decision
        // times are in milliseconds).
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        store
            .set_device_identity(acc, BOB, Namespace::TwoMemo, 7, &new)
            .await
            .unwrap();
        let decision = store
            .decide_new_device(acc, BOB, 7, &new, true)
            .await
            .unwrap();
        assert!(decision.identity_changed);
        let shown = device_infos(&store, acc, BOB, None).await.unwrap();
        let seven = shown.iter().find(|d| d.device_id == 7).unwrap();
        assert!(seven.identity_changed, "{seven:?}");
        assert_eq!(seven.trust, Trust::Undecided, "never inherited: {seven:?}");
        assert_eq!(
            seven.fingerprint.as_deref(),
            Some(hex::encode(new).as_str())
        );
        assert_eq!(
            seven.previous_fingerprint.as_deref(),
            Some(hex::encode(old).as_str())
        );
        let eight = shown.iter().find(|d| d.device_id == 8).unwrap();
        assert!(!eight.identity_changed, "{eight:?}");

        // Deciding, either way, answers the warning.
        store
            .set_trust(
                acc,
                BOB,
                7,
                &new,
                ostore::TrustLevel::Distrusted,
                ostore::TrustSource::Manual,
            )
            .await
            .unwrap();
        let shown = device_infos(&store, acc, BOB, None).await.unwrap();
        let seven = shown.iter().find(|d| d.device_id == 7).unwrap();
        assert!(!seven.identity_changed, "{seven:?}");
        assert_eq!(seven.trust, Trust::Distrusted);

        // A device known only from its bundle shows what its first message
        // will decide: blind while nobody is verified, else undecided.
        store
            .apply_device_list(
                acc,
                BOB,
                Namespace::TwoMemo,
                &[(7, None), (8, None), (9, None)],
            )
            .await
            .unwrap();
        store
            .set_device_identity(acc, BOB, Namespace::TwoMemo, 9, &[4u8; 32])
            .await
            .unwrap();
        let nine = |shown: Vec<DeviceInfo>| shown.into_iter().find(|d| d.device_id == 9).unwrap();
        let shown = device_infos(&store, acc, BOB, None).await.unwrap();
        assert_eq!(nine(shown).trust, Trust::Blind);
        store
            .set_trust(
                acc,
                BOB,
                8,
                &other,
                ostore::TrustLevel::Verified,
                ostore::TrustSource::Manual,
            )
            .await
            .unwrap();
        let shown = device_infos(&store, acc, BOB, None).await.unwrap();
        let nine = nine(shown);
        assert_eq!(nine.trust, Trust::Undecided);
        assert!(!nine.identity_changed, "{nine:?}");
    }
}
