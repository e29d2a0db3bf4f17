import type { Tx } from './database.js';
import { igAlerts } from './schema/index.js';

export type NewAlert = Omit<typeof igAlerts.$inferInsert, 'reviewedAt' | 'reviewedBy'>;

/** Raises an alert for the IG lead, in the transaction of what it is about. */
export async function insertAlert(tx: Tx, alert: NewAlert): Promise<void> {
  await tx.insert(igAlerts).values(alert);
}
