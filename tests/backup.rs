//! Backups (issue 8): export and import of the archive as one age file.
//!
//! The archives are generated straight through the store (no server), so
//! these run in seconds. The library tests use a small scrypt work factor;
//! the CLI tests go through the real service with age's default (about a
//! second per file). Run:
//!   scripts/with-keyring.sh cargo test --no-default-features --test backup
//! The always-on round trip has 10,000 messages (SOTTO_BACKUP_MESSAGES
//! overrides it); the issue's 100,000 are the ignored
//! `round_trip_of_100k_messages`, run in release by scripts/bench-backup.sh,
//! which also runs the 1,000,000-message benchmark.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};
use sotto::backup::{
    self, BackupError, BackupProgress, BackupStage, CancelToken, ExportOptions, IdentityOutcome,
    ImportOptions, SecretString,
};
use sotto::omemo::{Namespace, OwnDevice};
use sotto::store::{
    Encryption, MessageState, NewMessage, Store, TrustLevel, TrustSource, insert_message_in,
};
use support::cli::Cli;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const ALICE: &str = "alice@example.org";
const PASSPHRASE: &str = "correct horse battery staple";
/// A small work factor keeps the library tests fast; the format is the same.
const TEST_LOG_N: u8 = 10;

fn pass() -> SecretString {
    SecretString::from(PASSPHRASE)
}

fn options() -> ExportOptions {
    ExportOptions {
        include_identity: false,
        scrypt_log_n: Some(TEST_LOG_N),
    }
}

fn quiet(_: BackupProgress) {}

async fn open(path: &Path) -> Store {
    Store::open(path, KEY).await.expect("open store")
}

/// What an archive of `conversations` × `per` looks like: chats and rooms,
/// both directions, corrections, undecryptable messages, devices and trust.
struct Shape {
    conversations: u32,
    per: u32,
    /// Offsets the ids, so two archives can overlap only in part.
    first: u32,
}

fn peer(i: u32) -> (String, &'static str) {
    if i % 10 == 9 {
        (format!("room{i}@muc.example.org"), "group")
    } else {
        (format!("peer{i}@example.org"), "chat")
    }
}

