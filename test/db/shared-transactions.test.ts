import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRequester } from '../../src/audit/audit-event.js';
import { denialStatements } from '../../src/db/alert-queries.js';
import { rawRows, type Db, type Tx } from '../../src/db/database.js';
import { lockIdentity } from '../../src/db/ingest-queries.js';
import { readCurrent, writeVersion } from '../../src/db/resource-queries.js';
import { seal } from '../../src/db/undisclosed.js';
import { AuditRecorder } from '../../src/services/audit-recorder.js';
import { SharedTransactions } from '../../src/services/shared-transactions.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { queryText, wrapDriverQueries } from '../support/driver-queries.js';

// Read-only work that queues while every slot is busy shares one transaction
// (services/shared-transactions.ts): each work's result is its own, its
// AuditEvents commit in that transaction, and a work that fails fails alone,
// the others answering from transactions of their own. On either engine.

let database: TestDatabase;
let db: Db;
let recorder: AuditRecorder;

beforeAll(async () => {
  database = await openTestDatabase();
  db = database.db;
  // One slot: whatever comes while a batch runs waits, and goes out in the next one.
  recorder = new AuditRecorder({ hubBaseUrl: 'https://hub.test', clock: () => new Date(), batches: { slots: 1, max: 32 }, writeBatches: { slots: 1, max: 32 } });
});

afterAll(async () => {
  await database.close();
});

const requester: AuditRequester = { clientId: 'shared-test', organisationCode: 'R9M', organisationSystem: 'https://fhir.nhs.uk/Id/ods-organization-code', organisationType: 'gp', purposeOfUse: 'direct-care' };

interface Ran {
  label: string;
  txid: string;
  eventId: string;
}

function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

async function currentTransaction(tx: Tx): Promise<string> {
  const [row] = await rawRows<{ txid: string }>(tx, sql`select txid_current()::text as txid`);
  if (row === undefined) throw new Error('no transaction id');
  return row.txid;
}

/** A read-like work: notes its transaction, writes one AuditEvent, answers with both. */
function work(label: string, written: string[], before?: Promise<void>) {
  return async (tx: Tx): Promise<Ran> => {
    const txid = await currentTransaction(tx);
    if (before !== undefined) await before;
    const event = await recorder.rest(tx, { requestId: label }, requester, { interaction: 'read', outcome: 'success', resources: [`Patient/${label}`] });
    written.push(event.id ?? '');
    return { label, txid, eventId: event.id ?? '' };
  };
}

/** The transaction that committed each stored event, by event id. */
async function committedBy(ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await rawRows<{ id: string; xmin: string }>(db, sql`select event_id as id, xmin::text as xmin from audit_event where event_id in ${ids}`);
  return new Map(rows.map((r) => [r.id, r.xmin]));
}

/** Runs `first` on the only slot and, once it holds it, queues the rest; opens the slot when they are queued. */
async function behindOne<T>(first: (held: Promise<void>) => Promise<T>, rest: () => Promise<unknown>[]): Promise<{ first: T; rest: PromiseSettledResult<unknown>[] }> {
  const slot = gate();
  const running = first(slot.opened);
  // The first work is in its transaction (it has asked for its id) before the others arrive.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const queued = rest();
  slot.open();
  return { first: await running, rest: await Promise.allSettled(queued) };
}

