import type { Bundle, OperationOutcome, Subscription } from 'fhir/r4.js';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startHub, stopHub, untilReady, type HubInstance } from '../../bench/faults/hub-instance.js';
import { requestAccessToken } from '../../bench/support/token.js';
import { rawRows } from '../../src/db/database.js';
import { readDemoKeys } from '../../src/demo/seed.js';
import { allowEndpoint } from '../../src/db/subscription-queries.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { readFixture } from '../support/golden.js';
import { readNotification, subscriptionBody, type Notification } from '../support/receiver.js';

// Issue 12's hardest promise, tried as an operator meets it: a real hub
// process is killed (SIGKILL) while the notification of a committed booking is
// on its way to the subscriber, and a new process on the same database sends
// it. The subscriber sees one event, numbered 1, however many times the bytes
// arrive (a consumer that dedupes by event number sees one effect), and the
// hub records it delivered once. PostgreSQL only: a spawned process and this
// test share the database (PGlite has one user at a time).

const onPostgres = inject('databaseUrl') !== '';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

/** A subscriber that answers handshakes and heartbeats, and holds the first event notification unanswered. */
interface HoldingReceiver {
  url: string;
  /** Every notification body that arrived, answered or not. */
  arrived: Notification[];
  /** Resolves when the first event notification has arrived (and is being held). */
  firstEvent: Promise<void>;
  close(): Promise<void>;
}

async function startHoldingReceiver(): Promise<HoldingReceiver> {
  const arrived: Notification[] = [];
  let held = false;
  let signal = (): void => undefined;
  const firstEvent = new Promise<void>((resolve) => { signal = resolve; });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const note = readNotification(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle);
      arrived.push(note);
      if (note.type === 'event-notification' && !held) {
        // Never answered: the hub that sent it is killed while it waits.
        held = true;
        signal();
        return;
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`,
    arrived,
    firstEvent,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

async function token(hub: HubInstance, dataDir: string, clientId: string, scope: string, purpose: string): Promise<string> {
  const { privateJwk } = await readDemoKeys(dataDir, clientId);
  return requestAccessToken({ baseUrl: hub.baseUrl, clientId, privateJwk, scope, purpose });
}

describe.skipIf(!onPostgres)('a hub killed between commit and delivery (PostgreSQL: a spawned hub process shares the test database)', () => {
  let database: TestDatabase;
  let dataDir: string;
  let receiver: HoldingReceiver;
  const hubs: HubInstance[] = [];

  const spawnHub = async (name: string): Promise<HubInstance> => {
    const hub = startHub(name, await freePort(), {
      DATABASE_URL: database.url ?? '',
      ...(database.ownerUrl === undefined ? {} : { MIGRATION_DATABASE_URL: database.ownerUrl }),
      DATA_DIR: dataDir,
      MLLP_PORT: '0',
      SUBSCRIPTION_POLL_MS: '50',
      SUBSCRIPTION_RETRY_BASE_MS: '50',
      // The held request outlasts nothing: its lease (2 × timeout + 5 s) lets the next process take the event.
      SUBSCRIPTION_TIMEOUT_MS: '1000',
    });
    hubs.push(hub);
    await untilReady(hub);
    return hub;
  };

  beforeAll(async () => {
    database = await openTestDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), 'eyhub-kill-'));
    receiver = await startHoldingReceiver();
  }, 120_000);
  afterAll(async () => {
    for (const hub of hubs) await stopHub(hub);
    await receiver.close();
    await database.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('the notification still reaches the subscriber as one event, numbered once, delivered once', async () => {
    const first = await spawnHub('first');
    // The demo world is seeded by the first start; Ocean may be notified at the receiver.
    await allowEndpoint(database.db, 'CC-OCEAN', receiver.url);
    const ocean = await token(first, dataDir, 'ocean-cc', 'system/Subscription.crds system/*.rs', 'early-years-registration');
    const created = await fetch(`${first.baseUrl}/fhir/Subscription`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ocean}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(subscriptionBody(`${first.baseUrl}/fhir`, 'registration', receiver.url)),
    });
    expect(created.status).toBe(201);
    const subscription = String(((await created.json()) as Subscription).id);

    const maternity = await token(first, dataDir, 'northgate-maternity', 'system/*.c', 'direct-care');
    const booked = await fetch(`${first.baseUrl}/fhir/$process-message`, {
      method: 'POST',
      headers: { authorization: `Bearer ${maternity}`, 'content-type': 'application/fhir+json' },
      body: await readFixture('fhir-message/pregnancy-notification.json'),
    });
    expect(booked.status).toBe(200);
    const mother = /Patient\/([0-9a-f-]{36})/.exec(String(((await booked.json()) as OperationOutcome).issue[0]?.diagnostics))?.[1];
    expect(mother).toBeDefined();

    // The booking committed; its notification is on the wire and held. Kill the process that sent it.
    await receiver.firstEvent;
    first.signal('SIGKILL');
    await first.exited;

    await spawnHub('second');
    const delivered = async (): Promise<boolean> => {
      const rows = await rawRows<{ state: string }>(database.db, sql`select state from subscription_event where subscription_id = ${subscription}`);
      return rows.length === 1 && rows[0]?.state === 'delivered';
    };
    for (let i = 0; i < 300 && !(await delivered()); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));

    const rows = await rawRows<{ state: string; event_number: string | null; focus: string }>(
      database.db,
      sql`select state, event_number, focus from subscription_event where subscription_id = ${subscription}`,
    );
    expect(rows).toEqual([{ state: 'delivered', event_number: '1', focus: `Patient/${mother ?? ''}` }]);
    const events = receiver.arrived.filter((n) => n.subscription === subscription && n.type === 'event-notification');
    // Sent by the killed process and again by the next: the same event, the same number.
    expect(events.length).toBeGreaterThanOrEqual(2);
    const distinct = new Set(events.flatMap((n) => n.events.map((e) => `${e.number} ${e.focus}`)));
    expect([...distinct]).toEqual([`1 Patient/${mother ?? ''}`]);
    expect(events.every((n) => n.eventsSinceStart === 1)).toBe(true);
  }, 240_000);
});
