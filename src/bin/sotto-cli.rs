//! `sotto-cli`: drives the same service as the window, for scripting and
//! tests. Human-readable output, or JSON lines with `--json`; exit code 0 on
//! success, non-zero with a one-line reason on stderr otherwise.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use sotto::service::{
    self, ChatMessage, Command, ConnectionState, Contact, Event, EventStream, ServerOverride,
    ServiceHandle, ServiceOptions, Trust,
};
use zeroize::Zeroizing;

// In a folder of its own: a file directly in src/bin/ would be a binary.
#[path = "sotto-cli/muc.rs"]
mod muc;
#[path = "sotto-cli/qr.rs"]
mod qr;

#[derive(Parser)]
#[command(name = "sotto-cli", version, about = "Drive Sotto from the shell")]
struct Cli {
    /// The profile directory (one directory is one device).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCmd),
    /// Accounts and their connection state.
    Status(JsonFlag),
    /// The contact list, synced with the server.
    Roster {
        #[command(flatten)]
        json: JsonFlag,
        /// Print what is stored locally without connecting.
        #[arg(long)]
        offline: bool,
    },
    /// Manage contacts.
    #[command(subcommand)]
    Contact(ContactCmd),
    /// Send a message (OMEMO-encrypted when the contact supports it).
    Send { jid: String, text: String },
    /// The conversation with JID from the local archive.
    History {
        jid: String,
        #[command(flatten)]
        json: JsonFlag,
        /// How many of the latest messages.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The OMEMO devices of JID (or your own address), with fingerprints and trust.
    Devices {
        jid: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Mark the device with this fingerprint as verified.
    Trust { jid: String, fingerprint: String },
    /// Never encrypt for the device with this fingerprint.
    Distrust { jid: String, fingerprint: String },
    /// Take a lost device of yours off your published device list, so
    /// nobody encrypts for it any more (see `devices YOUR-ADDRESS`).
    RemoveDevice { device_id: u32 },
    /// Export or import the local history as one passphrase-encrypted file.
    #[command(subcommand)]
    Backup(BackupCmd),
    /// Trust by QR code: show your code, or verify a contact's from a picture.
    #[command(subcommand)]
    Qr(qr::QrCmd),
    /// Group chats and channels.
    #[command(subcommand)]
    Muc(muc::MucCmd),
    /// Stay online and print incoming events.
    Listen {
        #[command(flatten)]
        json: JsonFlag,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
    },
}

#[derive(Args, Clone, Copy)]
struct JsonFlag {
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Add an account after checking its credentials with the server.
    Add {
        jid: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Connect to HOST:PORT (STARTTLS) or tls://HOST:PORT instead of SRV.
        #[arg(long, value_name = "HOST:PORT")]
        server: Option<String>,
        /// Trust exactly this CA (PEM) instead of the system roots.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
    },
    /// Remove an account and its local data.
    Remove { jid: String },
}

#[derive(Subcommand)]
enum BackupCmd {
    /// Write accounts, contacts, conversations, messages and trust decisions
    /// to FILE, encrypted with a passphrase (`age -d` opens it; see
    /// docs/backup-format.md).
    Export {
        file: PathBuf,
        /// Read the passphrase from the first line of standard input.
        #[arg(long, required = true)]
        passphrase_stdin: bool,
        /// Also write this device's OMEMO identity and sessions. Risky: a
        /// second device restored from it breaks both devices' sessions.
        #[arg(long)]
        include_identity: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Merge the history in FILE into this profile (all of it or nothing).
    Import {
        file: PathBuf,
        /// Read the passphrase from the first line of standard input.
        #[arg(long, required = true)]
        passphrase_stdin: bool,
        /// Restore the OMEMO identity from FILE (refused when this profile
        /// has its own). Only for moving a device whose old copy is gone.
        #[arg(long)]
        restore_identity: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// When the last backup was made.
    Status(JsonFlag),
    /// Remind after DAYS without a backup (0: never).
    Reminder { days: u32 },
}

#[derive(Subcommand)]
enum ContactCmd {
    /// Add a contact and ask to see their presence.
    Add {
        jid: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a contact.
    Remove { jid: String },
    /// Accept a subscription request.
    Accept { jid: String },
    /// Decline a subscription request.
    Decline { jid: String },
}

fn main() -> ExitCode {
    sotto::i18n::init();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SOTTO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sotto-cli: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("sotto-cli: {msg}");
            ExitCode::FAILURE
        }
    }
}

struct Session {
    handle: ServiceHandle,
    events: EventStream,
}

async fn open(data_dir: Option<PathBuf>) -> anyhow::Result<Session> {
    let data_dir = data_dir.unwrap_or_else(sotto::profile::default_data_dir);
    let (handle, events) = service::start(ServiceOptions {
        data_dir,
        connect: false,
    })
    .await
    .map_err(|e| anyhow!(e.user_message()))?;
    Ok(Session { handle, events })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut s = open(cli.data_dir).await?;
    let result = dispatch(&mut s, cli.command).await;
    s.handle.shutdown().await;
    result
}

fn service_err(e: service::ServiceError) -> anyhow::Error {
    anyhow!(e.user_message())
}

async fn dispatch(s: &mut Session, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Account(AccountCmd::Add {
            jid,
            password_stdin: _,
            server,
            ca_file,
        }) => {
            let password = read_password()?;
            let server = ServerOverride {
                address: server,
                ca_file,
            };
            let info = s
                .handle
                .request(|reply| Command::AddAccount {
                    jid,
                    password,
                    server,
                    reply,
                })
                .await
                .map_err(service_err)?;
            println!("Added {}", info.jid);
            Ok(())
        }
        Cmd::Account(AccountCmd::Remove { jid }) => {
            s.handle
                .request(|reply| Command::RemoveAccount {
                    account: jid.clone(),
                    reply,
                })
                .await
                .map_err(service_err)?;
            println!("Removed {jid}");
            Ok(())
        }
        Cmd::Status(JsonFlag { json }) => status(s, json).await,
        Cmd::Roster { json, offline } => {
            if !offline {
                go_online(s, &mut |_| {}).await?;
            }
            print_roster(s, json.json).await
        }
        Cmd::Contact(c) => {
            let account = only_account(s).await?;
            go_online(s, &mut |_| {}).await?;
            let (verb, jid) = match c {
                ContactCmd::Add { jid, name } => {
                    let j = jid.clone();
                    s.handle
                        .request(|reply| Command::AddContact {
                            account,
                            jid: j,
                            name,
                            reply,
                        })
                        .await
                        .map_err(service_err)?;
                    ("Added", jid)
                }
                ContactCmd::Remove { jid } => {
                    let j = jid.clone();
                    s.handle
                        .request(|reply| Command::RemoveContact {
                            account,
                            jid: j,
                            reply,
                        })
                        .await
                        .map_err(service_err)?;
                    ("Removed", jid)
                }
                ContactCmd::Accept { jid } => {
                    let j = jid.clone();
                    s.handle
                        .request(|reply| Command::AnswerSubscription {
                            account,
                            jid: j,
                            accept: true,
                            reply,
                        })
                        .await
                        .map_err(service_err)?;
                    ("Accepted", jid)
                }
                ContactCmd::Decline { jid } => {
                    let j = jid.clone();
                    s.handle
                        .request(|reply| Command::AnswerSubscription {
                            account,
                            jid: j,
                            accept: false,
                            reply,
                        })
                        .await
                        .map_err(service_err)?;
                    ("Declined", jid)
                }
            };
            println!("{verb} {jid}");
            Ok(())
        }
        Cmd::Backup(b) => backup(s, b).await,
        Cmd::Qr(q) => qr::qr(s, q).await,
        Cmd::Muc(m) => muc::muc(s, m).await,
        Cmd::Listen { json, timeout } => listen(s, json.json, timeout).await,
        Cmd::Send { jid, text } => send(s, jid, text).await,
        Cmd::History { jid, json, limit } => {
            let account = only_account(s).await?;
            let messages = s
                .handle
                .request(|reply| Command::History {
                    account,
                    jid,
                    before: None,
                    limit,
                    reply,
                })
                .await
                .map_err(service_err)?;
            for m in &messages {
                if json.json {
                    println!("{}", message_json(m));
                } else {
                    println!("{}", describe_message(m));
                }
            }
            Ok(())
        }
        Cmd::Devices { jid, json } => {
            let account = only_account(s).await?;
            if let Err(e) = go_online(s, &mut |_| {}).await {
                eprintln!("sotto-cli: offline ({e}); showing what is stored");
            }
            let devices = s
                .handle
                .request(|reply| Command::Devices {
                    account,
                    jid,
                    reply,
                })
                .await
                .map_err(service_err)?;
            for d in &devices {
                if json.json {
                    println!("{}", serde_json::to_string(d)?);
                } else {
                    println!(
                        "{}\t{}\t{}\t{}{}{}{}",
                        d.device_id,
                        d.fingerprint.as_deref().unwrap_or("(fingerprint unknown)"),
                        d.trust.as_str(),
                        d.namespaces.join(","),
                        if d.active { "" } else { "\t(inactive)" },
                        if d.own { "\t(this device)" } else { "" },
                        if d.identity_changed {
                            "\t(KEY CHANGED: decide with trust or distrust)"
                        } else {
                            ""
                        },
                    );
                }
            }
            Ok(())
        }
        Cmd::Trust { jid, fingerprint } => set_trust(s, jid, fingerprint, Trust::Verified).await,
        Cmd::Distrust { jid, fingerprint } => {
            set_trust(s, jid, fingerprint, Trust::Distrusted).await
        }
        Cmd::RemoveDevice { device_id } => {
            let account = only_account(s).await?;
            go_online(s, &mut |_| {}).await?;
            s.handle
                .request(|reply| Command::RemoveOwnDevice {
                    account: account.clone(),
                    device_id,
                    reply,
                })
                .await
                .map_err(service_err)?;
            println!("{account} device {device_id}: removed from the device list");
            Ok(())
        }
    }
}

async fn set_trust(
    s: &mut Session,
    jid: String,
    fingerprint: String,
    trust: Trust,
) -> anyhow::Result<()> {
    let account = only_account(s).await?;
    let device = s
        .handle
        .request(|reply| Command::SetTrust {
            account,
            jid,
            fingerprint,
            trust,
            reply,
        })
        .await
        .map_err(service_err)?;
    println!(
        "{} device {}: {}",
        device.jid,
        device.device_id,
        trust.as_str()
    );
    Ok(())
}

async fn send(s: &mut Session, jid: String, text: String) -> anyhow::Result<()> {
    let account = only_account(s).await?;
    go_online(s, &mut |_| {}).await?;
    let message = s
        .handle
        .request(|reply| Command::SendMessage {
            account,
            to: jid,
            body: text,
            reply,
        })
        .await
        .map_err(service_err)?;
    // Wait for the server's ack (XEP-0198) before going offline.
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => bail!("the server did not confirm the message in time; it stays queued"),
            ev = s.events.next() => match ev {
                Some(Event::Message { message: m }) if m.id == message.id && m.state != "pending" => {
                    if m.state == "failed" {
                        bail!("{}", m.error.unwrap_or_default());
                    }
                    println!("{}", m.id);
                    return Ok(());
                }
                Some(_) => {}
                None => bail!("the service stopped"),
            }
        }
    }
}

