//! Hostile input from a contact (issue 4, "Bad input"): the python-omemo bot
//! of tests/interop/xmpp_peer.py sends malformed OMEMO elements, garbage
//! protobuf inside well-formed XML, a message that claims to come from
//! Sotto's own device id, publishes a bundle with a bad signature and a
//! device list with 10,000 devices. Each time Sotto (driven by sotto-cli)
//! does not crash (`listen` exits 0 at its timeout), stores the message with
//! a clear reason or refuses it, and afterwards a normal encrypted message
//! from the bot still decrypts (no state lost) and Sotto still reaches the
//! bot.
//!
//! Needs the venv from `scripts/python-venv.sh` (or SOTTO_TEST_PYTHON).

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::Prosody;
use support::cli::{Cli, Run};
use support::peer::{Ns, PeerMessage, PeerOptions, PythonPeer};

const TWO: &str = "urn:xmpp:omemo:2";
const OLD: &str = "eu.siacs.conversations.axolotl";

fn setup(namespaces: Vec<Ns>) -> (Prosody, Cli, PythonPeer) {
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
            namespaces,
            ..PeerOptions::default()
        },
    );
    (server, alice, peer)
}

fn own_device_id(cli: &Cli) -> u32 {
    let status = cli.run(&["status", "--json"]).ok().json_lines();
    status[0]["device_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no device id in {status:?}")) as u32
}

