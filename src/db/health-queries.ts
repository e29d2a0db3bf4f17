import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { migrationsFolder, rawRows, type Db } from './database.js';

// What /readyz asks the database: three cheap reads, no personal data.

/** The `when` of the newest migration the database has applied (drizzle's journal entry), or undefined if none. */
export async function latestAppliedMigration(db: Db): Promise<number | undefined> {
  const rows = await rawRows<{ created_at: string | number | null }>(db, sql`select max(created_at) as created_at from drizzle.__drizzle_migrations`);
  const value = rows[0]?.created_at;
  return value === null || value === undefined ? undefined : Number(value);
}

/** When the oldest committed audit event still waiting for its place in the log was recorded, if any waits. */
export async function oldestUnsequencedEvent(db: Db): Promise<Date | undefined> {
  const rows = await rawRows<{ recorded: string | Date | null }>(
    db,
    sql`select min(e.recorded) as recorded from audit_queue q join audit_event e on e.seq = q.seq`,
  );
  const value = rows[0]?.recorded;
  return value === null || value === undefined ? undefined : new Date(value);
}

const journal = z.object({ entries: z.array(z.object({ when: z.number() })).min(1) });

/** The `when` of the newest migration this build ships (migrations/meta/_journal.json). */
export async function newestShippedMigration(): Promise<number> {
  const text = await readFile(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8');
  return Math.max(...journal.parse(JSON.parse(text)).entries.map((e) => e.when));
}
