//! Sotto against an independent OMEMO client over a real server: the
//! python-omemo / slixmpp-omemo bot of tests/interop/xmpp_peer.py, in each
//! namespace, Sotto first and the peer first.

mod support;

use std::time::{Duration, Instant};

use support::Prosody;
use support::cli::{Cli, Run};
use support::peer::{Ns, PeerMessage, PeerOptions, PythonPeer};

fn messages(run: &Run) -> Vec<serde_json::Value> {
    run.json_lines()
        .into_iter()
        .filter(|l| l["event"] == "message")
        .collect()
}

/// The next message with a body (empty OMEMO messages complete sessions).
fn next_text(peer: &mut PythonPeer) -> PeerMessage {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(m) = peer.try_expect_message(Duration::from_secs(2))
            && (m.body.is_some() || m.error.is_some())
        {
            return m;
        }
    }
    panic!("no message reached the peer; log:\n{}", peer.log_tail());
}

fn sotto_ns(ns: Ns) -> &'static str {
    match ns {
        Ns::Old => "omemo0",
        Ns::Two => "omemo2",
    }
}

fn setup(ns: Ns) -> (Prosody, Cli, PythonPeer) {
    let server = Prosody::start();
    server.create_user("alice", "alice-pw");
    server.create_user("pat", "pat-pw");
    server.make_friends("alice", "Alice", "pat", "Pat");
    let alice = Cli::new();
    alice.add_account(&server, "alice", "alice-pw").ok();
    alice.run(&["listen", "--timeout", "1"]).ok();
    let peer = PythonPeer::start(
        &server,
        "pat",
        "pat-pw",
        PeerOptions {
            namespaces: vec![ns],
            ..PeerOptions::default()
        },
    );
    (server, alice, peer)
}

fn sotto_first(ns: Ns) {
    let (server, alice, mut peer) = setup(ns);
    let pat = server.jid("pat");
    alice.run(&["send", &pat, "hello from Sotto"]).ok();
    let m = next_text(&mut peer);
    assert_eq!(m.body.as_deref(), Some("hello from Sotto"), "{:?}", m.raw);
    assert!(m.encrypted, "{:?}", m.raw);
    assert_eq!(m.ns, Some(ns), "{:?}", m.raw);
    assert_eq!(m.prekey, Some(true), "the first message builds the session");
    assert!(m.error.is_none(), "{:?}", m.raw);

    peer.send(&server.jid("alice"), "hello from python", ns)
        .expect("the peer encrypts for Sotto");
    let run = alice.run(&["listen", "--json", "--timeout", "3"]).ok();
    let got = messages(&run);
    let m = got
        .iter()
        .find(|m| m["body"] == "hello from python")
        .unwrap_or_else(|| panic!("{}\n{}", run.stdout, run.stderr));
    assert_eq!(m["encrypted"], true);
    assert_eq!(m["namespace"], sotto_ns(ns));
    assert!(m["error"].is_null(), "{m}");

    // The session is confirmed now: no more key exchange.
    alice.run(&["send", &pat, "second"]).ok();
    let m = next_text(&mut peer);
    assert_eq!(m.body.as_deref(), Some("second"), "{:?}", m.raw);
    assert_eq!(m.prekey, Some(false), "{:?}", m.raw);
}

