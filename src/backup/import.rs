//! Import: a file → age (scrypt) → zstd → JSON lines → one write
//! transaction, committed only once the whole file was read to its
//! authenticated end and its end record matched what was read.
//!
//! A blocking thread decrypts and parses; the async side merges. A
//! truncated file fails at age's final-chunk check, a flipped byte at the
//! chunk's tag, a wrong passphrase before anything is touched; each rolls
//! the transaction back, so the archive stays exactly as it was.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use tokio::sync::mpsc;

use super::format::{FORMAT_NAME, FORMAT_VERSION, Header, MAX_LINE_BYTES, Record};
use super::{
    BackupError, BackupProgress, CancelToken, IdentityOutcome, ImportOptions, ImportSummary,
    SecretString, file_error,
};
use crate::store::Store;
use crate::store::backup::{self as rows, BackupConversation, BackupCounts, Merged};

/// Records travel to the merging side in batches of this many.
const BATCH: usize = 512;
const PROGRESS_EVERY: u64 = 1000;

type Batch = Result<Vec<Record>, BackupError>;

pub async fn import(
    store: &Store,
    path: &Path,
    passphrase: SecretString,
    options: &ImportOptions,
    progress: &(dyn Fn(BackupProgress) + Send + Sync),
    cancel: &CancelToken,
) -> Result<ImportSummary, BackupError> {
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let (tx, mut rx) = mpsc::channel::<Batch>(4);
    let reader_cancel = cancel.clone();
    let reader =
        tokio::task::spawn_blocking(move || read_file(file, passphrase, &tx, &reader_cancel));
    let merged = merge(store, options, progress, cancel, &mut rx).await;
    // Closing our end stops a reader that is still going (after an error).
    drop(rx);
    let read = reader
        .await
        .map_err(|e| BackupError::Damaged(format!("the reader stopped: {e}")));
    let (db, summary) = merged?;
    // The reader only returns Ok after age verified the final chunk.
    read??;
    if cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }
    db.commit().await?;
    Ok(summary)
}

/// Decrypts and parses on a blocking thread. Errors go down the channel;
/// the return value says whether the file was read to its verified end.
fn read_file(
    file: File,
    passphrase: SecretString,
    tx: &mpsc::Sender<Batch>,
    cancel: &CancelToken,
) -> Result<(), BackupError> {
    let result = read_records(file, passphrase, tx, cancel);
    if let Err(e) = &result {
        let _ = tx.blocking_send(Err(e.clone()));
    }
    result
}

fn read_records(
    file: File,
    passphrase: SecretString,
    tx: &mpsc::Sender<Batch>,
    cancel: &CancelToken,
) -> Result<(), BackupError> {
    let decryptor = age::Decryptor::new_buffered(BufReader::new(file)).map_err(header_error)?;
    if !decryptor.is_scrypt() {
        return Err(BackupError::NotABackup(
            "it is encrypted to keys, not with a passphrase".into(),
        ));
    }
    let identity = age::scrypt::Identity::new(passphrase);
    let plain = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(header_error)?;
    drop(identity);
    let age_failed = std::rc::Rc::new(std::cell::Cell::new(false));
    let plain = Watched {
        inner: plain,
        failed: age_failed.clone(),
    };
    let zstd = zstd::stream::read::Decoder::new(plain).map_err(|e| damaged(&e))?;
    let mut lines = BufReader::with_capacity(256 * 1024, zstd);
    let mut line = zeroize::Zeroizing::new(Vec::with_capacity(4096));
    let mut batch = Vec::with_capacity(BATCH);
    let mut number = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(BackupError::Cancelled);
        }
        line.clear();
        let n = (&mut lines)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| {
                // Authentic content that is not zstd: someone else's age file.
                if number == 0 && !age_failed.get() {
                    BackupError::NotABackup(format!("the content is not Sotto's ({e})"))
                } else {
                    damaged(&e)
                }
            })?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            return Err(BackupError::Damaged(if n as u64 > MAX_LINE_BYTES {
                format!("line {number} is too long")
            } else {
                format!("line {number} is cut off")
            }));
        }
        let record: Record = serde_json::from_slice(&line[..line.len() - 1]).map_err(|e| {
            if number == 1 {
                BackupError::NotABackup(format!("the content is not Sotto's ({e})"))
            } else {
                BackupError::Damaged(format!("line {number}: {e}"))
            }
        })?;
        batch.push(record);
        if batch.len() >= BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if tx.blocking_send(Ok(full)).is_err() {
                return Err(BackupError::Cancelled);
            }
        }
    }
    if !batch.is_empty() && tx.blocking_send(Ok(batch)).is_err() {
        return Err(BackupError::Cancelled);
    }
    Ok(())
}

