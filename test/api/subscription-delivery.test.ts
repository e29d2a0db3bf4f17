import type { Subscription } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction, rawRows } from '../../src/db/database.js';
import { writeVersion } from '../../src/db/resource-queries.js';
import { seal } from '../../src/db/undisclosed.js';
import { createHub, type Hub } from '../../src/hub.js';
import { bookFixtureMother, bookMother } from '../support/booking.js';
import { loadedTestProtocols } from '../support/protocols.js';
import { allowReceiver, deliveryIdle, eventsOf, startReceiver, subscriptionBody, type Receiver } from '../support/receiver.js';
import { patient } from '../support/resources.js';
import { startTestHub, testLogKey, type TestHub } from '../support/test-hub.js';

// The outbox and its delivery: written with the change, sent once by one of
// several instances, kept across a restart, retried with backoff, and given
// up (status error) after repeated failures.

const FAST = { pollMs: 20, retryBaseMs: 20, retryMaxMs: 100, maxFailures: 3, timeoutMs: 2000 };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const json = { 'Content-Type': 'application/fhir+json' };

let t: TestHub;
let fhirBase: string;
let receiver: Receiver;

/** Another hub instance on the test's database (as a second process on one PostgreSQL would be). */
async function instance(options: { worker?: boolean } = {}): Promise<Hub> {
  return createHub({
    database: t.database,
    baseUrl: t.baseUrl,
    logger: pino({ level: 'silent' }),
    sequenceIntervalMs: 50,
    protocols: await loadedTestProtocols(),
    logKey: testLogKey(t.baseUrl),
    subscriptions: { ...FAST, ...options },
  });
}

async function subscribe(topic: string, extra: { heartbeat?: number } = {}): Promise<string> {
  const token = await t.token('ocean-cc', 'early-years-registration');
  const res = await t.http.post('/fhir/Subscription').set(bearer(token)).set(json).send(subscriptionBody(fhirBase, topic, receiver.url, extra));
  expect(res.status).toBe(201);
  return String((res.body as Subscription).id);
}

const eventRows = async (id: string): Promise<{ state: string; event_number: string | null }[]> =>
  rawRows(t.database.db, sql`select state, event_number from subscription_event where subscription_id = ${id} order by id`);

const statusOf = async (id: string): Promise<string> => String((await rawRows<{ status: string }>(t.database.db, sql`select status from subscription where id = ${id}`))[0]?.status);

