//! Backups: the whole local archive in one passphrase-encrypted file that
//! standard tools open (`age -d` then `zstd -d`), read and written as a
//! stream in constant memory. The layout is docs/backup-format.md.
//!
//! Export reads one consistent snapshot (a read transaction) while the
//! service keeps running, writes to a hidden file beside the target and
//! renames it into place only when everything is written and synced.
//! Import reads the file twice: first to check it to its authenticated
//! end (a wrong passphrase, a truncated or changed file stops it before
//! anything is written), then to merge it in short transactions whose
//! added rows are journaled, so that a cancel, an error or a crash undoes
//! exactly those (see import.rs). Merging is idempotent (see
//! store/backup.rs).
//!
//! No GTK here: the service runs these for the window and the CLI.

mod export;
pub mod format;
mod import;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

pub use age::secrecy::{ExposeSecret, SecretString};
pub use export::export;
pub use import::import;

use crate::i18n::{gettext, gettext_f};
use crate::store::backup::BackupCounts;
use crate::store::{Store, StoreError, now_ms};

/// Shorter passphrases are refused: the file may sit on a USB stick or in
/// someone's cloud for years, and scrypt only slows guessing down.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// Profile settings (the store's settings table).
/// Store setting: when the last export finished (ms since the epoch).
pub const LAST_EXPORT_KEY: &str = "backup.last_export_at";
const REMINDER_KEY: &str = "backup.reminder_days";
/// Remind after a month without a backup unless the user chose otherwise.
pub const DEFAULT_REMINDER_DAYS: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum BackupError {
    #[error("the passphrase is shorter than {MIN_PASSPHRASE_CHARS} characters")]
    WeakPassphrase,
    #[error("wrong passphrase (or a damaged file header)")]
    WrongPassphrase,
    #[error("not a Sotto backup: {0}")]
    NotABackup(String),
    #[error("made by a newer Sotto (backup format version {0})")]
    UnsupportedVersion(u32),
    #[error("the backup file is damaged or incomplete: {0}")]
    Damaged(String),
    #[error("cancelled")]
    Cancelled,
    #[error("{account} already has an OMEMO identity on this device")]
    IdentityConflict { account: String },
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    #[error("storage: {0}")]
    Storage(String),
}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> Self {
        BackupError::Storage(e.to_string())
    }
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl BackupError {
    /// A sentence for the user, translated; it always says what happened
    /// to their data.
    pub fn user_message(&self) -> String {
        match self {
            BackupError::WeakPassphrase => gettext_f(
                "Choose a passphrase of at least {n} characters. Nothing was written.",
                &[("n", &MIN_PASSPHRASE_CHARS.to_string())],
            ),
            BackupError::WrongPassphrase => gettext(
                "The passphrase does not open this backup (or the file is damaged). Nothing was imported.",
            ),
            BackupError::NotABackup(d) => gettext_f(
                "This file is not a Sotto backup ({detail}). Nothing was imported.",
                &[("detail", d)],
            ),
            BackupError::UnsupportedVersion(v) => gettext_f(
                "This backup was made by a newer version of Sotto (format {version}). Update Sotto to import it. Nothing was imported.",
                &[("version", &v.to_string())],
            ),
            BackupError::Damaged(d) => gettext_f(
                "The backup file is damaged or incomplete ({detail}). Nothing was imported.",
                &[("detail", d)],
            ),
            BackupError::Cancelled => gettext("Cancelled. Nothing was changed."),
            BackupError::IdentityConflict { account } => gettext_f(
                "{account} already has an OMEMO identity on this device. Restoring another one would break the encrypted sessions of both devices, so nothing was imported. Import without restoring the identity to keep this device's keys and add the history.",
                &[("account", account)],
            ),
            BackupError::File { path, detail } => gettext_f(
                "Cannot use the file {path}: {detail}",
                &[("path", path), ("detail", detail)],
            ),
            BackupError::Storage(d) => gettext_f(
                "Local storage problem: {detail}. Nothing was changed.",
                &[("detail", d)],
            ),
        }
    }
}

pub(crate) fn file_error(path: &std::path::Path, e: std::io::Error) -> BackupError {
    BackupError::File {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// What an export or import is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStage {
    /// Import, first pass: reading the whole file, writing nothing.
    Checking,
    /// Export: writing the file; import: merging into the archive.
    Saving,
}

/// How far an export or import is, in records of the current stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackupProgress {
    pub stage: BackupStage,
    pub done: u64,
    pub total: u64,
}

impl BackupProgress {
    pub fn new(stage: BackupStage, done: u64, total: u64) -> Self {
        BackupProgress { stage, done, total }
    }

    /// Of the whole job. An import's check only decrypts and parses, about
    /// a fifth of the time its merge takes, so it fills the first fifth.
    pub fn fraction(&self) -> f64 {
        let of_stage = if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).min(1.0)
        };
        match self.stage {
            BackupStage::Checking => of_stage * CHECK_SHARE,
            BackupStage::Saving => of_stage,
        }
    }
}

const CHECK_SHARE: f64 = 0.2;

/// Shared between the one who asks and the running export or import;
/// checked between records.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Also write the OMEMO identity, pre-keys and sessions (secret keys).
    pub include_identity: bool,
    /// scrypt's log2(N); `None` lets age pick about a second of work on
    /// this machine. Tests use a small one to stay fast.
    pub scrypt_log_n: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub path: String,
    pub counts: BackupCounts,
    pub bytes: u64,
    pub includes_identity: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Restore the OMEMO identity and sessions from the file (refused when
    /// an account here already has an identity).
    pub restore_identity: bool,
}

