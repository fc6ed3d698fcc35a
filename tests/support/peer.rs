//! An independent OMEMO peer on XMPP for the interop tests: the slixmpp +
//! slixmpp-omemo (python-omemo) bot in tests/interop/xmpp_peer.py, logged in
//! to the fixture [`Prosody`] and driven over JSON lines.
//!
//! Needs the venv from `scripts/python-venv.sh` (or `SOTTO_TEST_PYTHON`); a
//! missing venv is a test failure with a clear message, never a skip.
//! Set `SOTTO_PEER_VERBOSE=1` to see the bot's log (slixmpp/python-omemo
//! debug output) on stderr as it happens; otherwise its last lines are shown
//! when something fails.
//!
//! All calls block (std threads and channels): from an async test, call them
//! from `tokio::task::spawn_blocking` or a multi-thread runtime.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::prosody::Prosody;

/// How long a command (send, devices, ...) may take before the test fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the bot may take to log in and publish its OMEMO data.
const START_TIMEOUT: Duration = Duration::from_secs(40);
const STDERR_TAIL: usize = 200;

/// OMEMO version: 0.3 (`eu.siacs.conversations.axolotl`) or :2 (`urn:xmpp:omemo:2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ns {
    Old,
    Two,
}

impl Ns {
    pub const BOTH: [Ns; 2] = [Ns::Old, Ns::Two];

    /// The bot's tag: `"old"` or `"two"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ns::Old => "old",
            Ns::Two => "two",
        }
    }

    /// The XML namespace.
    pub fn xmlns(self) -> &'static str {
        match self {
            Ns::Old => "eu.siacs.conversations.axolotl",
            Ns::Two => "urn:xmpp:omemo:2",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Ns> {
        match tag {
            "old" => Some(Ns::Old),
            "two" => Some(Ns::Two),
            _ => None,
        }
    }
}

/// Trust policy of the bot: blind trust before verification (python-omemo's
/// BTBV), or manual (new devices stay undecided; sending to them fails with
/// "undecided trust" and the bot emits a `trust_needed` event).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Trust {
    #[default]
    Blind,
    Manual,
}

#[derive(Clone, Debug)]
pub struct PeerOptions {
    /// Which OMEMO versions to publish and speak.
    pub namespaces: Vec<Ns>,
    /// JSON file with the bot's OMEMO state (device id, keys, sessions,
    /// trust). `None`: a temp file that lives as long as the [`PythonPeer`]
    /// (kept across [`PythonPeer::restart`]).
    pub storage: Option<PathBuf>,
    pub trust: Trust,
    /// XMPP resource; `None`: `peer-<pid>`.
    pub resource: Option<String>,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            namespaces: Ns::BOTH.to_vec(),
            storage: None,
            trust: Trust::Blind,
            resource: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carbon {
    Sent,
    Received,
}

/// An incoming message as the bot saw it (live or carbon, encrypted or not).
#[derive(Clone, Debug)]
pub struct PeerMessage {
    /// Bare JID of the sender (for a sent carbon: our own account).
    pub from: String,
    /// Bare JID of the addressee (for a sent carbon: the contact).
    pub to: String,
    /// `None` for a plaintext message.
    pub ns: Option<Ns>,
    /// Sending device (from the OMEMO header).
    pub device_id: Option<u32>,
    pub encrypted: bool,
    /// Whether our key element carried a key exchange (pre-key message);
    /// `None` when there was no key for this device.
    pub prekey: Option<bool>,
    pub body: Option<String>,
    /// Why it could not be decrypted or checked, e.g. "not encrypted for this
    /// device: …", "no session: …", "untrusted sender: …", "bad SCE envelope: …".
    pub error: Option<String>,
    pub carbon: Option<Carbon>,
    pub id: Option<String>,
    pub origin_id: Option<String>,
    /// Device ids of our account the OMEMO header lists.
    pub for_devices: Vec<u32>,
    /// Group chat: the room's bare JID (`from` is then the sender's real
    /// bare JID from its presence, empty if unknown).
    pub room: Option<String>,
    /// Group chat: the sender's nick.
    pub nick: Option<String>,
    /// Group chat: the room's stanza-id (XEP-0359), or the archive id.
    pub stanza_id: Option<String>,
    /// Group chat: every device id the OMEMO header lists (all members).
    pub header_devices: Vec<u32>,
    /// The whole event (type, sce_time, ...).
    pub raw: Value,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub id: u32,
    /// Hex of the Curve25519 identity key (64 chars, no 05 prefix).
    pub fingerprint: String,
    /// python-omemo's trust level name: UNDECIDED, BLINDLY_TRUSTED, TRUSTED, DISTRUSTED.
    pub trust: String,
    pub active: bool,
    pub label: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Devices {
    pub jid: String,
    pub old: Vec<DeviceInfo>,
    pub two: Vec<DeviceInfo>,
}

impl Devices {
    pub fn get(&self, ns: Ns) -> &[DeviceInfo] {
        match ns {
            Ns::Old => &self.old,
            Ns::Two => &self.two,
        }
    }

