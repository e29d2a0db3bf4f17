import { and, eq } from 'drizzle-orm';
import type { Db, Tx } from './database.js';
import { findClient, type RegisteredClient } from './registry-queries.js';
import { mllpSenders } from './schema/index.js';

export type MllpCredentialKind = 'certificate' | 'address';

/** Lets a client send over MLLP with this credential (a certificate fingerprint or a source address). */
export async function registerMllpSender(db: Db | Tx, sender: { clientId: string; kind: MllpCredentialKind; value: string }): Promise<void> {
  await db
    .insert(mllpSenders)
    .values(sender)
    .onConflictDoUpdate({ target: [mllpSenders.kind, mllpSenders.value], set: { clientId: sender.clientId } });
}

/** The client a credential names, when it is registered and the client is active. */
export async function findMllpSender(db: Db | Tx, kind: MllpCredentialKind, value: string): Promise<RegisteredClient | undefined> {
  const rows = await db
    .select({ clientId: mllpSenders.clientId })
    .from(mllpSenders)
    .where(and(eq(mllpSenders.kind, kind), eq(mllpSenders.value, value)))
    .limit(1);
  const clientId = rows[0]?.clientId;
  if (clientId === undefined) return undefined;
  const client = await findClient(db, clientId);
  return client?.active === true ? client : undefined;
}
