import { bigint, bigserial, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { organisations } from './organisations.js';

/**
 * The endpoints an organisation may be notified at (the partner registry's
 * allow-list): a URL prefix each, origin and path. A Subscription naming any
 * other endpoint is refused, so a subscription is never a way out for data.
 */
export const subscriptionEndpoints = pgTable(
  'subscription_endpoint',
  {
    organisationCode: text('organisation_code')
      .notNull()
      .references(() => organisations.code),
    prefix: text('prefix').notNull(),
  },
  (t) => [primaryKey({ name: 'subscription_endpoint_pk', columns: [t.organisationCode, t.prefix] })],
);

/**
 * A partner's topic-based Subscription (R4 Subscriptions Backport IG), its
 * delivery state and the lease of the one instance delivering it now.
 * See: https://hl7.org/fhir/uv/subscriptions-backport/
 */
export const subscriptions = pgTable(
  'subscription',
  {
    id: text('id').primaryKey(),
    organisationCode: text('organisation_code')
      .notNull()
      .references(() => organisations.code),
    clientId: text('client_id').notNull(),
    /** The purpose of use of the token that created it: every notification is decided for it. */
    purpose: text('purpose').notNull(),
    topic: text('topic').notNull(),
    /** requested | active | error | off (the R4 Subscription.status codes). */
    status: text('status').notNull(),
    endpoint: text('endpoint').notNull(),
    /** empty | id-only | full-resource (backport-payload-content). */
    content: text('content').notNull(),
    heartbeatSeconds: integer('heartbeat_seconds'),
    /** The Subscription as accepted (without its status and counters, which live in the columns). */
    resource: jsonb('resource').$type<Record<string, unknown>>().notNull(),
    eventsSinceStart: bigint('events_since_start', { mode: 'number' }).notNull().default(0),
    failures: integer('failures').notNull().default(0),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull(),
    lastSentAt: timestamp('last_sent_at', { withTimezone: true, mode: 'date' }),
    leaseOwner: text('lease_owner'),
    leaseUntil: timestamp('lease_until', { withTimezone: true, mode: 'date' }),
  },
  (t) => [index('subscription_topic_idx').on(t.topic, t.status)],
);

/**
 * The outbox: one row per change a Subscription's topic matched, written in
 * the change's transaction. Numbered (eventsSinceSubscriptionStart) only when
 * the decision at sending lets it out, so a withheld event leaves no gap.
 */
export const subscriptionEvents = pgTable(
  'subscription_event',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    subscriptionId: text('subscription_id')
      .notNull()
      .references(() => subscriptions.id),
    /** "Type/id" of the record the event is about. */
    focus: text('focus').notNull(),
    focusVersion: integer('focus_version').notNull(),
    /** Set for events that happen once per record (a birth): a second write of it adds no event. */
    onceKey: text('once_key'),
    recordedAt: timestamp('recorded_at', { withTimezone: true, mode: 'date' }).notNull(),
    /** pending | sent | withheld */
    state: text('state').notNull().default('pending'),
    eventNumber: bigint('event_number', { mode: 'number' }),
    attempts: integer('attempts').notNull().default(0),
  },
  (t) => [
    uniqueIndex('subscription_event_once_idx').on(t.subscriptionId, t.onceKey),
    uniqueIndex('subscription_event_number_idx').on(t.subscriptionId, t.eventNumber),
    index('subscription_event_pending_idx').on(t.subscriptionId, t.state, t.id),
  ],
);
