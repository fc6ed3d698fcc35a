//! Trust by QR code in the window, under Xvfb against a real Prosody
//! (issue 7): Alice scans a picture of Bob's code, sees what it would do
//! before anything is saved, verifies, and Bob's device becomes verified; a
//! code with a tampered fingerprint shows the mismatch and cannot be
//! verified; Alice's own code is drawn crisp (whole pixels per module) with
//! her fingerprints below it. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/screenshots/qr-*.png`.
//!
//! Run: `GTK_A11Y=none GSK_RENDERER=cairo scripts/with-keyring.sh xvfb-run -a
//! -s "-screen 0 1600x1200x24" cargo test --features gui --test ui_qr`

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;
#[macro_use]
mod ui_support;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use adw::prelude::*;
use gtk::{gio, glib};
use sotto::qr::{QUIET_ZONE, QrMatrix};
use sotto::service::{Command, OwnQrCode, QrOutcome, ServiceHandle, Trust};
use sotto::ui::qr::QrScanDialog;
use sotto::ui::session::view::DeviceList;
use support::Prosody;
use ui_support::*;

struct Ctx {
    app: sotto::ui::Application,
    prosody: RefCell<Prosody>,
    shots: PathBuf,
    peers: RefCell<Vec<(ServiceHandle, tempfile::TempDir)>>,
}

fn main() -> ExitCode {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!("ui_qr needs a display: run it under xvfb-run (see the file's header)");
        return ExitCode::FAILURE;
    }
    let prosody = Prosody::start();
    for (user, password) in [("alice", "wonderland"), ("bob", "builder")] {
        prosody.create_user(user, password);
    }
    prosody.make_friends("alice", "Alice Liddell", "bob", "Bob Builder");

    let data_dir = tempfile::tempdir().expect("temp data dir");
    let shots = screenshot_dir();

    sotto::ui::init();
    let app = sotto::ui::Application::new();
    app.set_flags(app.flags() | gio::ApplicationFlags::NON_UNIQUE);
    let ctx = Rc::new(Ctx {
        app: app.clone(),
        prosody: RefCell::new(prosody),
        shots,
        peers: RefCell::new(Vec::new()),
    });
    run_scenario("ui_qr", &app, data_dir.path(), move || async move {
        let result = scenario(&ctx).await;
        for (peer, _) in ctx.peers.take() {
            peer.shutdown().await;
        }
        result
    })
}