fn message(i: u32, j: u32) -> NewMessage {
    let (jid, kind) = peer(i);
    let ts = 1_600_000_000_000 + i64::from(i) * 10_000_000 + i64::from(j) * 1000;
    let outgoing = j % 3 == 1;
    let mut m = if outgoing {
        let mut m = NewMessage::outgoing(&jid, ALICE, &format!("o-{i}-{j}"), Some("hi there"));
        m.state = MessageState::Delivered;
        m.encryption = Encryption::Omemo2;
        m.encryption_info = Some(serde_json::json!({"encrypted_for": [1, 2], "left_out": []}));
        m
    } else {
        let sender = if kind == "group" {
            format!("member{}@example.org", j % 5)
        } else {
            jid.clone()
        };
        let noise = (u64::from(i) << 32 | u64::from(j)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let body = format!("message {j} in {i}: {noise:016x}");
        let mut m = NewMessage::incoming(&jid, &sender, Some(&body));
        m.message_id = Some(format!("m-{i}-{j}"));
        m.stanza_id = Some(format!("s-{i}-{j}"));
        m.stanza_id_by = Some(if kind == "group" {
            jid.clone()
        } else {
            ALICE.into()
        });
        m.sender_device = Some(1000 + j % 3);
        m.encryption = Encryption::Omemo0;
        m.trusted = Some(true);
        if kind == "group" {
            m.sender_nick = Some(format!("nick{}", j % 5));
        }
        if j % 50 == 3 {
            m.body = None;
            m.error = Some("not encrypted for this device".into());
            m.trusted = None;
        }
        m
    };
    m.conversation_kind = kind.into();
    m.timestamp = ts;
    m
}

/// A correction of message `j` by its sender: applied to that row.
fn correction(i: u32, j: u32) -> NewMessage {
    let original = message(i, j);
    let mut c = message(i, j + 1);
    c.sender_jid = original.sender_jid.clone();
    c.direction = original.direction;
    c.replaces_id = original.message_id.clone();
    c.body = Some(format!("corrected {j}"));
    c.message_id = Some(format!("c-{i}-{j}"));
    c.origin_id = None;
    c.stanza_id = Some(format!("cs-{i}-{j}"));
    c.stanza_id_by = Some(ALICE.into());
    c.state = MessageState::Received;
    c.direction = sotto::store::Direction::In;
    c
}

async fn fill(store: &Store, shape: &Shape) -> i64 {
    let account = match store.account(ALICE).await.unwrap() {
        Some(a) => a.id,
        None => store.add_account(ALICE, None, None).await.unwrap().id,
    };
    let mut tx = store.begin_received().await.unwrap();
    let mut n = 0;
    for i in 0..shape.conversations {
        for j in shape.first..shape.first + shape.per {
            // Every 25th incoming message is corrected right after it.
            let m = message(i, j);
            let corrects = j % 25 == 5 && m.direction == sotto::store::Direction::In;
            insert_message_in(&mut tx, account, &m).await.unwrap();
            if corrects {
                insert_message_in(&mut tx, account, &correction(i, j))
                    .await
                    .unwrap();
            }
            n += 1;
            if n % 5000 == 0 {
                tx.commit().await.unwrap();
                tx = store.begin_received().await.unwrap();
            }
        }
    }
    tx.commit().await.unwrap();
    for i in 0..shape.conversations {
        let (jid, _) = peer(i);
        let devices = [(1000, None), (1001, Some("Phone".to_string()))];
        store
            .apply_device_list(account, &jid, Namespace::TwoMemo, &devices)
            .await
            .unwrap();
        for (d, level, source) in [
            (1000u32, TrustLevel::Verified, TrustSource::Qr),
            (1001, TrustLevel::Distrusted, TrustSource::Manual),
        ] {
            let key = [((i % 251) as u8).wrapping_add(d as u8); 32];
            store
                .set_device_identity(account, &jid, Namespace::TwoMemo, d, &key)
                .await
                .unwrap();
            store
                .set_trust(account, &jid, d, &key, level, source)
                .await
                .unwrap();
        }
    }
    account
}

/// Every row that matters, in a stable order, without local row ids.
async fn dump(store: &Store) -> BTreeMap<&'static str, Vec<String>> {
    let queries: [(&str, &str); 7] = [
        (
            "accounts",
            "SELECT jid, server, ca_file, enabled FROM accounts ORDER BY jid",
        ),
        (
            "contacts",
            "SELECT a.jid, c.jid, c.name, c.subscription, c.groups FROM contacts c \
             JOIN accounts a ON a.id = c.account_id ORDER BY a.jid, c.jid",
        ),
        (
            "conversations",
            "SELECT a.jid, c.jid, c.kind, c.name, c.encryption, c.last_activity, c.open \
             FROM conversations c JOIN accounts a ON a.id = c.account_id ORDER BY a.jid, c.jid",
        ),
        (
            "messages",
            "SELECT a.jid, c.jid, m.stanza_id, m.stanza_id_by, m.origin_id, m.message_id, \
               m.direction, m.sender_jid, m.sender_device, m.sender_nick, m.timestamp, \
               m.received_at, m.body, m.encryption, m.trusted, m.state, m.error, \
               m.replaces_id, m.corrected, m.encryption_info \
             FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             JOIN accounts a ON a.id = c.account_id \
             ORDER BY a.jid, c.jid, m.timestamp, m.stanza_id, m.origin_id",
        ),
        (
            "corrections",
            "SELECT m.stanza_id, m.origin_id, mc.stanza_id, mc.stanza_id_by, mc.origin_id, \
               mc.message_id, mc.timestamp FROM message_corrections mc \
             JOIN messages m ON m.id = mc.target_id \
             ORDER BY m.stanza_id, m.origin_id, mc.stanza_id, mc.message_id",
        ),
        (
            "devices",
            "SELECT a.jid, d.jid, d.namespace, d.device_id, d.label, hex(d.identity_key), \
               d.active FROM omemo_devices d JOIN accounts a ON a.id = d.account_id \
             ORDER BY a.jid, d.jid, d.namespace, d.device_id",
        ),
        (
            "trust",
            "SELECT a.jid, t.jid, t.device_id, hex(t.identity_key), t.level, t.source, \
               t.decided_at FROM trust t JOIN accounts a ON a.id = t.account_id \
             ORDER BY a.jid, t.jid, t.device_id, t.identity_key",
        ),
    ];
    let mut out = BTreeMap::new();
    for (name, sql) in queries {
        // "SELECT a, b FROM ..." → "SELECT json_array(a, b) FROM ...".
        let (cols, rest) = sql["SELECT ".len()..].split_once(" FROM ").unwrap();
        let sql = format!("SELECT json_array({cols}) FROM {rest}");
        let rows: Vec<String> = sqlx::query_scalar(&sql)
            .fetch_all(store.pool())
            .await
            .unwrap();
        out.insert(name, rows);
    }
    out
}

