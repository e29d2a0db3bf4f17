import { and, asc, eq, gte, inArray, isNotNull, lte, ne, sql } from 'drizzle-orm';
import { matchTopics } from '../fhir/subscription-topics.js';
import { rawRows, runStatement, type Db, type Statement, type Tx } from './database.js';
import type { StoredResource } from './resource-queries.js';
import { subscriptionEndpoints, subscriptionEvents, subscriptions } from './schema/index.js';
import { contentForRules } from './undisclosed.js';

// Subscriptions, their endpoints' allow-list and the notification outbox.

export type SubscriptionRow = typeof subscriptions.$inferSelect;
export type SubscriptionEventRow = typeof subscriptionEvents.$inferSelect;

/** One outbox event to record: a stored version matched a topic. */
export interface TopicEventRow {
  topic: string;
  focus: string;
  focus_version: number;
  once_key: string | null;
  recorded_at: string;
  audience: readonly string[] | null;
}

/**
 * The events the stored versions raise, in the versions' order, and whether
 * they may be recorded by one statement: changes not yet sent coalesce (the
 * not-exists in topicEventsInsertText), which one statement cannot see among its
 * own rows, so two events on one topic and focus are recorded one after the other.
 */
export function topicEventRows(rows: readonly StoredResource[]): { events: TopicEventRow[]; together: boolean } {
  const events = rows.flatMap((row) =>
    matchTopics(contentForRules(row.content))
      // An audience of no one reaches no Subscription.
      .filter((event) => event.audience === undefined || event.audience.length > 0)
      .map((event) => ({
        topic: event.topic,
        focus: event.focus,
        focus_version: row.versionId,
        once_key: event.onceKey ?? null,
        recorded_at: row.lastUpdated.toISOString(),
        audience: event.audience ?? null,
      })),
  );
  return { events, together: new Set(events.map((e) => `${e.topic}|${e.focus}`)).size === events.length };
}

/** The outbox insert of the events in the jsonb parameter `param` (topicEventsJson): one per live Subscription whose topic each matches, in the events' order. */
export function topicEventsInsertText(param: string): string {
  return `
    insert into subscription_event (subscription_id, focus, focus_version, once_key, recorded_at)
    select s.id, e.focus, e.focus_version, e.once_key, e.recorded_at
    from jsonb_to_recordset(${param}::jsonb)
      as e(n int, topic text, focus text, focus_version int, once_key text, recorded_at timestamptz, audience jsonb)
    join subscription s on s.topic = e.topic and s.status in ('requested', 'active')
      and (e.audience is null or e.audience ? s.organisation_code)
    -- Changes not yet sent coalesce: the subscriber is told once that the record changed, and reads it as it is then.
    where not exists (select 1 from subscription_event x where x.subscription_id = s.id and x.focus = e.focus and x.state = 'pending')
    order by e.n, s.id
    on conflict do nothing`;
}

/** The events as topicEventsInsertText's parameter, numbered in order. */
export function topicEventsJson(events: readonly TopicEventRow[]): string {
  return JSON.stringify(events.map((e, n) => ({ n, ...e })));
}

const INSERT_TOPIC_EVENTS: Statement = { name: 'subscription_insert_events', text: topicEventsInsertText('$1') };

/**
 * The outbox write, in the transaction of the change (called by writeVersions,
 * so no write path can forget it): one event per live Subscription whose topic
 * the stored version matches. Who may see it is decided when it is sent.
 */
export async function recordTopicEvents(tx: Tx, rows: readonly StoredResource[]): Promise<void> {
  const { events, together } = topicEventRows(rows);
  if (events.length === 0) return;
  for (const batch of together ? [events] : events.map((e) => [e])) await runStatement(tx, INSERT_TOPIC_EVENTS, [topicEventsJson(batch)]);
}

export async function allowedEndpoints(db: Db | Tx, organisationCode: string): Promise<string[]> {
  const rows = await db.select({ prefix: subscriptionEndpoints.prefix }).from(subscriptionEndpoints).where(eq(subscriptionEndpoints.organisationCode, organisationCode));
  return rows.map((r) => r.prefix);
}

/** Registers an endpoint prefix for an organisation (the demo seed, `hub` registry tooling). */
export async function allowEndpoint(db: Db | Tx, organisationCode: string, prefix: string): Promise<void> {
  await db.insert(subscriptionEndpoints).values({ organisationCode, prefix }).onConflictDoNothing();
}

export async function insertSubscription(tx: Tx, row: typeof subscriptions.$inferInsert): Promise<void> {
  await tx.insert(subscriptions).values(row);
}

/** A Subscription of this organisation that was not deleted; another's answers as unknown. */
export async function readOwnSubscription(db: Db | Tx, id: string, organisationCode: string): Promise<SubscriptionRow | undefined> {
  const rows = await db
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.id, id), eq(subscriptions.organisationCode, organisationCode), ne(subscriptions.status, 'off')))
    .limit(1);
  return rows[0];
}

