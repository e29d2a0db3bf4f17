-- The access-token signing keys move out of the database into files beside
-- the data (SIGNING_KEYS_DIR, like the audit log key): read access to the
-- database must not let anyone mint a token. Nothing secret stays here.
-- Tokens and search cursors signed with the dropped key stop working; clients
-- ask for new tokens (they live five minutes).
DROP TABLE "hub_key";
