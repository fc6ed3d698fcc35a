//! Group chats between Sotto devices through a real Prosody (issue 6),
//! driven by sotto-cli. Every CLI run is a fresh connection, so every
//! message a run prints came from the room's archive on rejoin, with the
//! real JIDs the archive carries.

mod support;

use std::time::Duration;

use support::Prosody;
use support::cli::{Cli, Run};
use support::peer::{Ns, PeerOptions, PythonPeer};

use serde_json::json;
use sotto::service::{Command, Event, EventStream};
use support::service::{keyed_jids, online, send};

fn messages(run: &Run) -> Vec<serde_json::Value> {
    run.json_lines()
        .into_iter()
        .filter(|l| l["event"] == "message")
        .collect()
}

fn room_json(run: &Run) -> serde_json::Value {
    run.json_lines()
        .into_iter()
        .find(|l| l.get("jid").is_some() && l.get("participants").is_some())
        .unwrap_or_else(|| panic!("no room in {}\n{}", run.stdout, run.stderr))
}

fn listen(cli: &Cli) -> Run {
    cli.run(&["listen", "--json", "--timeout", "3"]).ok()
}

fn last_sent(cli: &Cli, room: &str) -> serde_json::Value {
    let run = cli.run(&["history", room, "--json", "--limit", "1"]).ok();
    run.json_lines()
        .into_iter()
        .next_back()
        .unwrap_or_else(|| panic!("no history: {}", run.stderr))
}

