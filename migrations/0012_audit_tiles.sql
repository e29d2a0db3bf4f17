-- The verifiable log's Merkle tree, stored as C2SP tlog-tiles: each row is one
-- FULL tile of 256 hashes (8,192 bytes) at a level (0: leaf hashes; L: the
-- roots of 256 full tiles of level L-1), with its own root (MTH of the 256^(L+1)
-- entries it spans) so that the partial tile above it is a range read.
-- Partial tiles are never stored: the one at level 0 is the last leaf hashes
-- of audit_log, the one at level L the roots of the last full tiles of level
-- L-1, so every row is final when written and the table is append-only like
-- the log (the same trigger as migration 0001's).
-- See: https://c2sp.org/tlog-tiles
CREATE TABLE "audit_tile" (
	"level" smallint NOT NULL CHECK ("level" BETWEEN 0 AND 63),
	"idx" bigint NOT NULL CHECK ("idx" >= 0),
	"hashes" bytea NOT NULL CHECK (octet_length("hashes") = 8192),
	"root" bytea NOT NULL CHECK (octet_length("root") = 32),
	CONSTRAINT "audit_tile_pk" PRIMARY KEY ("level", "idx")
);
--> statement-breakpoint
CREATE TRIGGER audit_tile_no_update_delete BEFORE UPDATE OR DELETE ON audit_tile
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
--> statement-breakpoint
CREATE TRIGGER audit_tile_no_truncate BEFORE TRUNCATE ON audit_tile
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
