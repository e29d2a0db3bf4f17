import { and, eq, inArray, or, sql } from 'drizzle-orm';
import { rawRows, type Tx } from './database.js';
import { sendWrite } from './sent-writes.js';
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
  await sendWrite(tx, tx.update(messageReceipts).set({ outcome }).where(eq(messageReceipts.messageKey, messageKey)).getSQL());
}

/** Serialises every writer of one business identity until commit (one Patient per NHS number, across instances). */
export async function lockIdentity(tx: Tx, key: string): Promise<void> {
  // Sent without waiting (sent-writes.ts): the server takes the lock before it runs the next statement of the
  // transaction, which goes out in the same socket write.
  await sendWrite(tx, sql`select pg_advisory_xact_lock(hashtext(${`identity:${key}`}))`);
}

/**
 * Takes several identity locks in one statement, in the order given (the
 * caller's fixed order: sorted), as lockIdentity would one after the other.
 */
export async function lockIdentities(tx: Tx, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  if (keys.length === 1) return lockIdentity(tx, keys[0] ?? '');
  // unnest yields the array in its order; the ordinality makes that explicit.
  await sendWrite(tx, sql`select pg_advisory_xact_lock(hashtext('identity:' || k)) from unnest(${sql.param([...keys])}::text[]) with ordinality as u(k, n) order by n`);
}

/** What to look up by identifier: as findByIdentifier's arguments. */
export interface IdentifierLookup {
  type: string;
  system: string;
  value: string;
  writtenBy?: string | undefined;
}

/**
 * findByIdentifier for several lookups in two statements, whatever their
 * number: the tokens of all (each on the token index, at most 50 per lookup),
 * then the resources they name (on the primary key). Answers in the lookups' order.
 */
export async function findByIdentifiers(tx: Tx, lookups: readonly IdentifierLookup[]): Promise<(StoredResource | undefined)[]> {
  if (lookups.length === 0) return [];
  const wanted = JSON.stringify(lookups.map((l, n) => ({ n, type: l.type, system: l.system, value: l.value })));
  const tokens = await rawRows<{ n: number; id: string }>(
    tx,
    sql`select l.n, t.id from jsonb_to_recordset(${wanted}::jsonb) as l(n int, type text, system text, value text)
      cross join lateral (select ${resourceTokens.id} as id from ${resourceTokens} where ${resourceTokens.type} = l.type and ${resourceTokens.param} = 'identifier'
        and ${resourceTokens.value} = l.value and ${resourceTokens.system} = l.system limit 50) t`,
  );
  if (tokens.length === 0) return lookups.map(() => undefined);
  const idsByType = new Map<string, Set<string>>();
  for (const t of tokens) {
    const type = lookups[t.n]?.type ?? '';
    idsByType.set(type, (idsByType.get(type) ?? new Set()).add(t.id));
  }
  const rows = await tx
    .select()
    .from(resources)
    .where(or(...[...idsByType].map(([type, ids]) => and(eq(resources.type, type), inArray(resources.id, [...ids])))));
  const byKey = new Map(rows.map((r) => [`${r.type}/${r.id}`, r]));
  return lookups.map((lookup, n) => {
    const candidates = tokens
      .filter((t) => t.n === n)
      .flatMap((t) => byKey.get(`${lookup.type}/${t.id}`) ?? [])
      // Only the records this organisation has written, when asked.
      .filter((r) => lookup.writtenBy === undefined || (r.sourceOrgs ?? [r.sourceOrg]).includes(lookup.writtenBy));
    // As findByIdentifier's `order by last_updated, id limit 1`.
    return candidates.sort((a, b) => a.lastUpdated.getTime() - b.lastUpdated.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))[0];
  });
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
  // One statement: the history row is written only when the resource row was (the bytes travel once). Sent
  // without waiting for its answer (sent-writes.ts).
  await sendWrite(
    tx,
    sql`
    with stored as (
      insert into ${resources} (type, id, version_id, last_updated, source_org, source_orgs, content)
      values (${row.type}, ${row.id}, ${row.versionId}, ${row.lastUpdated.toISOString()}::timestamptz, ${row.sourceOrg}, array[${row.sourceOrg}]::text[], ${JSON.stringify(row.content)}::jsonb)
      on conflict do nothing
      returning type, id, version_id, last_updated, source_org, content
    )
    insert into ${resourceHistory} (type, id, version_id, last_updated, source_org, content)
    select type, id, version_id, last_updated, source_org, content from stored`,
  );
}
