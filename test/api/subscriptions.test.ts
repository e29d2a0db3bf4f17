import type { Bundle, Consent, OperationOutcome, Parameters, Patient, Subscription } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRows } from '../../src/db/database.js';
import { storedResources } from '../support/audit.js';
import { bookFixtureMother } from '../support/booking.js';
import { readFixture } from '../support/golden.js';
import { allowReceiver, deliveryIdle, eventsOf, startReceiver, subscriptionBody, type Receiver } from '../support/receiver.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Topic-based subscriptions (issue 12): the story's events reach the partners
// the decision lets them reach, when they are sent, and no others.

const HL7 = 'x-application/hl7-v2+er7';
const FAST = { pollMs: 50, retryBaseMs: 20, retryMaxMs: 200, maxFailures: 3, timeoutMs: 2000 };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const json = { 'Content-Type': 'application/fhir+json' };

interface World {
  t: TestHub;
  fhirBase: string;
  ocean: Receiver;
  iod: Receiver;
  hv: Receiver;
}

async function world(): Promise<World> {
  const t = await startTestHub({ subscriptions: FAST });
  const [ocean, iod, hv] = [await startReceiver(), await startReceiver(), await startReceiver()];
  await allowReceiver(t.database.db, 'CC-OCEAN', ocean);
  await allowReceiver(t.database.db, 'CC-IOD', iod);
  await allowReceiver(t.database.db, 'R9H', hv);
  return { t, fhirBase: `${t.baseUrl}/fhir`, ocean, iod, hv };
}

async function subscribe(w: World, client: string, purpose: string, topic: string, receiver: Receiver, extra: { content?: string } = {}): Promise<string> {
  const res = await w.t.http.post('/fhir/Subscription').set(bearer(await w.t.token(client, purpose))).set(json).send(subscriptionBody(w.fhirBase, topic, receiver.url, extra));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect((res.body as Subscription).status).toBe('requested');
  return String((res.body as Subscription).id);
}

async function sendMessage(t: TestHub, fixture: string): Promise<void> {
  const res = await t.http.post('/fhir/$process-message').set(bearer(await t.token('northgate-maternity', 'direct-care'))).set(json).send(await readFixture(fixture));
  expect(res.status).toBe(200);
}

async function sendVxu(t: TestHub, fixture: string): Promise<void> {
  const res = await t.http.post('/ingest/hl7v2').set(bearer(await t.token('limehouse-gp', 'direct-care'))).set('Content-Type', HL7).send(await readFixture(fixture));
  expect(res.status).toBe(200);
}

const idOf = async (t: TestHub, type: string, nhs: string): Promise<string> => {
  const all = await storedResources<{ identifier?: { value?: string }[] }>(t.database.db, type);
  return `${type}/${all.find((p) => p.identifier?.some((i) => i.value === nhs))?.id ?? 'none'}`;
};

const closeWorld = async (w: World): Promise<void> => {
  await w.t.close();
  for (const r of [w.ocean, w.iod, w.hv]) await r.close();
};

