//! The Backup page of Preferences, in the real app under Xvfb: a profile
//! whose last backup is 100 days old shows the reminder at start, its
//! button opens the Backup page; 30,000 messages are backed up with
//! progress (the reminder goes away), restored (everything
//! already there, nothing doubled), a second backup is cancelled (no file
//! left), and a wrong passphrase is refused. No server is needed: backups
//! are local. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/screenshots/backup-*.png`.
//!
//! Run: `GTK_A11Y=none GSK_RENDERER=cairo scripts/with-keyring.sh xvfb-run -a
//! -s "-screen 0 1600x1200x24" cargo test --test ui_backup`

mod support;
#[macro_use]
mod ui_support;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use adw::prelude::*;
use gtk::gio;
use sotto::store::{Encryption, MessageState, NewMessage, insert_message_in};
use sotto::ui::preferences::PreferencesWindow;
use ui_support::*;

/// 30,000 messages through scrypt and zstd in a debug build, on a busy CI.
const LONG: std::time::Duration = std::time::Duration::from_secs(120);
const ALICE: &str = "alice@example.org";
const MESSAGES: u32 = 30_000;
const PASSPHRASE: &str = "orange lantern seventeen quietly";

struct Ctx {
    app: sotto::ui::Application,
    shots: PathBuf,
    out: tempfile::TempDir,
}

fn main() -> ExitCode {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!("ui_backup needs a display: run it under xvfb-run (see the file's header)");
        return ExitCode::FAILURE;
    }
    let data_dir = tempfile::tempdir().expect("temp data dir");
    if let Err(e) = sotto::runtime::runtime().block_on(make_profile(data_dir.path())) {
        eprintln!("ui_backup FAILED: cannot make the profile: {e}");
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    }
    let shots = screenshot_dir();

    sotto::ui::init();
    let app = sotto::ui::Application::new();
    app.set_flags(app.flags() | gio::ApplicationFlags::NON_UNIQUE);
    let ctx = Rc::new(Ctx {
        app: app.clone(),
        shots,
        out: tempfile::tempdir().expect("output dir"),
    });
    run_scenario("ui_backup", &app, data_dir.path(), move || async move {
        scenario(&ctx).await
    })
}

