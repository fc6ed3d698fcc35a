//! A network loss mid-conversation: a proxy between Sotto and Prosody is cut
//! and restored. Nothing is lost, nothing duplicated, and the stream is
//! resumed (XEP-0198) rather than started afresh.

mod support;

use std::time::Duration;

use support::Prosody;
use support::cli::{Cli, Run};
use support::peer::{Ns, PeerOptions, PythonPeer};
use support::proxy::Proxy;

#[test]
fn a_cut_connection_loses_and_duplicates_nothing_and_resumes() {
    let server = Prosody::start();
    server.create_user("alice", "alice-pw");
    server.create_user("pat", "pat-pw");
    server.make_friends("alice", "Alice", "pat", "Pat");
    let proxy = Proxy::start(&server.address());
    let alice = Cli::new();
    let ca = server.ca_file().display().to_string();
    alice
        .run_with_stdin(
            &[
                "account",
                "add",
                &server.jid("alice"),
                "--password-stdin",
                "--server",
                &proxy.address(),
                "--ca-file",
                &ca,
            ],
            "alice-pw\n",
        )
        .ok();
    alice.run(&["listen", "--timeout", "1"]).ok();
    let mut pat = PythonPeer::start(&server, "pat", "pat-pw", PeerOptions::default());
    let alice_jid = server.jid("alice");

    let listener = alice
        .command()
        .args(["listen", "--json", "--timeout", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("listener");
    // Past the reconnector's "died right after connecting" window.
    std::thread::sleep(Duration::from_secs(7));
    for i in 1..=2 {
        pat.send(&alice_jid, &format!("before the cut {i}"), Ns::Two)
            .expect("send");
    }
    std::thread::sleep(Duration::from_secs(1));
    proxy.cut();
    for i in 1..=3 {
        pat.send(&alice_jid, &format!("during the cut {i}"), Ns::Two)
            .expect("send");
    }
    std::thread::sleep(Duration::from_secs(3));
    proxy.restore();
    std::thread::sleep(Duration::from_secs(6));
    for i in 1..=2 {
        pat.send(&alice_jid, &format!("after the cut {i}"), Ns::Two)
            .expect("send");
    }

    let run = Run::from_output(listener.wait_with_output().expect("listener"));
    let lines = run.json_lines();
    let bodies: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "message")
        .filter_map(|l| l["body"].as_str())
        .collect();
    let mut expected: Vec<String> = Vec::new();
    for (label, n) in [
        ("before the cut", 2),
        ("during the cut", 3),
        ("after the cut", 2),
    ] {
        for i in 1..=n {
            expected.push(format!("{label} {i}"));
        }
    }
    for e in &expected {
        let count = bodies.iter().filter(|b| *b == e).count();
        assert_eq!(
            count, 1,
            "{e:?} seen {count} times\n{}\n{}",
            run.stdout, run.stderr
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "connection" && l["state"]["state"] == "reconnecting"),
        "the cut was noticed\n{}",
        run.stdout
    );
    // One roster fetch (the first connect): the stream was resumed, not reset.
    let rosters = lines.iter().filter(|l| l["event"] == "roster").count();
    assert_eq!(rosters, 1, "the stream was started afresh\n{}", run.stdout);
    let history = alice
        .run(&["history", &server.jid("pat"), "--json"])
        .ok()
        .json_lines();
    assert_eq!(history.len(), expected.len(), "{history:?}");
}
