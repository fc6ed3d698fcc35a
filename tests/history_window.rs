//! Opening a conversation at a search result, through the service as the
//! window does it: `Search` finds an old message, `HistoryAround` opens a
//! page around it, and `History` / `HistoryAfter` page on from its edges
//! until they meet the first and the latest message. No server is needed:
//! the profile is filled through the store. Needs the Secret Service (run
//! under scripts/with-keyring.sh, as scripts/test does).

mod support;

use std::path::Path;

use sotto::service::{self, ChatMessage, Command, ServiceError, ServiceHandle, ServiceOptions};
use sotto::store::{NewMessage, insert_message_in};

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";
const MESSAGES: usize = 500;
const PAGE: u32 = 50;

async fn make_profile(dir: &Path) -> Result<(), String> {
    let (store, account) = support::profile::offline_profile(dir, ALICE).await?;
    let mut tx = store.begin_received().await.map_err(|e| e.to_string())?;
    for n in 0..MESSAGES {
        let body = if n == 100 {
            "the lighthouse keeper".to_owned()
        } else {
            format!("message {n}")
        };
        let mut m = NewMessage::incoming(BOB, BOB, Some(&body));
        m.timestamp = 1_700_000_000_000 + n as i64 * 1000;
        insert_message_in(&mut tx, account, &m)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    store.close().await;
    Ok(())
}

fn bodies(page: &[ChatMessage]) -> Vec<String> {
    page.iter()
        .map(|m| m.body.clone().unwrap_or_default())
        .collect()
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|n| {
            if n == 100 {
                "the lighthouse keeper".to_owned()
            } else {
                format!("message {n}")
            }
        })
        .collect()
}

async fn after(
    handle: &ServiceHandle,
    last: &ChatMessage,
) -> Result<Vec<ChatMessage>, ServiceError> {
    handle
        .request(|reply| Command::HistoryAfter {
            account: ALICE.into(),
            jid: BOB.into(),
            after: (last.timestamp, last.id),
            limit: PAGE,
            reply,
        })
        .await
}

#[tokio::test]
async fn a_search_result_opens_a_page_around_it_that_pages_both_ways() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_profile(dir.path()).await.expect("profile");
    let (handle, _events) = service::start(ServiceOptions {
        data_dir: dir.path().to_path_buf(),
        connect: false,
    })
    .await
    .expect("service");

    let found = handle
        .request(|reply| Command::Search {
            query: "lighthou".into(),
            limit: 20,
            reply,
        })
        .await
        .expect("search");
    assert_eq!(bodies(&found), ["the lighthouse keeper"]);
    let hit = &found[0];
    assert_eq!(
        (hit.account.as_str(), hit.conversation.as_str()),
        (ALICE, BOB)
    );

    let window = handle
        .request(|reply| Command::HistoryAround {
            account: ALICE.into(),
            jid: BOB.into(),
            id: hit.id,
            limit: PAGE,
            reply,
        })
        .await
        .expect("around");
    assert_eq!(bodies(&window.messages), numbered(75..125));
    assert!(window.more_before && window.more_after);

    // Older pages back to the first message.
    let mut first = window.messages[0].clone();
    let mut older = 0;
    loop {
        let page = handle
            .request(|reply| Command::History {
                account: ALICE.into(),
                jid: BOB.into(),
                before: Some((first.timestamp, first.id)),
                limit: PAGE,
                reply,
            })
            .await
            .expect("older");
        older += page.len();
        match page.first() {
            Some(m) => first = m.clone(),
            None => break,
        }
    }
    assert_eq!((older, first.body.as_deref()), (75, Some("message 0")));

    // Newer pages up to the latest message, which the plain `History`
    // (the chat's first page) also ends with.
    let mut last = window.messages[PAGE as usize - 1].clone();
    let mut newer = Vec::new();
    loop {
        let page = after(&handle, &last).await.expect("newer");
        assert!(page.len() <= PAGE as usize);
        let Some(m) = page.last() else { break };
        last = m.clone();
        newer.extend(bodies(&page));
    }
    assert_eq!(newer, numbered(125..MESSAGES));
    let latest = handle
        .request(|reply| Command::History {
            account: ALICE.into(),
            jid: BOB.into(),
            before: None,
            limit: 1,
            reply,
        })
        .await
        .expect("latest");
    assert_eq!(latest[0].id, last.id);

    // Around the last message: a full page, nothing newer.
    let end = handle
        .request(|reply| Command::HistoryAround {
            account: ALICE.into(),
            jid: BOB.into(),
            id: last.id,
            limit: PAGE,
            reply,
        })
        .await
        .expect("around the last");
    assert_eq!(bodies(&end.messages), numbered(MESSAGES - 50..MESSAGES));
    assert!(end.more_before && !end.more_after);

    // An unknown message, or one asked of another conversation: an empty
    // window, not an error. An unknown account is an error.
    for (jid, id) in [(BOB, i64::MAX), ("carol@example.org", hit.id)] {
        let none = handle
            .request(|reply| Command::HistoryAround {
                account: ALICE.into(),
                jid: jid.into(),
                id,
                limit: PAGE,
                reply,
            })
            .await
            .expect("unknown id");
        assert!(none.messages.is_empty() && !none.more_before && !none.more_after);
    }
    let unknown = handle
        .request(|reply| Command::HistoryAround {
            account: "nobody@example.org".into(),
            jid: BOB.into(),
            id: hit.id,
            limit: PAGE,
            reply,
        })
        .await;
    assert!(
        matches!(unknown, Err(ServiceError::UnknownAccount(_))),
        "{unknown:?}"
    );
    handle.shutdown().await;
}