async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Closes the store with every committed page in the main file: sqlx's
/// close does not always wait for SQLite's own checkpoint, so do it here.
async fn shut(store: Store) {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
}

/// Hash of the database files as they are on disk (the store is closed).
fn disk_hash(db: &Path) -> String {
    let mut h = Sha256::new();
    for suffix in ["", "-wal"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        // An empty WAL left by a clean close is the same archive as none.
        if let Ok(bytes) = std::fs::read(&p)
            && !bytes.is_empty()
        {
            h.update(suffix.as_bytes());
            h.update(&bytes);
        }
    }
    hex::encode(h.finalize())
}

async fn export_to(store: &Store, path: &Path) -> backup::ExportSummary {
    backup::export(store, path, pass(), &options(), &quiet, &CancelToken::new())
        .await
        .expect("export")
}

async fn import_from(store: &Store, path: &Path) -> Result<backup::ImportSummary, BackupError> {
    backup::import(
        store,
        path,
        pass(),
        &ImportOptions::default(),
        &quiet,
        &CancelToken::new(),
    )
    .await
}

/// 100 conversations × 100 messages, every time (about 15 s in debug).
#[tokio::test]
async fn round_trip_of_an_archive() {
    let total = std::env::var("SOTTO_BACKUP_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    round_trip(total).await;
}

/// The issue's 100,000 messages: about two minutes in debug on 2 busy
/// cores, so run it in release: `cargo test --release --no-default-features
/// --test backup -- --ignored round_trip_of_100k` (scripts/bench-backup.sh
/// does).
#[tokio::test]
#[ignore]
async fn round_trip_of_100k_messages() {
    round_trip(100_000).await;
}

async fn round_trip(total: u32) {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&dir.path().join("a.db")).await;
    let t = Instant::now();
    fill(
        &source,
        &Shape {
            conversations: 100,
            per: total / 100,
            first: 0,
        },
    )
    .await;
    eprintln!("generated {total} messages in {:?}", t.elapsed());
    let rows = count(&source, "messages").await;
    assert!(rows > i64::from(total) * 9 / 10, "{rows} rows");
    assert!(count(&source, "message_corrections").await > 0);

    let file = dir.path().join("history.sotto-backup");
    let t = Instant::now();
    let seen = std::sync::Mutex::new(Vec::new());
    let record = |p: BackupProgress| seen.lock().unwrap().push(p);
    let summary = backup::export(
        &source,
        &file,
        pass(),
        &options(),
        &record,
        &CancelToken::new(),
    )
    .await
    .unwrap();
    eprintln!("exported in {:?}: {} bytes", t.elapsed(), summary.bytes);
    assert_eq!(summary.counts.messages, rows as u64);
    let seen = seen.into_inner().unwrap();
    assert!(seen.len() > 10, "progress is reported as it goes");
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
    assert_eq!(seen.last().unwrap().done, seen.last().unwrap().total);

    let target = open(&dir.path().join("b.db")).await;
    let t = Instant::now();
    let imported = import_from(&target, &file).await.unwrap();
    eprintln!("imported in {:?}", t.elapsed());
    assert_eq!(imported.added.messages, rows as u64);
    assert_eq!(imported.present.messages, 0);
    assert_eq!(imported.identity, IdentityOutcome::NotInFile);
    let (a, b) = (dump(&source).await, dump(&target).await);
    for (table, rows) in &a {
        assert_eq!(rows.len(), b[table].len(), "{table}: row count");
        assert!(rows == &b[table], "{table}: rows differ");
    }
    // The imported history is searchable like the original.
    let hits = target.search(None, "corrected", 10).await.unwrap();
    assert!(!hits.is_empty());
}

#[tokio::test]
async fn importing_twice_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&dir.path().join("a.db")).await;
    fill(
        &source,
        &Shape {
            conversations: 5,
            per: 200,
            first: 0,
        },
    )
    .await;
    let file = dir.path().join("b.age");
    export_to(&source, &file).await;
    let target = open(&dir.path().join("b.db")).await;
    let first = import_from(&target, &file).await.unwrap();
    assert!(first.added.messages > 0);
    let before = dump(&target).await;
    let again = import_from(&target, &file).await.unwrap();
    assert_eq!(again.added, Default::default(), "{again:?}");
    assert_eq!(again.present.messages, first.added.messages);
    assert_eq!(dump(&target).await, before);
    // Importing into the archive it came from adds nothing either.
    let back = import_from(&source, &file).await.unwrap();
    assert_eq!(back.added, Default::default());
}

