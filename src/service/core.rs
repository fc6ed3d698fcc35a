//! The service actor: owns the profile, the store and the account tasks,
//! and routes each [`Command`] to whoever answers it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::parsers::jid::BareJid;
use zeroize::Zeroizing;

use super::account::{self, AccountCommand, AccountHandle};
use super::api::*;
use super::{EventStream, ServiceHandle, ServiceOptions, StartError};
use crate::profile::{Profile, ProfileError};
use crate::secrets::{self, SecretError, SecretKind};
use crate::store::{AccountRow, Store};
use crate::xmpp::{Connector, Endpoint, link};

/// Open the profile and start the service on the current tokio runtime.
pub async fn start(options: ServiceOptions) -> Result<(ServiceHandle, EventStream), StartError> {
    let profile = Profile::open(&options.data_dir).map_err(|e| match e {
        ProfileError::InUse(p) => StartError::ProfileInUse(p),
        ProfileError::Io { path, source } => StartError::DataDir { path, source },
    })?;
    let db_path = profile.database_path();
    let fresh = !db_path.exists();
    let key = secrets::database_key(profile.id(), fresh)
        .await
        .map_err(|e| match e {
            SecretError::Missing => StartError::Secrets(
                "the key of this archive is missing from the keyring; the archive cannot be opened"
                    .into(),
            ),
            other => StartError::Secrets(other.to_string()),
        })?;
    let store = Store::open(&db_path, &key)
        .await
        .map_err(|e| StartError::Store(e.to_string()))?;
    drop(key);
    // Before any account starts writing: an import cut short by a crash
    // is undone, so it is all or nothing across restarts too.
    crate::backup::recover(&store)
        .await
        .map_err(|e| StartError::Store(e.to_string()))?;

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (internal_tx, internal_rx) = mpsc::unbounded_channel();
    let core = Core {
        profile,
        store,
        events: ev_tx.clone(),
        accounts: HashMap::new(),
        internal: internal_tx,
    };
    let task = tokio::spawn(core.run(cmd_rx, internal_rx, options.connect));
    // A panic in the service reaches the front end as an event, not a
    // frozen window (Flare's rule).
    tokio::spawn(async move {
        if let Err(e) = task.await
            && e.is_panic()
        {
            let _ = ev_tx.send(Event::Error {
                message: crate::i18n::gettext(
                    "The background service stopped unexpectedly. Please restart Sotto.",
                ),
            });
        }
    });
    Ok((ServiceHandle::new(cmd_tx), EventStream::new(ev_rx)))
}

enum Internal {
    /// The credentials of a new account were accepted by the server.
    Validated {
        jid: BareJid,
        password: Zeroizing<String>,
        server: ServerOverride,
        connector: Connector,
        reply: Reply<AccountInfo>,
    },
}

struct Core {
    profile: Profile,
    store: Store,
    events: mpsc::UnboundedSender<Event>,
    accounts: HashMap<String, AccountHandle>,
    internal: mpsc::UnboundedSender<Internal>,
}

fn storage(e: crate::store::StoreError) -> ServiceError {
    ServiceError::Storage(e.to_string())
}

fn storage_err(e: crate::store::StoreError) -> ServiceError {
    ServiceError::Storage(e.to_string())
}

fn parse_jid(s: &str) -> Result<BareJid, ServiceError> {
    let jid = BareJid::new(s.trim()).map_err(|_| ServiceError::InvalidJid(s.to_owned()))?;
    if jid.node().is_none() {
        return Err(ServiceError::InvalidJid(s.to_owned()));
    }
    Ok(jid)
}

pub(crate) fn connector_for(server: &ServerOverride) -> Result<Connector, ServiceError> {
    let endpoint = match &server.address {
        Some(a) => Endpoint::parse(a)
            .map_err(|e| ServiceError::Connection(ConnectionError::Other { detail: e }))?,
        None => Endpoint::Srv,
    };
    Connector::new(endpoint, server.ca_file.as_deref()).map_err(|e| {
        ServiceError::Connection(ConnectionError::Other {
            detail: e.to_string(),
        })
    })
}

