-- Whether the room's bookmark is known to be on the server (saved by us or
-- read from it). A room that was bookmarked and whose bookmark is gone was
-- left on another device, and is not joined here either.
ALTER TABLE rooms ADD COLUMN bookmarked INTEGER NOT NULL DEFAULT 0;