#[tokio::test]
async fn overlapping_histories_merge_into_their_union() {
    let dir = tempfile::tempdir().unwrap();
    // Old computer: messages 0..300 of 4 conversations.
    let old = open(&dir.path().join("old.db")).await;
    fill(
        &old,
        &Shape {
            conversations: 4,
            per: 300,
            first: 0,
        },
    )
    .await;
    // New computer: 200..500 of 6 conversations (overlap 200..300 in 4).
    let new = open(&dir.path().join("new.db")).await;
    fill(
        &new,
        &Shape {
            conversations: 6,
            per: 300,
            first: 200,
        },
    )
    .await;
    // The union, built the slow way for comparison.
    let union = open(&dir.path().join("union.db")).await;
    fill(
        &union,
        &Shape {
            conversations: 6,
            per: 300,
            first: 200,
        },
    )
    .await;
    fill(
        &union,
        &Shape {
            conversations: 4,
            per: 300,
            first: 0,
        },
    )
    .await;

    let file = dir.path().join("old.age");
    export_to(&old, &file).await;
    let summary = import_from(&new, &file).await.unwrap();
    assert!(summary.present.messages > 0, "the overlap is recognised");
    assert!(summary.added.messages > 0);
    let (got, want) = (dump(&new).await, dump(&union).await);
    for table in [
        "messages",
        "conversations",
        "devices",
        "trust",
        "corrections",
    ] {
        let strip = |rows: &Vec<String>| -> Vec<String> {
            // received_at and last_activity differ by when rows were stored.
            rows.iter()
                .map(|r| {
                    let mut v: Vec<serde_json::Value> = serde_json::from_str(r).unwrap();
                    if table == "messages" {
                        v[11] = serde_json::Value::Null;
                    }
                    if table == "trust" {
                        v[6] = serde_json::Value::Null;
                    }
                    serde_json::to_string(&v).unwrap()
                })
                .collect()
        };
        assert_eq!(
            strip(&got[table]).len(),
            strip(&want[table]).len(),
            "{table}"
        );
        assert!(strip(&got[table]) == strip(&want[table]), "{table} differs");
    }
}

/// Each way a file can be wrong: the error, and not one byte changed.
#[tokio::test]
async fn damaged_files_and_wrong_passphrases_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&dir.path().join("a.db")).await;
    fill(
        &source,
        &Shape {
            conversations: 20,
            per: 500,
            first: 0,
        },
    )
    .await;
    let file = dir.path().join("good.age");
    export_to(&source, &file).await;
    let good = std::fs::read(&file).unwrap();
    assert!(good.len() > 2 * 65536, "several age chunks: {}", good.len());

    // The target already has history of its own.
    let db = dir.path().join("b.db");
    let target = open(&db).await;
    fill(
        &target,
        &Shape {
            conversations: 2,
            per: 100,
            first: 1000,
        },
    )
    .await;
    shut(target).await;
    let pristine = disk_hash(&db);

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in [
        10,
        100,
        200,
        1000,
        good.len() / 3,
        good.len() / 2,
        good.len() - 17,
        good.len() - 1,
    ] {
        cases.push((format!("truncated at {cut}"), good[..cut].to_vec()));
    }
    for at in [30, 120, 400, good.len() / 2, good.len() - 5] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        cases.push((format!("byte {at} flipped"), bad));
    }
    cases.push(("empty".into(), Vec::new()));
    for (what, bytes) in cases {
        let path = dir.path().join("bad.age");
        std::fs::write(&path, &bytes).unwrap();
        let store = open(&db).await;
        let err = import_from(&store, &path).await.unwrap_err();
        shut(store).await;
        assert!(
            matches!(
                err,
                BackupError::Damaged(_) | BackupError::NotABackup(_) | BackupError::WrongPassphrase
            ),
            "{what}: {err:?}"
        );
        assert_eq!(disk_hash(&db), pristine, "{what} changed the archive");
        eprintln!("{what}: {}", err.user_message());
    }

    let store = open(&db).await;
    let err = backup::import(
        &store,
        &file,
        SecretString::from("not the passphrase"),
        &ImportOptions::default(),
        &quiet,
        &CancelToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(err, BackupError::WrongPassphrase);
    assert!(err.user_message().contains("passphrase"));
    // Someone else's age file (a passphrase one, but not ours).
    let foreign = dir.path().join("foreign.age");
    let mut w = age::Encryptor::with_user_passphrase(pass())
        .wrap_output(std::fs::File::create(&foreign).unwrap())
        .unwrap();
    w.write_all(b"{\"hello\":1}\n").unwrap();
    w.finish().unwrap();
    let err = import_from(&store, &foreign).await.unwrap_err();
    assert!(matches!(err, BackupError::NotABackup(_)), "{err:?}");
    shut(store).await;
    assert_eq!(
        disk_hash(&db),
        pristine,
        "a wrong passphrase changed the archive"
    );
}

