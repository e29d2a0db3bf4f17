import { randomUUID } from 'node:crypto';
import type { AuditEvent } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HASH_SIZE, rootOf, verifyInclusion } from '../../src/audit/merkle.js';
import { openCheckpoint, parseVerifierKey, type Checkpoint, type LogVerifier } from '../../src/audit/signed-note.js';
import { appendAuditEvent, drainAuditQueue } from '../../src/db/audit-queries.js';
import { inTransaction, rawRows } from '../../src/db/database.js';
import { createHub } from '../../src/hub.js';
import { asSuperuser } from '../support/tamper.js';
import { loadedTestProtocols } from '../support/protocols.js';
import { countRowsOf } from '../support/row-counter.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// The log as C2SP tlog-tiles: a tile client with nothing but the pinned key
// and HTTP fetches the checkpoint and the tiles and computes the signed root
// itself; tiles are stored as the sequencer extends the log and never change;
// a restarted hub answers proofs without reading the log's leaf hashes back.
// See: https://c2sp.org/tlog-tiles

let t: TestHub;
let verifier: LogVerifier;
let base: string;
let ig: string;

/** Synthetic events straight into the log's tables (as the recorder writes them), then sequenced. */
async function appendSynthetic(n: number): Promise<void> {
  await inTransaction(t.database.db, async (tx) => {
    for (let i = 0; i < n; i += 1) {
      const event = {
        resourceType: 'AuditEvent',
        id: randomUUID(),
        recorded: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110100' },
        agent: [{ requestor: false, who: { display: 'tile test' } }],
        source: { observer: { display: 'tile test' } },
      } satisfies AuditEvent;
      await appendAuditEvent(tx, event);
    }
  });
  await drainAuditQueue(t.database.db, () => new Date(), t.logKey);
}

async function fetched(path: string): Promise<Response> {
  return fetch(`${base}${path}`);
}

beforeAll(async () => {
  t = await startTestHub({ listen: true, checkpoints: { everyEntries: 100_000, everyMs: 3_600_000 } });
  const address = t.server?.address();
  if (address === null || typeof address !== 'object') throw new Error('the test hub is not listening');
  base = `http://127.0.0.1:${address.port}`;
  const parsed = parseVerifierKey(await (await fetched('/audit/key')).text());
  if (!parsed.ok) throw new Error(parsed.reason);
  verifier = parsed.value;
  ig = await t.token('ig-console', 'audit');
  // Past two full level-0 tiles, so a level-1 tile is partial and a level-0 one too.
  await appendSynthetic(600);
  const signed = await t.http.post('/audit/checkpoint').set('Authorization', `Bearer ${ig}`);
  expect(signed.status).toBe(200);
}, 120_000);
afterAll(async () => {
  await t.close();
});

function opened(note: string): Checkpoint {
  const cp = openCheckpoint(note, verifier);
  if (!cp.ok) throw new Error(cp.reason);
  return cp.value;
}