/// Remembers whether age itself failed (a bad tag, a missing final chunk),
/// to tell a damaged file from an intact one with foreign content.
struct Watched<R> {
    inner: R,
    failed: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed.set(true))
    }
}

fn header_error(e: age::DecryptError) -> BackupError {
    use age::DecryptError as D;
    match e {
        D::DecryptionFailed | D::KeyDecryptionFailed | D::NoMatchingKeys => {
            BackupError::WrongPassphrase
        }
        D::InvalidHeader | D::UnknownFormat => {
            BackupError::NotABackup("it is not an age-encrypted file".into())
        }
        D::InvalidMac => BackupError::Damaged("the header was changed".into()),
        D::ExcessiveWork { .. } => BackupError::NotABackup(
            "its passphrase protection asks for far more work than Sotto allows".into(),
        ),
        D::Io(e) => damaged(&e),
        other => BackupError::Damaged(other.to_string()),
    }
}

/// age reports a failed tag or a missing final chunk as an I/O error.
fn damaged(e: &std::io::Error) -> BackupError {
    BackupError::Damaged(match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "it ends too early".into(),
        // age's word for a chunk whose tag does not verify.
        std::io::ErrorKind::InvalidData => "part of it was cut off or changed".into(),
        _ => e.to_string(),
    })
}

type Staged = (sqlx::Transaction<'static, sqlx::Sqlite>, ImportSummary);

/// Applies every record in one transaction and hands it back uncommitted.
async fn merge(
    store: &Store,
    options: &ImportOptions,
    progress: &(dyn Fn(BackupProgress) + Send + Sync),
    cancel: &CancelToken,
    rx: &mut mpsc::Receiver<Batch>,
) -> Result<Staged, BackupError> {
    let Some(first) = rx.recv().await else {
        return Err(BackupError::Damaged("it is empty".into()));
    };
    let mut records = first?.into_iter();
    let header = match records.next() {
        Some(Record::Header(h)) => h,
        _ => {
            return Err(BackupError::NotABackup(
                "it does not start with a Sotto header".into(),
            ));
        }
    };
    check_header(&header)?;
    let total = header.counts.total();
    progress(BackupProgress { done: 0, total });

    let mut db = store.begin().await?;
    let mut state = Merge {
        options,
        accounts: HashMap::new(),
        conversations: HashMap::new(),
        seen: BackupCounts::default(),
        added: BackupCounts::default(),
        present: BackupCounts::default(),
        identity: if header.includes_identity {
            IdentityOutcome::Skipped
        } else {
            IdentityOutcome::NotInFile
        },
        ended: false,
    };
    let mut done = 0u64;
    let mut pending: Option<std::vec::IntoIter<Record>> = Some(records);
    loop {
        let batch = match pending.take() {
            Some(b) => b,
            None => match rx.recv().await {
                Some(b) => b?.into_iter(),
                None => break,
            },
        };
        for record in batch {
            if cancel.is_cancelled() {
                return Err(BackupError::Cancelled);
            }
            state.apply(&mut db, record, &header).await?;
            done += 1;
            if done.is_multiple_of(PROGRESS_EVERY) {
                progress(BackupProgress {
                    done: done.min(total),
                    total,
                });
            }
        }
    }
    if !state.ended {
        return Err(BackupError::Damaged("its end record is missing".into()));
    }
    progress(BackupProgress { done: total, total });
    Ok((
        db,
        ImportSummary {
            added: state.added,
            present: state.present,
            identity: state.identity,
            app_version: header.app_version,
            created_at: header.created_at,
        },
    ))
}

fn check_header(header: &Header) -> Result<(), BackupError> {
    if header.format != FORMAT_NAME {
        return Err(BackupError::NotABackup(format!(
            "its format is {:?}",
            header.format
        )));
    }
    if header.version > FORMAT_VERSION || header.version == 0 {
        return Err(BackupError::UnsupportedVersion(header.version));
    }
    Ok(())
}

struct Merge<'a> {
    options: &'a ImportOptions,
    /// Address in the file → account id here.
    accounts: HashMap<String, i64>,
    /// (account id, conversation JID) → conversation id here. One entry per
    /// conversation, not per message: small next to the archive.
    conversations: HashMap<(i64, String), i64>,
    seen: BackupCounts,
    added: BackupCounts,
    present: BackupCounts,
    identity: IdentityOutcome,
    ended: bool,
}

fn tally(added: &mut u64, present: &mut u64, m: Merged) {
    match m {
        Merged::Added => *added += 1,
        Merged::Present => *present += 1,
    }
}

