import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditLeafHash, chainHash } from '../../src/audit/log-hash.js';
import { drainAuditQueue } from '../../src/db/audit-queries.js';
import { rawRows, type Db } from '../../src/db/database.js';
import { AuditRecorder } from '../../src/services/audit-recorder.js';
import { verifyAuditLog } from '../../src/services/audit-verify.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { asSuperuser, withSuperuser } from '../support/tamper.js';

const now = () => new Date();
let database: TestDatabase;
let db: Db;

/** Writes n audited events the way requests do, then gives them their log places. */
async function writeEvents(n: number): Promise<void> {
  const audit = new AuditRecorder({ hubBaseUrl: 'http://hub.test', clock: now });
  for (let i = 0; i < n; i += 1) {
    await audit.transaction(db, (tx) =>
      audit.rest(tx, { requestId: `req-${i}` }, { clientId: 'test-a', organisationCode: 'TEST-A', purposeOfUse: 'direct-care' }, {
        interaction: 'read',
        outcome: 'success',
        resources: [`Patient/p${i}/_history/1`],
        patients: [`Patient/p${i}`],
      }),
    );
  }
  await drainAuditQueue(db, now);
}

async function seqAt(idx: number): Promise<number> {
  const rows = await rawRows<{ event_seq: string | number }>(db, sql`select event_seq from audit_log where idx = ${idx}`);
  return Number(rows[0]?.event_seq);
}

beforeEach(async () => {
  database = await openTestDatabase();
  db = database.db;
  await writeEvents(8);
});
afterEach(async () => {
  await database.close();
});

describe('the audit tables are append-only', () => {
  it.each([
    ['UPDATE audit_event', sql`update audit_event set recorded = now()`],
    ['DELETE FROM audit_event', sql`delete from audit_event`],
    ['TRUNCATE audit_event', sql`truncate audit_event cascade`],
    ['UPDATE audit_log', sql`update audit_log set leaf_hash = prev_hash`],
    ['DELETE FROM audit_log', sql`delete from audit_log where idx = 0`],
    ['TRUNCATE audit_log', sql`truncate audit_log`],
  ])('%s raises, even for a superuser', async (_name, statement) => {
    // The hub's own role is refused earlier, by privileges (test/db/roles.test.ts); the trigger holds for the owner too.
    const error = await withSuperuser(database, (admin) => admin.execute(statement)).then(
      () => undefined,
      (err: unknown) => err as { cause?: { message?: string } },
    );
    // drizzle wraps the driver's error; the database's own message is the cause.
    expect(error?.cause?.message).toMatch(/append-only: (UPDATE|DELETE|TRUNCATE) refused/);
    expect((await verifyAuditLog(db, now)).ok).toBe(true);
  });
});

