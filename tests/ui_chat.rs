//! The chat screens, in the real app under Xvfb against a real Prosody:
//! Bob (a second Sotto service) writes to Alice; the conversation appears
//! with preview, lock and unread badge; the chat pages its history in as
//! it scrolls; Alice answers from the composer and sees pending → sent;
//! a contact without OMEMO devices shows the truthful lock and, with
//! encryption forced on, the composer's error banner; the contact's
//! devices can be distrusted; the narrow layout. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/screenshots/chat-*.png`.
//!
//! Run: `scripts/with-keyring.sh xvfb-run -a -s "-screen 0 1600x1200x24"
//! env GTK_A11Y=none GSK_RENDERER=cairo cargo test --test ui_chat`

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;
#[macro_use]
mod ui_support;

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use adw::prelude::*;
use gtk::{gio, glib};
use sotto::service::{ChatMessage, ChatState, Trust};
use sotto::service::{Command, ServiceError, ServiceHandle};
use sotto::ui::session::model::{Conversation, MessageItem, MessageState, PAGE_SIZE, Timeline};
use sotto::ui::session::view::chat::{EncryptionState, MessageRow};
use sotto::ui::session::view::{ContactRow, DeviceList};
use support::Prosody;
use ui_support::*;

/// More than one page, so opening the chat must not load them all.
const BACKLOG: usize = PAGE_SIZE as usize + 20;

struct Ctx {
    app: sotto::ui::Application,
    prosody: RefCell<Prosody>,
    shots: PathBuf,
    peers: RefCell<Vec<(ServiceHandle, tempfile::TempDir)>>,
}