impl Merge<'_> {
    fn account(&self, jid: &str) -> Result<i64, BackupError> {
        self.accounts.get(jid).copied().ok_or_else(|| {
            BackupError::Damaged(format!(
                "a record names the account {jid} before it is listed"
            ))
        })
    }

    async fn apply(
        &mut self,
        db: &mut sqlx::SqliteConnection,
        record: Record,
        header: &Header,
    ) -> Result<(), BackupError> {
        if self.ended {
            return Err(BackupError::Damaged(
                "there is data after its end record".into(),
            ));
        }
        record.count_into(&mut self.seen);
        match record {
            Record::Header(_) => {
                return Err(BackupError::Damaged("it has a second header".into()));
            }
            Record::End(end) => {
                if end.counts != self.seen || end.counts != header.counts {
                    return Err(BackupError::Damaged(
                        "its end record does not match what was read".into(),
                    ));
                }
                self.ended = true;
            }
            Record::Account(a) => {
                let (id, m) = rows::merge_account_in(db, &a).await?;
                self.accounts.insert(a.jid.clone(), id);
                tally(&mut self.added.accounts, &mut self.present.accounts, m);
            }
            Record::Contact(c) => {
                let account = self.account(&c.account)?;
                let m = rows::merge_contact_in(db, account, &c).await?;
                tally(&mut self.added.contacts, &mut self.present.contacts, m);
            }
            Record::Conversation(c) => {
                let account = self.account(&c.account)?;
                let (id, m) = rows::merge_conversation_in(db, account, &c).await?;
                self.conversations.insert((account, c.jid.clone()), id);
                tally(
                    &mut self.added.conversations,
                    &mut self.present.conversations,
                    m,
                );
            }
            Record::Message(msg) => {
                let account = self.account(&msg.account)?;
                let key = (account, msg.conversation.clone());
                let conversation = match self.conversations.get(&key) {
                    Some(id) => *id,
                    None => {
                        // Not from our writer, but harmless: open it.
                        let (id, _) = rows::merge_conversation_in(
                            db,
                            account,
                            &BackupConversation {
                                account: msg.account.clone(),
                                jid: msg.conversation.clone(),
                                kind: "chat".into(),
                                name: None,
                                encryption: None,
                                last_activity: Some(msg.timestamp),
                                unread: 0,
                                open: true,
                            },
                        )
                        .await?;
                        self.conversations.insert(key, id);
                        id
                    }
                };
                let m = rows::merge_message_in(db, conversation, &msg).await?;
                tally(&mut self.added.messages, &mut self.present.messages, m);
            }
            Record::Device(d) => {
                let account = self.account(&d.account)?;
                let m = rows::merge_device_in(db, account, &d).await?;
                tally(&mut self.added.devices, &mut self.present.devices, m);
            }
            Record::Trust(t) => {
                let account = self.account(&t.account)?;
                let m = rows::merge_trust_in(db, account, &t).await?;
                tally(&mut self.added.trust, &mut self.present.trust, m);
            }
            Record::OmemoIdentity(i) => {
                if self.options.restore_identity {
                    let account = self.account(&i.account)?;
                    // Two live devices with one identity break each other's
                    // ratchets (ARCHITECTURE "Backups"): never replace one.
                    if rows::identity_device_in(db, account).await?.is_some() {
                        return Err(BackupError::IdentityConflict {
                            account: i.account.clone(),
                        });
                    }
                    let m = rows::restore_identity_in(db, account, &i).await?;
                    tally(
                        &mut self.added.omemo_identities,
                        &mut self.present.omemo_identities,
                        m,
                    );
                    self.identity = IdentityOutcome::Restored;
                }
            }
            Record::OmemoPrekey(p) => {
                if self.options.restore_identity {
                    let account = self.account(&p.account)?;
                    let m = rows::restore_prekey_in(db, account, &p).await?;
                    tally(
                        &mut self.added.omemo_prekeys,
                        &mut self.present.omemo_prekeys,
                        m,
                    );
                }
            }
            Record::OmemoSignedPrekey(s) => {
                if self.options.restore_identity {
                    let account = self.account(&s.account)?;
                    let m = rows::restore_signed_prekey_in(db, account, &s).await?;
                    tally(
                        &mut self.added.omemo_signed_prekeys,
                        &mut self.present.omemo_signed_prekeys,
                        m,
                    );
                }
            }
            Record::OmemoSession(s) => {
                if self.options.restore_identity {
                    let account = self.account(&s.account)?;
                    let m = rows::restore_session_in(db, account, &s).await?;
                    tally(
                        &mut self.added.omemo_sessions,
                        &mut self.present.omemo_sessions,
                        m,
                    );
                }
            }
        }
        Ok(())
    }
}