async fn scenario(ctx: &Ctx) -> TestResult {
    let window = ctx.app.main_window();
    window.set_default_size(1100, 760);
    let domain = ctx.prosody.borrow().domain().to_owned();
    let alice_jid = format!("alice@{domain}");
    let bob_jid = format!("bob@{domain}");
    let pictures = tempfile::tempdir().map_err(|e| e.to_string())?;

    log_in(ctx, &window, &alice_jid).await?;
    let alice = ctx.app.service().ok_or("Alice's service did not start")?;
    let bob = add_peer(ctx, "bob", "builder").await?;

    // Bob shows his code; Alice has a picture of it.
    let bob_code = own_code(&bob, &bob_jid).await?;
    ensure!(bob_code.devices.len() == 1, "Bob's code: {bob_code:?}");
    let bob_device = bob_code.devices[0].device_id;
    let good_png = code_png(pictures.path(), "bob.png", &bob_code.uri)?;

    // Alice scans it: the summary comes first, nothing is saved yet.
    let dialog = window.scan_qr().ok_or("no scan dialog")?;
    dialog.scan_file(&gio::File::for_path(&good_png));
    let summary = wait_summary(&dialog).await?;
    ensure!(
        summary.jid == bob_jid && summary.is_contact && !summary.applied,
        "{summary:?}"
    );
    ensure!(
        summary.verified == 1 && summary.flagged() == 0,
        "{summary:?}"
    );
    ensure!(
        summary.devices[0].device_id == Some(bob_device)
            && summary.devices[0].outcome == QrOutcome::Verify,
        "{summary:?}"
    );
    let texts = label_texts(&dialog);
    ensure!(
        texts.iter().any(|t| t == "Will be verified"),
        "no \"Will be verified\" in {texts:?}"
    );
    let verify: gtk::Button = named(&dialog, "qr_verify")?;
    ensure!(
        verify.is_sensitive() && verify.label().as_deref() == Some("_Verify 1 Device"),
        "the Verify button: {:?}, sensitive {}",
        verify.label(),
        verify.is_sensitive()
    );
    ensure!(
        trust_of(&alice, &alice_jid, &bob_jid, bob_device).await? != Trust::Verified,
        "the preview saved something"
    );
    screenshot(&ctx.shots, &dialog, "qr-scan").await?;

    // Verify: the service checks again, saves, and the dialog says so.
    dialog
        .activate_action("qr-scan.verify", None)
        .map_err(|e| e.to_string())?;
    wait_for("the code to be applied", || {
        dialog.summary().is_some_and(|s| s.applied)
    })
    .await?;
    ensure!(
        trust_of(&alice, &alice_jid, &bob_jid, bob_device).await? == Trust::Verified,
        "Bob's device is not verified after scanning"
    );
    ensure!(!verify.is_visible(), "Verify is still offered after saving");
    screenshot(&ctx.shots, &dialog, "qr-scan-done").await?;
    dialog.close();

    // A code whose fingerprint was tampered with: loud, and nothing to verify.
    let tampered_png = code_png(pictures.path(), "tampered.png", &tamper(&bob_code.uri)?)?;
    let dialog = window.scan_qr().ok_or("no scan dialog")?;
    dialog.scan_file(&gio::File::for_path(&tampered_png));
    let summary = wait_summary(&dialog).await?;
    ensure!(
        summary.mismatched == 1
            && summary.verified == 0
            && summary.devices[0].outcome == QrOutcome::Mismatch,
        "{summary:?}"
    );
    let texts = label_texts(&dialog);
    ensure!(
        texts
            .iter()
            .any(|t| t.starts_with("MISMATCH") && t.contains(&bob_jid)),
        "no mismatch warning in {texts:?}"
    );
    let verify: gtk::Button = named(&dialog, "qr_verify")?;
    ensure!(
        !verify.is_sensitive(),
        "Verify is enabled for a mismatched code"
    );
    screenshot(&ctx.shots, &dialog, "qr-scan-mismatch").await?;
    ensure!(
        trust_of(&alice, &alice_jid, &bob_jid, bob_device).await? == Trust::Verified,
        "the mismatched code changed Bob's trust"
    );
    dialog.close();

    // A pasted picture of Bob's code: his device was verified before.
    let dialog = window.scan_qr().ok_or("no scan dialog")?;
    let pasted = gtk::gdk::Texture::from_filename(&good_png).map_err(|e| e.to_string())?;
    dialog.clipboard().set_texture(&pasted);
    dialog
        .activate_action("qr-scan.paste", None)
        .map_err(|e| e.to_string())?;
    let summary = wait_summary(&dialog).await?;
    ensure!(
        summary.already_verified == 1
            && summary.verified == 0
            && summary.devices[0].outcome == QrOutcome::AlreadyVerified,
        "{summary:?}"
    );
    dialog.close();

    // Xvfb has no camera: the dialog says so and offers the other ways.
    let dialog = window.scan_qr().ok_or("no scan dialog")?;
    wait_for("the no-camera message", || {
        dialog.camera_problem().is_some()
    })
    .await?;
    // A camera looking at Bob's code (his PNG played as live video through
    // the same pipeline and decoder): found, camera stopped, same summary.
    dialog.start_camera_from(sotto::qr::VideoSource::Image(good_png.clone()));
    let summary = wait_summary(&dialog).await?;
    ensure!(summary.already_verified == 1, "camera: {summary:?}");
    ensure!(
        !dialog.camera_running(),
        "the camera runs on after the code"
    );
    dialog.close();

    // Pasted text that is the link itself works as well.
    let dialog = window.scan_qr().ok_or("no scan dialog")?;
    dialog.clipboard().set_text(&bob_code.uri);
    dialog
        .activate_action("qr-scan.paste", None)
        .map_err(|e| e.to_string())?;
    let summary = wait_summary(&dialog).await?;
    ensure!(summary.already_verified == 1, "{summary:?}");
    dialog.close();

    // The link opened from elsewhere (x-scheme-handler/xmpp) starts the
    // same flow.
    ctx.app.open(&[gio::File::for_uri(&bob_code.uri)], "");
    let dialog = wait_toplevel::<QrScanDialog>().await?;
    let summary = wait_summary(&dialog).await?;
    ensure!(summary.already_verified == 1, "opened link: {summary:?}");
    dialog.close();

    // A picture without a code says so.
    let blank = pictures.path().join("blank.png");
    std::fs::write(&blank, blank_png()?).map_err(|e| e.to_string())?;
    let dialog = window.scan_qr().ok_or("no scan dialog")?;
    dialog.scan_file(&gio::File::for_path(&blank));
    wait_for("the no-code message", || dialog.error().is_some()).await?;
    let error = dialog.error().unwrap_or_default();
    ensure!(error.contains("No QR code"), "error reads {error:?}");
    screenshot(&ctx.shots, &dialog, "qr-scan-start").await?;
    dialog.close();

    // Alice's own code: crisp, with her address and fingerprint below.
    let alice_code = own_code(&alice, &alice_jid).await?;
    let show = window.show_qr().ok_or("no show dialog")?;
    wait_for("Alice's code", || show.texture().is_some()).await?;
    let texture = show.texture().ok_or("no texture")?;
    let matrix = QrMatrix::encode(&alice_code.uri).map_err(|e| e.to_string())?;
    let side = matrix.width() as i32 + 2 * QUIET_ZONE as i32;
    ensure!(
        texture.width() == texture.height()
            && texture.width() % side == 0
            && texture.width() / side >= 4,
        "texture {}×{} for {side} modules",
        texture.width(),
        texture.height()
    );
    let picture: gtk::Image = named(&show, "qr_picture")?;
    let texts = label_texts(&show);
    ensure!(texts.contains(&alice_jid), "no address in {texts:?}");
    let fingerprint = alice_code.devices[0].fingerprint.replace(' ', "");
    ensure!(
        texts
            .iter()
            .any(|t| t.replace([' ', '\n'], "") == fingerprint),
        "no fingerprint {fingerprint} in {texts:?}"
    );
    ensure!(
        texts.iter().any(|t| t.starts_with("This device")),
        "this device is not named: {texts:?}"
    );
    screenshot(&ctx.shots, &show, "qr-show").await?;
    ensure!(
        picture.width() == texture.width(),
        "the code is drawn {} px wide, the texture is {}",
        picture.width(),
        texture.width()
    );
    // The code in the screenshot itself decodes to the URI.
    let shot = ctx.shots.join("qr-show.png");
    let decoded = sotto::qr::decode_file(&shot).map_err(|e| e.to_string())?;
    ensure!(
        decoded == alice_code.uri,
        "the screenshot decodes to {decoded}"
    );
    show.close();

    // Bob's details offer the scan next to his devices.
    let session_view = window.session_view();
    let conversation = ctx.app.session().conversation(&alice_jid, &bob_jid);
    session_view.show_conversation(&conversation);
    session_view
        .chat_view()
        .activate_action("chat.show-details", None)
        .map_err(|e| e.to_string())?;
    wait_for("the details page", || session_view.shows_details_page()).await?;
    let devices: DeviceList = find_type(&session_view.details())?;
    wait_for("Bob's devices", || !devices.devices().is_empty()).await?;
    resize(&window, 1100, 900).await?;
    screenshot(&ctx.shots, &window, "qr-contact-details").await?;
    // The list is rebuilt whenever the devices change: look the row up now.
    let scan = all_of::<adw::ActionRow>(&devices)
        .into_iter()
        .find(|r| r.title() == "Scan QR Code…" && r.root().is_some())
        .ok_or("no Scan QR Code row by Bob's devices")?;
    // A click activates the row's action (GtkListBox's action helper);
    // activate the same action from the row, as the click would.
    ensure!(
        scan.action_name().as_deref() == Some("win.scan-qr"),
        "the row runs {:?}",
        scan.action_name()
    );
    scan.activate_action("win.scan-qr", None)
        .map_err(|e| e.to_string())?;
    let dialog = wait_toplevel::<QrScanDialog>().await?;
    dialog.close();
    Ok(())
}

