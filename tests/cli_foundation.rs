//! The foundation, end to end through `sotto-cli` against a real Prosody:
//! accounts, TLS with a pinned CA, the roster, subscriptions, secrets.
//! Needs the Secret Service: run under `scripts/with-keyring.sh`.

mod support;

use std::path::Path;

use support::{Prosody, cli::Cli};

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn roster_shows_a_contact_after_a_two_way_subscription() {
    let server = Prosody::start();
    server.create_user("alice", "alice-pw-1");
    server.create_user("bob", "bob-pw-1");
    let alice = Cli::new();
    let bob = Cli::new();
    alice.add_account(&server, "alice", "alice-pw-1").ok();
    bob.add_account(&server, "bob", "bob-pw-1").ok();

    // Alice asks, Bob accepts (and asks back), Alice's side approves Bob's
    // request on its own because she asked first.
    alice
        .run(&["contact", "add", &server.jid("bob"), "--name", "Bob"])
        .ok();
    let pending = bob.run(&["roster", "--json"]).ok().json_lines();
    let req = pending
        .iter()
        .find(|c| c["jid"] == server.jid("alice"))
        .expect("Bob sees Alice's request");
    assert_eq!(req["pending_in"], true, "{pending:?}");
    bob.run(&["contact", "accept", &server.jid("alice")]).ok();
    alice.run(&["listen", "--timeout", "2"]).ok();

    let roster = alice.run(&["roster", "--json"]).ok().json_lines();
    assert_eq!(roster.len(), 1, "{roster:?}");
    assert_eq!(roster[0]["jid"], server.jid("bob"));
    assert_eq!(roster[0]["name"], "Bob");
    assert_eq!(roster[0]["subscription"], "both", "{roster:?}");
    let roster = bob.run(&["roster", "--json"]).ok().json_lines();
    assert_eq!(roster[0]["jid"], server.jid("alice"));
    assert_eq!(roster[0]["subscription"], "both", "{roster:?}");

    // Offline, the last known roster is still there.
    let offline = alice
        .run(&["roster", "--json", "--offline"])
        .ok()
        .json_lines();
    assert_eq!(offline, alice.run(&["roster", "--json"]).ok().json_lines());

    // Removing is a roster change on the server too.
    alice.run(&["contact", "remove", &server.jid("bob")]).ok();
    assert!(
        alice
            .run(&["roster", "--json"])
            .ok()
            .json_lines()
            .is_empty()
    );
}

#[test]
fn a_declined_request_leaves_no_contact() {
    let server = Prosody::start();
    server.create_user("carol", "pw-carol");
    server.create_user("dave", "pw-dave");
    let carol = Cli::new();
    let dave = Cli::new();
    carol.add_account(&server, "carol", "pw-carol").ok();
    dave.add_account(&server, "dave", "pw-dave").ok();
    carol.run(&["contact", "add", &server.jid("dave")]).ok();
    dave.run(&["contact", "decline", &server.jid("carol")]).ok();
    assert!(dave.run(&["roster", "--json"]).ok().json_lines().is_empty());
    carol.run(&["listen", "--timeout", "1"]).ok();
    let roster = carol.run(&["roster", "--json"]).ok().json_lines();
    assert_eq!(roster[0]["subscription"], "none", "{roster:?}");
}

#[test]
fn a_wrong_password_is_refused_with_a_clear_message() {
    let server = Prosody::start();
    server.create_user("erin", "right-password");
    let cli = Cli::new();
    let run = cli.add_account(&server, "erin", "wrong-password");
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("refused the password"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.trim().lines().count(),
        1,
        "one line: {}",
        run.stderr
    );
    let status = cli.run(&["status"]);
    assert_ne!(status.code, 0, "no account was stored");
}

