-- Sotto's archive. Every table is keyed by the account it belongs to, so a
-- profile can hold several accounts. Timestamps are Unix milliseconds (UTC).

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    jid         TEXT NOT NULL UNIQUE,
    -- HOST:PORT when SRV resolution is bypassed; NULL otherwise.
    server      TEXT,
    -- A PEM CA file that is trusted instead of the system roots.
    ca_file     TEXT,
    roster_ver  TEXT,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);

CREATE TABLE contacts (
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    jid          TEXT NOT NULL,
    name         TEXT,
    subscription TEXT NOT NULL DEFAULT 'none'
                 CHECK (subscription IN ('none', 'to', 'from', 'both')),
    pending_out  INTEGER NOT NULL DEFAULT 0,
    pending_in   INTEGER NOT NULL DEFAULT 0,
    -- We added this contact ourselves: their subscription request is
    -- answered automatically.
    wanted       INTEGER NOT NULL DEFAULT 0,
    groups       TEXT NOT NULL DEFAULT '[]',
    in_roster    INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (account_id, jid)
);

CREATE TABLE conversations (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    jid           TEXT NOT NULL,
    kind          TEXT NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'group', 'channel')),
    name          TEXT,
    -- Sticky per-conversation choice: NULL follows the default policy.
    encryption    TEXT CHECK (encryption IN ('omemo', 'none')),
    last_activity INTEGER,
    unread        INTEGER NOT NULL DEFAULT 0,
    -- Last MAM archive id seen, to catch up from there on connect.
    mam_last_id   TEXT,
    open          INTEGER NOT NULL DEFAULT 1,
    UNIQUE (account_id, jid)
);
CREATE INDEX conversations_by_activity ON conversations (account_id, last_activity DESC);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    -- XEP-0359 ids: stanza_id is assigned by the archive (by `stanza_id_by`),
    -- origin_id by the sender. Dedupe on either.
    stanza_id       TEXT,
    stanza_id_by    TEXT,
    origin_id       TEXT,
    message_id      TEXT,
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    sender_jid      TEXT NOT NULL,
    sender_device   INTEGER,
    -- Occupant nickname in group chats.
    sender_nick     TEXT,
    timestamp       INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    body            TEXT,
    encryption      TEXT NOT NULL DEFAULT 'none' CHECK (encryption IN ('none', 'omemo0', 'omemo2')),
    trusted         INTEGER,
    state           TEXT NOT NULL DEFAULT 'received'
                    CHECK (state IN ('pending', 'sent', 'delivered', 'read', 'failed', 'received')),
    -- Why it failed to send, or why it could not be decrypted.
    error           TEXT,
    -- XEP-0308: the message id this one corrects.
    replaces_id     TEXT,
    corrected       INTEGER NOT NULL DEFAULT 0,
    -- JSON: devices encrypted for / left out and why, header device ids.
    encryption_info TEXT
);
CREATE INDEX messages_window ON messages (conversation_id, timestamp, id);
CREATE UNIQUE INDEX messages_stanza_id ON messages (conversation_id, stanza_id_by, stanza_id)
    WHERE stanza_id IS NOT NULL;
CREATE UNIQUE INDEX messages_origin_id ON messages (conversation_id, sender_jid, origin_id)
    WHERE origin_id IS NOT NULL;
CREATE INDEX messages_message_id ON messages (conversation_id, message_id);

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    body, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.body IS NOT NULL BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.body IS NOT NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body)
        SELECT 'delete', old.id, old.body WHERE old.body IS NOT NULL;
    INSERT INTO messages_fts (rowid, body) SELECT new.id, new.body WHERE new.body IS NOT NULL;
END;

-- OMEMO: this device's identity and keys. Serialized state comes from the
-- pure protocol core (omemo/), stored as opaque blobs.
CREATE TABLE omemo_identity (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    device_id   INTEGER NOT NULL,
    identity    BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE omemo_prekeys (
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    prekey_id   INTEGER NOT NULL,
    secret      BLOB NOT NULL,
    -- Set when used during a catch-up; deleted when the catch-up ends.
    used_at     INTEGER,
    PRIMARY KEY (account_id, prekey_id)
);

CREATE TABLE omemo_signed_prekeys (
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    spk_id      INTEGER NOT NULL,
    secret      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    -- Superseded keys stay for a grace period.
    retired_at  INTEGER,
    PRIMARY KEY (account_id, spk_id)
);

CREATE TABLE omemo_devices (
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    jid          TEXT NOT NULL,
    namespace    TEXT NOT NULL CHECK (namespace IN ('omemo0', 'omemo2')),
    device_id    INTEGER NOT NULL,
    label        TEXT,
    identity_key BLOB,
    active       INTEGER NOT NULL DEFAULT 1,
    last_seen    INTEGER,
    PRIMARY KEY (account_id, jid, namespace, device_id)
);

CREATE TABLE omemo_sessions (
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    namespace    TEXT NOT NULL CHECK (namespace IN ('omemo0', 'omemo2')),
    jid          TEXT NOT NULL,
    device_id    INTEGER NOT NULL,
    state        BLOB NOT NULL,
    -- Messages received since we last sent (staleness prevention).
    received_since_send INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, namespace, jid, device_id)
);

CREATE TABLE trust (
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    jid          TEXT NOT NULL,
    device_id    INTEGER NOT NULL,
    identity_key BLOB NOT NULL,
    level        TEXT NOT NULL CHECK (level IN ('undecided', 'verified', 'blind', 'distrusted')),
    -- How the decision was made: 'qr', 'manual', 'btbv', 'import'.
    source       TEXT NOT NULL,
    decided_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, jid, device_id, identity_key)
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