describe('read-only work sharing a transaction', () => {
  it('work that came while the slot was busy shares one transaction; each has its own answer and its own AuditEvent', async () => {
    const written: string[] = [];
    const { first, rest } = await behindOne(
      (held) => recorder.shared(db, work('a', written, held)),
      () => ['b', 'c', 'd'].map((label) => recorder.shared(db, work(label, written))),
    );
    const ran = rest.map((r) => (r.status === 'fulfilled' ? (r.value as Ran) : undefined));
    expect(ran.map((r) => r?.label)).toEqual(['b', 'c', 'd']);
    const shared = new Set(ran.map((r) => r?.txid));
    expect(shared.size).toBe(1);
    expect(shared.has(first.txid)).toBe(false);
    // Every event committed, each in the transaction of the work that wrote it.
    const stored = await committedBy(written);
    expect(stored.size).toBe(4);
    expect(stored.get(first.eventId)).toBe(first.txid);
    for (const r of ran) expect(stored.get(r?.eventId ?? '')).toBe(r?.txid);
  });

  it("one work's failure is its own: the batch keeps nothing, the others answer from transactions of their own", async () => {
    const written: string[] = [];
    const failing = async (tx: Tx): Promise<Ran> => {
      await work('b', written)(tx);
      throw new Error('b could not be read');
    };
    const { rest } = await behindOne(
      (held) => recorder.shared(db, work('a', written, held)),
      () => [recorder.shared(db, work('c', written)), recorder.shared(db, failing), recorder.shared(db, work('d', written))],
    );
    const [c, b, d] = rest;
    expect(b?.status).toBe('rejected');
    expect(b?.status === 'rejected' ? String(b.reason) : '').toMatch(/b could not be read/);
    const answered = [c, d].map((r) => (r?.status === 'fulfilled' ? (r.value as Ran) : undefined));
    expect(answered.map((r) => r?.label)).toEqual(['c', 'd']);
    // Each answered from a transaction of its own, after the shared one rolled back.
    expect(answered[0]?.txid).not.toBe(answered[1]?.txid);
    const stored = await committedBy(written);
    // a, then c and d again: the shared attempt's three events and both of b's are gone.
    expect(written).toHaveLength(1 + 3 + 3);
    expect(stored.size).toBe(3);
    for (const r of answered) expect(stored.get(r?.eventId ?? '')).toBe(r?.txid);
  });

  it('runs work at once, alone, when a slot is free: nothing waits for a batch to fill', async () => {
    const written: string[] = [];
    const alone = await recorder.shared(db, work('solo', written));
    const again = await recorder.shared(db, work('solo-again', written));
    expect(alone.txid).not.toBe(again.txid);
    expect((await committedBy(written)).size).toBe(2);
  });

  it("takes the clients' denial-window locks in one order, whatever order the requests came in", async () => {
    const sent: unknown[][] = [];
    let recording = true;
    wrapDriverQueries(database, (target) => {
      const original = target.query.bind(target);
      target.query = (...args: unknown[]): unknown => {
        if (recording && /^insert into ig_denial_window/.test(queryText(args[0]).trim())) {
          const values = typeof args[0] === 'object' && args[0] !== null && 'values' in args[0] ? (args[0] as { values: unknown[] }).values : args[1];
          sent.push(values as unknown[]);
        }
        return original(...args);
      };
    });
    const windowStart = new Date('2026-03-01T09:00:00Z');
    const counting = (client: string) => async (tx: Tx): Promise<string> => {
      for (const statement of denialStatements(client, windowStart, 1, 1000, undefined)) await recorder.atClose(tx, statement);
      return client;
    };
    try {
      await behindOne(
        (held) => recorder.shared(db, async (tx) => {
          await held;
          return counting('shared-m')(tx);
        }),
        () => ['shared-z', 'shared-a', 'shared-z'].map((client) => recorder.shared(db, counting(client))),
      );
    } finally {
      recording = false;
    }
    expect(sent.map((values) => values[0])).toEqual(['shared-m', 'shared-a', 'shared-z', 'shared-z']);
    const counts = await rawRows<{ client_id: string; denials: number }>(db, sql`select client_id, denials from ig_denial_window where client_id like 'shared-%' order by client_id`);
    expect(counts).toEqual([
      { client_id: 'shared-a', denials: 1 },
      { client_id: 'shared-m', denials: 1 },
      { client_id: 'shared-z', denials: 2 },
    ]);
  });

  it('refuses limits that could run nothing', () => {
    const alone = <T,>(w: (tx: Tx) => Promise<T>): Promise<T> => recorder.transaction(db, w);
    expect(() => new SharedTransactions(alone, { slots: 0, max: 8 })).toThrow(/at least one slot/);
    expect(() => new SharedTransactions(alone, { slots: 1, max: 0 })).toThrow(/at least one slot/);
  });
});