#[test]
fn a_password_changed_elsewhere_stops_the_retries_cleanly() {
    let server = Prosody::start();
    server.create_user("gina", "old-password");
    let cli = Cli::new();
    cli.add_account(&server, "gina", "old-password").ok();
    server.create_user("gina", "new-password");
    let run = cli.run(&["listen", "--timeout", "10"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("refused the password"),
        "{}",
        run.stderr
    );
    // The stream is abandoned without tripping tokio-xmpp's worker.
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
}

#[test]
fn a_server_that_is_down_gives_a_clear_message() {
    let mut server = Prosody::start();
    server.create_user("frank", "pw");
    let cli = Cli::new();
    cli.add_account(&server, "frank", "pw").ok();
    server.stop();
    let run = cli.run(&["roster"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("Could not reach the server"),
        "{}",
        run.stderr
    );

    let fresh = Cli::new();
    let run = fresh.add_account(&server, "frank", "pw");
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("Could not reach the server"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let server = Prosody::start();
    server.create_user("grace", "pw");
    let cli = Cli::new();
    let other_ca = server.other_ca_file().display().to_string();
    let run = cli.run_with_stdin(
        &[
            "account",
            "add",
            &server.jid("grace"),
            "--password-stdin",
            "--server",
            &server.address(),
            "--ca-file",
            &other_ca,
        ],
        "pw\n",
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("certificate is not trusted"),
        "{}",
        run.stderr
    );
}

#[test]
fn direct_tls_works_when_the_server_offers_it() {
    let server = Prosody::start();
    server.create_user("heidi", "pw");
    let cli = Cli::new();
    let ca = server.ca_file().display().to_string();
    let addr = format!("tls://{}", server.direct_tls_address());
    cli.run_with_stdin(
        &[
            "account",
            "add",
            &server.jid("heidi"),
            "--password-stdin",
            "--server",
            &addr,
            "--ca-file",
            &ca,
        ],
        "pw\n",
    )
    .ok();
    let status = cli.run(&["status", "--json"]).ok().json_lines();
    assert_eq!(status[0]["state"], "online");
}

#[test]
fn the_password_lives_in_the_keyring_and_in_no_file() {
    let server = Prosody::start();
    let password = "correct-horse-battery-staple-7731";
    server.create_user("ivan", password);
    let cli = Cli::new();
    cli.add_account(&server, "ivan", password).ok();
    // It round-trips: a later process logs in with it from the keyring.
    let status = cli.run(&["status", "--json"]).ok().json_lines();
    assert_eq!(status[0]["state"], "online", "{status:?}");
    assert!(files_containing(&cli.data_dir, password.as_bytes()).is_empty());
    // The archive is encrypted: not even the JID is readable.
    assert!(
        files_containing(&cli.data_dir, b"ivan@").is_empty(),
        "plaintext in {:?}",
        files_containing(&cli.data_dir, b"ivan@")
    );
}

#[test]
fn a_profile_in_use_is_refused() {
    let server = Prosody::start();
    server.create_user("judy", "pw");
    let cli = Cli::new();
    cli.add_account(&server, "judy", "pw").ok();
    let mut listener = cli
        .command()
        .args(["listen", "--timeout", "20"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn listen");
    // Wait until the listener is online, so it surely holds the profile.
    let mut stderr = std::io::BufReader::new(listener.stderr.take().expect("stderr"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).expect("listener output");
    assert!(line.contains("Listening"), "listener failed: {line}");
    let refused = cli.run(&["roster", "--offline"]);
    let _ = listener.kill();
    let _ = listener.wait();
    assert_ne!(refused.code, 0, "a second process used the profile");
    let run = refused;
    assert!(
        run.stderr.contains("already running with this profile"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_connection_comes_back_after_the_server_restarts() {
    use std::io::BufRead;
    let mut server = Prosody::start();
    server.create_user("kim", "pw");
    let cli = Cli::new();
    cli.add_account(&server, "kim", "pw").ok();
    let mut listener = cli
        .command()
        .args(["listen", "--json", "--timeout", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn listen");
    let mut stderr = std::io::BufReader::new(listener.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("Listening") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("listener output") > 0,
            "listener ended"
        );
    }
    let log = std::thread::spawn(move || {
        stderr
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
            .join("\n")
    });

    server.restart();

    let stdout = std::io::BufReader::new(listener.stdout.take().expect("stdout"));
    let mut saw_reconnecting = false;
    let mut back_online = false;
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        seen.push(line.clone());
        let ev: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
        if ev["event"] != "connection" {
            continue;
        }
        match ev["state"]["state"].as_str() {
            Some("reconnecting") | Some("connecting") => saw_reconnecting = true,
            Some("online") if saw_reconnecting => {
                back_online = true;
                break;
            }
            Some("offline") => panic!("gave up instead of reconnecting: {line}"),
            _ => {}
        }
    }
    let _ = listener.kill();
    let _ = listener.wait();
    let log = log.join().unwrap_or_default();
    assert!(
        saw_reconnecting && back_online,
        "reconnecting={saw_reconnecting} online={back_online}: {seen:#?}\n{log}"
    );
}
