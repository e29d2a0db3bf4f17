import type { AuditEvent, Patient } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRows } from '../../src/db/database.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Creates of Patients that arrive while the hub's one write slot is busy share
// a transaction (AuditRecorder.sharedWrite), but never two of one NHS number:
// the hub keeps one Patient per NHS number, and the identity lock that keeps
// two writers of one number apart is the transaction's own. Sharing must change
// no answer, no AuditEvent and no stored Patient: each is what the request
// would have had alone. The slot is held from here, so the requests are
// certain to queue.

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
/** A practice's own patient identifier: no NHS number, so no identity lock. */
const LOCAL = 'https://test.example/Id/local-patient';
const TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

let t: TestHub;
let a: string;
let b: string;

beforeAll(async () => {
  t = await startTestHub({ writeBatches: { slots: 1, max: 32 } });
  a = await t.token('test-a', 'direct-care');
  b = await t.token('test-b', 'direct-care');
});

afterAll(async () => {
  await t.close();
});

interface Create {
  label: string;
  bearer: () => string;
  /** Which of the round's NHS numbers it states ('invalid': one whose check digit is wrong); without one, a local identifier. */
  nhs: 'w' | 'x' | 'y' | 'z' | 'invalid' | undefined;
  family: string;
}

const creates: Create[] = [
  { label: 'a-x', bearer: () => a, nhs: 'x', family: 'Harbour' },
  { label: 'b-x', bearer: () => b, nhs: 'x', family: 'Harbor' },
  { label: 'b-y', bearer: () => b, nhs: 'y', family: 'Quayside' },
  { label: 'a-none', bearer: () => a, nhs: undefined, family: 'Unnumbered' },
  { label: 'a-invalid', bearer: () => a, nhs: 'invalid', family: 'Misnumbered' },
  { label: 'a-z', bearer: () => a, nhs: 'z', family: 'Wharf' },
  { label: 'b-w', bearer: () => b, nhs: 'w', family: 'Slipway' },
];

/** A round's NHS numbers (each passes the modulus-11 check but 'invalid'). */
type Numbers = Record<'w' | 'x' | 'y' | 'z' | 'invalid', string>;
const together: Numbers = { w: '9434765870', x: '9434765803', y: '9434765811', z: '9434765838', invalid: '9434765804' };
const alone: Numbers = { w: '9434765889', x: '9434765846', y: '9434765854', z: '9434765862', invalid: '9434765864' };

interface Answer {
  status: number;
  location: string | undefined;
  body: Patient;
}

async function create(c: Create, numbers: Numbers, round: string): Promise<Answer> {
  const patient: Patient = {
    resourceType: 'Patient',
    identifier: [c.nhs === undefined ? { system: LOCAL, value: `${round}-${c.label}` } : { system: NHS, value: numbers[c.nhs] }],
    name: [{ family: c.family }],
    birthDate: '2025-06-01',
  };
  const res = await t.http
    .post('/fhir/Patient')
    .set('authorization', `Bearer ${c.bearer()}`)
    .set('content-type', 'application/fhir+json')
    .set('x-request-id', `${round}-${c.label}`)
    .send(patient);
  return { status: res.status, location: res.headers['location'], body: res.body as Patient };
}

/** The AuditEvents of a request: the transaction that committed each, and what each says with ids, times and NHS numbers left out. */
async function eventsOf(round: string, label: string, numbers: Numbers): Promise<{ xmins: string[]; said: string[] }> {
  const requestId = `${round}-${label}`;
  const doc = JSON.stringify({ entity: [{ what: { identifier: { value: requestId } } }] });
  const rows = await rawRows<{ xmin: string; event: AuditEvent }>(t.database.db, sql`select xmin::text as xmin, event from audit_event where event @> ${doc}::jsonb`);
  const said = rows.map(({ event }) => neutral(JSON.stringify({ ...event, id: undefined, recorded: undefined, meta: undefined }).replaceAll(requestId, '<request>'), numbers));
  return { xmins: rows.map((r) => r.xmin), said: said.sort() };
}

function neutral(text: string, numbers: Numbers): string {
  let out = text.replace(UUID, '<id>').replace(TIME, '<time>').replaceAll('together-', '<round>-').replaceAll('alone-', '<round>-');
  for (const [name, value] of Object.entries(numbers)) out = out.replaceAll(value, `<${name}>`);
  return out;
}