#[tokio::test]
async fn cancelling_an_export_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("a.db")).await;
    fill(
        &store,
        &Shape {
            conversations: 10,
            per: 500,
            first: 0,
        },
    )
    .await;
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let target = out.join("backup.age");
    // An older backup at the same place survives a cancelled new one.
    std::fs::write(&target, b"the previous backup").unwrap();
    let cancel = CancelToken::new();
    let c = cancel.clone();
    let stop = move |p: BackupProgress| {
        if p.done >= 2000 {
            c.cancel();
        }
    };
    let err = backup::export(&store, &target, pass(), &options(), &stop, &cancel)
        .await
        .unwrap_err();
    assert_eq!(err, BackupError::Cancelled);
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("backup.age")],
        "no partial file"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"the previous backup");
    assert!(
        backup::status(&store)
            .await
            .unwrap()
            .last_export_at
            .is_none()
    );
}

/// A source of 10 × 500 messages exported, and a target with its own 10
/// messages in one conversation; returns (dir, file, target db path, the
/// number of messages in the file).
async fn import_fixture() -> (tempfile::TempDir, PathBuf, PathBuf, i64) {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&dir.path().join("a.db")).await;
    fill(
        &source,
        &Shape {
            conversations: 10,
            per: 500,
            first: 0,
        },
    )
    .await;
    let file = dir.path().join("b.age");
    export_to(&source, &file).await;
    let in_file = count(&source, "messages").await;
    shut(source).await;
    let db = dir.path().join("b.db");
    let target = open(&db).await;
    fill(
        &target,
        &Shape {
            conversations: 1,
            per: 10,
            first: 9000,
        },
    )
    .await;
    shut(target).await;
    (dir, file, db, in_file)
}

async fn import_cancelled_at(target: &Store, file: &Path, stage: BackupStage) {
    let cancel = CancelToken::new();
    let c = cancel.clone();
    let stop = move |p: BackupProgress| {
        if p.stage == stage && p.done >= 3000 {
            c.cancel();
        }
    };
    let err = backup::import(
        target,
        file,
        pass(),
        &ImportOptions::default(),
        &stop,
        &cancel,
    )
    .await
    .unwrap_err();
    assert_eq!(err, BackupError::Cancelled);
}

#[tokio::test]
async fn cancelling_an_import_imports_nothing() {
    let (_dir, file, db, in_file) = import_fixture().await;
    let pristine = disk_hash(&db);

    // While the file is checked, nothing has been written at all.
    let target = open(&db).await;
    import_cancelled_at(&target, &file, BackupStage::Checking).await;
    shut(target).await;
    assert_eq!(disk_hash(&db), pristine);

    // While it merges, batches have committed: the cancel removes them.
    let target = open(&db).await;
    let before = dump(&target).await;
    import_cancelled_at(&target, &file, BackupStage::Saving).await;
    assert_eq!(dump(&target).await, before);
    assert_eq!(count(&target, "messages").await, 10);
    assert_eq!(count(&target, "backup_import_journal").await, 0);
    // And a later import still works in full.
    let s = import_from(&target, &file).await.unwrap();
    assert_eq!(s.added.messages, in_file as u64);
    shut(target).await;
}

/// A crash in the middle of an import (the task dies with batches
/// committed and the journal in place) is undone when the archive is next
/// opened by the service, and the same import then runs in full.
#[tokio::test]
async fn an_import_cut_short_by_a_crash_is_undone_at_the_next_start() {
    let (_dir, file, db, _) = import_fixture().await;
    let target = open(&db).await;
    let before = dump(&target).await;
    let crashing = {
        let (target, file) = (target.clone(), file.clone());
        tokio::spawn(async move {
            let crash = |p: BackupProgress| {
                if p.stage == BackupStage::Saving && p.done >= 3000 {
                    panic!("simulated crash in the middle of an import");
                }
            };
            let _ = backup::import(
                &target,
                &file,
                pass(),
                &ImportOptions::default(),
                &crash,
                &CancelToken::new(),
            )
            .await;
        })
    };
    assert!(crashing.await.unwrap_err().is_panic());
    assert!(count(&target, "messages").await > 10, "no batch committed");
    assert!(count(&target, "backup_import_journal").await > 0);
    shut(target).await;

    let target = open(&db).await;
    let removed = backup::recover(&target).await.unwrap();
    assert!(removed >= 2000, "removed {removed}");
    assert_eq!(dump(&target).await, before);
    assert_eq!(count(&target, "backup_import_journal").await, 0);
    assert_eq!(backup::recover(&target).await.unwrap(), 0);
    let s = import_from(&target, &file).await.unwrap();
    assert_eq!(s.present.messages, 0);
    shut(target).await;
}

