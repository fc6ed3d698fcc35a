//! Trust by QR code end to end (issue 7): Sotto devices on a real Prosody
//! show their codes with `sotto-cli qr show --png` and scan each other's
//! with `sotto-cli qr scan`.
//!
//! Run with `scripts/with-keyring.sh cargo test --no-default-features --test qr`.

mod support;

use std::path::{Path, PathBuf};

use sotto::qr::{QrMatrix, TrustUri};
use support::Prosody;
use support::cli::{Cli, Run};

/// This device's id and fingerprint (hex) from `status`.
fn this_device(cli: &Cli) -> (u32, String) {
    let status = cli.run(&["status", "--json"]).ok().json_lines();
    let id = status[0]["device_id"].as_u64().expect("device id") as u32;
    let fp = status[0]["fingerprint"].as_str().expect("fingerprint");
    (id, fp.to_owned())
}

/// `who`'s devices as `viewer` sees them: device id → trust.
fn trust_of(viewer: &Cli, who: &str) -> Vec<(u32, String)> {
    viewer
        .run(&["devices", who, "--json"])
        .ok()
        .json_lines()
        .iter()
        .map(|d| {
            (
                d["device_id"].as_u64().unwrap_or(0) as u32,
                d["trust"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn trust(viewer: &Cli, who: &str, device: u32) -> String {
    trust_of(viewer, who)
        .into_iter()
        .find(|(id, _)| *id == device)
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("device {device} of {who} is not listed"))
}

/// A QR code PNG of `text`, as a phone would show it.
fn code_png(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let matrix = QrMatrix::encode(text).expect("encode");
    matrix.write_png(&path, 6).expect("write png");
    path
}

fn key(hex_str: &str) -> [u8; 32] {
    let mut k = [0; 32];
    hex::decode_to_slice(hex_str, &mut k).expect("64 hex digits");
    k
}

fn scan(cli: &Cli, png: &Path) -> Run {
    cli.run(&["qr", "scan", &png.display().to_string()])
}

/// The last message to `peer` and which devices it left out, and why.
fn left_out(cli: &Cli, peer: &str) -> Vec<(u32, Option<String>)> {
    let run = cli.run(&["history", peer, "--json", "--limit", "1"]).ok();
    let lines = run.json_lines();
    let info = lines
        .last()
        .and_then(|m| m["encryption_info"].as_array().cloned())
        .unwrap_or_else(|| panic!("no encryption info: {}", run.stdout));
    info.iter()
        .filter(|r| r["jid"] == peer)
        .map(|r| {
            (
                r["device_id"].as_u64().unwrap_or(0) as u32,
                r["left_out"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn bob_scans_alices_code_and_exactly_her_listed_devices_become_verified() {
    let server = Prosody::start();
    server.create_user("alice", "alice-pw");
    server.create_user("bob", "bob-pw");
    server.make_friends("alice", "Alice", "bob", "Bob");
    let alice_jid = server.jid("alice");
    let phone = Cli::new();
    let laptop = Cli::new();
    let bob = Cli::new();
    phone.add_account(&server, "alice", "alice-pw").ok();
    laptop.add_account(&server, "alice", "alice-pw").ok();
    bob.add_account(&server, "bob", "bob-pw").ok();
    let (phone_id, phone_fp) = this_device(&phone);
    let (laptop_id, _) = this_device(&laptop);
    bob.run(&["listen", "--timeout", "1"]).ok();

    // Bob writes first: under BTBV both of Alice's devices are trusted blindly.
    bob.run(&["send", &alice_jid, "hi"]).ok();
    assert_eq!(trust(&bob, &alice_jid, phone_id), "blind");
    assert_eq!(trust(&bob, &alice_jid, laptop_id), "blind");

    // Alice's phone shows its code: only itself, it verified nothing yet.
    let dir = tempfile::tempdir().expect("temp dir");
    let png = dir.path().join("alice-phone.png");
    let shown = phone
        .run(&["qr", "show", "--png", &png.display().to_string(), "--json"])
        .ok()
        .json_lines();
    let uri = shown[0]["uri"].as_str().expect("uri").to_owned();
    assert_eq!(
        uri,
        format!("xmpp:{alice_jid}?omemo-sid-{phone_id}={phone_fp}"),
        "the Conversations form: {shown:?}"
    );
    let devices = shown[0]["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 1, "{shown:?}");
    assert_eq!(devices[0]["this_device"], true);
    assert_eq!(
        devices[0]["fingerprint"]
            .as_str()
            .map(|f| f.replace(' ', "")),
        Some(phone_fp.clone()),
        "grouped for reading aloud: {shown:?}"
    );
    assert!(
        devices[0]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.split(' ').all(|g| g.len() == 8)),
        "{shown:?}"
    );
    // The PNG carries exactly the URI.
    assert_eq!(sotto::qr::decode_file(&png).expect("decodes"), uri);
    // Plain output: the URI alone on the first line.
    let plain = phone.run(&["qr", "show"]).ok();
    assert_eq!(plain.stdout.lines().next(), Some(uri.as_str()));

    // A dry run saves nothing.
    let dry = bob
        .run(&[
            "qr",
            "scan",
            &png.display().to_string(),
            "--dry-run",
            "--json",
        ])
        .ok()
        .json_lines();
    assert_eq!(dry[0]["verified"], 1, "{dry:?}");
    assert_eq!(dry[0]["applied"], false, "{dry:?}");
    assert_eq!(dry[0]["is_contact"], true, "{dry:?}");
    assert_eq!(trust(&bob, &alice_jid, phone_id), "blind");

    // Bob scans it: the phone is verified, the laptop keeps its state.
    let run = scan(&bob, &png).ok();
    assert!(
        run.stdout.contains("1 verified, 0 mismatched"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(trust(&bob, &alice_jid, phone_id), "verified");
    assert_eq!(trust(&bob, &alice_jid, laptop_id), "blind");

    // Scanning again changes nothing.
    let again = scan(&bob, &png).ok();
    assert!(
        again
            .stdout
            .contains("0 verified, 0 mismatched, 1 verified before"),
        "{}",
        again.stdout
    );

    // Blind trust has ended for Alice: a new device of hers is not trusted
    // until Bob decides, while the devices he knew keep theirs.
    let tablet = Cli::new();
    tablet.add_account(&server, "alice", "alice-pw").ok();
    let (tablet_id, _) = this_device(&tablet);
    bob.run(&["send", &alice_jid, "who is there?"]).ok();
    let report = left_out(&bob, &alice_jid);
    let why = |id: u32| {
        report
            .iter()
            .find(|(d, _)| *d == id)
            .unwrap_or_else(|| panic!("device {id} not in {report:?}"))
            .1
            .clone()
    };
    assert_eq!(why(phone_id), None, "{report:?}");
    assert_eq!(why(laptop_id), None, "{report:?}");
    assert!(
        why(tablet_id).is_some_and(|r| r.contains("undecided")),
        "{report:?}"
    );

    // Alice verifies her own devices with each other: the laptop scans the
    // phone's code, then the phone the laptop's, which now lists both.
    scan(&laptop, &png).ok();
    assert_eq!(trust(&laptop, &alice_jid, phone_id), "verified");
    let laptop_png = dir.path().join("alice-laptop.png");
    laptop
        .run(&["qr", "show", "--png", &laptop_png.display().to_string()])
        .ok();
    let own = scan(&phone, &laptop_png).ok();
    assert!(
        own.stdout.contains("1 verified, 0 mismatched"),
        "{}",
        own.stdout
    );
    assert!(
        own.stdout
            .contains(&format!("device {phone_id}: this device")),
        "{}",
        own.stdout
    );
    assert!(
        !own.stdout.contains("not in your contacts"),
        "{}",
        own.stdout
    );
    assert_eq!(trust(&phone, &alice_jid, laptop_id), "verified");
    let shown = phone
        .run(&["qr", "show", "--png", &png.display().to_string(), "--json"])
        .ok()
        .json_lines();
    let ids: Vec<u64> = shown[0]["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["device_id"].as_u64())
        .collect();
    assert_eq!(
        ids,
        vec![u64::from(phone_id), u64::from(laptop_id)],
        "this device first"
    );

    // And Bob, scanning that, verifies the laptop as well.
    let run = scan(&bob, &png).ok();
    assert!(
        run.stdout
            .contains("1 verified, 0 mismatched, 1 verified before"),
        "{}",
        run.stdout
    );
    assert_eq!(trust(&bob, &alice_jid, laptop_id), "verified");
    assert_eq!(trust(&bob, &alice_jid, tablet_id), "undecided");
}

#[test]
fn wrong_and_unpublished_fingerprints_are_flagged_and_never_trusted() {
    let server = Prosody::start();
    server.create_user("carol", "carol-pw");
    server.create_user("dave", "dave-pw");
    server.create_user("erin", "erin-pw");
    server.make_friends("carol", "Carol", "dave", "Dave");
    let carol_jid = server.jid("carol");
    let phone = Cli::new();
    let laptop = Cli::new();
    let dave = Cli::new();
    let erin = Cli::new();
    phone.add_account(&server, "carol", "carol-pw").ok();
    laptop.add_account(&server, "carol", "carol-pw").ok();
    dave.add_account(&server, "dave", "dave-pw").ok();
    erin.add_account(&server, "erin", "erin-pw").ok();
    let (phone_id, phone_fp) = this_device(&phone);
    let (laptop_id, laptop_fp) = this_device(&laptop);
    dave.run(&["send", &carol_jid, "hello"]).ok();
    assert_eq!(trust(&dave, &carol_jid, laptop_id), "blind");

    let dir = tempfile::tempdir().expect("temp dir");
    let carol = xmpp_jid(&carol_jid);
    let wrong = key("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");

    // One good fingerprint, one wrong: the good device is verified, the bad
    // one flagged loudly and left exactly as it was.
    let mixed = code_png(
        dir.path(),
        "mixed.png",
        &TrustUri::for_devices(
            carol.clone(),
            [(phone_id, key(&phone_fp)), (laptop_id, wrong)],
        )
        .to_uri(),
    );
    let preview = dave
        .run(&[
            "qr",
            "scan",
            &mixed.display().to_string(),
            "--dry-run",
            "--json",
        ])
        .ok()
        .json_lines();
    let checks = preview[0]["devices"].as_array().expect("devices");
    let laptop_check = checks
        .iter()
        .find(|d| d["device_id"] == laptop_id)
        .expect("laptop in the summary");
    assert_eq!(laptop_check["outcome"], "mismatch", "{preview:?}");
    assert_eq!(
        laptop_check["published"]
            .as_str()
            .map(|p| p.replace(' ', "")),
        Some(laptop_fp.clone()),
        "the summary shows what the server has: {preview:?}"
    );
    assert_eq!(laptop_check["trust_before"], "blind", "{preview:?}");
    let run = scan(&dave, &mixed).ok();
    assert!(
        run.stdout.contains("1 verified, 1 mismatched"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains(&format!("warning: device {laptop_id}: MISMATCH")),
        "{}",
        run.stderr
    );
    assert_eq!(trust(&dave, &carol_jid, phone_id), "verified");
    assert_eq!(trust(&dave, &carol_jid, laptop_id), "blind");

    // Only a wrong fingerprint: nothing verified, and the command fails.
    let bad = code_png(
        dir.path(),
        "bad.png",
        &TrustUri::for_devices(carol.clone(), [(laptop_id, wrong)]).to_uri(),
    );
    let run = scan(&dave, &bad);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stderr.contains("nothing verified"), "{}", run.stderr);
    assert!(run.stderr.contains("MISMATCH"), "{}", run.stderr);
    assert_eq!(trust(&dave, &carol_jid, laptop_id), "blind");

    // A device the server does not publish.
    let ghost = code_png(
        dir.path(),
        "ghost.png",
        &TrustUri::for_devices(carol.clone(), [(424_242, key(&laptop_fp))]).to_uri(),
    );
    let run = scan(&dave, &ghost);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("device 424242: NOT PUBLISHED"),
        "{}",
        run.stderr
    );
    assert!(
        trust_of(&dave, &carol_jid)
            .iter()
            .all(|(id, _)| *id != 424_242),
        "an unknown device is not added"
    );

    // Someone not in the roster: the summary says so, and offers adding.
    let from_stranger = scan(&erin, &mixed).ok();
    assert!(
        from_stranger.stdout.contains("not in your contacts"),
        "{}",
        from_stranger.stdout
    );
    assert_eq!(trust(&erin, &carol_jid, phone_id), "verified");

    // No code at all, and a code that is not a trust code.
    let blank = dir.path().join("blank.png");
    image_of_nothing(&blank);
    let run = scan(&dave, &blank);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("No QR code was found"),
        "{}",
        run.stderr
    );
    let web = code_png(dir.path(), "web.png", "https://example.org/");
    let run = scan(&dave, &web);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("not an XMPP address"), "{}", run.stderr);
    let damaged = code_png(
        dir.path(),
        "damaged.png",
        &format!("xmpp:{carol_jid}?omemo-sid-{phone_id}=abc"),
    );
    let run = scan(&dave, &damaged);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("damaged"), "{}", run.stderr);
}

fn xmpp_jid(s: &str) -> xmpp_parsers::jid::BareJid {
    xmpp_parsers::jid::BareJid::new(s).expect("jid")
}

/// A grey PNG with nothing on it.
fn image_of_nothing(path: &Path) {
    let img = image::GrayImage::from_pixel(200, 120, image::Luma([0xd0]));
    img.save(path).expect("save");
}