    pub fn ids(&self, ns: Ns) -> Vec<u32> {
        self.get(ns).iter().map(|d| d.id).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub jid: String,
    pub device_id: u32,
    /// Sent as a pre-key (key exchange) message to this device.
    pub prekey: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub jid: String,
    pub device_id: u32,
    pub reason: String,
}

/// What `send` reports: the stanza id (also the origin-id) and which devices
/// got the key.
#[derive(Clone, Debug)]
pub struct Sent {
    pub id: String,
    pub recipients: Vec<Recipient>,
    pub skipped: Vec<Skipped>,
}

impl Sent {
    /// Whether `device_id` of `jid` got the key, and if so as pre-key message.
    pub fn prekey_for(&self, jid: &str, device_id: u32) -> Option<bool> {
        self.recipients
            .iter()
            .find(|r| r.jid == jid && r.device_id == device_id)
            .map(|r| r.prekey)
    }
}

/// What `send_many` reports.
#[derive(Clone, Debug)]
pub struct SentMany {
    pub count: usize,
    /// Encrypting and handing the stanzas to the stream.
    pub encrypt: Duration,
    /// Until the server answered a ping sent after the last message.
    pub elapsed: Duration,
}

/// What `catch_up` reports.
#[derive(Clone, Debug)]
pub struct CaughtUp {
    /// Archived messages seen.
    pub messages: usize,
    /// Decrypted to a text (SCE envelope checked for :2).
    pub decrypted: usize,
    /// Empty OMEMO messages (key transport).
    pub empty: usize,
    pub errors: usize,
    pub first_errors: Vec<String>,
    pub pages: usize,
    /// From the first query to the last message handled (before python-omemo
    /// leaves history-sync mode and sends its held replies).
    pub elapsed: Duration,
    /// Of which waiting for the server's pages.
    pub fetch: Duration,
}

/// A room occupant as the bot sees it (from its presence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occupant {
    pub nick: String,
    /// Real bare JID (the rooms are non-anonymous).
    pub jid: Option<String>,
    pub affiliation: String,
    pub role: String,
}

/// What `muc_create` / `muc_join` report.
#[derive(Clone, Debug)]
pub struct MucJoined {
    /// Status 201: the room was created by this join.
    pub created: bool,
    /// Present occupants, ourselves included.
    pub occupants: Vec<Occupant>,
    /// Status codes of our own presence (110, 100, 201, 170, ...).
    pub codes: Vec<String>,
}

/// What `muc_members` reports.
#[derive(Clone, Debug)]
pub struct MucMembers {
    pub owners: Vec<String>,
    pub admins: Vec<String>,
    pub members: Vec<String>,
    pub occupants: Vec<Occupant>,
    /// Affiliations whose list the server refused.
    pub refused: Vec<String>,
}

/// What `muc_send` reports: like [`Sent`], plus the participant JIDs the
/// bot encrypted for (lists ∪ present occupants, minus itself).
#[derive(Clone, Debug)]
pub struct MucSent {
    pub sent: Sent,
    pub participants: Vec<String>,
    /// Affiliation lists the server refused (the bot fell back to presences).
    pub refused: Vec<String>,
}

/// What `muc_bench_send` reports.
#[derive(Clone, Debug)]
pub struct MucBench {
    /// Mean time from python-omemo's encrypt to the stanza handed to the stream.
    pub encrypt: Duration,
    /// Mean serialized stanza size.
    pub bytes: usize,
    /// Devices that got the key (last message).
    pub recipients: usize,
    /// Participant JIDs.
    pub participants: usize,
    pub samples: Vec<Duration>,
}

/// The python interpreter of the test venv.
pub fn python() -> PathBuf {
    let p = match std::env::var_os("SOTTO_TEST_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-venv/bin/python"),
    };
    assert!(
        p.exists(),
        "python venv for the interop tests is missing at {}: run scripts/python-venv.sh \
         (or set SOTTO_TEST_PYTHON to a python with tests/interop/requirements.txt installed)",
        p.display()
    );
    p
}

struct Launch {
    port: u16,
    ca_file: PathBuf,
    jid: String,
    password: String,
    namespaces: Vec<Ns>,
    storage: PathBuf,
    trust: Trust,
    resource: String,
}

pub struct PythonPeer {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    events: Receiver<Value>,
    /// Events read but not consumed yet (in arrival order).
    pending: VecDeque<Value>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    next_req: u64,
    launch: Launch,
    jid: String,
    full_jid: String,
    device_id: u32,
    fingerprint: String,
    _tmp: Option<tempfile::TempDir>,
}

impl PythonPeer {
    /// Start the bot as `user` on `prosody` and wait until it is online
    /// (logged in, OMEMO published, carbons on, presence sent).
    pub fn start(prosody: &Prosody, user: &str, password: &str, opts: PeerOptions) -> PythonPeer {
        assert!(
            !opts.namespaces.is_empty(),
            "PeerOptions::namespaces is empty"
        );
        let (storage, tmp) = match opts.storage {
            Some(p) => (p, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("sotto-xmpp-peer")
                    .tempdir()
                    .expect("temp dir");
                (dir.path().join("omemo.json"), Some(dir))
            }
        };
        let launch = Launch {
            port: prosody.port(),
            ca_file: prosody.ca_file().to_path_buf(),
            jid: prosody.jid(user),
            password: password.to_owned(),
            namespaces: opts.namespaces,
            storage,
            trust: opts.trust,
            resource: opts
                .resource
                .unwrap_or_else(|| format!("peer-{user}-{}", next_serial())),
        };
        let (child, stdin, events, stderr) = spawn(&launch);
        let mut peer = PythonPeer {
            child: Some(child),
            stdin: Some(stdin),
            events,
            pending: VecDeque::new(),
            stderr,
            next_req: 1,
            jid: launch.jid.clone(),
            full_jid: String::new(),
            device_id: 0,
            fingerprint: String::new(),
            launch,
            _tmp: tmp,
        };
        peer.wait_online();
        peer
    }

