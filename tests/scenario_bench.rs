//! Scenario benchmarks for issue 4 (figures, not pass/fail): run with
//! `scripts/bench-scenarios.sh`; results go into benches/README.md,
//! "Scenario benchmarks (issue 4)".
//!
//! (a) MAM catch-up: the python-omemo bot sends N (default 10,000,
//!     `SOTTO_BENCH_MESSAGES`) OMEMO:2 messages to Alice while all her
//!     clients are offline; then `sotto-cli listen` is timed until the
//!     `catch_up … finished` event and the stored messages are counted; then
//!     a python-omemo client that is a second device of Alice (so it holds a
//!     key in the very same stanzas) pages through the same archive and
//!     decrypts it. Also: the same paging without decrypting (the server's
//!     share).
//! (b) One message to a contact with 10 devices while 300 other sessions
//!     exist: see `send_to_ten_devices_with_300_sessions`.
//!
//! Both are `#[ignore]`: they take minutes. Needs the venv from
//! `scripts/python-venv.sh`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Prosody;
use support::cli::Cli;
use support::peer::{Ns, PeerOptions, PythonPeer};
use support::service::{keyed_devices, online, send};

fn message_count() -> usize {
    std::env::var("SOTTO_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn two() -> PeerOptions {
    PeerOptions {
        namespaces: vec![Ns::Two],
        ..PeerOptions::default()
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Connect the profile in-process (the service `sotto-cli` drives) and time
/// from `Online` to the `CatchUp { finished: true }` event.
fn timed_catch_up(cli: &Cli) -> (Duration, Duration, u64) {
    use sotto::service::{self, ConnectionState, Event, ServiceOptions};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let (handle, mut events) = service::start(ServiceOptions {
            data_dir: cli.data_dir().to_path_buf(),
            connect: true,
        })
        .await
        .expect("service");
        let mut online_at = None;
        let result = tokio::time::timeout(Duration::from_secs(3600), async {
            while let Some(ev) = events.next().await {
                match ev {
                    Event::Connection {
                        state: ConnectionState::Online,
                        ..
                    } if online_at.is_none() => online_at = Some(started.elapsed()),
                    Event::CatchUp {
                        finished: true,
                        done,
                        ..
                    } => return Some((started.elapsed(), done)),
                    _ => {}
                }
            }
            None
        })
        .await;
        let (finished_at, done) = result.ok().flatten().expect("no finished catch-up event");
        // Let the offline copies (duplicates) drain before closing.
        let _ = handle
            .request(|reply| sotto::service::Command::Sync { reply })
            .await;
        handle.shutdown().await;
        (online_at.unwrap_or_default(), finished_at, done)
    })
}

/// Every stored message of a conversation: the history in pages of 1,000
/// (the most one request returns), from the service in-process.
fn all_history(cli: &Cli, account: &str, jid: &str) -> Vec<sotto::service::ChatMessage> {
    use sotto::service::{self, Command, ServiceOptions};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (handle, _events) = service::start(ServiceOptions {
            data_dir: cli.data_dir().to_path_buf(),
            connect: false,
        })
        .await
        .expect("service");
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = handle
                .request(|reply| Command::History {
                    account: account.to_owned(),
                    jid: jid.to_owned(),
                    before,
                    limit: 1000,
                    reply,
                })
                .await
                .expect("history");
            let Some(oldest) = page.first() else { break };
            before = Some((oldest.timestamp, oldest.id));
            let done = page.len() < 1000;
            all.extend(page);
            if done {
                break;
            }
        }
        handle.shutdown().await;
        all
    })
}

