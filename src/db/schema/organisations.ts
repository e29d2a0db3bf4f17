import { jsonb, pgTable, text } from 'drizzle-orm/pg-core';

/** Partner organisations: NHS bodies by ODS code, council teams and centres by local code. */
export const organisations = pgTable('organisation', {
  code: text('code').primaryKey(),
  system: text('system').notNull(),
  type: text('type').notNull(),
  name: text('name').notNull(),
  /** Postcode districts a children's centre serves (empty for others). */
  catchment: jsonb('catchment').$type<string[]>().notNull().default([]),
});
