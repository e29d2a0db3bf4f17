import type { AuditEvent } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { bigint, bigserial, char, customType, index, jsonb, pgTable, primaryKey, smallint, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Every AuditEvent, written in the transaction of the request it describes.
 * Append-only: triggers in the migrations refuse UPDATE, DELETE and TRUNCATE.
 * seq orders inserts but may have gaps (rolled-back transactions).
 */
export const auditEvents = pgTable(
  'audit_event',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    eventId: text('event_id').notNull().unique(),
    recorded: timestamp('recorded', { withTimezone: true, mode: 'date' }).notNull(),
    event: jsonb('event').$type<AuditEvent>().notNull(),
    /** RFC 6962 leaf hash: SHA-256(0x00 || RFC 8785 canonical JSON of event), hex. */
    leafHash: char('leaf_hash', { length: 64 }).notNull(),
  },
  (t) => [
    // The IG lead's AuditEvent searches: containment (@>) on patients, agents, subtype, flow.
    index('audit_event_event_gin').using('gin', sql`${t.event} jsonb_path_ops`),
    index('audit_event_recorded_idx').on(t.recorded),
  ],
);

/** Events committed but not yet given a place in the log. The sequencer drains it. */
export const auditQueue = pgTable('audit_queue', {
  seq: bigint('seq', { mode: 'number' }).primaryKey(),
});

/**
 * The log: a gap-free index over committed events, chained by hash.
 * chain_hash(i) = SHA-256(chain_hash(i-1) || leaf_hash(i)); chain_hash(-1) = 32 zero bytes.
 * Append-only like audit_event.
 */
export const auditLog = pgTable('audit_log', {
  idx: bigint('idx', { mode: 'number' }).primaryKey(),
  eventSeq: bigint('event_seq', { mode: 'number' })
    .notNull()
    .unique()
    .references(() => auditEvents.seq),
  leafHash: char('leaf_hash', { length: 64 }).notNull(),
  prevHash: char('prev_hash', { length: 64 }).notNull(),
  chainHash: char('chain_hash', { length: 64 }).notNull(),
  sequencedAt: timestamp('sequenced_at', { withTimezone: true, mode: 'date' }).notNull(),
  /**
   * The hub's Ed25519 signature over (origin, idx, leaf hash): a per-entry
   * receipt, like a Certificate Transparency SCT, made with the log key that
   * never enters the database. Lets an offline verifier name the exact entry
   * a superuser rewrote. Null for entries sequenced before receipts existed.
   */
  receipt: text('receipt'),
});

/**
 * Signed checkpoints (C2SP tlog-checkpoint notes) of the Merkle tree over the
 * log's leaf hashes. Append-only like the log.
 */
export const auditCheckpoints = pgTable('audit_checkpoint', {
  treeSize: bigint('tree_size', { mode: 'number' }).primaryKey(),
  /** RFC 6962 root hash at tree_size, hex. */
  rootHash: char('root_hash', { length: 64 }).notNull(),
  issued: timestamp('issued', { withTimezone: true, mode: 'date' }).notNull(),
  /** The whole signed note, as served. */
  note: text('note').notNull(),
});

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
});

/**
 * The Merkle tree of the log as C2SP tlog-tiles (migration 0012): full tiles
 * only, 256 hashes each, with the tile's own root. Append-only like the log.
 * See: https://c2sp.org/tlog-tiles
 */
export const auditTiles = pgTable(
  'audit_tile',
  {
    level: smallint('level').notNull(),
    idx: bigint('idx', { mode: 'number' }).notNull(),
    /** 256 concatenated 32-byte hashes, as served at /audit-log/tile/<L>/<N>. */
    hashes: bytea('hashes').notNull(),
    /** MTH of the 256^(level+1) entries the tile spans: hash idx % 256 of tile idx / 256 at level + 1. */
    root: bytea('root').notNull(),
  },
  (t) => [primaryKey({ name: 'audit_tile_pk', columns: [t.level, t.idx] })],
);