    fn wait_online(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.recv(remaining) {
                Some(ev) if ev["event"] == "online" => {
                    self.full_jid = ev["full_jid"].as_str().unwrap_or_default().to_owned();
                    self.device_id = ev["device_id"].as_u64().expect("device_id") as u32;
                    self.fingerprint = ev["fingerprint"].as_str().unwrap_or_default().to_owned();
                    return;
                }
                Some(ev) if ev["event"] == "error" => {
                    self.fail(&format!("the XMPP test peer did not come online: {ev}"))
                }
                Some(ev) => self.pending.push_back(ev),
                None => self.fail(&format!(
                    "the XMPP test peer {} was not online within {START_TIMEOUT:?}",
                    self.launch.jid
                )),
            }
        }
    }

    /// Stop the bot and start it again with the same storage and resource
    /// (the OMEMO device and sessions survive). Unconsumed events are dropped.
    pub fn restart(&mut self) {
        self.stop();
        self.respawn();
    }

    fn respawn(&mut self) {
        let (child, stdin, events, stderr) = spawn(&self.launch);
        self.child = Some(child);
        self.stdin = Some(stdin);
        self.events = events;
        self.stderr = stderr;
        self.pending.clear();
        self.wait_online();
    }

    /// Stop the bot, give it a new identity key under the same device id
    /// (what a reinstall that reuses the id looks like to contacts), and
    /// start it again: python-omemo sees its backends as new, makes keys
    /// and publishes a fresh bundle. Sessions are gone with the old keys.
    pub fn reset_identity(&mut self) {
        self.stop();
        let path = &self.launch.storage;
        let text = std::fs::read_to_string(path).expect("read the bot's storage");
        let mut state: serde_json::Map<String, Value> =
            serde_json::from_str(&text).expect("the bot's storage is a JSON object");
        let own = format!("/devices/{}/{}/", self.jid, self.device_id);
        state.retain(|k, _| {
            !(k.starts_with("/urn:xmpp:omemo:2/")
                || k.starts_with("/eu.siacs.conversations.axolotl/"))
        });
        // python-omemo's identity is an Ed25519 seed (urlsafe base64 in its
        // storage); its own device record carries the public key.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE;
        let seed: [u8; 32] = rand::random();
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        state.insert("/ikp/is_seed".into(), Value::Bool(true));
        state.insert("/ikp/key".into(), Value::String(b64.encode(seed)));
        state.insert(
            format!("{own}identity_key"),
            Value::String(b64.encode(public.as_bytes())),
        );
        // Backends that look new to python-omemo get keys and a bundle.
        state.insert(format!("{own}namespaces"), Value::Array(vec![]));
        state.insert(format!("{own}active"), Value::Object(Default::default()));
        std::fs::write(path, serde_json::to_string(&state).expect("json"))
            .expect("write the bot's storage");
        self.respawn();
    }

