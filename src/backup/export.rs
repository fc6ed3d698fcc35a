//! Export: the store's rows → JSON lines → zstd → age (scrypt) → a hidden
//! file beside the target, renamed into place at the very end.
//!
//! The async side reads the snapshot and formats lines; a blocking thread
//! compresses, encrypts and writes. A small bounded channel between them
//! keeps memory flat whatever the size of the archive.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::format::{End, FORMAT_NAME, FORMAT_VERSION, Header, Record};
use super::{
    BackupError, BackupProgress, BackupStage, CancelToken, ExportOptions, ExportSummary,
    ExposeSecret, MIN_PASSPHRASE_CHARS, SecretString, file_error, record_export,
};
use crate::store::backup::{self as rows, BackupCounts};
use crate::store::{Store, StoreError, now_ms};

/// Lines are handed to the writer in chunks of about this size.
const CHUNK_BYTES: usize = 256 * 1024;
/// zstd's default level: fast, and several times smaller than JSON.
const ZSTD_LEVEL: i32 = 3;
/// Progress is reported every this many records (and at the end).
const PROGRESS_EVERY: u64 = 1000;

enum Chunk {
    Data(Zeroizing<Vec<u8>>),
    /// Everything was sent: finish the streams and sync the file.
    Finish,
}

/// Writes the archive to `path` (replacing it only on success).
pub async fn export(
    store: &Store,
    path: &Path,
    passphrase: SecretString,
    options: &ExportOptions,
    progress: &(dyn Fn(BackupProgress) + Send + Sync),
    cancel: &CancelToken,
) -> Result<ExportSummary, BackupError> {
    if passphrase.expose_secret().chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(BackupError::WeakPassphrase);
    }
    let partial = PartialFile::create_beside(path)?;
    let file = partial.file()?;
    let (tx, rx) = mpsc::channel::<Chunk>(4);
    let log_n = options.scrypt_log_n;
    let writer = tokio::task::spawn_blocking(move || write_file(file, passphrase, log_n, rx));

    let produced = produce(store, options, progress, cancel, &tx).await;
    if produced.is_ok() {
        // The writer is gone only if it failed; its error says why.
        let _ = tx.send(Chunk::Finish).await;
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| BackupError::Storage(format!("the writer stopped: {e}")));
    let counts = produced?;
    let bytes = written??;
    partial.persist(path)?;
    record_export(store).await?;
    Ok(ExportSummary {
        path: path.display().to_string(),
        counts,
        bytes,
        includes_identity: options.include_identity,
    })
}

/// The compressing, encrypting, writing end; runs on a blocking thread.
fn write_file(
    file: File,
    passphrase: SecretString,
    log_n: Option<u8>,
    mut rx: mpsc::Receiver<Chunk>,
) -> Result<u64, BackupError> {
    let io = |e: std::io::Error| BackupError::Storage(format!("writing the backup: {e}"));
    let mut recipient = age::scrypt::Recipient::new(passphrase);
    if let Some(n) = log_n {
        recipient.set_work_factor(n);
    }
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| BackupError::Storage(e.to_string()))?;
    drop(recipient);
    let out = BufWriter::with_capacity(CHUNK_BYTES, file);
    let sealed = encryptor.wrap_output(out).map_err(io)?;
    let mut zstd = zstd::stream::write::Encoder::new(sealed, ZSTD_LEVEL).map_err(io)?;
    loop {
        match rx.blocking_recv() {
            Some(Chunk::Data(data)) => zstd.write_all(&data).map_err(io)?,
            Some(Chunk::Finish) => break,
            // The producer stopped without finishing: cancelled or failed.
            None => return Err(BackupError::Cancelled),
        }
    }
    let sealed = zstd.finish().map_err(io)?;
    let out = sealed.finish().map_err(io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(file.metadata().map_err(io)?.len())
}

/// Formats records into chunks for the writer.
struct Lines<'a> {
    buf: Zeroizing<Vec<u8>>,
    tx: &'a mpsc::Sender<Chunk>,
    done: u64,
    total: u64,
    progress: &'a (dyn Fn(BackupProgress) + Send + Sync),
    cancel: &'a CancelToken,
}

