//! A conversation of 100,000 messages in a bounded window, in the real app
//! under Xvfb (the timeline asks the app's service for its pages). The
//! archive is written straight into the store in one statement: no server,
//! and not 100,000 service round trips.
//!
//! First the model alone: the timeline opens at the latest page, pages up
//! to the first message and back down to the latest, one page per call,
//! and never holds more than `Timeline::MAX_ROWS` rows; every message
//! passes once, in order, each way. Then the chat view on the same
//! conversation, opened with 600 unread messages: scrolling up pages in
//! until the "new messages" divider is placed 600 messages up (rows are
//! dropped at the bottom meanwhile); scrolling down drops rows above the
//! view without moving what is on screen; the divider comes back with its
//! row; the jump-to-bottom button returns to the latest message.
//!
//! Run: `GTK_A11Y=none GSK_RENDERER=cairo scripts/with-keyring.sh xvfb-run -a
//! -s "-screen 0 1600x1200x24" cargo test --features gui --test ui_timeline_window`

mod support;
#[macro_use]
mod ui_support;

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use adw::prelude::*;
use gtk::{gio, glib};
use sotto::store::{NewMessage, insert_message_in};
use sotto::ui::session::model::{Conversation, MessageItem, PAGE_SIZE, Timeline};
use sotto::ui::session::view::chat::MessageRow;
use ui_support::*;

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";
const MESSAGES: u32 = 100_000;
/// Unread when the chat opens: more than the window holds.
const UNREAD: u32 = 600;
/// The first message's time; one follows every 30 seconds.
const START: i64 = 1_700_000_000_000;
/// A bound is a few pages, not a good part of the conversation.
const FEW_PAGES: u32 = 20 * PAGE_SIZE;

struct Ctx {
    app: sotto::ui::Application,
    /// Row ids of the conversation, oldest first.
    ids: Vec<i64>,
}

fn main() -> ExitCode {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!(
            "ui_timeline_window needs a display: run it under xvfb-run (see the file's header)"
        );
        return ExitCode::FAILURE;
    }
    let data_dir = tempfile::tempdir().expect("temp data dir");
    let made = Instant::now();
    let ids = match sotto::runtime::runtime().block_on(make_profile(data_dir.path())) {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("ui_timeline_window FAILED: cannot make the profile: {e}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    println!("{MESSAGES} messages written in {:.1?}", made.elapsed());

    sotto::ui::init();
    let app = sotto::ui::Application::new();
    app.set_flags(app.flags() | gio::ApplicationFlags::NON_UNIQUE);
    let ctx = Rc::new(Ctx {
        app: app.clone(),
        ids,
    });
    run_scenario(
        "ui_timeline_window",
        &app,
        data_dir.path(),
        move || async move { scenario(&ctx).await },
    )
}

/// Alice's profile with Bob's 100,000 messages (every third one hers) and
/// the last `UNREAD` of them unread. Returns the message ids, oldest first.
async fn make_profile(dir: &Path) -> Result<Vec<i64>, String> {
    let e = |e: sqlx::Error| e.to_string();
    let (store, account) = support::profile::offline_profile(dir, ALICE).await?;
    let mut tx = store.begin_received().await.map_err(|e| e.to_string())?;
    // The first message as the service stores one: it makes the
    // conversation.
    let mut first = NewMessage::incoming(BOB, BOB, Some("message 0"));
    first.timestamp = START;
    insert_message_in(&mut tx, account, &first)
        .await
        .map_err(|e| e.to_string())?;
    let conversation: i64 =
        sqlx::query_scalar("SELECT id FROM conversations WHERE account_id = ? AND jid = ?")
            .bind(account)
            .bind(BOB)
            .fetch_one(&mut *tx)
            .await
            .map_err(e)?;
    // The rest in one statement, in the same transaction.
    sqlx::query(
        "INSERT INTO messages (conversation_id, direction, sender_jid, timestamp, received_at, \
           body, state) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
         SELECT ?, CASE WHEN i % 3 = 2 THEN 'out' ELSE 'in' END, \
           CASE WHEN i % 3 = 2 THEN ? ELSE ? END, ? + i * 30000, ? + i * 30000, \
           'message ' || i, CASE WHEN i % 3 = 2 THEN 'read' ELSE 'received' END \
         FROM n",
    )
    .bind(MESSAGES - 1)
    .bind(conversation)
    .bind(ALICE)
    .bind(BOB)
    .bind(START)
    .bind(START)
    .execute(&mut *tx)
    .await
    .map_err(e)?;
    sqlx::query("UPDATE conversations SET unread = ?, last_activity = ? WHERE id = ?")
        .bind(UNREAD)
        .bind(START + i64::from(MESSAGES - 1) * 30_000)
        .bind(conversation)
        .execute(&mut *tx)
        .await
        .map_err(e)?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM messages WHERE conversation_id = ? ORDER BY timestamp, id",
    )
    .bind(conversation)
    .fetch_all(&mut *tx)
    .await
    .map_err(e)?;
    tx.commit().await.map_err(e)?;
    store.close().await;
    if ids.len() != MESSAGES as usize {
        return Err(format!("{} messages stored", ids.len()));
    }
    Ok(ids)
}