describe('writes sharing a transaction', () => {
  /** A write-like work: notes when it started and its transaction, takes its identity's lock, writes one AuditEvent. */
  function keyed(label: string, key: string | undefined, started: string[], before?: Promise<void>) {
    return async (tx: Tx): Promise<Ran> => {
      started.push(label);
      if (key !== undefined) await lockIdentity(tx, key);
      if (before !== undefined) await before;
      return work(label, [])(tx);
    };
  }

  it('never puts two works of one identity in a batch, and runs a batch in the order of its identities', async () => {
    const started: string[] = [];
    const queued: [string, string | undefined][] = [
      ['c1', 'shared-write|c'],
      ['none', undefined],
      ['a', 'shared-write|a'],
      ['c2', 'shared-write|c'],
      ['b', 'shared-write|b'],
    ];
    const { first, rest } = await behindOne(
      (held) => recorder.sharedWrite(db, 'shared-write|m', keyed('m', 'shared-write|m', started, held)),
      () => queued.map(([label, key]) => recorder.sharedWrite(db, key, keyed(label, key, started))),
    );
    const ran = new Map(rest.map((r) => (r.status === 'fulfilled' ? (r.value as Ran) : undefined)).map((r) => [r?.label, r?.txid]));
    // The first batch takes every work but the second of identity c, in the order of their identities; that one runs next.
    expect(started).toEqual(['m', 'none', 'a', 'b', 'c1', 'c2']);
    expect(new Set(['none', 'a', 'b', 'c1'].map((l) => ran.get(l))).size).toBe(1);
    expect(ran.get('c2')).not.toBe(ran.get('c1'));
    expect(ran.get('c2')).not.toBe(first.txid);
    expect(ran.get('c1')).not.toBe(first.txid);
    expect(recorder.queuedWrites(db)).toBe(0);
  });

  it("one work's failure is its own: what the others wrote is stored once, from transactions of their own", async () => {
    const id = `shared-write-${Date.now()}`;
    const writing = async (tx: Tx): Promise<string> => {
      const txid = await currentTransaction(tx);
      const row = { type: 'Patient', id, versionId: 1, lastUpdated: new Date(), sourceOrg: 'R9M', content: seal({ resourceType: 'Patient', id }) };
      await writeVersion(tx, row);
      return txid;
    };
    const failing = async (tx: Tx): Promise<string> => {
      await currentTransaction(tx);
      throw new Error('this write could not be made');
    };
    const { rest } = await behindOne(
      (held) => recorder.sharedWrite(db, undefined, async (tx) => {
        await held;
        return currentTransaction(tx);
      }),
      () => [recorder.sharedWrite(db, `Patient|id|${id}`, writing), recorder.sharedWrite(db, 'shared-write|failing', failing)],
    );
    const [wrote, failed] = rest;
    expect(failed?.status === 'rejected' ? String(failed.reason) : '').toMatch(/could not be made/);
    expect(wrote?.status).toBe('fulfilled');
    const stored = await readCurrent(db, 'Patient', id);
    expect(stored?.versionId).toBe(1);
    const [history] = await rawRows<{ n: number; xmin: string }>(db, sql`select count(*)::int as n, min(xmin::text) as xmin from resource_history where type = 'Patient' and id = ${id}`);
    expect(history?.n).toBe(1);
    // Committed by the transaction the work answered from: its own, the second time.
    expect(history?.xmin).toBe(wrote?.status === 'fulfilled' ? wrote.value : undefined);
  });
});
