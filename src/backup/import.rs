//! Import: a file → age (scrypt) → zstd → JSON lines → the archive, in
//! two passes over the file.
//!
//! The first pass only reads: it decrypts to age's authenticated end,
//! checks the header, the order of the records and the end record against
//! what was read, and that a requested identity would not replace one here.
//! A wrong passphrase, a truncated file or a flipped byte stops it, and the
//! archive has not been touched (byte for byte).
//!
//! The second pass merges in short transactions, so that messages arriving
//! meanwhile wait for one batch, not for the whole import. Each batch
//! records the rows it added in `backup_import_journal`; the last one
//! clears the journal. A cancel or an error in between removes exactly the
//! journaled rows, and a journal left by a crash is undone at the next
//! start ([`super::recover`]): the import is all or nothing either way.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::format::{FORMAT_NAME, FORMAT_VERSION, Header, MAX_LINE_BYTES, Record};
use super::{
    BackupError, BackupProgress, BackupStage, CancelToken, ExposeSecret, IdentityOutcome,
    ImportOptions, ImportSummary, SecretString, file_error,
};
use crate::store::Store;
use crate::store::backup::{self as rows, BackupConversation, BackupCounts, Merged};

/// Records travel from the reader in batches of this many.
const BATCH: usize = 512;
const PROGRESS_EVERY: u64 = 1000;
/// A write transaction of the second pass ends after this many records or
/// this long, whichever comes first: the longest an arriving message waits.
const TX_RECORDS: usize = 2_000;
const TX_TIME: Duration = Duration::from_millis(100);

type Batch = Result<Vec<Record>, BackupError>;
/// The blocking reader; `Ok` only once age verified the final chunk.
type Reader = tokio::task::JoinHandle<Result<(), BackupError>>;

/// One import at a time: the journal belongs to the one running.
static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn import(
    store: &Store,
    path: &Path,
    passphrase: SecretString,
    options: &ImportOptions,
    progress: &(dyn Fn(BackupProgress) + Send + Sync),
    cancel: &CancelToken,
) -> Result<ImportSummary, BackupError> {
    let _running = RUNNING.lock().await;
    // Left by an import that never finished (a crash): undo it first.
    super::recover(store).await?;
    let again = SecretString::from(passphrase.expose_secret());

    // Pass 1: read everything, write nothing.
    let (reader, mut rx) = spawn_reader(path, passphrase, cancel)?;
    let checked = check(store, options, progress, cancel, &mut rx).await;
    drop(rx);
    let read = join(reader).await;
    let header = checked?;
    read?;

    // Pass 2: merge in short transactions; undo them all unless the file
    // verified to its end again.
    let merged = async {
        let (reader, mut rx) = spawn_reader(path, again, cancel)?;
        let merged = merge(store, options, progress, cancel, &mut rx, &header).await;
        drop(rx);
        let read = join(reader).await;
        let (summary, learned) = merged?;
        read?;
        if cancel.is_cancelled() {
            return Err(BackupError::Cancelled);
        }
        let mut db = store.begin().await?;
        for l in &learned {
            rows::learn_conversation_in(&mut db, l.id, l.last_activity, l.name.as_deref()).await?;
        }
        rows::clear_journal_in(&mut db).await?;
        db.commit().await?;
        Ok(summary)
    }
    .await;
    if merged.is_err()
        && let Err(undo) = rows::undo_journal(store).await
    {
        // The journal stays; the next start undoes it.
        tracing::warn!("undoing a stopped import failed: {undo}");
    }
    merged
}

fn spawn_reader(
    path: &Path,
    passphrase: SecretString,
    cancel: &CancelToken,
) -> Result<(Reader, mpsc::Receiver<Batch>), BackupError> {
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let (tx, rx) = mpsc::channel::<Batch>(4);
    let cancel = cancel.clone();
    let reader = tokio::task::spawn_blocking(move || read_file(file, passphrase, &tx, &cancel));
    Ok((reader, rx))
}