/// What happened to an OMEMO identity in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityOutcome {
    NotInFile,
    /// In the file, left out: history only, this device keeps its own keys.
    Skipped,
    /// Restored: the old device must not be used any more.
    Restored,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Rows that were new here.
    pub added: BackupCounts,
    /// Rows that were already here (left as they were).
    pub present: BackupCounts,
    pub identity: IdentityOutcome,
    pub app_version: String,
    pub created_at: i64,
}

/// A rough strength estimate for the hint under the passphrase field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PassphraseStrength {
    TooShort,
    Weak,
    Fair,
    Strong,
}

impl PassphraseStrength {
    /// Bits of a guess-by-class estimate, discounted for repeated
    /// characters. Not zxcvbn: enough to steer people away from "password1"
    /// towards a few random words.
    pub fn of(passphrase: &str) -> Self {
        let chars: Vec<char> = passphrase.chars().collect();
        if chars.len() < MIN_PASSPHRASE_CHARS {
            return PassphraseStrength::TooShort;
        }
        let mut pool = 0u32;
        if chars.iter().any(|c| c.is_ascii_lowercase()) {
            pool += 26;
        }
        if chars.iter().any(|c| c.is_ascii_uppercase()) {
            pool += 26;
        }
        if chars.iter().any(|c| c.is_ascii_digit()) {
            pool += 10;
        }
        if chars.iter().any(|c| c.is_ascii_punctuation() || *c == ' ') {
            pool += 33;
        }
        if chars.iter().any(|c| !c.is_ascii()) {
            pool += 100;
        }
        let mut distinct = chars.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // "aaaaaaaaaaaa" is not twelve characters' worth of guessing.
        let effective = distinct.len().max(chars.len() / 2) as f64;
        let bits = effective * f64::from(pool.max(2)).log2();
        match bits {
            b if b < 50.0 => PassphraseStrength::Weak,
            b if b < 75.0 => PassphraseStrength::Fair,
            _ => PassphraseStrength::Strong,
        }
    }

    pub fn label(self) -> String {
        match self {
            PassphraseStrength::TooShort => gettext_f(
                "Too short: at least {n} characters",
                &[("n", &MIN_PASSPHRASE_CHARS.to_string())],
            ),
            PassphraseStrength::Weak => gettext("Weak: easy to guess. Add a few unrelated words."),
            PassphraseStrength::Fair => gettext("Fair: a few more words make it strong."),
            PassphraseStrength::Strong => gettext("Strong"),
        }
    }
}

/// When the last backup was made and whether it is time to remind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackupStatus {
    pub last_export_at: Option<i64>,
    /// 0: never remind.
    pub reminder_days: u32,
    /// Nothing exported for longer than `reminder_days` (counted from
    /// when the first account was added, if never).
    pub due: bool,
}

/// Undoes an import that was interrupted (a crash, a kill) before it
/// finished, from the journal it left; nothing to do otherwise. The service
/// calls this at start; every import calls it first.
pub async fn recover(store: &Store) -> Result<u64, BackupError> {
    if crate::store::backup::journal_len(store).await? == 0 {
        return Ok(0);
    }
    let removed = crate::store::backup::undo_journal(store).await?;
    tracing::warn!(removed, "undid an import that did not finish");
    Ok(removed)
}

pub async fn status(store: &Store) -> Result<BackupStatus, BackupError> {
    let last_export_at = store
        .setting(LAST_EXPORT_KEY)
        .await?
        .and_then(|v| v.parse::<i64>().ok());
    let reminder_days = store
        .setting(REMINDER_KEY)
        .await?
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(DEFAULT_REMINDER_DAYS);
    let since = match last_export_at {
        Some(t) => Some(t),
        None => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT min(created_at) FROM accounts")
                .fetch_one(store.pool())
                .await?
        }
    };
    let due = reminder_days > 0
        && since.is_some_and(|t| now_ms() - t > i64::from(reminder_days) * 86_400_000);
    Ok(BackupStatus {
        last_export_at,
        reminder_days,
        due,
    })
}

pub async fn set_reminder_days(store: &Store, days: u32) -> Result<(), BackupError> {
    store.set_setting(REMINDER_KEY, &days.to_string()).await?;
    Ok(())
}

async fn record_export(store: &Store) -> Result<(), BackupError> {
    store
        .set_setting(LAST_EXPORT_KEY, &now_ms().to_string())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_strength_grows_with_length_and_variety() {
        use PassphraseStrength::*;
        assert_eq!(PassphraseStrength::of("short"), TooShort);
        assert_eq!(PassphraseStrength::of("aaaaaaaaaaaa"), Weak);
        assert_eq!(PassphraseStrength::of("password"), Weak);
        // Two common words are guessable; three start to hold.
        assert_eq!(PassphraseStrength::of("correct horse"), Weak);
        assert_eq!(PassphraseStrength::of("correct horse battery"), Fair);
        assert_eq!(
            PassphraseStrength::of("correct horse battery staple"),
            Strong
        );
        assert_eq!(PassphraseStrength::of("Tr0ub4dor&3xyz!Q"), Strong);
    }

    #[test]
    fn cancel_is_seen_by_every_clone() {
        let a = CancelToken::new();
        let b = a.clone();
        assert!(!b.is_cancelled());
        a.cancel();
        assert!(b.is_cancelled());
    }
}
