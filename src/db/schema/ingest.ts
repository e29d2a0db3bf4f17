import { jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * One row per inbound message (or CSV row) ever stored: its exactly-once key
 * and the outcome it got, so a re-sent copy returns that outcome and changes nothing.
 * The key is claimed first in the storing transaction: a concurrent copy waits
 * on it, then finds it taken.
 */
export const messageReceipts = pgTable('message_receipt', {
  messageKey: text('message_key').primaryKey(),
  event: text('event').notNull(),
  clientId: text('client_id').notNull(),
  receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull(),
  outcome: jsonb('outcome').$type<Record<string, unknown>>(),
});
