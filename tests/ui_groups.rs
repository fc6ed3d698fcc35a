//! Group chats in the real app under Xvfb against a real Prosody: Alice
//! creates a group from the main menu's dialog (its address on the
//! conference service the server names) with Bob (a second Sotto
//! service) as member; Bob joins and writes; Alice sees his message under
//! his nick, answers, opens the room's details with its participants and
//! its encryption state, changes the subject and her nickname there (and
//! is refused Bob's nickname), sees the subject of Bob's group read-only,
//! browses the public channels in the join dialog, and turns encryption
//! in open group chats on and off in Preferences. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/screenshots/groups-*.png`.
//!
//! Run: `GTK_A11Y=none GSK_RENDERER=cairo NO_AT_BRIDGE=1 scripts/with-keyring.sh
//! xvfb-run -a -s "-screen 0 1600x1200x24" cargo test --features gui --test ui_groups`

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;
#[macro_use]
mod ui_support;

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::{gio, glib};
use sotto::service::{Affiliation, Command, EncryptionPolicy, RoomInfo, ServiceHandle};
use sotto::ui::preferences::PreferencesWindow;
use sotto::ui::session::model::{MessageItem, Timeline};
use sotto::ui::session::view::chat::{EncryptionState, MessageRow};
use sotto::ui::session::view::{DeviceList, InvitationRow};
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
        eprintln!("ui_groups needs a display: run it under xvfb-run (see the file's header)");
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
    run_scenario("ui_groups", &app, data_dir.path(), move || async move {
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
    let (domain, muc) = {
        let prosody = ctx.prosody.borrow();
        (prosody.domain().to_owned(), prosody.muc_domain())
    };
    let alice_jid = format!("alice@{domain}");
    let bob_jid = format!("bob@{domain}");
    let room = format!("book-club@{muc}");
    let lobby = format!("lobby@{muc}");

    let server = Server::of(&ctx.prosody.borrow());
    log_in(&window, &server, &alice_jid, "wonderland").await?;
    let bob = add_peer(ctx, "bob", "builder").await?;
    // A public channel for the join dialog's list.
    request(&bob, {
        let (bob_jid, lobby) = (bob_jid.clone(), lobby.clone());
        move |reply| Command::CreateRoom {
            account: bob_jid,
            room: lobby,
            name: Some("Lobby".into()),
            nick: None,
            members: Vec::new(),
            channel: true,
            reply,
        }
    })
    .await?;

    // The create dialog: the address follows the name, on the group chat
    // service the server names; Bob is picked.
    let dialog = window.show_new_group().ok_or("no New Group Chat dialog")?;
    dialog.name_row().set_text("Book Club");
    wait_for("the server's group chat service", || {
        dialog.conference_service().as_deref() == Some(muc.as_str())
    })
    .await
    .map_err(|e| format!("{e}: {:?}", dialog.conference_service()))?;
    ensure!(
        dialog.address_row().text() == room,
        "the address made from the name is {:?}",
        dialog.address_row().text()
    );
    dialog.picker().select(&bob_jid);
    ensure!(
        dialog.picker().selected() == vec![bob_jid.clone()],
        "picked: {:?}",
        dialog.picker().selected()
    );
    screenshot(&ctx.shots, &dialog, "groups-create").await?;
    dialog
        .activate_action("create-group.create", None)
        .map_err(|e| e.to_string())?;
    let chat = window.session_view().chat_view();
    wait_for("the new group's chat", || {
        chat.conversation().is_some_and(|c| c.jid() == room)
    })
    .await
    .map_err(|e| format!("{e}; dialog says {:?}", dialog.error()))?;
    let conversation = chat.conversation().ok_or("no conversation")?;
    ensure!(
        conversation.is_room(),
        "the group is not a room: {:?}",
        conversation.kind()
    );
    ensure!(
        chat.composer().encryption() == EncryptionState::Encrypted,
        "the group's lock is {:?}",
        chat.composer().encryption()
    );

    // Bob joins and writes; Alice sees it under his nick.
    request(&bob, {
        let (bob_jid, room) = (bob_jid.clone(), room.clone());
        move |reply| Command::JoinRoom {
            account: bob_jid,
            room,
            nick: None,
            reply,
        }
    })
    .await?;
    let details = window.session_view().room_details();
    let joined = wait_for("Bob among the participants", || {
        details.info().is_some_and(|i| {
            i.participants
                .iter()
                .any(|p| p.jid.as_deref() == Some(bob_jid.as_str()) && p.present)
        })
    })
    .await
    .map_err(|e| {
        let known = ctx.app.rooms().room(&alice_jid, &room);
        format!("{e}: details {:?}; rooms {known:?}", details.info())
    });
    if let Err(e) = joined {
        let bob_view = request(&bob, {
            let (bob_jid, room) = (bob_jid.clone(), room.clone());
            move |reply| Command::RoomDetails {
                account: bob_jid,
                room,
                reply,
            }
        })
        .await;
        let alice_service = ctx.app.service().ok_or("no service")?;
        let alice_view = request(&alice_service, {
            let (alice_jid, room) = (alice_jid.clone(), room.clone());
            move |reply| Command::RoomDetails {
                account: alice_jid,
                room,
                reply,
            }
        })
        .await;
        return Err(format!(
            "{e}\nBob sees {bob_view:?}\nAlice's service says {alice_view:?}"
        ));
    }
    send(&bob, &bob_jid, &room, "Hello everyone, Bob here!").await?;
    let timeline = chat.timeline().ok_or("no timeline")?;
    wait_for("Bob's message with his nick", || {
        items(&timeline).iter().any(|i| {
            i.with_message(|m| {
                m.body.as_deref() == Some("Hello everyone, Bob here!")
                    && m.sender_nick.as_deref() == Some("bob")
            })
            .unwrap_or(false)
        })
    })
    .await
    .map_err(|e| {
        let seen: Vec<_> = items(&timeline)
            .iter()
            .filter_map(|i| i.with_message(|m| (m.sender_nick.clone(), m.body.clone())))
            .collect();
        format!("{e}: {seen:?}")
    })?;

    // Above his bubble: his nick (in his XEP-0392 colour).
    wait_for("Bob's nick above his message", || {
        all_of::<MessageRow>(&chat).iter().any(|row| {
            all_of::<gtk::Label>(row)
                .iter()
                .any(|l| l.is_visible() && l.has_css_class("message-sender") && l.text() == "bob")
        })
    })
    .await?;

    // Alice answers from the composer.
    let composer = chat.composer();
    composer.set_text("Welcome, Bob! First book: Alice in Wonderland.");
    composer
        .activate_action("composer.send", None)
        .map_err(|e| e.to_string())?;
    wait_for("Alice's answer in the chat", || {
        items(&timeline).iter().any(|i| {
            i.is_outgoing()
                && i.with_message(|m| {
                    m.body.as_deref() == Some("Welcome, Bob! First book: Alice in Wonderland.")
                })
                .unwrap_or(false)
        })
    })
    .await?;
    wait_for_settled(&window).await;
    screenshot(&ctx.shots, &window, "groups-chat").await?;

    // The room's details: encryption, and both participants.
    window.session_view().show_details_page();
    wait_for("the room's participants", || {
        details.participant_rows().len() >= 2
    })
    .await?;
    let info = details.info().ok_or("no room info")?;
    ensure!(
        info.encryption_possible,
        "the group is not encrypted: {info:?}"
    );
    ensure!(
        label_texts(&details)
            .iter()
            .any(|t| t == "Messages here are end-to-end encrypted"),
        "no encryption row: {:?}",
        label_texts(&details)
    );
    wait_for_settled(&window).await;
    screenshot(&ctx.shots, &window, "groups-details").await?;

    // Alice owns the room, so she may change its subject there.
    let alice_service = ctx.app.service().ok_or("no service")?;
    let subject_row = details.subject_row();
    ensure!(
        subject_row.is_visible() && subject_row.is_editable(),
        "the owner gets no subject field: {info:?}"
    );
    let subject = "Chapter one: Down the Rabbit-Hole";
    subject_row.set_text(subject);
    subject_row.emit_by_name::<()>("apply", &[]);
    ensure!(
        !subject_row.is_editable(),
        "the subject field can be edited while the room is asked"
    );
    wait_for("the room to take the subject", || subject_row.is_editable()).await?;
    let seen = room_details(&alice_service, &alice_jid, &room, |i| {
        i.subject.as_deref() == Some(subject)
    })
    .await?;
    ensure!(
        subject_row.text() == subject,
        "the subject field shows {:?} after {seen:?}",
        subject_row.text()
    );

    // Her nickname: a free one is taken, Bob's is refused and hers stays.
    let nick_row = details.nick_row();
    ensure!(
        nick_row.text() == "alice",
        "the nickname field shows {:?}",
        nick_row.text()
    );
    nick_row.set_text("Queen of Hearts");
    nick_row.emit_by_name::<()>("apply", &[]);
    let seen = room_details(&alice_service, &alice_jid, &room, |i| {
        i.nick == "Queen of Hearts"
    })
    .await?;
    wait_for("the details with the new nickname", || {
        nick_row.is_editable()
            && details.info().is_some_and(|i| i.nick == "Queen of Hearts")
            && label_texts(&details)
                .iter()
                .any(|t| t == "Queen of Hearts (you)")
    })
    .await
    .map_err(|e| {
        format!(
            "{e}: the service has {seen:?}, details {:?}",
            details.info()
        )
    })?;
    ensure!(
        nick_row.text() == "Queen of Hearts",
        "the nickname field shows {:?}",
        nick_row.text()
    );
    wait_for_settled(&window).await;
    screenshot(&ctx.shots, &window, "groups-details-edited").await?;

    nick_row.set_text("bob");
    nick_row.emit_by_name::<()>("apply", &[]);
    wait_for("the refusal of Bob's nickname", || {
        nick_row.is_editable()
            && label_texts(&window)
                .iter()
                .any(|t| t.starts_with("Could not change your nickname: "))
    })
    .await
    .map_err(|e| format!("{e}: {:?}", label_texts(&window)))?;
    ensure!(
        nick_row.text() == "Queen of Hearts",
        "the refused nickname stays in the field: {:?}",
        nick_row.text()
    );
    let info = request(&alice_service, {
        let (alice_jid, room) = (alice_jid.clone(), room.clone());
        move |reply| Command::RoomDetails {
            account: alice_jid,
            room,
            reply,
        }
    })
    .await?;
    ensure!(
        info.nick == "Queen of Hearts",
        "after the refusal the service has the nick {:?}",
        info.nick
    );
    wait_for_settled(&window).await;
    screenshot(&ctx.shots, &window, "groups-details-nick-refused").await?;
    wait_for("the toast to go", || {
        !label_texts(&window)
            .iter()
            .any(|t| t.starts_with("Could not change your nickname: "))
    })
    .await?;

    // Bob's devices and their trust, in the contact details' device list.
    details
        .activate_action("room.devices", Some(&bob_jid.to_variant()))
        .map_err(|e| e.to_string())?;
    let devices_window = wait_window("Devices of bob").await?;
    let devices: DeviceList = find_type(&devices_window)?;
    wait_for("Bob's devices", || !devices.devices().is_empty()).await?;
    wait_for_settled(&window).await;
    screenshot(&ctx.shots, &devices_window, "groups-devices").await?;
    devices_window.close();

    // Bob invites Alice into a group of his: a row in the sidebar, Join.
    let garden = format!("garden@{muc}");
    request(&bob, {
        let (bob_jid, garden, alice_jid) = (bob_jid.clone(), garden.clone(), alice_jid.clone());
        move |reply| Command::CreateRoom {
            account: bob_jid,
            room: garden,
            name: Some("Garden Club".into()),
            nick: None,
            members: vec![alice_jid],
            channel: false,
            reply,
        }
    })
    .await?;
    let sidebar = window.session_view().sidebar();
    wait_for("the invitation in the sidebar", || {
        all_of::<InvitationRow>(&sidebar)
            .iter()
            .any(|r| r.is_mapped())
    })
    .await?;
    wait_for_settled(&window).await;
    screenshot(&ctx.shots, &window, "groups-invitation").await?;
    let row = all_of::<InvitationRow>(&sidebar)
        .into_iter()
        .next()
        .ok_or("no invitation row")?;
    row.activate_action("invitation.join", None)
        .map_err(|e| e.to_string())?;
    wait_for("the invited group's chat", || {
        chat.conversation().is_some_and(|c| c.jid() == garden)
    })
    .await?;
    wait_for("the invitation to go", || {
        ctx.app.rooms().invitations().n_items() == 0
    })
    .await?;

    // Bob's group (as every group Sotto creates) lets its members change
    // the subject: Alice, a member, finds his subject in the field.
    let tomatoes = "Tomatoes are ready to pick";
    request(&bob, {
        let (bob_jid, garden) = (bob_jid.clone(), garden.clone());
        move |reply| Command::SetSubject {
            account: bob_jid,
            room: garden,
            subject: tomatoes.into(),
            reply,
        }
    })
    .await?;
    window.session_view().show_details_page();
    wait_for("the garden's subject in its details", || {
        details
            .info()
            .is_some_and(|i| i.jid == garden && i.subject.as_deref() == Some(tomatoes))
    })
    .await
    .map_err(|e| format!("{e}: {:?}", details.info()))?;
    let info = details.info().ok_or("no room info")?;
    ensure!(
        info.own_affiliation == Affiliation::Member && info.subject_changeable,
        "a member may not change the subject of Bob's group: {info:?}"
    );
    ensure!(
        details.subject_row().is_visible() && details.subject_row().text() == tomatoes,
        "the garden's subject field shows {:?}",
        details.subject_row().text()
    );
    ensure!(
        details.nick_row().text() == "alice",
        "the nickname of another room is in the garden's field: {:?}",
        details.nick_row().text()
    );
    // Where the room keeps the subject to moderators (as the service
    // reports it), the subject is text to read, not a field.
    let moderated = RoomInfo {
        subject_changeable: false,
        ..info.clone()
    };
    ctx.app.rooms().update(&moderated);
    ensure!(
        !details.subject_row().is_visible(),
        "a subject field where the room does not let us change it"
    );
    ensure!(
        all_of::<gtk::Label>(&details)
            .iter()
            .any(|l| l.text() == tomatoes && l.is_mapped()),
        "the read-only subject is not shown: {:?}",
        label_texts(&details)
    );
    wait_for_settled(&window).await;
    screenshot(&ctx.shots, &window, "groups-details-member").await?;
    // Back to what the service says.
    ctx.app.rooms().update(&info);
    ensure!(
        details.subject_row().is_visible(),
        "the subject field did not come back"
    );

    // The join dialog lists the public channel.
    let join = window.show_join_channel().ok_or("no Join Channel dialog")?;
    wait_for("the public channels", || {
        join.listings().iter().any(|l| l.jid == lobby)
    })
    .await
    .map_err(|e| format!("{e}: {:?}", join.listings()))?;
    screenshot(&ctx.shots, &join, "groups-join").await?;
    join.address_row().set_text(&lobby);
    join.activate_action("join-channel.join", None)
        .map_err(|e| e.to_string())?;
    wait_for("the channel's chat", || {
        chat.conversation().is_some_and(|c| c.jid() == lobby)
    })
    .await
    .map_err(|e| format!("{e}; dialog says {:?}", join.error()))?;
    // A channel is never encrypted: no lock, the reason as a tooltip.
    let composer = chat.composer();
    let lock: gtk::Button = find(&composer, "encryption_button")?;
    wait_for("the channel's composer without a lock", || {
        !lock.is_visible()
    })
    .await?;
    let entry: gtk::TextView = find(&composer, "text_view")?;
    ensure!(
        entry.tooltip_text().is_some_and(|t| !t.is_empty()),
        "the channel's composer does not say why it is not encrypted"
    );

    wait_for_settled(&window).await;
    screenshot(&ctx.shots, &window, "groups-channel").await?;

    // Creating a room that exists and is not ours: the dialog says what
    // the server answered and stays open.
    request(&bob, {
        let (bob_jid, room) = (bob_jid.clone(), format!("secret@{muc}"));
        move |reply| Command::CreateRoom {
            account: bob_jid,
            room,
            name: Some("Secret".into()),
            nick: None,
            members: Vec::new(),
            channel: false,
            reply,
        }
    })
    .await?;
    let again = window.show_new_group().ok_or("no New Group Chat dialog")?;
    again.name_row().set_text("Secret");
    again
        .activate_action("create-group.create", None)
        .map_err(|e| e.to_string())?;
    wait_for("the dialog's error", || again.error().is_some()).await?;
    wait_for_settled(&window).await;
    screenshot(&ctx.shots, &again, "groups-create-error").await?;
    again.close();

    // Preferences: encryption in open group chats, off by default, saved
    // in the service's policy (shared with sotto-cli).
    ctx.app.activate_action("preferences", None);
    let prefs = wait_toplevel::<PreferencesWindow>().await?;
    let open: gtk::Switch = named(&prefs, "open-groups")?;
    wait_for("the policy from the service", || open.is_sensitive()).await?;
    let before = policy(&alice_service).await?;
    ensure!(
        !before.open_groups && !open.is_active(),
        "open group chats are encrypted by default: {before:?}"
    );
    open.set_active(true);
    let now = wait_policy(&alice_service, |p| p.open_groups).await?;
    ensure!(
        now.blind_trust == before.blind_trust && now.stale_device_days == before.stale_device_days,
        "the switch changed more than open groups: {before:?} → {now:?}"
    );
    // The switch sits in the last group: scroll it into the picture.
    let scrolled = open
        .ancestor(gtk::ScrolledWindow::static_type())
        .and_downcast::<gtk::ScrolledWindow>()
        .ok_or("the switch is not in a scrolled page")?;
    let adjustment = scrolled.vadjustment();
    wait_for("the page to be scrollable", || {
        adjustment.upper() > adjustment.page_size()
    })
    .await?;
    adjustment.set_value(adjustment.upper() - adjustment.page_size());
    screenshot(&ctx.shots, &prefs, "groups-preferences").await?;
    open.set_active(false);
    wait_policy(&alice_service, |p| !p.open_groups).await?;
    prefs.close();
    Ok(())
}

/// The service's `RoomDetails` of `room`, once `ok` holds for them.
async fn room_details(
    service: &ServiceHandle,
    account: &str,
    room: &str,
    ok: impl Fn(&RoomInfo) -> bool,
) -> Result<RoomInfo, String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let info = request(service, {
            let (account, room) = (account.to_owned(), room.to_owned());
            move |reply| Command::RoomDetails {
                account,
                room,
                reply,
            }
        })
        .await?;
        if ok(&info) {
            return Ok(info);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "timed out waiting for the room's details: {info:?}"
            ));
        }
        glib::timeout_future(Duration::from_millis(100)).await;
    }
}

