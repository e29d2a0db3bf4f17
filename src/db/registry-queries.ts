import type { JSONWebKeySet } from 'jose';
import { asc, eq, lt } from 'drizzle-orm';
import type { Db, Tx } from './database.js';
import { clients, organisations, usedAssertions } from './schema/index.js';

export interface RegisteredClient {
  id: string;
  scopes: string[];
  purposes: string[];
  jwks: JSONWebKeySet;
  active: boolean;
  organisation: { code: string; system: string; type: string; name: string };
}

/** An organisation as the registry names it (for the IG lead's page). */
export interface RegisteredOrganisation {
  code: string;
  name: string;
  type: string;
  catchment: string[];
}

/** Every registered organisation, by code: partners and the hub operator. */
export async function listOrganisations(db: Db | Tx): Promise<RegisteredOrganisation[]> {
  return db
    .select({ code: organisations.code, name: organisations.name, type: organisations.type, catchment: organisations.catchment })
    .from(organisations)
    .orderBy(asc(organisations.code));
}

export async function upsertOrganisation(
  db: Db | Tx,
  org: { code: string; system: string; type: string; name: string; catchment: readonly string[] },
): Promise<void> {
  const values = { ...org, catchment: [...org.catchment] };
  await db.insert(organisations).values(values).onConflictDoUpdate({ target: organisations.code, set: values });
}

export async function upsertClient(
  db: Db | Tx,
  client: { id: string; organisationCode: string; scopes: readonly string[]; purposes: readonly string[]; jwks: JSONWebKeySet },
): Promise<void> {
  const values = { ...client, scopes: [...client.scopes], purposes: [...client.purposes], active: true };
  await db.insert(clients).values(values).onConflictDoUpdate({ target: clients.id, set: values });
}

export async function findClient(db: Db | Tx, id: string): Promise<RegisteredClient | undefined> {
  const rows = await db
    .select({ client: clients, organisation: organisations })
    .from(clients)
    .innerJoin(organisations, eq(organisations.code, clients.organisationCode))
    .where(eq(clients.id, id))
    .limit(1);
  const row = rows[0];
  if (row === undefined) return undefined;
  const { code, system, type, name } = row.organisation;
  return { ...row.client, organisation: { code, system, type, name } };
}

/**
 * Records a client assertion's jti. Returns false if it was seen before
 * (a replay), by this or any other hub instance.
 */
export async function recordAssertion(tx: Db | Tx, clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
  const inserted = await tx
    .insert(usedAssertions)
    .values({ clientId, jti, expiresAt })
    .onConflictDoNothing()
    .returning({ jti: usedAssertions.jti });
  return inserted.length === 1;
}

/** Forgets assertion ids whose assertions expired long ago (they can no longer be replayed). */
export async function forgetExpiredAssertions(db: Db, before: Date): Promise<void> {
  await db.delete(usedAssertions).where(lt(usedAssertions.expiresAt, before));
}
