//! The independent OMEMO peer (tests/interop/xmpp_peer.py: slixmpp +
//! slixmpp-omemo / python-omemo) proven against itself on the fixture
//! Prosody, before Sotto's interop tests rely on it: encrypted messages both
//! ways in both namespaces (pre-key message first, then normal messages),
//! plaintext, carbons to a second device of the same account, an
//! undecryptable message reported with its reason, and a restart that keeps
//! the device and its sessions.
//!
//! Needs the venv from `scripts/python-venv.sh` (or SOTTO_TEST_PYTHON).

mod support;

use std::time::{Duration, Instant};

use support::Prosody;
use support::peer::{Carbon, Ns, PeerMessage, PeerOptions, PythonPeer};

const T: Duration = Duration::from_secs(15);

fn assert_encrypted(m: &PeerMessage, from: &PythonPeer, ns: Ns, body: &str, prekey: bool) {
    assert_eq!(m.error, None, "{m:?}");
    assert_eq!(m.from, from.jid(), "{m:?}");
    assert_eq!(m.ns, Some(ns), "{m:?}");
    assert!(m.encrypted, "{m:?}");
    assert_eq!(m.device_id, Some(from.device_id()), "{m:?}");
    assert_eq!(m.body.as_deref(), Some(body), "{m:?}");
    assert_eq!(m.prekey, Some(prekey), "pre-key flag: {m:?}");
}

