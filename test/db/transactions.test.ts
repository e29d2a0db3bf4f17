import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction, rawRows, type Db } from '../../src/db/database.js';
import { upsertOrganisation } from '../../src/db/registry-queries.js';
import { sendRows, sendWrite } from '../../src/db/sent-writes.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';

// The one transaction helper (inTransaction) on either engine: the work and
// the statement run last commit together or not at all, whatever goes wrong
// where. On PostgreSQL its BEGIN travels with the work's first statement and
// its COMMIT with the last statement (pipelined-transaction.ts): counted here
// at the socket.

let database: TestDatabase;
let db: Db;
let n = 0;

beforeAll(async () => {
  database = await openTestDatabase();
  db = database.db;
});

afterAll(async () => {
  await database.close();
});

function org(): { code: string; system: string; type: string; name: string; catchment: string[] } {
  n += 1;
  return { code: `TX-${n}`, system: 'https://example.org/test-org', type: 'gp', name: `Transaction test ${n}`, catchment: [] };
}

async function stored(code: string): Promise<boolean> {
  const rows = await rawRows<{ code: string }>(db, sql`select code from organisation where code = ${code}`);
  return rows.length === 1;
}

/** The statement run last: names the organisation given, with a name that fails when asked to. */
function renaming(code: string, name: string | null) {
  return {
    statement: {
      name: 'test_rename_org',
      text: 'update organisation set name = case when $2::text is null then (1 / (char_length(code) - char_length(code)))::text else $2::text end where code = $1::text',
    },
    values: [code, name],
  };
}

describe('a transaction', () => {
  it('commits the work and the statement run last together', async () => {
    const o = org();
    const result = await inTransaction(
      db,
      async (tx) => {
        await upsertOrganisation(tx, o);
        return 'done';
      },
      () => renaming(o.code, 'renamed last'),
    );
    expect(result).toBe('done');
    const rows = await rawRows<{ name: string }>(db, sql`select name from organisation where code = ${o.code}`);
    expect(rows.map((r) => r.name)).toEqual(['renamed last']);
  });

  it('keeps nothing of its first statement when the work fails after it', async () => {
    const o = org();
    await expect(
      inTransaction(db, async (tx) => {
        await upsertOrganisation(tx, o);
        throw new Error('the work failed');
      }),
    ).rejects.toThrow('the work failed');
    expect(await stored(o.code)).toBe(false);
  });

  it('keeps nothing of the work when the statement run last fails, and says why', async () => {
    const o = org();
    await expect(
      inTransaction(
        db,
        async (tx) => {
          await upsertOrganisation(tx, o);
        },
        () => renaming(o.code, null),
      ),
    ).rejects.toThrow(/division by zero/);
    expect(await stored(o.code)).toBe(false);
  });

  it('keeps nothing of the work when the statement to run last cannot even be built', async () => {
    const o = org();
    await expect(
      inTransaction(
        db,
        (tx) => upsertOrganisation(tx, o),
        () => {
          throw new Error('no statement');
        },
      ),
    ).rejects.toThrow('no statement');
    expect(await stored(o.code)).toBe(false);
  });

  it('fails rather than reporting a commit when a statement failed inside it and the work carried on', async () => {
    const o = org();
    await expect(
      inTransaction(db, async (tx) => {
        await upsertOrganisation(tx, o);
        await rawRows(tx, sql`select 1 / 0`).catch(() => undefined);
      }),
    ).rejects.toThrow();
    expect(await stored(o.code)).toBe(false);
  });

  it('runs writes sent without waiting in the order sent: a later statement sees them, and they commit with the work', async () => {
    const o = org();
    const seen = await inTransaction(db, async (tx) => {
      await upsertOrganisation(tx, o);
      await sendWrite(tx, sql`update organisation set name = 'first' where code = ${o.code}`);
      await sendWrite(tx, sql`update organisation set name = name || ', then second' where code = ${o.code}`);
      return rawRows<{ name: string }>(tx, sql`select name from organisation where code = ${o.code}`);
    });
    expect(seen.map((r) => r.name)).toEqual(['first, then second']);
    const rows = await rawRows<{ name: string }>(db, sql`select name from organisation where code = ${o.code}`);
    expect(rows.map((r) => r.name)).toEqual(['first, then second']);
  });

  it('keeps nothing when a write sent without waiting fails, and names that failure, not the statements it aborted', async () => {
    const o = org();
    const run = inTransaction(db, async (tx) => {
      await upsertOrganisation(tx, o);
      await sendWrite(tx, sql`update organisation set name = (1 / (char_length(code) - char_length(code)))::text where code = ${o.code}`);
      // Sent after the failed write: refused by an aborted transaction, or never reached.
      await sendWrite(tx, sql`update organisation set name = 'never' where code = ${o.code}`);
      return 'carried on';
    });
    await expect(run).rejects.toThrow(/division by zero/);
    expect(await stored(o.code)).toBe(false);
  });

  it('keeps nothing when a write sent without waiting fails before its statement run last, and names that failure', async () => {
    const o = org();
    const run = inTransaction(
      db,
      async (tx) => {
        await upsertOrganisation(tx, o);
        await sendWrite(tx, sql`update organisation set name = (1 / (char_length(code) - char_length(code)))::text where code = ${o.code}`);
        return 'carried on';
      },
      // Sent after the failed write (on PostgreSQL, without waiting for its answer): refused by the aborted transaction.
      () => renaming(o.code, 'renamed last'),
    );
    await expect(run).rejects.toThrow(/division by zero/);
    expect(await stored(o.code)).toBe(false);
  });

  it('reports the failed write when a statement the work waits for fails after it', async () => {
    const o = org();
    const run = inTransaction(db, async (tx) => {
      await upsertOrganisation(tx, o);
      await sendWrite(tx, sql`update organisation set name = (1 / (char_length(code) - char_length(code)))::text where code = ${o.code}`);
      const removed = sendRows<{ code: string }>(tx, sql`delete from organisation where code = ${o.code} returning code`);
      return removed;
    });
    await expect(run).rejects.toThrow(/division by zero/);
    expect(await stored(o.code)).toBe(false);
  });

  it('runs a write sent outside such a transaction at once, and waits for it', async () => {
    const o = org();
    await upsertOrganisation(db, o);
    await sendWrite(db as never, sql`update organisation set name = 'outside' where code = ${o.code}`);
    const rows = await rawRows<{ name: string }>(db, sql`select name from organisation where code = ${o.code}`);
    expect(rows.map((r) => r.name)).toEqual(['outside']);
  });

  it('leaves its connection usable after each of those failures', async () => {
    const o = org();
    await inTransaction(db, (tx) => upsertOrganisation(tx, o));
    expect(await stored(o.code)).toBe(true);
  });
});

