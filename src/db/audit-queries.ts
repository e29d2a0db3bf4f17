import type { AuditEvent } from 'fhir/r4.js';
import { and, asc, desc, eq, gt, gte, lt, lte, sql } from 'drizzle-orm';
import { canonicalJson } from '../audit/canonical-json.js';
import { chainHash, EMPTY_CHAIN, leafHashOfCanonicalText } from '../audit/log-hash.js';
import { signReceipts, type LogKey } from '../audit/signed-note.js';
import type { LogRow } from '../audit/verify-chain.js';
import { TILE_WIDTH } from '../audit/tiles.js';
import { extendTiles, SEQUENCER_LOCK_KEY } from './audit-tile-queries.js';
import { inTransaction, rawRows, runStatement, type Db, type Tx } from './database.js';
import type { FinalStatement } from './pipelined-transaction.js';
import { auditCheckpoints, auditEvents, auditLog, auditQueue } from './schema/index.js';

/** An event ready for the log: its id and time, as in the event. */
export type AppendableEvent = AuditEvent & { id: string; recorded: string };

// Every event of a request in one statement: the rows, their queue entries,
// in the order given (the sequencer orders the log by seq).
const APPEND_EVENTS = {
  name: 'audit_append_events',
  text: `with given as (
    select e->>'id' as event_id, (e->>'recorded')::timestamptz as recorded, e->'event' as event, e->>'leafHash' as leaf_hash, n
    from jsonb_array_elements($1::jsonb) with ordinality as t(e, n)
  ), inserted as (
    insert into audit_event (event_id, recorded, event, leaf_hash)
    select event_id, recorded, event, leaf_hash from given order by n
    returning seq
  )
  insert into audit_queue (seq) select seq from inserted`,
};

/** Appends one event inside the caller's transaction. If this fails, the request fails. */
export async function appendAuditEvent(tx: Db | Tx, event: AppendableEvent): Promise<void> {
  await appendAuditEvents(tx, [event]);
}

/** Appends events inside the caller's transaction, in one statement. If this fails, the request fails. */
export async function appendAuditEvents(tx: Db | Tx, events: readonly AppendableEvent[]): Promise<void> {
  const append = appendEventsStatement(events);
  if (append !== undefined) await runStatement(tx, append.statement, append.values);
}

/** The statement that appends the events (none for no events), for a transaction to run last. */
export function appendEventsStatement(events: readonly AppendableEvent[]): FinalStatement | undefined {
  if (events.length === 0) return undefined;
  // Each event's canonical JSON is both what its leaf hash is over and, being JSON, how it is sent: serialised once.
  const rows = events.map((event) => {
    const canonical = canonicalJson(event);
    return `{"id":${JSON.stringify(event.id)},"recorded":${JSON.stringify(event.recorded)},"event":${canonical},"leafHash":"${leafHashOfCanonicalText(canonical)}"}`;
  });
  return { statement: APPEND_EVENTS, values: [`[${rows.join(',')}]`] };
}


// The sequencer's lock, tried in a statement of its own: the statement that
// reads the queue and the log head must start after the lock is held, so that
// its snapshot sees everything the previous holder committed.
const TRY_LOCK = { name: 'audit_sequencer_lock', text: `select pg_try_advisory_xact_lock(${SEQUENCER_LOCK_KEY}) as locked` };

// The queued events the pass takes (with their leaf hashes) and the log's head, in one statement.
const TAKE_QUEUED = {
  name: 'audit_take_queued',
  text: `with taken as (
      delete from audit_queue q using audit_event e
      where q.seq = e.seq and q.seq in (select seq from audit_queue order by seq limit $1)
      returning q.seq, e.leaf_hash
    )
    select (select coalesce(json_agg(json_build_array(t.seq, t.leaf_hash)), '[]'::json) from taken t) as taken,
      (select json_build_array(l.idx, l.chain_hash) from audit_log l order by l.idx desc limit 1) as head`,
};

// A pass's log rows in one prepared statement (the query builder cost more CPU than the insert), all sequenced at one time.
const APPEND_LOG = {
  name: 'audit_append_log',
  text: `insert into audit_log (idx, event_seq, leaf_hash, prev_hash, chain_hash, sequenced_at, receipt)
    select e.idx, e.event_seq, e.leaf_hash, e.prev_hash, e.chain_hash, $6::timestamptz, e.receipt
    from unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $7::text[]) as e(idx, event_seq, leaf_hash, prev_hash, chain_hash, receipt)`,
};

/** What one pass did: entries appended, and whether the queue may hold more than it took. */
export interface SequencedPass {
  appended: number;
  /** False when the pass took less than a full batch (or did not hold the lock): nothing was left behind. */
  more: boolean;
}