/// `listen` must come back on its own, with exit code 0.
fn listen(cli: &Cli, secs: u32) -> Run {
    let run = cli.run(&["listen", "--json", "--timeout", &secs.to_string()]);
    assert_eq!(
        run.code, 0,
        "listen did not exit cleanly:\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

fn history(cli: &Cli, jid: &str) -> Vec<Value> {
    cli.run(&["history", jid, "--json", "--limit", "1000"])
        .ok()
        .json_lines()
}

/// The next message with a body or an error (empty OMEMO messages only
/// complete sessions).
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

/// One line per history row: id, timestamp, body or error.
fn compact(rows: &[Value]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{} {} dev={} trusted={} {} {}",
                r["id"], r["timestamp"], r["sender_device"], r["trusted"], r["body"], r["error"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A chat message as a client would send it: fallback body, store hint.
fn stanza(to: &str, id: &str, encrypted: &str) -> String {
    format!(
        "<message xmlns='jabber:client' to='{to}' type='chat' id='{id}'>\
         <body>I sent you an OMEMO encrypted message but your client doesn't seem to support that.</body>\
         {encrypted}<store xmlns='urn:xmpp:hints'/><origin-id xmlns='urn:xmpp:sid:0' id='{id}'/></message>"
    )
}

/// Replace the first `attr="…"` or `attr='…'` value in `xml`.
fn set_attr(xml: &str, attr: &str, value: &str) -> String {
    for quote in ['"', '\''] {
        let open = format!("{attr}={quote}");
        if let Some(start) = xml.find(&open) {
            let from = start + open.len();
            let end = from + xml[from..].find(quote).expect("closing quote");
            return format!("{}{value}{}", &xml[..from], &xml[end..]);
        }
    }
    panic!("no {attr} in {xml}");
}

/// Replace the text of the first `<tag …>text</tag>` (any prefix) in `xml`.
fn set_text(xml: &str, tag: &str, f: impl Fn(&str) -> String) -> String {
    let open = [format!("<{tag}>"), format!("<{tag} ")]
        .iter()
        .filter_map(|o| xml.find(o.as_str()))
        .min()
        .or_else(|| {
            xml.find(&format!(":{tag}>"))
                .or(xml.find(&format!(":{tag} ")))
        })
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"));
    let from = open + xml[open..].find('>').expect("tag end") + 1;
    let end = from + xml[from..].find("</").expect("closing tag");
    format!("{}{}{}", &xml[..from], f(&xml[from..end]), &xml[end..])
}

/// A different base64 character at position `i` (the bytes change, the
/// text stays valid base64).
fn flip_base64(text: &str, i: usize) -> String {
    let mut chars: Vec<char> = text.trim().chars().collect();
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Malformed elements and garbage, each followed by a good message; then
/// the stored rows between two good messages belong to the hostile one.
#[test]
fn malformed_omemo_elements_and_garbage_are_stored_with_a_reason_and_lose_no_state() {
    let started = Instant::now();
    let (server, alice, mut pat) = setup(vec![Ns::Two, Ns::Old]);
    let (alice_jid, pat_jid) = (server.jid("alice"), server.jid("pat"));
    let me = own_device_id(&alice);
    let sid = pat.device_id();
    pat.send(&alice_jid, "before", Ns::Two)
        .expect("pat encrypts");

    // Garbage that is valid base64: 48 bytes that are no protobuf message.
    let garbage = "3q2+7wAAAP8BAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0u";
    let mut hostile: Vec<(&str, String)> = vec![
        (
            ":2 without header",
            format!("<encrypted xmlns='{TWO}'><payload>{garbage}</payload></encrypted>"),
        ),
        (
            ":2 sid not a number",
            format!(
                "<encrypted xmlns='{TWO}'><header sid='pat'><keys jid='{alice_jid}'>\
                 <key rid='{me}'>{garbage}</key></keys></header><payload>{garbage}</payload></encrypted>"
            ),
        ),
        (
            ":2 key not base64",
            format!(
                "<encrypted xmlns='{TWO}'><header sid='{sid}'><keys jid='{alice_jid}'>\
                 <key rid='{me}'>!!! not base64 !!!</key></keys></header><payload>{garbage}</payload></encrypted>"
            ),
        ),
        (
            ":2 garbage protobuf in a normal key",
            format!(
                "<encrypted xmlns='{TWO}'><header sid='{sid}'><keys jid='{alice_jid}'>\
                 <key rid='{me}'>{garbage}</key></keys></header><payload>{garbage}</payload></encrypted>"
            ),
        ),
        (
            ":2 garbage protobuf in a pre-key",
            format!(
                "<encrypted xmlns='{TWO}'><header sid='{sid}'><keys jid='{alice_jid}'>\
                 <key rid='{me}' kex='true'>{garbage}</key></keys></header><payload>{garbage}</payload></encrypted>"
            ),
        ),
        (":2 empty element", format!("<encrypted xmlns='{TWO}'/>")),
        (
            "0.3 without header",
            format!("<encrypted xmlns='{OLD}'><payload>{garbage}</payload></encrypted>"),
        ),
        (
            "0.3 sid not a number, no iv",
            format!(
                "<encrypted xmlns='{OLD}'><header sid='-1'><key rid='{me}'>{garbage}</key></header>\
                 <payload>{garbage}</payload></encrypted>"
            ),
        ),
        (
            "0.3 garbage protobuf, bad iv",
            format!(
                "<encrypted xmlns='{OLD}'><header sid='{sid}'><key rid='{me}' prekey='true'>{garbage}</key>\
                 <iv>%%%</iv></header><payload>{garbage}</payload></encrypted>"
            ),
        ),
    ];
    // Real ciphertext with its payload replaced: the key decrypts, the
    // payload's authentication fails.
    let real = pat
        .encrypt_raw(&alice_jid, "tampered", Ns::Two)
        .expect("encrypt");
    hostile.push((
        ":2 tampered payload",
        set_text(&real, "payload", |p| flip_base64(p, 4)),
    ));
    for (i, (name, encrypted)) in hostile.iter().enumerate() {
        pat.send_raw(&stanza(&alice_jid, &format!("bad-{i}"), encrypted))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        pat.send(&alice_jid, &format!("after {i}"), Ns::Two)
            .expect("pat encrypts");
    }

    // Offline: everything comes through the archive, in order.
    let run = listen(&alice, 3);
    let rows = history(&alice, &pat_jid);
    let position = |body: &str| {
        rows.iter()
            .position(|r| r["body"] == body)
            .unwrap_or_else(|| {
                panic!(
                    "{body:?} is missing (state lost?):\n{rows:#?}\nlisten: {}\n{}",
                    run.stdout, run.stderr
                )
            })
    };
    let mut previous = position("before");
    let mut report = Vec::new();
    for (i, (name, _)) in hostile.iter().enumerate() {
        let next = position(&format!("after {i}"));
        assert!(next > previous, "messages out of order: {rows:#?}");
        let after = &rows[next];
        assert!(after["error"].is_null(), "{name}: {after}");
        assert_eq!(after["encrypted"], true, "{after}");
        let stored = &rows[previous + 1..next];
        for r in stored {
            assert!(
                r["body"].is_null(),
                "{name}: hostile input shown as text: {r}"
            );
            let reason = r["error"].as_str().unwrap_or_default();
            assert!(
                reason.len() >= 8,
                "{name}: stored without a clear reason: {r}"
            );
        }
        assert!(
            stored.len() <= 1,
            "{name}: stored twice:\n{}",
            compact(&rows)
        );
        report.push(match stored.first() {
            Some(r) => format!("{name}: stored, error {:?}", r["error"]),
            None => format!("{name}: refused (not stored)"),
        });
        previous = next;
    }
    eprintln!("{}", report.join("\n"));

    // Sotto still reaches pat, and pat still reaches Sotto.
    alice.run(&["send", &pat_jid, "still friends"]).ok();
    let m = next_text(&mut pat);
    assert_eq!(m.body.as_deref(), Some("still friends"), "{:?}", m.raw);
    pat.send(&alice_jid, "and again", Ns::Two).expect("encrypt");
    let run = listen(&alice, 2);
    assert!(
        run.json_lines()
            .iter()
            .any(|m| m["body"] == "and again" && m["error"].is_null()),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    eprintln!("malformed input: {:?}", started.elapsed());
}

/// Sotto never builds a session from a bundle whose signed pre-key
/// signature does not verify: the message is not sent, and says why.
#[test]
fn a_bundle_with_a_bad_signature_is_refused() {
    let started = Instant::now();
    let (server, alice, mut pat) = setup(vec![Ns::Two]);
    let (alice_jid, pat_jid) = (server.jid("alice"), server.jid("pat"));
    let (node, item, good) = pat.own_bundle(Ns::Two);
    let bad = set_text(&good, "spks", |s| flip_base64(s, 10));
    assert_ne!(bad, good);
    pat.publish_raw(&node, &item, &bad).expect("publish");

    let run = alice.run(&["send", &pat_jid, "through a forged bundle"]);
    assert_ne!(
        run.code, 0,
        "sent with a bad bundle: {}\n{}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains("not sent"), "{}", run.stderr);
    let rows = history(&alice, &pat_jid);
    let failed = rows.last().expect("the message is kept");
    assert_eq!(failed["state"], "failed", "{failed}");
    let info = failed["encryption_info"].to_string();
    assert!(
        info.to_lowercase().contains("signature"),
        "the left-out device says why: {info}"
    );
    eprintln!("bad signature: {}; {info}", failed["error"]);
    assert!(
        pat.try_expect_message(Duration::from_secs(1)).is_none(),
        "something reached pat"
    );

    // With the real bundle back, everything works: nothing was poisoned.
    pat.publish_raw(&node, &item, &good).expect("publish");
    alice.run(&["send", &pat_jid, "through the real one"]).ok();
    let m = next_text(&mut pat);
    assert_eq!(
        m.body.as_deref(),
        Some("through the real one"),
        "{:?}",
        m.raw
    );
    pat.send(&alice_jid, "and back", Ns::Two).expect("encrypt");
    let run = listen(&alice, 2);
    assert!(
        run.json_lines()
            .iter()
            .any(|m| m["body"] == "and back" && m["error"].is_null()),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    eprintln!("bad signature: {:?}", started.elapsed());
}

/// A contact publishes a device list with 10,000 devices (its real one
/// among them): Sotto refuses the list or copes with it, never hangs or
/// crashes, and the existing session keeps working both ways.
#[test]
fn a_device_list_with_10000_devices() {
    let started = Instant::now();
    let (server, alice, mut pat) = setup(vec![Ns::Two]);
    let (alice_jid, pat_jid) = (server.jid("alice"), server.jid("pat"));
    pat.send(&alice_jid, "hello", Ns::Two).expect("encrypt");
    listen(&alice, 1);
    alice.run(&["send", &pat_jid, "hi"]).ok();
    assert_eq!(next_text(&mut pat).body.as_deref(), Some("hi"));

    let real = pat.device_id();
    let mut list = format!("<devices xmlns='{TWO}'>");
    list.push_str(&format!("<device id='{real}'/>"));
    for id in (1..).filter(|id| *id != real).take(9_999) {
        list.push_str(&format!("<device id='{id}'/>"));
    }
    list.push_str("</devices>");
    pat.publish_raw("urn:xmpp:omemo:2:devices", "current", &list)
        .expect("publish 10,000 devices");
    // Published: Prosody hands it out (checked from pat's side).
    let published = pat
        .fetch_raw(None, "urn:xmpp:omemo:2:devices", Some("current"))
        .expect("fetch");
    assert_eq!(
        published[0].1.matches("<device ").count() + published[0].1.matches(":device ").count(),
        10_000
    );

    let t = Instant::now();
    let devices = alice
        .run(&["devices", &pat_jid, "--json"])
        .ok()
        .json_lines();
    eprintln!(
        "10,000 devices: `devices` took {:?} and lists {}",
        t.elapsed(),
        devices.len()
    );
    assert!(
        devices.iter().any(|d| d["device_id"] == real),
        "pat's real device is gone: {devices:?}"
    );

    pat.send(&alice_jid, "after the big list", Ns::Two)
        .expect("encrypt");
    let run = listen(&alice, 2);
    assert!(
        run.json_lines()
            .iter()
            .any(|m| m["body"] == "after the big list" && m["error"].is_null()),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let t = Instant::now();
    alice.run(&["send", &pat_jid, "still there"]).ok();
    eprintln!("10,000 devices: `send` took {:?}", t.elapsed());
    assert_eq!(next_text(&mut pat).body.as_deref(), Some("still there"));
    eprintln!("10,000 devices: {:?}", started.elapsed());
}

/// Our own account sends a message whose header claims Sotto's own device
/// id (real ciphertext from a second client of the account, sid rewritten):
/// Sotto refuses it, and nothing else is disturbed.
#[test]
fn a_message_from_our_account_claiming_our_own_device_is_refused() {
    let (server, alice, mut pat) = setup(vec![Ns::Two]);
    let (alice_jid, pat_jid) = (server.jid("alice"), server.jid("pat"));
    let me = own_device_id(&alice);
    pat.send(&alice_jid, "before", Ns::Two).expect("encrypt");
    let mut twin = PythonPeer::start(
        &server,
        "alice",
        "alice-pw",
        PeerOptions {
            namespaces: vec![Ns::Two],
            resource: Some("twin".into()),
            ..PeerOptions::default()
        },
    );
    let real = twin
        .encrypt_raw(&alice_jid, "I am your own device", Ns::Two)
        .expect("the twin encrypts for Sotto's device");
    assert!(
        real.contains(&format!("rid=\"{me}\"")) || real.contains(&format!("rid='{me}'")),
        "{real}"
    );
    twin.send_raw(&stanza(
        &alice_jid,
        "spoof-1",
        &set_attr(&real, "sid", &me.to_string()),
    ))
    .expect("send");
    twin.stop();
    pat.send(&alice_jid, "after", Ns::Two).expect("encrypt");

    let run = listen(&alice, 3);
    let all = run.json_lines();
    assert!(
        !all.iter().any(|m| m["body"] == "I am your own device"),
        "a forged message from our own device was shown: {}",
        run.stdout
    );
    let own = history(&alice, &alice_jid);
    assert!(
        own.iter().all(|r| r["body"].is_null()),
        "stored as text: {own:?}"
    );
    let rows = history(&alice, &pat_jid);
    let bodies: Vec<_> = rows.iter().map(|r| r["body"].clone()).collect();
    assert_eq!(bodies, ["before", "after"], "{}", compact(&rows));
    alice.run(&["send", &pat_jid, "all fine"]).ok();
    assert_eq!(next_text(&mut pat).body.as_deref(), Some("all fine"));
}

/// A contact's message whose header names our own device id as the sender
/// device (real ciphertext from the contact, sid rewritten; that id is not
/// in the contact's device list).
#[test]
fn a_contact_message_claiming_our_own_device_id_is_refused() {
    let (server, alice, mut pat) = setup(vec![Ns::Two]);
    let (alice_jid, pat_jid) = (server.jid("alice"), server.jid("pat"));
    let me = own_device_id(&alice);
    pat.send(&alice_jid, "before", Ns::Two).expect("encrypt");
    let real = pat
        .encrypt_raw(&alice_jid, "I am your own device", Ns::Two)
        .expect("encrypt");
    pat.send_raw(&stanza(
        &alice_jid,
        "spoof-1",
        &set_attr(&real, "sid", &me.to_string()),
    ))
    .expect("send");
    pat.send(&alice_jid, "after", Ns::Two).expect("encrypt");
    listen(&alice, 3);
    let rows = history(&alice, &pat_jid);
    eprintln!("{}", compact(&rows));
    let forged: Vec<_> = rows.iter().filter(|r| r["sender_device"] == me).collect();
    for r in &forged {
        assert!(
            r["body"].is_null() && !r["error"].is_null(),
            "a message claiming our own device id was accepted: {r}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r["body"] == "after" && r["error"].is_null())
    );
}
