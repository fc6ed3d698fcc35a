//! The python test peer (tests/interop/xmpp_peer.py) in a members-only,
//! non-anonymous room on a real Prosody, on its own: the independent OMEMO
//! group chat participant the Sotto group chat tests (issue 6) rely on.
//! Three peers in one room: encrypted messages in both namespaces decrypt
//! for everyone, a stranger cannot join, a removed member gets no key for
//! the next message (and reads it as "not encrypted for this device" in the
//! room's archive once re-added), the others still decrypt.

mod support;

use std::time::{Duration, Instant};

use support::Prosody;
use support::peer::{Ns, PeerMessage, PeerOptions, PythonPeer};

const WAIT: Duration = Duration::from_secs(15);

fn start(server: &Prosody, user: &str) -> PythonPeer {
    server.create_user(user, &format!("{user}-pw"));
    PythonPeer::start(server, user, &format!("{user}-pw"), PeerOptions::default())
}

/// The next groupchat message with a body or an error (skips nothing else:
/// empty OMEMO messages are separate events).
fn next_in(peer: &mut PythonPeer, room: &str) -> PeerMessage {
    peer.expect_groupchat(room, WAIT)
}

fn expect_event_where(
    peer: &mut PythonPeer,
    kind: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    let mut others = Vec::new();
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        match peer.try_expect_event(kind, left) {
            Some(ev) if pred(&ev) => return ev,
            Some(ev) => others.push(ev),
            None => break,
        }
    }
    panic!(
        "{}: no matching {kind:?} event; non-matching: {others:?}\n{}",
        peer.jid(),
        peer.log_tail()
    );
}

