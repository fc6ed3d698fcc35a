//! `sotto-cli qr show [--png FILE]` and `sotto-cli qr scan FILE`: trust by
//! QR code from the shell (issue 7).

use std::path::PathBuf;

use anyhow::{anyhow, bail};
use clap::Subcommand;
use serde_json::json;
use sotto::qr::{QrMatrix, decode_file};
use sotto::service::{Command, QrCheck, QrOutcome, QrSummary};

use super::{JsonFlag, Session, go_online, only_account, service_err};

/// Side of the PNG in pixels, roughly: big enough for a phone across a
/// table, in whole pixels per module.
const PNG_SIZE: u32 = 600;

#[derive(Subcommand)]
pub(crate) enum QrCmd {
    /// Print this account's trust URI (this device and your verified
    /// devices) and the fingerprints in it.
    Show {
        /// Also write the code as a PNG picture to FILE.
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Read a code from a picture, compare it with the devices the server
    /// publishes, and verify the ones that match.
    Scan {
        /// A PNG picture of the code.
        file: PathBuf,
        /// Only show what the code would do; save nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

pub(crate) async fn qr(s: &mut Session, cmd: QrCmd) -> anyhow::Result<()> {
    match cmd {
        QrCmd::Show { png, json } => show(s, png, json.json).await,
        QrCmd::Scan {
            file,
            dry_run,
            json,
        } => scan(s, file, dry_run, json.json).await,
    }
}

async fn show(s: &mut Session, png: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let account = only_account(s).await?;
    // Fresh own device list when the server is there; the code itself comes
    // from the store, so it works offline too.
    if let Err(e) = go_online(s, &mut |_| {}).await {
        eprintln!("sotto-cli: offline ({e}); using what is stored");
    }
    let code = s
        .handle
        .request(|reply| Command::OwnQrUri { account, reply })
        .await
        .map_err(service_err)?;
    if let Some(path) = &png {
        let matrix = QrMatrix::encode(&code.uri).map_err(|e| anyhow!(e.user_message()))?;
        matrix
            .write_png(path, matrix.scale_to_fit(PNG_SIZE))
            .map_err(|e| anyhow!(e.user_message()))?;
    }
    if json {
        println!(
            "{}",
            json!({
                "account": code.account,
                "uri": code.uri,
                "devices": code.devices,
                "png": png.as_ref().map(|p| p.display().to_string()),
            })
        );
    } else {
        println!("{}", code.uri);
        for d in &code.devices {
            println!(
                "device {}{}: {}",
                d.device_id,
                if d.this_device { " (this device)" } else { "" },
                d.fingerprint
            );
        }
        if let Some(path) = &png {
            eprintln!("Wrote the QR code to {}", path.display());
        }
    }
    Ok(())
}

async fn scan(s: &mut Session, file: PathBuf, dry_run: bool, json: bool) -> anyhow::Result<()> {
    let uri = decode_file(&file).map_err(|e| anyhow!(e.user_message()))?;
    let account = only_account(s).await?;
    go_online(s, &mut |_| {}).await?;
    let (a, u) = (account.clone(), uri.clone());
    let mut summary = s
        .handle
        .request(|reply| Command::PreviewQr {
            account: a,
            uri: u,
            reply,
        })
        .await
        .map_err(service_err)?;
    if !dry_run && summary.verified > 0 {
        summary = s
            .handle
            .request(|reply| Command::ApplyQr {
                account,
                uri,
                reply,
            })
            .await
            .map_err(service_err)?;
    }
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary, dry_run);
    }
    for d in summary.devices.iter().filter(|d| is_flagged(d)) {
        eprintln!("warning: {}", describe(d));
    }
    if summary.verified + summary.already_verified == 0 {
        bail!(
            "nothing verified: the code does not match what {} publishes ({} mismatched, {} not published)",
            summary.jid,
            summary.mismatched,
            summary.not_published
        );
    }
    Ok(())
}

fn is_flagged(d: &QrCheck) -> bool {
    matches!(d.outcome, QrOutcome::Mismatch | QrOutcome::NotPublished)
}

fn print_summary(summary: &QrSummary, dry_run: bool) {
    let verb = if dry_run { "to verify" } else { "verified" };
    println!(
        "{}: {} {verb}, {} mismatched{}{}",
        summary.jid,
        summary.verified,
        summary.flagged(),
        if summary.not_published > 0 {
            format!(" ({} not published)", summary.not_published)
        } else {
            String::new()
        },
        if summary.already_verified > 0 {
            format!(", {} verified before", summary.already_verified)
        } else {
            String::new()
        },
    );
    for d in &summary.devices {
        println!("  {}", describe(d));
    }
    if !summary.is_contact && !summary.own_account {
        println!(
            "{} is not in your contacts; add them with: sotto-cli contact add {}",
            summary.jid, summary.jid
        );
    }
}

fn describe(d: &QrCheck) -> String {
    let device = match d.device_id {
        Some(id) => format!("device {id}"),
        None => "a key without a device".to_owned(),
    };
    match d.outcome {
        QrOutcome::Verify => format!("{device}: verified ({})", d.fingerprint),
        QrOutcome::AlreadyVerified => format!("{device}: verified before ({})", d.fingerprint),
        QrOutcome::ThisDevice => format!("{device}: this device ({})", d.fingerprint),
        QrOutcome::Mismatch => format!(
            "{device}: MISMATCH, not trusted: the code shows {} but the server publishes {}",
            d.fingerprint,
            d.published.as_deref().unwrap_or("another key")
        ),
        QrOutcome::NotPublished => format!(
            "{device}: NOT PUBLISHED by the server, not trusted ({})",
            d.fingerprint
        ),
    }
}
