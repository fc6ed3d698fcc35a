//! Search, in the real app under Xvfb: a profile with five conversations
//! and 5,000 messages (filled through the store, so no server is needed).
//! Ctrl+K opens the search with the entry focused; typing filters the
//! chats at once; a word that only an old message has (far beyond the
//! first page) is found across the archive, highlighted and escaped; the
//! result opens the chat with the timeline loaded around that message
//! (one page, not the conversation), the message in view and highlighted;
//! scrolling down pages toward the present and the jump-to-bottom button
//! goes back to the latest page. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/screenshots/search-*.png`.
//!
//! Run: `GTK_A11Y=none GSK_RENDERER=cairo scripts/with-keyring.sh xvfb-run -a
//! -s "-screen 0 1600x1200x24" cargo test --features gui --test ui_search`

mod support;
#[macro_use]
mod ui_support;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use adw::prelude::*;
use gtk::gio;
use sotto::store::contacts::RosterItem;
use sotto::store::{MessageState, NewMessage, insert_message_in};
use sotto::ui::session::model::{Conversation, MessageItem, PAGE_SIZE};
use sotto::ui::session::view::SearchResultRow;
use sotto::ui::session::view::chat::MessageRow;
use ui_support::*;

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";
/// (JID, roster name, messages).
const PEOPLE: [(&str, &str, u32); 5] = [
    (BOB, "Bob Builder", 3000),
    ("carol@example.org", "Carol Danvers", 500),
    ("dave@example.org", "Dave Grohl", 500),
    ("erin@example.org", "Erin Brockovich", 500),
    ("frank@example.org", "Frank Ocean", 500),
];
/// Bob's message with the word, counted from his first: 2,000 newer
/// messages lie between it and the present.
const BOB_ZEPPELIN: u32 = 1000;
const BOB_WORDS: &str = "Did you pack the zeppelin tickets for Friday?";

struct Ctx {
    app: sotto::ui::Application,
    shots: PathBuf,
}

fn main() -> ExitCode {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!("ui_search needs a display: run it under xvfb-run (see the file's header)");
        return ExitCode::FAILURE;
    }
    let data_dir = tempfile::tempdir().expect("temp data dir");
    if let Err(e) = sotto::runtime::runtime().block_on(make_profile(data_dir.path())) {
        eprintln!("ui_search FAILED: cannot make the profile: {e}");
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    }

    sotto::ui::init();
    let app = sotto::ui::Application::new();
    app.set_flags(app.flags() | gio::ApplicationFlags::NON_UNIQUE);
    let ctx = Rc::new(Ctx {
        app: app.clone(),
        shots: screenshot_dir(),
    });
    run_scenario("ui_search", &app, data_dir.path(), move || async move {
        scenario(&ctx).await
    })
}

/// What person `who` says in message `n` of their conversation.
fn body(who: usize, n: u32) -> String {
    match (who, n) {
        (0, BOB_ZEPPELIN) => BOB_WORDS.to_owned(),
        (1, 250) => "I watched a documentary about the Zeppelin era last night".to_owned(),
        (2, 400) => "Zeppelins & <b>tags</b> should come out as plain text".to_owned(),
        _ => format!("Message {n} with {}", PEOPLE[who].1),
    }
}