describe("the story's events, for the partners the decision lets them reach", () => {
  let w: World;
  const subs: Record<string, string> = {};
  beforeAll(async () => {
    w = await world();
    subs['ocean-registration'] = await subscribe(w, 'ocean-cc', 'early-years-registration', 'registration', w.ocean, { content: 'full-resource' });
    subs['ocean-tasks'] = await subscribe(w, 'ocean-cc', 'immunisation-follow-up', 'follow-up-task', w.ocean);
    subs['iod-registration'] = await subscribe(w, 'iod-cc', 'early-years-registration', 'registration', w.iod);
    subs['hv-birth'] = await subscribe(w, 'eastside-hv', 'direct-care', 'birth', w.hv);
    subs['hv-missed'] = await subscribe(w, 'eastside-hv', 'direct-care', 'missed-dose', w.hv);
    await deliveryIdle(w.t.database.db);
  });
  afterAll(async () => {
    await closeWorld(w);
  });

  it('shakes hands with each endpoint before the Subscription is active', async () => {
    for (const [name, id] of Object.entries(subs)) {
      const receiver = name.startsWith('ocean') ? w.ocean : name.startsWith('iod') ? w.iod : w.hv;
      expect(receiver.received.filter((n) => n.subscription === id).map((n) => n.type)).toEqual(['handshake']);
    }
    const client = await w.t.token('ocean-cc', 'early-years-registration');
    const read = await w.t.http.get(`/fhir/Subscription/${subs['ocean-registration'] ?? ''}`).set(bearer(client));
    expect(read.status).toBe(200);
    expect((read.body as Subscription).status).toBe('active');
  });

  it('booking, birth and a missed dose reach the right partners, numbered without gaps, and no one else', async () => {
    await bookFixtureMother(w.t);
    await sendMessage(w.t, 'fhir-message/birth-notification-stu3.json');
    await sendVxu(w.t, 'hl7v2/missed-dose-na.hl7');
    await deliveryIdle(w.t.database.db);

    const mother = await idOf(w.t, 'Patient', '9995100010');
    const baby = await idOf(w.t, 'Patient', '9995100029');
    const child = await idOf(w.t, 'Patient', '9990091013');
    const [missed] = await storedResources<{ id: string }>(w.t.database.db, 'Immunization');
    const tasks = await storedResources<{ id: string; owner?: { identifier?: { value?: string } } }>(w.t.database.db, 'Task');
    const oceanTask = tasks.find((task) => task.owner?.identifier?.value === 'CC-OCEAN');

    const registrations = eventsOf(w.ocean, subs['ocean-registration'] ?? '');
    expect(new Set(registrations.map((e) => e.focus))).toEqual(new Set([mother, baby]));
    expect(registrations.map((e) => e.number)).toEqual(registrations.map((_, i) => i + 1));
    expect(registrations.map((e) => e.focus)).not.toContain(child); // a practice's child: no registration flow to the centre
    expect(eventsOf(w.ocean, subs['ocean-tasks'] ?? '')).toEqual([{ number: 1, focus: `Task/${oceanTask?.id ?? ''}` }]);
    expect(eventsOf(w.iod, subs['iod-registration'] ?? '')).toEqual([]); // outside its catchment
    expect(eventsOf(w.hv, subs['hv-birth'] ?? '')).toEqual([{ number: 1, focus: baby }]);
    expect(eventsOf(w.hv, subs['hv-missed'] ?? '')).toEqual([{ number: 1, focus: `Immunization/${missed?.id ?? ''}` }]);
  });

  it('sends full-resource payloads redacted by the decision, id-only payloads without the resource', () => {
    const full = w.ocean.received.find((n) => n.subscription === subs['ocean-registration'] && n.type === 'event-notification');
    const patient = full?.bundle.entry?.[1]?.resource as Patient | undefined;
    expect(patient?.resourceType).toBe('Patient');
    expect(patient?.name).toBeDefined();
    expect(patient?.generalPractitioner).toBeUndefined(); // not among the flow's data items
    const idOnly = w.hv.received.find((n) => n.subscription === subs['hv-birth'] && n.type === 'event-notification');
    expect(idOnly?.bundle.type).toBe('history');
    expect(idOnly?.bundle.entry?.[1]?.fullUrl).toMatch(/\/fhir\/Patient\//);
    expect(idOnly?.bundle.entry?.[1]?.resource).toBeUndefined();
  });

  it('audits each notification as a disclosure to the subscriber', async () => {
    const rows = await rawRows<{ n: string }>(
      w.t.database.db,
      sql`select count(*) as n from audit_event where event->>'outcomeDesc' like ${`subscription notification: Subscription/${subs['hv-birth'] ?? ''}%`}`,
    );
    expect(Number(rows[0]?.n)).toBe(1);
  });

  it('$status and $events answer the subscriber: the count, and the events again, decided now', async () => {
    const client = await w.t.token('eastside-hv', 'direct-care');
    const id = subs['hv-birth'] ?? '';
    const status = await w.t.http.get(`/fhir/Subscription/${id}/$status`).set(bearer(client));
    expect(status.status).toBe(200);
    const parameters = (status.body as Bundle).entry?.[0]?.resource as Parameters;
    expect(parameters.parameter?.find((p) => p.name === 'events-since-subscription-start')?.valueString).toBe('1');
    expect(parameters.parameter?.find((p) => p.name === 'type')?.valueCode).toBe('query-status');
    const events = await w.t.http.get(`/fhir/Subscription/${id}/$events?eventsSinceNumber=1&eventsUntilNumber=1`).set(bearer(client));
    expect(events.status).toBe(200);
    expect((events.body as Bundle).type).toBe('history');
    expect((events.body as Bundle).entry).toHaveLength(2);
    const bad = await w.t.http.get(`/fhir/Subscription/${id}/$events?eventsSinceNumber=x`).set(bearer(client));
    expect(bad.status).toBe(400);
    expect((bad.body as OperationOutcome).issue[0]?.expression).toEqual(['eventsSinceNumber']);
  });
});

describe('a withdrawn consent stops the next notification', () => {
  let w: World;
  let registration = '';
  let notices = '';
  let birth = '';
  beforeAll(async () => {
    w = await world();
    registration = await subscribe(w, 'ocean-cc', 'early-years-registration', 'registration', w.ocean);
    notices = await subscribe(w, 'ocean-cc', 'early-years-registration', 'withdrawal-notice', w.ocean);
    birth = await subscribe(w, 'eastside-hv', 'direct-care', 'birth', w.hv);
    await deliveryIdle(w.t.database.db);
  });
  afterAll(async () => {
    await closeWorld(w);
  });

  it('after the withdrawal the centre is told of it, and of nothing more about the family', async () => {
    const { mother, consent } = await bookFixtureMother(w.t);
    await deliveryIdle(w.t.database.db);
    expect(eventsOf(w.ocean, registration)).toEqual([{ number: 1, focus: `Patient/${mother}` }]);

    const maternity = await w.t.token('northgate-maternity', 'direct-care');
    const current = (await w.t.http.get(`/fhir/Consent/${consent}`).set(bearer(maternity))).body as Consent;
    const put = await w.t.http.put(`/fhir/Consent/${consent}`).set(bearer(maternity)).set(json).send(JSON.stringify({ ...current, status: 'inactive' }));
    expect(put.status).toBe(200);
    await sendMessage(w.t, 'fhir-message/birth-notification-stu3.json');
    await deliveryIdle(w.t.database.db);

    // The withdrawal notice, addressed to the centre, reaches it; the baby and the mother's new details do not.
    const [notice] = eventsOf(w.ocean, notices);
    expect(notice?.focus).toMatch(/^Communication\//);
    expect(eventsOf(w.ocean, registration)).toEqual([{ number: 1, focus: `Patient/${mother}` }]);
    // The health visitors' flow needs no consent: the birth still reaches them.
    expect(eventsOf(w.hv, birth)).toHaveLength(1);
    const withheld = await rawRows<{ n: string }>(w.t.database.db, sql`select count(*) as n from subscription_event where subscription_id = ${registration} and state = 'withheld'`);
    expect(Number(withheld[0]?.n)).toBeGreaterThan(0);
    const denials = await rawRows<{ n: string }>(
      w.t.database.db,
      sql`select count(*) as n from audit_event where event::text like '%notification withheld%' and event::text like '%consent-withdrawn%'`,
    );
    expect(Number(denials[0]?.n)).toBeGreaterThan(0);
  });
});