/// The reader's verdict: Ok only after age verified the final chunk.
async fn join(reader: tokio::task::JoinHandle<Result<(), BackupError>>) -> Result<(), BackupError> {
    reader
        .await
        .map_err(|e| BackupError::Damaged(format!("the reader stopped: {e}")))?
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

/// What a well-formed file looks like, checked record by record in both
/// passes (the second also guards against a file changed in between).
struct Shape {
    header: Option<Header>,
    seen: BackupCounts,
    accounts: HashSet<String>,
    ended: bool,
}

impl Shape {
    fn new() -> Self {
        Shape {
            header: None,
            seen: BackupCounts::default(),
            accounts: HashSet::new(),
            ended: false,
        }
    }

    fn accept(&mut self, record: &Record) -> Result<(), BackupError> {
        let Some(header) = &self.header else {
            let Record::Header(h) = record else {
                return Err(BackupError::NotABackup(
                    "it does not start with a Sotto header".into(),
                ));
            };
            check_header(h)?;
            self.header = Some(h.clone());
            return Ok(());
        };
        if self.ended {
            return Err(BackupError::Damaged(
                "there is data after its end record".into(),
            ));
        }
        record.count_into(&mut self.seen);
        let account = match record {
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
                return Ok(());
            }
            Record::Account(a) => {
                self.accounts.insert(a.jid.clone());
                return Ok(());
            }
            Record::Contact(c) => &c.account,
            Record::Conversation(c) => &c.account,
            Record::Message(m) => &m.account,
            Record::Device(d) => &d.account,
            Record::Trust(t) => &t.account,
            Record::OmemoIdentity(i) => &i.account,
            Record::OmemoPrekey(p) => &p.account,
            Record::OmemoSignedPrekey(s) => &s.account,
            Record::OmemoSession(s) => &s.account,
        };
        if !self.accounts.contains(account) {
            return Err(BackupError::Damaged(format!(
                "a record names the account {account} before it is listed"
            )));
        }
        Ok(())
    }

    fn finish(self) -> Result<Header, BackupError> {
        match self.header {
            None => Err(BackupError::Damaged("it is empty".into())),
            Some(_) if !self.ended => Err(BackupError::Damaged("its end record is missing".into())),
            Some(h) => Ok(h),
        }
    }

    fn total(&self) -> u64 {
        self.header.as_ref().map_or(0, |h| h.counts.total())
    }
}

/// Pass 1: the file's shape, and that a requested identity would not
/// replace one here. Reads the archive, never writes it.
async fn check(
    store: &Store,
    options: &ImportOptions,
    progress: &(dyn Fn(BackupProgress) + Send + Sync),
    cancel: &CancelToken,
    rx: &mut mpsc::Receiver<Batch>,
) -> Result<Header, BackupError> {
    let mut shape = Shape::new();
    let mut done = 0u64;
    while let Some(batch) = rx.recv().await {
        for record in batch? {
            if cancel.is_cancelled() {
                return Err(BackupError::Cancelled);
            }
            let first = shape.header.is_none();
            shape.accept(&record)?;
            if first {
                progress(BackupProgress::new(BackupStage::Checking, 0, shape.total()));
                continue;
            }
            if let Record::OmemoIdentity(i) = &record
                && options.restore_identity
                && rows::account_has_identity(store, &i.account).await?
            {
                return Err(BackupError::IdentityConflict {
                    account: i.account.clone(),
                });
            }
            done += 1;
            if done.is_multiple_of(PROGRESS_EVERY) {
                let total = shape.total();
                progress(BackupProgress::new(
                    BackupStage::Checking,
                    done.min(total),
                    total,
                ));
            }
        }
    }
    shape.finish()
}

