-- Group chats and channels (XEP-0045) an account takes part in: joined
-- again on every connect while `autojoin` is set, mirrored to the
-- account's bookmarks (XEP-0402) so other clients know them too.
CREATE TABLE rooms (
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    jid         TEXT NOT NULL,
    nick        TEXT NOT NULL,
    name        TEXT,
    autojoin    INTEGER NOT NULL DEFAULT 1,
    subject     TEXT,
    PRIMARY KEY (account_id, jid)
);