#[test]
fn bots_exchange_omemo_messages_in_both_namespaces_and_see_carbons() {
    let started = Instant::now();
    let prosody = Prosody::start();
    prosody.create_user("alice", "alice-pw");
    prosody.create_user("bob", "bob-pw");
    prosody.make_friends("alice", "Alice", "bob", "Bob");

    let mut alice = PythonPeer::start(&prosody, "alice", "alice-pw", PeerOptions::default());
    let mut bob = PythonPeer::start(&prosody, "bob", "bob-pw", PeerOptions::default());
    let online = started.elapsed();
    let (a, b) = (alice.jid().to_owned(), bob.jid().to_owned());

    // Each bot sees the other's device in both namespaces, with the same
    // identity key in both.
    let devices = alice.devices(&b);
    for ns in Ns::BOTH {
        assert_eq!(devices.ids(ns), vec![bob.device_id()], "{devices:?}");
        assert_eq!(devices.get(ns)[0].fingerprint, bob.fingerprint());
    }

    for ns in [Ns::Two, Ns::Old] {
        // First message: a pre-key message to Bob's device (and to no other
        // own device, there is none).
        let body = format!("hello Bob ({ns:?})");
        let sent = alice.send(&b, &body, ns).unwrap();
        assert_eq!(sent.prekey_for(&b, bob.device_id()), Some(true), "{sent:?}");
        assert!(sent.skipped.is_empty(), "{sent:?}");
        let m = bob.expect_message(T);
        assert_encrypted(&m, &alice, ns, &body, true);
        assert_eq!(m.origin_id.as_deref(), Some(sent.id.as_str()));
        assert_eq!(m.carbon, None);
        // python-omemo completes the session with an empty message.
        let empty = alice.expect_event("empty", T);
        assert_eq!(empty["ns"], ns.as_str(), "{empty}");
        assert_eq!(empty["device_id"], bob.device_id(), "{empty}");

        // Bob answers on the session Alice built: a normal message.
        let body = format!("hi Alice ({ns:?})");
        let sent = bob.send(&a, &body, ns).unwrap();
        assert_eq!(
            sent.prekey_for(&a, alice.device_id()),
            Some(false),
            "{sent:?}"
        );
        assert_encrypted(&alice.expect_message(T), &bob, ns, &body, false);

        // Then normal messages both ways.
        for i in 0..3 {
            let body = format!("{ns:?} a→b {i}");
            alice.send(&b, &body, ns).unwrap();
            assert_encrypted(&bob.expect_message(T), &alice, ns, &body, false);
            let body = format!("{ns:?} b→a {i}");
            bob.send(&a, &body, ns).unwrap();
            assert_encrypted(&alice.expect_message(T), &bob, ns, &body, false);
        }
    }
    let exchanged = started.elapsed();

    // Plaintext is reported as such.
    let id = alice.send_plain(&b, "in the clear").unwrap();
    let m = bob.expect_message(T);
    assert!(!m.encrypted && m.ns.is_none() && m.error.is_none(), "{m:?}");
    assert_eq!(m.body.as_deref(), Some("in the clear"));
    assert_eq!(m.id.as_deref(), Some(id.as_str()));

    // A second device of Bob's account.
    let mut bob2 = PythonPeer::start(
        &prosody,
        "bob",
        "bob-pw",
        PeerOptions {
            resource: Some("second".into()),
            ..PeerOptions::default()
        },
    );
    assert_ne!(bob2.device_id(), bob.device_id());
    let devices = alice.devices(&b);
    for ns in Ns::BOTH {
        let mut want = vec![bob.device_id(), bob2.device_id()];
        want.sort();
        assert_eq!(devices.ids(ns), want, "{devices:?}");
    }

    for ns in [Ns::Two, Ns::Old] {
        // Alice writes to Bob's first resource only: the second device gets
        // a "received" carbon, encrypted for it too (a new session: pre-key).
        let body = format!("to the first device ({ns:?})");
        let sent = alice.send(bob.full_jid(), &body, ns).unwrap();
        assert!(sent.prekey_for(&b, bob2.device_id()).is_some(), "{sent:?}");
        assert_encrypted(&bob.expect_message(T), &alice, ns, &body, false);
        let m = bob2.expect_message(T);
        assert_encrypted(&m, &alice, ns, &body, true);
        assert_eq!(m.carbon, Some(Carbon::Received), "{m:?}");
        assert_eq!(m.to, b);

        // Bob's first device writes to Alice: the second device gets a
        // "sent" carbon (from its own account, to Alice).
        let body = format!("from the first device ({ns:?})");
        let sent = bob.send(&a, &body, ns).unwrap();
        assert!(sent.prekey_for(&b, bob2.device_id()).is_some(), "{sent:?}");
        let m = alice.expect_message(T);
        assert_encrypted(&m, &bob, ns, &body, false);
        let m = bob2.expect_message(T);
        assert_encrypted(&m, &bob, ns, &body, true);
        assert_eq!(m.carbon, Some(Carbon::Sent), "{m:?}");
        assert_eq!(m.to, a, "{m:?}");
    }

    // Alice distrusts Bob's second device: it no longer gets the key, and it
    // reports the message it cannot read instead of dropping it.
    alice.distrust(&b, bob2.device_id()).unwrap();
    let sent = alice
        .send(&b, "not for the second device", Ns::Two)
        .unwrap();
    assert_eq!(sent.prekey_for(&b, bob2.device_id()), None, "{sent:?}");
    assert_encrypted(
        &bob.expect_message(T),
        &alice,
        Ns::Two,
        "not for the second device",
        false,
    );
    let m = bob2.expect_message(T);
    assert!(m.encrypted && m.body.is_none(), "{m:?}");
    let error = m.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("not encrypted for this device"), "{m:?}");
    assert!(m.for_devices.contains(&bob.device_id()), "{m:?}");
    assert!(!m.for_devices.contains(&bob2.device_id()), "{m:?}");

    // Failures are answered with a reason, and the bot carries on.
    let err = alice.send("nobody@sotto.test", "x", Ns::Two).unwrap_err();
    assert!(err.starts_with("no eligible devices"), "{err}");
    let err = alice.distrust(&b, 1).unwrap_err();
    assert!(err.contains("unknown device 1"), "{err}");

    // A restarted bot keeps its device and sessions.
    let device = alice.device_id();
    alice.restart();
    assert_eq!(alice.device_id(), device);
    bob.send(&a, "after the restart", Ns::Two).unwrap();
    assert_encrypted(
        &alice.expect_message(T),
        &bob,
        Ns::Two,
        "after the restart",
        false,
    );

    bob2.stop();
    bob.stop();
    alice.stop();
    eprintln!(
        "peer_bot timings: two bots online {online:?}, both namespaces exchanged {exchanged:?}, total {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "too slow: {:?}",
        started.elapsed()
    );
}
