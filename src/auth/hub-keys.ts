import { errors, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import { createHash, hkdfSync, randomUUID } from 'node:crypto';
import type { CursorKey } from '../fhir/cursor-codec.js';
import { ACCESS_TOKEN_SECONDS } from './access-token.js';

// The hub's access-token signing keys (ES256), each with a kid. The newest is
// current and signs; an older one stays in the JWKS, and verifies, until every
// token it may have signed has expired. The keys are kept outside the database
// (services/signing-keys.ts): read access to the database must not let anyone
// mint a token. Search cursors are sealed with keys derived from the same keys,
// so they rotate with them.

/** One signing key as kept: its private JWK (with kid), and when it was made. */
export interface StoredSigningKey {
  kid: string;
  created: Date;
  privateJwk: JWK;
}

/**
 * How long a replaced key is kept after its successor was made: a token's
 * lifetime, plus time for every instance to pick up the new key (they look
 * every minute) and some clock skew.
 */
export const RETIRED_KEY_SECONDS = ACCESS_TOKEN_SECONDS + 120;

interface Loaded {
  current: { kid: string; privateKey: CryptoKey };
  byKid: Map<string, CryptoKey>;
  jwks: JSONWebKeySet;
  /** Private scalars of the kept keys, current first (cursor secrets derive from them). */
  seeds: { kid: string; d: string }[];
}

export async function generateSigningKey(now: Date): Promise<StoredSigningKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  return { kid, created: now, privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** The keys still worth keeping at `now`, newest first: the current one and those whose tokens may be unexpired. */
export function keptKeys(stored: readonly StoredSigningKey[], now: Date): StoredSigningKey[] {
  const newestFirst = [...stored].sort((a, b) => b.created.getTime() - a.created.getTime() || a.kid.localeCompare(b.kid));
  return newestFirst.filter((_, i) => {
    const successor = newestFirst[i - 1];
    return successor === undefined || now.getTime() < successor.created.getTime() + RETIRED_KEY_SECONDS * 1000;
  });
}

async function load(stored: readonly StoredSigningKey[], now: Date): Promise<Loaded> {
  const kept = keptKeys(stored, now);
  const byKid = new Map<string, CryptoKey>();
  const publicJwks: JWK[] = [];
  const seeds: { kid: string; d: string }[] = [];
  for (const key of kept) {
    const { d, ...publicPart } = key.privateJwk;
    if (typeof d !== 'string') throw new Error(`hub signing key ${key.kid} has no private part`);
    const publicJwk = { kty: publicPart.kty, crv: publicPart.crv, x: publicPart.x, y: publicPart.y, kid: key.kid, alg: 'ES256', use: 'sig' };
    const publicKey = await importJWK(publicJwk, 'ES256');
    if (publicKey instanceof Uint8Array) throw new Error('hub signing key is not an asymmetric key');
    byKid.set(key.kid, publicKey);
    publicJwks.push(publicJwk);
    seeds.push({ kid: key.kid, d });
  }
  const newest = kept[0];
  if (newest === undefined) throw new Error('no hub signing key');
  const privateKey = await importJWK({ ...newest.privateJwk, kid: newest.kid }, 'ES256');
  if (privateKey instanceof Uint8Array) throw new Error('hub signing key is not an asymmetric key');
  return { current: { kid: newest.kid, privateKey }, byKid, jwks: { keys: publicJwks }, seeds };
}

/**
 * The signing keys one hub instance holds. `reload` reads them again (after
 * `hub keys rotate`, or another instance's); a token naming a kid this
 * instance does not know makes it look once, at most every few seconds.
 */
export class HubKeys {
  readonly alg = 'ES256' as const;
  private lastReload = 0;

  private constructor(
    private loaded: Loaded,
    private readonly source: () => Promise<StoredSigningKey[]>,
    private readonly clock: () => Date,
  ) {}

  static async open(source: () => Promise<StoredSigningKey[]>, clock: () => Date): Promise<HubKeys> {
    return new HubKeys(await load(await source(), clock()), source, clock);
  }

  get kid(): string {
    return this.loaded.current.kid;
  }

  get privateKey(): CryptoKey {
    return this.loaded.current.privateKey;
  }

  /** The public keys that verify the hub's tokens (GET /.well-known/jwks.json). */
  get jwks(): JSONWebKeySet {
    return this.loaded.jwks;
  }

  async reload(): Promise<void> {
    this.lastReload = Date.now();
    this.loaded = await load(await this.source(), this.clock());
  }

  /** Whether this instance still keeps the key `kid` (a retired key's tokens are refused). */
  keeps(kid: string): boolean {
    return this.loaded.byKid.has(kid);
  }

  /** The verification key for a token's header (jose's key lookup). */
  readonly verifyKeys: JWTVerifyGetKey = async (header) => {
    const kid = header.kid ?? '';
    if (!this.loaded.byKid.has(kid) && Date.now() - this.lastReload > 5_000) await this.reload();
    const key = this.loaded.byKid.get(kid);
    // jose's own error: the token is refused like any other bad token.
    if (key === undefined) throw new errors.JWKSNoMatchingKey();
    return key;
  };

  /** Secrets for one kind of cursor, current first, one per kept key. */
  cursorSecrets(label: string): CursorKey[] {
    return this.loaded.seeds.map(({ kid, d }) => ({
      tag: createHash('sha256').update(kid).digest('base64url').slice(0, 8),
      secret: new Uint8Array(hkdfSync('sha256', Buffer.from(d, 'base64url'), 'eyhub', `${label}:${kid}`, 32)),
    }));
  }
}