fn message_json(m: &ChatMessage) -> serde_json::Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("event".into(), "message".into());
    }
    v
}

fn describe_message(m: &ChatMessage) -> String {
    let lock = if m.encrypted { "🔒 " } else { "" };
    let who = match &m.sender_nick {
        Some(nick) => format!("{} ({nick})", m.conversation),
        None => m.sender.clone(),
    };
    match (&m.body, &m.error) {
        (Some(body), _) => format!("{lock}{who}: {body}"),
        (None, Some(error)) => format!("{lock}{who}: [cannot show this message: {error}]"),
        (None, None) => format!("{lock}{who}: [empty]"),
    }
}

fn read_password() -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
    if trimmed.is_empty() {
        bail!("no password on standard input");
    }
    Ok(trimmed)
}

async fn only_account(s: &Session) -> anyhow::Result<String> {
    let snap = s
        .handle
        .request(|reply| Command::Snapshot { reply })
        .await
        .map_err(service_err)?;
    match snap.accounts.as_slice() {
        [] => bail!("no account yet: add one with `sotto-cli account add JID --password-stdin`"),
        [one] => Ok(one.jid.clone()),
        [first, ..] => Ok(first.jid.clone()),
    }
}

/// Connect every account and wait until each has its roster, or fail
/// with the first connection problem.
async fn go_online(s: &mut Session, seen: &mut dyn FnMut(&Event)) -> anyhow::Result<()> {
    only_account(s).await?;
    s.handle.send(Command::ConnectAll).map_err(service_err)?;
    let handle = s.handle.clone();
    let mut sync =
        tokio::spawn(async move { handle.request(|reply| Command::Sync { reply }).await });
    // The limit is on silence, not on the whole sync: a long archive
    // catch-up keeps reporting progress and may take minutes.
    const QUIET: Duration = Duration::from_secs(45);
    let deadline = tokio::time::sleep(QUIET);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            done = &mut sync => {
                return match done {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(service_err(e)),
                    Err(e) => Err(anyhow!("internal error: {e}")),
                };
            }
            ev = s.events.next() => match ev {
                Some(Event::Connection { state: ConnectionState::Reconnecting { reason }, .. }) => bail!("{reason}"),
                Some(Event::Connection { state: ConnectionState::Offline { reason: Some(e) }, .. }) => {
                    bail!("{}", e.user_message())
                }
                Some(ev) => {
                    deadline.as_mut().reset(tokio::time::Instant::now() + QUIET);
                    seen(&ev);
                }
                None => bail!("the service stopped"),
            },
            _ = &mut deadline => bail!("the server did not answer within 45 seconds"),
        }
    }
}

