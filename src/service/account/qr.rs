//! Checking a scanned code against what the server publishes, and saving
//! the result (issue 7, ARCHITECTURE.md "Trust"): every listed device whose
//! published identity key matches becomes verified (source `qr`); a device
//! that is not published, or whose key differs, is reported and never
//! trusted; devices the code does not name keep their state. Once one
//! device of a contact is verified, BTBV no longer trusts that contact's new
//! devices blindly (`store::omemo::decide_new_device_in`).

use std::collections::{BTreeMap, HashMap};

use tokio_xmpp::parsers::jid::BareJid;

use super::Account;
use super::e2e::{NAMESPACES, ns_str, trust_key};
use crate::omemo::{DeviceList, IdentityKey, Namespace};
use crate::qr::{KeyForm, MAX_FINGERPRINTS, TrustUri, UriFingerprint};
use crate::service::api::{Event, ServiceError, Trust};
use crate::service::qr::{QrCheck, QrOutcome, QrSummary, grouped};
use crate::store::omemo::{self as ostore, TrustLevel, TrustSource};
use crate::xmpp::link::IqError;

fn storage(e: crate::store::StoreError) -> ServiceError {
    ServiceError::Storage(e.to_string())
}

fn iq_error(e: IqError) -> ServiceError {
    match e {
        IqError::Closed => ServiceError::NotConnected,
        other => ServiceError::Refused(other.to_string()),
    }
}

/// A device's identity key as one namespace publishes it (Curve25519 form).
type PublishedKey = (Namespace, [u8; 32]);

/// What the server publishes for one device: the namespaces that list it
/// and, per namespace, the key of its bundle (Curve25519 form).
#[derive(Default)]
struct Published {
    namespaces: Vec<Namespace>,
    keys: Vec<PublishedKey>,
}

impl Published {
    fn matching(&self, fp: &UriFingerprint) -> Vec<PublishedKey> {
        self.keys
            .iter()
            .filter(|(_, k)| fp.matches(k))
            .copied()
            .collect()
    }

    fn namespace_names(&self) -> Vec<String> {
        self.namespaces
            .iter()
            .map(|ns| ns_str(*ns).to_owned())
            .collect()
    }
}

/// The key of a code entry in the form the device list shows.
fn code_fingerprint(fp: &UriFingerprint) -> String {
    match fp.form {
        KeyForm::Curve25519 => grouped(&fp.key),
        KeyForm::Ed25519 => match IdentityKey::Ed25519(fp.key).curve25519() {
            Some(k) => grouped(&k),
            None => fp.hex(),
        },
    }
}

