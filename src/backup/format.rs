//! The records of a backup file, one JSON object per line. docs/backup-format.md
//! describes them for people; this is the same thing for the compiler.

use serde::{Deserialize, Serialize};

use crate::store::backup::{
    BackupAccount, BackupContact, BackupConversation, BackupCounts, BackupDevice, BackupIdentity,
    BackupMessage, BackupPrekey, BackupSession, BackupSignedPrekey, BackupTrust,
};

/// The `format` field of the header: tells a Sotto backup from any other
/// JSON lines that happen to sit in an age file.
pub const FORMAT_NAME: &str = "sotto-backup";

/// The layout version this code writes. A reader refuses a newer major
/// version: it cannot know what it would drop.
pub const FORMAT_VERSION: u32 = 1;

/// No record comes near this; a longer line is a damaged or hostile file,
/// and reading it would break the constant-memory promise.
pub const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// The first record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// The Sotto version that wrote the file.
    pub app_version: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// The accounts in the file, by address.
    pub accounts: Vec<String>,
    /// Whether OMEMO identities, pre-keys and sessions follow.
    pub includes_identity: bool,
    /// How many records of each kind follow (the end record repeats them).
    pub counts: BackupCounts,
}

/// The last record: without it, with other counts, or with anything after
/// it, the file is incomplete or tampered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    pub counts: BackupCounts,
}

// Nearly every record is a message: boxing it would add an allocation per
// record to save space on the rare small ones.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Header(Header),
    Account(BackupAccount),
    Contact(BackupContact),
    Conversation(BackupConversation),
    Message(BackupMessage),
    Device(BackupDevice),
    Trust(BackupTrust),
    OmemoIdentity(BackupIdentity),
    OmemoPrekey(BackupPrekey),
    OmemoSignedPrekey(BackupSignedPrekey),
    OmemoSession(BackupSession),
    End(End),
}

impl Record {
    /// Adds this record to the tally of what was read.
    pub fn count_into(&self, counts: &mut BackupCounts) {
        let slot = match self {
            Record::Header(_) | Record::End(_) => return,
            Record::Account(_) => &mut counts.accounts,
            Record::Contact(_) => &mut counts.contacts,
            Record::Conversation(_) => &mut counts.conversations,
            Record::Message(_) => &mut counts.messages,
            Record::Device(_) => &mut counts.devices,
            Record::Trust(_) => &mut counts.trust,
            Record::OmemoIdentity(_) => &mut counts.omemo_identities,
            Record::OmemoPrekey(_) => &mut counts.omemo_prekeys,
            Record::OmemoSignedPrekey(_) => &mut counts.omemo_signed_prekeys,
            Record::OmemoSession(_) => &mut counts.omemo_sessions,
        };
        *slot += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_tagged_json_objects() {
        let r = Record::Account(BackupAccount {
            jid: "alice@example.org".into(),
            server: None,
            ca_file: None,
            enabled: true,
            created_at: 5,
        });
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"type":"account","jid":"alice@example.org","server":null,"ca_file":null,"enabled":true,"created_at":5}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
    }

    #[test]
    fn identity_records_never_show_their_secret_in_debug_output() {
        let r = Record::OmemoIdentity(BackupIdentity {
            account: "alice@example.org".into(),
            device_id: 7,
            identity: "deadbeefcafe".into(),
            created_at: 1,
        });
        assert!(!format!("{r:?}").contains("deadbeefcafe"));
    }
}
