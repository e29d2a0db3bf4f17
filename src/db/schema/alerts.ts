import { index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * What the information governance lead must review: every safeguarding
 * override and every burst of denials for one requester. Raised in the transaction of the
 * disclosure it is about; reviewing one is recorded beside it, never by deleting.
 */
export const igAlerts = pgTable(
  'ig_alert',
  {
    id: text('id').primaryKey(),
    raised: timestamp('raised', { withTimezone: true, mode: 'date' }).notNull(),
    kind: text('kind').notNull(),
    /** The AuditEvent that records the disclosure. */
    auditEventId: text('audit_event_id').notNull(),
    clientId: text('client_id').notNull(),
    organisationCode: text('organisation_code').notNull(),
    /** "Patient/id" of each patient disclosed. */
    patients: jsonb('patients').$type<string[]>().notNull(),
    reason: text('reason').notNull(),
    reviewedAt: timestamp('reviewed_at', { withTimezone: true, mode: 'date' }),
    reviewedBy: text('reviewed_by'),
    reviewNote: text('review_note'),
  },
  (t) => [index('ig_alert_open_idx').on(t.reviewedAt, t.raised)],
);
