import { and, count, desc, eq, isNotNull, isNull, type SQL } from 'drizzle-orm';
import type { Db, Tx } from './database.js';
import type { FinalStatement } from './pipelined-transaction.js';
import { igAlerts } from './schema/index.js';

export type NewAlert = Omit<typeof igAlerts.$inferInsert, 'reviewedAt' | 'reviewedBy' | 'reviewNote'>;
export type StoredAlert = typeof igAlerts.$inferSelect;
export type AlertStatus = 'open' | 'reviewed' | 'all';

/** Raises an alert for the IG lead, in the transaction of what it is about. */
export async function insertAlert(tx: Tx, alert: NewAlert): Promise<void> {
  await tx.insert(igAlerts).values(alert);
}

// A request's denials added to its client's count for the window holding now. The upsert locks the
// window's row until the transaction ends, so concurrent requests of one client add up one after another;
// it runs at the transaction's close (AuditRecorder.atClose), so that it holds the lock for the commit
// alone and not for the rest of the request.
const ADD_DENIALS = {
  name: 'ig_add_denials',
  text: `insert into ig_denial_window (client_id, window_start, denials) values ($1, $2::timestamptz, $3::int)
    on conflict (client_id, window_start) do update set denials = ig_denial_window.denials + excluded.denials`,
};

// Right after it, in the same transaction: the window is marked alerted, and its one alert raised, by
// the transaction that finds it at the threshold and not yet alerted (a concurrent one waits on the row,
// then finds it alerted). The alert's reason begins with the count: "<n> records denied to …".
const CLAIM_DENIAL_BURST = {
  name: 'ig_claim_denial_burst',
  text: `with claimed as (
      update ig_denial_window set alerted = true
      where client_id = $1 and window_start = $2::timestamptz and not alerted and denials >= $3::int
      returning denials
    )
    insert into ig_alert (id, raised, kind, audit_event_id, client_id, organisation_code, patients, reason)
    select $4, $5::timestamptz, 'denial-burst', $6, $1, $7, $8::jsonb, claimed.denials::text || $9 from claimed`,
};

/** What a burst of denials raises: the alert's fields but its count, which the database adds to `reasonAfterCount`. */
export interface DenialBurstAlert {
  id: string;
  raised: Date;
  auditEventId: string;
  organisationCode: string;
  patients: string[];
  reasonAfterCount: string;
}

/**
 * The statements that count a request's denials for one window and raise the
 * window's alert when they bring it to `threshold`. With `alert` undefined
 * (a request that denied nothing, counted for its timing) they add nothing
 * and can raise nothing, but run the same statements.
 */
export function denialStatements(clientId: string, windowStart: Date, denials: number, threshold: number, alert: DenialBurstAlert | undefined): [FinalStatement, FinalStatement] {
  const at = windowStart.toISOString();
  return [
    { statement: ADD_DENIALS, values: [clientId, at, denials], lock: clientId },
    {
      statement: CLAIM_DENIAL_BURST,
      lock: clientId,
      values: [
        clientId,
        at,
        alert === undefined ? null : threshold,
        alert?.id ?? '',
        (alert?.raised ?? windowStart).toISOString(),
        alert?.auditEventId ?? '',
        alert?.organisationCode ?? '',
        JSON.stringify(alert?.patients ?? []),
        alert?.reasonAfterCount ?? '',
      ],
    },
  ];
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