#[test]
#[ignore = "benchmark: scripts/bench-scenarios.sh"]
fn mam_catch_up_of_10000_messages() {
    let n = message_count();
    let server = Prosody::start();
    server.create_user("alice", "alice-pw");
    server.create_user("pat", "pat-pw");
    server.make_friends("alice", "Alice", "pat", "Pat");
    // Two Sotto devices of Alice, each connected once: from now on Alice's
    // archive is caught up from here.
    let alice = Cli::new();
    let alice_cli = Cli::new();
    for a in [&alice, &alice_cli] {
        a.add_account(&server, "alice", "alice-pw").ok();
        a.run(&["listen", "--timeout", "1"]).ok();
    }
    // A python-omemo client of Alice's: it publishes its device, then goes
    // offline, so Pat encrypts every message for it as well.
    let tmp = tempfile::tempdir().expect("tmp");
    let mut twin = PythonPeer::start(
        &server,
        "alice",
        "alice-pw",
        PeerOptions {
            storage: Some(tmp.path().join("twin.json")),
            resource: Some("twin".into()),
            ..two()
        },
    );
    twin.stop();

    let alice_jid = server.jid("alice");
    let pat_jid = server.jid("pat");
    let mut pat = PythonPeer::start(&server, "pat", "pat-pw", two());
    let sent = pat
        .send_many(
            &alice_jid,
            "backlog ",
            n,
            Ns::Two,
            Duration::from_secs(3600),
        )
        .expect("send_many");
    eprintln!(
        "python-omemo sent {} messages in {:.1} s ({:.1} s encrypting and queueing): {:.0} msg/s; load {}",
        sent.count,
        secs(sent.elapsed),
        secs(sent.encrypt),
        sent.count as f64 / secs(sent.elapsed),
        load()
    );
    pat.stop();

    // Sotto, first device: the service in-process, timed by its events.
    let load_before = load();
    let (online_at, finished_at, done) = timed_catch_up(&alice);
    let history = all_history(&alice, &alice_jid, &pat_jid);
    let decrypted = history
        .iter()
        .filter(|m| m.error.is_none() && m.body.is_some())
        .count();
    let errors: Vec<_> = history.iter().filter(|m| m.error.is_some()).collect();
    let catch_up = finished_at - online_at;
    eprintln!(
        "Sotto: online after {:.2} s, catch-up finished after {:.2} s ({done} archived messages handled); \
         {} rows stored, {decrypted} decrypted, {} with errors; load before {load_before}",
        secs(online_at),
        secs(finished_at),
        history.len(),
        errors.len(),
    );
    if let Some(e) = errors.first() {
        eprintln!("first error: {e:?}");
    }

    // Sotto, second device: `sotto-cli listen` on the same backlog.
    let started = Instant::now();
    let mut child = alice_cli
        .command()
        .args(["listen", "--json", "--timeout", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("listen");
    let stdout = child.stdout.take().expect("stdout");
    let mut cli_finished = None;
    let mut cli_progress = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(ev) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if ev["event"] == "catch_up" {
            cli_progress = ev["done"].as_u64().unwrap_or_default();
            if ev["finished"] == true && cli_finished.is_none() {
                cli_finished = Some(started.elapsed());
            }
        }
    }
    let out = child.wait_with_output().expect("listen");
    let cli_stored = all_history(&alice_cli, &alice_jid, &pat_jid).len();
    eprintln!(
        "sotto-cli listen: exit {:?} after {:.1} s, catch-up finished: {:?}, last progress {cli_progress}, \
         {cli_stored} stored; stderr: {}",
        out.status.code(),
        secs(started.elapsed()),
        cli_finished.map(secs),
        String::from_utf8_lossy(&out.stderr).trim()
    );

    // python-omemo, second device of Alice: the same archive.
    twin.restart();
    let load_before = load();
    let py = twin
        .catch_up(true, Duration::from_secs(3600))
        .expect("catch_up");
    eprintln!(
        "python-omemo: {} archived messages, {} decrypted, {} empty, {} errors {:?}, {} pages, \
         {:.2} s ({:.2} s waiting for pages); load before {load_before}",
        py.messages,
        py.decrypted,
        py.empty,
        py.errors,
        py.first_errors,
        py.pages,
        secs(py.elapsed),
        secs(py.fetch)
    );
    let floor = twin
        .catch_up(false, Duration::from_secs(3600))
        .expect("catch_up without decrypting");
    eprintln!(
        "server only (paging, no decryption): {} messages, {} pages, {:.2} s",
        floor.messages,
        floor.pages,
        secs(floor.elapsed)
    );

    let sotto_rate = decrypted as f64 / secs(catch_up);
    let sotto_rate_all = decrypted as f64 / secs(finished_at);
    let py_rate = py.decrypted as f64 / secs(py.elapsed);
    println!("| measure | Sotto | python-omemo |");
    println!("| --- | ---: | ---: |");
    println!(
        "| messages decrypted and stored / in the archive | {decrypted} / {n} | {} / {} |",
        py.decrypted, py.messages
    );
    println!(
        "| catch-up (Sotto: online → finished; python: first query → last message) | {:.1} s | {:.1} s |",
        secs(catch_up),
        secs(py.elapsed)
    );
    println!(
        "| Sotto from service start (login, OMEMO set-up included) | {:.1} s | |",
        secs(finished_at)
    );
    println!(
        "| messages/second | {sotto_rate:.0} ({sotto_rate_all:.0} from process start) | {py_rate:.0} |"
    );
    println!(
        "| ratio Sotto / python-omemo | {:.2}x | |",
        sotto_rate / py_rate
    );
    println!(
        "| server alone: paging the archive without decrypting | {:.1} s ({:.0} msg/s) | |",
        secs(floor.elapsed),
        floor.messages as f64 / secs(floor.elapsed)
    );
    println!(
        "| `sotto-cli listen` on a second Sotto device | {} | |",
        match cli_finished {
            Some(t) if out.status.success() => format!("finished after {:.1} s", secs(t)),
            _ => format!(
                "exit {:?} after {:.0} s, {cli_stored} of {n} stored",
                out.status.code(),
                secs(started.elapsed())
            ),
        }
    );
    println!(
        "| python-omemo sending the backlog (encrypt + send, until the server had all) | | {:.1} s ({:.0} msg/s) |",
        secs(sent.elapsed),
        sent.count as f64 / secs(sent.elapsed)
    );
    assert_eq!(decrypted, n, "Sotto did not store every message");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Publish `peer`'s own :2 bundle again under `extra` more device ids and a
/// device list naming all of them: a contact with `1 + extra` devices
/// from one python process (the copies share the identity key and pre-keys;
/// for the sender each is one more session and one more key to encrypt).
fn clone_devices(peer: &mut PythonPeer, extra: u32) -> Vec<u32> {
    let (node, _, bundle) = peer.own_bundle(Ns::Two);
    let mut ids = vec![peer.device_id()];
    for k in 1..=extra {
        let id = 1_000_000 + peer.device_id() % 1_000_000 * 10 + k;
        peer.publish_raw(&node, &id.to_string(), &bundle)
            .expect("publish a bundle copy");
        ids.push(id);
    }
    let list: String = ids
        .iter()
        .map(|id| format!("<device id='{id}'/>"))
        .collect();
    peer.publish_raw(
        "urn:xmpp:omemo:2:devices",
        "current",
        &format!("<devices xmlns='urn:xmpp:omemo:2'>{list}</devices>"),
    )
    .expect("publish the device list");
    ids
}

/// Sending one message to a contact with 10 devices (10 real python-omemo
/// clients) while 300 other sessions exist (30 contacts × 10 devices, each
/// contact one python-omemo client whose bundle is published under 9 more
/// device ids). Measured in-process (the service's SendMessage request,
/// from the command to the reply: device lists, sessions from the store,
/// trust, encryption, the stanza queued on the stream, sessions saved) and
/// from outside (`sotto-cli send` wall time against `sotto-cli status`).
#[test]
#[ignore = "benchmark: scripts/bench-scenarios.sh"]
fn send_to_ten_devices_with_300_sessions() {
    const CONTACTS: usize = 30;
    const ROUNDS: usize = 21;
    let server = Prosody::start();
    server.create_user("alice", "alice-pw");
    server.create_user("pat", "pat-pw");
    server.make_friends("alice", "Alice", "pat", "Pat");
    let others: Vec<String> = (0..CONTACTS).map(|i| format!("c{i:02}")).collect();
    for o in &others {
        server.create_user(o, "pw");
        server.make_friends("alice", "Alice", o, o);
    }
    let alice = Cli::new();
    alice.add_account(&server, "alice", "alice-pw").ok();
    alice.run(&["listen", "--timeout", "1"]).ok();

    let t = Instant::now();
    let mut pats: Vec<PythonPeer> = (0..10)
        .map(|i| {
            PythonPeer::start(
                &server,
                "pat",
                "pat-pw",
                PeerOptions {
                    resource: Some(format!("d{i}")),
                    ..two()
                },
            )
        })
        .collect();
    let pat_ids: Vec<u32> = pats.iter().map(|p| p.device_id()).collect();
    // Offline while measuring: their decrypting must not compete for the CPUs.
    for p in &mut pats {
        p.stop();
    }
    eprintln!(
        "10 devices of pat online and published in {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    for o in &others {
        let mut peer = PythonPeer::start(&server, o, "pw", two());
        clone_devices(&mut peer, 9);
        peer.stop();
    }
    eprintln!(
        "{CONTACTS} contacts × 10 devices published in {:?}",
        t.elapsed()
    );

    let alice_jid = server.jid("alice");
    let pat = server.jid("pat");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (few, many) = runtime.block_on(async {
        let (handle, _events) = online(&alice).await;
        let send = |to: String, body: String| {
            let handle = handle.clone();
            let account = alice_jid.clone();
            async move { send(&handle, &account, &to, &body).await }
        };
        let got_key = |m: &sotto::service::ChatMessage| keyed_devices(m.encryption_info.as_ref());
        // First message: builds the 10 sessions.
        let (first, m) = send(pat.clone(), "first".into()).await;
        assert_eq!(got_key(&m), 10, "{:?}", m.encryption_info);
        eprintln!("first message to pat (10 sessions built): {first:?}");
        let mut few = Vec::new();
        for i in 0..ROUNDS {
            few.push(send(pat.clone(), format!("few {i}")).await.0);
        }
        let t = Instant::now();
        for o in &others {
            let (_, m) = send(server.jid(o), "hello".into()).await;
            assert_eq!(got_key(&m), 10, "{o}: {:?}", m.encryption_info);
        }
        eprintln!("300 more sessions built in {:?}", t.elapsed());
        let mut many = Vec::new();
        for i in 0..ROUNDS {
            many.push(send(pat.clone(), format!("many {i}")).await.0);
        }
        handle.shutdown().await;
        (few, many)
    });

    // From outside: a whole `sotto-cli send` against `sotto-cli status`
    // (the same login, OMEMO set-up and catch-up, no message).
    let time = |args: &[&str]| {
        let t = Instant::now();
        alice.run(args).ok();
        t.elapsed()
    };
    let status: Vec<_> = (0..5).map(|_| time(&["status"])).collect();
    let cli_send: Vec<_> = (0..5)
        .map(|i| time(&["send", &pat, &format!("cli {i}")]))
        .collect();

    // The real devices got the last message.
    pats[0].restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < deadline {
        match pats[0].try_expect_message(Duration::from_secs(3)) {
            Some(m) if m.body.as_deref() == Some("cli 4") => {
                last = Some(m);
                break;
            }
            Some(_) => {}
            None => break,
        }
    }
    assert!(
        last.is_some(),
        "pat's first device did not get the last message"
    );

    println!("machine load: {}", load());
    println!("pat's devices: {pat_ids:?}");
    println!("| measure (median of {ROUNDS} / 5) | value |");
    println!("| --- | ---: |");
    println!(
        "| SendMessage request, 10 devices, 10 sessions in the store | {:.2} ms |",
        median(few.clone()).as_secs_f64() * 1e3
    );
    println!(
        "| SendMessage request, 10 devices, 310 sessions in the store | {:.2} ms |",
        median(many.clone()).as_secs_f64() * 1e3
    );
    println!(
        "| min / max with 310 sessions | {:.2} / {:.2} ms |",
        many.iter().min().unwrap().as_secs_f64() * 1e3,
        many.iter().max().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "| `sotto-cli send` wall time (process, login, catch-up, send) | {:.0} ms |",
        median(cli_send).as_secs_f64() * 1e3
    );
    println!(
        "| `sotto-cli status` wall time (the same without the message) | {:.0} ms |",
        median(status).as_secs_f64() * 1e3
    );
}

/// Issue 6: one message into a members-only room of 50 members with 3
/// devices each (150 sessions, built by a first message), plus the python
/// peer's one device: Sotto's SendMessage request (the command to the
/// stanza queued on the stream: stored first, participants, sessions from
/// the store, trust, encryption, sessions saved) against python-omemo's
/// encrypt-to-send of the same message into the same room (`muc_bench_send`,
/// sessions built by a warm-up message), and the stanza sizes as received.
#[test]
#[ignore = "benchmark: scripts/bench-scenarios.sh"]
fn muc_send_to_fifty_members_with_three_devices() {
    const MEMBERS: usize = 50;
    const ROUNDS: usize = 21;
    let server = Prosody::start();
    server.create_user("alice", "alice-pw");
    server.create_user("pyro", "pyro-pw");
    let members: Vec<String> = (0..MEMBERS).map(|i| format!("m{i:02}")).collect();
    let t = Instant::now();
    for m in &members {
        server.create_user(m, "pw");
        let mut peer = PythonPeer::start(&server, m, "pw", two());
        clone_devices(&mut peer, 2);
        peer.stop();
    }
    eprintln!(
        "{MEMBERS} members × 3 devices published in {:?}",
        t.elapsed()
    );
    let room = format!("big@{}", server.muc_domain());
    let alice = Cli::new();
    alice.add_account(&server, "alice", "alice-pw").ok();
    let mut args: Vec<String> = vec![
        "muc".into(),
        "create".into(),
        room.clone(),
        "--members".into(),
    ];
    args.extend(members.iter().map(|m| server.jid(m)));
    args.push(server.jid("pyro"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    alice.run(&args).ok();
    let mut pyro = PythonPeer::start(&server, "pyro", "pyro-pw", two());
    pyro.muc_join(&room, "pyro").expect("pyro joins");

    let alice_jid = server.jid("alice");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (first, rounds, keyed) = runtime.block_on(async {
        let (handle, _events) = online(&alice).await;
        let (first, m) = send(&handle, &alice_jid, &room, "first").await;
        let keyed = keyed_devices(m.encryption_info.as_ref());
        let mut rounds = Vec::new();
        for i in 0..ROUNDS {
            rounds.push(
                send(&handle, &alice_jid, &room, &format!("round {i}"))
                    .await
                    .0,
            );
        }
        handle.shutdown().await;
        (first, rounds, keyed)
    });
    assert_eq!(keyed, MEMBERS * 3 + 1, "every member device and pyro's");
    eprintln!("Sotto sent {} messages; pyro receiving", ROUNDS + 1);
    // The sizes as the room delivered Sotto's stanzas to pyro.
    let mut sotto_bytes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while sotto_bytes.len() < ROUNDS + 1 && Instant::now() < deadline {
        match pyro.try_expect_event("message", Duration::from_secs(10)) {
            Some(ev) if ev["room"] == room.as_str() => {
                assert!(ev["error"].is_null(), "{ev}");
                sotto_bytes.push(ev["bytes"].as_u64().unwrap_or_default());
            }
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(sotto_bytes.len(), ROUNDS + 1, "pyro decrypted all");
    eprintln!("pyro decrypted them; python sending");
    let python = pyro
        .muc_bench_send(&room, Ns::Two, ROUNDS, 1, Duration::from_secs(900))
        .expect("python bench");
    let sotto = median(rounds.clone());
    let sotto_size = sotto_bytes.iter().sum::<u64>() as f64 / sotto_bytes.len() as f64;
    println!("machine load: {}", load());
    println!("| measure (median of {ROUNDS}) | Sotto | python-omemo | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| one message, {} devices, sessions established | {:.2} ms | {:.2} ms | {:.1}× |",
        keyed,
        sotto.as_secs_f64() * 1e3,
        python.encrypt.as_secs_f64() * 1e3,
        python.encrypt.as_secs_f64() / sotto.as_secs_f64()
    );
    println!(
        "| first message (builds {} sessions) | {:.0} ms | | |",
        keyed,
        first.as_secs_f64() * 1e3
    );
    println!(
        "| stanza size as received | {:.0} B | {} B | {:.2} |",
        sotto_size,
        python.bytes,
        sotto_size / python.bytes.max(1) as f64
    );
    println!(
        "| python recipients / participants | | {} / {} | |",
        python.recipients, python.participants
    );
}
