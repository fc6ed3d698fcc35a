//! A Sotto device running inside the test process, as the window runs it:
//! for tests that need a device to stay online between requests.

use std::time::{Duration, Instant};

use sotto::service::{self, ChatMessage, Command, EventStream, ServiceHandle, ServiceOptions};

use super::cli::Cli;

/// Start the service on `cli`'s data directory and wait until online.
pub async fn online(cli: &Cli) -> (ServiceHandle, EventStream) {
    let (handle, events) = service::start(ServiceOptions {
        data_dir: cli.data_dir().to_path_buf(),
        connect: true,
    })
    .await
    .expect("service");
    handle
        .request(|reply| Command::Sync { reply })
        .await
        .expect("online");
    (handle, events)
}

/// `SendMessage`, timed from the request to the reply (the stanza queued).
pub async fn send(
    handle: &ServiceHandle,
    account: &str,
    to: &str,
    body: &str,
) -> (Duration, ChatMessage) {
    let (account, to, body) = (account.to_owned(), to.to_owned(), body.to_owned());
    let t = Instant::now();
    let m = handle
        .request(|reply| Command::SendMessage {
            account,
            to,
            body,
            reply,
        })
        .await
        .expect("sent");
    (t.elapsed(), m)
}

/// The bare JIDs a sent message's key went to (its encryption details),
/// sorted, once each.
pub fn keyed_jids(info: Option<&serde_json::Value>) -> Vec<String> {
    let mut jids: Vec<String> = keyed(info)
        .filter_map(|r| r["jid"].as_str().map(str::to_owned))
        .collect();
    jids.sort();
    jids.dedup();
    jids
}

/// How many devices got the key.
pub fn keyed_devices(info: Option<&serde_json::Value>) -> usize {
    keyed(info).count()
}

fn keyed(info: Option<&serde_json::Value>) -> impl Iterator<Item = &serde_json::Value> {
    info.and_then(|i| i.as_array())
        .into_iter()
        .flatten()
        .filter(|r| r["left_out"].is_null())
}