async fn status(s: &mut Session, json: bool) -> anyhow::Result<()> {
    let snap = s
        .handle
        .request(|reply| Command::Snapshot { reply })
        .await
        .map_err(service_err)?;
    if snap.accounts.is_empty() {
        bail!("no account yet: add one with `sotto-cli account add JID --password-stdin`");
    }
    let online = go_online(s, &mut |_| {}).await;
    for account in &snap.accounts {
        let (state, reason) = match &online {
            Ok(()) => ("online", None),
            Err(e) => ("offline", Some(e.to_string())),
        };
        let devices = s
            .handle
            .request(|reply| Command::Devices {
                account: account.jid.clone(),
                jid: account.jid.clone(),
                reply,
            })
            .await
            .unwrap_or_default();
        let this_device = devices.iter().find(|d| d.own);
        if json {
            println!(
                "{}",
                json!({
                    "account": account.jid,
                    "state": state,
                    "reason": reason,
                    "server": account.server,
                    "device_id": this_device.map(|d| d.device_id),
                    "fingerprint": this_device.and_then(|d| d.fingerprint.clone()),
                    "devices": devices,
                })
            );
        } else {
            match &reason {
                Some(r) => println!("{}: {state} ({r})", account.jid),
                None => println!("{}: {state}", account.jid),
            }
            for d in &devices {
                println!(
                    "  device {}{}: {}",
                    d.device_id,
                    if d.own { " (this device)" } else { "" },
                    d.fingerprint.as_deref().unwrap_or("(fingerprint unknown)")
                );
            }
        }
    }
    online
}