fn peer_first(ns: Ns) {
    let (server, alice, mut peer) = setup(ns);
    let alice_jid = server.jid("alice");
    let sent = peer
        .send(&alice_jid, "python speaks first", ns)
        .expect("the peer finds Sotto's device");
    assert!(!sent.recipients.is_empty(), "{sent:?}");
    let run = alice.run(&["listen", "--json", "--timeout", "3"]).ok();
    let got = messages(&run);
    assert_eq!(got.len(), 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(got[0]["body"], "python speaks first");
    assert_eq!(got[0]["namespace"], sotto_ns(ns));
    assert_eq!(got[0]["sender_device"], peer.device_id());

    alice
        .run(&["send", &server.jid("pat"), "Sotto answers"])
        .ok();
    let m = next_text(&mut peer);
    assert_eq!(m.body.as_deref(), Some("Sotto answers"), "{:?}", m.raw);
    assert_eq!(m.ns, Some(ns));
    assert!(m.error.is_none(), "{:?}", m.raw);

    // Restarting Sotto brings no duplicate and no error.
    let run = alice.run(&["listen", "--json", "--timeout", "2"]).ok();
    assert!(messages(&run).is_empty(), "{}", run.stdout);
}

#[test]
fn sotto_first_omemo_0_3() {
    sotto_first(Ns::Old);
}

#[test]
fn sotto_first_omemo_2() {
    sotto_first(Ns::Two);
}

#[test]
fn peer_first_omemo_0_3() {
    peer_first(Ns::Old);
}

#[test]
fn peer_first_omemo_2() {
    peer_first(Ns::Two);
}

/// Sotto's second device gets carbons of what the first sends and of what
/// the peer sends, and decrypts both; a peer with two devices gets Sotto's
/// message on each.
#[test]
fn a_second_sotto_device_and_a_peer_with_two_devices() {
    let (server, alice, mut pat1) = setup(Ns::Two);
    let alice2 = Cli::new();
    alice2.add_account(&server, "alice", "alice-pw").ok();
    alice2.run(&["listen", "--timeout", "1"]).ok();
    let mut pat2 = PythonPeer::start(
        &server,
        "pat",
        "pat-pw",
        PeerOptions {
            namespaces: vec![Ns::Two],
            resource: Some("second".into()),
            ..PeerOptions::default()
        },
    );

    // Alice's second device stays online and listens.
    let listener = alice2
        .command()
        .args(["listen", "--json", "--timeout", "14"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the listener");
    std::thread::sleep(Duration::from_secs(4));

    let pat = server.jid("pat");
    alice.run(&["send", &pat, "to both of your devices"]).ok();
    for peer in [&mut pat1, &mut pat2] {
        let m = next_text(peer);
        assert_eq!(
            m.body.as_deref(),
            Some("to both of your devices"),
            "{:?}",
            m.raw
        );
        assert!(m.error.is_none(), "{:?}", m.raw);
    }
    pat1.send(
        &server.jid("alice"),
        "from the first of Pat's devices",
        Ns::Two,
    )
    .expect("pat encrypts for both of Alice's devices");

    let out = listener.wait_with_output().expect("listener");
    let run = Run::from_output(out);
    let got = messages(&run);
    let sent = got
        .iter()
        .find(|m| m["direction"] == "out")
        .unwrap_or_else(|| {
            panic!(
                "no carbon of the sent message:\n{}\n{}",
                run.stdout, run.stderr
            )
        });
    assert_eq!(sent["body"], "to both of your devices", "{sent}");
    assert_eq!(sent["conversation"], pat, "{sent}");
    let received = got
        .iter()
        .find(|m| m["direction"] == "in")
        .unwrap_or_else(|| panic!("no received message:\n{}\n{}", run.stdout, run.stderr));
    assert_eq!(
        received["body"], "from the first of Pat's devices",
        "{received}"
    );
    assert!(got.iter().all(|m| m["error"].is_null()), "{got:?}");
}

/// Exactly once, whatever happens: kill -9 the listening Sotto at random
/// moments during a catch-up of 500 encrypted messages, restart, repeat;
/// every message ends up stored once, decrypted.
#[test]
fn killing_sotto_during_catch_up_loses_and_duplicates_nothing() {
    const COUNT: usize = 500;
    let (server, alice, mut peer) = setup(Ns::Two);
    let alice_jid = server.jid("alice");
    let started = Instant::now();
    for i in 0..COUNT {
        peer.send(&alice_jid, &format!("message {i:03}"), Ns::Two)
            .expect("the peer encrypts");
    }
    eprintln!("the peer sent {COUNT} messages in {:?}", started.elapsed());
    let pat_jid = server.jid("pat");
    let mut progress = Vec::new();
    // Deterministic "random" kill times, spread over the catch-up.
    let mut seed = 0x5eed_u64;
    for round in 0..10 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = Duration::from_millis(300 + (seed >> 33) % 1700);
        let mut child = alice
            .command()
            .args(["listen", "--timeout", "30"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(after);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let stored = alice
            .run(&["history", &pat_jid, "--json", "--limit", "1000"])
            .ok()
            .json_lines()
            .len();
        eprintln!("round {round}: killed after {after:?}, {stored} stored");
        progress.push(stored);
    }
    // The kills must have landed during the catch-up, not after it.
    assert!(
        progress.iter().any(|n| *n > 0 && *n < COUNT),
        "no kill interrupted the catch-up: {progress:?}"
    );
    alice.run(&["listen", "--timeout", "2"]).ok();
    let history = alice
        .run(&["history", &pat_jid, "--json", "--limit", "1000"])
        .ok()
        .json_lines();
    let bodies: Vec<&str> = history.iter().filter_map(|m| m["body"].as_str()).collect();
    let errors: Vec<_> = history.iter().filter(|m| !m["error"].is_null()).collect();
    assert!(errors.is_empty(), "undecryptable after crashes: {errors:?}");
    let mut unique = bodies.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), COUNT, "missing messages");
    assert_eq!(bodies.len(), COUNT, "duplicated messages");
}

/// Blind trust until the first verification, manual from then on: a device
/// the contact adds later gets no key until the user decides, and the peer
/// says so.
#[test]
fn after_a_verification_new_devices_wait_for_a_decision() {
    let (server, alice, mut pat1) = setup(Ns::Two);
    let pat = server.jid("pat");
    let devices = alice.run(&["devices", &pat, "--json"]).ok().json_lines();
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["fingerprint"], pat1.fingerprint());
    alice.run(&["trust", &pat, pat1.fingerprint()]).ok();

    let mut pat2 = PythonPeer::start(
        &server,
        "pat",
        "pat-pw",
        PeerOptions {
            namespaces: vec![Ns::Two],
            resource: Some("new-phone".into()),
            ..PeerOptions::default()
        },
    );
    let listed = alice.run(&["devices", &pat, "--json"]).ok().json_lines();
    let new = listed
        .iter()
        .find(|d| d["device_id"] == pat2.device_id())
        .unwrap_or_else(|| panic!("the new device is listed: {listed:?}"));
    alice.run(&["send", &pat, "for verified devices only"]).ok();
    let m = next_text(&mut pat1);
    assert_eq!(m.body.as_deref(), Some("for verified devices only"));
    let m = next_text(&mut pat2);
    assert!(
        m.body.is_none(),
        "an undecided device got the key: {:?}",
        m.raw
    );
    assert!(
        m.error
            .as_deref()
            .is_some_and(|e| e.contains("not encrypted for this device")),
        "{:?}",
        m.raw
    );
    let history = alice.run(&["history", &pat, "--json"]).ok().json_lines();
    let info = history
        .last()
        .map(|m| m["encryption_info"].to_string())
        .unwrap_or_default();
    assert!(
        info.contains("undecided"),
        "the sent message records the left-out device and why: {info} ({new})"
    );
}

/// A contact's device that comes back with another identity key under the
/// same device id is flagged, its message is kept but marked untrusted, and
/// nothing is encrypted to it until the user decides.
#[test]
fn an_identity_key_change_is_flagged_and_waits_for_a_decision() {
    let (server, alice, mut pat) = setup(Ns::Two);
    let pat_jid = server.jid("pat");
    alice.run(&["send", &pat_jid, "hello"]).ok();
    assert_eq!(next_text(&mut pat).body.as_deref(), Some("hello"));
    let (device, old_fp) = (pat.device_id(), pat.fingerprint().to_owned());

    pat.reset_identity();
    assert_eq!(pat.device_id(), device, "same device id");
    let new_fp = pat.fingerprint().to_owned();
    assert_ne!(new_fp, old_fp, "a new identity key");
    pat.send(&server.jid("alice"), "it is me, reinstalled", Ns::Two)
        .expect("encrypt");
    let run = alice.run(&["listen", "--json", "--timeout", "5"]).ok();
    let lines = run.json_lines();
    assert!(
        lines.iter().any(|l| l["event"] == "identity_changed"
            && l["device_id"] == device
            && l["fingerprint"] == new_fp.as_str()),
        "the change is reported: {lines:?}"
    );
    let got = messages(&run);
    let m = got
        .iter()
        .find(|m| m["body"] == "it is me, reinstalled")
        .unwrap_or_else(|| panic!("the message is kept: {got:?}"));
    assert_eq!(m["trusted"], false, "{m}");

    let devices = alice
        .run(&["devices", &pat_jid, "--json"])
        .ok()
        .json_lines();
    let d = devices
        .iter()
        .find(|d| d["device_id"] == device)
        .unwrap_or_else(|| panic!("listed: {devices:?}"));
    assert_eq!(d["fingerprint"], new_fp.as_str(), "{d}");
    assert_eq!(d["trust"], "undecided", "{d}");
    // A warning until Alice decides, with the key it replaced.
    assert_eq!(d["identity_changed"], true, "{d}");
    assert_eq!(d["previous_fingerprint"], old_fp.as_str(), "{d}");

    // The only device of the contact is undecided: nothing goes out.
    let refused = alice.run(&["send", &pat_jid, "should not leave"]);
    assert_ne!(refused.code, 0, "sent to an undecided identity");
    assert!(
        pat.try_expect_message(Duration::from_secs(3)).is_none(),
        "the peer got something"
    );

    alice.run(&["trust", &pat_jid, &new_fp]).ok();
    alice.run(&["send", &pat_jid, "welcome back"]).ok();
    assert_eq!(next_text(&mut pat).body.as_deref(), Some("welcome back"));
}
