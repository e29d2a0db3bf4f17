import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Tx } from './database.js';
import { findReferringMany } from './disclosure-queries.js';
import type { StoredResource } from './resource-queries.js';
import { messageReceipts, resourceHistory, resources, resourceTokens } from './schema/index.js';

/**
 * Claims an exactly-once key in the current transaction. Returns the outcome
 * stored by an earlier copy if the key was taken (a concurrent copy blocks
 * here until the first one commits or rolls back).
 */
export async function claimReceipt(
  tx: Tx,
  receipt: { messageKey: string; event: string; clientId: string; receivedAt: Date },
): Promise<{ claimed: true } | { claimed: false; outcome: Record<string, unknown> | null }> {
  const inserted = await tx.insert(messageReceipts).values(receipt).onConflictDoNothing().returning({ key: messageReceipts.messageKey });
  if (inserted.length === 1) return { claimed: true };
  const [earlier] = await tx.select({ outcome: messageReceipts.outcome }).from(messageReceipts).where(eq(messageReceipts.messageKey, receipt.messageKey));
  return { claimed: false, outcome: earlier?.outcome ?? null };
}

export async function recordReceiptOutcome(tx: Tx, messageKey: string, outcome: Record<string, unknown>): Promise<void> {
  await tx.update(messageReceipts).set({ outcome }).where(eq(messageReceipts.messageKey, messageKey));
}

/** Serialises every writer of one business identity until commit (one Patient per NHS number, across instances). */
export async function lockIdentity(tx: Tx, key: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`identity:${key}`}))`);
}

/**
 * The current resource of a type carrying an identifier, if any. Two steps,
 * each on an index (token lookup, then primary key): a join here lets the
 * planner scan every resource of a type whose statistics it has not seen yet.
 */
export async function findByIdentifier(tx: Tx, type: string, system: string, value: string, writtenBy?: string): Promise<StoredResource | undefined> {
  const tokens = await tx
    .select({ id: resourceTokens.id })
    .from(resourceTokens)
    .where(and(eq(resourceTokens.type, type), eq(resourceTokens.param, 'identifier'), eq(resourceTokens.value, value), eq(resourceTokens.system, system)))
    .limit(50);
  if (tokens.length === 0) return undefined;
  const [row] = await tx
    .select()
    .from(resources)
    .where(
      and(
        eq(resources.type, type),
        inArray(resources.id, tokens.map((t) => t.id)),
        // Only the records this organisation has written, when asked.
        writtenBy === undefined ? undefined : sql`${writtenBy} = any(${resources.sourceOrgs})`,
      ),
    )
    .orderBy(resources.lastUpdated, resources.id)
    .limit(1);
  return row;
}

/** Current resources of a type that refer to a target through a reference search parameter (index lookups only). */
export async function findReferring(tx: Tx, type: string, param: 'patient' | 'subject', target: string): Promise<StoredResource[]> {
  return (await findReferringMany(tx, type, param, [target])).map((r) => r.row);
}

/**
 * Keeps a raw inbound message once, as a FHIR Binary whose id is the SHA-256 of
 * its bytes: a re-sent message finds it already there.
 */
export async function storeRawMessage(tx: Tx, row: StoredResource): Promise<void> {
  const { sourceOrgs: _sources, ...version } = row;
  const inserted = await tx.insert(resources).values({ ...version, sourceOrgs: [row.sourceOrg] }).onConflictDoNothing().returning({ id: resources.id });
  if (inserted.length === 1) {
    await tx.insert(resourceHistory).values(version);
  }
}