/// Pass 2: every record merged, in transactions of at most [`TX_RECORDS`]
/// records or [`TX_TIME`], each journaling the rows it added.
async fn merge(
    store: &Store,
    options: &ImportOptions,
    progress: &(dyn Fn(BackupProgress) + Send + Sync),
    cancel: &CancelToken,
    rx: &mut mpsc::Receiver<Batch>,
    header: &Header,
) -> Result<(ImportSummary, Vec<Learned>), BackupError> {
    let total = header.counts.total();
    progress(BackupProgress::new(BackupStage::Saving, 0, total));
    let mut shape = Shape::new();
    let mut state = Merge {
        options,
        accounts: HashMap::new(),
        conversations: HashMap::new(),
        added: BackupCounts::default(),
        present: BackupCounts::default(),
        identity: if header.includes_identity {
            IdentityOutcome::Skipped
        } else {
            IdentityOutcome::NotInFile
        },
        journal: Vec::new(),
        learned: Vec::new(),
    };
    let mut done = 0u64;
    let mut db: Option<sqlx::Transaction<'static, sqlx::Sqlite>> = None;
    let mut in_tx = 0usize;
    let mut since = Instant::now();
    while let Some(batch) = rx.recv().await {
        for record in batch? {
            if cancel.is_cancelled() {
                return Err(BackupError::Cancelled);
            }
            let first = shape.header.is_none();
            shape.accept(&record)?;
            if first || matches!(record, Record::End(_)) {
                continue;
            }
            let tx = match &mut db {
                Some(tx) => tx,
                None => {
                    since = Instant::now();
                    in_tx = 0;
                    db.insert(store.begin().await?)
                }
            };
            state.apply(tx, record).await?;
            in_tx += 1;
            done += 1;
            if in_tx >= TX_RECORDS || since.elapsed() >= TX_TIME {
                state.commit(db.take()).await?;
                // Arriving messages first: they wait for one batch at most.
                store.yield_to_writers(Duration::from_secs(2)).await;
            }
            if done.is_multiple_of(PROGRESS_EVERY) {
                progress(BackupProgress::new(
                    BackupStage::Saving,
                    done.min(total),
                    total,
                ));
            }
        }
    }
    state.commit(db.take()).await?;
    shape.finish()?;
    progress(BackupProgress::new(BackupStage::Saving, total, total));
    Ok((
        ImportSummary {
            added: state.added,
            present: state.present,
            identity: state.identity,
            app_version: header.app_version.clone(),
            created_at: header.created_at,
        },
        state.learned,
    ))
}

/// What a conversation that was already here learns from the file, applied
/// in the import's last transaction (so an undone import leaves it as it
/// was). One per conversation: small.
struct Learned {
    id: i64,
    last_activity: Option<i64>,
    name: Option<String>,
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
    added: BackupCounts,
    present: BackupCounts,
    identity: IdentityOutcome,
    /// Rows added in the open transaction, journaled when it commits.
    journal: Vec<(&'static str, i64)>,
    learned: Vec<Learned>,
}

impl Merge<'_> {
    fn account(&self, jid: &str) -> Result<i64, BackupError> {
        self.accounts.get(jid).copied().ok_or_else(|| {
            BackupError::Damaged(format!(
                "a record names the account {jid} before it is listed"
            ))
        })
    }

    fn tally(&mut self, table: &'static str, m: Merged, pick: fn(&mut BackupCounts) -> &mut u64) {
        match m {
            Merged::Added(id) => {
                *pick(&mut self.added) += 1;
                self.journal.push((table, id));
            }
            Merged::Present => *pick(&mut self.present) += 1,
        }
    }

    async fn commit(
        &mut self,
        db: Option<sqlx::Transaction<'static, sqlx::Sqlite>>,
    ) -> Result<(), BackupError> {
        if let Some(mut db) = db {
            rows::journal_in(&mut db, &self.journal).await?;
            db.commit().await?;
            self.journal.clear();
        }
        Ok(())
    }

