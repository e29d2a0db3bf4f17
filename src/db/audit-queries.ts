import type { AuditEvent } from 'fhir/r4.js';
import { asc, eq, gt, sql } from 'drizzle-orm';
import { auditLeafHash, chainHash, EMPTY_CHAIN } from '../audit/log-hash.js';
import type { LogRow } from '../audit/verify-chain.js';
import { inTransaction, rawRows, type Db, type Tx } from './database.js';
import { auditEvents, auditLog, auditQueue } from './schema/index.js';

/** Appends one event inside the caller's transaction. If this fails, the request fails. */
export async function appendAuditEvent(tx: Db | Tx, event: AuditEvent & { id: string; recorded: string }): Promise<void> {
  const [row] = await tx
    .insert(auditEvents)
    .values({ eventId: event.id, recorded: new Date(event.recorded), event, leafHash: auditLeafHash(event) })
    .returning({ seq: auditEvents.seq });
  if (row === undefined) throw new Error('audit insert returned no row');
  await tx.insert(auditQueue).values({ seq: row.seq });
}

/** A well-known advisory lock key: one sequencer at a time across every hub instance. */
const SEQUENCER_LOCK = sql`hashtext('eyhub:audit-sequencer')`;

/**
 * Gives queued events their gap-free place in the log and extends the hash
 * chain. Safe to call from any instance at any time: one wins the lock, the
 * others return 0 at once. Returns how many entries were appended.
 */
export async function sequenceAuditEvents(db: Db, now: () => Date, batch = 500): Promise<number> {
  return inTransaction(db, async (tx) => {
    const lock = await rawRows<{ locked: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${SEQUENCER_LOCK}) as locked`);
    if (lock[0]?.locked !== true) return 0;
    const queued = await rawRows<{ seq: string | number; leaf_hash: string }>(tx, sql`
      delete from audit_queue q using audit_event e
      where q.seq = e.seq and q.seq in (select seq from audit_queue order by seq limit ${batch})
      returning q.seq, e.leaf_hash`);
    if (queued.length === 0) return 0;
    const rows = queued
      .map((r) => ({ seq: Number(r.seq), leafHash: r.leaf_hash }))
      .sort((a, b) => a.seq - b.seq);
    const head = await tx.select().from(auditLog).orderBy(sql`${auditLog.idx} desc`).limit(1);
    let idx = head[0] === undefined ? 0 : head[0].idx + 1;
    let prev = head[0]?.chainHash ?? EMPTY_CHAIN;
    const sequencedAt = now();
    const entries = rows.map((r) => {
      const chained = chainHash(prev, r.leafHash);
      const entry = { idx, eventSeq: r.seq, leafHash: r.leafHash, prevHash: prev, chainHash: chained, sequencedAt };
      idx += 1;
      prev = chained;
      return entry;
    });
    await tx.insert(auditLog).values(entries);
    return entries.length;
  });
}

/**
 * Sequences until the queue is empty (CLI, tests, shutdown), waiting at most
 * `patienceMs` for another instance that holds the sequencer lock.
 */
export async function drainAuditQueue(db: Db, now: () => Date, patienceMs = 10_000): Promise<number> {
  let total = 0;
  const deadline = Date.now() + patienceMs;
  for (;;) {
    const n = await sequenceAuditEvents(db, now);
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
