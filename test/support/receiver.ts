import type { Bundle, Parameters } from 'fhir/r4.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { rawRows, type Db } from '../../src/db/database.js';
import { allowEndpoint } from '../../src/db/subscription-queries.js';
import { BACKPORT_PROFILE } from '../../src/fhir/subscription-request.js';

// A partner's rest-hook endpoint on loopback: it keeps every notification it
// is sent, and can be told to fail the next ones.

export interface Notification {
  subscription: string;
  type: string;
  eventsSinceStart: number;
  events: { number: number; focus: string }[];
  bundle: Bundle;
}

export interface Receiver {
  url: string;
  received: Notification[];
  /** Answers 500 to this many more requests. */
  failNext: number;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Notification[] = [];
  const receiver: Receiver = { url: '', received, failNext: 0, close: () => Promise.resolve() };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (receiver.failNext > 0) {
        receiver.failNext -= 1;
        res.writeHead(500).end();
        return;
      }
      received.push(readNotification(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`;
  receiver.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  };
  return receiver;
}

export function readNotification(bundle: Bundle): Notification {
  const status = bundle.entry?.[0]?.resource as Parameters;
  const param = (name: string) => status.parameter?.find((p) => p.name === name);
  return {
    subscription: String(param('subscription')?.valueReference?.reference?.split('/').pop()),
    type: String(param('type')?.valueCode),
    eventsSinceStart: Number(param('events-since-subscription-start')?.valueString),
    events: (status.parameter ?? [])
      .filter((p) => p.name === 'notification-event')
      .map((p) => ({
        number: Number(p.part?.find((x) => x.name === 'event-number')?.valueString),
        focus: String(p.part?.find((x) => x.name === 'focus')?.valueReference?.reference?.split('/').slice(-2).join('/')),
      })),
    bundle,
  };
}

/** The notification events one Subscription received, in order. */
export function eventsOf(receiver: Receiver, subscription: string): { number: number; focus: string }[] {
  return receiver.received.filter((n) => n.subscription === subscription && n.type === 'event-notification').flatMap((n) => n.events);
}

/** Registers the receiver's origin as an endpoint the organisation may be notified at. */
export async function allowReceiver(db: Db, organisation: string, receiver: Receiver): Promise<void> {
  await allowEndpoint(db, organisation, receiver.url);
}

/** A Subscription body with the backport profile. */
export function subscriptionBody(fhirBase: string, topic: string, endpoint: string, extra: { content?: string; heartbeat?: number } = {}): Record<string, unknown> {
  return {
    resourceType: 'Subscription',
    meta: { profile: [BACKPORT_PROFILE] },
    status: 'requested',
    reason: `test: ${topic}`,
    criteria: `${fhirBase}/SubscriptionTopic/${topic}`,
    channel: {
      type: 'rest-hook',
      endpoint,
      payload: 'application/fhir+json',
      _payload: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content', valueCode: extra.content ?? 'id-only' }] },
      ...(extra.heartbeat === undefined
        ? {}
        : { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period', valueUnsignedInt: extra.heartbeat }] }),
    },
  };
}

/**
 * Waits until every instance has nothing left to do: no Subscription awaiting its handshake, no event not yet
 * delivered or withheld. Only then may a test say what did NOT arrive.
 */
export async function deliveryIdle(db: Db, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await rawRows<{ n: string }>(
      db,
      sql`select (select count(*) from subscription_event e join subscription s on s.id = e.subscription_id
                  where e.state in ('pending', 'numbered') and s.status = 'active')
               + (select count(*) from subscription where status = 'requested') as n`,
    );
    if (Number(row?.n) === 0) return;
    if (Date.now() > until) throw new Error(`deliveries still pending after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
