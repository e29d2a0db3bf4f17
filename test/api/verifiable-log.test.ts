import type { OperationOutcome } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leafHashBytes } from '../../src/audit/log-hash.js';
import { rootOf, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';
import { openCheckpoint, parseVerifierKey, verifyReceipt, type Checkpoint, type LogVerifier } from '../../src/audit/signed-note.js';
import { rawRows } from '../../src/db/database.js';
import { createHub } from '../../src/hub.js';
import { restEventsFor } from '../support/audit.js';
import { asSuperuser } from '../support/tamper.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';
import { loadedTestProtocols } from '../support/protocols.js';

// The verifiable log through the API: checkpoints signed as the log grows and
// on demand, and proofs that the IG lead checks with nothing but the public
// key she pinned (GET /audit/key) and the RFC 9162 verifiers.

let t: TestHub;
let ig: string;
let verifier: LogVerifier;
let seq = 0;

const b64 = (s: string): Buffer => Buffer.from(s, 'base64');
const EVERY = 5;

beforeAll(async () => {
  t = await startTestHub({ checkpoints: { everyEntries: EVERY, everyMs: 3_600_000 } });
  ig = await t.token('ig-console', 'audit');
  const key = await t.http.get('/audit/key');
  expect(key.status).toBe(200);
  const parsed = parseVerifierKey(key.text);
  if (!parsed.ok) throw new Error(parsed.reason);
  verifier = parsed.value;
  // The log grows in three steps, each past the checkpoint interval.
  for (let step = 0; step < 3; step += 1) await traffic(EVERY + 1);
}, 60_000);
afterAll(async () => {
  await t.close();
});

/** Audited requests that anyone can make: each writes one event. */
async function traffic(n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) await t.http.get('/fhir/metadata').set('X-Request-Id', `traffic-${(seq += 1)}`);
  await t.hub.sequencer.flush();
}

function opened(note: string): Checkpoint {
  const cp = openCheckpoint(note, verifier);
  if (!cp.ok) throw new Error(cp.reason);
  return cp.value;
}

/** Leaf hashes of the first n entries, read straight from the table (not through the hub). */
async function storedLeaves(n: number): Promise<Uint8Array[]> {
  const rows = await rawRows<{ leaf_hash: string }>(t.database.db, sql`select leaf_hash from audit_log where idx < ${n} order by idx`);
  return rows.map((r) => Buffer.from(r.leaf_hash, 'hex'));
}

const get = (url: string, token = ig) => t.http.get(url).set('Authorization', `Bearer ${token}`);
const post = (url: string, token = ig) => t.http.post(url).set('Authorization', `Bearer ${token}`);
const issueOf = (body: unknown) => (body as OperationOutcome).issue[0];

describe('signed checkpoints', () => {
  it('are signed as the log grows (every few entries here), each over the root of the leaves as stored', async () => {
    const rows = await rawRows<{ tree_size: string | number; root_hash: string; note: string }>(t.database.db, sql`select tree_size, root_hash, note from audit_checkpoint order by tree_size`);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    let previous = 0;
    for (const row of rows) {
      const size = Number(row.tree_size);
      expect(size - previous).toBeGreaterThanOrEqual(EVERY);
      previous = size;
      const cp = opened(row.note);
      expect(cp.treeSize).toBe(size);
      expect(Buffer.from(cp.rootHash).toString('hex')).toBe(Buffer.from(rootOf(await storedLeaves(size))).toString('hex'));
    }
  });

  it('the latest is served as a C2SP note (text/plain) or as JSON with the verifier key', async () => {
    const text = await get('/audit/checkpoint');
    expect(text.status).toBe(200);
    expect(text.type).toBe('text/plain');
    const cp = opened(text.text);
    expect(cp.origin).toBe(t.logKey.name);
    expect(text.text.split('\n').slice(0, 3)).toEqual([cp.origin, String(cp.treeSize), Buffer.from(cp.rootHash).toString('base64')]);
    const json = await get(`/audit/checkpoint?size=${cp.treeSize}`).set('Accept', 'application/json');
    expect(json.body).toMatchObject({ origin: cp.origin, treeSize: cp.treeSize, rootHash: Buffer.from(cp.rootHash).toString('base64'), note: text.text });
    expect(`${json.body.verifierKey}\n`).toBe((await t.http.get('/audit/key')).text);
  });

  it('one is signed on demand over the whole log, and reading a checkpoint is itself audited', async () => {
    await traffic(2);
    const signed = await post('/audit/checkpoint').set('X-Request-Id', 'on-demand-1').set('Accept', 'application/json');
    expect(signed.status).toBe(200);
    await t.hub.sequencer.flush();
    // Everything committed before the request is in it; the request's own event comes next.
    const own = await rawRows<{ idx: string | number }>(t.database.db, sql`select l.idx from audit_log l join audit_event e on e.seq = l.event_seq where e.event @> ${JSON.stringify({ entity: [{ what: { identifier: { value: 'on-demand-1' } } }] })}::jsonb`);
    const size = Number(own[0]?.idx);
    expect(signed.body.treeSize).toBe(size);
    const events = await restEventsFor(t.database.db, 'on-demand-1');
    expect(events.map((e) => e.outcomeDesc)).toEqual([`checkpoint of tree size ${size} on demand`]);
    expect(events[0]?.agent.some((a) => a.who?.identifier?.value === 'ig-console')).toBe(true);
  });

  it('of a size never signed is 404, and a malformed size is 400 naming it', async () => {
    const none = await get('/audit/checkpoint?size=999999');
    expect(none.status).toBe(404);
    const bad = await get('/audit/checkpoint?size=ten');
    expect(bad.status).toBe(400);
    expect(issueOf(bad.body)?.expression).toEqual(['size']);
  });
});