function hashesOf(bytes: Uint8Array): Uint8Array[] {
  return Array.from({ length: bytes.length / HASH_SIZE }, (_, i) => bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
}

/** The tile path a client builds (the spec's encoding, written out here apart from the hub's). */
function pathOf(level: number, index: number, width: number): string {
  const digits = String(index).padStart(3, '0');
  const groups: string[] = [];
  for (let end = digits.length; end > 0; end -= 3) groups.unshift(digits.slice(Math.max(0, end - 3), end).padStart(3, '0'));
  const n = groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
  return `/audit-log/tile/${level}/${n}${width === 256 ? '' : `.p/${width}`}`;
}

describe('a tlog-tiles client, with only the pinned key and HTTP', () => {
  it('fetches the checkpoint and the tiles, and computes the signed root from the tiles alone', async () => {
    const res = await fetched('/audit-log/checkpoint');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const cp = opened(await res.text());
    expect(cp.treeSize).toBeGreaterThan(512);
    // Level 0: every leaf hash, in full tiles and the partial one of the checkpoint's size.
    const leaves: Uint8Array[] = [];
    const full = Math.floor(cp.treeSize / 256);
    for (let n = 0; n <= full; n += 1) {
      const width = n < full ? 256 : cp.treeSize % 256;
      if (width === 0) break;
      const tile = await fetched(pathOf(0, n, width));
      expect(tile.status, pathOf(0, n, width)).toBe(200);
      expect(tile.headers.get('content-type')).toBe('application/octet-stream');
      const bytes = new Uint8Array(await tile.arrayBuffer());
      expect(bytes.length).toBe(width * HASH_SIZE);
      leaves.push(...hashesOf(bytes));
    }
    expect(Buffer.from(rootOf(leaves)).equals(Buffer.from(cp.rootHash))).toBe(true);
    // Level 1: the partial tile holds the root of each full level-0 tile.
    const level1 = hashesOf(new Uint8Array(await (await fetched(pathOf(1, 0, full))).arrayBuffer()));
    expect(level1.map((h) => Buffer.from(h).toString('hex'))).toEqual(
      Array.from({ length: full }, (_, n) => Buffer.from(rootOf(leaves.slice(n * 256, (n + 1) * 256))).toString('hex')),
    );
    // The leaf hashes are the log's, and an inclusion proof the IG lead gets checks against the same root.
    const stored = await rawRows<{ leaf_hash: string }>(t.database.db, sql`select leaf_hash from audit_log where idx < ${cp.treeSize} order by idx`);
    expect(stored.map((r) => r.leaf_hash)).toEqual(leaves.map((h) => Buffer.from(h).toString('hex')));
    const proof = await t.http.get(`/audit/proof/inclusion?index=300&size=${cp.treeSize}`).set('Authorization', `Bearer ${ig}`);
    expect(verifyInclusion(leaves[300] ?? new Uint8Array(), 300, cp.treeSize, (proof.body.auditPath as string[]).map((p) => Buffer.from(p, 'base64')), cp.rootHash)).toBe(true);
  });

  it('gets immutable caching for tiles, a short one for the checkpoint, and no entries', async () => {
    expect((await fetched(pathOf(0, 0, 256))).headers.get('cache-control')).toContain('immutable');
    expect((await fetched('/audit-log/checkpoint')).headers.get('cache-control')).toBe('public, max-age=5');
    const entries = await fetched('/audit-log/tile/entries/000');
    expect(entries.status).toBe(404);
    expect(await entries.text()).toContain('personal data');
  });

  it('is told 404 for a tile the log has not reached or a path that is not a tile', async () => {
    for (const path of [pathOf(0, 99, 256), pathOf(0, 99, 1), pathOf(3, 0, 1), '/audit-log/tile/0/x000/000', '/audit-log/tile/00/000', '/audit-log/tile/0/000.p/256', '/audit-log/tile/64/000']) {
      expect((await fetched(path)).status, path).toBe(404);
    }
  });
});

describe('stored tiles', () => {
  it('are full tiles only, written as the log grew, and no one may change or remove them', async () => {
    const rows = await rawRows<{ level: number; idx: string | number; n: number }>(t.database.db, sql`select level, idx, octet_length(hashes) as n from audit_tile order by level, idx`);
    const size = Number((await rawRows<{ n: number }>(t.database.db, sql`select count(*)::int as n from audit_log`))[0]?.n);
    expect(rows.map((r) => `${r.level}/${Number(r.idx)}`)).toEqual(Array.from({ length: Math.floor(size / 256) }, (_, n) => `0/${n}`));
    expect(rows.every((r) => r.n === 8192)).toBe(true);
    // The hub's own connection: refused by the trigger (PGlite) or by the application role's privileges (PostgreSQL).
    for (const change of [sql`update audit_tile set root = root where level = 0`, sql`delete from audit_tile where level = 0`, sql`truncate audit_tile`]) {
      await expect(t.database.db.execute(change)).rejects.toThrow();
    }
    expect((await rawRows<{ n: number }>(t.database.db, sql`select count(*)::int as n from audit_tile`))[0]?.n).toBe(rows.length);
  });
});

describe('a restarted hub', () => {
  it('signs and proves from tiles, reading a few partial tiles of leaf hashes, not the log', async () => {
    await appendSynthetic(1600);
    const size = Number((await rawRows<{ n: number }>(t.database.db, sql`select count(*)::int as n from audit_log`))[0]?.n);
    const leafReads = countRowsOf(t.database, 'audit_log');
    const tileReads = countRowsOf(t.database, 'audit_tile');
    const second = await createHub({ database: t.database, baseUrl: t.baseUrl, logger: pino({ level: 'silent' }), protocols: await loadedTestProtocols(), logKey: t.logKey, signingKeys: t.hub.keys });
    try {
      const http = request(second.app);
      const cp = await http.post('/audit/checkpoint').set('Authorization', `Bearer ${ig}`).set('Accept', 'application/json');
      expect(cp.status).toBe(200);
      const proof = await http.get(`/audit/proof/inclusion?index=7&size=${cp.body.treeSize as number}`).set('Authorization', `Bearer ${ig}`);
      expect(proof.status).toBe(200);
      const root = Buffer.from(cp.body.rootHash as string, 'base64');
      expect(verifyInclusion(Buffer.from(proof.body.leafHash as string, 'base64'), 7, cp.body.treeSize as number, (proof.body.auditPath as string[]).map((p) => Buffer.from(p, 'base64')), root)).toBe(true);
    } finally {
      leafReads.stop();
      tileReads.stop();
      await second.close();
    }
    expect(size).toBeGreaterThan(8 * 256);
    // The old hub read every leaf hash back (`size` rows). This one reads, per question (the
    // last signed root, the new root, the proof), at most the partial level-0 tile: under 256
    // rows each, whatever the log's length; and a few tiles, with at most one partial tile per
    // level (the roots of the full tiles below: also under 256 rows).
    // The counter sees the driver's answers (the right edge was read), so a low count means little was read.
    expect(leafReads.queries()).toBeGreaterThan(0);
    expect(leafReads.rows()).toBeGreaterThan(0);
    expect(leafReads.rows()).toBeLessThan(3 * 256 + 16);
    expect(leafReads.rows()).toBeLessThan(size / 2);
    expect(tileReads.rows()).toBeLessThan(3 * (256 + 8));
  }, 120_000);

  it('builds the tiles of a log sequenced before tiles existed, once', async () => {
    const before = await rawRows<{ n: number }>(t.database.db, sql`select count(*)::int as n from audit_tile`);
    // A log from before migration 0012: its tiles are not there (only a superuser can remove them).
    await asSuperuser(t.database, [sql`delete from audit_tile`]);
    const rebuilt = await createHub({ database: t.database, baseUrl: t.baseUrl, logger: pino({ level: 'silent' }), protocols: await loadedTestProtocols(), logKey: t.logKey, signingKeys: t.hub.keys });
    try {
      const after = await rawRows<{ n: number }>(t.database.db, sql`select count(*)::int as n from audit_tile`);
      expect(after[0]?.n).toBeGreaterThanOrEqual(before[0]?.n ?? 0);
      expect(await rebuilt.auditLog.catchUp()).toBe(0);
      const verdict = await request(rebuilt.app).post('/audit/verify').set('Authorization', `Bearer ${ig}`);
      expect(verdict.body).toMatchObject({ ok: true });
      const cp = opened(await (await fetched('/audit-log/checkpoint')).text());
      const leaves = await rawRows<{ leaf_hash: string }>(t.database.db, sql`select leaf_hash from audit_log where idx < ${cp.treeSize} order by idx`);
      const tiles = await Promise.all(Array.from({ length: Math.floor(cp.treeSize / 256) }, async (_, n) => new Uint8Array(await (await fetched(pathOf(0, n, 256))).arrayBuffer())));
      expect(tiles.map((b) => Buffer.from(b).toString('hex')).join('')).toBe(leaves.slice(0, tiles.length * 256).map((r) => r.leaf_hash).join(''));
    } finally {
      await rebuilt.close();
    }
  }, 120_000);
});