/// The point of the batches: a message arriving during a long import waits
/// for one short transaction, not for the whole import.
#[tokio::test]
async fn arriving_messages_wait_for_one_batch_not_for_the_whole_import() {
    let (_dir, file, db, in_file) = import_fixture().await;
    let target = open(&db).await;
    let account = target.account(ALICE).await.unwrap().unwrap().id;
    let saving = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let importing = {
        let (target, file, saving) = (target.clone(), file.clone(), saving.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let note = move |p: BackupProgress| {
                if p.stage == BackupStage::Saving {
                    saving.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            };
            backup::import(
                &target,
                &file,
                pass(),
                &ImportOptions::default(),
                &note,
                &CancelToken::new(),
            )
            .await
            .unwrap();
            started.elapsed()
        })
    };
    let mut waits = Vec::new();
    let mut n = 0;
    while !importing.is_finished() {
        if saving.load(std::sync::atomic::Ordering::Relaxed) {
            let asked = Instant::now();
            let mut tx = target.begin_received().await.unwrap();
            waits.push(asked.elapsed());
            let mut m = message(77, 100_000 + n);
            m.stanza_id = Some(format!("live-{n}"));
            m.origin_id = None;
            insert_message_in(&mut tx, account, &m).await.unwrap();
            tx.commit().await.unwrap();
            n += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let took = importing.await.unwrap();
    let longest = waits.iter().max().copied().unwrap_or_default();
    eprintln!(
        "import {took:?}; {} messages stored meanwhile, longest wait {longest:?}",
        waits.len()
    );
    assert!(
        waits.len() >= 5,
        "too few writes during the merge: {}",
        waits.len()
    );
    assert!(
        longest < std::time::Duration::from_secs(1) && longest * 3 < took,
        "a write waited {longest:?} during an import of {took:?}"
    );
    assert_eq!(
        count(&target, "messages").await,
        10 + in_file + i64::from(n)
    );
    shut(target).await;
}

#[tokio::test]
async fn the_identity_travels_only_when_asked_and_never_over_another() {
    let dir = tempfile::tempdir().unwrap();
    let source = open(&dir.path().join("a.db")).await;
    let account = fill(
        &source,
        &Shape {
            conversations: 2,
            per: 20,
            first: 0,
        },
    )
    .await;
    let device = OwnDevice::generate(&mut rand::rng(), &[], 1);
    source.save_own_device(account, &device).await.unwrap();

    // Without asking, no key material is written at all.
    let plain = dir.path().join("plain.age");
    export_to(&source, &plain).await;
    let text = decrypt_with_library(&plain);
    assert!(!text.contains("omemo_identity"));

    let with = dir.path().join("with.age");
    backup::export(
        &source,
        &with,
        pass(),
        &ExportOptions {
            include_identity: true,
            scrypt_log_n: Some(TEST_LOG_N),
        },
        &quiet,
        &CancelToken::new(),
    )
    .await
    .unwrap();
    assert!(decrypt_with_library(&with).contains("\"type\":\"omemo_identity\""));

    // Default import: history only, this device keeps its own keys.
    let fresh = open(&dir.path().join("fresh.db")).await;
    let s = import_from(&fresh, &with).await.unwrap();
    assert_eq!(s.identity, IdentityOutcome::Skipped);
    assert_eq!(count(&fresh, "omemo_identity").await, 0);

    // Asked for, into a profile without one: restored.
    let restore = ImportOptions {
        restore_identity: true,
    };
    let empty = open(&dir.path().join("empty.db")).await;
    let s = backup::import(&empty, &with, pass(), &restore, &quiet, &CancelToken::new())
        .await
        .unwrap();
    assert_eq!(s.identity, IdentityOutcome::Restored);
    let restored_id = empty
        .load_own_device(1)
        .await
        .unwrap()
        .map(|d| d.device_id());
    assert_eq!(restored_id, Some(device.device_id()));

    // Into a profile that has its own identity: refused, nothing changes.
    let db = dir.path().join("busy.db");
    let busy = open(&db).await;
    let acc = busy.add_account(ALICE, None, None).await.unwrap().id;
    let own = OwnDevice::generate(&mut rand::rng(), &[], 1);
    busy.save_own_device(acc, &own).await.unwrap();
    shut(busy).await;
    let pristine = disk_hash(&db);
    let busy = open(&db).await;
    let err = backup::import(&busy, &with, pass(), &restore, &quiet, &CancelToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackupError::IdentityConflict { .. }),
        "{err:?}"
    );
    assert!(err.user_message().contains("break"));
    shut(busy).await;
    assert_eq!(disk_hash(&db), pristine);
}

#[tokio::test]
async fn the_reminder_follows_the_last_export() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("a.db")).await;
    store.add_account(ALICE, None, None).await.unwrap();
    sqlx::query("UPDATE accounts SET created_at = 0")
        .execute(store.pool())
        .await
        .unwrap();
    let s = backup::status(&store).await.unwrap();
    assert!(s.due && s.last_export_at.is_none());
    assert_eq!(s.reminder_days, backup::DEFAULT_REMINDER_DAYS);
    export_to(&store, &dir.path().join("x.age")).await;
    let s = backup::status(&store).await.unwrap();
    assert!(!s.due && s.last_export_at.is_some());
    backup::set_reminder_days(&store, 0).await.unwrap();
    assert_eq!(backup::status(&store).await.unwrap().reminder_days, 0);
}

