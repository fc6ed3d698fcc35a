-- MAM bookmark for the account's own archive (rooms keep theirs in
-- conversations.mam_last_id).
ALTER TABLE accounts ADD COLUMN mam_last_id TEXT;

-- XEP-0308 corrections are applied to the corrected row, not stored as rows
-- of their own. Their ids are kept here so that the same correction arriving
-- again (live, then from MAM) is recognised and an older one never reverts a
-- newer one.
CREATE TABLE message_corrections (
    id           INTEGER PRIMARY KEY,
    -- The corrected message.
    target_id    INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    stanza_id    TEXT,
    stanza_id_by TEXT,
    origin_id    TEXT,
    message_id   TEXT,
    timestamp    INTEGER NOT NULL
);
CREATE INDEX message_corrections_by_target ON message_corrections (target_id);
CREATE INDEX message_corrections_by_message_id ON message_corrections (message_id);
CREATE INDEX message_corrections_by_origin_id ON message_corrections (origin_id);

-- Chat markers (XEP-0333) acknowledge every earlier outgoing message: this
-- keeps that walk to the messages still waiting for one, however long the
-- conversation.
CREATE INDEX messages_out_unacked ON messages (conversation_id, timestamp, id)
    WHERE direction = 'out' AND state IN ('sent', 'delivered');
-- Receipts and markers name a message by any of its ids, without the sender
-- (XEP-0333 asks for the room's stanza-id in group chats); the unique
-- indexes of 0001 need the sender or the archive, so these look them up.
CREATE INDEX messages_by_origin_id ON messages (conversation_id, origin_id)
    WHERE origin_id IS NOT NULL;
CREATE INDEX messages_by_stanza_id ON messages (conversation_id, stanza_id)
    WHERE stanza_id IS NOT NULL;
-- Outgoing messages to resend after a restart.
CREATE INDEX messages_pending ON messages (timestamp, id) WHERE state = 'pending';