async fn scenario(ctx: &Ctx) -> TestResult {
    wait_for("the service", || ctx.app.service().is_some()).await?;
    let started = Instant::now();
    the_model_pages_through_everything_in_a_bounded_window(ctx).await?;
    println!("model: paged up and down in {:.1?}", started.elapsed());
    let started = Instant::now();
    the_chat_view_scrolls_through_a_bounded_window(ctx).await?;
    println!("view: scrolled in {:.1?}", started.elapsed());
    Ok(())
}

/// The largest the list ever was, the most rows one change added, and
/// where the last rows came in (position, count).
#[derive(Default)]
struct Watch {
    most: Cell<u32>,
    biggest_addition: Cell<u32>,
    last_addition: Cell<(u32, u32)>,
    errors: RefCell<Vec<String>>,
}

fn watch(timeline: &Timeline) -> Rc<Watch> {
    let watch = Rc::new(Watch::default());
    let w = watch.clone();
    timeline
        .items()
        .connect_items_changed(move |items, position, _, added| {
            w.most.set(w.most.get().max(items.n_items()));
            w.biggest_addition.set(w.biggest_addition.get().max(added));
            if added > 0 {
                w.last_addition.set((position, added));
            }
        });
    let w = watch.clone();
    timeline.connect_error(move |_, message| w.errors.borrow_mut().push(message.to_owned()));
    watch
}