impl Account {
    /// Compare `code` with the published devices of its JID; with `apply`,
    /// save the verifications in one transaction and announce them.
    pub(crate) async fn check_qr(
        &mut self,
        code: &TrustUri,
        apply: bool,
    ) -> Result<QrSummary, ServiceError> {
        self.require_online()?;
        let own_id = self
            .e2e
            .as_ref()
            .map(|e| e.own.device_id())
            .ok_or(ServiceError::NotConnected)?;
        let jid = &code.jid;
        let jid_str = jid.to_string();
        let own_account = *jid == self.jid;

        // Fresh from the server: a cached list could hide a device that left.
        let mut lists: Vec<DeviceList> = Vec::new();
        for ns in NAMESPACES {
            if let Some(list) = self.fetch_device_list(jid, ns).await.map_err(iq_error)? {
                lists.push(list);
            }
        }
        let mut published: BTreeMap<u32, Published> = BTreeMap::new();
        for list in &lists {
            for id in list.ids() {
                let entry = published.entry(id).or_default();
                if !entry.namespaces.contains(&list.namespace) {
                    entry.namespaces.push(list.namespace);
                }
            }
        }
        // Bundles only for the devices the code is about (the listed ones
        // when it names a key without its device; a hostile list of
        // thousands of devices gets no more fetches than a long code).
        let wanted: Vec<u32> = if code.fingerprints.iter().any(|f| f.device_id.is_none()) {
            published.keys().copied().take(MAX_FINGERPRINTS).collect()
        } else {
            code.fingerprints
                .iter()
                .filter_map(|f| f.device_id)
                .collect()
        };
        for id in wanted {
            if own_account && id == own_id {
                continue;
            }
            let Some(entry) = published.get_mut(&id) else {
                continue;
            };
            for ns in entry.namespaces.clone() {
                match self.fetch_bundle(jid, ns, id).await {
                    Ok(bundle) => {
                        // The form trust is stored under (and the QR form).
                        if let Ok(key) = <[u8; 32]>::try_from(trust_key(&bundle.identity_key)) {
                            entry.keys.push((ns, key));
                        }
                    }
                    Err(e) => {
                        tracing::info!(%jid, device = id, "no bundle for a scanned code: {e}")
                    }
                }
            }
        }
        let own_key = self
            .e2e
            .as_ref()
            .and_then(|e| e.own.identity_key(Namespace::OldMemo).curve25519());

        // Per device of the code: its entries (a device may be given in
        // both key forms), in the code's order.
        let mut order: Vec<u32> = Vec::new();
        let mut by_device: HashMap<u32, Vec<&UriFingerprint>> = HashMap::new();
        let mut keys_only: Vec<&UriFingerprint> = Vec::new();
        for fp in &code.fingerprints {
            match fp.device_id {
                Some(id) => {
                    if !by_device.contains_key(&id) {
                        order.push(id);
                    }
                    by_device.entry(id).or_default().push(fp);
                }
                None => keys_only.push(fp),
            }
        }
        // A key without a device stands for whichever device publishes it.
        let mut unowned: Vec<&UriFingerprint> = Vec::new();
        for fp in keys_only {
            let owners: Vec<u32> = published
                .iter()
                .filter(|(_, p)| !p.matching(fp).is_empty())
                .map(|(id, _)| *id)
                .collect();
            if owners.is_empty() {
                unowned.push(fp);
            }
            for id in owners {
                if !by_device.contains_key(&id) {
                    order.push(id);
                }
                by_device.entry(id).or_default().push(fp);
            }
        }

        let mut checks = Vec::new();
        let mut to_save: Vec<(u32, Vec<PublishedKey>)> = Vec::new();
        for id in order {
            let entries = by_device.remove(&id).unwrap_or_default();
            let Some(first) = entries.first() else {
                continue;
            };
            let code_fp = code_fingerprint(first);
            let entry = published.get(&id);
            let namespaces = entry.map(Published::namespace_names).unwrap_or_default();
            if own_account && id == own_id {
                let same = own_key.is_some_and(|k| entries.iter().all(|f| f.matches(&k)));
                checks.push(QrCheck {
                    device_id: Some(id),
                    fingerprint: code_fp,
                    published: (!same).then(|| own_key.map(|k| grouped(&k))).flatten(),
                    namespaces,
                    outcome: if same {
                        QrOutcome::ThisDevice
                    } else {
                        QrOutcome::Mismatch
                    },
                    trust_before: Some(Trust::Verified),
                });
                continue;
            }
            let Some(entry) = entry.filter(|e| !e.keys.is_empty()) else {
                checks.push(QrCheck {
                    device_id: Some(id),
                    fingerprint: code_fp,
                    published: None,
                    namespaces,
                    outcome: QrOutcome::NotPublished,
                    trust_before: None,
                });
                continue;
            };
            // Every entry for the device must match, and so must every key
            // the server publishes for it (in either namespace): one good
            // fingerprint does not excuse a bad one beside it.
            let matches: Vec<Vec<PublishedKey>> =
                entries.iter().map(|f| entry.matching(f)).collect();
            let unmatched_published = entry
                .keys
                .iter()
                .any(|(_, k)| !entries.iter().any(|f| f.matches(k)));
            if matches.iter().any(Vec::is_empty) || unmatched_published {
                let mut shown: Vec<String> = entry.keys.iter().map(|(_, k)| grouped(k)).collect();
                shown.dedup();
                checks.push(QrCheck {
                    device_id: Some(id),
                    fingerprint: code_fp,
                    published: Some(shown.join(" / ")),
                    namespaces,
                    outcome: QrOutcome::Mismatch,
                    trust_before: self.known_trust(&jid_str, id, &entry.keys).await?,
                });
                continue;
            }
            let mut verified_keys: Vec<PublishedKey> = matches.into_iter().flatten().collect();
            verified_keys.sort_by_key(|(ns, k)| (ns_str(*ns), *k));
            verified_keys.dedup();
            let trust_before = self.known_trust(&jid_str, id, &verified_keys).await?;
            let already = self.all_verified(&jid_str, id, &verified_keys).await?;
            checks.push(QrCheck {
                device_id: Some(id),
                fingerprint: grouped(&verified_keys[0].1),
                published: None,
                namespaces,
                outcome: if already {
                    QrOutcome::AlreadyVerified
                } else {
                    QrOutcome::Verify
                },
                trust_before,
            });
            if !already {
                to_save.push((id, verified_keys));
            }
        }
        // Keys without a device that no published device has.
        for fp in unowned {
            checks.push(QrCheck {
                device_id: None,
                fingerprint: code_fingerprint(fp),
                published: None,
                namespaces: Vec::new(),
                outcome: QrOutcome::NotPublished,
                trust_before: None,
            });
        }

        if apply {
            self.save_qr(jid, &lists, &to_save).await?;
        }
        let count = |o: QrOutcome| checks.iter().filter(|c| c.outcome == o).count() as u32;
        let is_contact = self
            .store
            .contact(self.row.id, &jid_str)
            .await
            .map_err(storage)?
            .is_some_and(|c| c.in_roster);
        Ok(QrSummary {
            account: self.row.jid.clone(),
            jid: jid_str,
            is_contact,
            own_account,
            applied: apply,
            verified: count(QrOutcome::Verify),
            already_verified: count(QrOutcome::AlreadyVerified),
            mismatched: count(QrOutcome::Mismatch),
            not_published: count(QrOutcome::NotPublished),
            devices: checks,
        })
    }

