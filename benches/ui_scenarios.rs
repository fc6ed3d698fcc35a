//! UI scenario benchmarks (issue 5): the real window on a generated archive
//! of 1,000,000 messages in 200 conversations. Run everything with
//! `scripts/bench-ui.sh` (release build, Xvfb, private keyring; prints the
//! tables). The subcommands, for running a piece by hand under
//! `scripts/with-keyring.sh xvfb-run …` (see the script for the exact lines):
//!
//! - `generate [--messages N] [--conversations N] [--out DIR]`: writes the
//!   archive as a profile the app opens (`DIR/profile`, the database key in
//!   `DIR/db.key`, facts about it in `DIR/meta.json`), unless `DIR` already
//!   holds one made by this version of the generator with these sizes.
//!   Default `DIR`: `target/tmp/ui-bench/archive-<N>`. `--messages 0
//!   --conversations 0` makes a profile with no account (the first-run page).
//! - `dino-archive --meta DIR/meta.json --db dino.db`: the same messages
//!   (same seed) written into a database that Dino has created, the way
//!   Dino stores them (its FTS4 triggers fill its index).
//! - `launch --app target/release/sotto --profile DIR/profile [--runs N]`: starts
//!   the app N times with `SOTTO_BENCH_TIMINGS=1` and reports when its
//!   first frames were painted (see `bench_timings` in
//!   src/ui/application.rs) and its resident memory a second later.
//! - `install-key --profile DIR/profile`: only put the archive's key into
//!   this session's keyring (for launching the app some other way).
//! - `store-search --profile DIR/profile [--runs N] [--query Q] [--verbose]
//!   [--one-connection [--cache-kib K]]`: the store's own `search` for each
//!   query, timed without the service or the window, and SQLite's plan for
//!   it (where the search time goes); optionally the same statement again
//!   and again on one connection, with a page cache of K KiB.
//! - `scenario --profile DIR/profile [--runs N] [--screenshots] [--quick]`:
//!   in-process, in N fresh processes: opens conversations (largest, 10
//!   messages, ten in all), searches, reads `VmRSS`; medians over all
//!   samples. `--quick`: each once, and no search for the very common `the`.
//!   Screenshots go to `target/tmp/screenshots/bench-1m-*.png`.
//!
//! A `[[bench]]` with `harness = false`, so `cargo test` never builds it and
//! a plain `cargo bench` only prints where to start.

#[path = "../tests/support/mod.rs"]
mod support;
#[macro_use]
#[path = "../tests/ui_support/mod.rs"]
mod ui_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use adw::prelude::*;
use gtk::{gio, glib};
use sotto::secrets::SecretKind;
use sotto::service::Command;
use sotto::store::contacts::RosterItem;
use sotto::store::{Encryption, MessageState};
use sotto::ui::session::model::Conversation;
use sotto::ui::session::view::SearchResultRow;
use sotto::ui::session::view::chat::MessageRow;
use ui_support::*;