async fn the_model_pages_through_everything_in_a_bounded_window(ctx: &Ctx) -> TestResult {
    let ids = &ctx.ids;
    let timeline = Timeline::new(ALICE, BOB);
    let watch = watch(&timeline);
    let requests = Rc::new(Cell::new(0u32));
    let r = requests.clone();
    timeline.connect_loading_notify(move |t| {
        if t.loading() {
            r.set(r.get() + 1);
        }
    });
    let check = |what: &str| -> TestResult {
        let n = timeline.items().n_items();
        ensure!(
            watch.most.get() <= Timeline::MAX_ROWS,
            "{what}: the list held {} rows, more than {}",
            watch.most.get(),
            Timeline::MAX_ROWS
        );
        ensure!(
            watch.biggest_addition.get() <= PAGE_SIZE,
            "{what}: {} rows came in at once",
            watch.biggest_addition.get()
        );
        ensure!(
            watch.errors.borrow().is_empty(),
            "{what}: {:?}",
            watch.errors.borrow()
        );
        ensure!(n <= Timeline::MAX_ROWS, "{what}: {n} rows");
        Ok(())
    };

    ensure!(
        Timeline::MAX_ROWS <= FEW_PAGES,
        "a bound of {} rows is no bound",
        Timeline::MAX_ROWS
    );

    // The latest page, and nothing more.
    timeline.load_latest();
    page_in(&timeline).await?;
    check("the first page")?;
    let latest_page = item_ids(&timeline);
    ensure!(
        latest_page[..] == ids[ids.len() - PAGE_SIZE as usize..],
        "the first page is not the latest {PAGE_SIZE} messages"
    );
    ensure!(timeline.latest() && !timeline.complete(), "wrong ends");

    // Up to the first message: each call asks for one page, which comes
    // in above what is loaded.
    let mut up = vec![latest_page];
    let mut calls = 0u32;
    while !timeline.complete() {
        let oldest = first_id(&timeline).ok_or("the list emptied")?;
        let asked = requests.get();
        watch.last_addition.set((0, 0));
        timeline.load_older();
        timeline.load_older(); // A second call while one is on its way asks for nothing.
        ensure!(
            requests.get() == asked + 1,
            "load_older made {} requests",
            requests.get() - asked
        );
        page_in(&timeline).await?;
        calls += 1;
        check("paging up")?;
        let (at, new) = watch.last_addition.get();
        ensure!(
            at == 0 && id_at(&timeline, new) == Some(oldest),
            "the page did not come in right above the oldest row"
        );
        ensure!(
            new > 0 || timeline.complete(),
            "a page up brought nothing and the timeline is not complete"
        );
        up.push((0..new).filter_map(|i| id_at(&timeline, i)).collect());
    }
    let seen: Vec<i64> = up.into_iter().rev().flatten().collect();
    ensure!(
        seen.len() == ids.len(),
        "saw {} messages going up, not {}",
        seen.len(),
        ids.len()
    );
    ensure!(
        seen == *ids,
        "going up, messages were missed, repeated or out of order"
    );
    ensure!(
        calls == MESSAGES / PAGE_SIZE,
        "{calls} pages to the first message"
    );
    let window = item_ids(&timeline);
    ensure!(
        window[..] == ids[..Timeline::MAX_ROWS as usize],
        "at the top the window is not the oldest {} messages",
        Timeline::MAX_ROWS
    );
    ensure!(
        !timeline.latest(),
        "far from the present, it claims the latest"
    );
    ensure!(
        timeline.messages_after() == Some(MESSAGES - Timeline::MAX_ROWS),
        "{:?} messages after the window",
        timeline.messages_after()
    );

    // A live message while the window does not reach the present: not
    // shown (paging down brings it from the store).
    let live = |n: i64| -> Result<sotto::service::ChatMessage, String> {
        let mut message = timeline
            .items()
            .item(0)
            .and_downcast::<MessageItem>()
            .and_then(|i| i.message())
            .ok_or("no message")?;
        message.id = ids[ids.len() - 1] + n;
        message.timestamp = START + (i64::from(MESSAGES) + n) * 30_000;
        message.body = Some(format!("live {n}"));
        Ok(message)
    };
    timeline.apply(&live(1)?);
    ensure!(
        timeline.position(ids[ids.len() - 1] + 1).is_none() && item_ids(&timeline) == window,
        "a live message was added to a window in the past"
    );

    // Back down to the latest message.
    let mut down = window;
    let mut calls = 0u32;
    while !timeline.latest() {
        let newest = last_id(&timeline).ok_or("the list emptied")?;
        let asked = requests.get();
        watch.last_addition.set((0, 0));
        timeline.load_newer();
        ensure!(requests.get() == asked + 1, "load_newer asked for no page");
        page_in(&timeline).await?;
        calls += 1;
        check("paging down")?;
        let (at, new) = watch.last_addition.get();
        let n = timeline.items().n_items();
        ensure!(
            new == 0
                || (at + new == n
                    && at.checked_sub(1).and_then(|i| id_at(&timeline, i)) == Some(newest)),
            "the page did not come in right below the newest row"
        );
        down.extend((at..at + new).filter_map(|i| id_at(&timeline, i)));
        ensure!(
            !timeline.complete(),
            "far from the first message, it claims it"
        );
    }
    ensure!(
        down == *ids,
        "going down, messages were missed, repeated or out of order"
    );
    ensure!(
        calls == (MESSAGES - Timeline::MAX_ROWS) / PAGE_SIZE + 1,
        "{calls} pages back to the latest message"
    );
    ensure!(
        last_id(&timeline) == ids.last().copied(),
        "the newest message is not at the end"
    );
    ensure!(
        timeline.messages_after() == Some(0),
        "at the present, {:?} messages after",
        timeline.messages_after()
    );
    ensure!(
        timeline.items().n_items() == Timeline::MAX_ROWS,
        "the window shrank to {}",
        timeline.items().n_items()
    );

    // At the present, live messages append; the oldest row makes room.
    let oldest = first_id(&timeline);
    timeline.apply(&live(2)?);
    check("a live message")?;
    ensure!(
        last_id(&timeline) == Some(ids[ids.len() - 1] + 2),
        "the live message is not at the end"
    );
    ensure!(
        timeline.items().n_items() == Timeline::MAX_ROWS
            && oldest.is_some_and(|o| timeline.position(o).is_none())
            && !timeline.complete(),
        "the live message did not push the oldest row out"
    );
    println!(
        "model: {} requests, at most {} rows held, at most {} added at once",
        requests.get(),
        watch.most.get(),
        watch.biggest_addition.get()
    );
    Ok(())
}

