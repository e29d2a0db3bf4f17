import { bigint, integer, pgTable, varchar } from 'drizzle-orm/pg-core';

/**
 * The rate limiter's counters on PostgreSQL, shared by every instance:
 * exactly the table rate-limiter-flexible's RateLimiterPostgres would create
 * (key = "<limit>:<client or address>", points consumed, window end in epoch
 * ms). Created here by a migration (the owner role), so the application role
 * needs no CREATE; the library is told `tableCreated: true`.
 */
export const rateLimits = pgTable('rate_limits', {
  key: varchar('key', { length: 255 }).primaryKey(),
  points: integer('points').notNull().default(0),
  expire: bigint('expire', { mode: 'number' }),
});
