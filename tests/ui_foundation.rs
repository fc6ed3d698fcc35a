//! The real app under Xvfb against a real Prosody: first run with inline
//! errors, the roster, presence, requests, add/remove contact, the
//! connection banner, and the adaptive layout at 360 and 1280 px. It saves
//! screenshots under `$CARGO_TARGET_TMPDIR/screenshots/` for people to look
//! at.
//!
//! Run: `scripts/with-keyring.sh xvfb-run -a env GTK_A11Y=none
//! GSK_RENDERER=cairo cargo test --test ui_foundation`

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;
#[macro_use]
mod ui_support;

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use adw::prelude::*;
use gtk::{gio, glib};
use sotto::service::{Command, ConnectionError, ServiceError, ServiceHandle};
use sotto::ui::login::AccountSetup;
use sotto::ui::preferences::PreferencesWindow;
use sotto::ui::session::model::ContactItem;
use sotto::ui::session::view::AddContactDialog;
use support::Prosody;
use ui_support::*;

struct Ctx {
    app: sotto::ui::Application,
    prosody: RefCell<Prosody>,
    shots: PathBuf,
    /// Other people's clients (service instances), kept alive.
    peers: RefCell<Vec<(ServiceHandle, tempfile::TempDir)>>,
}

fn main() -> ExitCode {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!("ui_foundation needs a display: run it under xvfb-run (see the file's header)");
        return ExitCode::FAILURE;
    }
    let prosody = Prosody::start();
    for (user, password) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "carol-pw"),
        ("dave", "dave-pw"),
        ("erin", "erin-pw"),
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
    run_scenario("ui_foundation", &app, data_dir.path(), move || async move {
        let result = scenario(&ctx).await;
        for (peer, _) in ctx.peers.take() {
            peer.shutdown().await;
        }
        result
    })
}