describe('inclusion proofs', () => {
  it('prove every entry offline: its event hashes to the leaf, the path leads to the signed root, the receipt holds', async () => {
    const cp = opened((await get('/audit/checkpoint')).text);
    for (let index = 0; index < cp.treeSize; index += 1) {
      const res = await get(`/audit/proof/inclusion?index=${index}&size=${cp.treeSize}`);
      expect(res.status, `index ${index}`).toBe(200);
      const leaf = leafHashBytes(res.body.event);
      expect(Buffer.from(leaf).toString('base64')).toBe(res.body.leafHash);
      expect(res.body.checkpoint).toBe((await get(`/audit/checkpoint?size=${cp.treeSize}`)).text);
      const path = (res.body.auditPath as string[]).map(b64);
      expect(verifyInclusion(leaf, index, cp.treeSize, path, cp.rootHash), `index ${index}`).toBe(true);
      expect(verifyReceipt(verifier, index, leaf, res.body.receipt as string)).toBe(true);
      // A corrupted proof, a wrong index or another event must fail.
      if (path.length > 0) {
        const flipped = path.map((p, i) => (i === path.length - 1 ? Buffer.from(p.map((byte, j) => (j === 0 ? byte ^ 1 : byte))) : p));
        expect(verifyInclusion(leaf, index, cp.treeSize, flipped, cp.rootHash)).toBe(false);
        expect(verifyInclusion(leaf, (index + 1) % cp.treeSize, cp.treeSize, path, cp.rootHash)).toBe(false);
      }
      expect(verifyInclusion(leafHashBytes({ ...res.body.event, outcome: '8' }), index, cp.treeSize, path, cp.rootHash)).toBe(false);
    }
  }, 60_000);

  it('of an entry past the latest checkpoint signs a new one to prove it against', async () => {
    await traffic(1);
    const size = Number((await rawRows<{ n: number }>(t.database.db, sql`select count(*)::int as n from audit_log`))[0]?.n);
    const res = await get(`/audit/proof/inclusion?index=${size - 1}`);
    expect(res.status).toBe(200);
    const cp = opened(res.body.checkpoint as string);
    expect(cp.treeSize).toBeGreaterThanOrEqual(size);
    expect(verifyInclusion(leafHashBytes(res.body.event), size - 1, cp.treeSize, (res.body.auditPath as string[]).map(b64), cp.rootHash)).toBe(true);
  });

  it('refuse a missing or malformed index (400 naming it) and one beyond the log (404)', async () => {
    for (const [url, status, field] of [
      ['/audit/proof/inclusion', 400, 'index'],
      ['/audit/proof/inclusion?index=-1', 400, 'index'],
      ['/audit/proof/inclusion?index=1.5', 400, 'index'],
      ['/audit/proof/inclusion?index=0&size=0', 400, 'size'],
      ['/audit/proof/inclusion?index=99999999', 404, 'index'],
      ['/audit/proof/inclusion?index=0&size=99999999', 404, 'size'],
    ] as const) {
      const res = await get(url);
      expect(res.status, url).toBe(status);
      expect(issueOf(res.body)?.expression, url).toEqual([field]);
    }
  });
});

describe('consistency proofs', () => {
  it('prove offline that a saved checkpoint is a prefix of a later one; a corrupted proof fails', async () => {
    const saved = opened((await post('/audit/checkpoint')).text);
    await traffic(7);
    const later = opened((await post('/audit/checkpoint')).text);
    expect(later.treeSize).toBeGreaterThan(saved.treeSize);
    const res = await get(`/audit/proof/consistency?from=${saved.treeSize}&to=${later.treeSize}`);
    expect(res.status).toBe(200);
    expect(opened(res.body.toCheckpoint as string)).toEqual(later);
    const proof = (res.body.proof as string[]).map(b64);
    expect(verifyConsistency(saved.treeSize, later.treeSize, saved.rootHash, later.rootHash, proof)).toBe(true);
    expect(verifyConsistency(saved.treeSize, later.treeSize, saved.rootHash, later.rootHash, proof.slice(1))).toBe(false);
    expect(verifyConsistency(saved.treeSize, later.treeSize, later.rootHash, later.rootHash, proof)).toBe(false);
    // Without `to`: up to the latest checkpoint.
    const latest = await get(`/audit/proof/consistency?from=${saved.treeSize}`);
    const top = opened(latest.body.toCheckpoint as string);
    expect(verifyConsistency(saved.treeSize, top.treeSize, saved.rootHash, top.rootHash, (latest.body.proof as string[]).map(b64))).toBe(true);
  });

  it('refuse from = 0, from beyond to, and a to never signed', async () => {
    expect(issueOf((await get('/audit/proof/consistency?from=0')).body)?.expression).toEqual(['from']);
    expect(issueOf((await get('/audit/proof/consistency')).body)?.expression).toEqual(['from']);
    const cp = opened((await get('/audit/checkpoint')).text);
    const beyond = await get(`/audit/proof/consistency?from=${cp.treeSize + 1}&to=${cp.treeSize}`);
    expect(beyond.status).toBe(400);
    expect((await get('/audit/proof/consistency?from=1&to=99999999')).status).toBe(404);
  });
});