async fn print_roster(s: &Session, json: bool) -> anyhow::Result<()> {
    let snap = s
        .handle
        .request(|reply| Command::Snapshot { reply })
        .await
        .map_err(service_err)?;
    let mut out = std::io::stdout().lock();
    for (account, contacts) in &snap.contacts {
        for c in contacts {
            if json {
                writeln!(out, "{}", contact_json(account, c))?;
            } else {
                let mut flags = Vec::new();
                if c.pending_out {
                    flags.push("awaiting their answer");
                }
                if c.pending_in {
                    flags.push("asks to see your presence");
                }
                writeln!(
                    out,
                    "{}\t{}\t{}{}",
                    c.jid,
                    c.display_name(),
                    c.subscription.as_str(),
                    if flags.is_empty() {
                        String::new()
                    } else {
                        format!("\t({})", flags.join(", "))
                    }
                )?;
            }
        }
    }
    Ok(())
}

fn contact_json(account: &str, c: &Contact) -> serde_json::Value {
    json!({
        "account": account,
        "jid": c.jid,
        "name": c.name,
        "subscription": c.subscription,
        "pending_out": c.pending_out,
        "pending_in": c.pending_in,
        "in_roster": c.in_roster,
        "groups": c.groups,
    })
}

async fn listen(s: &mut Session, json: bool, timeout: Option<u64>) -> anyhow::Result<()> {
    // Messages from the archive arrive while connecting: print them too.
    go_online(s, &mut |ev| print_event(ev, json)).await?;
    eprintln!("Listening; press Ctrl+C to stop.");
    let deadline = async {
        match timeout {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
            ev = s.events.next() => {
                let Some(ev) = ev else { return Ok(()) };
                print_event(&ev, json);
            }
        }
    }
}

