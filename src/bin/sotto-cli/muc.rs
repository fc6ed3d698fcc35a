//! `sotto-cli muc …`: group chats and channels from the shell (issue 6).

use anyhow::bail;
use clap::Subcommand;
use sotto::service::{Affiliation, Command, RoomInfo};

use super::{JsonFlag, Session, go_online, only_account, send, service_err};

#[derive(Subcommand)]
pub(crate) enum MucCmd {
    /// Create a members-only group chat where everyone's address is visible
    /// to the members (so messages are end-to-end encrypted).
    Create {
        room: String,
        /// Invite these contacts as members.
        #[arg(long, num_args = 1.., value_name = "JID")]
        members: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        nick: Option<String>,
        /// A public channel instead: anyone may join, never encrypted.
        #[arg(long)]
        channel: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Join a group chat or a public channel (and keep joining it).
    Join {
        room: String,
        #[arg(long)]
        nick: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Leave a room and stop joining it; its history stays.
    Leave { room: String },
    /// Owners: destroy the room.
    Destroy {
        room: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Send a message to a room (encrypted in group chats).
    Send { room: String, text: String },
    /// Who takes part: affiliations, roles, presence, and whether messages
    /// are encrypted here (and why not).
    Members {
        room: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Owners and admins: change someone's affiliation (`none` removes a
    /// member, `outcast` bans).
    Affiliation {
        room: String,
        jid: String,
        #[arg(value_parser = ["owner", "admin", "member", "none", "outcast"])]
        affiliation: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Moderators: remove someone from the room for now.
    Kick {
        room: String,
        nick: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Invite contacts (members-only rooms: they become members).
    Invite {
        room: String,
        #[arg(required = true)]
        jids: Vec<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Change the room's subject (moderators, or anyone where the room
    /// allows it).
    Subject { room: String, subject: String },
    /// Change your nickname in a room (kept for the next joins).
    Nick {
        room: String,
        nick: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The public rooms of a service (default: your server's).
    List {
        service: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub(crate) async fn muc(s: &mut Session, cmd: MucCmd) -> anyhow::Result<()> {
    if let MucCmd::Send { room, text } = cmd {
        // Rooms are joined while going online; then the same path as chats.
        return send(s, room, text).await;
    }
    let account = only_account(s).await?;
    go_online(s, &mut |_| {}).await?;
    match cmd {
        MucCmd::Create {
            room,
            members,
            name,
            nick,
            channel,
            json,
        } => {
            let info = s
                .handle
                .request(|reply| Command::CreateRoom {
                    account,
                    room,
                    name,
                    nick,
                    members,
                    channel,
                    reply,
                })
                .await
                .map_err(service_err)?;
            print_room(&info, json.json);
        }
        MucCmd::Join { room, nick, json } => {
            let info = s
                .handle
                .request(|reply| Command::JoinRoom {
                    account,
                    room,
                    nick,
                    reply,
                })
                .await
                .map_err(service_err)?;
            print_room(&info, json.json);
        }
        MucCmd::Leave { room } => {
            s.handle
                .request(|reply| Command::LeaveRoom {
                    account,
                    room,
                    reply,
                })
                .await
                .map_err(service_err)?;
        }
        MucCmd::Destroy { room, reason } => {
            s.handle
                .request(|reply| Command::DestroyRoom {
                    account,
                    room,
                    reason,
                    reply,
                })
                .await
                .map_err(service_err)?;
        }
        MucCmd::Send { .. } => {}
        MucCmd::Members { room, json } => {
            let info = s
                .handle
                .request(|reply| Command::RoomDetails {
                    account,
                    room,
                    reply,
                })
                .await
                .map_err(service_err)?;
            print_room(&info, json.json);
        }
        MucCmd::Affiliation {
            room,
            jid,
            affiliation,
            reason,
        } => {
            let Some(affiliation) = Affiliation::parse(&affiliation) else {
                bail!("unknown affiliation {affiliation}");
            };
            s.handle
                .request(|reply| Command::SetAffiliation {
                    account,
                    room,
                    jid,
                    affiliation,
                    reason,
                    reply,
                })
                .await
                .map_err(service_err)?;
        }
        MucCmd::Kick { room, nick, reason } => {
            s.handle
                .request(|reply| Command::Kick {
                    account,
                    room,
                    nick,
                    reason,
                    reply,
                })
                .await
                .map_err(service_err)?;
        }
        MucCmd::Invite { room, jids, reason } => {
            s.handle
                .request(|reply| Command::Invite {
                    account,
                    room,
                    jids,
                    reason,
                    reply,
                })
                .await
                .map_err(service_err)?;
        }
        MucCmd::Subject { room, subject } => {
            s.handle
                .request(|reply| Command::SetSubject {
                    account,
                    room,
                    subject,
                    reply,
                })
                .await
                .map_err(service_err)?;
        }
        MucCmd::Nick { room, nick, json } => {
            let info = s
                .handle
                .request(|reply| Command::SetNick {
                    account,
                    room,
                    nick,
                    reply,
                })
                .await
                .map_err(service_err)?;
            print_room(&info, json.json);
        }
        MucCmd::List { service, json } => {
            let rooms = s
                .handle
                .request(|reply| Command::ListRooms {
                    account,
                    service,
                    reply,
                })
                .await
                .map_err(service_err)?;
            for r in rooms {
                if json.json {
                    println!("{}", serde_json::to_string(&r).unwrap_or_default());
                } else {
                    println!("{}\t{}", r.jid, r.name.unwrap_or_default());
                }
            }
        }
    }
    Ok(())
}

fn print_room(info: &RoomInfo, json: bool) {
    if json {
        println!("{}", serde_json::to_string(info).unwrap_or_default());
        return;
    }
    println!(
        "{} ({}){}",
        info.jid,
        info.kind,
        info.name
            .as_deref()
            .map(|n| format!(" “{n}”"))
            .unwrap_or_default()
    );
    match &info.encryption_reason {
        None => println!("encrypted (OMEMO)"),
        Some(why) => println!("not encrypted: {why}"),
    }
    if info.lists_refused {
        println!(
            "the server did not give out the member lists: only members who are present get keys"
        );
    }
    for p in &info.participants {
        println!(
            "{}\t{}\t{}\t{}",
            p.jid.as_deref().unwrap_or("(address hidden)"),
            p.nick.as_deref().unwrap_or("-"),
            p.affiliation.as_str(),
            match (&p.role, p.present) {
                (Some(role), true) => role.as_str(),
                _ => "away",
            }
        );
    }
}