/**
 * Gives queued events their gap-free place in the log and extends the hash
 * chain. Safe to call from any instance at any time: one wins the lock, the
 * others return 0 at once. Returns how many entries were appended. With the
 * log key, each entry gets its receipt: one signature per run of up to 64
 * entries over the run's place and Merkle root, with the entry's audit path
 * in the run (signed-note.ts).
 */
export async function sequenceAuditEvents(db: Db, now: () => Date, key?: LogKey, batch = 500): Promise<number> {
  return (await sequencePass(db, now, key, batch)).appended;
}

/** One sequencing pass (see sequenceAuditEvents), saying whether another may find more. */
export async function sequencePass(db: Db, now: () => Date, key?: LogKey, batch = 500): Promise<SequencedPass> {
  const pass = await inTransaction(
    db,
    async (tx): Promise<SequencedPass & { last?: FinalStatement | undefined }> => {
      const [lock] = await runStatement<{ locked: boolean }>(tx, TRY_LOCK, []);
      if (lock?.locked !== true) return { appended: 0, more: false };
      const [taken] = await runStatement<{ taken: [string | number, string][]; head: [string | number, string] | null }>(tx, TAKE_QUEUED, [batch]);
      if (taken === undefined || taken.taken.length === 0) return { appended: 0, more: false };
      const rows = taken.taken.map(([seq, leafHash]) => ({ seq: Number(seq), leafHash })).sort((a, b) => a.seq - b.seq);
      const head = taken.head;
      const size = head === null ? 0 : Number(head[0]) + 1;
      let idx = size;
      let prev = head?.[1] ?? EMPTY_CHAIN;
      const sequencedAt = now();
      const receipts = key === undefined ? undefined : signReceipts(key, size, rows.map((r) => Buffer.from(r.leafHash, 'hex')));
      const entries = rows.map((r, at) => {
        const chained = chainHash(prev, r.leafHash);
        const entry = { idx, eventSeq: r.seq, leafHash: r.leafHash, prevHash: prev, chainHash: chained, receipt: receipts?.[at] ?? null };
        idx += 1;
        prev = chained;
        return entry;
      });
      const append: FinalStatement = {
        statement: APPEND_LOG,
        values: [
          entries.map((e) => e.idx),
          entries.map((e) => e.eventSeq),
          entries.map((e) => e.leafHash),
          entries.map((e) => e.prevHash),
          entries.map((e) => e.chainHash),
          sequencedAt.toISOString(),
          entries.map((e) => e.receipt),
        ],
      };
      const result = { appended: entries.length, more: rows.length >= batch };
      // A pass that completes no tile (nearly every one, once the tiles are caught up) sends its log rows with COMMIT.
      if (tilesCaughtUp.has(db) && Math.floor(idx / TILE_WIDTH) === Math.floor(size / TILE_WIDTH)) return { ...result, last: append };
      await runStatement(tx, append.statement, append.values);
      // The tiles these entries complete commit with them (tlog-tiles, migration 0012).
      if ((await extendTiles(tx, idx)).complete) tilesCaughtUp.add(db);
      else tilesCaughtUp.delete(db);
      return result;
    },
    (result) => result.last,
  );
  return { appended: pass.appended, more: pass.more };
}

/**
 * Databases whose tiles this process has seen complete up to the log's size
 * (not yet at start, nor after a pass that stored only part of a backlog).
 * While they are, a pass that completes no tile has none to store, and skips
 * the look; a tile it does complete is stored in its transaction, as before.
 */
const tilesCaughtUp = new WeakSet<Db>();


/**
 * Sequences until the queue is empty (CLI, tests, shutdown), waiting at most
 * `patienceMs` for another instance that holds the sequencer lock.
 */
