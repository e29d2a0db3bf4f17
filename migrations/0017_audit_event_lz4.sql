-- AuditEvents are 2-3 kB of JSON each, above the size at which PostgreSQL compresses a row's values. With its
-- default method (pglz) the statement appending a read's events spent 0.150 ms per event in the database; with LZ4,
-- 0.114 ms (pg_stat_statements, `npm run bench -- read`). Rows already written keep their compression; a server
-- built without LZ4 (and the embedded PGlite) keeps pglz.
-- See: https://www.postgresql.org/docs/15/storage-toast.html
DO $$
BEGIN
  ALTER TABLE "audit_event" ALTER COLUMN "event" SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END
$$;