beforeAll(async () => {
  // This instance serves the API and delivers nothing: the tests start the instances that deliver.
  t = await startTestHub({ subscriptions: { ...FAST, worker: false } });
  fhirBase = `${t.baseUrl}/fhir`;
  receiver = await startReceiver();
  await allowReceiver(t.database.db, 'CC-OCEAN', receiver);
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

describe('the outbox', () => {
  it('holds nothing for a change that rolled back', async () => {
    const id = await subscribe('registration');
    const row = { type: 'Patient', id: randomUUID(), versionId: 1, lastUpdated: new Date(), sourceOrg: 'R9M', content: seal({ ...patient(9101), id: '' }) };
    await expect(
      inTransaction(t.database.db, async (tx) => {
        await writeVersion(tx, row);
        expect(await rawRows(tx, sql`select 1 from subscription_event where subscription_id = ${id}`)).toHaveLength(1);
        throw new Error('the change fails after its write');
      }),
    ).rejects.toThrow('the change fails');
    expect(await eventRows(id)).toEqual([]);
  });

  it('a notification committed while no instance delivers is sent exactly once by the next instance to start', async () => {
    const id = await subscribe('registration');
    // One instance activates the Subscription (its handshake), then stops.
    const first = await instance();
    await deliveryIdle(t.database.db);
    await first.close();
    expect(await statusOf(id)).toBe('active');

    // The booking commits its outbox rows with no instance delivering (as if the hub were killed after the commit).
    const { mother } = await bookFixtureMother(t);
    expect((await eventRows(id)).map((e) => e.state)).toEqual(['pending']);
    expect(eventsOf(receiver, id)).toEqual([]);

    const second = await instance();
    await deliveryIdle(t.database.db);
    await second.close();
    expect(eventsOf(receiver, id)).toEqual([{ number: 1, focus: `Patient/${mother}` }]);
    expect((await eventRows(id)).map((e) => e.state)).toEqual(['delivered']);

    // A third start finds nothing left to send.
    const third = await instance();
    await deliveryIdle(t.database.db);
    await third.close();
    expect(eventsOf(receiver, id)).toHaveLength(1);
  });
});

describe('two instances on one database', () => {
  it('deliver each notification once, numbered without gaps or repeats', async () => {
    const ids = [await subscribe('registration'), await subscribe('registration'), await subscribe('registration')];
    const hubs = [await instance(), await instance()];
    try {
      // Seeds apart: the next seed may give the same NHS number (the first valid one from the seed on).
      for (let seed = 9210; seed < 9270; seed += 10) await bookMother(t, seed);
      await deliveryIdle(t.database.db);
    } finally {
      for (const hub of hubs) await hub.close();
    }
    for (const id of ids) {
      const events = eventsOf(receiver, id);
      expect(events.map((e) => e.number)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(new Set(events.map((e) => e.focus)).size, JSON.stringify(events)).toBe(6);
      expect(receiver.received.filter((n) => n.subscription === id && n.type === 'handshake')).toHaveLength(1);
    }
  });
});

describe('failures', () => {
  it('are retried with backoff, and the events arrive once with the numbers they were given', async () => {
    const id = await subscribe('registration');
    const hub = await instance();
    try {
      await deliveryIdle(t.database.db);
      receiver.failNext = 2;
      const { mother } = await bookMother(t, 9310);
      await deliveryIdle(t.database.db);
      expect(receiver.failNext).toBe(0);
      expect(eventsOf(receiver, id)).toEqual([{ number: 1, focus: `Patient/${mother}` }]);
    } finally {
      await hub.close();
    }
  });

  it('set the Subscription to error after repeated failures, which $status reports', async () => {
    const id = await subscribe('registration');
    receiver.failNext = 1000;
    const hub = await instance();
    try {
      for (let i = 0; i < 500 && (await statusOf(id)) !== 'error'; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      await hub.close();
      receiver.failNext = 0;
    }
    expect(await statusOf(id)).toBe('error');
    const token = await t.token('ocean-cc', 'early-years-registration');
    const status = await t.http.get(`/fhir/Subscription/${id}/$status`).set(bearer(token));
    const parameters = (status.body as { entry: { resource: { parameter: { name: string; valueCode?: string; valueCodeableConcept?: { text?: string } }[] } }[] }).entry[0]?.resource.parameter ?? [];
    expect(parameters.find((p) => p.name === 'status')?.valueCode).toBe('error');
    expect(parameters.find((p) => p.name === 'error')?.valueCodeableConcept?.text).toContain('500');
  });
});

describe('heartbeats', () => {
  it('are sent when nothing has happened for the heartbeat period, with the count so far', async () => {
    const id = await subscribe('missed-dose', { heartbeat: 1 });
    const hub = await instance();
    try {
      for (let i = 0; i < 500 && !receiver.received.some((n) => n.subscription === id && n.type === 'heartbeat'); i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await hub.close();
    }
    const beat = receiver.received.find((n) => n.subscription === id && n.type === 'heartbeat');
    expect(beat?.eventsSinceStart).toBe(0);
    expect(beat?.events).toEqual([]);
  });
});

describe('a client taken out of service', () => {
  it('is sent nothing more: its Subscription goes to error, saying why, and the booking is not notified', async () => {
    const id = await subscribe('registration');
    const hub = await instance();
    try {
      await deliveryIdle(t.database.db);
      expect(await statusOf(id)).toBe('active');
      await rawRows(t.database.db, sql`update client set active = false where id = 'ocean-cc'`);
      await bookMother(t, 9301);
      for (let i = 0; i < 200 && (await statusOf(id)) !== 'error'; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await statusOf(id)).toBe('error');
      const [row] = await rawRows<{ last_error: string }>(t.database.db, sql`select last_error from subscription where id = ${id}`);
      expect(row?.last_error).toBe('client ocean-cc is no longer active');
      expect(eventsOf(receiver, id)).toEqual([]);
      expect((await eventRows(id)).map((e) => e.state)).toEqual(['pending']);
    } finally {
      await rawRows(t.database.db, sql`update client set active = true where id = 'ocean-cc'`);
      await hub.close();
    }
  });
});
