//! What the GUI scenarios (ui_*.rs, run under Xvfb) share: waiting on the
//! main loop, finding widgets, screenshots, and peers on the test server.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::{glib, graphene};
use sotto::service::{self, Command, ServerOverride, ServiceHandle, ServiceOptions};
use zeroize::Zeroizing;

pub type TestResult = Result<(), String>;

/// `assert!` for scenarios that report failures instead of panicking
/// inside a GLib callback.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Iterate the main loop until `cond` holds.
pub async fn wait_for(what: &str, cond: impl FnMut() -> bool) -> TestResult {
    wait_for_at_most(TIMEOUT, what, cond).await
}

pub async fn wait_for_at_most(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) -> TestResult {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        glib::timeout_future(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The first visible toplevel window of type `W`, once there is one.
pub async fn wait_toplevel<W: IsA<gtk::Window> + IsA<gtk::Widget>>() -> Result<W, String> {
    let mut found = None;
    wait_for(std::any::type_name::<W>(), || {
        found = gtk::Window::list_toplevels()
            .into_iter()
            .filter_map(|w| w.downcast::<W>().ok())
            .find(|w| WidgetExt::is_visible(w));
        found.is_some()
    })
    .await?;
    found.ok_or_else(|| "vanished".into())
}

/// Resize as a person would. Without a window manager, X11 applies a new
/// default size only when the window is mapped again.
pub async fn resize(window: &sotto::ui::Window, width: i32, height: i32) -> TestResult {
    window.set_visible(false);
    window.set_default_size(width, height);
    window.present();
    // The surface includes the client-side decoration's few pixels of
    // border, so the widget ends up slightly smaller than asked for.
    let close = |have: i32, want: i32| (want - 24..=want).contains(&have);
    let result = wait_for("the window to take its new size", || {
        close(window.width(), width) && close(window.height(), height)
    })
    .await;
    result.map_err(|e| {
        format!(
            "{e}: asked {width}×{height}, have {}×{}",
            window.width(),
            window.height()
        )
    })
}

fn first(root: &gtk::Widget, matches: &dyn Fn(&gtk::Widget) -> bool) -> Option<gtk::Widget> {
    if matches(root) {
        return Some(root.clone());
    }
    let mut child = root.first_child();
    while let Some(c) = child {
        if let Some(found) = first(&c, matches) {
            return Some(found);
        }
        child = c.next_sibling();
    }
    None
}

/// The widget with buildable id `id` (its template id) under `root`.
pub fn find<W: IsA<gtk::Widget>>(root: &impl IsA<gtk::Widget>, id: &str) -> Result<W, String> {
    first(root.as_ref(), &|w| w.buildable_id().as_deref() == Some(id))
        .ok_or_else(|| format!("no widget with id {id}"))?
        .downcast::<W>()
        .map_err(|w| format!("{id} is a {}", w.type_().name()))
}

/// The widget named `name` (`gtk::Widget::widget_name`) under `root`.
pub fn named<W: IsA<gtk::Widget>>(root: &impl IsA<gtk::Widget>, name: &str) -> Result<W, String> {
    first(root.as_ref(), &|w| w.widget_name() == name)
        .ok_or_else(|| format!("no widget named {name}"))?
        .downcast::<W>()
        .map_err(|w| format!("{name} is a {}", w.type_().name()))
}

/// The first widget of type `W` under `root`.
pub fn find_type<W: IsA<gtk::Widget>>(root: &impl IsA<gtk::Widget>) -> Result<W, String> {
    first(root.as_ref(), &|w| w.is::<W>())
        .and_then(|w| w.downcast::<W>().ok())
        .ok_or_else(|| format!("no {}", std::any::type_name::<W>()))
}

/// Every widget of type `W` under `root`.
pub fn all_of<W: IsA<gtk::Widget>>(root: &impl IsA<gtk::Widget>) -> Vec<W> {
    let mut out = Vec::new();
    let mut stack = vec![root.as_ref().clone()];
    while let Some(widget) = stack.pop() {
        if let Some(w) = widget.downcast_ref::<W>() {
            out.push(w.clone());
        }
        let mut child = widget.first_child();
        while let Some(c) = child {
            stack.push(c.clone());
            child = c.next_sibling();
        }
    }
    out
}

/// The text of every label under `root`.
pub fn label_texts(root: &impl IsA<gtk::Widget>) -> Vec<String> {
    all_of::<gtk::Label>(root)
        .iter()
        .map(|l| l.text().to_string())
        .collect()
}

/// Whether every stack, revealer and leaflet under `root` has finished
/// animating, so a screenshot shows the resting state.
pub fn settled(root: &gtk::Widget) -> bool {
    if let Some(stack) = root.downcast_ref::<gtk::Stack>()
        && stack.is_transition_running()
    {
        return false;
    }
    if let Some(revealer) = root.downcast_ref::<gtk::Revealer>()
        && revealer.is_child_revealed() != revealer.reveals_child()
    {
        return false;
    }
    if let Some(leaflet) = root.downcast_ref::<adw::Leaflet>()
        && leaflet.is_child_transition_running()
    {
        return false;
    }
    let mut child = root.first_child();
    while let Some(c) = child {
        if c.is_visible() && !settled(&c) {
            return false;
        }
        child = c.next_sibling();
    }
    true
}

/// Where screenshots go (the ones the README shows are copied from here
/// to data/screenshots by hand, so a test run leaves the tree clean).
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Render `widget` as it is on screen into `<dir>/<name>.png`.
pub async fn screenshot(dir: &Path, widget: &impl IsA<gtk::Widget>, name: &str) -> TestResult {
    let widget = widget.as_ref();
    wait_for("animations to finish", || settled(widget)).await?;
    // Let rows that just came in get measured and drawn.
    glib::timeout_future(Duration::from_millis(150)).await;
    let path = dir.join(format!("{name}.png"));
    let paintable = gtk::WidgetPaintable::new(Some(widget));
    let mut saved = false;
    wait_for("a drawn frame", || {
        let (width, height) = (widget.width(), widget.height());
        if width <= 0 || height <= 0 {
            return false;
        }
        let snapshot = gtk::Snapshot::new();
        paintable.snapshot(&snapshot, f64::from(width), f64::from(height));
        let Some(node) = snapshot.to_node() else {
            return false;
        };
        let Some(native) = widget.native() else {
            return false;
        };
        let Some(renderer) = native.renderer() else {
            return false;
        };
        let bounds = graphene::Rect::new(0.0, 0.0, width as f32, height as f32);
        let texture = renderer.render_texture(&node, Some(&bounds));
        saved = texture.save_to_png(&path).is_ok();
        saved
    })
    .await?;
    ensure!(saved && is_png(&path), "could not save {}", path.display());
    println!("screenshot: {}", path.display());
    Ok(())
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 1000 && b.starts_with(b"\x89PNG"))
}

/// Where a peer's service logs in: the test server's address, CA and domain.
pub struct Server {
    pub address: String,
    pub ca_file: PathBuf,
    pub domain: String,
}

impl Server {
    pub fn of(prosody: &crate::support::Prosody) -> Server {
        Server {
            address: prosody.address(),
            ca_file: prosody.ca_file().to_path_buf(),
            domain: prosody.domain().to_owned(),
        }
    }
}

/// Another person's client: a service of its own on a fresh profile,
/// logged in as `user` and online. Keep the directory alive with it.
pub async fn start_peer(
    server: Server,
    user: &str,
    password: &str,
) -> Result<(ServiceHandle, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let jid = format!("{user}@{}", server.domain);
    let password = Zeroizing::new(password.to_owned());
    let handle = run_peer(dir.path(), move |handle| async move {
        handle
            .request(|reply| Command::AddAccount {
                jid,
                password,
                server: ServerOverride {
                    address: Some(server.address),
                    ca_file: Some(server.ca_file),
                },
                reply,
            })
            .await
            .map(drop)
            .map_err(|e| format!("the peer cannot log in: {e}"))
    })
    .await?;
    Ok((handle, dir))
}

/// Start a peer again on the profile it had (after `shutdown`).
pub async fn restart_peer(dir: &Path) -> Result<ServiceHandle, String> {
    run_peer(dir, |handle| async move {
        handle.send(Command::ConnectAll).map_err(|e| e.to_string())
    })
    .await
}

/// The service on `dir`, `login` run once it is up; returns when online.
async fn run_peer<F, Fut>(dir: &Path, login: F) -> Result<ServiceHandle, String>
where
    F: FnOnce(ServiceHandle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let options = ServiceOptions {
        data_dir: dir.to_path_buf(),
        connect: false,
    };
    // Everything on the tokio runtime: the GLib main loop has no timers
    // for it.
    sotto::runtime::spawn(async move {
        let (handle, mut events) = service::start(options)
            .await
            .map_err(|e| format!("peer service: {e}"))?;
        // Tell when the peer is online; then keep draining so nothing
        // piles up.
        let (online_tx, online_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut online_tx = Some(online_tx);
            while let Some(event) = events.next().await {
                if let service::Event::Connection {
                    state: service::ConnectionState::Online,
                    ..
                } = event
                    && let Some(tx) = online_tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        login(handle.clone()).await?;
        tokio::time::timeout(TIMEOUT, online_rx)
            .await
            .map_err(|_| "the peer did not come online".to_owned())?
            .map_err(|_| "the peer's service stopped".to_owned())?;
        Ok(handle)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Send as `from` from a peer's service; the peer's stored message.
pub async fn send(
    peer: &ServiceHandle,
    from: &str,
    to: &str,
    body: &str,
) -> Result<sotto::service::ChatMessage, String> {
    let (peer, from, to, body) = (
        peer.clone(),
        from.to_owned(),
        to.to_owned(),
        body.to_owned(),
    );
    sotto::runtime::spawn(async move {
        peer.request(|reply| Command::SendMessage {
            account: from,
            to,
            body,
            reply,
        })
        .await
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("the peer cannot send: {e}"))
}

/// Sign in on the first-run page, as a user would.
pub async fn log_in(
    window: &sotto::ui::Window,
    server: &Server,
    jid: &str,
    password: &str,
) -> TestResult {
    let stack: gtk::Stack = find(window, "main_stack")?;
    wait_for("the first-run page", || {
        stack.visible_child_name().as_deref() == Some("setup")
    })
    .await?;
    let setup = window.account_setup();
    let address: adw::EntryRow = find(&setup, "address_row")?;
    let password_row: adw::PasswordEntryRow = find(&setup, "password_row")?;
    let server_row: adw::EntryRow = find(&setup, "server_row")?;
    address.set_text(jid);
    password_row.set_text(password);
    server_row.set_text(&server.address);
    setup.set_ca_file(Some(server.ca_file.clone()));
    setup
        .activate_action("setup.log-in", None)
        .map_err(|e| e.to_string())?;
    wait_for("the session view", || {
        stack.visible_child_name().as_deref() == Some("session")
    })
    .await
}

/// Runs the real app on `data_dir` and `scenario` once it is activated,
/// then quits and reports in the format of these harness-less tests.
/// `scenario` does its own clean-up (peers) before it returns.
pub fn run_scenario<Fut>(
    name: &str,
    app: &sotto::ui::Application,
    data_dir: &Path,
    scenario: impl FnOnce() -> Fut + 'static,
) -> std::process::ExitCode
where
    Fut: std::future::Future<Output = TestResult> + 'static,
{
    use std::cell::RefCell;
    use std::process::ExitCode;
    use std::rc::Rc;

    let outcome: Rc<RefCell<Option<TestResult>>> = Rc::default();
    let scenario = RefCell::new(Some(scenario));
    app.connect_activate(glib::clone!(
        #[strong]
        outcome,
        move |app| {
            // Activated again (a second window request): the run goes on.
            let Some(scenario) = scenario.take() else {
                return;
            };
            let (outcome, app) = (outcome.clone(), app.clone());
            glib::spawn_future_local(async move {
                let result = scenario().await;
                outcome.replace(Some(result));
                app.quit();
            });
        }
    ));
    let data_arg = data_dir.to_string_lossy().into_owned();
    app.run_with_args(&["sotto-ui-test", "--data-dir", &data_arg]);

    match outcome.take() {
        Some(Ok(())) => {
            println!("{name}: screenshots in {}", screenshot_dir().display());
            println!("1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Some(Err(e)) => {
            eprintln!("{name} FAILED: {e}");
            println!("0 passed, 1 failed");
            ExitCode::FAILURE
        }
        None => {
            eprintln!("{name} FAILED: the app quit before the scenario finished");
            println!("0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}