export async function drainAuditQueue(db: Db, now: () => Date, key?: LogKey, patienceMs = 10_000): Promise<number> {
  let total = 0;
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const n = await sequenceAuditEvents(db, now, key);
    total += n;
    if (n === 0) {
      const waiting = await db.select({ n: sql<number>`count(*)::int` }).from(auditQueue);
      if ((waiting[0]?.n ?? 0) === 0 || Date.now() > deadline) return total;
      // Another instance holds the sequencer lock: let it finish.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Streams log rows in index order, joined to their events, page by page. */
export async function* readLogRows(db: Db, pageSize = 2000): AsyncGenerator<LogRow> {
  let after = -1;
  for (;;) {
    const page = await db
      .select({
        idx: auditLog.idx,
        leafHash: auditLog.leafHash,
        prevHash: auditLog.prevHash,
        chainHash: auditLog.chainHash,
        event: auditEvents.event,
      })
      .from(auditLog)
      .leftJoin(auditEvents, eq(auditEvents.seq, auditLog.eventSeq))
      .where(gt(auditLog.idx, after))
      .orderBy(asc(auditLog.idx))
      .limit(pageSize);
    yield* page;
    const last = page.at(-1);
    if (last === undefined || page.length < pageSize) return;
    after = last.idx;
  }
}

/** Events that are neither in the log nor waiting for it: inserted behind the sequencer's back. */
export async function findOrphanEvents(db: Db): Promise<number[]> {
  const rows = await rawRows<{ seq: string | number }>(db, sql`
    select e.seq from audit_event e
    where not exists (select 1 from audit_log l where l.event_seq = e.seq)
      and not exists (select 1 from audit_queue q where q.seq = e.seq)
    order by e.seq limit 100`);
  return rows.map((r) => Number(r.seq));
}

/** Log entries [from, to) with their events, leaf hashes and receipts, page by page (for bundles and verification). */
export async function* readLogEntries(
  db: Db,
  from: number,
  to: number,
  pageSize = 2000,
): AsyncGenerator<{ index: number; leafHash: string; receipt: string | null; event: unknown }> {
  let next = from;
  while (next < to) {
    const page = await db
      .select({ index: auditLog.idx, leafHash: auditLog.leafHash, receipt: auditLog.receipt, event: auditEvents.event })
      .from(auditLog)
      .leftJoin(auditEvents, eq(auditEvents.seq, auditLog.eventSeq))
      .where(and(gte(auditLog.idx, next), lt(auditLog.idx, to)))
      .orderBy(asc(auditLog.idx))
      .limit(pageSize);
    yield* page;
    const last = page.at(-1);
    if (last === undefined || page.length < pageSize) return;
    next = last.index + 1;
  }
}

/** How many entries the log holds (one past the highest index). */
export async function logSize(db: Db): Promise<number> {
  const rows = await db.select({ n: sql<string | number | null>`max(${auditLog.idx})` }).from(auditLog);
  const max = rows[0]?.n;
  return max === null || max === undefined ? 0 : Number(max) + 1;
}

export interface StoredCheckpoint {
  treeSize: number;
  rootHash: string;
  issued: Date;
  note: string;
}

/** Stores a signed checkpoint; one per tree size (another instance may have signed the same). */
export async function insertCheckpoint(db: Db, cp: StoredCheckpoint): Promise<void> {
  await db.insert(auditCheckpoints).values(cp).onConflictDoNothing();
}

// The log's size and its latest checkpoint, in one statement (what the sequencer checks after each pass).
const LOG_HEAD = {
  name: 'audit_log_head',
  text: `select (select max(idx) from audit_log) as max_idx,
    (select json_build_object('treeSize', c.tree_size, 'rootHash', c.root_hash, 'issued', c.issued, 'note', c.note)
      from audit_checkpoint c order by c.tree_size desc limit 1) as latest`,
};

/** logSize and latestCheckpoint, read in one statement. */
export async function logHead(db: Db): Promise<{ size: number; latest: StoredCheckpoint | undefined }> {
  const [row] = await runStatement<{ max_idx: string | number | null; latest: { treeSize: number | string; rootHash: string; issued: string; note: string } | null }>(db, LOG_HEAD, []);
  const max = row?.max_idx ?? null;
  const latest = row?.latest ?? null;
  return {
    size: max === null ? 0 : Number(max) + 1,
    latest: latest === null ? undefined : { treeSize: Number(latest.treeSize), rootHash: latest.rootHash, issued: new Date(latest.issued), note: latest.note },
  };
}

export async function latestCheckpoint(db: Db): Promise<StoredCheckpoint | undefined> {
  const [row] = await db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.treeSize)).limit(1);
  return row;
}

export async function checkpointOfSize(db: Db, size: number): Promise<StoredCheckpoint | undefined> {
  const [row] = await db.select().from(auditCheckpoints).where(eq(auditCheckpoints.treeSize, size)).limit(1);
  return row;
}

/** Checkpoints with from <= size (and size <= to when given), smallest first. */
export async function checkpointsFrom(db: Db, from: number, to?: number): Promise<StoredCheckpoint[]> {
  return db
    .select()
    .from(auditCheckpoints)
    .where(to === undefined ? gte(auditCheckpoints.treeSize, from) : and(gte(auditCheckpoints.treeSize, from), lte(auditCheckpoints.treeSize, to)))
    .orderBy(asc(auditCheckpoints.treeSize));
}