fn override_of(row: &AccountRow) -> ServerOverride {
    ServerOverride {
        address: row.server.clone(),
        ca_file: row.ca_file.as_ref().map(Into::into),
    }
}

impl Core {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
        connect: bool,
    ) {
        if connect {
            self.connect_all().await;
        }
        loop {
            tokio::select! {
                Some(msg) = internal.recv() => self.on_internal(msg).await,
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown { reply }) => {
                        self.disconnect_all().await;
                        self.store.close().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(cmd) => self.on_command(cmd).await,
                    None => {
                        self.disconnect_all().await;
                        self.store.close().await;
                        return;
                    }
                },
            }
        }
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    async fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::AddAccount {
                jid,
                password,
                server,
                reply,
            } => self.add_account(jid, password, server, reply).await,
            Command::RemoveAccount { account, reply } => {
                let _ = reply.send(self.remove_account(&account).await);
            }
            Command::Snapshot { reply } => {
                let _ = reply.send(self.snapshot().await);
            }
            Command::ConnectAll => self.connect_all().await,
            Command::DisconnectAll { reply } => {
                self.disconnect_all().await;
                let _ = reply.send(Ok(()));
            }
            Command::AddContact {
                account,
                jid,
                name,
                reply,
            } => match parse_jid(&jid) {
                Ok(jid) => self.route(&account, reply, |reply| AccountCommand::AddContact {
                    jid,
                    name,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::RemoveContact {
                account,
                jid,
                reply,
            } => match parse_jid(&jid) {
                Ok(jid) => self.route(&account, reply, |reply| AccountCommand::RemoveContact {
                    jid,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::AnswerSubscription {
                account,
                jid,
                accept,
                reply,
            } => match parse_jid(&jid) {
                Ok(jid) => self.route(&account, reply, |reply| AccountCommand::Answer {
                    jid,
                    accept,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Sync { reply } => self.sync(reply),
            Command::SendMessage {
                account,
                to,
                body,
                reply,
            } => match parse_jid(&to) {
                Ok(to) if !body.trim().is_empty() => self.route(&account, reply, |reply| {
                    AccountCommand::Send { to, body, reply }
                }),
                Ok(_) => {
                    let _ = reply.send(Err(ServiceError::Refused(crate::i18n::gettext(
                        "an empty message",
                    ))));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::CorrectMessage {
                account,
                id,
                body,
                reply,
            } => {
                if body.trim().is_empty() {
                    let _ = reply.send(Err(ServiceError::Refused(crate::i18n::gettext(
                        "an empty message",
                    ))));
                } else {
                    self.route(&account, reply, |reply| AccountCommand::Correct {
                        id,
                        body,
                        reply,
                    });
                }
            }
            Command::History {
                account,
                jid,
                before,
                limit,
                reply,
            } => {
                let result = match self.account_id(&account).await {
                    Ok(id) => {
                        account::history(&self.store, id, &account, jid.trim(), before, limit)
                            .await
                            .map_err(storage_err)
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::HistoryAfter {
                account,
                jid,
                after,
                limit,
                reply,
            } => {
                let result = match self.account_id(&account).await {
                    Ok(id) => self
                        .store
                        .history_after(id, jid.trim(), after, limit)
                        .await
                        .map(|rows| {
                            rows.iter()
                                .map(|r| account::chat_message(&account, r))
                                .collect()
                        })
                        .map_err(storage_err),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::HistoryAround {
                account,
                jid,
                id: message,
                limit,
                reply,
            } => {
                let result = match self.account_id(&account).await {
                    Ok(id) => self
                        .store
                        .history_around(id, jid.trim(), message, limit)
                        .await
                        .map(|w| HistoryWindow {
                            messages: w
                                .messages
                                .iter()
                                .map(|r| account::chat_message(&account, r))
                                .collect(),
                            more_before: w.more_before,
                            more_after: w.more_after,
                        })
                        .map_err(storage_err),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::Devices {
                account,
                jid,
                reply,
            } => match parse_jid(&jid) {
                Ok(jid) if self.accounts.contains_key(&account) => {
                    self.route(&account, reply, |reply| AccountCommand::Devices {
                        jid,
                        reply,
                    })
                }
                Ok(jid) => {
                    let result = self.devices_offline(&account, &jid.to_string()).await;
                    let _ = reply.send(result);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::RemoveOwnDevice {
                account,
                device_id,
                reply,
            } => self.route(&account, reply, |reply| AccountCommand::RemoveOwnDevice {
                device_id,
                reply,
            }),
            Command::SetTrust {
                account,
                jid,
                fingerprint,
                trust,
                reply,
            } => {
                let result = self.set_trust(&account, &jid, &fingerprint, trust).await;
                if let Ok(device) = &result {
                    self.emit(Event::DevicesChanged {
                        account: account.clone(),
                        jid: device.jid.clone(),
                    });
                }
                let _ = reply.send(result);
            }
            Command::EncryptionPolicy { reply } => {
                let _ = reply.send(super::policy::load(&self.store).await.map_err(storage_err));
            }
            Command::SetEncryptionPolicy { policy, reply } => {
                let saved = super::policy::save(&self.store, policy)
                    .await
                    .map_err(storage_err);
                if saved.is_ok() {
                    // Rooms already joined follow at once, not at the next join.
                    for handle in self.accounts.values() {
                        let _ = handle.tx.send(AccountCommand::OpenGroupsPolicy {
                            allow: policy.open_groups,
                        });
                    }
                }
                let _ = reply.send(saved);
            }
            Command::SetEncryption {
                account,
                jid,
                encryption,
                reply,
            } => {
                let result = match (self.account_id(&account).await, parse_jid(&jid)) {
                    (Ok(id), Ok(jid)) => {
                        let value = encryption.map(|on| if on { "omemo" } else { "none" });
                        let jid = jid.to_string();
                        let set = self
                            .store
                            .set_conversation_encryption(id, &jid, value)
                            .await
                            .map_err(storage_err);
                        if set.is_ok()
                            && let Ok(Some(c)) = self.store.conversation(id, &jid).await
                        {
                            self.emit(Event::ConversationUpdated {
                                conversation: account::conversation_summary(&account, c),
                            });
                        }
                        set
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::SetChatState {
                account,
                jid,
                state,
            } => {
                if let (Some(handle), Ok(jid)) = (self.accounts.get(&account), parse_jid(&jid)) {
                    let _ = handle.tx.send(AccountCommand::ChatState { jid, state });
                }
            }
            Command::Conversations { reply } => {
                let _ = reply.send(self.conversations().await);
            }
            Command::MarkRead { account, jid } => match self.accounts.get(&account) {
                Some(handle) => {
                    let _ = handle.tx.send(AccountCommand::MarkRead { jid });
                }
                None => {
                    if let Ok(id) = self.account_id(&account).await {
                        let _ = self.store.mark_read(id, &jid).await;
                    }
                }
            },
            Command::Search {
                query,
                limit,
                reply,
            } => {
                // On a task of its own: a search that reads much would
                // otherwise hold up every other command (opening a chat).
                let store = self.store.clone();
                tokio::spawn(async move {
                    let result = async {
                        let accounts = store.accounts().await?;
                        let rows = store.search(None, &query, limit).await?;
                        Ok(rows
                            .iter()
                            .map(|r| {
                                let account = accounts
                                    .iter()
                                    .find(|a| a.id == r.account_id)
                                    .map(|a| a.jid.as_str())
                                    .unwrap_or_default();
                                account::chat_message(account, r)
                            })
                            .collect())
                    }
                    .await
                    .map_err(storage_err);
                    let _ = reply.send(result);
                });
            }
            Command::ExportBackup {
                path,
                passphrase,
                include_identity,
                progress,
                cancel,
                reply,
            } => {
                // Off the actor loop: a large archive takes a while, and the
                // store's pool serves the running accounts meanwhile.
                let store = self.store.clone();
                let passphrase = crate::backup::SecretString::from(passphrase.as_str());
                tokio::spawn(async move {
                    let options = crate::backup::ExportOptions {
                        include_identity,
                        scrypt_log_n: None,
                    };
                    let report = move |p| {
                        let _ = progress.send(p);
                    };
                    let result = crate::backup::export(
                        &store, &path, passphrase, &options, &report, &cancel,
                    )
                    .await
                    .map_err(ServiceError::Backup);
                    let _ = reply.send(result);
                });
            }
            Command::ImportBackup {
                path,
                passphrase,
                restore_identity,
                progress,
                cancel,
                reply,
            } => {
                let store = self.store.clone();
                let passphrase = crate::backup::SecretString::from(passphrase.as_str());
                tokio::spawn(async move {
                    let options = crate::backup::ImportOptions { restore_identity };
                    let report = move |p| {
                        let _ = progress.send(p);
                    };
                    let result = crate::backup::import(
                        &store, &path, passphrase, &options, &report, &cancel,
                    )
                    .await
                    .map_err(ServiceError::Backup);
                    let _ = reply.send(result);
                });
            }
            Command::BackupStatus { reply } => {
                let result = crate::backup::status(&self.store)
                    .await
                    .map_err(ServiceError::Backup);
                let _ = reply.send(result);
            }
            Command::SetBackupReminder { days, reply } => {
                let result = crate::backup::set_reminder_days(&self.store, days)
                    .await
                    .map_err(ServiceError::Backup);
                let _ = reply.send(result);
            }
            Command::OwnQrUri { account, reply } => {
                let _ = reply.send(super::qr::own_code(&self.store, &account).await);
            }
            Command::PreviewQr {
                account,
                uri,
                reply,
            } => self.route_qr(&account, &uri, false, reply),
            Command::ApplyQr {
                account,
                uri,
                reply,
            } => self.route_qr(&account, &uri, true, reply),
            Command::CreateRoom {
                account,
                room,
                name,
                nick,
                members,
                channel,
                reply,
            } => {
                let members: Result<Vec<BareJid>, ServiceError> =
                    members.iter().map(|m| parse_jid(m)).collect();
                match (parse_jid(&room), members) {
                    (Ok(room), Ok(members)) => {
                        self.route(&account, reply, |reply| AccountCommand::CreateRoom {
                            room,
                            name: name.filter(|n| !n.trim().is_empty()),
                            nick,
                            members,
                            channel,
                            reply,
                        })
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::JoinRoom {
                account,
                room,
                nick,
                reply,
            } => match parse_jid(&room) {
                Ok(room) => self.route(&account, reply, |reply| AccountCommand::JoinRoom {
                    room,
                    nick,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::LeaveRoom {
                account,
                room,
                reply,
            } => match parse_jid(&room) {
                Ok(room) => self.route(&account, reply, |reply| AccountCommand::LeaveRoom {
                    room,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::DestroyRoom {
                account,
                room,
                reason,
                reply,
            } => match parse_jid(&room) {
                Ok(room) => self.route(&account, reply, |reply| AccountCommand::DestroyRoom {
                    room,
                    reason,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::RoomDetails {
                account,
                room,
                reply,
            } => match parse_jid(&room) {
                Ok(room) => self.route(&account, reply, |reply| AccountCommand::RoomDetails {
                    room,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::SetAffiliation {
                account,
                room,
                jid,
                affiliation,
                reason,
                reply,
            } => match (parse_jid(&room), parse_jid(&jid)) {
                (Ok(room), Ok(jid)) => {
                    self.route(&account, reply, |reply| AccountCommand::SetAffiliation {
                        room,
                        jid,
                        affiliation,
                        reason,
                        reply,
                    })
                }
                (Err(e), _) | (_, Err(e)) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Kick {
                account,
                room,
                nick,
                reason,
                reply,
            } => match parse_jid(&room) {
                Ok(room) => self.route(&account, reply, |reply| AccountCommand::Kick {
                    room,
                    nick,
                    reason,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Invite {
                account,
                room,
                jids,
                reason,
                reply,
            } => {
                let jids: Result<Vec<BareJid>, ServiceError> =
                    jids.iter().map(|j| parse_jid(j)).collect();
                match (parse_jid(&room), jids) {
                    (Ok(room), Ok(jids)) => {
                        self.route(&account, reply, |reply| AccountCommand::Invite {
                            room,
                            jids,
                            reason,
                            reply,
                        })
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::SetSubject {
                account,
                room,
                subject,
                reply,
            } => match parse_jid(&room) {
                Ok(room) => self.route(&account, reply, |reply| AccountCommand::SetSubject {
                    room,
                    subject,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::ListRooms {
                account,
                service,
                reply,
            } => self.route(&account, reply, |reply| AccountCommand::ListRooms {
                service,
                reply,
            }),
            Command::SetNick {
                account,
                room,
                nick,
                reply,
            } => match parse_jid(&room) {
                Ok(room) => self.route(&account, reply, |reply| AccountCommand::SetNick {
                    room,
                    nick,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::ConferenceService { account, reply } => self.route(&account, reply, |reply| {
                AccountCommand::ConferenceService { reply }
            }),
            Command::Shutdown { .. } => {}
        }
    }

    async fn conversations(&self) -> Result<Vec<ConversationSummary>, ServiceError> {
        let rows = self.store.accounts().await.map_err(storage_err)?;
        let by_id: HashMap<i64, &str> = rows.iter().map(|r| (r.id, r.jid.as_str())).collect();
        Ok(self
            .store
            .conversations()
            .await
            .map_err(storage_err)?
            .into_iter()
            .map(|c| {
                let account = by_id.get(&c.account_id).copied().unwrap_or_default();
                account::conversation_summary(account, c)
            })
            .collect())
    }

    async fn account_id(&self, account: &str) -> Result<i64, ServiceError> {
        match self.store.account(account).await {
            Ok(Some(row)) => Ok(row.id),
            Ok(None) => Err(ServiceError::UnknownAccount(account.to_owned())),
            Err(e) => Err(storage_err(e)),
        }
    }

    async fn devices_offline(
        &self,
        account: &str,
        jid: &str,
    ) -> Result<Vec<DeviceInfo>, ServiceError> {
        let id = self.account_id(account).await?;
        let own = self.store.load_own_device(id).await.map_err(storage_err)?;
        account::device_infos(&self.store, id, jid, own.as_ref())
            .await
            .map_err(storage_err)
    }

    /// Trust decisions work offline: they are local facts.
    async fn set_trust(
        &self,
        account: &str,
        jid: &str,
        fingerprint: &str,
        trust: Trust,
    ) -> Result<DeviceInfo, ServiceError> {
        let jid = parse_jid(jid)?.to_string();
        let id = self.account_id(account).await?;
        let wanted = account::normalize_fingerprint(fingerprint);
        let own = self.store.load_own_device(id).await.map_err(storage_err)?;
        let devices = account::device_infos(&self.store, id, &jid, own.as_ref())
            .await
            .map_err(storage_err)?;
        let device = devices
            .into_iter()
            .find(|d| !d.own && d.fingerprint.as_deref() == Some(wanted.as_str()))
            .ok_or_else(|| ServiceError::UnknownDevice(fingerprint.to_owned()))?;
        let key = hex::decode(&wanted)
            .map_err(|_| ServiceError::UnknownDevice(fingerprint.to_owned()))?;
        self.store
            .set_trust(
                id,
                &jid,
                device.device_id,
                &key,
                trust
                    .as_str()
                    .parse::<crate::store::omemo::TrustLevel>()
                    .unwrap_or(crate::store::omemo::TrustLevel::Undecided),
                crate::store::omemo::TrustSource::Manual,
            )
            .await
            .map_err(storage_err)?;
        // A decision answers a key-change warning.
        Ok(DeviceInfo {
            trust,
            identity_changed: false,
            ..device
        })
    }

    /// A scanned code goes to the account's task once it parses.
    fn route_qr(&self, account: &str, uri: &str, apply: bool, reply: Reply<QrSummary>) {
        match crate::qr::TrustUri::parse(uri) {
            Ok(uri) => self.route(account, reply, |reply| AccountCommand::CheckQr {
                uri,
                apply,
                reply,
            }),
            Err(e) => {
                let _ = reply.send(Err(ServiceError::InvalidQr(e)));
            }
        }
    }

    /// Hand a request to the account's task.
    fn route<T>(
        &self,
        account: &str,
        reply: Reply<T>,
        make: impl FnOnce(Reply<T>) -> AccountCommand,
    ) {
        match self.accounts.get(account) {
            Some(handle) => {
                if let Err(mpsc::error::SendError(cmd)) = handle.tx.send(make(reply)) {
                    fail_command(cmd);
                }
            }
            None => {
                let _ = reply.send(Err(ServiceError::NotConnected));
            }
        }
    }

    fn sync(&self, reply: Reply<()>) {
        let waiters: Vec<_> = self
            .accounts
            .values()
            .filter_map(|h| {
                let (tx, rx) = oneshot::channel();
                h.tx.send(AccountCommand::Sync { reply: tx })
                    .ok()
                    .map(|_| rx)
            })
            .collect();
        tokio::spawn(async move {
            let mut result = if waiters.is_empty() {
                Err(ServiceError::NotConnected)
            } else {
                Ok(())
            };
            for w in waiters {
                match w.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => result = Err(e),
                    Err(_) => result = Err(ServiceError::NotConnected),
                }
            }
            let _ = reply.send(result);
        });
    }

    async fn add_account(
        &mut self,
        jid: String,
        password: Zeroizing<String>,
        server: ServerOverride,
        reply: Reply<AccountInfo>,
    ) {
        let jid = match parse_jid(&jid) {
            Ok(j) => j,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        match self.store.account(jid.as_str()).await {
            Ok(Some(_)) => {
                let _ = reply.send(Err(ServiceError::AccountExists(jid.to_string())));
                return;
            }
            Ok(None) => {}
            Err(e) => {
                let _ = reply.send(Err(storage(e)));
                return;
            }
        }
        if password.is_empty() {
            let _ = reply.send(Err(ServiceError::Connection(
                ConnectionError::WrongPassword,
            )));
            return;
        }
        let connector = match connector_for(&server) {
            Ok(c) => c,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        // Check the credentials off the actor loop: a login can take seconds.
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let attempt = tokio::time::timeout(
                Duration::from_secs(30),
                link::login(&connector, &jid, &password),
            )
            .await;
            match attempt {
                Ok(Ok(conn)) => {
                    // Only a check: close this stream, the account task opens its own.
                    let mut stream = conn.stream;
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        <tokio_xmpp::stanzastream::XmppStream as futures_util::SinkExt<
                            &tokio_xmpp::Stanza,
                        >>::close(&mut stream),
                    )
                    .await;
                    let _ = internal.send(Internal::Validated {
                        jid,
                        password,
                        server,
                        connector,
                        reply,
                    });
                }
                Ok(Err(e)) => {
                    let (error, _) = link::classify(&e);
                    let _ = reply.send(Err(ServiceError::Connection(error)));
                }
                Err(_) => {
                    let _ = reply.send(Err(ServiceError::Connection(
                        ConnectionError::Unreachable {
                            detail: "no answer within 30 seconds".into(),
                        },
                    )));
                }
            }
        });
    }

    async fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::Validated {
                jid,
                password,
                server,
                connector,
                reply,
            } => {
                let result = self.save_account(&jid, password, &server, connector).await;
                if let Ok(info) = &result {
                    self.emit(Event::AccountAdded {
                        account: info.clone(),
                    });
                }
                let _ = reply.send(result);
            }
        }
    }

    async fn save_account(
        &mut self,
        jid: &BareJid,
        password: Zeroizing<String>,
        server: &ServerOverride,
        connector: Connector,
    ) -> Result<AccountInfo, ServiceError> {
        let jid_str = jid.to_string();
        // Password first: an account row without its password is useless.
        secrets::store(
            SecretKind::AccountPassword {
                profile: self.profile.id(),
                jid: &jid_str,
            },
            password.clone(),
        )
        .await
        .map_err(|e| ServiceError::Secrets(e.to_string()))?;
        let ca = server.ca_file.as_ref().map(|p| absolute(p));
        let row = self
            .store
            .add_account(&jid_str, server.address.as_deref(), ca.as_deref())
            .await
            .map_err(storage)?;
        let handle = account::spawn(
            row.clone(),
            connector,
            password,
            self.store.clone(),
            self.events.clone(),
        )?;
        self.accounts.insert(jid_str.clone(), handle);
        Ok(AccountInfo {
            jid: jid_str,
            server: override_of(&row),
        })
    }

    async fn remove_account(&mut self, account: &str) -> Result<(), ServiceError> {
        let row = self
            .store
            .account(account)
            .await
            .map_err(storage)?
            .ok_or_else(|| ServiceError::UnknownAccount(account.to_owned()))?;
        if let Some(handle) = self.accounts.remove(account) {
            close_account(handle).await;
        }
        secrets::delete(SecretKind::AccountPassword {
            profile: self.profile.id(),
            jid: account,
        })
        .await
        .map_err(|e| ServiceError::Secrets(e.to_string()))?;
        self.store.remove_account(row.id).await.map_err(storage)?;
        self.emit(Event::AccountRemoved {
            account: account.to_owned(),
        });
        Ok(())
    }

    async fn snapshot(&self) -> Result<Snapshot, ServiceError> {
        let rows = self.store.accounts().await.map_err(storage)?;
        let mut contacts = Vec::new();
        for row in &rows {
            let list = self.store.contacts(row.id).await.map_err(storage)?;
            contacts.push((
                row.jid.clone(),
                list.iter().map(account::contact_from_row).collect(),
            ));
        }
        let conversations = self.conversations().await?;
        Ok(Snapshot {
            accounts: rows
                .iter()
                .map(|r| AccountInfo {
                    jid: r.jid.clone(),
                    server: override_of(r),
                })
                .collect(),
            contacts,
            conversations,
        })
    }

    async fn connect_all(&mut self) {
        let rows = match self.store.accounts().await {
            Ok(r) => r,
            Err(e) => {
                self.emit(Event::Error {
                    message: storage(e).user_message(),
                });
                return;
            }
        };
        for row in rows.into_iter().filter(|r| r.enabled) {
            if self
                .accounts
                .get(&row.jid)
                .is_some_and(|h| !h.task.is_finished())
            {
                continue;
            }
            self.accounts.remove(&row.jid);
            if let Err(e) = self.connect(row.clone()).await {
                let state = ConnectionState::Offline {
                    reason: Some(match e {
                        ServiceError::Connection(c) => c,
                        other => ConnectionError::Other {
                            detail: other.user_message(),
                        },
                    }),
                };
                self.emit(Event::Connection {
                    account: row.jid.clone(),
                    state,
                });
            }
        }
    }

    async fn connect(&mut self, row: AccountRow) -> Result<(), ServiceError> {
        let password = secrets::load(SecretKind::AccountPassword {
            profile: self.profile.id(),
            jid: &row.jid,
        })
        .await
        .map_err(|e| ServiceError::Secrets(e.to_string()))?;
        let connector = connector_for(&override_of(&row))?;
        let jid = row.jid.clone();
        let handle = account::spawn(
            row,
            connector,
            password,
            self.store.clone(),
            self.events.clone(),
        )?;
        self.accounts.insert(jid, handle);
        Ok(())
    }

    async fn disconnect_all(&mut self) {
        for (_, handle) in self.accounts.drain() {
            close_account(handle).await;
        }
    }
}

async fn close_account(handle: AccountHandle) {
    let (tx, rx) = oneshot::channel();
    if handle.tx.send(AccountCommand::Close { reply: tx }).is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
    }
    handle.task.abort();
}

/// An account task that is gone cannot answer: say so.
fn fail_command(cmd: AccountCommand) {
    cmd.fail(ServiceError::NotConnected);
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
