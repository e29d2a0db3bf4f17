import { eq } from 'drizzle-orm';
import { runStatement, type Statement, type Tx } from './database.js';
import { sendWrite } from './sent-writes.js';
import { findReferringMany, RESOURCE_COLUMNS, storedOf, type RawResource } from './disclosure-queries.js';
import type { StoredResource } from './resource-queries.js';
import { messageReceipts } from './schema/index.js';

// The claim ($1-$4), and in the same statement the sender's organisation type ($5 its code) from the registry.
const CLAIM_RECEIPT: Statement = {
  name: 'ingest_claim_receipt',
  text: `with claim as (
      insert into message_receipt (message_key, event, client_id, received_at) values ($1::text, $2::text, $3::text, $4::timestamptz)
      on conflict do nothing returning message_key
    )
    select exists (select 1 from claim) as claimed, (select o.type from organisation o where o.code = $5::text) as sender_type`,
};
const RECEIPT_OUTCOME: Statement = { name: 'ingest_receipt_outcome', text: 'update message_receipt set outcome = $2::jsonb where message_key = $1::text' };
const LOCK_IDENTITIES: Statement = {
  name: 'ingest_lock_identities',
  // unnest yields the array in its order; the ordinality makes that explicit.
  text: `select pg_advisory_xact_lock(hashtext('identity:' || k)) from unnest($1::text[]) with ordinality as u(k, n) order by n`,
};

/**
 * Claims an exactly-once key in the current transaction (a concurrent copy
 * blocks here until the first one commits or rolls back), and reads the
 * sender's organisation type from the registry in the same statement: what the
 * protocol's `sources` are judged on. A caller that refuses the sender rolls
 * the claim back with its transaction.
 */
export async function claimReceipt(
  tx: Tx,
  receipt: { messageKey: string; event: string; clientId: string; receivedAt: Date; organisation: string },
): Promise<{ claimed: boolean; senderType: string | undefined }> {
  const [row] = await runStatement<{ claimed: boolean; sender_type: string | null }>(tx, CLAIM_RECEIPT, [
    receipt.messageKey,
    receipt.event,
    receipt.clientId,
    receipt.receivedAt.toISOString(),
    receipt.organisation,
  ]);
  return { claimed: row?.claimed === true, senderType: row?.sender_type ?? undefined };
}

/** The outcome an earlier copy stored under a key that was already claimed. */
export async function earlierOutcome(tx: Tx, messageKey: string): Promise<Record<string, unknown> | null> {
  const [earlier] = await tx.select({ outcome: messageReceipts.outcome }).from(messageReceipts).where(eq(messageReceipts.messageKey, messageKey));
  return earlier?.outcome ?? null;
}

export async function recordReceiptOutcome(tx: Tx, messageKey: string, outcome: Record<string, unknown>): Promise<void> {
  await sendWrite(tx, { statement: RECEIPT_OUTCOME, values: [messageKey, JSON.stringify(outcome)] });
}

/** Serialises every writer of one business identity until commit (one Patient per NHS number, across instances). */
export async function lockIdentity(tx: Tx, key: string): Promise<void> {
  // Sent without waiting (sent-writes.ts): the server takes the lock before it runs the next statement of the
  // transaction, which goes out in the same socket write.
  await sendWrite(tx, { statement: LOCK_IDENTITIES, values: [[key]] });
}

/**
 * Takes several identity locks in one statement, in the order given (the
 * caller's fixed order: sorted), as lockIdentity would one after the other.
 */
export async function lockIdentities(tx: Tx, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  await sendWrite(tx, { statement: LOCK_IDENTITIES, values: [[...keys]] });
}

/** What to look up by identifier: as findByIdentifier's arguments. */
export interface IdentifierLookup {
  type: string;
  system: string;
  value: string;
  writtenBy?: string | undefined;
}

/**
 * The lookups' matches in one statement, whatever their number: each lookup's
 * tokens on the token index (at most 50 per lookup), then, for each token, the
 * resource it names on the primary key. Both steps are lateral, with limits
 * that keep the planner from flattening them into a plain join, so each stays
 * an index lookup per row whatever the statistics (a join lets it scan every
 * resource of a type whose statistics it has not seen yet).
 */
const FIND_BY_IDENTIFIERS: Statement = {
  name: 'ingest_find_by_identifiers',
  text: `select l.n, ${RESOURCE_COLUMNS}
    from jsonb_to_recordset($1::jsonb) as l(n int, type text, system text, value text)
    cross join lateral (select t.id from resource_token t where t.type = l.type and t.param = 'identifier'
      and t.value = l.value and t.system = l.system limit 50) t
    cross join lateral (select * from resource x where x.type = l.type and x.id = t.id limit 1) r`,
};

/** findByIdentifier for several lookups in one statement (FIND_BY_IDENTIFIERS), in the lookups' order. */
export async function findByIdentifiers(tx: Tx, lookups: readonly IdentifierLookup[]): Promise<(StoredResource | undefined)[]> {
  if (lookups.length === 0) return [];
  const wanted = JSON.stringify(lookups.map((l, n) => ({ n, type: l.type, system: l.system, value: l.value })));
  const found = await runStatement<RawResource & { n: number }>(tx, FIND_BY_IDENTIFIERS, [wanted]);
  return lookups.map((lookup, n) => {
    const candidates = found
      .filter((r) => r.n === n)
      .map(storedOf)
      // Only the records this organisation has written, when asked.
      .filter((r) => lookup.writtenBy === undefined || (r.sourceOrgs ?? [r.sourceOrg]).includes(lookup.writtenBy));
    // As findByIdentifier's `order by last_updated, id limit 1`.
    return candidates.sort((a, b) => a.lastUpdated.getTime() - b.lastUpdated.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))[0];
  });
}

/** The current resource of a type carrying an identifier, if any (findByIdentifiers for one lookup). */
export async function findByIdentifier(tx: Tx, type: string, system: string, value: string, writtenBy?: string): Promise<StoredResource | undefined> {
  const [found] = await findByIdentifiers(tx, [{ type, system, value, writtenBy }]);
  return found;
}

/** Current resources of a type that refer to a target through a reference search parameter (index lookups only). */
export async function findReferring(tx: Tx, type: string, param: 'patient' | 'subject', target: string): Promise<StoredResource[]> {
  return (await findReferringMany(tx, type, param, [target])).map((r) => r.row);
}

const STORE_RAW_MESSAGE: Statement = {
  name: 'ingest_store_raw_message',
  text: `
    with stored as (
      insert into resource (type, id, version_id, last_updated, source_org, source_orgs, content)
      values ($1::text, $2::text, $3::int, $4::timestamptz, $5::text, array[$5::text], $6::jsonb)
      on conflict do nothing
      returning type, id, version_id, last_updated, source_org, content
    )
    insert into resource_history (type, id, version_id, last_updated, source_org, content)
    select type, id, version_id, last_updated, source_org, content from stored`,
};

/**
 * Keeps a raw inbound message once, as a FHIR Binary whose id is the SHA-256 of
 * its bytes: a re-sent message finds it already there.
 */
export async function storeRawMessage(tx: Tx, row: StoredResource): Promise<void> {
  // One statement: the history row is written only when the resource row was (the bytes travel once). Sent
  // without waiting for its answer (sent-writes.ts).
  await sendWrite(tx, { statement: STORE_RAW_MESSAGE, values: [row.type, row.id, row.versionId, row.lastUpdated.toISOString(), row.sourceOrg, JSON.stringify(row.content)] });
}
