import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rootOf } from '../../src/audit/merkle.js';
import { drainAuditQueue } from '../../src/db/audit-queries.js';
import { rawRows, type Db } from '../../src/db/database.js';
import { AuditRecorder } from '../../src/services/audit-recorder.js';
import { verifyAuditLog } from '../../src/services/audit-verify.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { asSuperuser } from '../support/tamper.js';

// `hub audit verify` recomputes the log's tiles (C2SP tlog-tiles: level 0 the
// leaf hashes in groups of 256) from the leaf hashes it verifies and compares
// them with the stored ones (audit_tile, what tile clients are served and
// proofs are built from): a tile a superuser rewrote is named by level and index.

const now = (): Date => new Date();
const ENTRIES = 600; // two full level-0 tiles and a partial one (not stored)
let database: TestDatabase;
let db: Db;

beforeEach(async () => {
  database = await openTestDatabase();
  db = database.db;
  const audit = new AuditRecorder({ hubBaseUrl: 'http://hub.test', clock: now });
  await audit.transaction(db, async (tx) => {
    for (let i = 0; i < ENTRIES; i += 1) {
      await audit.rest(tx, { requestId: `req-${i}` }, { clientId: 'test-a', organisationCode: 'TEST-A', purposeOfUse: 'direct-care' }, {
        interaction: 'read',
        outcome: 'success',
        resources: [`Patient/p${i}/_history/1`],
        patients: [`Patient/p${i}`],
      });
    }
  });
  await drainAuditQueue(db, now);
}, 120_000);
afterEach(async () => {
  await database.close();
});

describe('hub audit verify against the stored tiles', () => {
  it('passes when the stored tiles are the ones the leaf hashes make', async () => {
    const tiles = await rawRows<{ level: number; idx: string | number }>(db, sql`select level, idx from audit_tile order by level, idx`);
    expect(tiles.map((t) => `${t.level}/${Number(t.idx)}`)).toEqual(['0/0', '0/1']);
    expect(await verifyAuditLog(db, now)).toMatchObject({ ok: true, size: ENTRIES });
  });

  it('names the tile whose stored hash was changed', async () => {
    // One byte of the 18th hash of level-0 tile 1 (the leaf hash of entry 256 + 17), flipped.
    await asSuperuser(database, [sql`update audit_tile set hashes = set_byte(hashes, 32 * 17, (get_byte(hashes, 32 * 17) + 1) % 256) where level = 0 and idx = 1`]);
    const report = await verifyAuditLog(db, now);
    expect(report).toMatchObject({ ok: false, problem: 'tile-mismatch', index: 256, tile: { level: 0, index: 1 } });
    expect(report.ok ? '' : report.detail).toMatch(/^stored tile level 0 index 1 \(tile\/0\/001, entries 256\.\.511\) differs .*hash 17 of 256/);
  });

  it('names the tile whose stored root is not the root of its hashes', async () => {
    const [row] = await rawRows<{ hashes: Uint8Array }>(db, sql`select hashes from audit_tile where level = 0 and idx = 1`);
    const hashes = Buffer.from(row?.hashes ?? new Uint8Array());
    // The root of the tile's first 128 hashes: a hash of the right kind, not the tile's.
    const wrong = Buffer.from(rootOf(Array.from({ length: 128 }, (_, i) => hashes.subarray(i * 32, (i + 1) * 32))));
    await asSuperuser(database, [sql`update audit_tile set root = ${wrong} where level = 0 and idx = 0`]);
    expect(await verifyAuditLog(db, now)).toMatchObject({ ok: false, problem: 'tile-mismatch', index: 0, tile: { level: 0, index: 0 } });
  });

  it('names a tile removed from the middle', async () => {
    await asSuperuser(database, [sql`delete from audit_tile where level = 0 and idx = 0`]);
    const report = await verifyAuditLog(db, now);
    expect(report).toMatchObject({ ok: false, problem: 'tile-mismatch', index: 0, tile: { level: 0, index: 0 } });
    expect(report.ok ? '' : report.detail).toMatch(/is missing from audit_tile/);
  });

  it('names a tile stored beyond the log', async () => {
    // A log of 600 entries has two full level-0 tiles; a third claims entries 512..767.
    await asSuperuser(database, [sql`insert into audit_tile (level, idx, hashes, root) select 0, 2, hashes, root from audit_tile where level = 0 and idx = 1`]);
    const report = await verifyAuditLog(db, now);
    expect(report).toMatchObject({ ok: false, problem: 'tile-mismatch', index: 512, tile: { level: 0, index: 2 } });
    expect(report.ok ? '' : report.detail).toMatch(/the log has only 600 entries/);
  });
});