describe('hub audit verify', () => {
  it('passes a clean log with a gap-free index and an unbroken chain', async () => {
    const report = await verifyAuditLog(db, now);
    expect(report).toMatchObject({ ok: true, size: 8 });
    const rows = await rawRows<{ idx: string | number }>(db, sql`select idx from audit_log order by idx`);
    expect(rows.map((r) => Number(r.idx))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('names the row whose event was altered', async () => {
    const seq = await seqAt(3);
    await asSuperuser(database, [sql`update audit_event set event = jsonb_set(event, '{outcome}', '"8"') where seq = ${seq}`]);
    expect(await verifyAuditLog(db, now)).toMatchObject({ ok: false, index: 3, problem: 'event-changed' });
  });

  it('names the row whose event and leaf hash were both rewritten (the chain no longer covers it)', async () => {
    const seq = await seqAt(2);
    const [row] = await rawRows<{ event: unknown }>(db, sql`select event from audit_event where seq = ${seq}`);
    const forged = { ...(typeof row?.event === 'string' ? JSON.parse(row.event) : row?.event), outcome: '8' };
    const leaf = auditLeafHash(forged);
    await asSuperuser(database, [
      sql`update audit_event set event = ${JSON.stringify(forged)}::jsonb, leaf_hash = ${leaf} where seq = ${seq}`,
      sql`update audit_log set leaf_hash = ${leaf} where idx = 2`,
    ]);
    expect(await verifyAuditLog(db, now)).toMatchObject({ ok: false, index: 2, problem: 'hash-mismatch' });
  });

  it('names the gap a deleted log row leaves', async () => {
    await asSuperuser(database, [sql`delete from audit_log where idx = 5`]);
    expect(await verifyAuditLog(db, now)).toMatchObject({ ok: false, index: 5, problem: 'index-gap' });
  });

  it('names the row whose event was deleted', async () => {
    const seq = await seqAt(4);
    await asSuperuser(database, [sql`delete from audit_event where seq = ${seq}`]);
    expect(await verifyAuditLog(db, now)).toMatchObject({ ok: false, index: 4, problem: 'event-missing' });
  });

  it('catches a row inserted in the middle with a correctly computed hash: the next row no longer chains', async () => {
    const [prev] = await rawRows<{ chain_hash: string }>(db, sql`select chain_hash from audit_log where idx = 4`);
    const event = { resourceType: 'AuditEvent', id: 'forged', recorded: new Date().toISOString(), outcome: '0' };
    const leaf = auditLeafHash(event);
    const chained = chainHash(prev?.chain_hash ?? '', leaf);
    await asSuperuser(database, [
      sql`update audit_log set idx = -(idx + 1) where idx >= 5`,
      sql`update audit_log set idx = -idx where idx < 0`,
      sql`insert into audit_event (event_id, recorded, event, leaf_hash) values ('forged', now(), ${JSON.stringify(event)}::jsonb, ${leaf})`,
      sql`insert into audit_log (idx, event_seq, leaf_hash, prev_hash, chain_hash, sequenced_at)
          select 5, seq, ${leaf}, ${prev?.chain_hash ?? ''}, ${chained}, now() from audit_event where event_id = 'forged'`,
    ]);
    expect(await verifyAuditLog(db, now)).toMatchObject({ ok: false, index: 6, problem: 'chain-broken' });
  });

  it('catches a naive insertion at the index it was put', async () => {
    const event = { resourceType: 'AuditEvent', id: 'naive', recorded: new Date().toISOString(), outcome: '0' };
    const leaf = auditLeafHash(event);
    await asSuperuser(database, [
      sql`update audit_log set idx = -(idx + 1) where idx >= 2`,
      sql`update audit_log set idx = -idx where idx < 0`,
      sql`insert into audit_event (event_id, recorded, event, leaf_hash) values ('naive', now(), ${JSON.stringify(event)}::jsonb, ${leaf})`,
      sql`insert into audit_log (idx, event_seq, leaf_hash, prev_hash, chain_hash, sequenced_at)
          select 2, seq, ${leaf}, ${'0'.repeat(64)}, ${'0'.repeat(64)}, now() from audit_event where event_id = 'naive'`,
    ]);
    expect(await verifyAuditLog(db, now)).toMatchObject({ ok: false, index: 2, problem: 'chain-broken' });
  });

  it('catches an event slipped in behind the sequencer', async () => {
    const event = { resourceType: 'AuditEvent', id: 'orphan', recorded: new Date().toISOString() };
    await db.execute(sql`insert into audit_event (event_id, recorded, event, leaf_hash) values ('orphan', now(), ${JSON.stringify(event)}::jsonb, ${auditLeafHash(event)})`);
    expect(await verifyAuditLog(db, now)).toMatchObject({ ok: false, index: 8, problem: 'orphan-event' });
  });

  it('keeps the index gap-free when events are committed concurrently', async () => {
    await Promise.all([writeEvents(10), writeEvents(10), writeEvents(10)]);
    const report = await verifyAuditLog(db, now);
    expect(report).toMatchObject({ ok: true, size: 38 });
  });
});

describe('stored AuditEvents', () => {
  /** Whether this server can compress with LZ4 (PGlite and servers built without it cannot). */
  async function hasLz4(): Promise<boolean> {
    return db.transaction(async (tx) => {
      try {
        await tx.execute(sql`savepoint probe`);
        await tx.execute(sql`create temporary table lz4_probe (j jsonb compression lz4) on commit drop`);
        return true;
      } catch (err) {
        if ((err as { cause?: { code?: string } }).cause?.code !== '0A000') throw err;
        await tx.execute(sql`rollback to savepoint probe`);
        return false;
      }
    });
  }

  it('are compressed with LZ4 where the server has it, else with its default', async () => {
    const rows = await rawRows<{ method: string | null }>(db, sql`select pg_column_compression(event) as method from audit_event`);
    const methods = new Set(rows.map((r) => r.method).filter((m) => m !== null));
    // Every event is 2-3 kB of JSON: large enough to be compressed.
    expect(methods.size).toBe(1);
    expect([...methods]).toEqual([(await hasLz4()) ? 'lz4' : 'pglz']);
  });
});