/// A profile as the app makes one (key in the keyring): Alice, her five
/// contacts, and their conversations, one message a minute up to an hour
/// ago, every third one from Alice.
async fn make_profile(dir: &Path) -> Result<(), String> {
    let (store, account) = support::profile::offline_profile(dir, ALICE).await?;
    let now = sotto::store::now_ms();
    let mut tx = store.begin_received().await.map_err(|e| e.to_string())?;
    for (who, (jid, _, count)) in PEOPLE.iter().enumerate() {
        for n in 0..*count {
            let text = body(who, n);
            let mut m = if n % 3 == 2 {
                let mut m = NewMessage::outgoing(jid, ALICE, &format!("o{who}-{n}"), Some(&text));
                m.state = MessageState::Read;
                m
            } else {
                NewMessage::incoming(jid, jid, Some(&text))
            };
            // Conversations end a few minutes apart, Bob's most recently.
            let minutes = i64::from(count - n) + 60 + who as i64 * 7;
            m.timestamp = now - minutes * 60_000;
            insert_message_in(&mut tx, account, &m)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    for (jid, name, _) in PEOPLE {
        let item = RosterItem {
            jid: jid.into(),
            name: Some(name.into()),
            subscription: "both".into(),
            pending_out: false,
            groups: Vec::new(),
        };
        store
            .upsert_roster_item(account, &item)
            .await
            .map_err(|e| e.to_string())?;
    }
    store.close().await;
    Ok(())
}

async fn scenario(ctx: &Ctx) -> TestResult {
    let window = ctx.app.main_window();
    window.set_default_size(1100, 760);
    let session = ctx.app.session();
    wait_for("the account from the archive", || session.has_accounts()).await?;
    wait_for("the service", || ctx.app.service().is_some()).await?;
    let session_view = window.session_view();
    let sidebar = session_view.sidebar();
    let chat = session_view.chat_view();
    let conversations = sidebar.conversations().ok_or("no conversation list")?;
    wait_for("the five conversations", || conversations.n_items() == 5).await?;

    // Alt+Down / Alt+Up walk the chat list.
    for (action, accel) in [
        ("win.next-chat", "<Alt>Down"),
        ("win.previous-chat", "<Alt>Up"),
    ] {
        ensure!(
            ctx.app.accels_for_action(action).iter().any(|a| a == accel),
            "{accel} is not bound to {action}"
        );
    }
    let item = |i: u32| {
        conversations
            .item(i)
            .and_downcast::<sotto::ui::session::model::Conversation>()
    };
    let step = |action: &str| gtk::prelude::WidgetExt::activate_action(&window, action, None);
    step("win.next-chat").map_err(|e| e.to_string())?;
    wait_for("the first chat", || chat.conversation() == item(0)).await?;
    step("win.next-chat").map_err(|e| e.to_string())?;
    wait_for("the second chat", || chat.conversation() == item(1)).await?;
    step("win.previous-chat").map_err(|e| e.to_string())?;
    wait_for("the first chat again", || chat.conversation() == item(0)).await?;
    step("win.previous-chat").map_err(|e| e.to_string())?;
    ensure!(
        chat.conversation() == item(0),
        "Alt+Up left the top of the list"
    );

    // Ctrl+K opens the search with the entry focused.
    let accels = ctx.app.accels_for_action("win.search");
    ensure!(
        accels.iter().any(|a| a == "<Control>k"),
        "Ctrl+K is not the search shortcut: {accels:?}"
    );
    let search_bar = sidebar.search_bar();
    let entry = sidebar.search_entry();
    let results = sidebar.search_results();
    ensure!(!search_bar.is_search_mode(), "the search starts open");
    gtk::prelude::WidgetExt::activate_action(&window, "win.search", None)
        .map_err(|e| e.to_string())?;
    wait_for("the search entry to have the focus", || {
        search_bar.is_search_mode() && has_focus_within(&window, &entry)
    })
    .await?;

    // Typing filters the chats at once, by name or address.
    entry.set_text("car");
    ensure!(
        sidebar.shows_search_results(),
        "typing did not show the results"
    );
    ensure!(
        chat_names(&results) == ["Carol Danvers"],
        "“car” lists {:?}",
        chat_names(&results)
    );
    entry.set_text("frank@");
    ensure!(
        chat_names(&results) == ["Frank Ocean"],
        "“frank@” lists {:?}",
        chat_names(&results)
    );
    entry.set_text("car");
    wait_for("the message search for “car”", || {
        !results.is_searching()
    })
    .await?;
    screenshot(&ctx.shots, &window, "search-chats").await?;

    // A word only old messages have: found across the archive, newest
    // first, after a pause in typing (one query, not one per letter).
    entry.set_text("zeppelin");
    ensure!(
        results.is_searching(),
        "the archive search did not wait for the typing to pause"
    );
    wait_for("the messages with “zeppelin”", || {
        !results.is_searching() && results.hit_count() == 3
    })
    .await
    .map_err(|e| format!("{e}: {} found", results.hit_count()))?;
    ensure!(results.chat_count() == 0, "a chat matches “zeppelin”");
    let hits = results.hits().ok_or("no hits model")?;
    let found: Vec<String> = (0..hits.n_items())
        .filter_map(|i| hits.item(i).and_downcast::<MessageItem>())
        .map(|i| body_of(&i))
        .collect();
    let newest_first = [body(2, 400), body(1, 250), BOB_WORDS.to_owned()];
    ensure!(found == newest_first, "not newest first: {found:?}");
    let snippets: Vec<String> = all_of::<SearchResultRow>(&results)
        .iter()
        .flat_map(all_of::<gtk::Label>)
        .filter(|l| l.uses_markup())
        .map(|l| l.label().to_string())
        .collect();
    ensure!(
        snippets
            .iter()
            .any(|s| s.contains("the <b>zeppelin</b> tickets")),
        "the match is not highlighted: {snippets:?}"
    );
    ensure!(
        snippets
            .iter()
            .any(|s| s.contains("<b>Zeppelins</b> &amp; &lt;b&gt;tags&lt;/b&gt;")),
        "message text is not escaped: {snippets:?}"
    );
    let titles = label_texts(&results);
    ensure!(
        titles.iter().any(|t| t == "Bob Builder"),
        "results do not name the chat: {titles:?}"
    );
    screenshot(&ctx.shots, &window, "search-messages").await?;

    // Down from the entry goes into the results; Enter (a row's
    // `activate`) opens one.
    ensure!(results.focus_first(), "Down found no result to go to");
    let focused = gtk::prelude::GtkWindowExt::focus(&window)
        .and_downcast::<gtk::ListBoxRow>()
        .and_then(|row| row.child().and_downcast::<SearchResultRow>())
        .and_then(|r| r.item())
        .ok_or("the focus is not on a result")?;
    ensure!(
        body_of(&focused) == newest_first[0],
        "Down went to {:?}",
        body_of(&focused)
    );
    let bob_row = all_of::<SearchResultRow>(&results)
        .into_iter()
        .find(|r| r.item().is_some_and(|i| body_of(&i) == BOB_WORDS))
        .ok_or("no row for Bob's message")?;
    let target = bob_row.item().ok_or("the row lost its message")?;
    bob_row
        .parent()
        .and_downcast::<gtk::ListBoxRow>()
        .ok_or("the result is not in a list row")?
        .emit_activate();

    // The chat opens around the message: one page, not 3,000 messages.
    let bob = find_conversation(&conversations, BOB).ok_or("no chat with Bob")?;
    wait_for("the chat with Bob", || {
        chat.conversation().as_ref() == Some(&bob)
    })
    .await?;
    let timeline = chat.timeline().ok_or("no timeline")?;
    wait_for("the page around the result", || {
        timeline.loaded() && !timeline.loading() && timeline.position(target.id()).is_some()
    })
    .await?;
    let loaded = timeline.items().n_items();
    ensure!(
        loaded <= PAGE_SIZE,
        "the jump loaded {loaded} messages, more than a page"
    );
    ensure!(
        !timeline.latest() && !timeline.complete(),
        "a page in the middle claims to reach an end"
    );
    let scrolled = find::<gtk::ScrolledWindow>(&chat, "scrolled")?;
    let mut in_view = None;
    wait_for("the result on screen, highlighted", || {
        in_view = visible_row(&chat, &scrolled, target.id());
        in_view
            .as_ref()
            .is_some_and(|r| r.has_css_class("search-highlight"))
    })
    .await
    .map_err(|e| {
        let adj = scrolled.vadjustment();
        let rows: Vec<String> = all_of::<MessageRow>(&chat)
            .iter()
            .filter(|r| r.item().is_some_and(|i| i.id() == target.id()))
            .map(|r| {
                format!(
                    "mapped={} bounds={:?} classes={:?}",
                    r.is_mapped(),
                    r.compute_bounds(&scrolled).map(|b| (b.y(), b.height())),
                    r.css_classes()
                )
            })
            .collect();
        format!(
            "{e}: position {:?} of {}, adjustment {}/{} page {}, rows {rows:?}",
            timeline.position(target.id()),
            timeline.items().n_items(),
            adj.value(),
            adj.upper(),
            adj.page_size()
        )
    })?;
    ensure!(
        !chat.is_at_bottom(),
        "the chat claims to be at the latest message"
    );
    screenshot(&ctx.shots, &window, "search-jump").await?;
    // The highlight fades after a moment.
    wait_for("the highlight to fade", || {
        visible_row(&chat, &scrolled, target.id())
            .is_some_and(|r| !r.has_css_class("search-highlight"))
    })
    .await?;

    // Scrolling down pages newer messages in.
    let adjustment = scrolled.vadjustment();
    wait_for("a newer page", || {
        adjustment.set_value(adjustment.upper());
        timeline.items().n_items() >= loaded + PAGE_SIZE
    })
    .await?;
    let bodies = bodies(&timeline);
    let at = bodies
        .iter()
        .position(|b| b == BOB_WORDS)
        .ok_or("the result left the timeline")?;
    let expected: Vec<String> = (BOB_ZEPPELIN..BOB_ZEPPELIN + 60)
        .map(|n| body(0, n))
        .collect();
    ensure!(
        bodies[at..at + 60] == expected[..],
        "newer pages have gaps or are out of order"
    );
    ensure!(
        !chat.is_at_bottom(),
        "the end of a page counts as the present"
    );

    // The jump-to-bottom button goes back to the latest page.
    let jump = find::<gtk::Revealer>(&chat, "jump_revealer")?;
    ensure!(jump.reveals_child(), "no jump-to-bottom button in the past");
    gtk::prelude::WidgetExt::activate_action(&chat, "chat.jump-to-bottom", None)
        .map_err(|e| e.to_string())?;
    let latest = body(0, PEOPLE[0].2 - 1);
    wait_for("the latest page, at the bottom", || {
        timeline.latest()
            && timeline.loaded()
            && !timeline.loading()
            && bodies_last(&timeline).as_deref() == Some(latest.as_str())
            && chat.is_at_bottom()
    })
    .await?;
    ensure!(
        timeline.items().n_items() <= PAGE_SIZE,
        "going back to the present kept {} messages",
        timeline.items().n_items()
    );
    ensure!(
        timeline.position(target.id()).is_none(),
        "the old page is still loaded"
    );
    wait_for("the latest message on screen", || {
        let last = timeline
            .items()
            .item(timeline.items().n_items().saturating_sub(1))
            .and_downcast::<MessageItem>();
        last.is_some_and(|l| on_screen(&chat, &scrolled, l.id()))
    })
    .await
    .map_err(|e| {
        let adj = scrolled.vadjustment();
        let last = timeline
            .items()
            .item(timeline.items().n_items().saturating_sub(1))
            .and_downcast::<MessageItem>()
            .map(|l| l.id());
        let rows: Vec<String> = all_of::<MessageRow>(&chat)
            .iter()
            .filter(|r| r.item().is_some_and(|i| Some(i.id()) == last))
            .map(|r| {
                format!(
                    "{:?}",
                    r.compute_bounds(&scrolled).map(|b| (b.y(), b.height()))
                )
            })
            .collect();
        format!(
            "{e}: adjustment {}/{} page {}, at bottom {}, last row {rows:?}",
            adj.value(),
            adj.upper(),
            adj.page_size(),
            chat.is_at_bottom()
        )
    })?;
    screenshot(&ctx.shots, &window, "search-back-to-latest").await?;

    // The same result again, with the chat already open at the present.
    bob_row
        .parent()
        .and_downcast::<gtk::ListBoxRow>()
        .ok_or("the result left its list")?
        .emit_activate();
    wait_for("the result on screen again", || {
        visible_row(&chat, &scrolled, target.id())
            .is_some_and(|r| r.has_css_class("search-highlight"))
    })
    .await?;
    ensure!(
        timeline.items().n_items() <= PAGE_SIZE,
        "the second jump loaded {} messages",
        timeline.items().n_items()
    );

    // Nothing found says so.
    gtk::prelude::WidgetExt::activate_action(&window, "win.search", None)
        .map_err(|e| e.to_string())?;
    wait_for("the entry focused again", || {
        has_focus_within(&window, &entry)
    })
    .await?;
    entry.set_text("quixotic xylophone");
    wait_for("the empty result", || {
        !results.is_searching() && results.hit_count() == 0
    })
    .await?;
    ensure!(
        label_texts(&results)
            .iter()
            .any(|t| t == "No Messages Found"),
        "no empty state: {:?}",
        label_texts(&results)
    );
    screenshot(&ctx.shots, &window, "search-empty").await?;

    // Ctrl+K again, from the entry, closes the search and clears it.
    gtk::prelude::WidgetExt::activate_action(&window, "win.search", None)
        .map_err(|e| e.to_string())?;
    wait_for("the search to close", || !search_bar.is_search_mode()).await?;
    ensure!(entry.text().is_empty(), "the closed search kept its text");
    ensure!(
        !sidebar.shows_search_results(),
        "the results stay after closing"
    );

    // Narrow: Ctrl+K brings the sidebar back with the search.
    resize(&window, 360, 720).await?;
    wait_for("the folded layout", || session_view.is_folded()).await?;
    gtk::prelude::WidgetExt::activate_action(&window, "win.search", None)
        .map_err(|e| e.to_string())?;
    wait_for("the search on a narrow window", || {
        search_bar.is_search_mode() && !session_view.shows_details() && sidebar.is_mapped()
    })
    .await?;
    entry.set_text("zeppelin");
    wait_for("the results on a narrow window", || {
        !results.is_searching() && results.hit_count() == 3
    })
    .await?;
    screenshot(&ctx.shots, &window, "search-narrow").await?;
    Ok(())
}

fn has_focus_within(window: &impl IsA<gtk::Window>, widget: &impl IsA<gtk::Widget>) -> bool {
    gtk::prelude::GtkWindowExt::focus(window.as_ref())
        .is_some_and(|f| f.is_ancestor(widget) || f == *widget.as_ref())
}

fn chat_names(results: &impl IsA<gtk::Widget>) -> Vec<String> {
    all_of::<sotto::ui::session::view::ConversationRow>(results)
        .iter()
        .filter(|r| r.is_visible() && r.parent().is_some_and(|p| p.is_visible()))
        .filter_map(|r| find::<gtk::Label>(r, "title").ok())
        .map(|l| l.text().to_string())
        .collect()
}

fn find_conversation(model: &gio::ListModel, jid: &str) -> Option<Conversation> {
    (0..model.n_items())
        .filter_map(|i| model.item(i).and_downcast::<Conversation>())
        .find(|c| c.jid() == jid)
}

fn body_of(item: &MessageItem) -> String {
    item.with_message(|m| m.body.clone().unwrap_or_default())
        .unwrap_or_default()
}

fn bodies(timeline: &sotto::ui::session::model::Timeline) -> Vec<String> {
    let items = timeline.items();
    (0..items.n_items())
        .filter_map(|i| items.item(i).and_downcast::<MessageItem>())
        .map(|i| body_of(&i))
        .collect()
}

fn bodies_last(timeline: &sotto::ui::session::model::Timeline) -> Option<String> {
    bodies(timeline).pop()
}

/// The row showing message `id`, if it lies wholly inside the visible part
/// of the history.
fn visible_row(
    chat: &impl IsA<gtk::Widget>,
    scrolled: &gtk::ScrolledWindow,
    id: i64,
) -> Option<MessageRow> {
    let page = scrolled.vadjustment().page_size() as f32;
    row_of(chat, id).filter(|row| {
        row.compute_bounds(scrolled)
            .is_some_and(|b| b.height() > 0.0 && b.y() >= 0.0 && b.y() + b.height() <= page)
    })
}

/// Whether some of the row showing message `id` is on screen. (Resting
/// "at the bottom" allows a few pixels' slack, so the last row may be cut.)
fn on_screen(chat: &impl IsA<gtk::Widget>, scrolled: &gtk::ScrolledWindow, id: i64) -> bool {
    let page = scrolled.vadjustment().page_size() as f32;
    row_of(chat, id).is_some_and(|row| {
        row.compute_bounds(scrolled)
            .is_some_and(|b| b.height() > 0.0 && b.y() + b.height() > 0.0 && b.y() < page)
    })
}

fn row_of(chat: &impl IsA<gtk::Widget>, id: i64) -> Option<MessageRow> {
    all_of::<MessageRow>(chat)
        .into_iter()
        .find(|row| row.item().is_some_and(|i| i.id() == id) && row.is_mapped())
}