describe('who may ask', () => {
  it('nobody without a token (401), no partner (403); both refusals audited', async () => {
    const anon = await t.http.get('/audit/checkpoint').set('X-Request-Id', 'anon-cp');
    expect(anon.status).toBe(401);
    const partner = await get('/audit/proof/inclusion?index=0', await t.token('ocean-cc', 'early-years-registration')).set('X-Request-Id', 'partner-cp');
    expect(partner.status).toBe(403);
    expect(issueOf(partner.body)?.code).toBe('forbidden');
    expect((await restEventsFor(t.database.db, 'anon-cp')).length).toBe(1);
    expect((await restEventsFor(t.database.db, 'partner-cp'))[0]?.outcome).toBe('4');
  });
});

describe('two hub instances on one database', () => {
  it('both sign checkpoints as the log grows, and every checkpoint either signed is consistent with the log', async () => {
    const other = await createHub({ database: t.database, baseUrl: 'http://hub.test', logger: pino({ level: 'silent' }), protocols: await loadedTestProtocols(), logKey: t.logKey, signingKeys: t.hub.keys, sequenceIntervalMs: 50, checkpoints: { everyEntries: 3, everyMs: 3_600_000 } });
    try {
      const before = await rawRows<{ n: number }>(t.database.db, sql`select count(*)::int as n from audit_checkpoint`);
      const a = request(other.app);
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a.get('/fhir/metadata') : t.http.get('/fhir/metadata'))));
      await Promise.all([
        post('/audit/checkpoint'),
        a.post('/audit/checkpoint').set('Authorization', `Bearer ${ig}`),
      ]);
      await other.sequencer.flush();
      await t.hub.sequencer.flush();
      const after = await rawRows<{ n: number }>(t.database.db, sql`select count(*)::int as n from audit_checkpoint`);
      expect(Number(after[0]?.n)).toBeGreaterThan(Number(before[0]?.n));
      const verdict = await post('/audit/verify');
      expect(verdict.body).toMatchObject({ ok: true });
      expect(verdict.body.checkpointsChecked).toBe(Number(after[0]?.n));
    } finally {
      await other.close();
    }
  }, 60_000);
});

describe('verify now, after a superuser rewrote the log', () => {
  it('the stored log verifies until an event is rewritten with its hashes; then the entry is named, and a restarted hub will not sign over it', async () => {
    const clean = await post('/audit/verify');
    expect(clean.status).toBe(200);
    expect(clean.body).toMatchObject({ ok: true, warnings: [] });
    expect(clean.body.checkpointsChecked).toBeGreaterThanOrEqual(3);

    // Entry 3 rewritten, with its leaf hash recomputed so that nothing in the database disagrees.
    const [row] = await rawRows<{ seq: string | number; event: unknown }>(t.database.db, sql`select e.seq, e.event from audit_event e join audit_log l on l.event_seq = e.seq where l.idx = 3`);
    const forged = { ...(typeof row?.event === 'string' ? JSON.parse(row.event) : row?.event), outcomeDesc: 'nothing happened' } as Record<string, unknown>;
    const leaf = Buffer.from(leafHashBytes(forged)).toString('hex');
    await asSuperuser(t.database, [
      sql`update audit_event set event = ${JSON.stringify(forged)}::jsonb, leaf_hash = ${leaf} where seq = ${Number(row?.seq)}`,
      sql`update audit_log set leaf_hash = ${leaf} where idx = 3`,
    ]);
    const caught = await post('/audit/verify');
    expect(caught.body).toMatchObject({ ok: false, finding: { problem: 'receipt-mismatch', index: 3 } });

    // A hub started on the rewritten database (same key) refuses to sign a checkpoint over it, and tells the IG lead.
    const second = await createHub({ database: t.database, baseUrl: 'http://hub.test', logger: pino({ level: 'silent' }), protocols: await loadedTestProtocols(), logKey: t.logKey, signingKeys: t.hub.keys });
    try {
      const refused = await request(second.app).post('/audit/checkpoint').set('Authorization', `Bearer ${ig}`);
      expect(refused.status).toBe(409);
      expect(issueOf(refused.body)?.diagnostics).toMatch(/no longer makes the root signed at tree size/);
      const alerts = await rawRows<{ kind: string; reason: string }>(t.database.db, sql`select kind, reason from ig_alert where kind = 'log-integrity'`);
      expect(alerts).toHaveLength(1);
    } finally {
      await second.close();
    }
  }, 60_000);
});