async fn policy(service: &ServiceHandle) -> Result<EncryptionPolicy, String> {
    request(service, |reply| Command::EncryptionPolicy { reply }).await
}

/// The service's encryption policy, once `ok` holds for it.
async fn wait_policy(
    service: &ServiceHandle,
    ok: impl Fn(&EncryptionPolicy) -> bool,
) -> Result<EncryptionPolicy, String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let now = policy(service).await?;
        if ok(&now) {
            return Ok(now);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for the policy: {now:?}"));
        }
        glib::timeout_future(Duration::from_millis(100)).await;
    }
}

/// The toplevel titled `title`, once it is shown.
async fn wait_window(title: &str) -> Result<gtk::Window, String> {
    let find = || {
        gtk::Window::list_toplevels()
            .into_iter()
            .filter_map(|w| w.downcast::<gtk::Window>().ok())
            .find(|w| w.title().as_deref() == Some(title) && w.is_visible())
    };
    wait_for(&format!("the window {title:?}"), || find().is_some()).await?;
    find().ok_or_else(|| format!("no window {title:?}"))
}

async fn wait_for_settled(window: &sotto::ui::Window) {
    let root = window.clone().upcast::<gtk::Widget>();
    let _ = wait_for("the window to settle", || settled(&root)).await;
}

fn items(timeline: &Timeline) -> Vec<MessageItem> {
    timeline.items().iter::<MessageItem>().flatten().collect()
}

async fn add_peer(ctx: &Ctx, user: &str, password: &str) -> Result<ServiceHandle, String> {
    let server = Server::of(&ctx.prosody.borrow());
    let (handle, dir) = start_peer(server, user, password).await?;
    ctx.peers.borrow_mut().push((handle.clone(), dir));
    Ok(handle)
}

/// A command on a service (a peer's, or the window's), on the tokio
/// runtime.
async fn request<T: Send + 'static>(
    peer: &ServiceHandle,
    command: impl FnOnce(sotto::service::Reply<T>) -> Command + Send + 'static,
) -> Result<T, String> {
    let peer = peer.clone();
    sotto::runtime::spawn(async move { peer.request(command).await })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the command failed: {}", e.user_message()))
}