const ALICE: &str = "alice@example.org";
const OWN_DEVICE: u32 = 4242;
/// Bump when the generated archive changes, so cached ones are remade.
const GENERATOR_VERSION: u32 = 1;
const SEED: u64 = 0x5077_0005;
/// Rows per INSERT statement.
const BATCH: usize = 200;
/// The archive spans three years, up to a few minutes before generation.
const SPAN_MS: i64 = 3 * 365 * 24 * 3600 * 1000;
/// The search waits for a pause in typing (SEARCH_DELAY in
/// src/ui/session/view/search_results.rs) before it asks the service.
const SEARCH_PAUSE_MS: f64 = 250.0;
/// What the scenario searches for: a rare word, a word in 0.5 % of the
/// messages, two common words, and a very common prefix.
const QUERIES: [&str; 4] = ["zeppelin", "marmalade", "dinner friday", "the"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = match args.first().map(String::as_str) {
        Some("generate") => generate_cmd(&Opts::parse(&args[1..])),
        Some("dino-archive") => dino_cmd(&Opts::parse(&args[1..])),
        Some("launch") => launch_cmd(&Opts::parse(&args[1..])),
        Some("scenario") => scenario_cmd(&Opts::parse(&args[1..])),
        Some("scenario-once") => return scenario_once(&Opts::parse(&args[1..])),
        Some("store-search") => store_search_cmd(&Opts::parse(&args[1..])),
        Some("install-key") => Opts::parse(&args[1..])
            .path("profile")
            .and_then(|p| install_key(&p)),
        _ => {
            println!("ui_scenarios: run scripts/bench-ui.sh (see benches/ui_scenarios.rs)");
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ui_scenarios: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--key value` and `--flag` options.
struct Opts(BTreeMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut map = BTreeMap::new();
        let mut it = args.iter().peekable();
        while let Some(a) = it.next() {
            if let Some(key) = a.strip_prefix("--") {
                let value = match it.peek() {
                    Some(v) if !v.starts_with("--") => it.next().cloned().unwrap_or_default(),
                    _ => String::new(),
                };
                map.insert(key.to_owned(), value);
            }
        }
        Opts(map)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: not a number: {v}")),
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf, String> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| format!("--{key} is required"))
    }
}

// ---------------------------------------------------------------------------
// The archive: who, how many, and what they say (deterministic from SEED).

/// splitmix64: small, fast, and the same stream on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const FIRST: &str = "Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy \
    Rupert Sybil Trent Victor Walter Yasmin Zoe Amara Bruno Chiara Dmitri Elif Farah Gustav \
    Hana Idris Jonas Kalinda Lars Mei Nikolai Oona Paolo Quentin Rosa Sanjay Tove Ulla \
    Valentina Wen Xavier Yusuf Zainab Anouk Bjorn Celeste Diego";
const LAST: &str = "Builder Danvers Grohl Brockovich Ocean Hopper Klum Petrov Dench Kowalski \
    Okafor Lindqvist Moreau Nakamura Oyelaran Pereira Quist Rasmussen Silva Tanaka Umarov \
    Vargas Wozniak Xu Yilmaz Zimmermann Abara Bauer Castillo Dubois Eriksen Fischer Garcia \
    Haddad Ito Jensen Kaur Lopez Martin Novak Olsen Park Rossi Schmidt Torres Ueda Virtanen \
    Weber Young Zhang";

/// Common words first: picked with a skew toward the front, as people
/// write (so that FTS has long posting lists for some terms and short ones
/// for others).
const WORDS: &str = "the I you to a and it is that of in for on be have we this do not with \
    me my at so was are but just can what if all it's get no like will your they about up \
    out know one go there how now yes good think see then time when here some well would \
    could been did had them from us our going more really he she her him his want tomorrow \
    today tonight back make need come right thanks ok okay yeah sure maybe still yet also \
    very much any new day work home let's call later soon after before because got take \
    look said say too over into only other than first last next week weekend morning \
    evening night friday saturday sunday monday tuesday wednesday thursday dinner lunch \
    breakfast coffee tea train bus station airport flight ticket tickets hotel meeting \
    office project report deadline draft review email message phone photo photos picture \
    video link file document code build release bug fix test server update version \
    weather rain sun snow cold warm hot nice great awesome cool fine sorry please thank \
    love miss happy sad tired busy free late early long short big small little old young \
    family mum dad mother father brother sister kids baby dog cat house flat room kitchen \
    garden car bike walk run swim game match team score win lose play music song concert \
    film movie book read write story news paper shop market food bread cheese wine beer \
    water milk chocolate cake pizza pasta soup salad fruit apple orange banana birthday \
    party holiday trip beach mountain lake river city town street park school university \
    class exam homework teacher student doctor appointment hospital pharmacy medicine \
    money bank bill rent price cheap expensive pay paid buy bought sell sold order \
    delivery package parcel post address number minutes hours half quarter noon midnight \
    remember forgot forget remind reminder plan plans idea ideas question answer problem \
    help help'd wait waiting ready done finished started start stop leave leaving arrive \
    arrived coming went gone left found lost keep kept bring brought send sent sending \
    receive received check checked try tried trying sounds perfect exactly probably \
    definitely absolutely seriously honestly actually basically literally anyway though \
    although however either neither both each every everyone someone anyone nobody \
    something anything nothing everything somewhere anywhere nowhere everywhere always \
    never sometimes often usually already again once twice together alone almost enough \
    quite rather pretty kind sort lot lots few several many most least less more fast \
    slow quick quickly slowly careful carefully easy hard difficult simple important \
    interesting boring funny strange weird crazy amazing terrible horrible lovely \
    beautiful ugly clean dirty quiet loud dark bright light heavy full empty open closed \
    broken working online offline connected battery charger laptop keyboard screen \
    printer router network password account settings encryption keys device devices \
    fingerprint verify verified trust backup restore install upgrade reboot crash slow \
    window door table chair bed sofa garage roof wall floor stairs neighbour neighbours \
    friend friends colleague colleagues boss client clients customer customers manager \
    contract invoice budget plan schedule calendar agenda notes minutes slides demo \
    presentation conference workshop talk venue speaker audience questions feedback";

const RARE: [&str; 12] = [
    "https://example.org/p/4711",
    "😂",
    "👍",
    "❤️",
    "🎉",
    "12:30",
    "19:45",
    "€25",
    "#42",
    "ça",
    "naïve",
    "Zürich",
];

fn vocabulary() -> Vec<&'static str> {
    WORDS.split_whitespace().collect()
}

/// A message text of varied length: mostly short, some paragraphs.
fn body_text(rng: &mut Rng, vocab: &[&str], n: u64) -> String {
    let r = rng.unit();
    let words = if r < 0.35 {
        1 + rng.below(6)
    } else if r < 0.80 {
        6 + rng.below(20)
    } else if r < 0.97 {
        25 + rng.below(55)
    } else {
        80 + rng.below(320)
    } as usize;
    let mut out = String::with_capacity(words * 6);
    let mut capital = true;
    for i in 0..words {
        if i > 0 {
            out.push(if i % 60 == 0 { '\n' } else { ' ' });
        }
        let word = if rng.below(40) == 0 {
            RARE[rng.below(RARE.len() as u64) as usize]
        } else {
            vocab[(vocab.len() as f64 * rng.unit().powf(2.2)) as usize % vocab.len()]
        };
        if capital {
            let mut chars = word.chars();
            if let Some(c) = chars.next() {
                out.extend(c.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(word);
        }
        capital = false;
        if i + 1 < words && rng.below(9) == 0 {
            out.push_str(match rng.below(4) {
                0 => ".",
                1 => "?",
                2 => "!",
                _ => ",",
            });
            capital = !out.ends_with(',');
        }
    }
    // Marker words with known frequencies, for the searches.
    if n % 83_331 == 4_242 {
        out.push_str(" — did you pack the zeppelin tickets?");
    }
    if rng.below(200) == 0 {
        out.push_str(" Bring the marmalade.");
    }
    if !out.ends_with(['.', '?', '!']) && rng.below(3) > 0 {
        out.push(if rng.below(4) == 0 { '?' } else { '.' });
    }
    out
}

struct Person {
    jid: String,
    name: String,
}

struct Plan {
    people: Vec<Person>,
    counts: Vec<u64>,
    total: u64,
}

impl Plan {
    /// One conversation with a fifth of the messages, one with ten, the
    /// rest on a Zipf-like slope (s = 0.7) of the remainder.
    fn new(total: u64, conversations: usize) -> Result<Plan, String> {
        if conversations == 0 {
            return Ok(Plan {
                people: Vec::new(),
                counts: Vec::new(),
                total: 0,
            });
        }
        if conversations < 3 || total < 100 * conversations as u64 {
            return Err("need at least 3 conversations and 100 messages each".into());
        }
        let first: Vec<&str> = FIRST.split_whitespace().collect();
        let last: Vec<&str> = LAST.split_whitespace().collect();
        let people = (0..conversations)
            .map(|i| {
                let f = first[i % first.len()];
                let l = last[(i % last.len() + 13 * (i / first.len())) % last.len()];
                let suffix = if i >= 4 * first.len() {
                    format!("{}", i / (4 * first.len()))
                } else {
                    String::new()
                };
                Person {
                    jid: format!(
                        "{}.{}{suffix}@example.org",
                        f.to_lowercase(),
                        l.to_lowercase()
                    ),
                    name: format!("{f} {l}{suffix}"),
                }
            })
            .collect();
        let largest = total / 5;
        let smallest = 10;
        let rest = total - largest - smallest;
        let middle = conversations - 2;
        let weights: Vec<f64> = (1..=middle).map(|k| (k as f64).powf(-0.7)).collect();
        let sum: f64 = weights.iter().sum();
        let mut counts = vec![largest];
        counts.extend(weights.iter().map(|w| (rest as f64 * w / sum) as u64));
        let assigned: u64 = counts[1..].iter().sum();
        counts[1] += rest - assigned;
        counts.push(smallest);
        Ok(Plan {
            people,
            counts,
            total,
        })
    }

    fn largest(&self) -> usize {
        0
    }

    fn smallest(&self) -> usize {
        self.counts.len() - 1
    }
}

/// One generated message; the same stream feeds Sotto's and Dino's archive.
struct Msg {
    conv: usize,
    n: u64,
    outgoing: bool,
    timestamp: i64,
    body: Option<String>,
    encryption: Encryption,
    state: MessageState,
    error: Option<&'static str>,
    stanza_id: String,
    origin_id: String,
}

struct Stream<'a> {
    plan: &'a Plan,
    order: Vec<u16>,
    vocab: Vec<&'static str>,
    rng: Rng,
    next: u64,
    start: i64,
    step: i64,
}

impl<'a> Stream<'a> {
    fn new(plan: &'a Plan, end_ms: i64) -> Stream<'a> {
        let mut rng = Rng(SEED);
        let mut order: Vec<u16> = Vec::with_capacity(plan.total as usize);
        for (conv, &count) in plan.counts.iter().enumerate() {
            order.extend(std::iter::repeat_n(conv as u16, count as usize));
        }
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let step = (SPAN_MS / plan.total.max(1) as i64).max(2);
        Stream {
            plan,
            order,
            vocab: vocabulary(),
            rng,
            next: 0,
            start: end_ms - step * plan.total as i64,
            step,
        }
    }
}

impl Iterator for Stream<'_> {
    type Item = Msg;

    fn next(&mut self) -> Option<Msg> {
        let n = self.next;
        let conv = *self.order.get(n as usize)? as usize;
        self.next += 1;
        let rng = &mut self.rng;
        let outgoing = rng.below(100) < 45;
        // Strictly increasing: the jitter stays below one step.
        let timestamp = self.start + n as i64 * self.step + rng.below(self.step as u64 / 2) as i64;
        let encryption = match rng.below(10) {
            0..=6 => Encryption::Omemo2,
            7 => Encryption::Omemo0,
            _ => Encryption::None,
        };
        let undecryptable = !outgoing && encryption != Encryption::None && rng.below(1000) == 0;
        let body = body_text(rng, &self.vocab, n);
        let state = if !outgoing {
            MessageState::Received
        } else if n + 50 > self.plan.total {
            MessageState::Delivered
        } else {
            MessageState::Read
        };
        Some(Msg {
            conv,
            n,
            outgoing,
            timestamp,
            body: (!undecryptable).then_some(body),
            encryption,
            state,
            error: undecryptable.then_some("not encrypted for this device"),
            stanza_id: format!("bench-s{n:x}"),
            origin_id: format!("bench-o{n:x}"),
        })
    }
}

// ---------------------------------------------------------------------------
// generate

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Meta {
    version: u32,
    messages: u64,
    conversations: usize,
    end_ms: i64,
    /// Per conversation: JID, name, messages, newest message's row id.
    chats: Vec<(String, String, u64, i64)>,
    largest: usize,
    smallest: usize,
    /// Per query: messages that match (all of them, not just a page).
    matches: Vec<(String, i64)>,
    generate_seconds: f64,
    database_bytes: u64,
}

fn default_dir(messages: u64) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("ui-bench")
        .join(format!("archive-{messages}"))
}

fn generate_cmd(opts: &Opts) -> Result<(), String> {
    let messages: u64 = opts.num("messages", 1_000_000)?;
    let conversations: usize = opts.num("conversations", 200)?;
    let dir = match opts.get("out") {
        Some(d) => PathBuf::from(d),
        None => default_dir(messages),
    };
    if let Ok(meta) = read_meta(&dir)
        && meta.version == GENERATOR_VERSION
        && meta.messages == messages
        && meta.conversations == conversations
    {
        println!(
            "archive: reusing {} ({} messages, {} conversations)",
            dir.display(),
            meta.messages,
            meta.conversations
        );
        return Ok(());
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let plan = Plan::new(messages, conversations)?;
    let started = std::time::Instant::now();
    let mut meta = sotto::runtime::runtime().block_on(write_sotto(&dir, &plan))?;
    meta.generate_seconds = started.elapsed().as_secs_f64();
    meta.database_bytes = std::fs::metadata(dir.join("profile/sotto.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let json = serde_json::to_string_pretty(&meta).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("meta.json"), json).map_err(|e| e.to_string())?;
    println!(
        "archive: {} messages in {} conversations written to {} in {:.1} s ({:.0} MB)",
        meta.messages,
        meta.conversations,
        dir.display(),
        meta.generate_seconds,
        meta.database_bytes as f64 / 1e6
    );
    Ok(())
}

fn read_meta(dir: &Path) -> Result<Meta, String> {
    let text = std::fs::read_to_string(dir.join("meta.json")).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The archive as the app writes it: the profile and key as
/// `offline_profile` makes them, roster and conversations through the
/// store's API, the messages by plain INSERTs into `messages` (the
/// migrations' triggers fill `messages_fts` exactly as for the app's own
/// inserts) in one transaction, and the conversations' `last_activity` and
/// `unread` left as `insert_message_in` leaves them.
async fn write_sotto(dir: &Path, plan: &Plan) -> Result<Meta, String> {
    let profile_dir = dir.join("profile");
    let end_ms = sotto::store::now_ms() - 5 * 60_000;
    let (store, account) = if plan.people.is_empty() {
        // No account: the app shows its first-run page.
        let profile = sotto::profile::Profile::open(&profile_dir).map_err(err)?;
        let key = sotto::secrets::database_key(profile.id(), true)
            .await
            .map_err(err)?;
        let store = sotto::store::Store::open(&profile.database_path(), &key)
            .await
            .map_err(err)?;
        (store, None)
    } else {
        let (store, account) = support::profile::offline_profile(&profile_dir, ALICE).await?;
        (store, Some(account))
    };
    // Keep the key beside the cached profile: every run of the script has a
    // fresh keyring, into which `install_key` puts it again.
    let id = std::fs::read_to_string(profile_dir.join("profile-id")).map_err(err)?;
    let key = sotto::secrets::load(SecretKind::DatabaseKey { profile: id.trim() })
        .await
        .map_err(err)?;
    write_private(&dir.join("db.key"), key.as_bytes())?;

    let mut chats = Vec::new();
    let mut matches = Vec::new();
    if let Some(account) = account {
        let mut conv_ids = Vec::new();
        for p in &plan.people {
            let item = RosterItem {
                jid: p.jid.clone(),
                name: Some(p.name.clone()),
                subscription: "both".into(),
                pending_out: false,
                groups: Vec::new(),
            };
            store
                .upsert_roster_item(account, &item)
                .await
                .map_err(err)?;
            conv_ids.push(
                store
                    .ensure_conversation(account, &p.jid, "chat")
                    .await
                    .map_err(err)?,
            );
        }
        let mut tx = store.begin_received().await.map_err(err)?;
        // A page cache that holds the growing indexes: the same file, made
        // several times faster than with SQLite's 2 MB default.
        sqlx::query("PRAGMA cache_size = -524288")
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let full = insert_sql(BATCH);
        let mut batch = Vec::with_capacity(BATCH);
        let mut written = 0u64;
        for m in Stream::new(plan, end_ms) {
            batch.push(m);
            if batch.len() == BATCH {
                insert_batch(&mut tx, &full, &batch, &conv_ids, plan).await?;
                written += batch.len() as u64;
                batch.clear();
                if written.is_multiple_of(100_000) {
                    println!("archive: {written} messages…");
                }
            }
        }
        if !batch.is_empty() {
            insert_batch(&mut tx, &insert_sql(batch.len()), &batch, &conv_ids, plan).await?;
        }
        sqlx::query(
            "UPDATE conversations SET \
               last_activity = (SELECT max(timestamp) FROM messages m \
                                WHERE m.conversation_id = conversations.id), \
               unread = (SELECT count(*) FROM messages m \
                         WHERE m.conversation_id = conversations.id AND m.direction = 'in' \
                           AND m.timestamp > coalesce((SELECT max(timestamp) FROM messages o \
                             WHERE o.conversation_id = conversations.id \
                               AND o.direction = 'out'), 0))",
        )
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        for (i, p) in plan.people.iter().enumerate() {
            let newest: i64 = sqlx::query_scalar(
                "SELECT id FROM messages WHERE conversation_id = ? \
                 ORDER BY timestamp DESC, id DESC LIMIT 1",
            )
            .bind(conv_ids[i])
            .fetch_one(store.pool())
            .await
            .map_err(err)?;
            chats.push((p.jid.clone(), p.name.clone(), plan.counts[i], newest));
        }
        for q in QUERIES {
            let fts: String = q
                .split_whitespace()
                .map(|w| format!("\"{w}\"*"))
                .collect::<Vec<_>>()
                .join(" ");
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?")
                    .bind(fts)
                    .fetch_one(store.pool())
                    .await
                    .map_err(err)?;
            matches.push((q.to_owned(), n));
        }
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .map_err(err)?;
    store.close().await;
    Ok(Meta {
        version: GENERATOR_VERSION,
        messages: plan.total,
        conversations: plan.people.len(),
        end_ms,
        chats,
        largest: if plan.people.is_empty() {
            0
        } else {
            plan.largest()
        },
        smallest: if plan.people.is_empty() {
            0
        } else {
            plan.smallest()
        },
        matches,
        generate_seconds: 0.0,
        database_bytes: 0,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)
}

fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; 15].join(", "));
    format!(
        "INSERT INTO messages (conversation_id, stanza_id, stanza_id_by, origin_id, message_id, \
           direction, sender_jid, sender_device, timestamp, received_at, body, encryption, \
           trusted, state, error) VALUES {}",
        vec![row; rows].join(", ")
    )
}

async fn insert_batch(
    tx: &mut sqlx::SqliteConnection,
    sql: &str,
    batch: &[Msg],
    conv_ids: &[i64],
    plan: &Plan,
) -> Result<(), String> {
    use sotto::store::Direction;
    let mut q = sqlx::query(sql);
    for m in batch {
        let peer = &plan.people[m.conv].jid;
        let encrypted = m.encryption != Encryption::None;
        let device = if m.outgoing {
            OWN_DEVICE
        } else {
            1000 + m.conv as u32
        };
        q = q
            .bind(conv_ids[m.conv])
            .bind(&m.stanza_id)
            .bind(ALICE)
            .bind(&m.origin_id)
            .bind(&m.origin_id)
            .bind(if m.outgoing {
                Direction::Out
            } else {
                Direction::In
            })
            .bind(if m.outgoing { ALICE } else { peer.as_str() })
            .bind(encrypted.then_some(device))
            .bind(m.timestamp)
            .bind(m.timestamp + 300 + (m.n % 700) as i64)
            .bind(&m.body)
            .bind(m.encryption)
            .bind((encrypted && !m.outgoing && m.error.is_none()).then_some(true))
            .bind(m.state)
            .bind(m.error);
    }
    q.execute(&mut *tx).await.map_err(err)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// dino-archive: the same messages in Dino's own database (libdino's schema:
// account, jid, conversation, message + content_item; FTS4 by trigger).

fn dino_cmd(opts: &Opts) -> Result<(), String> {
    let meta_path = opts.path("meta")?;
    let db = opts.path("db")?;
    let text = std::fs::read_to_string(&meta_path).map_err(err)?;
    let meta: Meta = serde_json::from_str(&text).map_err(err)?;
    let plan = Plan::new(meta.messages, meta.conversations)?;
    let started = std::time::Instant::now();
    sotto::runtime::runtime().block_on(write_dino(&db, &plan, meta.end_ms))?;
    println!(
        "dino archive: {} messages in {} conversations written to {} in {:.1} s",
        meta.messages,
        meta.conversations,
        db.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn write_dino(db: &Path, plan: &Plan, end_ms: i64) -> Result<(), String> {
    use sqlx::ConnectOptions;
    // A plain SQLite file (no key): Dino does not encrypt its database.
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(false)
        .connect()
        .await
        .map_err(err)?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM message")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| format!("{}: not a database Dino made: {e}", db.display()))?;
    if have > 0 {
        return Err(format!("{} already has messages", db.display()));
    }
    let mut tx = sqlx::Connection::begin(&mut conn).await.map_err(err)?;
    let account: i64 = sqlx::query_scalar(
        "INSERT INTO account (bare_jid, resourcepart, password, alias, enabled) \
         VALUES (?, 'dino.bench', 'not-a-real-password', NULL, 1) RETURNING id",
    )
    .bind(ALICE)
    .fetch_one(&mut *tx)
    .await
    .map_err(err)?;
    sqlx::query("INSERT INTO jid (bare_jid) VALUES (?)")
        .bind(ALICE)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    let mut jid_ids = Vec::new();
    for p in &plan.people {
        jid_ids.push(
            sqlx::query_scalar::<_, i64>("INSERT INTO jid (bare_jid) VALUES (?) RETURNING id")
                .bind(&p.jid)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?,
        );
        sqlx::query(
            "INSERT INTO roster (account_id, jid, name, subscription) VALUES (?, ?, ?, 'both')",
        )
        .bind(account)
        .bind(&p.jid)
        .bind(&p.name)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    }
    let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let sql = |rows: usize| {
        format!(
            "INSERT INTO message (stanza_id, server_id, account_id, counterpart_id, \
               our_resource, counterpart_resource, direction, type, time, local_time, body, \
               encryption, marked) VALUES {}",
            vec![row.replacen(")", ", 2)", 1); rows].join(", ")
        )
    };
    let full = sql(BATCH);
    let mut batch = Vec::with_capacity(BATCH);
    for m in Stream::new(plan, end_ms) {
        batch.push(m);
        if batch.len() == BATCH {
            dino_rows(&full, &batch, account, &jid_ids)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        let last = sql(batch.len());
        dino_rows(&last, &batch, account, &jid_ids)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
    }
    // Every message is a content item of its conversation (what Dino's
    // conversation view and its unread counts read).
    for (i, &jid_id) in jid_ids.iter().enumerate() {
        let encryption = if i % 5 == 4 { 0 } else { 2 };
        sqlx::query(
            "INSERT INTO conversation (account_id, jid_id, resource, active, \
               active_last_changed, last_active, type, encryption, read_up_to, notification, \
               send_typing, send_marker, pinned) \
             SELECT ?1, ?2, NULL, 1, max(time), max(time), 0, ?3, max(id), 0, 0, 0, 0 \
             FROM message WHERE account_id = ?1 AND counterpart_id = ?2",
        )
        .bind(account)
        .bind(jid_id)
        .bind(encryption)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    }
    sqlx::query(
        "INSERT INTO content_item (conversation_id, time, local_time, content_type, foreign_id, \
           hide) \
         SELECT c.id, m.time, m.local_time, 1, m.id, 0 FROM message m \
         JOIN conversation c ON c.account_id = m.account_id AND c.jid_id = m.counterpart_id \
         ORDER BY m.id",
    )
    .execute(&mut *tx)
    .await
    .map_err(err)?;
    sqlx::query(
        "UPDATE conversation SET read_up_to_item = (SELECT max(id) FROM content_item ci \
           WHERE ci.conversation_id = conversation.id)",
    )
    .execute(&mut *tx)
    .await
    .map_err(err)?;
    tx.commit().await.map_err(err)?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .map_err(err)?;
    Ok(())
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Dino's message rows: Message.Type.CHAT = 1, Encryption.OMEMO = 2,
/// direction SENT = 1, Marked.READ = 2 (a literal in the SQL); times in
/// seconds. Dino keeps no row without a body: an undecryptable message
/// gets the text Dino shows for one.
fn dino_rows<'q>(sql: &'q str, batch: &'q [Msg], account: i64, jid_ids: &[i64]) -> SqliteQuery<'q> {
    let mut q = sqlx::query(sql);
    for m in batch {
        q = q
            .bind(&m.origin_id)
            .bind(&m.stanza_id)
            .bind(account)
            .bind(jid_ids[m.conv])
            .bind("dino.bench")
            .bind((!m.outgoing).then_some("phone"))
            .bind(i64::from(m.outgoing))
            .bind(1i64)
            .bind(m.timestamp / 1000)
            .bind(m.timestamp / 1000)
            .bind(
                m.body
                    .clone()
                    .unwrap_or_else(|| "[This message is OMEMO encrypted]".into()),
            )
            .bind(if m.encryption == Encryption::None {
                0i64
            } else {
                2
            });
    }
    q
}

// ---------------------------------------------------------------------------
// Shared by launch and scenario: the database key into this run's keyring.

fn install_key(profile_dir: &Path) -> Result<(), String> {
    let archive = profile_dir
        .parent()
        .ok_or("the profile has no parent directory")?;
    let key = std::fs::read_to_string(archive.join("db.key")).map_err(|e| {
        format!(
            "{}: {e} (make the archive with `generate`)",
            archive.join("db.key").display()
        )
    })?;
    let id = std::fs::read_to_string(profile_dir.join("profile-id")).map_err(err)?;
    sotto::runtime::runtime()
        .block_on(sotto::secrets::store(
            SecretKind::DatabaseKey { profile: id.trim() },
            zeroize::Zeroizing::new(key.trim().to_owned()),
        ))
        .map_err(err)
}

/// Samples per measure; reported as median, min, max.
#[derive(Default)]
struct Samples(BTreeMap<String, Vec<f64>>);

impl Samples {
    fn add(&mut self, name: &str, value: f64) {
        self.0.entry(name.to_owned()).or_default().push(value);
    }

    fn median(&self, name: &str) -> Option<f64> {
        let mut v = self.0.get(name)?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        Some(if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        })
    }

    fn print(&self, title: &str) {
        println!("\n{title}");
        println!(
            "| {:<44} | {:>9} | {:>9} | {:>9} | {:>3} |",
            "measure", "median", "min", "max", "n"
        );
        println!(
            "| {:-<44} | {:->9} | {:->9} | {:->9} | {:->3} |",
            "", "", "", "", ""
        );
        for (name, v) in &self.0 {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            println!(
                "| {:<44} | {:>9.1} | {:>9.1} | {:>9.1} | {:>3} |",
                name,
                self.median(name).unwrap_or(f64::NAN),
                min,
                max,
                v.len()
            );
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    fn merge_json(&mut self, text: &str) -> Result<(), String> {
        let more: BTreeMap<String, Vec<f64>> = serde_json::from_str(text).map_err(err)?;
        for (k, v) in more {
            self.0.entry(k).or_default().extend(v);
        }
        Ok(())
    }
}

fn status_kib(pid: Option<u32>, field: &str) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// launch: the real binary, from exec to painted frames (the app's hook).

fn launch_cmd(opts: &Opts) -> Result<(), String> {
    let app = opts.path("app")?;
    let profile_dir = opts.path("profile")?;
    let runs: usize = opts.num("runs", 5)?;
    let settle: f64 = opts.num("settle", 1.0)?;
    let label = opts.get("label").unwrap_or("launch").to_owned();
    install_key(&profile_dir)?;
    let mut samples = Samples::default();
    println!("{label}: load average before: {}", loadavg());
    for run in 0..runs {
        let marks = launch_once(&app, &profile_dir, settle)?;
        let line: Vec<String> = marks.iter().map(|(k, v)| format!("{k} {v:.1}")).collect();
        println!("{label} run {}: {}", run + 1, line.join(", "));
        for (k, v) in marks {
            samples.add(&k, v);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("{label}: load average after: {}", loadavg());
    samples.print(&format!(
        "{label}: ms from spawn (RSS in MiB), {runs} launches"
    ));
    println!("bench-json {label} {}", samples.to_json());
    Ok(())
}

fn launch_once(app: &Path, profile_dir: &Path, settle: f64) -> Result<Vec<(String, f64)>, String> {
    let spawned = glib::monotonic_time();
    let mut child = std::process::Command::new(app)
        .arg("--data-dir")
        .arg(profile_dir)
        .env("SOTTO_BENCH_TIMINGS", "1")
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", app.display()))?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel::<(String, i64)>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut parts = line.split_whitespace();
            if parts.next() == Some("sotto-bench")
                && let (Some(name), Some(Ok(t))) = (parts.next(), parts.next().map(str::parse))
            {
                let _ = tx.send((name.to_owned(), t));
            }
        }
    });
    let mut marks = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut done = false;
    while !done && std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((name, t)) => {
                done = name == "chats-settled-frame" || name == "setup-settled-frame";
                marks.push((name, (t - spawned) as f64 / 1000.0));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    if done {
        std::thread::sleep(Duration::from_secs_f64(settle));
        if let Some(rss) = status_kib(Some(pid), "VmRSS:") {
            marks.push(("rss_after_settle_mib".into(), rss / 1024.0));
        }
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let _ = reader.join();
    if !done {
        return Err(format!(
            "the app showed neither the chats nor the setup page in 60 s (marks: {marks:?})"
        ));
    }
    Ok(marks)
}

// ---------------------------------------------------------------------------
// store-search: the search query alone (no service, no window).

fn store_search_cmd(opts: &Opts) -> Result<(), String> {
    let profile_dir = opts.path("profile")?;
    let runs: usize = opts.num("runs", 3)?;
    let archive = profile_dir.parent().ok_or("no archive dir")?;
    let key = std::fs::read_to_string(archive.join("db.key")).map_err(err)?;
    sotto::runtime::runtime().block_on(async {
        let store = sotto::store::Store::open(&profile_dir.join("sotto.db"), key.trim())
            .await
            .map_err(err)?;
        // The statement of Store::search (src/store/messages.rs), for its plan.
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "EXPLAIN QUERY PLAN SELECT m.id FROM messages_fts f JOIN messages m ON m.id = f.rowid \
             JOIN conversations c ON c.id = m.conversation_id \
             WHERE messages_fts MATCH ?1 AND (?2 IS NULL OR c.account_id = ?2) \
             ORDER BY f.rowid DESC LIMIT ?3",
        )
        .bind("\"the\"*")
        .bind(None::<i64>)
        .bind(50)
        .fetch_all(store.pool())
        .await
        .map_err(err)?;
        for (_, _, _, detail) in plan {
            println!("plan: {detail}");
        }
        let mut samples = Samples::default();
        let queries: Vec<&str> = match opts.get("query") {
            Some(q) => vec![q],
            None => QUERIES.to_vec(),
        };
        for _ in 0..runs {
            for &q in &queries {
                let t0 = std::time::Instant::now();
                let rows = store.search(None, q, 50).await.map_err(err)?;
                let key = q.replace(' ', "_");
                samples.add(
                    &format!("store_search_{key}_ms"),
                    t0.elapsed().as_secs_f64() * 1000.0,
                );
                samples.add(&format!("store_search_{key}_rows"), rows.len() as f64);
                if opts.flag("verbose") {
                    println!("{q}: {:.1} ms", t0.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        if opts.flag("one-connection") {
            // The same statement again and again on one pooled connection.
            let mut conn = store.pool().acquire().await.map_err(err)?;
            if let Some(kib) = opts.get("cache-kib") {
                sqlx::query(&format!("PRAGMA cache_size = -{kib}"))
                    .execute(&mut *conn)
                    .await
                    .map_err(err)?;
            }
            let size: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(&mut *conn)
                .await
                .map_err(err)?;
            println!("one connection, cache_size {size}");
            for &q in &queries {
                let fts = format!("\"{q}\"*");
                for _ in 0..runs {
                    let t0 = std::time::Instant::now();
                    let n: Vec<(i64,)> = sqlx::query_as(
                        "SELECT m.id FROM messages_fts f JOIN messages m ON m.id = f.rowid \
                         JOIN conversations c ON c.id = m.conversation_id \
                         WHERE messages_fts MATCH ?1 ORDER BY f.rowid DESC LIMIT 50",
                    )
                    .bind(&fts)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(err)?;
                    println!(
                        "one connection, {q}: {} rows in {:.1} ms",
                        n.len(),
                        t0.elapsed().as_secs_f64() * 1000.0
                    );
                }
            }
        }
        samples.print(&format!("store.search alone, {runs} runs"));
        store.close().await;
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// scenario: in-process, the app's own window driven as in tests/ui_*.rs.

fn scenario_cmd(opts: &Opts) -> Result<(), String> {
    let profile_dir = opts.path("profile")?;
    let runs: usize = opts.num("runs", 5)?;
    let exe = std::env::current_exe().map_err(err)?;
    let mut samples = Samples::default();
    println!("scenario: load average before: {}", loadavg());
    for run in 0..runs {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("scenario-once")
            .arg("--profile")
            .arg(&profile_dir)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::piped());
        if run == 0 && opts.flag("screenshots") {
            cmd.arg("--screenshots");
        }
        if opts.flag("quick") {
            cmd.arg("--quick");
        }
        let out = cmd.output().map_err(err)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let json = stdout
            .lines()
            .find_map(|l| l.strip_prefix("bench-result "))
            .ok_or_else(|| format!("run {} reported nothing:\n{stdout}", run + 1))?;
        for l in stdout.lines().filter(|l| l.starts_with("screenshot: ")) {
            println!("{l}");
        }
        samples.merge_json(json)?;
        println!("scenario run {} done (load average {})", run + 1, loadavg());
    }
    samples.print(&format!(
        "scenario: ms (RSS in MiB), {runs} processes, all samples"
    ));
    println!("bench-json scenario {}", samples.to_json());
    Ok(())
}

struct Ctx {
    app: sotto::ui::Application,
    meta: Meta,
    screenshots: bool,
    /// Opens and searches per process (3; `--quick`: 1, and no search for
    /// "the", which takes seconds).
    repeat: usize,
    queries: Vec<String>,
    /// The condition a frame waits for, when armed, and the time it came.
    probe: Rc<Probe>,
}

#[derive(Default)]
struct Probe {
    armed: std::cell::RefCell<Option<Box<dyn Fn() -> bool>>>,
    hit: std::cell::Cell<Option<i64>>,
}

impl Probe {
    fn arm(&self, condition: impl Fn() -> bool + 'static) {
        self.hit.set(None);
        self.armed.replace(Some(Box::new(condition)));
    }

    /// Called after every painted frame.
    fn after_paint(&self) {
        let holds = self.armed.borrow().as_ref().is_some_and(|c| c());
        if holds {
            self.hit.set(Some(glib::monotonic_time()));
            self.armed.replace(None);
        }
    }
}

fn scenario_once(opts: &Opts) -> ExitCode {
    let fail = |e: String| {
        eprintln!("ui_scenarios FAILED: {e}");
        ExitCode::FAILURE
    };
    if std::env::var_os("DISPLAY").is_none() {
        return fail("needs a display: run it under xvfb-run (scripts/bench-ui.sh)".into());
    }
    let profile_dir = match opts.path("profile") {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let meta = match profile_dir
        .parent()
        .ok_or("no archive dir".to_owned())
        .and_then(read_meta)
    {
        Ok(m) => m,
        Err(e) => return fail(format!("meta.json: {e}")),
    };
    if let Err(e) = install_key(&profile_dir) {
        return fail(e);
    }
    // As src/main.rs: RUST_LOG=sqlx=warn shows the statements over 1 s.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    sotto::ui::init();
    let app = sotto::ui::Application::new();
    app.set_flags(app.flags() | gio::ApplicationFlags::NON_UNIQUE);
    let ctx = Rc::new(Ctx {
        app: app.clone(),
        meta,
        screenshots: opts.flag("screenshots"),
        repeat: if opts.flag("quick") { 1 } else { 3 },
        queries: QUERIES
            .iter()
            .filter(|q| !opts.flag("quick") || **q != "the")
            .map(|q| q.to_string())
            .collect(),
        probe: Rc::default(),
    });
    run_scenario("ui_scenarios", &app, &profile_dir, move || async move {
        let mut samples = Samples::default();
        scenario(&ctx, &mut samples).await?;
        println!("bench-result {}", samples.to_json());
        Ok(())
    })
}

fn ms_since(t0: i64, t: i64) -> f64 {
    (t - t0) as f64 / 1000.0
}

async fn idle(ms: u64) {
    glib::timeout_future(Duration::from_millis(ms)).await;
}

async fn scenario(ctx: &Ctx, samples: &mut Samples) -> TestResult {
    let window = ctx.app.main_window();
    let session = ctx.app.session();
    wait_for("the account from the archive", || session.has_accounts()).await?;
    wait_for("the service", || ctx.app.service().is_some()).await?;
    let service = ctx.app.service().ok_or("no service")?;
    let view = window.session_view();
    let sidebar = view.sidebar();
    let conversations = sidebar.conversations().ok_or("no conversation list")?;
    let want = ctx.meta.conversations as u32;
    wait_for("every conversation in the list", || {
        conversations.n_items() == want
    })
    .await?;
    let clock = window
        .frame_clock()
        .ok_or("the window has no frame clock")?;
    let probe = ctx.probe.clone();
    clock.connect_after_paint(move |_| probe.after_paint());
    idle(1000).await;
    samples.add("rss_list_shown_mib", rss_mib());

    let meta = &ctx.meta;
    let chat_of = |i: usize| meta.chats[i].clone();
    let (large, small) = (meta.largest, meta.smallest);
    // The conversation that opens first (one-time costs: the first rows
    // built, their templates, fonts): a mid-sized one, timed on its own.
    let first = meta.chats.len() / 2;
    let mut opened = vec![first];
    let t = open_chat(ctx, &conversations, &chat_of(first)).await?;
    samples.add("open_first_chat_after_launch_ms", t.shown);
    for _ in 0..ctx.repeat {
        for (i, name) in [(large, "largest"), (small, "10_messages")] {
            let t = open_chat(ctx, &conversations, &chat_of(i)).await?;
            samples.add(&format!("open_{name}_shown_ms"), t.shown);
            if let Some(data) = t.data {
                samples.add(&format!("open_{name}_page_arrived_ms"), data);
            }
            if !opened.contains(&i) {
                opened.push(i);
            }
        }
    }
    if ctx.screenshots {
        open_chat(ctx, &conversations, &chat_of(large)).await?;
        screenshot(&screenshot_dir(), &window, "bench-1m-largest").await?;
    }
    // Ten conversations in all, one after the other.
    let mut next = 1;
    while opened.len() < 10 && next < meta.chats.len() {
        if !opened.contains(&next) {
            open_chat(ctx, &conversations, &chat_of(next)).await?;
            opened.push(next);
        }
        next += 1;
    }
    idle(1000).await;
    samples.add("rss_after_ten_chats_mib", rss_mib());

    // The service's History (the latest page) on its own.
    for (i, name) in [(large, "largest"), (small, "10_messages")] {
        for _ in 0..5 {
            let jid = chat_of(i).0;
            let t0 = glib::monotonic_time();
            let page = service
                .request(|reply| Command::History {
                    account: ALICE.into(),
                    jid,
                    before: None,
                    limit: sotto::ui::session::model::PAGE_SIZE,
                    reply,
                })
                .await
                .map_err(|e| e.to_string())?;
            samples.add(
                &format!("service_history_{name}_ms"),
                ms_since(t0, glib::monotonic_time()),
            );
            ensure!(!page.is_empty(), "an empty page of {name}");
        }
    }

    // Search: typed into the sidebar's entry, until the hits are painted.
    let search_bar = sidebar.search_bar();
    let entry = sidebar.search_entry();
    let results = sidebar.search_results();
    gtk::prelude::WidgetExt::activate_action(&window, "win.search", None)
        .map_err(|e| e.to_string())?;
    wait_for("the search bar", || search_bar.is_search_mode()).await?;
    for _ in 0..ctx.repeat {
        for q in ctx.queries.iter().map(String::as_str) {
            entry.set_text("");
            idle(400).await;
            let (results_, q_) = (results.clone(), q.to_owned());
            ctx.probe.arm(move || {
                results_.query() == q_
                    && !results_.is_searching()
                    && results_.hit_count() > 0
                    && all_of::<SearchResultRow>(&results_)
                        .iter()
                        .any(|r| r.is_mapped())
            });
            let t0 = glib::monotonic_time();
            entry.set_text(q);
            // A very common word takes seconds (see the README).
            wait_for_at_most(
                Duration::from_secs(120),
                &format!("the hits for “{q}”"),
                || ctx.probe.hit.get().is_some(),
            )
            .await?;
            let shown = ms_since(t0, ctx.probe.hit.get().unwrap_or(t0));
            let key = q.replace(' ', "_");
            samples.add(&format!("search_{key}_shown_ms"), shown);
            samples.add(
                &format!("search_{key}_shown_minus_pause_ms"),
                shown - SEARCH_PAUSE_MS,
            );
            samples.add(
                &format!("search_{key}_hits_listed"),
                f64::from(results.hit_count()),
            );
            let t0 = glib::monotonic_time();
            let found = service
                .request(|reply| Command::Search {
                    query: q.to_owned(),
                    limit: 50,
                    reply,
                })
                .await
                .map_err(|e| e.to_string())?;
            samples.add(
                &format!("service_search_{key}_ms"),
                ms_since(t0, glib::monotonic_time()),
            );
            ensure!(!found.is_empty(), "the service found nothing for {q}");
        }
    }
    if ctx.screenshots {
        entry.set_text("dinner friday");
        wait_for("the hits", || {
            results.query() == "dinner friday" && !results.is_searching()
        })
        .await?;
        screenshot(&screenshot_dir(), &window, "bench-1m-search").await?;
    }
    idle(1000).await;
    samples.add("rss_after_searches_mib", rss_mib());
    samples.add(
        "rss_peak_vmhwm_mib",
        status_kib(None, "VmHWM:").unwrap_or(0.0) / 1024.0,
    );
    Ok(())
}

fn rss_mib() -> f64 {
    status_kib(None, "VmRSS:").unwrap_or(0.0) / 1024.0
}

struct Opened {
    /// Selection → first painted frame with the newest message's row.
    shown: f64,
    /// Selection → the first page in the timeline model.
    data: Option<f64>,
}

/// Click the conversation's row in the list (select it, as a click does)
/// and wait for the first frame that shows its newest message.
async fn open_chat(
    ctx: &Ctx,
    conversations: &gio::ListModel,
    (jid, _, _, newest): &(String, String, u64, i64),
) -> Result<Opened, String> {
    let position = (0..conversations.n_items())
        .find(|&i| {
            conversations
                .item(i)
                .and_downcast::<Conversation>()
                .is_some_and(|c| c.jid() == *jid)
        })
        .ok_or_else(|| format!("{jid} is not in the list"))?;
    let window = ctx.app.main_window();
    let view = window.session_view();
    let chat = view.chat_view();
    // Another chat first, so that this one really opens.
    wait_for("the previous chat to settle", || {
        settled(chat.upcast_ref::<gtk::Widget>())
    })
    .await?;
    idle(300).await;
    let (chat_, jid_, newest) = (chat.clone(), jid.clone(), *newest);
    ctx.probe.arm(move || {
        chat_.conversation().is_some_and(|c| c.jid() == jid_)
            && all_of::<MessageRow>(&chat_)
                .iter()
                .any(|r| r.is_mapped() && r.item().is_some_and(|i| i.id() == newest))
    });
    let arrived: Rc<std::cell::Cell<Option<i64>>> = Rc::default();
    let t0 = glib::monotonic_time();
    view.sidebar().select_conversation(position);
    let handler = chat.timeline().map(|timeline| {
        let arrived = arrived.clone();
        let id = timeline.connect_notify_local(Some("loaded"), move |t, _| {
            if t.property::<bool>("loaded") && arrived.get().is_none() {
                arrived.set(Some(glib::monotonic_time()));
            }
        });
        (timeline, id)
    });
    wait_for(&format!("the last page of {jid}"), || {
        ctx.probe.hit.get().is_some()
    })
    .await?;
    if let Some((timeline, id)) = handler {
        timeline.disconnect(id);
    }
    Ok(Opened {
        shown: ms_since(t0, ctx.probe.hit.get().unwrap_or(t0)),
        data: arrived.get().map(|t| ms_since(t0, t)),
    })
}