    /// The recorded trust of the device under any of these keys (the first
    /// one known), without deciding anything for keys never seen.
    async fn known_trust(
        &self,
        jid: &str,
        device_id: u32,
        keys: &[PublishedKey],
    ) -> Result<Option<Trust>, ServiceError> {
        for (_, key) in keys {
            if let Some(row) = self
                .store
                .trust(self.row.id, jid, device_id, key)
                .await
                .map_err(storage)?
            {
                return Ok(Some(Trust::parse(row.level.as_str())));
            }
        }
        Ok(None)
    }

    async fn all_verified(
        &self,
        jid: &str,
        device_id: u32,
        keys: &[PublishedKey],
    ) -> Result<bool, ServiceError> {
        for (_, key) in keys {
            let row = self
                .store
                .trust(self.row.id, jid, device_id, key)
                .await
                .map_err(storage)?;
            if row.is_none_or(|r| r.level != TrustLevel::Verified) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The fresh device lists, the identities seen and the verifications,
    /// all or nothing; then tell open windows.
    async fn save_qr(
        &self,
        jid: &BareJid,
        lists: &[DeviceList],
        verified: &[(u32, Vec<PublishedKey>)],
    ) -> Result<(), ServiceError> {
        let jid_str = jid.to_string();
        let account_id = self.row.id;
        let mut tx = self.store.begin().await.map_err(storage)?;
        for list in lists {
            let entries: Vec<(u32, Option<String>)> = list
                .devices
                .iter()
                .map(|d| (d.id, d.label.clone()))
                .collect();
            ostore::apply_device_list_in(&mut tx, account_id, &jid_str, list.namespace, &entries)
                .await
                .map_err(storage)?;
        }
        for (device_id, keys) in verified {
            for (ns, key) in keys {
                ostore::set_device_identity_in(&mut tx, account_id, &jid_str, *ns, *device_id, key)
                    .await
                    .map_err(storage)?;
            }
            let mut distinct: Vec<[u8; 32]> = keys.iter().map(|(_, k)| *k).collect();
            distinct.sort();
            distinct.dedup();
            for key in distinct {
                ostore::set_trust_in(
                    &mut tx,
                    account_id,
                    &jid_str,
                    *device_id,
                    &key,
                    TrustLevel::Verified,
                    TrustSource::Qr,
                )
                .await
                .map_err(storage)?;
            }
        }
        tx.commit()
            .await
            .map_err(|e| ServiceError::Storage(e.to_string()))?;
        self.emit(Event::DevicesChanged {
            account: self.row.jid.clone(),
            jid: jid_str,
        });
        Ok(())
    }
}