async fn wait_summary(dialog: &QrScanDialog) -> Result<sotto::service::QrSummary, String> {
    wait_for("the scan summary", || {
        dialog.summary().is_some() || dialog.error().is_some()
    })
    .await?;
    if let Some(error) = dialog.error() {
        return Err(format!("the scan failed: {error}"));
    }
    dialog.summary().ok_or_else(|| "no summary".into())
}

/// `who`'s own code, once its OMEMO device exists.
async fn own_code(service: &ServiceHandle, who: &str) -> Result<OwnQrCode, String> {
    let mut last = String::new();
    for _ in 0..100 {
        let (service, account) = (service.clone(), who.to_owned());
        let result = sotto::runtime::spawn(async move {
            service
                .request(|reply| Command::OwnQrUri { account, reply })
                .await
        })
        .await
        .map_err(|e| e.to_string())?;
        match result {
            Ok(code) => return Ok(code),
            Err(e) => last = e.to_string(),
        }
        glib::timeout_future(Duration::from_millis(200)).await;
    }
    Err(format!("{who} has no code: {last}"))
}

async fn trust_of(
    service: &ServiceHandle,
    account: &str,
    jid: &str,
    device: u32,
) -> Result<Trust, String> {
    let (service, account, jid_owned) = (service.clone(), account.to_owned(), jid.to_owned());
    let devices = sotto::runtime::spawn(async move {
        service
            .request(|reply| Command::Devices {
                account,
                jid: jid_owned,
                reply,
            })
            .await
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    devices
        .iter()
        .find(|d| d.device_id == device)
        .map(|d| d.trust)
        .ok_or_else(|| format!("device {device} of {jid} is not listed: {devices:?}"))
}

fn code_png(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    QrMatrix::encode(text)
        .and_then(|m| m.write_png(&path, 6))
        .map_err(|e| e.to_string())?;
    Ok(path)
}

/// The same code with the last hex digit of the first fingerprint changed.
fn tamper(uri: &str) -> Result<String, String> {
    let at = uri
        .find(['&', ';'])
        .unwrap_or(uri.len())
        .checked_sub(1)
        .ok_or("empty URI")?;
    let digit = uri[at..].chars().next().ok_or("no digit")?;
    let other = if digit == '0' { '1' } else { '0' };
    Ok(format!("{}{other}{}", &uri[..at], &uri[at + 1..]))
}

/// A white picture with no code in it.
fn blank_png() -> Result<Vec<u8>, String> {
    let texture = gtk::gdk::MemoryTexture::new(
        64,
        64,
        gtk::gdk::MemoryFormat::R8g8b8a8,
        &glib::Bytes::from_owned(vec![0xffu8; 64 * 64 * 4]),
        64 * 4,
    );
    Ok(texture.save_to_png_bytes().to_vec())
}

async fn log_in(ctx: &Ctx, window: &sotto::ui::Window, jid: &str) -> TestResult {
    let server = Server::of(&ctx.prosody.borrow());
    ui_support::log_in(window, &server, jid, "wonderland").await
}

async fn add_peer(ctx: &Ctx, user: &str, password: &str) -> Result<ServiceHandle, String> {
    let server = Server::of(&ctx.prosody.borrow());
    let (handle, dir) = start_peer(server, user, password).await?;
    ctx.peers.borrow_mut().push((handle.clone(), dir));
    Ok(handle)
}
