import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { generateSigningKey, HubKeys, keptKeys, type StoredSigningKey } from '../auth/hub-keys.js';

// The access-token signing keys live in files, one per key (<kid>.jwk, mode
// 0600), in a directory beside the data (SIGNING_KEYS_DIR, default
// DATA_DIR/keys/access-token), never in the database. Instances that share a
// database share this directory too (mount the same volume): each reads it at
// start, every minute, and when a token names a kid it does not know.

const keyFile = z.looseObject({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: z.string(),
  y: z.string(),
  d: z.string(),
  kid: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
  created: z.iso.datetime({ offset: true }),
});

const KEY_FILE = /^[A-Za-z0-9-]{1,64}\.jwk$/;

/** Every signing key in `dir` (none if the directory does not exist). */
export async function readSigningKeys(dir: string): Promise<StoredSigningKey[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => KEY_FILE.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const keys: StoredSigningKey[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const parsed = keyFile.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (!parsed.success) throw new Error(`${file} is not a hub signing key: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const { created, ...privateJwk } = parsed.data;
    keys.push({ kid: parsed.data.kid, created: new Date(created), privateJwk });
  }
  return keys;
}

async function writeSigningKey(dir: string, key: StoredSigningKey): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const body = { ...key.privateJwk, kid: key.kid, created: key.created.toISOString() };
  await writeFile(path.join(dir, `${key.kid}.jwk`), `${JSON.stringify(body)}\n`, { mode: 0o600, flag: 'wx' });
}

/** The hub's signing keys from `dir`, making the first one if there is none. */
export async function openSigningKeys(dir: string, clock: () => Date): Promise<HubKeys> {
  if ((await readSigningKeys(dir)).length === 0) await writeSigningKey(dir, await generateSigningKey(clock()));
  return HubKeys.open(() => readSigningKeys(dir), clock);
}

/** Keys for this process only (tests, throwaway hubs): tokens and cursors die with it. */
export async function ephemeralSigningKeys(clock: () => Date): Promise<HubKeys> {
  const key = await generateSigningKey(clock());
  return HubKeys.open(() => Promise.resolve([key]), clock);
}

/**
 * `hub keys rotate`: a new current key; the replaced one stays (in the JWKS,
 * verifying) until its tokens have expired. Keys no longer needed are deleted.
 */
export async function rotateSigningKey(dir: string, now: Date): Promise<{ kid: string; kept: string[]; removed: string[] }> {
  const fresh = await generateSigningKey(now);
  await writeSigningKey(dir, fresh);
  const all = await readSigningKeys(dir);
  const kept = keptKeys(all, now).map((k) => k.kid);
  const removed = all.map((k) => k.kid).filter((kid) => !kept.includes(kid));
  for (const kid of removed) await rm(path.join(dir, `${kid}.jwk`), { force: true });
  return { kid: fresh.kid, kept: kept.filter((kid) => kid !== fresh.kid), removed };
}