    async fn apply(
        &mut self,
        db: &mut sqlx::SqliteConnection,
        record: Record,
    ) -> Result<(), BackupError> {
        match record {
            Record::Header(_) | Record::End(_) => {}
            Record::Account(a) => {
                let (id, m) = rows::merge_account_in(db, &a).await?;
                self.accounts.insert(a.jid.clone(), id);
                self.tally("accounts", m, |c| &mut c.accounts);
            }
            Record::Contact(c) => {
                let account = self.account(&c.account)?;
                let m = rows::merge_contact_in(db, account, &c).await?;
                self.tally("contacts", m, |c| &mut c.contacts);
            }
            Record::Conversation(c) => {
                let account = self.account(&c.account)?;
                let (id, m) = rows::merge_conversation_in(db, account, &c).await?;
                if m == Merged::Present {
                    self.learned.push(Learned {
                        id,
                        last_activity: c.last_activity,
                        name: c.name.clone(),
                    });
                }
                self.conversations.insert((account, c.jid.clone()), id);
                self.tally("conversations", m, |c| &mut c.conversations);
            }
            Record::Message(msg) => {
                let account = self.account(&msg.account)?;
                let key = (account, msg.conversation.clone());
                let conversation = match self.conversations.get(&key) {
                    Some(id) => *id,
                    None => {
                        // Not from our writer, but harmless: open it.
                        let (id, m) = rows::merge_conversation_in(
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
                        if let Merged::Added(id) = m {
                            self.journal.push(("conversations", id));
                        }
                        self.conversations.insert(key, id);
                        id
                    }
                };
                let (m, corrections) = rows::merge_message_in(db, conversation, &msg).await?;
                self.tally("messages", m, |c| &mut c.messages);
                self.journal.extend(
                    corrections
                        .into_iter()
                        .map(|id| ("message_corrections", id)),
                );
            }
            Record::Device(d) => {
                let account = self.account(&d.account)?;
                let m = rows::merge_device_in(db, account, &d).await?;
                self.tally("omemo_devices", m, |c| &mut c.devices);
            }
            Record::Trust(t) => {
                let account = self.account(&t.account)?;
                let m = rows::merge_trust_in(db, account, &t).await?;
                self.tally("trust", m, |c| &mut c.trust);
            }
            Record::OmemoIdentity(i) => {
                if self.options.restore_identity {
                    let account = self.account(&i.account)?;
                    // Two live devices with one identity break each other's
                    // ratchets (ARCHITECTURE "Backups"): never replace one.
                    // Checked in pass 1 too; an identity made meanwhile
                    // still wins.
                    if rows::identity_device_in(db, account).await?.is_some() {
                        return Err(BackupError::IdentityConflict {
                            account: i.account.clone(),
                        });
                    }
                    let m = rows::restore_identity_in(db, account, &i).await?;
                    self.tally("omemo_identity", m, |c| &mut c.omemo_identities);
                    self.identity = IdentityOutcome::Restored;
                }
            }
            Record::OmemoPrekey(p) => {
                if self.options.restore_identity {
                    let account = self.account(&p.account)?;
                    let m = rows::restore_prekey_in(db, account, &p).await?;
                    self.tally("omemo_prekeys", m, |c| &mut c.omemo_prekeys);
                }
            }
            Record::OmemoSignedPrekey(s) => {
                if self.options.restore_identity {
                    let account = self.account(&s.account)?;
                    let m = rows::restore_signed_prekey_in(db, account, &s).await?;
                    self.tally("omemo_signed_prekeys", m, |c| &mut c.omemo_signed_prekeys);
                }
            }
            Record::OmemoSession(s) => {
                if self.options.restore_identity {
                    let account = self.account(&s.account)?;
                    let m = rows::restore_session_in(db, account, &s).await?;
                    self.tally("omemo_sessions", m, |c| &mut c.omemo_sessions);
                }
            }
        }
        Ok(())
    }
}