export async function listOwnSubscriptions(db: Db | Tx, organisationCode: string): Promise<SubscriptionRow[]> {
  return db
    .select()
    .from(subscriptions)
    .where(and(eq(subscriptions.organisationCode, organisationCode), ne(subscriptions.status, 'off')))
    .orderBy(asc(subscriptions.createdAt))
    .limit(100);
}

/** Delete: the row stays (its events are in the audit log), switched off for good. */
export async function switchOff(tx: Tx, id: string): Promise<void> {
  await tx.update(subscriptions).set({ status: 'off', leaseOwner: null, leaseUntil: null }).where(eq(subscriptions.id, id));
}

/**
 * Claims one Subscription with work due (a handshake, events, a heartbeat)
 * for `leaseMs`: SKIP LOCKED and the lease keep every other instance off it,
 * so its events are numbered and sent by one instance at a time.
 */
export async function claimDue(db: Db, owner: string, now: Date, leaseMs: number): Promise<SubscriptionRow | undefined> {
  const at = now.toISOString();
  const rows = await rawRows<{ id: string }>(
    db,
    sql`
    update subscription set lease_owner = ${owner}, lease_until = ${at}::timestamptz + ${leaseMs} * interval '1 millisecond'
    where id = (
      select s.id from subscription s
      where s.status in ('requested', 'active') and s.next_attempt_at <= ${at}::timestamptz
        and (s.lease_until is null or s.lease_until < ${at}::timestamptz)
        and (s.status = 'requested'
          or exists (select 1 from subscription_event e where e.subscription_id = s.id and e.state in ('pending', 'numbered'))
          or (s.heartbeat_seconds is not null
            and coalesce(s.last_sent_at, s.created_at) + s.heartbeat_seconds * interval '1 second' <= ${at}::timestamptz))
      order by s.next_attempt_at
      limit 1
      for update skip locked)
    returning id`,
  );
  const id = rows[0]?.id;
  if (id === undefined) return undefined;
  const claimed = await db.select().from(subscriptions).where(eq(subscriptions.id, id)).limit(1);
  return claimed[0];
}

/** Events not yet delivered, oldest first: those numbered already (a failed send) come again with their numbers. */
export async function undelivered(db: Db | Tx, subscriptionId: string, limit: number): Promise<SubscriptionEventRow[]> {
  return db
    .select()
    .from(subscriptionEvents)
    .where(and(eq(subscriptionEvents.subscriptionId, subscriptionId), inArray(subscriptionEvents.state, ['pending', 'numbered'])))
    .orderBy(asc(subscriptionEvents.id))
    .limit(limit);
}

/** The next eventsSinceSubscriptionStart, taken only while the lease is this instance's. */
export async function nextEventNumber(tx: Tx, subscriptionId: string, owner: string): Promise<number | undefined> {
  const rows = await tx
    .update(subscriptions)
    .set({ eventsSinceStart: sql`${subscriptions.eventsSinceStart} + 1` })
    .where(and(eq(subscriptions.id, subscriptionId), eq(subscriptions.leaseOwner, owner)))
    .returning({ n: subscriptions.eventsSinceStart });
  return rows[0]?.n;
}

export async function markEvent(tx: Db | Tx, id: number, state: 'numbered' | 'delivered' | 'withheld', eventNumber?: number): Promise<void> {
  await tx
    .update(subscriptionEvents)
    .set({ state, attempts: sql`${subscriptionEvents.attempts} + 1`, ...(eventNumber === undefined ? {} : { eventNumber }) })
    .where(eq(subscriptionEvents.id, id));
}

/** After a send: the new state, and the lease given back. */
export async function settle(db: Db | Tx, id: string, owner: string, set: Partial<typeof subscriptions.$inferInsert>): Promise<void> {
  await db
    .update(subscriptions)
    .set({ ...set, leaseOwner: null, leaseUntil: null })
    .where(and(eq(subscriptions.id, id), eq(subscriptions.leaseOwner, owner)));
}

/** Numbered events in a range, for $events. */
export async function numberedEvents(db: Db | Tx, subscriptionId: string, since: number, until: number, limit: number): Promise<SubscriptionEventRow[]> {
  return db
    .select()
    .from(subscriptionEvents)
    .where(
      and(
        eq(subscriptionEvents.subscriptionId, subscriptionId),
        isNotNull(subscriptionEvents.eventNumber),
        gte(subscriptionEvents.eventNumber, since),
        lte(subscriptionEvents.eventNumber, until),
      ),
    )
    .orderBy(asc(subscriptionEvents.eventNumber))
    .limit(limit);
}