/// The plaintext of a backup, with the age crate (tests only).
fn decrypt_with_library(path: &Path) -> String {
    use std::io::Read;
    let d = age::Decryptor::new(std::fs::File::open(path).unwrap()).unwrap();
    let id = age::scrypt::Identity::new(pass());
    let r = d
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .unwrap();
    let mut out = String::new();
    zstd::stream::read::Decoder::new(r)
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// Debian's `age` reads passphrases from the terminal only: give it one
/// through a pty (python's pty module), as a person would type it.
fn age_cli_decrypt(file: &Path, out: &Path) -> Result<(), String> {
    let script = r#"
import os, pty, sys, time
file, out, passphrase = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("age", ["age", "--decrypt", "-o", out, file])
buf = b""
deadline = time.time() + 60
sent = False
while time.time() < deadline:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
    if not sent and b"passphrase" in buf.lower():
        os.write(fd, passphrase.encode() + b"\r")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stderr.write(buf.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let run = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(file)
        .arg(out)
        .arg(PASSPHRASE)
        .output()
        .map_err(|e| e.to_string())?;
    if run.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&run.stderr).into_owned())
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[tokio::test]
async fn debians_age_and_zstd_read_an_export_as_documented() {
    if !have("age") || !have("zstd") {
        eprintln!(
            "\n\n!!!!! SKIPPED: the `age` or `zstd` command is missing (apt install age zstd; \
             scripts/install-deps.sh does). The export was NOT checked against them. !!!!!\n"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("a.db")).await;
    fill(
        &store,
        &Shape {
            conversations: 3,
            per: 50,
            first: 0,
        },
    )
    .await;
    let file = dir.path().join("history.age");
    let summary = export_to(&store, &file).await;
    let zst = dir.path().join("history.jsonl.zst");
    age_cli_decrypt(&file, &zst).expect("age --decrypt");
    let jsonl = dir.path().join("history.jsonl");
    let status = Command::new("zstd")
        .args(["-q", "-d", "-o"])
        .arg(&jsonl)
        .arg(&zst)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let header = &lines[0];
    assert_eq!(header["type"], "header");
    assert_eq!(header["format"], "sotto-backup");
    assert_eq!(header["version"], 1);
    assert_eq!(header["accounts"][0], ALICE);
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "end");
    assert_eq!(end["counts"], header["counts"]);
    let messages: Vec<_> = lines.iter().filter(|l| l["type"] == "message").collect();
    assert_eq!(messages.len() as u64, summary.counts.messages);
    // A person can read the history: who, when, what.
    let first = messages[0];
    for field in [
        "account",
        "conversation",
        "direction",
        "sender_jid",
        "timestamp",
        "body",
    ] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }
    assert!(
        messages
            .iter()
            .any(|m| m["error"] == "not encrypted for this device")
    );
    assert!(messages.iter().any(|m| m["corrections"].is_array()));
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "trust" && l["source"] == "qr")
    );
}

// ------------------------------------------------------------------ CLI

