import type { AuditEvent, Bundle } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRows } from '../../src/db/database.js';
import { createdId, startTestHub, type TestHub } from '../support/test-hub.js';

// Reads by id that arrive while the hub's one read slot is busy share a
// transaction (services/shared-transactions.ts). Sharing a transaction with
// another organisation's requests must tell neither anything: each answer,
// each AuditEvent and each denial count is the one the request would have had
// alone. The slot is held from here, so the requests are certain to queue.

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
/** The NHS number of the Patient the hub holds, and one it does not. */
const HELD = '9434765919';
const UNKNOWN = '9434765870';

let t: TestHub;
let owner: string;
let other: string;
let id: string;
let observationId: string;

beforeAll(async () => {
  t = await startTestHub({ readBatches: { slots: 1, max: 32 } });
  owner = await t.token('test-a', 'direct-care');
  other = await t.token('test-b', 'direct-care');
  id = await createdId(t, owner, { resourceType: 'Patient', identifier: [{ system: NHS, value: HELD }], name: [{ family: 'Shared' }], birthDate: '2024-02-01' });
  observationId = await createdId(t, owner, { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${id}` } });
});

afterAll(async () => {
  await t.close();
});

interface Asked {
  label: string;
  bearer: () => string;
  path: () => string;
}

const asked: Asked[] = [
  { label: 'owner-read', bearer: () => owner, path: () => `/fhir/Patient/${id}` },
  { label: 'other-read', bearer: () => other, path: () => `/fhir/Patient/${id}` },
  { label: 'other-unknown', bearer: () => other, path: () => '/fhir/Patient/no-such-patient' },
  { label: 'owner-unknown', bearer: () => owner, path: () => '/fhir/Patient/no-such-patient' },
  { label: 'owner-observation', bearer: () => owner, path: () => `/fhir/Observation/${observationId}/_history/1` },
  { label: 'other-observation', bearer: () => other, path: () => `/fhir/Observation/${observationId}/_history/1` },
  // Searches whose criteria name their records share too (search-service.ts).
  { label: 'owner-search', bearer: () => owner, path: () => `/fhir/Patient?identifier=${NHS}|${HELD}` },
  { label: 'other-search', bearer: () => other, path: () => `/fhir/Patient?identifier=${NHS}|${HELD}` },
  { label: 'other-search-unknown', bearer: () => other, path: () => `/fhir/Patient?identifier=${NHS}|${UNKNOWN}` },
  { label: 'other-search-id', bearer: () => other, path: () => `/fhir/Patient?_id=${id}` },
  { label: 'owner-search-id', bearer: () => owner, path: () => `/fhir/Patient?_id=${id}` },
];

interface Answer {
  status: number;
  said: unknown;
}

async function ask(a: Asked, requestId: string): Promise<Answer> {
  const res = await t.http.get(a.path()).set('authorization', `Bearer ${a.bearer()}`).set('x-request-id', requestId);
  return { status: res.status, said: res.body as unknown };
}

/** The AuditEvents of a request: the transaction that committed each, and what each says less its own id, time and request id. */
async function eventsOf(requestId: string): Promise<{ xmins: string[]; said: string[] }> {
  const doc = JSON.stringify({ entity: [{ what: { identifier: { value: requestId } } }] });
  const rows = await rawRows<{ xmin: string; event: AuditEvent }>(t.database.db, sql`select xmin::text as xmin, event from audit_event where event @> ${doc}::jsonb`);
  const said = rows.map(({ event }) => JSON.stringify({ ...event, id: undefined, recorded: undefined, meta: undefined }).replaceAll(requestId, '<request>'));
  return { xmins: rows.map((r) => r.xmin), said: said.sort() };
}

async function deniedTo(clientId: string): Promise<number> {
  const [row] = await rawRows<{ n: number }>(t.database.db, sql`select coalesce(sum(denials), 0)::int as n from ig_denial_window where client_id = ${clientId}`);
  return row?.n ?? 0;
}

describe("reads sharing a transaction with another organisation's", () => {
  it('answer, audit and count each request as if it were alone', async () => {
    const before = { a: await deniedTo('test-a'), b: await deniedTo('test-b') };
    // Hold the only slot; the requests queue behind it.
    let open = (): void => undefined;
    const held = t.hub.audit.shared(t.database.db, () => new Promise<void>((resolve) => (open = resolve)));
    const pending = asked.map((a) => ask(a, `shared-${a.label}`));
    for (let i = 0; i < 200 && t.hub.audit.queuedShared(t.database.db) < asked.length; i += 1) await new Promise((r) => setTimeout(r, 10));
    expect(t.hub.audit.queuedShared(t.database.db)).toBe(asked.length);
    open();
    await held;
    const together = await Promise.all(pending);
    const counted = { a: (await deniedTo('test-a')) - before.a, b: (await deniedTo('test-b')) - before.b };

    // They did share one transaction: every AuditEvent of the six requests was committed by it.
    const committed = await Promise.all(asked.map((a) => eventsOf(`shared-${a.label}`)));
    for (const { xmins } of committed) expect(xmins.length).toBeGreaterThan(0);
    expect(new Set(committed.flatMap((c) => c.xmins)).size).toBe(1);

    // The same requests one by one, each in its own transaction.
    const alone: Answer[] = [];
    for (const a of asked) alone.push(await ask(a, `alone-${a.label}`));
    const countedAlone = { a: (await deniedTo('test-a')) - before.a - counted.a, b: (await deniedTo('test-b')) - before.b - counted.b };
    expect(together).toEqual(alone);
    expect(counted).toEqual(countedAlone);
    const aloneCommitted = await Promise.all(asked.map((a) => eventsOf(`alone-${a.label}`)));
    expect(new Set(aloneCommitted.flatMap((c) => c.xmins)).size).toBe(asked.length);
    // Each request's AuditEvents say what they say alone: the same events, the same decisions, the same outcome.
    expect(committed.map((c) => c.said)).toEqual(aloneCommitted.map((c) => c.said));

    // And what alone means: the owner reads its Patient and a version of its Observation; the other organisation learns nothing of either.
    expect(together.map((a) => a.status)).toEqual([200, 404, 404, 404, 200, 404, 200, 200, 200, 200, 200]);
    expect((together[0]?.said as { id: string }).id).toBe(id);
    expect((together[4]?.said as { id: string }).id).toBe(observationId);
    const found = (a: Answer | undefined): string[] => ((a?.said as Bundle).entry ?? []).map((e) => e.resource?.id ?? '');
    expect(together.slice(6).map(found)).toEqual([[id], [], [], [], [id]]);
    expect(counted.a).toBe(0);
    expect(counted.b).toBeGreaterThan(0);
    // The denied read and the unknown id answer alike, but for the id each names.
    const named = (a: Answer | undefined, name: string): string => JSON.stringify(a).replaceAll(name, '<id>');
    expect(named(together[1], id)).toBe(named(together[2], 'no-such-patient'));
    expect(together[5]?.status).toBe(404);
    // And a search finds a Patient it may not see as it finds an NHS number the hub does not hold.
    expect(JSON.stringify(together[7]).replaceAll(HELD, '<nhs>')).toBe(JSON.stringify(together[8]).replaceAll(UNKNOWN, '<nhs>'));
  });

  it.each([
    ['whose criteria do not name its records', () => `/fhir/Observation?patient=Patient/${id}`, () => [observationId], 'scan-reference'],
    // An identifier without a system may be held by any number of records, in any system.
    ['by an identifier without a system', () => `/fhir/Patient?identifier=${HELD}`, () => [id], 'scan-identifier'],
  ])('leave out a search %s: it has a transaction of its own', async (_label, path, found, requestId) => {
    let open = (): void => undefined;
    const held = t.hub.audit.shared(t.database.db, () => new Promise<void>((resolve) => (open = resolve)));
    const read = ask(asked[0] as Asked, `beside-${requestId}`);
    const scan = t.http.get(path()).set('authorization', `Bearer ${owner}`).set('x-request-id', requestId);
    const pending = Promise.all([read, scan]);
    for (let i = 0; i < 200 && t.hub.audit.queuedShared(t.database.db) < 1; i += 1) await new Promise((r) => setTimeout(r, 10));
    // Give the scan time to queue too, were it to share.
    await new Promise((r) => setTimeout(r, 200));
    expect(t.hub.audit.queuedShared(t.database.db)).toBe(1);
    open();
    await held;
    const [readAnswer, scanAnswer] = await pending;
    expect(readAnswer.status).toBe(200);
    expect(scanAnswer.status).toBe(200);
    expect(((scanAnswer.body as Bundle).entry ?? []).map((e) => e.resource?.id)).toEqual(found());
    const [readEvents, scanEvents] = await Promise.all([eventsOf(`beside-${requestId}`), eventsOf(requestId)]);
    expect(scanEvents.xmins.length).toBeGreaterThan(0);
    expect(new Set([...readEvents.xmins, ...scanEvents.xmins]).size).toBe(2);
  });
});