#[test]
fn python_peers_in_a_members_only_room() {
    let started = Instant::now();
    let server = Prosody::start();
    let mut alice = start(&server, "alice");
    let mut bob = start(&server, "bob");
    let mut carol = start(&server, "carol");
    let mut dave = start(&server, "dave");
    let room = format!("crypto@{}", server.muc_domain());
    let (a, b, c) = (
        alice.jid().to_owned(),
        bob.jid().to_owned(),
        carol.jid().to_owned(),
    );

    let created = alice
        .muc_create(&room, "Alice", &[&b, &c])
        .expect("alice creates the room");
    assert!(created.created, "{created:?}");
    assert!(
        created.codes.iter().any(|c| c == "110"),
        "self-presence: {created:?}"
    );

    let joined = bob.muc_join(&room, "Bob").expect("bob, a member, joins");
    assert!(!joined.created);
    assert!(
        joined.codes.iter().any(|c| c == "100"),
        "non-anonymous room: status 100 on join: {joined:?}"
    );
    let alice_occupant = joined
        .occupants
        .iter()
        .find(|o| o.nick == "Alice")
        .unwrap_or_else(|| panic!("{joined:?}"));
    assert_eq!(
        alice_occupant.jid.as_deref(),
        Some(a.as_str()),
        "non-anonymous"
    );
    assert_eq!(alice_occupant.affiliation, "owner");
    carol
        .muc_join(&room, "Carol")
        .expect("carol, a member, joins");

    let err = dave
        .muc_join(&room, "Dave")
        .expect_err("a stranger cannot join a members-only room");
    assert!(err.starts_with("registration-required"), "{err}");

    // A member may read the lists (whois=anyone, members-only).
    let members = bob.muc_members(&room).expect("lists");
    assert_eq!(members.owners, vec![a.clone()], "{members:?}");
    let mut expected = vec![b.clone(), c.clone()];
    expected.sort();
    assert_eq!(members.members, expected, "{members:?}");
    assert!(members.refused.is_empty(), "{members:?}");
    assert_eq!(members.occupants.len(), 3, "{members:?}");

    for ns in Ns::BOTH {
        let body = format!("hello room in {ns:?}");
        let sent = alice.muc_send(&room, &body, ns).expect("alice encrypts");
        let mut participants = vec![b.clone(), c.clone()];
        participants.sort();
        assert_eq!(sent.participants, participants, "{sent:?}");
        for (peer, dev) in [(&b, bob.device_id()), (&c, carol.device_id())] {
            assert!(
                sent.sent.prekey_for(peer, dev).is_some(),
                "{peer}/{dev} got no key: {sent:?}"
            );
        }
        for peer in [&mut bob, &mut carol] {
            let m = next_in(peer, &room);
            assert_eq!(m.body.as_deref(), Some(body.as_str()), "{:?}", m.raw);
            assert!(m.error.is_none(), "{:?}", m.raw);
            assert!(m.encrypted);
            assert_eq!(m.ns, Some(ns));
            assert_eq!(m.from, a, "real JID from presence");
            assert_eq!(m.nick.as_deref(), Some("Alice"));
            assert_eq!(m.origin_id.as_deref(), Some(sent.sent.id.as_str()));
        }
        let r = expect_event_where(&mut alice, "reflection", |e| {
            e["origin_id"] == sent.sent.id.as_str()
        });
        assert_eq!(r["room"], room.as_str());

        let reply = format!("bob answers in {ns:?}");
        bob.muc_send(&room, &reply, ns).expect("bob encrypts");
        for peer in [&mut alice, &mut carol] {
            let m = next_in(peer, &room);
            assert_eq!(m.body.as_deref(), Some(reply.as_str()), "{:?}", m.raw);
            assert_eq!(m.from, b);
        }
    }

    carol
        .muc_send_plain(&room, "plain text")
        .expect("plain groupchat");
    for peer in [&mut alice, &mut bob] {
        let m = next_in(peer, &room);
        assert_eq!(m.body.as_deref(), Some("plain text"), "{:?}", m.raw);
        assert!(!m.encrypted);
        assert_eq!(m.from, c);
    }

    // Carol is removed: Prosody kicks her (321), Bob is told.
    alice
        .muc_affiliation(&room, &c, "none")
        .expect("alice removes carol");
    let left = carol.expect_event("muc_left", WAIT);
    assert!(
        left["codes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "321")),
        "{left}"
    );
    expect_event_where(&mut bob, "muc_affiliation", |e| {
        e["jid"] == c.as_str() && e["affiliation"] == "none"
    });

    let mut secret = None;
    for ns in Ns::BOTH {
        let body = format!("after carol left, {ns:?}");
        let sent = alice.muc_send(&room, &body, ns).expect("alice encrypts");
        assert_eq!(sent.participants, vec![b.clone()], "{sent:?}");
        assert!(sent.sent.recipients.iter().all(|r| r.jid != c), "{sent:?}");
        let m = next_in(&mut bob, &room);
        assert_eq!(m.body.as_deref(), Some(body.as_str()), "{:?}", m.raw);
        assert!(
            !m.header_devices.contains(&carol.device_id()),
            "carol's device still in the header: {:?}",
            m.raw
        );
        if ns == Ns::Two {
            secret = Some(sent.sent.id);
        }
    }
    // Bob (a member) sends too, from his own view of the room.
    let sent = bob
        .muc_send(&room, "bob, carol gone", Ns::Old)
        .expect("bob encrypts");
    assert_eq!(sent.participants, vec![a.clone()], "{sent:?}");
    let m = next_in(&mut alice, &room);
    assert_eq!(m.body.as_deref(), Some("bob, carol gone"), "{:?}", m.raw);

    // Re-added, Carol finds the message in the archive, without a key.
    alice
        .muc_affiliation(&room, &c, "member")
        .expect("alice re-adds carol");
    carol.muc_join(&room, "Carol").expect("carol rejoins");
    let history = carol.muc_history(&room).expect("room archive");
    let secret = secret.unwrap();
    let m = history
        .iter()
        .find(|m| m.origin_id.as_deref() == Some(secret.as_str()))
        .unwrap_or_else(|| panic!("not archived: {history:?}"));
    assert_eq!(m.from, a, "the archive carries the real JID: {:?}", m.raw);
    assert!(m.body.is_none(), "{:?}", m.raw);
    let error = m.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("not encrypted for this device"),
        "{:?}",
        m.raw
    );
    assert!(m.stanza_id.is_some(), "{:?}", m.raw);

    // The benchmark command works (Carol and Bob: one device each).
    let bench = alice
        .muc_bench_send(&room, Ns::Two, 2, 0, Duration::from_secs(30))
        .expect("bench");
    assert_eq!(bench.participants, 2, "{bench:?}");
    assert_eq!(bench.recipients, 2, "{bench:?}");
    assert_eq!(bench.samples.len(), 2, "{bench:?}");
    assert!(bench.bytes > 300, "{bench:?}");

    eprintln!("muc_peer: {:?}", started.elapsed());
}
