import { boolean, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Denials counted per requesting client per fixed window: crossing the
 * threshold raises one denial-burst alert for that window.
 */
export const denialWindows = pgTable(
  'ig_denial_window',
  {
    clientId: text('client_id').notNull(),
    windowStart: timestamp('window_start', { withTimezone: true, mode: 'date' }).notNull(),
    denials: integer('denials').notNull(),
    alerted: boolean('alerted').notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.clientId, t.windowStart] })],
);

/** One-time sign-in links for the /ig page (`hub ig-link`). Only a hash of the token is kept. */
export const igLoginLinks = pgTable('ig_login_link', {
  tokenHash: text('token_hash').primaryKey(),
  userLabel: text('user_label').notNull(),
  created: timestamp('created', { withTimezone: true, mode: 'date' }).notNull(),
  expires: timestamp('expires', { withTimezone: true, mode: 'date' }).notNull(),
  usedAt: timestamp('used_at', { withTimezone: true, mode: 'date' }),
});

/** Signed-in /ig sessions. Only a hash of the cookie value is kept. */
export const igSessions = pgTable('ig_session', {
  idHash: text('id_hash').primaryKey(),
  userLabel: text('user_label').notNull(),
  created: timestamp('created', { withTimezone: true, mode: 'date' }).notNull(),
  expires: timestamp('expires', { withTimezone: true, mode: 'date' }).notNull(),
});