fn print_event(ev: &Event, json: bool) {
    let line = match (ev, json) {
        (Event::Message { message }, true) => message_json(message).to_string(),
        (_, true) => serde_json::to_string(ev).unwrap_or_default(),
        (_, false) => describe(ev),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn describe(ev: &Event) -> String {
    match ev {
        Event::Message { message } => describe_message(message),
        Event::Connection { account, state } => format!("{account}: {state:?}"),
        Event::SubscriptionRequest { jid, .. } => {
            format!("{jid} asks to see your presence (sotto-cli contact accept {jid})")
        }
        Event::Presence { jid, presence, .. } => {
            format!(
                "{jid} is {}",
                if presence.available {
                    "online"
                } else {
                    "offline"
                }
            )
        }
        Event::ContactUpdated { contact, .. } => {
            format!(
                "contact {} ({})",
                contact.jid,
                contact.subscription.as_str()
            )
        }
        Event::ContactRemoved { jid, .. } => format!("contact {jid} removed"),
        Event::Roster { contacts, .. } => format!("roster: {} contacts", contacts.len()),
        Event::Error { message } => format!("error: {message}"),
        Event::RoomLeft { room, reason, .. } => format!("{room}: {reason}"),
        Event::Invitation { room, from, .. } => {
            format!("{from} invites you to {room} (sotto-cli muc join {room})")
        }
        Event::Room { room } => format!(
            "{}: {} participants{}",
            room.jid,
            room.participants.len(),
            room.subject
                .as_deref()
                .map(|s| format!(", subject “{s}”"))
                .unwrap_or_default()
        ),
        Event::IdentityChanged {
            jid,
            device_id,
            fingerprint,
            ..
        } => format!(
            "warning: device {device_id} of {jid} now has another identity key ({fingerprint}); \
             it gets no messages until you decide: sotto-cli trust {jid} FINGERPRINT"
        ),
        other => format!("{other:?}"),
    }
}

async fn backup(s: &mut Session, cmd: BackupCmd) -> anyhow::Result<()> {
    use sotto::service::{BackupProgress, BackupStage, CancelToken, IdentityOutcome};
    let (file, json, export, flag) = match cmd {
        BackupCmd::Status(JsonFlag { json }) => {
            let st = s
                .handle
                .request(|reply| Command::BackupStatus { reply })
                .await
                .map_err(service_err)?;
            if json {
                println!("{}", serde_json::to_string(&st)?);
            } else {
                match st.last_export_at {
                    Some(t) => println!("last backup: {}", format_ms(t)),
                    None => println!("no backup made yet"),
                }
                match st.reminder_days {
                    0 => println!("reminder: off"),
                    d => println!(
                        "reminder: after {d} days{}",
                        if st.due { " (due)" } else { "" }
                    ),
                }
            }
            return Ok(());
        }
        BackupCmd::Reminder { days } => {
            s.handle
                .request(|reply| Command::SetBackupReminder { days, reply })
                .await
                .map_err(service_err)?;
            println!(
                "reminder: {}",
                if days == 0 {
                    "off".to_owned()
                } else {
                    format!("after {days} days")
                }
            );
            return Ok(());
        }
        BackupCmd::Export {
            file,
            include_identity,
            json,
            ..
        } => (file, json.json, true, include_identity),
        BackupCmd::Import {
            file,
            restore_identity,
            json,
            ..
        } => (file, json.json, false, restore_identity),
    };
    let passphrase = read_secret_line("passphrase")?;
    if export && flag {
        eprintln!(
            "warning: this backup holds your OMEMO identity (secret keys). Anyone with the file and \
             the passphrase can read new messages sent to this device, and restoring it on a second \
             device while this one is in use breaks the encrypted sessions of both."
        );
    }
    let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel::<BackupProgress>();
    let cancel = CancelToken::new();
    let handle = s.handle.clone();
    let (c, path) = (cancel.clone(), file.clone());
    let mut request = tokio::spawn(async move {
        if export {
            handle
                .request(|reply| Command::ExportBackup {
                    path,
                    passphrase,
                    include_identity: flag,
                    progress,
                    cancel: c,
                    reply,
                })
                .await
                .map(Ok)
        } else {
            handle
                .request(|reply| Command::ImportBackup {
                    path,
                    passphrase,
                    restore_identity: flag,
                    progress,
                    cancel: c,
                    reply,
                })
                .await
                .map(Err)
        }
    });
    let verb = if export { "exporting" } else { "importing" };
    let mut shown = None;
    let result = loop {
        tokio::select! {
            done = &mut request => break done.map_err(|e| anyhow!("internal error: {e}"))?,
            Some(p) = updates.recv() => {
                // A line per 5 %: readable in a terminal and in a log.
                let step = (p.fraction() * 20.0).floor() as u32;
                if shown != Some(step) {
                    shown = Some(step);
                    let doing = if p.stage == BackupStage::Checking { "checking" } else { verb };
                    eprintln!("{doing}: {:3.0}% ({} of {} records)", p.fraction() * 100.0, p.done, p.total);
                }
            }
            _ = tokio::signal::ctrl_c() => cancel.cancel(),
        }
    };
    match result.map_err(service_err)? {
        Ok(summary) => {
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                let c = &summary.counts;
                println!(
                    "Exported {} messages in {} conversations, {} contacts, {} devices and {} trust decisions of {} account(s) to {} ({} bytes){}",
                    c.messages,
                    c.conversations,
                    c.contacts,
                    c.devices,
                    c.trust,
                    c.accounts,
                    summary.path,
                    summary.bytes,
                    if summary.includes_identity {
                        ", with the OMEMO identity"
                    } else {
                        ""
                    }
                );
            }
        }
        Err(summary) => {
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                let (a, p) = (&summary.added, &summary.present);
                println!(
                    "Imported a backup of {} (Sotto {}): {} messages added ({} already here), {} conversations, {} contacts, {} devices, {} trust decisions added, {} account(s) added",
                    format_ms(summary.created_at),
                    summary.app_version,
                    a.messages,
                    p.messages,
                    a.conversations,
                    a.contacts,
                    a.devices,
                    a.trust,
                    a.accounts
                );
            }
            match summary.identity {
                IdentityOutcome::Restored => eprintln!(
                    "warning: the OMEMO identity was restored. Do not use the device the backup came from any more: two devices with one identity break each other's sessions."
                ),
                IdentityOutcome::Skipped => eprintln!(
                    "note: the file holds an OMEMO identity; it was not restored (this device keeps its own keys). Use --restore-identity only when the old device is gone."
                ),
                IdentityOutcome::NotInFile => {}
            }
        }
    }
    Ok(())
}

fn read_secret_line(what: &str) -> anyhow::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
    if trimmed.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(trimmed)
}

/// Unix milliseconds as UTC date and time ("2026-11-27 23:13 UTC").
fn format_ms(ms: i64) -> String {
    let secs = u64::try_from(ms.div_euclid(1000)).unwrap_or(0);
    // The XEP-0082 form is fixed-width: "YYYY-MM-DDTHH:MM:SSZ".
    let stamp = sotto::omemo::format_timestamp(secs);
    format!("{} {} UTC", &stamp[..10], &stamp[11..16])
}

#[cfg(test)]
mod tests {
    use super::format_ms;

    #[test]
    fn times_are_shown_in_utc_to_the_minute() {
        assert_eq!(format_ms(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_ms(1_795_734_780_999), "2026-11-26 23:13 UTC");
    }
}