/// A profile made as the app makes one (key in the keyring), then filled.
async fn cli_profile(shape: &Shape) -> Cli {
    let cli = Cli::new();
    let profile = sotto::profile::Profile::open(cli.data_dir()).unwrap();
    let key = sotto::secrets::database_key(profile.id(), true)
        .await
        .unwrap();
    let store = Store::open(&profile.database_path(), &key).await.unwrap();
    fill(&store, shape).await;
    store.close().await;
    drop(profile);
    cli
}

#[tokio::test]
async fn the_cli_exports_and_imports_with_progress_and_a_summary() {
    let old = cli_profile(&Shape {
        conversations: 3,
        per: 400,
        first: 0,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("me.sotto-backup");
    let file_arg = file.to_str().unwrap();
    let run = old
        .run_with_stdin(
            &["backup", "export", file_arg, "--passphrase-stdin"],
            &format!("{PASSPHRASE}\n"),
        )
        .ok();
    assert!(run.stdout.contains("messages"), "summary: {}", run.stdout);
    assert!(
        run.stderr.contains('%'),
        "progress on stderr: {}",
        run.stderr
    );
    assert!(!run.stdout.contains(PASSPHRASE) && !run.stderr.contains(PASSPHRASE));

    let new = Cli::new();
    let run = new
        .run_with_stdin(
            &["backup", "import", file_arg, "--passphrase-stdin"],
            &format!("{PASSPHRASE}\n"),
        )
        .ok();
    assert!(
        run.stdout.contains("1200 messages") || run.stdout.contains("messages"),
        "{}",
        run.stdout
    );
    let history = new
        .run(&["history", "peer1@example.org", "--json", "--limit", "5"])
        .ok();
    assert_eq!(history.json_lines().len(), 5);
    let again = new
        .run_with_stdin(
            &["backup", "import", file_arg, "--passphrase-stdin", "--json"],
            &format!("{PASSPHRASE}\n"),
        )
        .ok();
    let summary = &again.json_lines()[0];
    assert_eq!(summary["added"]["messages"], 0, "{summary}");

    let wrong = new.run_with_stdin(
        &["backup", "import", file_arg, "--passphrase-stdin"],
        "not the passphrase\n",
    );
    assert_ne!(wrong.code, 0);
    assert!(wrong.stderr.contains("passphrase"), "{}", wrong.stderr);
    assert_eq!(
        wrong
            .stderr
            .trim()
            .lines()
            .last()
            .map(|l| l.starts_with("sotto-cli:")),
        Some(true)
    );

    let short = old.run_with_stdin(
        &["backup", "export", file_arg, "--passphrase-stdin"],
        "short\n",
    );
    assert_ne!(short.code, 0);
}

// ------------------------------------------------------------ benchmark

/// One phase of scripts/bench-backup.sh, in its own process so that its
/// peak resident memory is its own: SOTTO_BENCH_PHASE=generate|export|import,
/// SOTTO_BENCH_DIR, SOTTO_BENCH_MESSAGES. Release builds only make sense.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_backup_phase() {
    let (Ok(phase), Ok(dir)) = (
        std::env::var("SOTTO_BENCH_PHASE"),
        std::env::var("SOTTO_BENCH_DIR"),
    ) else {
        eprintln!("set SOTTO_BENCH_PHASE and SOTTO_BENCH_DIR (scripts/bench-backup.sh does)");
        return;
    };
    let total: u32 = std::env::var("SOTTO_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = PathBuf::from(dir);
    let file = dir.join("bench.age");
    let t = Instant::now();
    let detail = match phase.as_str() {
        "generate" => {
            let store = open(&dir.join("source.db")).await;
            fill(
                &store,
                &Shape {
                    conversations: 100,
                    per: total / 100,
                    first: 0,
                },
            )
            .await;
            let n = count(&store, "messages").await;
            shut(store).await;
            format!("{n} rows")
        }
        "export" => {
            let store = open(&dir.join("source.db")).await;
            let options = ExportOptions {
                include_identity: false,
                scrypt_log_n: None,
            };
            let s = backup::export(&store, &file, pass(), &options, &quiet, &CancelToken::new())
                .await
                .unwrap();
            format!("{} messages, {} bytes", s.counts.messages, s.bytes)
        }
        "import" => {
            let store = open(&dir.join("target.db")).await;
            let s = import_from(&store, &file).await.unwrap();
            shut(store).await;
            format!("{} messages added", s.added.messages)
        }
        other => panic!("unknown phase {other}"),
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or("VmHWM: ?")
        .trim_start_matches("VmHWM:")
        .trim()
        .to_owned();
    println!(
        "bench: {phase} {total}: {:.1} s, peak RSS {peak} ({detail})",
        t.elapsed().as_secs_f64()
    );
}
