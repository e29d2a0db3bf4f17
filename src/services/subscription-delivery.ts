import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Bundle } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { rawRows } from '../db/database.js';
import { findClient } from '../db/registry-queries.js';
import { claimDue, markEvent, nextEventNumber, settle, undelivered, type SubscriptionEventRow, type SubscriptionRow } from '../db/subscription-queries.js';
import { notificationBundle, type NotificationEvent, type NotificationType } from '../fhir/subscription-notification.js';
import type { PayloadContent } from '../fhir/subscription-request.js';
import { isTopicId } from '../fhir/subscription-topics.js';
import { decideFocuses, type SubscriptionDisclosureDeps } from './subscription-disclosure.js';

// The delivery worker of every hub instance: claims one Subscription with work
// due at a time (SKIP LOCKED and a lease, so each event is numbered and sent
// by one instance), decides and numbers its events, audits them, then POSTs
// the notification Bundle to the endpoint. A failure leaves the numbered
// events to be sent again, with the same numbers, after a backoff; after
// `maxFailures` in a row the Subscription goes to `error`.
// See: https://hl7.org/fhir/uv/subscriptions-backport/errors.html

export interface DeliveryOptions {
  /** How often each instance looks for due work; a commit nudges it at once. */
  pollMs: number;
  /** The first retry's delay; each further failure doubles it, up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Failures in a row that set the Subscription to error. */
  maxFailures: number;
  /** The longest wait for an endpoint's answer (a Subscription may ask for less). */
  timeoutMs: number;
  /** Events in one notification at most (a Subscription may ask for fewer). */
  maxCount: number;
}

/** The least time between two busy passes; a change waits at most this much longer to be sent. */
const BUSY_GAP_MS = 50;

export const DEFAULT_DELIVERY: DeliveryOptions = { pollMs: 1000, retryBaseMs: 2000, retryMaxMs: 300_000, maxFailures: 5, timeoutMs: 10_000, maxCount: 20 };

export interface DeliveryDeps extends SubscriptionDisclosureDeps {
  fhirBase: string;
  logger: Logger;
  options: DeliveryOptions;
}

type Sent = { ok: true } | { ok: false; error: string };