async fn the_chat_view_scrolls_through_a_bounded_window(ctx: &Ctx) -> TestResult {
    let ids = &ctx.ids;
    let window = ctx.app.main_window();
    window.set_default_size(900, 760);
    let session_view = window.session_view();
    let chat = session_view.chat_view();
    let conversations = session_view
        .sidebar()
        .conversations()
        .ok_or("no conversation list")?;
    wait_for("the conversation", || conversations.n_items() == 1).await?;
    let bob = conversations
        .item(0)
        .and_downcast::<Conversation>()
        .filter(|c| c.jid() == BOB)
        .ok_or("no chat with Bob")?;
    ensure!(bob.unread() == UNREAD, "{} unread", bob.unread());
    session_view.show_conversation(&bob);
    wait_for("the chat with Bob", || {
        chat.conversation().as_ref() == Some(&bob)
    })
    .await?;
    let timeline = chat.timeline().ok_or("no timeline")?;
    let watch = watch(&timeline);
    wait_for("the first page", || {
        timeline.loaded() && !timeline.loading()
    })
    .await?;
    ensure!(
        timeline.items().n_items() == PAGE_SIZE,
        "the chat opened with {} messages",
        timeline.items().n_items()
    );
    let list = find::<gtk::ListView>(&chat, "list_view")?;
    let scrolled = find::<gtk::ScrolledWindow>(&chat, "scrolled")?;
    let adjustment = scrolled.vadjustment();

    // Up to the top, as with the scroll bar, until the divider is in:
    // 12 pages, rows dropped at the bottom from the ninth on.
    let first_unread = ids[ids.len() - UNREAD as usize];
    let to_top = || {
        // A scroll event each time, even where the view already is.
        adjustment.set_value(if adjustment.value() < 1.0 { 1.0 } else { 0.0 });
    };
    wait_for("the divider's page", || {
        let loaded = timeline.position(first_unread).is_some();
        if !loaded && !timeline.loading() {
            to_top();
        }
        loaded
    })
    .await
    .map_err(|e| format!("{e}: {} rows", timeline.items().n_items()))?;
    ensure!(
        !timeline.latest() && timeline.messages_after().is_some(),
        "paging up 12 pages dropped nothing at the bottom"
    );
    let divider = |timeline: &Timeline| {
        let items = timeline.items();
        (0..items.n_items())
            .filter_map(|i| items.item(i).and_downcast::<MessageItem>())
            .find(|i| !i.new_divider().is_empty())
            .map(|i| (i.id(), i.new_divider().to_string()))
    };
    let expected_divider = (first_unread, format!("{UNREAD} new messages"));
    ensure!(
        divider(&timeline).as_ref() == Some(&expected_divider),
        "the divider is {:?}, not above message {first_unread}",
        divider(&timeline)
    );
    let jump = find::<gtk::Revealer>(&chat, "jump_revealer")?;
    ensure!(jump.reveals_child(), "no jump-to-bottom button far up");

    // Down as a person scrolls, a bit less than a screen at a time: each
    // page that comes in drops 50 rows above the view, and what was on
    // screen stays there. Until the divider's row is dropped too.
    // (The view at the top may still page up once or twice by itself.)
    settle(&timeline, &list).await?;
    let mut pages = 0;
    while timeline.position(first_unread).is_some() {
        ensure!(pages < 4, "four pages down and the divider is still loaded");
        let mut before = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        // Rows that come in below the first one: a newer page.
        watch.last_addition.set((0, 0));
        let newer_in = || watch.last_addition.get().0 > 0 && !timeline.loading();
        while !newer_in() {
            ensure!(
                Instant::now() < deadline,
                "no newer page while scrolling down"
            );
            next_frame(&list).await;
            if timeline.loading() || newer_in() {
                continue;
            }
            // Past the idle callbacks too: the chat takes scroll events
            // during layout for the list settling, not for the user.
            glib::timeout_future(Duration::from_millis(20)).await;
            if timeline.loading() || newer_in() {
                continue;
            }
            before = visible_ids(&chat, &scrolled);
            let step = adjustment.page_size() * 0.8;
            adjustment.set_value(adjustment.value() + step);
        }
        next_frame(&list).await;
        next_frame(&list).await;
        ensure!(
            timeline.items().n_items() == Timeline::MAX_ROWS && !timeline.complete(),
            "a page down dropped no rows above ({} rows)",
            timeline.items().n_items()
        );
        let after = visible_ids(&chat, &scrolled);
        ensure!(
            !before.is_empty() && after.iter().any(|id| before.contains(id)),
            "what was on screen moved away when rows above were dropped: \
             {before:?} before, {after:?} after (adjustment {}/{} page {})",
            adjustment.value(),
            adjustment.upper(),
            adjustment.page_size()
        );
        pages += 1;
    }
    // Up again: the divider comes back with its row.
    wait_for("the divider's row again", || {
        let loaded = timeline.position(first_unread).is_some();
        if !loaded && !timeline.loading() {
            to_top();
        }
        loaded
    })
    .await?;
    ensure!(
        divider(&timeline).as_ref() == Some(&expected_divider),
        "the divider came back as {:?}",
        divider(&timeline)
    );

    // The jump-to-bottom button goes back to the present.
    gtk::prelude::WidgetExt::activate_action(&chat, "chat.jump-to-bottom", None)
        .map_err(|e| e.to_string())?;
    wait_for("the latest page, at the bottom", || {
        timeline.latest()
            && !timeline.loading()
            && last_id(&timeline) == ids.last().copied()
            && chat.is_at_bottom()
    })
    .await?;
    ensure!(
        watch.most.get() <= Timeline::MAX_ROWS,
        "the chat held {} rows",
        watch.most.get()
    );
    println!("view: at most {} rows held", watch.most.get());
    Ok(())
}

