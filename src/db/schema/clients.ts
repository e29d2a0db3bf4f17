import type { JSONWebKeySet } from 'jose';
import { boolean, index, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { organisations } from './organisations.js';

/** Client systems registered for SMART Backend Services, with their public keys. */
export const clients = pgTable('client', {
  id: text('id').primaryKey(),
  organisationCode: text('organisation_code')
    .notNull()
    .references(() => organisations.code),
  /** SMART v2 scopes the client may be granted, e.g. system/Patient.rs */
  scopes: jsonb('scopes').$type<string[]>().notNull(),
  /** Purpose-of-use codes the client may ask for in a token request. */
  purposes: jsonb('purposes').$type<string[]>().notNull(),
  jwks: jsonb('jwks').$type<JSONWebKeySet>().notNull(),
  active: boolean('active').notNull().default(true),
});

/**
 * Client assertion ids already used. Kept in the database so every hub
 * instance refuses a replay seen by any other one.
 */
export const usedAssertions = pgTable(
  'used_assertion',
  {
    clientId: text('client_id').notNull(),
    jti: text('jti').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.clientId, t.jti] }), index('used_assertion_expires_idx').on(t.expiresAt)],
);