export class SubscriptionDelivery {
  private readonly owner = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly deps: DeliveryDeps) {}

  start(): void {
    this.timer = setInterval(() => {
      this.nudge();
    }, this.deps.options.pollMs);
    this.timer.unref();
    this.nudge();
  }

  /** Looks for due work now (called after every audited commit). */
  nudge(): void {
    if (this.stopped || this.timer === undefined) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  /**
   * Drains, and again while nudges came in meanwhile, with a gap between
   * busy passes: under load every audited commit nudges, and without the gap
   * each commit cost one more claim statement (nearly always finding nothing).
   */
  private async loop(): Promise<void> {
    do {
      this.again = false;
      await this.drain().catch((err: unknown) => {
        this.deps.logger.error({ err }, 'subscription delivery failed: it is tried again');
      });
      if (this.again && !this.stopped) await new Promise((resolve) => setTimeout(resolve, BUSY_GAP_MS));
    } while (this.again && !this.stopped);
  }

  /** Stops taking work and waits for the notification in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
  }

  private get leaseMs(): number {
    return this.deps.options.timeoutMs * 2 + 5000;
  }

  private async drain(): Promise<void> {
    for (let i = 0; i < 100 && !this.stopped; i += 1) {
      const sub = await claimDue(this.deps.db, this.owner, this.deps.clock(), this.leaseMs);
      if (sub === undefined) return;
      await this.work(sub).catch(async (err: unknown) => {
        this.deps.logger.error({ err, subscription: sub.id }, 'subscription delivery failed');
        await this.failed(sub, err instanceof Error ? err.message : String(err));
      });
    }
  }

  private async work(sub: SubscriptionRow): Promise<void> {
    // A client taken out of service is told nothing more, as it is given no more tokens: its Subscriptions stop.
    if ((await findClient(this.deps.db, sub.clientId))?.active !== true) {
      await settle(this.deps.db, sub.id, this.owner, { status: 'error', lastError: `client ${sub.clientId} is no longer active` });
      return;
    }
    if (sub.status === 'requested') {
      const sent = await this.send(sub, this.bundle(sub, 'handshake', sub.eventsSinceStart, []));
      if (sent.ok) await this.succeeded(sub, { status: 'active' });
      else await this.failed(sub, sent.error);
      return;
    }
    const events = await undelivered(this.deps.db, sub.id, Math.min(this.deps.options.maxCount, maxCountOf(sub) ?? Number.MAX_SAFE_INTEGER));
    if (events.length === 0) {
      const sent = await this.send(sub, this.bundle(sub, 'heartbeat', sub.eventsSinceStart, []));
      if (sent.ok) await this.succeeded(sub, {});
      else await this.failed(sub, sent.error);
      return;
    }
    const ready = await this.prepare(sub, events);
    if (ready.events.length === 0) {
      await settle(this.deps.db, sub.id, this.owner, {});
      return;
    }
    const sent = await this.send(sub, this.bundle(sub, 'event-notification', ready.eventsSinceStart, ready.events));
    if (!sent.ok) {
      await this.failed(sub, sent.error);
      return;
    }
    await this.deps.audit.transaction(this.deps.db, async (tx) => {
      for (const id of ready.ids) await markEvent(tx, id, 'delivered');
    });
    await this.succeeded(sub, {});
  }

  /**
   * Decides each event for the subscriber now, numbers those let out (an event
   * numbered by a failed send keeps its number) and withholds the rest, with
   * the audit, in one transaction.
   */
  private async prepare(sub: SubscriptionRow, events: readonly SubscriptionEventRow[]): Promise<{ events: NotificationEvent[]; ids: number[]; eventsSinceStart: number }> {
    const meta = { requestId: `subscription-notification-${randomUUID()}` };
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      const permitted = await decideFocuses(this.deps, tx, sub, events.map((e) => e.focus), meta);
      const out: NotificationEvent[] = [];
      const ids: number[] = [];
      for (const e of events) {
        const judged = permitted.get(e.focus);
        if (judged === undefined) {
          await markEvent(tx, e.id, 'withheld');
          continue;
        }
        let number = e.eventNumber;
        if (number === null) {
          number = (await nextEventNumber(tx, sub.id, this.owner)) ?? null;
          if (number === null) throw new Error('the lease on the subscription was lost');
          await markEvent(tx, e.id, 'numbered', number);
        }
        out.push({ number, recorded: e.recordedAt, focus: e.focus, body: judged.body });
        ids.push(e.id);
      }
      const [count] = await rawRows<{ n: string }>(tx, sql`select events_since_start as n from subscription where id = ${sub.id}`);
      return { events: out, ids, eventsSinceStart: Number(count?.n ?? sub.eventsSinceStart) };
    });
  }

  private bundle(sub: SubscriptionRow, type: NotificationType, eventsSinceStart: number, events: readonly NotificationEvent[]): Bundle {
    if (!isTopicId(sub.topic)) throw new Error(`unknown topic ${sub.topic}`);
    const bundleId = randomUUID();
    return notificationBundle({
      fhirBase: this.deps.fhirBase,
      subscriptionId: sub.id,
      topic: sub.topic,
      status: type === 'handshake' ? 'requested' : 'active',
      type,
      eventsSinceStart,
      events,
      content: sub.content as PayloadContent,
      bundleId,
      now: this.deps.clock(),
    });
  }

  private async send(sub: SubscriptionRow, bundle: Bundle): Promise<Sent> {
    const timeout = Math.min(this.deps.options.timeoutMs, (timeoutOf(sub) ?? Number.MAX_SAFE_INTEGER) * 1000);
    const headers: Record<string, string> = { 'Content-Type': 'application/fhir+json' };
    for (const h of headersOf(sub)) {
      const at = h.indexOf(': ');
      headers[h.slice(0, at)] = h.slice(at + 2);
    }
    try {
      // Never a redirect: the endpoint is the one the registry allowed, not wherever it points.
      const res = await fetch(sub.endpoint, { method: 'POST', headers, body: JSON.stringify(bundle), redirect: 'manual', signal: AbortSignal.timeout(timeout) });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? { ok: true } : { ok: false, error: `the endpoint answered ${res.status}` };
    } catch (err) {
      return { ok: false, error: `the endpoint could not be reached: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  private async succeeded(sub: SubscriptionRow, set: { status?: string }): Promise<void> {
    const now = this.deps.clock();
    await settle(this.deps.db, sub.id, this.owner, { ...set, failures: 0, lastError: null, lastSentAt: now, nextAttemptAt: now });
  }

  private async failed(sub: SubscriptionRow, error: string): Promise<void> {
    const { retryBaseMs, retryMaxMs, maxFailures } = this.deps.options;
    const failures = sub.failures + 1;
    const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** (failures - 1));
    const nextAttemptAt = new Date(this.deps.clock().getTime() + delay);
    this.deps.logger.warn({ subscription: sub.id, failures, error }, 'subscription notification not delivered');
    await settle(this.deps.db, sub.id, this.owner, { failures, lastError: error, nextAttemptAt, ...(failures >= maxFailures ? { status: 'error' } : {}) });
  }
}

interface Channel {
  header?: string[];
  extension?: { url: string; valueUnsignedInt?: number; valuePositiveInt?: number }[];
}

/** The channel as accepted (parseSubscription checked it). */
function channelOf(sub: SubscriptionRow): Channel {
  const channel: unknown = sub.resource['channel'];
  return typeof channel === 'object' && channel !== null ? channel : {};
}

function headersOf(sub: SubscriptionRow): string[] {
  return channelOf(sub).header ?? [];
}

function timeoutOf(sub: SubscriptionRow): number | undefined {
  return channelOf(sub).extension?.find((e) => e.url.endsWith('/backport-timeout'))?.valueUnsignedInt;
}

function maxCountOf(sub: SubscriptionRow): number | undefined {
  return channelOf(sub).extension?.find((e) => e.url.endsWith('/backport-max-count'))?.valuePositiveInt;
}