/** The Patients that hold an NHS number. */
async function patientsOf(nhs: string): Promise<string[]> {
  const rows = await rawRows<{ id: string }>(t.database.db, sql`select distinct id from resource_token where type = 'Patient' and param = 'identifier' and system = ${NHS} and value = ${nhs}`);
  return rows.map((r) => r.id);
}

function idOf(answer: Answer | undefined): string | undefined {
  return /\/Patient\/([^/]+)/.exec(answer?.location ?? '')?.[1];
}

describe("creates of Patients sharing a transaction with another organisation's", () => {
  it('answer, audit and store each as if it were alone, and never share one NHS number', async () => {
    let open = (): void => undefined;
    const held = t.hub.audit.sharedWrite(t.database.db, undefined, () => new Promise<void>((resolve) => (open = resolve)));
    const pending = creates.map((c) => create(c, together, 'together'));
    // Every create queues but the one without an NHS number: the profile refuses it first, in a transaction of its own.
    const queueing = creates.length - 1;
    try {
      for (let i = 0; i < 200 && t.hub.audit.queuedWrites(t.database.db) < queueing; i += 1) await new Promise((r) => setTimeout(r, 10));
      expect(t.hub.audit.queuedWrites(t.database.db)).toBe(queueing);
    } finally {
      open();
      await held;
    }
    const shared = await Promise.all(pending);

    // All but one of the two creates of number x shared one transaction: whichever of those two queued first went
    // with the batch (the requests race to the queue), the other had a transaction of its own, after.
    const committed = await Promise.all(creates.map((c) => eventsOf('together', c.label, together)));
    for (const { xmins } of committed) expect(xmins.length).toBeGreaterThan(0);
    const [ax, bx, by, anone, ...rest] = committed;
    const batch = new Set([by, ...rest].flatMap((c) => c?.xmins ?? []));
    const byRequest = JSON.stringify(creates.map((c, i) => [c.label, committed[i]?.xmins, shared[i]?.status]));
    expect(batch.size, byRequest).toBe(1);
    const inBatch = (c: { xmins: string[] } | undefined): boolean => c !== undefined && c.xmins.every((x) => batch.has(x));
    const apart = (c: { xmins: string[] } | undefined): boolean => c !== undefined && c.xmins.every((x) => !batch.has(x));
    expect([inBatch(ax) && apart(bx), inBatch(bx) && apart(ax)].filter(Boolean), byRequest).toHaveLength(1);
    expect(apart(anone), byRequest).toBe(true);

    // The same creates one by one, each in its own transaction, with numbers of their own, number x's in the order they were stored.
    const xFirst = inBatch(ax) ? 'a-x' : 'b-x';
    const order = [...creates].sort((c, d) => Number(d.label === xFirst) - Number(c.label === xFirst));
    const answered = new Map<string, Answer>();
    for (const c of order) answered.set(c.label, await create(c, alone, 'alone'));
    const one = creates.map((c) => answered.get(c.label));
    expect(shared.map((s) => s.status)).toEqual(one.map((s) => s?.status));
    expect(shared.map((s) => neutral(JSON.stringify(s.body), together))).toEqual(one.map((s) => neutral(JSON.stringify(s?.body), alone)));
    const aloneCommitted = await Promise.all(creates.map((c) => eventsOf('alone', c.label, alone)));
    expect(new Set(aloneCommitted.flatMap((c) => c.xmins)).size).toBe(creates.length);
    expect(committed.map((c) => c.said)).toEqual(aloneCommitted.map((c) => c.said));

    // And what alone means: one Patient per NHS number, each caller answered with its own statement, the invalid number refused.
    expect(shared.map((s) => s.status)).toEqual([201, 201, 201, 422, 422, 201, 201]);
    for (const numbers of [together, alone]) {
      for (const n of [numbers.w, numbers.x, numbers.y, numbers.z]) expect(await patientsOf(n)).toHaveLength(1);
      expect(await patientsOf(numbers.invalid)).toHaveLength(0);
    }
    expect(idOf(shared[0])).toBe(idOf(shared[1]));
    expect(await patientsOf(together.x)).toEqual([idOf(shared[0])]);
    expect(new Set(shared.map(idOf).filter((id) => id !== undefined)).size).toBe(4);
    expect(shared.map((s) => s.body.name?.[0]?.family)).toEqual(['Harbour', 'Harbor', 'Quayside', undefined, undefined, 'Wharf', 'Slipway']);
  });
});