async fn scenario(ctx: &Ctx) -> TestResult {
    let window = ctx.app.main_window();
    window.set_default_size(960, 680);
    let domain = ctx.prosody.borrow().domain().to_owned();
    let stack: gtk::Stack = find(&window, "main_stack")?;

    // First run: the setup page, nothing else.
    wait_for("the first-run page", || {
        stack.visible_child_name().as_deref() == Some("setup")
    })
    .await?;
    let setup = window.account_setup();
    let address: adw::EntryRow = find(&setup, "address_row")?;
    let password: adw::PasswordEntryRow = find(&setup, "password_row")?;
    let server: adw::EntryRow = find(&setup, "server_row")?;
    let advanced: adw::ExpanderRow = find(&setup, "advanced_row")?;
    ensure!(
        !setup_can_log_in(&setup),
        "Log In is enabled on an empty form"
    );
    screenshot(&ctx.shots, &window, "first-run").await?;

    // An address without "@" is caught inline, before anything is sent.
    address.set_text("alice");
    password.set_text("wonderland");
    ensure!(
        setup_can_log_in(&setup),
        "Log In stays disabled with address and password filled in"
    );
    setup
        .activate_action("setup.log-in", None)
        .map_err(|e| e.to_string())?;
    let message = setup
        .error_message()
        .ok_or("no inline error for an address without @")?;
    ensure!(
        message.contains("name@example.org"),
        "unhelpful address error: {message}"
    );
    ensure!(
        !setup.is_busy(),
        "the form went busy for an invalid address"
    );
    ensure!(
        address.has_css_class("error"),
        "the address row is not marked as wrong"
    );
    // Fixing it clears the error while typing.
    address.set_text(&format!("alice@{domain}"));
    ensure!(
        setup.error_message().is_none(),
        "the error stays after the address was fixed"
    );
    ensure!(
        !address.has_css_class("error"),
        "the address row stays marked as wrong"
    );

    // A server that is not host:port is caught inline too.
    advanced.set_expanded(true);
    server.set_text("localhost");
    setup
        .activate_action("setup.log-in", None)
        .map_err(|e| e.to_string())?;
    ensure!(
        setup
            .error_message()
            .is_some_and(|m| m.contains("host:port")),
        "no inline error for a server without port: {:?}",
        setup.error_message()
    );

    // Wrong password: the service's own sentence shows under the form.
    let prosody_address = ctx.prosody.borrow().address();
    server.set_text(&prosody_address);
    setup.set_ca_file(Some(ctx.prosody.borrow().ca_file().to_path_buf()));
    password.set_text("not-the-password");
    setup
        .activate_action("setup.log-in", None)
        .map_err(|e| e.to_string())?;
    ensure!(setup.is_busy(), "no busy state while connecting");
    wait_for("the wrong-password answer", || !setup.is_busy()).await?;
    let expected = ServiceError::Connection(ConnectionError::WrongPassword).user_message();
    let message = setup
        .error_message()
        .ok_or("no inline error for a wrong password")?;
    ensure!(
        message == expected,
        "wrong-password error reads {message:?}, expected {expected:?}"
    );
    ensure!(
        stack.visible_child_name().as_deref() == Some("setup"),
        "left the setup page after a failed login"
    );
    screenshot(&ctx.shots, &window, "first-run-wrong-password").await?;

    // Bob is online with his own client, so his presence shows.
    let bob = add_peer(ctx, "bob", "builder").await?;

    // The right password: the roster appears in the sidebar.
    password.set_text("wonderland");
    setup
        .activate_action("setup.log-in", None)
        .map_err(|e| e.to_string())?;
    wait_for("the session view", || {
        stack.visible_child_name().as_deref() == Some("session")
    })
    .await?;
    let session_view = window.session_view();
    let sidebar = session_view.sidebar();
    let roster = sidebar.roster().ok_or("the sidebar has no roster model")?;
    wait_for("Bob and Carol in the roster", || {
        roster_names(&roster) == ["Bob Builder", "Carol Danvers"]
    })
    .await?;
    let banner = sidebar.banner();
    wait_for("the banner to hide once online", || {
        banner.message().is_none()
    })
    .await?;
    let bob_item = contact(&roster, "Bob Builder")?;
    wait_for("Bob's presence", || {
        bob_item.presence() == sotto::ui::session::model::Presence::Available
    })
    .await?;
    ensure!(
        bob_item.subtitle() == "Available",
        "Bob's row says {:?}",
        bob_item.subtitle()
    );
    let carol_item = contact(&roster, "Carol Danvers")?;
    ensure!(
        carol_item.subtitle() == "Offline",
        "Carol's row says {:?}",
        carol_item.subtitle()
    );

    // Dave asks to see Alice's status: a request row with Accept/Decline.
    let dave = add_peer(ctx, "dave", "dave-pw").await?;
    let alice_jid = format!("alice@{domain}");
    let dave_jid = format!("dave@{domain}");
    dave.request(|reply| Command::AddContact {
        account: dave_jid.clone(),
        jid: alice_jid.clone(),
        name: Some("Alice".into()),
        reply,
    })
    .await
    .map_err(|e| format!("dave cannot add alice: {e}"))?;
    let requests = ctx.app.session().requests();
    wait_for("Dave's subscription request", || requests.n_items() == 1).await?;
    ensure!(
        ctx.app.session().contact(&alice_jid, &dave_jid).is_none(),
        "Dave is listed twice: as a request and as a contact"
    );
    let requests_revealer: gtk::Revealer = find(&sidebar, "requests_revealer")?;
    ensure!(
        requests_revealer.reveals_child(),
        "the request is not shown"
    );

    // The main screenshot: roster with details, a request, wide enough.
    sidebar.select(0);
    wait_for("Bob's details", || {
        session_view
            .details()
            .contact()
            .is_some_and(|c| c.display_name() == "Bob Builder")
    })
    .await?;
    screenshot(&ctx.shots, &window, "roster").await?;

    // Accept Dave: the request goes away.
    let request_row = find_type::<sotto::ui::session::view::SubscriptionRequestRow>(&sidebar)?;
    request_row
        .activate_action("request.accept", None)
        .map_err(|e| e.to_string())?;
    wait_for("the request to be answered", || requests.n_items() == 0).await?;

    // Wide: sidebar and details side by side.
    resize(&window, 1280, 800).await?;
    ensure!(!session_view.is_folded(), "folded at 1280 px");
    screenshot(&ctx.shots, &window, "wide-1280").await?;

    // Narrow: one pane at a time, the details with a back button.
    resize(&window, 360, 720).await?;
    wait_for("the leaflet to fold at 360 px", || session_view.is_folded()).await?;
    let back: gtk::Button = find(&session_view.details(), "back_button")?;
    ensure!(back.is_visible(), "no back button when folded");
    back.activate_action("details.back", None)
        .map_err(|e| e.to_string())?;
    wait_for("the roster pane", || !session_view.shows_details()).await?;
    screenshot(&ctx.shots, &window, "narrow-360").await?;
    sidebar.select(1);
    wait_for("Carol's details in the narrow window", || {
        session_view.shows_details()
    })
    .await?;
    screenshot(&ctx.shots, &window, "narrow-360-details").await?;
    back.activate_action("details.back", None)
        .map_err(|e| e.to_string())?;
    resize(&window, 1000, 700).await?;

    // Add a contact: a typo is caught inline, then Erin is added as pending.
    WidgetExt::activate_action(&window, "win.add-contact", None).map_err(|e| e.to_string())?;
    let dialog = wait_toplevel::<AddContactDialog>().await?;
    let dialog_address: adw::EntryRow = find(&dialog, "address_row")?;
    let dialog_name: adw::EntryRow = find(&dialog, "name_row")?;
    dialog_address.set_text("erin@");
    dialog
        .activate_action("add-contact.add", None)
        .map_err(|e| e.to_string())?;
    let dialog_error: gtk::Revealer = find(&dialog, "error_revealer")?;
    ensure!(dialog_error.reveals_child(), "no inline error for “erin@”");
    dialog_address.set_text(&format!("erin@{domain}"));
    dialog_name.set_text("Erin Example");
    screenshot(&ctx.shots, &dialog, "add-contact").await?;
    dialog
        .activate_action("add-contact.add", None)
        .map_err(|e| e.to_string())?;
    wait_for("the dialog to close", || !dialog.is_visible()).await?;
    wait_for("Erin in the roster", || {
        roster_names(&roster).contains(&"Erin Example".to_owned())
    })
    .await?;
    let erin = contact(&roster, "Erin Example")?;
    wait_for("Erin pending", || erin.pending_out()).await?;
    ensure!(
        erin.subtitle().contains("awaiting"),
        "Erin's row says {:?}",
        erin.subtitle()
    );

    // Remove Erin, after confirming.
    let erin_position = position(&roster, "Erin Example")?;
    sidebar.select(erin_position);
    wait_for("Erin's details", || {
        session_view.details().contact().as_ref() == Some(&erin)
    })
    .await?;
    session_view
        .details()
        .activate_action("details.remove-contact", None)
        .map_err(|e| e.to_string())?;
    let confirm = wait_toplevel::<adw::MessageDialog>().await?;
    screenshot(&ctx.shots, &confirm, "remove-contact-confirm").await?;
    confirm.response("remove");
    wait_for("Erin to leave the roster", || {
        !roster_names(&roster).contains(&"Erin Example".to_owned())
    })
    .await?;
    wait_for("the details to clear", || {
        session_view.details().contact().is_none()
    })
    .await?;

    // The server goes away: the banner says so; Retry once it is back.
    ctx.prosody.borrow_mut().stop();
    wait_for("the connection banner", || {
        banner.message().is_some_and(|m| !m.contains("Connecting"))
    })
    .await?;
    ensure!(
        bob_item.presence() == sotto::ui::session::model::Presence::Offline,
        "Bob still shows as {:?} while we are offline",
        bob_item.presence()
    );
    let retry: gtk::Button = find(&banner, "retry_button")?;
    ensure!(retry.is_visible(), "no Retry button on the banner");
    screenshot(&ctx.shots, &window, "connection-error-banner").await?;
    ctx.prosody.borrow_mut().restart();
    banner
        .activate_action("banner.retry", None)
        .map_err(|e| e.to_string())?;
    wait_for("the banner to hide after Retry", || {
        banner.message().is_none()
    })
    .await?;

    // An xmpp: link to someone new offers to add them, address filled in.
    let link = format!("xmpp:erin@{domain}?roster;name=Erin");
    ctx.app.open(&[gio::File::for_uri(&link)], "");
    let offer = wait_toplevel::<AddContactDialog>().await?;
    let offered: adw::EntryRow = find(&offer, "address_row")?;
    ensure!(
        offered.text() == format!("erin@{domain}"),
        "the xmpp: link filled in {:?}",
        offered.text()
    );
    offer.close();
    wait_for("the offer to close", || !offer.is_visible()).await?;

    // Preferences show the account and offer to remove it.
    ctx.app.activate_action("preferences", None);
    let preferences = wait_toplevel::<PreferencesWindow>().await?;
    ensure!(
        label_texts(&preferences).iter().any(|t| t == &alice_jid),
        "the preferences do not show {alice_jid}"
    );
    screenshot(&ctx.shots, &preferences, "preferences").await?;
    preferences.close();
    drop(bob);
    Ok(())
}