/** A stored organisation, and a count of the socket writes of the next client taken from the pool. */
async function storedAndCounted(): Promise<{ o: ReturnType<typeof org>; writes: { count: number } }> {
  const pool = database.pool;
  if (pool === undefined) throw new Error('no pool on PostgreSQL');
  const o = org();
  await upsertOrganisation(db, o);
  const writes = { count: 0 };
  pool.once('acquire', (client: unknown) => {
    const socket = (client as { connection: { stream: { _writev?: (...a: unknown[]) => unknown; _write: (...a: unknown[]) => unknown } } }).connection.stream;
    for (const method of ['_write', '_writev'] as const) {
      const original = socket[method];
      if (original === undefined) continue;
      socket[method] = (...args: unknown[]) => {
        writes.count += 1;
        return original.apply(socket, args);
      };
    }
  });
  return { o, writes };
}

describe.skipIf(process.env['DATABASE_URL'] === undefined)('on PostgreSQL, a transaction of one statement and a last one', () => {
  it('takes two socket writes: BEGIN with the statement, the last one with COMMIT', async () => {
    const { o, writes } = await storedAndCounted();
    const names = await inTransaction(
      db,
      async (tx) => rawRows<{ name: string }>(tx, sql`select name from organisation where code = ${o.code}`),
      () => renaming(o.code, 'read and renamed'),
    );
    expect(names.map((r) => r.name)).toEqual([o.name]);
    expect(writes.count).toBe(2);
  });

  it('sends writes it does not wait for in one socket write with the next statement it waits for', async () => {
    const { o, writes } = await storedAndCounted();
    const names = await inTransaction(
      db,
      async (tx) => {
        // A first statement waited for: BEGIN goes out with it, and the writes below go out after its answer.
        await rawRows(tx, sql`select 1`);
        await sendWrite(tx, sql`update organisation set name = 'one' where code = ${o.code}`);
        await sendWrite(tx, sql`update organisation set name = name || ' two' where code = ${o.code}`);
        await sendWrite(tx, sql`update organisation set name = name || ' three' where code = ${o.code}`);
        return rawRows<{ name: string }>(tx, sql`select name from organisation where code = ${o.code}`);
      },
      () => renaming(o.code, 'renamed last'),
    );
    expect(names.map((r) => r.name)).toEqual(['one two three']);
    // BEGIN with the first statement; the three writes with the read; the last statement with COMMIT.
    expect(writes.count).toBe(3);
  });

  it('sends the writes the work ended with in one socket write with its last statement and COMMIT', async () => {
    const { o, writes } = await storedAndCounted();
    const result = await inTransaction(
      db,
      async (tx) => {
        const [row] = await rawRows<{ name: string }>(tx, sql`select name from organisation where code = ${o.code}`);
        await sendWrite(tx, sql`update organisation set name = ${`${row?.name ?? ''} one`} where code = ${o.code}`);
        await sendWrite(tx, sql`update organisation set name = name || ' two' where code = ${o.code}`);
        return 'written';
      },
      () => [],
    );
    expect(result).toBe('written');
    // BEGIN with the read; the two writes with COMMIT, not waited for before it.
    expect(writes.count).toBe(2);
    const rows = await rawRows<{ name: string }>(db, sql`select name from organisation where code = ${o.code}`);
    expect(rows.map((r) => r.name)).toEqual([`${o.name} one two`]);
  });
});
