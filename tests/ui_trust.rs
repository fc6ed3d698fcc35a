//! Trust decisions in the real app under Xvfb against a real Prosody: once
//! Alice has verified Bob, his new device brings a banner to the chat that
//! leads to his devices and goes away when she decides; a device that comes
//! back with another key is a warning she has to answer; her own lost phone
//! is removed from Preferences with a confirmation, and contacts stop
//! encrypting for it; Ctrl+N starts a chat from the roster or with a new
//! address. Screenshots go to `$CARGO_TARGET_TMPDIR/screenshots/trust-*.png`.
//!
//! Run: `scripts/with-keyring.sh xvfb-run -a -s "-screen 0 1600x1200x24"
//! env GTK_A11Y=none GSK_RENDERER=cairo cargo test --test ui_trust`

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;
#[macro_use]
mod ui_support;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use adw::prelude::*;
use gtk::{gio, glib};
use sotto::omemo::{IdentityKeyPair, Namespace, OwnDevice};
use sotto::service::{Command, DeviceInfo, ServiceHandle, Trust};
use sotto::ui::session::model::Conversation;
use sotto::ui::session::view::{DeviceList, NewChatDialog};
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
        eprintln!("ui_trust needs a display: run it under xvfb-run (see the file's header)");
        return ExitCode::FAILURE;
    }
    let prosody = Prosody::start();
    for (user, password) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("dora", "explorer"),
    ] {
        prosody.create_user(user, password);
    }
    prosody.make_friends("alice", "Alice Liddell", "bob", "Bob Builder");

    let data_dir = tempfile::tempdir().expect("temp data dir");
    sotto::ui::init();
    let app = sotto::ui::Application::new();
    app.set_flags(app.flags() | gio::ApplicationFlags::NON_UNIQUE);
    let ctx = Rc::new(Ctx {
        app: app.clone(),
        prosody: RefCell::new(prosody),
        shots: screenshot_dir(),
        peers: RefCell::new(Vec::new()),
    });
    run_scenario("ui_trust", &app, data_dir.path(), move || async move {
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
    let alice = format!("alice@{domain}");
    let bob = format!("bob@{domain}");
    let server = Server::of(&ctx.prosody.borrow());
    log_in(&window, &server, &alice, "wonderland").await?;
    let session_view = window.session_view();
    let chat = session_view.chat_view();
    let banner = chat.trust_banner();

    // Alice's phone (a second own device) and Bob's laptop, online.
    let phone = add_peer(ctx, "alice", "wonderland").await?;
    let laptop = add_peer(ctx, "bob", "builder").await?;
    send(&laptop, &bob, &alice, "Hello from my laptop").await?;
    let conversations = session_view
        .sidebar()
        .conversations()
        .ok_or("no conversation list")?;
    wait_for("Bob's conversation", || {
        find_conversation(&conversations, &bob).is_some()
    })
    .await?;
    let bob_chat = find_conversation(&conversations, &bob).ok_or("vanished")?;
    session_view.show_conversation(&bob_chat);
    wait_for("Bob's devices in the chat", || {
        chat.devices().is_some_and(|d| d.len() == 1)
    })
    .await?;
    // Blind trust before verification: nothing to decide yet.
    ensure!(
        !banner.is_shown(),
        "a banner without anything to decide: {:?}",
        banner.text()
    );

    // Alice verifies the laptop; from now on Bob's new devices wait for her.
    let devices = open_devices(&chat, &session_view).await?;
    wait_for("the laptop in the device list", || {
        devices.devices().len() == 1
    })
    .await?;
    let laptop_device = devices.devices().remove(0);
    devices.set_trust(fingerprint(&laptop_device)?, Trust::Verified);
    wait_for("the laptop verified", || {
        devices.devices().iter().any(|d| d.trust == Trust::Verified)
    })
    .await?;
    back_to_chat(&session_view).await?;

    // Bob's phone appears: the open chat says so at once.
    let (bob_phone, bob_phone_dir) = add_peer_keeping_dir(ctx, "bob", "builder").await?;
    wait_for("the new-device banner", || {
        banner.is_shown() && banner.text().0.contains("new device")
    })
    .await
    .map_err(|e| format!("{e}: {:?}, devices {:?}", banner.text(), chat.devices()))?;
    screenshot(&ctx.shots, &window, "trust-new-device-banner").await?;

    // "Review" leads to Bob's devices, the new one undecided; deciding
    // answers the banner.
    banner_button(&banner)?.emit_clicked();
    wait_for("the contact details", || session_view.shows_details_page()).await?;
    let devices = session_view.details().device_list();
    wait_for("both of Bob's devices", || {
        devices
            .devices()
            .iter()
            .any(|d| d.trust == Trust::Undecided && d.fingerprint.is_some())
    })
    .await?;
    screenshot(&ctx.shots, &window, "trust-review-devices").await?;
    let new_device = devices
        .devices()
        .into_iter()
        .find(|d| d.trust == Trust::Undecided)
        .ok_or("no undecided device")?;
    devices.set_trust(fingerprint(&new_device)?, Trust::Blind);
    back_to_chat(&session_view).await?;
    wait_for("the banner to go", || !banner.is_shown())
        .await
        .map_err(|e| format!("{e}: {:?}, devices {:?}", banner.text(), chat.devices()))?;

    // The phone is reinstalled with the same device id and a new key (as an
    // attacker publishing under Bob's device id would look): its next
    // message brings a warning that stays until Alice decides.
    shutdown(&bob_phone).await;
    let reused = give_new_key(bob_phone_dir.path(), &alice).await?;
    ensure!(
        reused == new_device.device_id,
        "the phone came back as {reused}"
    );
    let bob_phone = restart_peer(bob_phone_dir.path()).await?;
    let now_mine = own_devices(&bob_phone, &bob).await?;
    let reinstalled = now_mine.iter().find(|d| d.own).ok_or("no own device")?;
    ensure!(
        reinstalled.device_id == reused && reinstalled.fingerprint != new_device.fingerprint,
        "the phone did not come back with a new key: {reinstalled:?} (was {new_device:?})"
    );
    let sent = send(&bob_phone, &bob, &alice, "New phone, same number").await?;
    ensure!(
        sent.encrypted,
        "the reinstalled phone sent in the clear: {sent:?}"
    );
    let warned = wait_for("the key-change warning", || {
        banner.is_shown() && banner.text().0.contains("key changed")
    })
    .await;
    if let Err(e) = warned {
        screenshot(&ctx.shots, &window, "trust-key-changed-missing").await?;
        let received = chat
            .timeline()
            .and_then(|t| {
                t.items()
                    .iter::<sotto::ui::session::model::MessageItem>()
                    .flatten()
                    .last()
            })
            .and_then(|i| i.with_message(|m| m.clone()));
        let service = ctx.app.service().ok_or("no service")?;
        let asked = own_devices(&service, &alice).await;
        let (a, b) = (alice.clone(), bob.clone());
        let bobs = sotto::runtime::spawn(async move {
            service
                .request(|reply| Command::Devices {
                    account: a,
                    jid: b,
                    reply,
                })
                .await
        })
        .await;
        return Err(format!(
            "{e}: {:?}, devices {:?}, sent {sent:?}, received {received:?}, asked now {bobs:?}, own {asked:?}",
            banner.text(),
            chat.devices()
        ));
    }
    screenshot(&ctx.shots, &window, "trust-key-changed-banner").await?;
    banner_button(&banner)?.emit_clicked();
    wait_for("the contact details", || session_view.shows_details_page()).await?;
    let devices = session_view.details().device_list();
    wait_for("the changed key in the device list", || {
        devices.devices().iter().any(|d| {
            d.device_id == reused
                && d.identity_changed
                && d.previous_fingerprint == new_device.fingerprint
        })
    })
    .await
    .map_err(|e| format!("{e}: {:?}", devices.devices()))?;
    ensure!(
        label_texts(&devices)
            .iter()
            .any(|t| t.contains("key of this device changed")),
        "the device row does not say its key changed"
    );
    screenshot(&ctx.shots, &window, "trust-key-changed-devices").await?;
    let changed = devices
        .devices()
        .into_iter()
        .find(|d| d.identity_changed)
        .ok_or("vanished")?;
    devices.set_trust(fingerprint(&changed)?, Trust::Distrusted);
    wait_for("the decision", || {
        devices
            .devices()
            .iter()
            .any(|d| d.device_id == reused && d.trust == Trust::Distrusted && !d.identity_changed)
    })
    .await?;
    back_to_chat(&session_view).await?;
    wait_for("the warning to go", || !banner.is_shown()).await?;
    ctx.peers.borrow_mut().push((bob_phone, bob_phone_dir));

    // Alice lost her phone: she removes it in Preferences.
    let phone_id = own_devices(&phone, &alice)
        .await?
        .into_iter()
        .find(|d| d.own)
        .map(|d| d.device_id)
        .ok_or("the phone does not know its own device")?;
    shutdown(&phone).await;
    ctx.app.activate_action("preferences", None);
    let preferences: adw::PreferencesWindow = wait_toplevel().await?;
    let own = all_of::<DeviceList>(&preferences)
        .into_iter()
        .next()
        .ok_or("no device list in Preferences")?;
    wait_for("the phone among Alice's devices", || {
        own.devices()
            .iter()
            .any(|d| d.device_id == phone_id && d.active)
    })
    .await
    .map_err(|e| format!("{e}: {:?}", own.devices()))?;
    screenshot(&ctx.shots, &preferences, "trust-own-devices").await?;
    let remove = all_of::<gtk::Button>(&own)
        .into_iter()
        .find(|b| b.has_css_class("remove-device"))
        .ok_or("no remove button for the phone")?;
    remove.emit_clicked();
    let dialog: adw::MessageDialog = wait_toplevel().await?;
    screenshot(&ctx.shots, &dialog, "trust-remove-device-dialog").await?;
    dialog.response("remove");
    wait_for("the phone to be gone from the list", || {
        own.devices()
            .iter()
            .all(|d| d.device_id != phone_id || !d.active)
    })
    .await
    .map_err(|e| format!("{e}: {:?}", own.devices()))?;
    screenshot(&ctx.shots, &preferences, "trust-own-devices-removed").await?;
    preferences.close();
    // Bob no longer encrypts for it.
    let sent = send(&laptop, &bob, &alice, "Only for your laptop").await?;
    let recipients = sent
        .encryption_info
        .as_ref()
        .and_then(|v| v.as_array().cloned())
        .ok_or("the sent message records no recipients")?;
    ensure!(
        recipients
            .iter()
            .all(|r| r["device_id"].as_u64() != Some(u64::from(phone_id))),
        "Bob still encrypted for the removed phone: {recipients:?}"
    );

    // Ctrl+N: pick Bob from the roster by part of his name.
    ensure!(
        ctx.app
            .accels_for_action("win.new-chat")
            .iter()
            .any(|a| a == "<Control>n"),
        "Ctrl+N does not start a new chat"
    );
    WidgetExt::activate_action(&window, "win.new-chat", None).map_err(|e| e.to_string())?;
    let dialog: NewChatDialog = wait_toplevel().await?;
    dialog.address_row().set_text("buil");
    ensure!(
        dialog.matches().iter().any(|c| c.jid() == bob),
        "Bob is not offered for \"buil\""
    );
    screenshot(&ctx.shots, &dialog, "trust-new-chat-completion").await?;
    // Not an address and nobody matches: a clear error.
    dialog.address_row().set_text("dora@");
    dialog
        .activate_action("new-chat.start", None)
        .map_err(|e| e.to_string())?;
    let error: gtk::Revealer = find(&dialog, "error_revealer")?;
    wait_for("the address error", || error.reveals_child()).await?;
    screenshot(&ctx.shots, &dialog, "trust-new-chat-invalid").await?;
    // A new address: added as a contact on the way, and the chat opens.
    let dora = format!("dora@{domain}");
    dialog.address_row().set_text(&dora);
    wait_for("the address to be accepted", || !error.reveals_child()).await?;
    let add: gtk::Revealer = find(&dialog, "add_revealer")?;
    ensure!(add.reveals_child(), "no offer to add Dora as a contact");
    dialog
        .activate_action("new-chat.start", None)
        .map_err(|e| e.to_string())?;
    wait_for("the chat with Dora", || {
        chat.conversation().is_some_and(|c| c.jid() == dora)
    })
    .await?;
    let session = ctx.app.session();
    wait_for("Dora in the roster", || {
        session.contact(&alice, &dora).is_some()
    })
    .await?;
    screenshot(&ctx.shots, &window, "trust-new-chat-opened").await?;
    // Enter picks the best match.
    WidgetExt::activate_action(&window, "win.new-chat", None).map_err(|e| e.to_string())?;
    let dialog: NewChatDialog = wait_toplevel().await?;
    dialog.address_row().set_text("bob");
    dialog
        .activate_action("new-chat.start", None)
        .map_err(|e| e.to_string())?;
    wait_for("Bob's chat from the dialog", || {
        chat.conversation().is_some_and(|c| c.jid() == bob)
    })
    .await?;
    Ok(())
}

async fn open_devices(
    chat: &sotto::ui::session::view::chat::ChatView,
    session_view: &sotto::ui::session::view::SessionView,
) -> Result<DeviceList, String> {
    chat.activate_action("chat.show-details", None)
        .map_err(|e| e.to_string())?;
    wait_for("the contact details", || session_view.shows_details_page()).await?;
    Ok(session_view.details().device_list())
}

async fn back_to_chat(session_view: &sotto::ui::session::view::SessionView) -> TestResult {
    session_view
        .details()
        .activate_action("details.back", None)
        .map_err(|e| e.to_string())?;
    wait_for("the chat again", || !session_view.shows_details_page()).await
}

fn banner_button(banner: &impl IsA<gtk::Widget>) -> Result<gtk::Button, String> {
    all_of::<gtk::Button>(banner)
        .into_iter()
        .next()
        .ok_or_else(|| "the banner has no Review button".to_owned())
}

fn fingerprint(device: &DeviceInfo) -> Result<&str, String> {
    device
        .fingerprint
        .as_deref()
        .ok_or_else(|| format!("device {} has no fingerprint", device.device_id))
}

/// Replace the identity of the (stopped) peer on `dir` with a new one under
/// the same device id, and forget its sessions with `contact`, so that its
/// next message to them starts over with the new key. Returns the id.
async fn give_new_key(dir: &Path, contact: &str) -> Result<u32, String> {
    let (dir, contact) = (dir.to_path_buf(), contact.to_owned());
    sotto::runtime::spawn(async move {
        let profile = sotto::profile::Profile::open(&dir).map_err(|e| e.to_string())?;
        let key = sotto::secrets::database_key(profile.id(), false)
            .await
            .map_err(|e| e.to_string())?;
        let store = sotto::store::Store::open(&profile.database_path(), &key)
            .await
            .map_err(|e| e.to_string())?;
        let account = store
            .accounts()
            .await
            .map_err(|e| e.to_string())?
            .first()
            .map(|a| a.id)
            .ok_or("the peer has no account")?;
        let old = store
            .load_own_device(account)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the peer has no device")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let device = {
            let mut rng = rand::rng();
            let identity = IdentityKeyPair::generate(&mut rng);
            OwnDevice::with_identity(&mut rng, identity, old.device_id(), now)
        };
        store
            .save_own_device(account, &device)
            .await
            .map_err(|e| e.to_string())?;
        for ns in [Namespace::OldMemo, Namespace::TwoMemo] {
            let sessions = store
                .sessions(account, ns, &contact)
                .await
                .map_err(|e| e.to_string())?;
            for session in sessions {
                store
                    .delete_session(account, ns, &contact, session.peer_device_id())
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        store.close().await;
        Ok(device.device_id())
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn own_devices(peer: &ServiceHandle, account: &str) -> Result<Vec<DeviceInfo>, String> {
    let (peer, account) = (peer.clone(), account.to_owned());
    sotto::runtime::spawn(async move {
        peer.request(|reply| Command::Devices {
            jid: account.clone(),
            account,
            reply,
        })
        .await
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

async fn shutdown(peer: &ServiceHandle) {
    let peer = peer.clone();
    let _ = sotto::runtime::spawn(async move { peer.shutdown().await }).await;
}

async fn add_peer(ctx: &Ctx, user: &str, password: &str) -> Result<ServiceHandle, String> {
    let server = Server::of(&ctx.prosody.borrow());
    let (handle, dir) = start_peer(server, user, password).await?;
    ctx.peers.borrow_mut().push((handle.clone(), dir));
    Ok(handle)
}

/// A peer whose profile the scenario changes while it is stopped.
async fn add_peer_keeping_dir(
    ctx: &Ctx,
    user: &str,
    password: &str,
) -> Result<(ServiceHandle, tempfile::TempDir), String> {
    let server = Server::of(&ctx.prosody.borrow());
    start_peer(server, user, password).await
}

fn find_conversation(model: &gio::ListModel, jid: &str) -> Option<Conversation> {
    model
        .iter::<glib::Object>()
        .flatten()
        .filter_map(|o| o.downcast::<Conversation>().ok())
        .find(|c| c.jid() == jid)
}
