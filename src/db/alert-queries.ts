import { and, count, desc, eq, gte, isNotNull, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db, Tx } from './database.js';
import { denialWindows, igAlerts } from './schema/index.js';

export type NewAlert = Omit<typeof igAlerts.$inferInsert, 'reviewedAt' | 'reviewedBy' | 'reviewNote'>;
export type StoredAlert = typeof igAlerts.$inferSelect;
export type AlertStatus = 'open' | 'reviewed' | 'all';

/** Raises an alert for the IG lead, in the transaction of what it is about. */
export async function insertAlert(tx: Tx, alert: NewAlert): Promise<void> {
  await tx.insert(igAlerts).values(alert);
}

/**
 * Adds a request's denials to its client's count for one window and answers
 * the new count. The upsert holds the window's row lock until the transaction
 * ends, so concurrent requests of one client add up one after another.
 */
export async function addDenials(tx: Tx, clientId: string, windowStart: Date, denials: number): Promise<{ denials: number; alerted: boolean }> {
  const [row] = await tx
    .insert(denialWindows)
    .values({ clientId, windowStart, denials })
    .onConflictDoUpdate({
      target: [denialWindows.clientId, denialWindows.windowStart],
      set: { denials: sql`${denialWindows.denials} + excluded.denials` },
    })
    .returning({ denials: denialWindows.denials, alerted: denialWindows.alerted });
  if (row === undefined) throw new Error('denial window upsert returned no row');
  return row;
}

/**
 * Marks the window alerted if it has reached the threshold and is not yet
 * alerted; true only for the one transaction that does so (a concurrent one
 * waits on the row and then finds it alerted).
 */
export async function claimDenialBurst(tx: Tx, clientId: string, windowStart: Date, threshold: number): Promise<boolean> {
  const claimed = await tx
    .update(denialWindows)
    .set({ alerted: true })
    .where(
      and(
        eq(denialWindows.clientId, clientId),
        eq(denialWindows.windowStart, windowStart),
        eq(denialWindows.alerted, false),
        gte(denialWindows.denials, threshold),
      ),
    )
    .returning({ clientId: denialWindows.clientId });
  return claimed.length === 1;
}

function statusFilter(status: AlertStatus): SQL | undefined {
  switch (status) {
    case 'open':
      return isNull(igAlerts.reviewedAt);
    case 'reviewed':
      return isNotNull(igAlerts.reviewedAt);
    case 'all':
      return undefined;
  }
}

/** Alerts of a status, newest first. */
export async function listAlerts(db: Db | Tx, status: AlertStatus, limit: number): Promise<StoredAlert[]> {
  return db.select().from(igAlerts).where(statusFilter(status)).orderBy(desc(igAlerts.raised), desc(igAlerts.id)).limit(limit);
}

/** Is an alert of this kind and reason still open (so another instance need not raise it again)? */
export async function isAlertOpen(db: Db | Tx, kind: string, reason: string): Promise<boolean> {
  const [row] = await db
    .select({ id: igAlerts.id })
    .from(igAlerts)
    .where(and(eq(igAlerts.kind, kind), eq(igAlerts.reason, reason), isNull(igAlerts.reviewedAt)))
    .limit(1);
  return row !== undefined;
}

export async function countOpenAlerts(db: Db | Tx): Promise<number> {
  const [row] = await db.select({ n: count() }).from(igAlerts).where(isNull(igAlerts.reviewedAt));
  return row?.n ?? 0;
}

export async function findAlert(db: Db | Tx, id: string): Promise<StoredAlert | undefined> {
  const [row] = await db.select().from(igAlerts).where(eq(igAlerts.id, id)).limit(1);
  return row;
}

/**
 * Marks an open alert reviewed; undefined when it is unknown or already
 * reviewed (of two concurrent reviews, the second finds it reviewed). The
 * table's trigger refuses any other change.
 */
export async function markAlertReviewed(tx: Tx, id: string, review: { at: Date; by: string; note: string | undefined }): Promise<StoredAlert | undefined> {
  const [row] = await tx
    .update(igAlerts)
    .set({ reviewedAt: review.at, reviewedBy: review.by, reviewNote: review.note ?? null })
    .where(and(eq(igAlerts.id, id), isNull(igAlerts.reviewedAt)))
    .returning();
  return row;
}