#[test]
fn members_of_a_group_chat_exchange_encrypted_messages_and_removed_members_get_no_keys() {
    let server = Prosody::start();
    for u in ["alice", "bob", "carol", "dave"] {
        server.create_user(u, &format!("{u}-pw"));
    }
    let (alice, alice2, bob, carol, dave) =
        (Cli::new(), Cli::new(), Cli::new(), Cli::new(), Cli::new());
    alice.add_account(&server, "alice", "alice-pw").ok();
    alice2.add_account(&server, "alice", "alice-pw").ok();
    bob.add_account(&server, "bob", "bob-pw").ok();
    carol.add_account(&server, "carol", "carol-pw").ok();
    dave.add_account(&server, "dave", "dave-pw").ok();
    for c in [&alice, &alice2, &bob, &carol, &dave] {
        c.run(&["listen", "--timeout", "1"]).ok();
    }
    let room = format!("team@{}", server.muc_domain());
    let (jb, jc, jd) = (server.jid("bob"), server.jid("carol"), server.jid("dave"));
    let created = alice
        .run(&[
            "muc",
            "create",
            &room,
            "--name",
            "Team",
            "--json",
            "--members",
            &jb,
            &jc,
            &jd,
        ])
        .ok();
    let info = room_json(&created);
    assert_eq!(info["kind"], "group", "{info}");
    assert_eq!(info["encryption_possible"], true, "{info}");
    assert_eq!(info["members_only"], true, "{info}");
    assert_eq!(info["non_anonymous"], true, "{info}");
    assert_eq!(info["own_affiliation"], "owner", "{info}");

    for c in [&bob, &carol, &dave, &alice2] {
        let joined = c.run(&["muc", "join", &room, "--json"]).ok();
        assert_eq!(room_json(&joined)["joined"], true);
    }
    // Members read the lists too (members-only, non-anonymous room); the
    // owner is on none of the member lists and still a participant.
    let members = room_json(&bob.run(&["muc", "members", &room, "--json"]).ok());
    assert_eq!(members["lists_refused"], false, "{members}");
    let affiliation_of = |jid: &str| {
        members["participants"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["jid"] == jid))
            .map(|p| p["affiliation"].clone())
    };
    assert_eq!(
        affiliation_of(&server.jid("alice")),
        Some("owner".into()),
        "{members}"
    );
    assert_eq!(affiliation_of(&jc), Some("member".into()), "{members}");

    // Sent: `muc send` returns once the room reflected it (marked sent).
    alice.run(&["muc", "send", &room, "hello team"]).ok();
    let sent = last_sent(&alice, &room);
    assert_eq!(sent["state"], "sent", "{sent}");
    assert_eq!(sent["encrypted"], true, "{sent}");
    assert!(sent["error"].is_null(), "{sent}");
    assert_eq!(
        keyed_jids(sent.get("encryption_info")),
        vec![server.jid("alice"), jb.clone(), jc.clone(), jd.clone()],
        "every member and alice's other device: {sent}"
    );
    // Everyone was offline: it comes from the room archive, decrypted, once.
    for c in [&bob, &carol, &dave, &alice2] {
        let run = listen(c);
        let got = messages(&run);
        assert_eq!(got.len(), 1, "{}\n{}", run.stdout, run.stderr);
        let m = &got[0];
        assert_eq!(m["body"], "hello team", "{m}");
        assert_eq!(m["encrypted"], true, "{m}");
        assert_eq!(m["conversation"], room, "{m}");
        assert_eq!(
            m["sender"],
            server.jid("alice"),
            "real JID from the archive: {m}"
        );
        assert_eq!(m["sender_nick"], "alice", "{m}");
        assert!(m["error"].is_null(), "{m}");
        assert!(messages(&listen(c)).is_empty(), "decrypted once");
    }
    // The owner gets keys although no member list names her.
    bob.run(&["muc", "send", &room, "hi from bob"]).ok();
    let got = messages(&listen(&alice));
    assert!(
        got.iter()
            .any(|m| m["body"] == "hi from bob" && m["sender"] == jb && m["encrypted"] == true),
        "{got:?}"
    );

    // Carol removed, Dave banned: the next message has no key for them.
    alice.run(&["muc", "affiliation", &room, &jc, "none"]).ok();
    alice
        .run(&["muc", "affiliation", &room, &jd, "outcast"])
        .ok();
    alice.run(&["muc", "send", &room, "after the change"]).ok();
    let sent = last_sent(&alice, &room);
    assert_eq!(
        keyed_jids(sent.get("encryption_info")),
        vec![server.jid("alice"), jb.clone()],
        "{sent}"
    );
    bob.run(&["muc", "send", &room, "bob after the change"])
        .ok();
    let sent = last_sent(&bob, &room);
    assert_eq!(
        keyed_jids(sent.get("encryption_info")),
        vec![server.jid("alice")],
        "bob (one device) learned the lists on joining: {sent}"
    );
    // Bob's `muc send` run rejoined and caught up first.
    let history = bob.run(&["history", &room, "--json", "--limit", "5"]).ok();
    assert!(
        history
            .json_lines()
            .iter()
            .any(|m| m["body"] == "after the change" && m["error"].is_null()),
        "{}",
        history.stdout
    );
    // Carol and Dave cannot come back in.
    let refused = carol.run(&["muc", "join", &room]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    let refused = dave.run(&["muc", "join", &room]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
}

#[test]
fn a_public_channel_is_never_encrypted_and_says_why() {
    let server = Prosody::start();
    for u in ["alice", "bob"] {
        server.create_user(u, &format!("{u}-pw"));
    }
    let (alice, bob) = (Cli::new(), Cli::new());
    alice.add_account(&server, "alice", "alice-pw").ok();
    bob.add_account(&server, "bob", "bob-pw").ok();
    for c in [&alice, &bob] {
        c.run(&["listen", "--timeout", "1"]).ok();
    }
    let room = format!("lobby@{}", server.muc_domain());
    let info = room_json(
        &alice
            .run(&["muc", "create", &room, "--channel", "--json"])
            .ok(),
    );
    assert_eq!(info["kind"], "channel", "{info}");
    assert_eq!(info["encryption_possible"], false, "{info}");
    assert!(
        info["encryption_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    // Anyone can join, and it is listed.
    let info = room_json(&bob.run(&["muc", "join", &room, "--json"]).ok());
    assert_eq!(info["kind"], "channel", "{info}");
    let listed = bob.run(&["muc", "list", "--json"]).ok();
    assert!(listed.stdout.contains(&room), "{}", listed.stdout);

    alice.run(&["muc", "send", &room, "in the clear"]).ok();
    let sent = last_sent(&alice, &room);
    assert_eq!(sent["encrypted"], false, "{sent}");
    let got = messages(&listen(&bob));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["body"], "in the clear");
    assert_eq!(got[0]["encrypted"], false);
}

#[test]
fn three_sotto_accounts_a_second_device_and_an_independent_omemo_client_share_a_group_chat() {
    let server = Prosody::start();
    for u in ["alice", "bob", "carol", "pyro"] {
        server.create_user(u, &format!("{u}-pw"));
    }
    let mut py = PythonPeer::start(&server, "pyro", "pyro-pw", PeerOptions::default());
    let (alice, alice2, bob, carol) = (Cli::new(), Cli::new(), Cli::new(), Cli::new());
    alice.add_account(&server, "alice", "alice-pw").ok();
    alice2.add_account(&server, "alice", "alice-pw").ok();
    bob.add_account(&server, "bob", "bob-pw").ok();
    carol.add_account(&server, "carol", "carol-pw").ok();
    for c in [&alice, &alice2, &bob, &carol] {
        c.run(&["listen", "--timeout", "1"]).ok();
    }
    let room = format!("mixed@{}", server.muc_domain());
    let (ja, jb, jc, jp) = (
        server.jid("alice"),
        server.jid("bob"),
        server.jid("carol"),
        server.jid("pyro"),
    );
    alice
        .run(&["muc", "create", &room, "--members", &jb, &jc, &jp])
        .ok();
    for c in [&alice2, &bob, &carol] {
        c.run(&["muc", "join", &room]).ok();
    }
    py.muc_join(&room, "pyro").expect("python joins");

    // Sotto → python (a pre-key message for the python device).
    alice.run(&["muc", "send", &room, "from sotto"]).ok();
    let m = py.expect_groupchat(&room, Duration::from_secs(20));
    assert_eq!(m.body.as_deref(), Some("from sotto"), "{m:?}");
    assert_eq!(m.from, ja, "{m:?}");
    assert!(m.encrypted && m.error.is_none(), "{m:?}");
    // Carol sends too; everyone else, Alice's second device included,
    // decrypts both Sotto messages.
    carol.run(&["muc", "send", &room, "carol here"]).ok();
    let m = py.expect_groupchat(&room, Duration::from_secs(20));
    assert_eq!(m.body.as_deref(), Some("carol here"), "{m:?}");
    assert_eq!(m.from, jc, "{m:?}");
    assert!(m.error.is_none(), "{m:?}");
    for (c, expected) in [
        (&alice2, &["from sotto", "carol here"][..]),
        (&bob, &["from sotto", "carol here"][..]),
        (&alice, &["carol here"][..]),
    ] {
        let run = listen(c);
        let got = messages(&run);
        for body in expected {
            assert!(
                got.iter()
                    .any(|m| m["body"] == *body && m["encrypted"] == true && m["error"].is_null()),
                "{body}: {}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }

    // Python → Sotto, in both namespaces; both Sotto members decrypt.
    let sent = py
        .muc_send(&room, "python speaks two", Ns::Two)
        .expect("send :2");
    assert!(
        sent.participants.contains(&ja) && sent.participants.contains(&jb),
        "{:?}",
        sent.participants
    );
    py.muc_send(&room, "python speaks old", Ns::Old)
        .expect("send 0.3");
    for c in [&alice, &alice2, &bob, &carol] {
        let run = listen(c);
        let got = messages(&run);
        for (body, ns) in [
            ("python speaks two", "omemo2"),
            ("python speaks old", "omemo0"),
        ] {
            assert!(
                got.iter().any(|m| m["body"] == body
                    && m["namespace"] == ns
                    && m["sender"] == jp
                    && m["sender_nick"] == "pyro"
                    && m["error"].is_null()),
                "{body}: {}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
    // A member cannot pass for another by writing a real JID into a live
    // message: only the room's presences say who is who.
    py.send_raw(&format!(
        "<message to='{room}' type='groupchat' id='forged-1'><body>forged</body>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <item jid='{jb}/x' affiliation='member' role='participant'/></x></message>"
    ))
    .expect("raw");
    let got = messages(&listen(&alice));
    let forged = got
        .iter()
        .find(|m| m["body"] == "forged")
        .unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(forged["sender"], jp, "{forged}");
    assert_eq!(forged["sender_nick"], "pyro", "{forged}");

    // And back from the other Sotto member, on established sessions.
    bob.run(&["muc", "send", &room, "bob answers"]).ok();
    let m = py.expect_groupchat(&room, Duration::from_secs(20));
    assert_eq!(m.body.as_deref(), Some("bob answers"), "{m:?}");
    assert_eq!(m.from, jb, "{m:?}");
    assert!(m.error.is_none(), "{m:?}");
    for c in [&alice, &alice2, &carol] {
        let got = messages(&listen(c));
        assert!(
            got.iter()
                .any(|m| m["body"] == "bob answers" && m["error"].is_null()),
            "{got:?}"
        );
    }
}

/// Wait for the first event `pick` takes.
async fn wait_for<T>(events: &mut EventStream, pick: impl Fn(Event) -> Option<T>) -> T {
    let wait = async {
        loop {
            match events.next().await {
                Some(event) => {
                    if let Some(found) = pick(event) {
                        return found;
                    }
                }
                None => panic!("service stopped"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the event in time")
}

/// Wait for a room event that satisfies `pred`.
async fn room_event(
    events: &mut EventStream,
    pred: impl Fn(&sotto::service::RoomInfo) -> bool,
) -> sotto::service::RoomInfo {
    wait_for(events, |e| match e {
        Event::Room { room } if pred(&room) => Some(room),
        _ => None,
    })
    .await
}

async fn join(
    handle: &sotto::service::ServiceHandle,
    account: &str,
    room: &str,
) -> Result<sotto::service::RoomInfo, sotto::service::ServiceError> {
    let (account, room) = (account.to_owned(), room.to_owned());
    handle
        .request(|reply| Command::JoinRoom {
            account,
            room,
            nick: None,
            reply,
        })
        .await
}

fn keyed(message: &sotto::service::ChatMessage) -> Vec<String> {
    keyed_jids(message.encryption_info.as_ref())
}

#[test]
fn an_online_member_honours_removals_and_bans_at_once() {
    let server = Prosody::start();
    for u in ["owner", "bob", "carol", "dave"] {
        server.create_user(u, &format!("{u}-pw"));
    }
    let room = format!("live@{}", server.muc_domain());
    let (jo, jb, jc, jd) = (
        server.jid("owner"),
        server.jid("bob"),
        server.jid("carol"),
        server.jid("dave"),
    );
    let mut owner = PythonPeer::start(&server, "owner", "owner-pw", PeerOptions::default());
    let mut carol = PythonPeer::start(&server, "carol", "carol-pw", PeerOptions::default());
    let mut dave = PythonPeer::start(&server, "dave", "dave-pw", PeerOptions::default());
    owner
        .muc_create(&room, "owner", &[&jb, &jc, &jd])
        .expect("room");
    carol.muc_join(&room, "carol").expect("carol joins");
    dave.muc_join(&room, "dave").expect("dave joins");
    let bob = Cli::new();
    bob.add_account(&server, "bob", "bob-pw").ok();
    bob.run(&["muc", "join", &room]).ok();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (handle, mut events) = online(&bob).await;
        let (_, before) = send(&handle, &jb, &room, "everyone").await;
        assert_eq!(
            keyed(&before),
            vec![jc.clone(), jd.clone(), jo.clone()],
            "{before:?}"
        );

        // The owner changes the lists while Bob stays online: Carol (in the
        // room) is removed, Dave banned; Bob learns it from the room.
        owner
            .muc_affiliation(&room, &jc, "none")
            .expect("remove carol");
        owner
            .muc_affiliation(&room, &jd, "outcast")
            .expect("ban dave");
        room_event(&mut events, |r| {
            r.participants.iter().all(|p| {
                p.jid.as_deref() != Some(jc.as_str()) && p.jid.as_deref() != Some(jd.as_str())
            })
        })
        .await;
        let (_, after) = send(&handle, &jb, &room, "without them").await;
        assert_eq!(keyed(&after), vec![jo.clone()], "{after:?}");
        handle.shutdown().await;
    });
    let m = owner.expect_groupchat(&room, Duration::from_secs(20));
    assert_eq!(m.body.as_deref(), Some("everyone"), "{m:?}");
    let m = owner.expect_groupchat(&room, Duration::from_secs(20));
    assert_eq!(m.body.as_deref(), Some("without them"), "{m:?}");
    assert!(m.error.is_none(), "{m:?}");
    // Carol's device is not in the header of the second message.
    let carol_device = carol.device_id();
    assert!(!m.header_devices.contains(&carol_device), "{m:?}");
}

#[test]
fn an_open_room_that_refuses_the_lists_falls_back_to_presences_and_says_so() {
    let server = Prosody::start();
    for u in ["owner", "bob"] {
        server.create_user(u, &format!("{u}-pw"));
    }
    let room = format!("open@{}", server.muc_domain());
    let mut owner = PythonPeer::start(&server, "owner", "owner-pw", PeerOptions::default());
    // Open (anyone may join) but non-anonymous: Prosody gives the lists only
    // to admins there.
    owner
        .muc_create_with(
            &room,
            "owner",
            &[],
            json!({
                "muc#roomconfig_membersonly": "0",
                "muc#roomconfig_publicroom": "1",
                "muc#roomconfig_changesubject": "0",
            }),
        )
        .expect("room");
    let bob = Cli::new();
    bob.add_account(&server, "bob", "bob-pw").ok();
    let (jo, jb) = (server.jid("owner"), server.jid("bob"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (handle, mut events) = online(&bob).await;
        // By default such a room is a channel: never encrypted, and why.
        let info = join(&handle, &jb, &room).await.expect("join");
        assert_eq!(info.kind, "channel", "{info:?}");
        // Only moderators may change the subject here, and the room says so.
        assert!(!info.subject_changeable, "{info:?}");
        let refused = handle
            .request(|reply| Command::SetSubject {
                account: jb.clone(),
                room: room.clone(),
                subject: "mine now".into(),
                reply,
            })
            .await;
        match &refused {
            Err(sotto::service::ServiceError::Refused(why)) => {
                assert!(why.contains("moderators"), "{why}")
            }
            other => panic!("the subject change must be refused: {other:?}"),
        }
        assert!(info.encryption_reason.is_some());
        let (_, plain) = send(&handle, &jb, &room, "plain").await;
        assert!(!plain.encrypted, "{plain:?}");
        // With OMEMO allowed in open non-anonymous rooms, the lists are
        // refused, the participants come from presences, and the details say so.
        let mut policy = handle
            .request(|reply| Command::EncryptionPolicy { reply })
            .await
            .expect("policy");
        policy.open_groups = true;
        handle
            .request(|reply| Command::SetEncryptionPolicy { policy, reply })
            .await
            .expect("policy saved");
        // The joined room follows the preference at once, without a rejoin.
        let info = room_event(&mut events, |r| r.jid == room && r.kind == "group").await;
        assert!(info.lists_refused, "{info:?}");
        let (_, sealed) = send(&handle, &jb, &room, "sealed").await;
        assert!(sealed.encrypted, "{sealed:?}");
        assert_eq!(
            keyed(&sealed),
            vec![jo.clone()],
            "the owner, from presence: {sealed:?}"
        );
        handle.shutdown().await;
    });
    let m = owner.expect_groupchat(&room, Duration::from_secs(20));
    assert_eq!(m.body.as_deref(), Some("plain"), "{m:?}");
    let m = owner.expect_groupchat(&room, Duration::from_secs(20));
    assert_eq!(m.body.as_deref(), Some("sealed"), "{m:?}");
    assert!(m.encrypted && m.error.is_none(), "{m:?}");
}

async fn set_nick(
    handle: &sotto::service::ServiceHandle,
    account: &str,
    room: &str,
    nick: &str,
) -> Result<sotto::service::RoomInfo, sotto::service::ServiceError> {
    let (account, room, nick) = (account.to_owned(), room.to_owned(), nick.to_owned());
    handle
        .request(|reply| Command::SetNick {
            account,
            room,
            nick,
            reply,
        })
        .await
}

async fn message_event(
    events: &mut EventStream,
    pred: impl Fn(&sotto::service::ChatMessage) -> bool,
) -> sotto::service::ChatMessage {
    wait_for(events, |e| match e {
        Event::Message { message } if pred(&message) => Some(message),
        _ => None,
    })
    .await
}

#[test]
fn a_new_nickname_is_seen_by_the_room_kept_for_the_next_join_and_a_taken_one_is_refused() {
    let server = Prosody::start();
    for u in ["alice", "bob"] {
        server.create_user(u, &format!("{u}-pw"));
    }
    let (alice, alice2, bob) = (Cli::new(), Cli::new(), Cli::new());
    alice.add_account(&server, "alice", "alice-pw").ok();
    bob.add_account(&server, "bob", "bob-pw").ok();
    for c in [&alice, &bob] {
        c.run(&["listen", "--timeout", "1"]).ok();
    }
    let room = format!("nicks@{}", server.muc_domain());
    let (ja, jb) = (server.jid("alice"), server.jid("bob"));
    alice.run(&["muc", "create", &room, "--members", &jb]).ok();
    bob.run(&["muc", "join", &room]).ok();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (bob_handle, mut bob_events) = online(&bob).await;
        let (alice_handle, _alice_events) = online(&alice).await;
        room_event(&mut bob_events, |r| {
            r.participants
                .iter()
                .any(|p| p.nick.as_deref() == Some("alice") && p.present)
        })
        .await;
        // Bob is in the room as "bob": the room refuses that nickname, and
        // Alice keeps hers.
        let taken = set_nick(&alice_handle, &ja, &room, "bob").await;
        match &taken {
            Err(sotto::service::ServiceError::Refused(why)) => {
                assert!(why.contains("already uses"), "{why}")
            }
            other => panic!("a taken nickname must be refused: {other:?}"),
        }
        let details = alice_handle
            .request(|reply| Command::RoomDetails {
                account: ja.clone(),
                room: room.clone(),
                reply,
            })
            .await
            .expect("details");
        assert_eq!(details.nick, "alice", "{details:?}");
        let empty = set_nick(&alice_handle, &ja, &room, "  ").await;
        assert!(empty.is_err(), "{empty:?}");

        let info = set_nick(&alice_handle, &ja, &room, "Alice L")
            .await
            .expect("new nickname");
        assert_eq!(info.nick, "Alice L", "{info:?}");
        // Bob's room follows: the old nickname gone, the new one present.
        let seen = room_event(&mut bob_events, |r| {
            r.participants
                .iter()
                .any(|p| p.nick.as_deref() == Some("Alice L") && p.present)
        })
        .await;
        assert!(
            !seen
                .participants
                .iter()
                .any(|p| p.nick.as_deref() == Some("alice")),
            "{seen:?}"
        );
        // The subject, set and cleared again, reaches Bob both times.
        for subject in ["Plans for Saturday", ""] {
            alice_handle
                .request(|reply| Command::SetSubject {
                    account: ja.clone(),
                    room: room.clone(),
                    subject: subject.into(),
                    reply,
                })
                .await
                .expect("subject");
            let want = Some(subject).filter(|s| !s.is_empty()).map(str::to_owned);
            room_event(&mut bob_events, |r| r.subject == want).await;
        }
        let (_, sent) = send(&alice_handle, &ja, &room, "under my new name").await;
        assert_eq!(sent.sender_nick.as_deref(), Some("Alice L"), "{sent:?}");
        let got = message_event(&mut bob_events, |m| {
            m.body.as_deref() == Some("under my new name")
        })
        .await;
        assert_eq!(got.sender_nick.as_deref(), Some("Alice L"), "{got:?}");
        assert_eq!(got.sender, ja, "{got:?}");
        assert!(got.encrypted && got.error.is_none(), "{got:?}");
        alice_handle.shutdown().await;
        bob_handle.shutdown().await;
    });
    // Kept for the next joins here, and in the bookmark for Alice's other
    // devices.
    let again = room_json(&alice.run(&["muc", "members", &room, "--json"]).ok());
    assert_eq!(again["nick"], "Alice L", "{again}");
    alice2.add_account(&server, "alice", "alice-pw").ok();
    let other = room_json(&alice2.run(&["muc", "members", &room, "--json"]).ok());
    assert_eq!(other["joined"], true, "{other}");
    assert_eq!(other["nick"], "Alice L", "{other}");
}

/// Rooms come back on another device from the bookmarks: XEP-0402 where
/// the server bridges it to XEP-0048, XEP-0048 in private storage where it
/// does not; leaving on one device takes the room away on the others.
#[test]
fn rooms_come_back_on_a_new_device_from_the_bookmarks_with_or_without_the_servers_bridge() {
    for bridge in [true, false] {
        let server = Prosody::start_with_bookmarks_bridge(bridge);
        server.create_user("alice", "alice-pw");
        let (laptop, phone, tablet) = (Cli::new(), Cli::new(), Cli::new());
        laptop.add_account(&server, "alice", "alice-pw").ok();
        let room = format!("family@{}", server.muc_domain());
        laptop
            .run(&["muc", "create", &room, "--name", "Family", "--nick", "mum"])
            .ok();
        let stored = server.stored_files("alice");
        if bridge {
            assert!(
                stored.iter().any(|(f, _)| f.contains("bookmarks%3a1")),
                "XEP-0402 in PEP: {:?}",
                stored.iter().map(|(f, _)| f).collect::<Vec<_>>()
            );
        } else {
            let private = stored
                .iter()
                .find(|(f, _)| f.contains("private"))
                .map(|(_, text)| text.as_str())
                .unwrap_or_default();
            assert!(
                private.contains("storage:bookmarks") && private.contains(&room),
                "XEP-0048 in private storage: {private}"
            );
            assert!(
                !stored.iter().any(|(f, _)| f.contains("bookmarks%3a1")),
                "no XEP-0402 node where the server does not bridge it"
            );
        }

        phone.add_account(&server, "alice", "alice-pw").ok();
        let info = room_json(&phone.run(&["muc", "members", &room, "--json"]).ok());
        assert_eq!(info["joined"], true, "bridge {bridge}: {info}");
        assert_eq!(info["nick"], "mum", "bridge {bridge}: {info}");
        assert_eq!(info["name"], "Family", "bridge {bridge}: {info}");

        phone.run(&["muc", "leave", &room]).ok();
        tablet.add_account(&server, "alice", "alice-pw").ok();
        let gone = tablet.run(&["muc", "members", &room, "--json"]);
        assert_ne!(
            gone.code, 0,
            "bridge {bridge}: the bookmark went with the leave: {}",
            gone.stdout
        );
        // The laptop, which had joined it itself, follows the leave too.
        let laptop_now = laptop.run(&["muc", "members", &room, "--json"]);
        assert_ne!(
            laptop_now.code, 0,
            "bridge {bridge}: left on the phone, not rejoined on the laptop: {}",
            laptop_now.stdout
        );
        // And joining again brings the bookmark back for every device.
        laptop.run(&["muc", "join", &room]).ok();
        let back = room_json(&tablet.run(&["muc", "members", &room, "--json"]).ok());
        assert_eq!(back["joined"], true, "bridge {bridge}: {back}");
    }
}
