import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { generateClientKeyPair, type ClientKeyPair } from '../auth/client-assertion.js';
import { inTransaction, type Db } from '../db/database.js';
import { findClient, upsertClient, upsertOrganisation } from '../db/registry-queries.js';
import { registerMllpSender } from '../db/mllp-sender-queries.js';
import { allowEndpoint } from '../db/subscription-queries.js';
import { demoClients, demoMllpSenders, demoOrganisations, demoSubscriptionEndpoints, registeredScopes } from './world.js';

const jwkFile = z.object({ privateJwk: z.record(z.string(), z.unknown()), publicJwk: z.record(z.string(), z.unknown()) });

export function demoKeyPath(dataDir: string, clientId: string): string {
  return path.join(dataDir, 'demo', `${clientId}.jwk.json`);
}

/** Reads a demo client's key pair from DATA_DIR/demo (written at first demo start). */
export async function readDemoKeys(dataDir: string, clientId: string): Promise<ClientKeyPair> {
  const text = await readFile(demoKeyPath(dataDir, clientId), 'utf8');
  return jwkFile.parse(JSON.parse(text));
}

async function demoKeys(dataDir: string, clientId: string): Promise<ClientKeyPair> {
  try {
    return await readDemoKeys(dataDir, clientId);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  const pair = await generateClientKeyPair('ES384');
  const file = demoKeyPath(dataDir, clientId);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(pair, null, 2)}\n`, { mode: 0o600, flag: 'wx' }).catch((err: unknown) => {
    // Another process wrote it first: use theirs.
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  });
  await chmod(file, 0o600);
  return readDemoKeys(dataDir, clientId);
}

/** The same public key, whatever else the JWK carries (kid, alg, use). */
function sameKey(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return ['kty', 'crv', 'x', 'y', 'n', 'e'].every((name) => a[name] === b[name]);
}

/**
 * Loads the demo world: every organisation and client system, each client
 * with a key pair kept in DATA_DIR/demo (never committed) and its public key
 * registered. A client already registered keeps the key it has: a fresh
 * DATA_DIR (a second instance, a new container) over a database that already
 * has the demo clients must not lock out the systems holding their keys.
 * Returns the clients whose registered key is not the one in this DATA_DIR.
 */
export async function seedDemoWorld(db: Db, dataDir: string): Promise<{ keptKeys: string[] }> {
  const keys = new Map<string, ClientKeyPair>();
  for (const client of demoClients) keys.set(client.id, await demoKeys(dataDir, client.id));
  const keptKeys: string[] = [];
  await inTransaction(db, async (tx) => {
    for (const org of demoOrganisations) await upsertOrganisation(tx, org);
    for (const client of demoClients) {
      const pair = keys.get(client.id);
      if (pair === undefined) throw new Error(`no key for ${client.id}`);
      const registered = (await findClient(tx, client.id))?.jwks;
      if (registered !== undefined && !registered.keys.some((k) => sameKey(k, pair.publicJwk))) keptKeys.push(client.id);
      await upsertClient(tx, {
        id: client.id,
        organisationCode: client.organisation,
        scopes: registeredScopes(client),
        purposes: client.purposes,
        jwks: registered ?? { keys: [pair.publicJwk] },
      });
    }
    for (const sender of demoMllpSenders) await registerMllpSender(tx, { clientId: sender.clientId, kind: 'address', value: sender.address });
    for (const e of demoSubscriptionEndpoints) await allowEndpoint(tx, e.organisation, e.prefix);
  });
  return { keptKeys };
}