    /// Bare JID.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    pub fn full_jid(&self) -> &str {
        &self.full_jid
    }

    pub fn device_id(&self) -> u32 {
        self.device_id
    }

    /// Hex of this device's Curve25519 identity key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn storage_path(&self) -> &Path {
        &self.launch.storage
    }

    /// Encrypt `body` in `ns` for all devices of `to` (bare, or full to
    /// address one resource) and our own other devices, and send it as a
    /// type=chat message with fallback body, EME, store hint and origin-id.
    /// For :2 the plaintext is an SCE envelope. The bot fetches both device
    /// lists right before encrypting (it does not wait for PEP).
    pub fn send(&mut self, to: &str, body: &str, ns: Ns) -> Result<Sent, String> {
        let ev = self.call(json!({"cmd": "send", "to": to, "body": body, "ns": ns.as_str()}))?;
        Ok(parse_sent(&ev))
    }

    /// Send an unencrypted type=chat message (with origin-id); returns its id.
    pub fn send_plain(&mut self, to: &str, body: &str) -> Result<String, String> {
        let ev = self.call(json!({"cmd": "send_plain", "to": to, "body": body}))?;
        Ok(ev["id"].as_str().unwrap_or_default().to_owned())
    }

    /// The devices python-omemo knows for `jid` after fetching its device
    /// lists (and the bundles of new devices).
    pub fn devices(&mut self, jid: &str) -> Devices {
        let ev = self
            .call(json!({"cmd": "devices", "jid": jid}))
            .unwrap_or_else(|e| self.fail(&format!("devices {jid}: {e}")));
        let list = |ns: &str| -> Vec<DeviceInfo> {
            ev[ns]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| DeviceInfo {
                    id: d["id"].as_u64().unwrap_or_default() as u32,
                    fingerprint: d["fingerprint"].as_str().unwrap_or_default().to_owned(),
                    trust: d["trust"].as_str().unwrap_or_default().to_owned(),
                    active: d["active"].as_bool().unwrap_or_default(),
                    label: d["label"].as_str().map(str::to_owned),
                })
                .collect()
        };
        Devices {
            jid: ev["jid"].as_str().unwrap_or_default().to_owned(),
            old: list("old"),
            two: list("two"),
        }
    }

    /// Mark the identity key of `jid`'s device `device_id` trusted (verified).
    pub fn trust(&mut self, jid: &str, device_id: u32) -> Result<(), String> {
        self.call(json!({"cmd": "trust", "jid": jid, "device_id": device_id}))
            .map(drop)
    }

    /// Mark the identity key of `jid`'s device `device_id` distrusted: no
    /// more keys for it, and its messages fail with "untrusted sender".
    pub fn distrust(&mut self, jid: &str, device_id: u32) -> Result<(), String> {
        self.call(json!({"cmd": "distrust", "jid": jid, "device_id": device_id}))
            .map(drop)
    }

    /// The next event of any kind (message, empty, message_error,
    /// trust_needed, disconnected, online, error), or `None` after `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(ev) = self.pending.pop_front() {
            return Some(ev);
        }
        self.recv(timeout)
    }

    /// The first event with `"event": kind`, waiting up to `timeout`. Other
    /// events stay queued, in order, for later calls.
    pub fn try_expect_event(&mut self, kind: &str, timeout: Duration) -> Option<Value> {
        if let Some(i) = self.pending.iter().position(|e| e["event"] == kind) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let ev = self.recv(remaining)?;
            if ev["event"] == kind {
                return Some(ev);
            }
            self.pending.push_back(ev);
        }
    }

    /// Like [`Self::try_expect_event`], but a timeout fails the test.
    pub fn expect_event(&mut self, kind: &str, timeout: Duration) -> Value {
        match self.try_expect_event(kind, timeout) {
            Some(ev) => ev,
            None => self.fail(&format!(
                "{}: no {kind:?} event within {timeout:?}; other events: {:?}",
                self.full_jid, self.pending
            )),
        }
    }

    /// The next incoming message (other events stay queued); `None` after `timeout`.
    pub fn try_expect_message(&mut self, timeout: Duration) -> Option<PeerMessage> {
        self.try_expect_event("message", timeout)
            .map(|ev| parse_message(&ev))
    }

    /// The next incoming message; a timeout fails the test.
    pub fn expect_message(&mut self, timeout: Duration) -> PeerMessage {
        parse_message(&self.expect_event("message", timeout))
    }

    /// Events received so far and not consumed.
    pub fn drain_events(&mut self) -> Vec<Value> {
        while let Ok(ev) = self.events.try_recv() {
            self.pending.push_back(ev);
        }
        self.pending.drain(..).collect()
    }

    /// Ask the bot to log out and exit; kill it if it takes longer than 5 s.
    pub fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "{}", json!({"cmd": "quit"}));
            let _ = stdin.flush();
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last lines the bot logged on stderr.
    pub fn log_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap();
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Send `xml`, any well-formed stanza, as it is (hostile input). The
    /// server stamps `from`.
    pub fn send_raw(&mut self, xml: &str) -> Result<(), String> {
        self.call(json!({"cmd": "send_raw", "xml": xml})).map(drop)
    }

    /// A real `<encrypted/>` element (serialized) for `to` in `ns`, not sent:
    /// for a test to tamper with and pass to [`Self::send_raw`]. The bot's
    /// ratchet moves on as if it had been sent.
    pub fn encrypt_raw(&mut self, to: &str, body: &str, ns: Ns) -> Result<String, String> {
        let ev = self.call(json!({"cmd": "encrypt", "to": to, "body": body, "ns": ns.as_str()}))?;
        Ok(ev["xml"].as_str().unwrap_or_default().to_owned())
    }

    /// Publish `xml` as item `item_id` of our own PEP node `node` (with
    /// `pubsub#access_model=open`), e.g. a bundle with a bad signature or an
    /// oversized device list.
    pub fn publish_raw(&mut self, node: &str, item_id: &str, xml: &str) -> Result<(), String> {
        self.call(json!({"cmd": "publish_raw", "node": node, "item_id": item_id, "xml": xml}))
            .map(drop)
    }

    /// The payloads (serialized) of the items of a PEP node: `jid` `None`
    /// means our own; `item_id` `None` means all items.
    pub fn fetch_raw(
        &mut self,
        jid: Option<&str>,
        node: &str,
        item_id: Option<&str>,
    ) -> Result<Vec<(String, String)>, String> {
        let ev =
            self.call(json!({"cmd": "fetch_raw", "jid": jid, "node": node, "item_id": item_id}))?;
        Ok(ev["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    i["id"].as_str().unwrap_or_default().to_owned(),
                    i["xml"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// Our own OMEMO bundle in `ns` as published (serialized), with its PEP
    /// node and item id.
    pub fn own_bundle(&mut self, ns: Ns) -> (String, String, String) {
        let (node, item) = match ns {
            Ns::Old => (
                format!("eu.siacs.conversations.axolotl.bundles:{}", self.device_id),
                "current".to_owned(),
            ),
            Ns::Two => (
                "urn:xmpp:omemo:2:bundles".to_owned(),
                self.device_id.to_string(),
            ),
        };
        let items = self
            .fetch_raw(None, &node, Some(&item))
            .unwrap_or_else(|e| self.fail(&format!("fetch own bundle: {e}")));
        let xml = items
            .into_iter()
            .next()
            .map(|(_, xml)| xml)
            .unwrap_or_else(|| self.fail("own bundle not published"));
        (node, item, xml)
    }

    /// `count` encrypted messages (`"{body_prefix}{i}"`) to `to` in `ns`, as
    /// fast as python-omemo can: device lists fetched once, the bot's state
    /// file written once at the end. Returns when the server has them all
    /// (a ping after the last one was answered).
    pub fn send_many(
        &mut self,
        to: &str,
        body_prefix: &str,
        count: usize,
        ns: Ns,
        timeout: Duration,
    ) -> Result<SentMany, String> {
        let ev = self.call_within(
            json!({"cmd": "send_many", "to": to, "ns": ns.as_str(), "count": count, "body_prefix": body_prefix}),
            timeout,
        )?;
        Ok(SentMany {
            count: ev["count"].as_u64().unwrap_or_default() as usize,
            encrypt: Duration::from_secs_f64(ev["encrypt_s"].as_f64().unwrap_or_default()),
            elapsed: Duration::from_secs_f64(ev["elapsed_s"].as_f64().unwrap_or_default()),
        })
    }

    /// Page through our own MAM archive from the start and (with `decrypt`)
    /// decrypt every OMEMO message in python-omemo's history-sync mode.
    pub fn catch_up(&mut self, decrypt: bool, timeout: Duration) -> Result<CaughtUp, String> {
        let ev = self.call_within(json!({"cmd": "catch_up", "decrypt": decrypt}), timeout)?;
        let n = |k: &str| ev[k].as_u64().unwrap_or_default() as usize;
        Ok(CaughtUp {
            messages: n("messages"),
            decrypted: n("decrypted"),
            empty: n("empty"),
            errors: n("errors"),
            first_errors: ev["first_errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect(),
            pages: n("pages"),
            elapsed: Duration::from_secs_f64(ev["elapsed_s"].as_f64().unwrap_or_default()),
            fetch: Duration::from_secs_f64(ev["fetch_s"].as_f64().unwrap_or_default()),
        })
    }

    // --- group chats (XEP-0045) -------------------------------------------

    /// Join (creating) `room` as `nick`, configure it persistent,
    /// members-only, non-anonymous (whois anyone), archived and not public,
    /// then grant `member` to each of `members`.
    pub fn muc_create(
        &mut self,
        room: &str,
        nick: &str,
        members: &[&str],
    ) -> Result<MucJoined, String> {
        self.muc_create_with(room, nick, members, json!({}))
    }

    /// `muc_create` with room form values of the test's choosing, e.g.
    /// `{"muc#roomconfig_membersonly": "0"}` for an open room.
    pub fn muc_create_with(
        &mut self,
        room: &str,
        nick: &str,
        members: &[&str],
        config: Value,
    ) -> Result<MucJoined, String> {
        let ev = self.call(json!({
            "cmd": "muc_create", "room": room, "nick": nick, "members": members, "config": config,
        }))?;
        Ok(parse_joined(&ev))
    }

    /// Join `room` as `nick` (no MUC history). A refused join is an error
    /// starting with the condition, e.g. `registration-required`.
    pub fn muc_join(&mut self, room: &str, nick: &str) -> Result<MucJoined, String> {
        let ev = self.call(json!({"cmd": "muc_join", "room": room, "nick": nick}))?;
        Ok(parse_joined(&ev))
    }

    /// Leave `room` (unavailable presence); the bot forgets it.
    pub fn muc_leave(&mut self, room: &str) -> Result<(), String> {
        self.call(json!({"cmd": "muc_leave", "room": room}))
            .map(drop)
    }

    /// Encrypt `body` in `ns` for the room's participants (owner, admin and
    /// member lists queried now, plus present occupants' real JIDs, minus
    /// ourselves) and send it as type=groupchat with origin-id (= id). For
    /// :2 the SCE `<to>` is the room and `<from>` our real bare JID.
    pub fn muc_send(&mut self, room: &str, body: &str, ns: Ns) -> Result<MucSent, String> {
        let ev =
            self.call(json!({"cmd": "muc_send", "room": room, "body": body, "ns": ns.as_str()}))?;
        Ok(MucSent {
            sent: parse_sent(&ev),
            participants: strings(&ev["participants"]),
            refused: strings(&ev["refused"]),
        })
    }

    /// A plaintext groupchat message; returns its id (also the origin-id).
    pub fn muc_send_plain(&mut self, room: &str, body: &str) -> Result<String, String> {
        let ev = self.call(json!({"cmd": "muc_send_plain", "room": room, "body": body}))?;
        Ok(ev["id"].as_str().unwrap_or_default().to_owned())
    }

    /// The owner, admin and member lists (each queried on its own) and the
    /// present occupants.
    pub fn muc_members(&mut self, room: &str) -> Result<MucMembers, String> {
        let ev = self.call(json!({"cmd": "muc_members", "room": room}))?;
        let list = |k: &str| strings(&ev["lists"][k]);
        Ok(MucMembers {
            owners: list("owner"),
            admins: list("admin"),
            members: list("member"),
            occupants: parse_occupants(&ev["occupants"]),
            refused: strings(&ev["refused"]),
        })
    }

    /// Set `jid`'s affiliation (`owner`, `admin`, `member`, `outcast`,
    /// `none`) in `room` (an owner's or admin's action).
    pub fn muc_affiliation(
        &mut self,
        room: &str,
        jid: &str,
        affiliation: &str,
    ) -> Result<(), String> {
        self.call(
            json!({"cmd": "muc_affiliation", "room": room, "jid": jid, "affiliation": affiliation}),
        )
        .map(drop)
    }

    /// The room's MAM archive from the start, each message decrypted with
    /// the real JID the archive carries (our own are marked `"own": true`
    /// and not decrypted).
    pub fn muc_history(&mut self, room: &str) -> Result<Vec<PeerMessage>, String> {
        let ev = self.call_within(
            json!({"cmd": "muc_history", "room": room}),
            Duration::from_secs(120),
        )?;
        Ok(ev["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(parse_message)
            .collect())
    }

    /// Benchmark: participants and device lists fetched first, then `count`
    /// messages timed from encrypt to the stanza handed to the stream, after
    /// `warmup` encrypted but unsent ones (sessions built).
    pub fn muc_bench_send(
        &mut self,
        room: &str,
        ns: Ns,
        count: usize,
        warmup: usize,
        timeout: Duration,
    ) -> Result<MucBench, String> {
        let ev = self.call_within(
            json!({"cmd": "muc_bench_send", "room": room, "ns": ns.as_str(), "count": count, "warmup": warmup}),
            timeout,
        )?;
        Ok(MucBench {
            encrypt: Duration::from_secs_f64(ev["encrypt_s"].as_f64().unwrap_or_default()),
            bytes: ev["bytes"].as_u64().unwrap_or_default() as usize,
            recipients: ev["recipients"].as_u64().unwrap_or_default() as usize,
            participants: ev["participants"].as_u64().unwrap_or_default() as usize,
            samples: ev["samples"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_f64().map(Duration::from_secs_f64))
                .collect(),
        })
    }

    /// The next groupchat message from `room` (others stay queued); `None`
    /// after `timeout`. Reflections of our own messages are separate
    /// `reflection` events, not messages.
    pub fn try_expect_groupchat(&mut self, room: &str, timeout: Duration) -> Option<PeerMessage> {
        let matches = |e: &Value| e["event"] == "message" && e["room"] == room;
        if let Some(i) = self.pending.iter().position(matches) {
            return self.pending.remove(i).map(|ev| parse_message(&ev));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let ev = self.recv(remaining)?;
            if matches(&ev) {
                return Some(parse_message(&ev));
            }
            self.pending.push_back(ev);
        }
    }

    /// The next groupchat message from `room`; a timeout fails the test.
    pub fn expect_groupchat(&mut self, room: &str, timeout: Duration) -> PeerMessage {
        match self.try_expect_groupchat(room, timeout) {
            Some(m) => m,
            None => self.fail(&format!(
                "{}: no groupchat message from {room} within {timeout:?}; other events: {:?}",
                self.full_jid, self.pending
            )),
        }
    }

    fn call(&mut self, cmd: Value) -> Result<Value, String> {
        self.call_within(cmd, CALL_TIMEOUT)
    }

    fn call_within(&mut self, mut cmd: Value, timeout: Duration) -> Result<Value, String> {
        let req = self.next_req;
        self.next_req += 1;
        cmd["req"] = json!(req);
        let written = match self.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{cmd}").and_then(|_| stdin.flush()),
            None => self.fail("the XMPP test peer was stopped"),
        };
        if let Err(e) = written {
            self.fail(&format!("cannot write to the XMPP test peer: {e}"));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.recv(remaining) {
                Some(ev) if ev["req"] == req => {
                    return if ev["event"] == "error" {
                        Err(ev["reason"].as_str().unwrap_or("error").to_owned())
                    } else {
                        Ok(ev)
                    };
                }
                Some(ev) => self.pending.push_back(ev),
                None => {
                    let mut shown = cmd.to_string();
                    if shown.len() > 300 {
                        let cut = (0..=300)
                            .rev()
                            .find(|i| shown.is_char_boundary(*i))
                            .unwrap_or(0);
                        shown.truncate(cut);
                        shown.push('…');
                    }
                    self.fail(&format!("no answer to {shown} within {timeout:?}"))
                }
            }
        }
    }

    /// One event from the bot's stdout; `None` on timeout. A bot that died
    /// fails the test.
    fn recv(&mut self, timeout: Duration) -> Option<Value> {
        match self.events.recv_timeout(timeout) {
            Ok(ev) => Some(ev),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.as_mut().and_then(|c| c.wait().ok());
                self.fail(&format!("the XMPP test peer exited ({status:?})"))
            }
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\n--- {} ({}) log tail ---\n{}",
            self.launch.jid,
            self.launch.resource,
            self.log_tail()
        )
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        self.stdin.take();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn next_serial() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SERIAL: AtomicU32 = AtomicU32::new(1);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

type Spawned = (
    Child,
    ChildStdin,
    Receiver<Value>,
    Arc<Mutex<VecDeque<String>>>,
);

fn spawn(l: &Launch) -> Spawned {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/xmpp_peer.py");
    let verbose = std::env::var_os("SOTTO_PEER_VERBOSE").is_some_and(|v| v != "0");
    let namespaces: Vec<&str> = l.namespaces.iter().map(|n| n.as_str()).collect();
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .args(["--jid", &l.jid, "--password", &l.password])
        .args(["--host", "127.0.0.1", "--port", &l.port.to_string()])
        .arg("--ca-file")
        .arg(&l.ca_file)
        .arg("--storage")
        .arg(&l.storage)
        .args(["--namespaces", &namespaces.join(",")])
        .args([
            "--trust",
            match l.trust {
                Trust::Blind => "blind",
                Trust::Manual => "manual",
            },
        ])
        .args(["--resource", &l.resource])
        // No __pycache__ next to the sources.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if verbose {
        cmd.arg("--verbose");
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start the XMPP test peer {}: {e}", script.display()));
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            let ev = serde_json::from_str::<Value>(&line)
                .unwrap_or_else(|_| json!({"event": "bad_output", "line": line}));
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
    let tail2 = Arc::clone(&tail);
    let who = format!("{}/{}", l.jid, l.resource);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if verbose {
                eprintln!("[{who}] {line}");
            }
            let mut t = tail2.lock().unwrap();
            if t.len() == STDERR_TAIL {
                t.pop_front();
            }
            t.push_back(line);
        }
    });
    (child, stdin, rx, tail)
}

fn parse_message(ev: &Value) -> PeerMessage {
    let s = |k: &str| ev[k].as_str().map(str::to_owned);
    PeerMessage {
        from: s("from").unwrap_or_default(),
        to: s("to").unwrap_or_default(),
        ns: ev["ns"].as_str().and_then(Ns::from_tag),
        device_id: ev["device_id"].as_u64().map(|d| d as u32),
        encrypted: ev["encrypted"].as_bool().unwrap_or_default(),
        prekey: ev["prekey"].as_bool(),
        body: s("body"),
        error: s("error"),
        carbon: match ev["carbon"].as_str() {
            Some("sent") => Some(Carbon::Sent),
            Some("received") => Some(Carbon::Received),
            _ => None,
        },
        id: s("id"),
        origin_id: s("origin_id"),
        for_devices: ids(&ev["for_devices"]),
        room: s("room"),
        nick: s("nick"),
        stanza_id: s("stanza_id"),
        header_devices: ids(&ev["header_devices"]),
        raw: ev.clone(),
    }
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_u64().map(|d| d as u32))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

fn parse_occupants(v: &Value) -> Vec<Occupant> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|o| Occupant {
            nick: o["nick"].as_str().unwrap_or_default().to_owned(),
            jid: o["jid"].as_str().map(str::to_owned),
            affiliation: o["affiliation"].as_str().unwrap_or("none").to_owned(),
            role: o["role"].as_str().unwrap_or("none").to_owned(),
        })
        .collect()
}

fn parse_sent(ev: &Value) -> Sent {
    let recipients = ev["recipients"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Recipient {
            jid: r["jid"].as_str().unwrap_or_default().to_owned(),
            device_id: r["device_id"].as_u64().unwrap_or_default() as u32,
            prekey: r["prekey"].as_bool().unwrap_or_default(),
        })
        .collect();
    let skipped = ev["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Skipped {
            jid: r["jid"].as_str().unwrap_or_default().to_owned(),
            device_id: r["device_id"].as_u64().unwrap_or_default() as u32,
            reason: r["reason"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    Sent {
        id: ev["id"].as_str().unwrap_or_default().to_owned(),
        recipients,
        skipped,
    }
}

fn parse_joined(ev: &Value) -> MucJoined {
    MucJoined {
        created: ev["created"].as_bool().unwrap_or_default(),
        occupants: parse_occupants(&ev["occupants"]),
        codes: strings(&ev["codes"]),
    }
}