/// Start another person's client (a second service), logged in.
async fn add_peer(ctx: &Ctx, user: &str, password: &str) -> Result<ServiceHandle, String> {
    let server = Server::of(&ctx.prosody.borrow());
    let (handle, dir) = start_peer(server, user, password).await?;
    ctx.peers.borrow_mut().push((handle.clone(), dir));
    Ok(handle)
}

/// Buttons bound to a disabled action are insensitive.
fn setup_can_log_in(setup: &AccountSetup) -> bool {
    find::<gtk::Button>(setup, "log_in_button").is_ok_and(|b| b.is_sensitive())
}

/// The roster as the list shows it (a selection model of `ContactItem`s).
fn contacts(roster: &gio::ListModel) -> Vec<ContactItem> {
    roster
        .iter::<glib::Object>()
        .flatten()
        .filter_map(|o| o.downcast::<ContactItem>().ok())
        .collect()
}

fn roster_names(roster: &gio::ListModel) -> Vec<String> {
    contacts(roster).iter().map(|c| c.display_name()).collect()
}

fn contact(roster: &gio::ListModel, name: &str) -> Result<ContactItem, String> {
    contacts(roster)
        .into_iter()
        .find(|c| c.display_name() == name)
        .ok_or_else(|| format!("{name} is not in the roster: {:?}", roster_names(roster)))
}

fn position(roster: &gio::ListModel, name: &str) -> Result<u32, String> {
    roster_names(roster)
        .iter()
        .position(|n| n == name)
        .map(|p| p as u32)
        .ok_or_else(|| format!("{name} is not in the roster"))
}