fn main() -> ExitCode {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!("ui_chat needs a display: run it under xvfb-run (see the file's header)");
        return ExitCode::FAILURE;
    }
    let prosody = Prosody::start();
    for (user, password) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "carol-pw"),
    ] {
        prosody.create_user(user, password);
    }
    prosody.make_friends("alice", "Alice Liddell", "bob", "Bob Builder");
    prosody.make_friends("alice", "Alice Liddell", "carol", "Carol Danvers");

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
    run_scenario("ui_chat", &app, data_dir.path(), move || async move {
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
    let carol_jid = format!("carol@{domain}");

    log_in(ctx, &window, &alice_jid).await?;
    let session = ctx.app.session();
    let session_view = window.session_view();
    let sidebar = session_view.sidebar();
    let chat = session_view.chat_view();
    let conversations = sidebar
        .conversations()
        .ok_or("the sidebar has no conversation list")?;
    ensure!(
        sidebar.page().as_deref() == Some("chats"),
        "the sidebar does not open on the chats"
    );

    // Bob writes first: more than a page of messages, OMEMO-encrypted.
    let bob = add_peer(ctx, "bob", "builder").await?;
    let mut sent = Vec::new();
    for i in 1..=BACKLOG {
        let body = match BACKLOG - i {
            2 => "Hi Alice! Are you around?".to_owned(),
            1 => "The plans are at https://example.org/plans?v=2 — have a look.".to_owned(),
            0 => "Let me know what you think 🙂".to_owned(),
            _ => format!("Backlog message {i}"),
        };
        let message = send(&bob, &bob_jid, &alice_jid, &body).await?;
        ensure!(message.encrypted, "Bob's message {i} went out unencrypted");
        sent.push(body);
    }
    let last = sent.last().cloned().unwrap_or_default();

    // The conversation appears with preview, lock and unread badge.
    wait_for("Bob's conversation in the list", || {
        find_conversation(&conversations, &bob_jid)
            .is_some_and(|c| c.unread() as usize == BACKLOG && c.preview() == last)
    })
    .await
    .map_err(|e| {
        let seen: Vec<String> = conversation_list(&conversations)
            .iter()
            .map(|c| format!("{} unread={} {:?}", c.jid(), c.unread(), c.preview()))
            .collect();
        format!("{e}: {seen:?}")
    })?;
    let bob_chat = find_conversation(&conversations, &bob_jid).ok_or("vanished")?;
    ensure!(bob_chat.encrypted(), "no lock on an encrypted conversation");
    ensure!(
        bob_chat.name() == "Bob Builder",
        "the conversation is called {:?}",
        bob_chat.name()
    );
    // Previews of encrypted messages can be hidden.
    session.set_show_encrypted_previews(false);
    ensure!(
        bob_chat.preview() == "Encrypted message",
        "hidden preview reads {:?}",
        bob_chat.preview()
    );
    session.set_show_encrypted_previews(true);
    screenshot(&ctx.shots, &window, "chat-list").await?;

    // Nobody looked at the chat: one notification stands for all of it.
    let notifications = ctx.app.notifier().shown();
    ensure!(
        notifications.len() == 1
            && notifications[0].title == "Bob Builder"
            && notifications[0].count as usize == BACKLOG
            && notifications[0].body.ends_with(&last),
        "notifications: {notifications:?}"
    );

    // Open it from the notification: only the latest page loads, the
    // unread count goes, and so does the notification.
    ctx.app.activate_action(
        "open-chat",
        Some(&(alice_jid.as_str(), bob_jid.as_str()).to_variant()),
    );
    wait_for("the notification to open the chat", || {
        chat.conversation().as_ref() == Some(&bob_chat)
    })
    .await?;
    let position = position_of(&conversations, &bob_chat)?;
    sidebar.select_conversation(position);
    wait_for("the chat with Bob", || {
        chat.conversation().as_ref() == Some(&bob_chat)
    })
    .await?;
    let timeline = chat.timeline().ok_or("the chat has no timeline")?;
    wait_for("the first page", || timeline.loaded()).await?;
    let loaded = timeline.items().n_items();
    ensure!(
        loaded == PAGE_SIZE,
        "opening the chat loaded {loaded} messages, not one page of {PAGE_SIZE}"
    );
    ensure!(
        bodies(&timeline).last() == Some(&last),
        "the newest message is not at the bottom: {:?}",
        bodies(&timeline).last()
    );
    wait_for("bubbles on screen", || {
        all_of::<MessageRow>(&chat)
            .iter()
            .any(|r| r.item().is_some_and(|i| body_of(&i) == last))
    })
    .await?;
    wait_for("the conversation to be read", || bob_chat.unread() == 0).await?;
    wait_for("the notification to be withdrawn", || {
        ctx.app.notifier().shown().is_empty()
    })
    .await?;
    wait_for("the view to rest at the latest message", || {
        chat.is_at_bottom()
    })
    .await?;
    screenshot(&ctx.shots, &window, "chat-view").await?;

    // Scrolling up pages the rest in.
    let adjustment = find::<gtk::ScrolledWindow>(&chat, "scrolled")?.vadjustment();
    wait_for("the older page", || {
        adjustment.set_value(0.0);
        timeline.items().n_items() as usize == BACKLOG
    })
    .await?;
    ensure!(
        timeline.complete(),
        "the timeline does not know it is complete"
    );
    ensure!(
        bodies(&timeline) == sent,
        "the history is out of order or has gaps"
    );
    // All of it was unread when the chat opened: the divider sits above
    // the oldest message, now that its page is in.
    let first = timeline
        .items()
        .item(0)
        .and_downcast::<MessageItem>()
        .ok_or("no first message")?;
    ensure!(
        first.new_divider() == format!("{BACKLOG} new messages"),
        "the divider says {:?}",
        first.new_divider()
    );
    chat.activate_action("chat.jump-to-bottom", None)
        .map_err(|e| e.to_string())?;

    // Alice answers from the composer: pending first, then sent.
    let composer = chat.composer();
    ensure!(
        composer.encryption() == EncryptionState::Encrypted,
        "the lock says {:?} in an encrypted chat",
        composer.encryption()
    );
    let states: Rc<RefCell<Vec<MessageState>>> = Rc::default();
    let added = timeline.connect_message_added(glib::clone!(
        #[strong]
        states,
        move |_, item| {
            states.borrow_mut().push(item.state());
            let states = states.clone();
            item.connect_changed(move |item| states.borrow_mut().push(item.state()));
        }
    ));
    composer.set_text("Looks good! See you at 5.");
    composer
        .activate_action("composer.send", None)
        .map_err(|e| e.to_string())?;
    ensure!(composer.text().is_empty(), "the composer kept the text");
    wait_for("Alice's message to be sent", || {
        states
            .borrow()
            .iter()
            .any(|s| matches!(s, MessageState::Sent | MessageState::Delivered))
    })
    .await
    .map_err(|e| format!("{e}: states {:?}", states.borrow()))?;
    timeline.disconnect(added);
    ensure!(
        states.borrow().first() == Some(&MessageState::Pending),
        "the message did not start as pending: {:?}",
        states.borrow()
    );
    ensure!(
        composer.error().is_none(),
        "an error banner after a good send: {:?}",
        composer.error()
    );
    wait_for("Alice's answer at the bottom", || {
        bodies(&timeline).last().map(String::as_str) == Some("Looks good! See you at 5.")
    })
    .await?;
    screenshot(&ctx.shots, &window, "chat-sent").await?;
    let answer = last_item(&timeline).ok_or("no answer in the timeline")?;
    // Bob's client acknowledges it (XEP-0184): sent → delivered.
    wait_for("Alice's answer to be delivered", || {
        matches!(answer.state(), MessageState::Delivered | MessageState::Read)
    })
    .await
    .map_err(|e| format!("{e}: state {:?}", answer.state()))?;

    // Bob types: the header and the list say so, until he pauses.
    set_chat_state(&bob, &bob_jid, &alice_jid, ChatState::Composing)?;
    wait_for("Bob typing in the header", || {
        bob_chat.typing()
            && label_texts(&chat.header_bar())
                .iter()
                .any(|t| t == "typing…")
    })
    .await?;
    ensure!(
        label_texts(&sidebar).iter().any(|t| t == "typing…"),
        "the conversation row does not say Bob is typing"
    );
    screenshot(&ctx.shots, &window, "chat-typing").await?;
    set_chat_state(&bob, &bob_jid, &alice_jid, ChatState::Paused)?;
    wait_for("Bob's typing to end", || !bob_chat.typing()).await?;
    ensure!(
        label_texts(&chat.header_bar()).contains(&bob_jid),
        "the header does not show the address again"
    );

    // Up in the empty composer edits the last own message; sending
    // corrects it at Bob's (XEP-0308).
    ensure!(composer.text().is_empty(), "the composer is not empty");
    composer.emit_by_name::<()>("edit-last", &[]);
    ensure!(
        composer.editing() == Some(answer.id()),
        "Up did not pick Alice's last message: {:?}",
        composer.editing()
    );
    ensure!(
        composer.text() == "Looks good! See you at 5.",
        "editing starts from {:?}",
        composer.text()
    );
    screenshot(&ctx.shots, &window, "chat-editing").await?;
    // Escape-equivalent: cancelling leaves the message as it was.
    composer
        .activate_action("composer.cancel-edit", None)
        .map_err(|e| e.to_string())?;
    ensure!(
        !composer.is_editing() && composer.text().is_empty(),
        "cancel left the composer editing or filled"
    );
    composer.emit_by_name::<()>("edit-last", &[]);
    composer.set_text("Looks good! See you at 6.");
    composer.send();
    wait_for("the correction at Alice's", || {
        answer
            .with_message(|m| m.corrected && m.body.as_deref() == Some("Looks good! See you at 6."))
            == Some(true)
    })
    .await?;
    ensure!(
        timeline.items().n_items() as usize == BACKLOG + 1,
        "the correction added a row instead of replacing one"
    );
    wait_for("the correction at Bob's", || {
        let history = peer_history(&bob, &bob_jid, &alice_jid);
        history
            .last()
            .is_some_and(|m| m.corrected && m.body.as_deref() == Some("Looks good! See you at 6."))
    })
    .await?;
    wait_for("the edited mark", || {
        all_of::<MessageRow>(&chat).iter().any(|r| {
            r.item().is_some_and(|i| i.id() == answer.id())
                && label_texts(r).iter().any(|t| t == "edited")
        })
    })
    .await?;

    // Bob's devices: fingerprint and trust; distrust his device.
    chat.activate_action("chat.show-details", None)
        .map_err(|e| e.to_string())?;
    wait_for("the details page", || session_view.shows_details_page()).await?;
    let devices: DeviceList = find_type(&session_view.details())?;
    wait_for("Bob's device", || {
        devices
            .devices()
            .iter()
            .any(|d| d.active && d.fingerprint.is_some())
    })
    .await?;
    let device = devices
        .devices()
        .into_iter()
        .find(|d| d.active)
        .ok_or("no active device")?;
    ensure!(
        device.trust.is_trusted(),
        "Bob's first device is not trusted blindly: {:?}",
        device.trust
    );
    let fingerprint = device.fingerprint.clone().unwrap_or_default();
    ensure!(
        label_texts(&devices)
            .iter()
            .any(|t| t.contains(&fingerprint[..8])),
        "the fingerprint is not shown"
    );
    screenshot(&ctx.shots, &window, "chat-devices").await?;
    devices.set_trust(&fingerprint, Trust::Distrusted);
    wait_for("Bob's device to be distrusted", || {
        devices
            .devices()
            .iter()
            .any(|d| d.device_id == device.device_id && d.trust == Trust::Distrusted)
    })
    .await?;
    screenshot(&ctx.shots, &window, "chat-devices-distrusted").await?;
    // Sending now fails loudly: nobody trusted to encrypt for.
    session_view
        .details()
        .activate_action("details.back", None)
        .map_err(|e| e.to_string())?;
    wait_for("the chat again", || !session_view.shows_details_page()).await?;
    composer.set_text("Does this reach you?");
    composer.send();
    wait_for("the cannot-encrypt banner", || composer.error().is_some()).await?;
    let expected_start = ServiceError::CannotEncrypt(String::new())
        .user_message()
        .chars()
        .take(20)
        .collect::<String>();
    let banner = composer.error().unwrap_or_default();
    ensure!(
        banner.starts_with(&expected_start),
        "the banner says {banner:?}"
    );
    wait_for("the failed bubble", || {
        last_item(&timeline).is_some_and(|i| i.state() == MessageState::Failed)
    })
    .await?;
    // The lock now tells why before the next try.
    wait_for("the lock to say no device is trusted", || {
        composer.encryption() == EncryptionState::Untrusted
    })
    .await
    .map_err(|e| {
        let service = ctx.app.service();
        let (account, jid) = (alice_jid.clone(), bob_jid.clone());
        let devices = service.map(|service| {
            sotto::runtime::runtime().block_on(async move {
                service
                    .request(|reply| Command::Devices {
                        account,
                        jid,
                        reply,
                    })
                    .await
            })
        });
        format!(
            "{e}: the lock says {:?}; Bob's devices: {devices:?}",
            composer.encryption()
        )
    })?;
    screenshot(&ctx.shots, &window, "chat-composer-error").await?;
    encryption_details(ctx, &chat, &bob_jid).await?;
    // Trust changed outside the window (as `sotto-cli trust` would): the
    // open device list follows the service's DevicesChanged.
    let service = ctx.app.service().ok_or("the app has no service")?;
    let (account, jid, print) = (alice_jid.clone(), bob_jid.clone(), fingerprint.clone());
    sotto::runtime::spawn(async move {
        service
            .request(|reply| Command::SetTrust {
                account,
                jid,
                fingerprint: print,
                trust: Trust::Verified,
                reply,
            })
            .await
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot verify Bob's device: {e}"))?;
    wait_for("the device list to show the verification", || {
        devices
            .devices()
            .iter()
            .any(|d| d.device_id == device.device_id && d.trust == Trust::Verified)
    })
    .await?;
    composer
        .activate_action("composer.dismiss-error", None)
        .map_err(|e| e.to_string())?;

    // Carol never used OMEMO: the lock says so, and forcing encryption
    // on explains why nothing can be sent.
    let roster = sidebar.roster().ok_or("no roster")?;
    let carol_position = (0..roster.n_items())
        .find(|&i| {
            roster
                .item(i)
                .and_downcast::<sotto::ui::session::model::ContactItem>()
                .is_some_and(|c| c.jid() == carol_jid)
        })
        .ok_or("Carol is not in the roster")?;
    sidebar.set_page("contacts");
    sidebar.select(carol_position);
    wait_for("the chat with Carol", || {
        chat.conversation().is_some_and(|c| c.jid() == carol_jid)
    })
    .await?;
    wait_for("Carol's devices to be checked", || {
        composer.encryption() == EncryptionState::Unavailable
    })
    .await
    .map_err(|e| format!("{e}: the lock says {:?}", composer.encryption()))?;
    let _ = find_type::<ContactRow>(&sidebar)?;
    screenshot(&ctx.shots, &window, "chat-no-encryption").await?;
    composer
        .activate_action("composer.toggle-encryption", None)
        .ok();
    ensure!(
        composer.encryption() == EncryptionState::Unavailable,
        "the lock can be switched on without devices"
    );

    // Narrow: the chat alone, with a back button.
    sidebar.set_page("chats");
    sidebar.select_conversation(position_of(&conversations, &bob_chat)?);
    wait_for("Bob's chat again", || {
        chat.conversation().as_ref() == Some(&bob_chat)
    })
    .await?;
    resize(&window, 360, 720).await?;
    wait_for("the leaflet to fold", || session_view.is_folded()).await?;
    let back: gtk::Button = find(&chat, "back_button")?;
    ensure!(back.is_visible(), "no back button in the narrow chat");
    let timeline = chat.timeline().ok_or("no timeline")?;
    wait_for("the narrow chat to load", || timeline.loaded()).await?;
    chat.activate_action("chat.jump-to-bottom", None)
        .map_err(|e| e.to_string())?;
    screenshot(&ctx.shots, &window, "chat-narrow").await?;
    back.activate_action("chat.back", None)
        .map_err(|e| e.to_string())?;
    wait_for("the list in the narrow window", || {
        !session_view.shows_details()
    })
    .await?;
    screenshot(&ctx.shots, &window, "chat-list-narrow").await?;
    resize(&window, 1100, 760).await?;
    drop(bob);
    Ok(())
}

/// The context menu's Encryption Details for a sent and a failed message,
/// and an undecryptable message that names the device it came from.
async fn encryption_details(ctx: &Ctx, chat: &impl IsA<gtk::Widget>, bob: &str) -> TestResult {
    let rows = all_of::<MessageRow>(chat);
    let state_of = |r: &MessageRow| r.item().map(|i| i.state());
    // The newest one was sent through the service (the backlog above it
    // was written straight into the archive, without details).
    let sent = rows
        .iter()
        .filter(|r| {
            matches!(
                state_of(r),
                Some(MessageState::Sent | MessageState::Delivered | MessageState::Read)
            )
        })
        .max_by_key(|r| r.item().map(|i| i.key()))
        .ok_or("no sent message on screen")?;
    let dialog = sent
        .show_encryption_details()
        .ok_or("no details for a sent message")?;
    wait_for("the details", || dialog.is_visible()).await?;
    let texts = label_texts(&dialog).join("\n");
    ensure!(
        texts.contains("Encrypted For") && texts.contains(bob),
        "the details of a sent message say {texts} ({:?})",
        sent.item().and_then(|i| i.message())
    );
    screenshot(&ctx.shots, &dialog, "chat-encryption-details").await?;
    dialog.close();
    let failed = rows
        .iter()
        .find(|r| state_of(r) == Some(MessageState::Failed))
        .ok_or("no failed message on screen")?;
    let dialog = failed
        .show_encryption_details()
        .ok_or("no details for a failed message")?;
    wait_for("the details", || dialog.is_visible()).await?;
    let texts = label_texts(&dialog).join("\n");
    ensure!(
        texts.contains("Left Out") && texts.contains("not trusted"),
        "the details of a failed message say {texts}"
    );
    screenshot(&ctx.shots, &dialog, "chat-encryption-details-left-out").await?;
    dialog.close();

    // An undecryptable message: reason, sender device, and this device's
    // fingerprint to read to the sender.
    let message = ChatMessage {
        id: -1,
        account: "alice@localhost".into(),
        conversation: bob.into(),
        direction: "in".into(),
        sender: bob.into(),
        sender_nick: None,
        sender_device: Some(1234),
        namespace: Some("omemo2".into()),
        encrypted: true,
        trusted: None,
        body: None,
        error: Some("not encrypted for this device".into()),
        timestamp: 1_700_000_000_000,
        state: "received".into(),
        corrected: false,
        encryption_info: Some(serde_json::json!({"encrypted_for": [1, 2]})),
    };
    let row = MessageRow::new();
    let fingerprint = "0123456789abcdef".repeat(4);
    row.set_item(Some(MessageItem::new(message)), Some(fingerprint.clone()));
    let frame = gtk::Window::builder()
        .default_width(520)
        .child(&row)
        .build();
    frame.present();
    wait_for("the undecryptable row", || row.is_mapped()).await?;
    let texts = label_texts(&row).join("\n");
    ensure!(
        texts.contains("device 1234")
            && texts.contains("not encrypted for this device")
            && texts.contains("01234567 89abcdef"),
        "the undecryptable message says {texts}"
    );
    screenshot(&ctx.shots, &frame, "chat-undecryptable").await?;
    let dialog = row
        .show_encryption_details()
        .ok_or("no details for an undecryptable message")?;
    wait_for("the details", || dialog.is_visible()).await?;
    let texts = label_texts(&dialog).join("\n");
    ensure!(
        texts.contains("Not decrypted") && texts.contains("1, 2"),
        "the details of an undecryptable message say {texts}"
    );
    dialog.close();
    frame.close();
    Ok(())
}

async fn log_in(ctx: &Ctx, window: &sotto::ui::Window, jid: &str) -> TestResult {
    let server = Server::of(&ctx.prosody.borrow());
    ui_support::log_in(window, &server, jid, "wonderland").await
}

fn set_chat_state(peer: &ServiceHandle, from: &str, to: &str, state: ChatState) -> TestResult {
    let (peer, account, jid) = (peer.clone(), from.to_owned(), to.to_owned());
    peer.send(Command::SetChatState {
        account,
        jid,
        state,
    })
    .map_err(|e| format!("the peer cannot send a chat state: {e}"))
}

/// The peer's view of a conversation (blocking on the peer's service: it
/// runs on the tokio runtime, not on this thread).
fn peer_history(peer: &ServiceHandle, account: &str, jid: &str) -> Vec<ChatMessage> {
    let (peer, account, jid) = (peer.clone(), account.to_owned(), jid.to_owned());
    let (tx, rx) = std::sync::mpsc::channel();
    sotto::runtime::spawn(async move {
        let history = peer
            .request(|reply| Command::History {
                account,
                jid,
                before: None,
                limit: 5,
                reply,
            })
            .await;
        let _ = tx.send(history.unwrap_or_default());
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default()
}

/// Start another person's client (a second service), logged in.
async fn add_peer(ctx: &Ctx, user: &str, password: &str) -> Result<ServiceHandle, String> {
    let server = Server::of(&ctx.prosody.borrow());
    let (handle, dir) = start_peer(server, user, password).await?;
    ctx.peers.borrow_mut().push((handle.clone(), dir));
    Ok(handle)
}

fn conversation_list(model: &gio::ListModel) -> Vec<Conversation> {
    model
        .iter::<glib::Object>()
        .flatten()
        .filter_map(|o| o.downcast::<Conversation>().ok())
        .collect()
}

fn find_conversation(model: &gio::ListModel, jid: &str) -> Option<Conversation> {
    conversation_list(model)
        .into_iter()
        .find(|c| c.jid() == jid)
}

fn position_of(model: &gio::ListModel, conversation: &Conversation) -> Result<u32, String> {
    conversation_list(model)
        .iter()
        .position(|c| c == conversation)
        .map(|p| p as u32)
        .ok_or_else(|| format!("{} is not listed", conversation.jid()))
}

fn body_of(item: &MessageItem) -> String {
    item.with_message(|m| m.body.clone().unwrap_or_default())
        .unwrap_or_default()
}

fn bodies(timeline: &Timeline) -> Vec<String> {
    timeline
        .items()
        .iter::<MessageItem>()
        .flatten()
        .map(|i| body_of(&i))
        .collect()
}

fn last_item(timeline: &Timeline) -> Option<MessageItem> {
    let items = timeline.items();
    items
        .item(items.n_items().checked_sub(1)?)
        .and_downcast::<MessageItem>()
}