impl Lines<'_> {
    async fn push(&mut self, record: &Record) -> Result<(), BackupError> {
        if self.cancel.is_cancelled() {
            return Err(BackupError::Cancelled);
        }
        serde_json::to_writer(&mut *self.buf, record)
            .map_err(|e| BackupError::Storage(format!("formatting a record: {e}")))?;
        self.buf.push(b'\n');
        if !matches!(record, Record::Header(_) | Record::End(_)) {
            self.done += 1;
            if self.done.is_multiple_of(PROGRESS_EVERY) {
                (self.progress)(BackupProgress::new(
                    BackupStage::Saving,
                    self.done,
                    self.total,
                ));
            }
        }
        if self.buf.len() >= CHUNK_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BackupError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(
            &mut self.buf,
            Zeroizing::new(Vec::with_capacity(CHUNK_BYTES + 4096)),
        );
        self.tx
            .send(Chunk::Data(chunk))
            .await
            // The writer failed; the caller reports its error.
            .map_err(|_| BackupError::Cancelled)
    }

    async fn all<T>(
        &mut self,
        mut rows: BoxStream<'_, Result<T, StoreError>>,
        wrap: fn(T) -> Record,
    ) -> Result<(), BackupError> {
        while let Some(row) = rows.next().await {
            self.push(&wrap(row?)).await?;
        }
        Ok(())
    }
}

async fn produce(
    store: &Store,
    options: &ExportOptions,
    progress: &(dyn Fn(BackupProgress) + Send + Sync),
    cancel: &CancelToken,
    tx: &mpsc::Sender<Chunk>,
) -> Result<BackupCounts, BackupError> {
    // One read transaction: the counts and every row come from one
    // snapshot, however long the export takes (WAL keeps writers going).
    let mut db = store.pool().begin().await?;
    let counts = rows::backup_counts_in(&mut db, options.include_identity).await?;
    let accounts: Vec<String> = sqlx::query_scalar("SELECT jid FROM accounts ORDER BY id")
        .fetch_all(&mut *db)
        .await?;
    let mut out = Lines {
        buf: Zeroizing::new(Vec::with_capacity(CHUNK_BYTES + 4096)),
        tx,
        done: 0,
        total: counts.total(),
        progress,
        cancel,
    };
    progress(BackupProgress::new(BackupStage::Saving, 0, out.total));
    out.push(&Record::Header(Header {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        app_version: crate::config::VERSION.into(),
        created_at: now_ms(),
        accounts,
        includes_identity: options.include_identity,
        counts,
    }))
    .await?;
    out.all(rows::backup_accounts(&mut db), Record::Account)
        .await?;
    out.all(rows::backup_contacts(&mut db), Record::Contact)
        .await?;
    out.all(rows::backup_conversations(&mut db), Record::Conversation)
        .await?;
    out.all(rows::backup_messages(&mut db), Record::Message)
        .await?;
    out.all(rows::backup_devices(&mut db), Record::Device)
        .await?;
    out.all(rows::backup_trust(&mut db), Record::Trust).await?;
    if options.include_identity {
        out.all(rows::backup_identities(&mut db), Record::OmemoIdentity)
            .await?;
        out.all(rows::backup_prekeys(&mut db), Record::OmemoPrekey)
            .await?;
        out.all(
            rows::backup_signed_prekeys(&mut db),
            Record::OmemoSignedPrekey,
        )
        .await?;
        out.all(rows::backup_sessions(&mut db), Record::OmemoSession)
            .await?;
    }
    db.rollback().await?;
    if out.done != counts.total() {
        // Cannot happen inside one snapshot; refuse rather than write a
        // file whose end record would not match its header.
        return Err(BackupError::Storage(
            "the archive changed while it was read".into(),
        ));
    }
    out.push(&Record::End(End { counts })).await?;
    out.flush().await?;
    progress(BackupProgress::new(
        BackupStage::Saving,
        out.done,
        out.total,
    ));
    Ok(counts)
}

/// The file being written: hidden, beside the target (so the final rename
/// stays on one file system and is atomic), removed unless persisted.
struct PartialFile {
    path: PathBuf,
    file: Option<File>,
    kept: bool,
}

impl PartialFile {
    fn create_beside(target: &Path) -> Result<PartialFile, BackupError> {
        let name = target
            .file_name()
            .ok_or_else(|| file_error(target, std::io::Error::other("not a file name")))?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let suffix: u64 = rand::random();
        let path = dir.join(format!(".{}.{suffix:016x}.partial", name.to_string_lossy()));
        let mut open = OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            open.mode(0o600);
        }
        let file = open.open(&path).map_err(|e| file_error(target, e))?;
        Ok(PartialFile {
            path,
            file: Some(file),
            kept: false,
        })
    }

    fn file(&self) -> Result<File, BackupError> {
        match &self.file {
            Some(f) => f.try_clone().map_err(|e| file_error(&self.path, e)),
            None => Err(file_error(&self.path, std::io::Error::other("closed"))),
        }
    }

    fn persist(mut self, target: &Path) -> Result<(), BackupError> {
        self.file.take();
        std::fs::rename(&self.path, target).map_err(|e| file_error(target, e))?;
        self.kept = true;
        // The rename itself must survive a crash too.
        if let Some(dir) = target.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.kept {
            self.file.take();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