/// Until no page is on its way and none was asked for during a few frames.
async fn settle(timeline: &Timeline, list: &gtk::ListView) -> TestResult {
    let deadline = Instant::now() + TIMEOUT;
    let mut quiet = 0;
    while quiet < 5 {
        ensure!(Instant::now() < deadline, "the chat keeps loading pages");
        let before = (first_id(timeline), last_id(timeline));
        next_frame(list).await;
        if timeline.loading() || (first_id(timeline), last_id(timeline)) != before {
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    Ok(())
}

/// After the next frame is drawn (the list has laid out).
async fn next_frame(widget: &impl IsA<gtk::Widget>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = RefCell::new(Some(tx));
    widget.add_tick_callback(move |_, _| {
        if let Some(tx) = tx.take() {
            let _ = tx.send(());
        }
        glib::ControlFlow::Break
    });
    // Idle-time frames can stall without a window manager: do not hang.
    let _ = glib::future_with_timeout(Duration::from_millis(200), rx).await;
}

/// The messages whose rows are (partly) on screen.
fn visible_ids(chat: &impl IsA<gtk::Widget>, scrolled: &gtk::ScrolledWindow) -> Vec<i64> {
    let page = scrolled.vadjustment().page_size() as f32;
    all_of::<MessageRow>(chat)
        .into_iter()
        .filter(|row| {
            row.is_mapped()
                && row
                    .compute_bounds(scrolled)
                    .is_some_and(|b| b.height() > 0.0 && b.y() + b.height() > 0.0 && b.y() < page)
        })
        .filter_map(|row| row.item().map(|i| i.id()))
        .collect()
}

/// Wait for the page a `load_*` call asked for (by the `loading` flag, not
/// by polling: thousands of pages go by).
async fn page_in(timeline: &Timeline) -> TestResult {
    if !timeline.loading() {
        return Err("no page was asked for".into());
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = RefCell::new(Some(tx));
    let handler = timeline.connect_loading_notify(move |t| {
        if !t.loading()
            && let Some(tx) = tx.take()
        {
            let _ = tx.send(());
        }
    });
    let arrived = glib::future_with_timeout(TIMEOUT, rx).await;
    timeline.disconnect(handler);
    match arrived {
        Ok(Ok(())) => Ok(()),
        _ => Err("no page within the timeout".into()),
    }
}

fn item_ids(timeline: &Timeline) -> Vec<i64> {
    let items = timeline.items();
    (0..items.n_items())
        .filter_map(|i| items.item(i).and_downcast::<MessageItem>())
        .map(|i| i.id())
        .collect()
}

fn id_at(timeline: &Timeline, position: u32) -> Option<i64> {
    timeline
        .items()
        .item(position)
        .and_downcast::<MessageItem>()
        .map(|i| i.id())
}

fn first_id(timeline: &Timeline) -> Option<i64> {
    id_at(timeline, 0)
}

fn last_id(timeline: &Timeline) -> Option<i64> {
    id_at(timeline, timeline.items().n_items().checked_sub(1)?)
}
