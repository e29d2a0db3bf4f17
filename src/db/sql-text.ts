import type { SQL } from 'drizzle-orm';
import type { Db, Tx } from './database.js';

/** A drizzle statement's text and values as drizzle would send them, on the database or transaction's own dialect. */
export function sqlText(db: Db | Tx, query: SQL): { sql: string; params: unknown[] } {
  return (db as unknown as { dialect: { sqlToQuery(q: SQL): { sql: string; params: unknown[] } } }).dialect.sqlToQuery(query);
}