/// A profile as the app makes one (key in the keyring) with an account and
/// a long history in 30 conversations.
async fn make_profile(dir: &Path) -> Result<(), String> {
    let (store, account) = support::profile::offline_profile(dir, ALICE).await?;
    let mut tx = store.begin_received().await.map_err(|e| e.to_string())?;
    for n in 0..MESSAGES {
        let peer = format!("friend{}@example.org", n % 30);
        let mut m = NewMessage::incoming(&peer, &peer, Some(&format!("message number {n}")));
        m.stanza_id = Some(format!("s{n}"));
        m.stanza_id_by = Some(ALICE.into());
        m.timestamp = 1_700_000_000_000 + i64::from(n) * 1000;
        m.encryption = Encryption::Omemo2;
        m.state = MessageState::Received;
        insert_message_in(&mut tx, account, &m)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    // The last backup was 100 days ago: the app reminds at start.
    let long_ago = sotto::store::now_ms() - 100 * 86_400_000;
    store
        .set_setting(sotto::backup::LAST_EXPORT_KEY, &long_ago.to_string())
        .await
        .map_err(|e| e.to_string())?;
    store.close().await;
    Ok(())
}

async fn scenario(ctx: &Ctx) -> TestResult {
    let window = ctx.app.main_window();
    window.set_default_size(1000, 720);
    let session = ctx.app.session();
    wait_for("the account from the archive", || session.has_accounts()).await?;
    wait_for("the service", || ctx.app.service().is_some()).await?;

    // The reminder, and its button opening Preferences at the Backup page.
    wait_for("the backup reminder", || window.has_backup_reminder()).await?;
    screenshot(&ctx.shots, &window, "backup-reminder").await?;
    ctx.app.activate_action("backup", None);
    let prefs = gtk::Window::list_toplevels()
        .into_iter()
        .find_map(|w| w.downcast::<PreferencesWindow>().ok())
        .ok_or("the reminder's button opened no Preferences")?;
    prefs.set_default_size(640, 1100);
    let page = prefs.backup_page().ok_or("no Backup page")?;
    ensure!(
        prefs.visible_page().as_ref() == Some(page.widget().upcast_ref()),
        "Preferences opened on another page"
    );
    screenshot(&ctx.shots, &prefs, "backup-page").await?;

    // Export with progress.
    let file = ctx.out.path().join("history.age");
    page.set_export_file(&file);
    entry(&prefs, "export-passphrase")?.set_text(PASSPHRASE);
    entry(&prefs, "export-passphrase-repeat")?.set_text(PASSPHRASE);
    let export: gtk::Button = named(&prefs, "export")?;
    ensure!(
        export.is_sensitive(),
        "Back Up stays disabled with a good passphrase"
    );
    screenshot(&ctx.shots, &prefs, "backup-export-ready").await?;
    export.emit_clicked();
    ensure!(page.is_running(), "the export did not start");
    wait_for("export progress", || {
        let f = page.progress_fraction();
        (f > 0.05 && f < 0.95) || !page.is_running()
    })
    .await?;
    ensure!(
        page.is_running(),
        "the export ended before any progress was seen"
    );
    screenshot(&ctx.shots, &prefs, "backup-export-progress").await?;
    wait_for_at_most(LONG, "the export to finish", || !page.is_running()).await?;
    let text = page.result_text().unwrap_or_default();
    ensure!(
        text.contains("30000") || text.contains("30,000"),
        "export result: {text}"
    );
    ensure!(file.exists(), "no backup file");
    ensure!(
        !window.has_backup_reminder(),
        "the reminder stays after a backup"
    );
    screenshot(&ctx.shots, &prefs, "backup-export-done").await?;

    // Import: everything is already here.
    page.set_import_file(&file);
    entry(&prefs, "import-passphrase")?.set_text(PASSPHRASE);
    let import: gtk::Button = named(&prefs, "import")?;
    import.emit_clicked();
    wait_for("import progress", || {
        let f = page.progress_fraction();
        (f > 0.05 && f < 0.95) || !page.is_running()
    })
    .await?;
    ensure!(
        page.is_running(),
        "the import ended before any progress was seen"
    );
    screenshot(&ctx.shots, &prefs, "backup-import-progress").await?;
    wait_for_at_most(LONG, "the import to finish", || !page.is_running()).await?;
    let text = page.result_text().unwrap_or_default();
    ensure!(text.contains("already here"), "import result: {text}");
    screenshot(&ctx.shots, &prefs, "backup-import-done").await?;

    // Cancel a second export: no file, nothing beside it.
    let second = ctx.out.path().join("second.age");
    page.set_export_file(&second);
    entry(&prefs, "export-passphrase")?.set_text(PASSPHRASE);
    entry(&prefs, "export-passphrase-repeat")?.set_text(PASSPHRASE);
    export.emit_clicked();
    wait_for("the second export to start", || {
        page.progress_fraction() > 0.05
    })
    .await?;
    page.cancel();
    wait_for("the cancel to land", || !page.is_running()).await?;
    let text = page.result_text().unwrap_or_default();
    ensure!(text.contains("Cancelled"), "cancel result: {text}");
    let left: Vec<_> = std::fs::read_dir(ctx.out.path())
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ensure!(left == ["history.age"], "files left after cancel: {left:?}");
    screenshot(&ctx.shots, &prefs, "backup-cancelled").await?;

    // A wrong passphrase is refused, clearly.
    entry(&prefs, "import-passphrase")?.set_text("not the passphrase");
    import.emit_clicked();
    wait_for("the refusal", || !page.is_running()).await?;
    let text = page.result_text().unwrap_or_default();
    ensure!(
        text.contains("passphrase"),
        "wrong passphrase result: {text}"
    );
    screenshot(&ctx.shots, &prefs, "backup-wrong-passphrase").await?;

    // The Account page: privacy switches (GSettings) and the encryption
    // policy, which lives in the service and is shared with sotto-cli.
    prefs.set_visible_page_name("account");
    let blind: gtk::Switch = named(&prefs, "blind-trust")?;
    wait_for("the policy from the service", || blind.is_sensitive()).await?;
    ensure!(blind.is_active(), "blind trust is not the default");
    let typing: gtk::Switch = named(&prefs, "send-typing")?;
    ensure!(
        typing.is_active(),
        "typing notifications are off by default"
    );
    blind.set_active(false);
    let stale: gtk::SpinButton = named(&prefs, "stale-days")?;
    stale.set_value(7.0);
    let service = ctx.app.service().ok_or("no service")?;
    let mut policy = None;
    wait_for("the policy to be saved", || {
        let service = service.clone();
        policy = sotto::runtime::runtime()
            .block_on(async move {
                service
                    .request(|reply| sotto::service::Command::EncryptionPolicy { reply })
                    .await
            })
            .ok();
        policy.is_some_and(|p| !p.blind_trust && p.stale_device_days == 7)
    })
    .await
    .map_err(|e| format!("{e}: the service has {policy:?}"))?;
    screenshot(&ctx.shots, &prefs, "preferences-account").await?;
    prefs.close();
    Ok(())
}

fn entry(root: &impl IsA<gtk::Widget>, name: &str) -> Result<adw::PasswordEntryRow, String> {
    named(root, name)
}
