import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';

/** The hub's access-token signing key, plus the public key set that verifies its tokens. */
export interface HubKeys {
  kid: string;
  alg: 'ES256';
  privateKey: CryptoKey;
  jwks: JSONWebKeySet;
  verifyKeys: ReturnType<typeof createLocalJWKSet>;
}

export async function generateHubKey(): Promise<{ kid: string; alg: 'ES256'; privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { kid, alg: 'ES256', privateJwk, publicJwk };
}

export async function loadHubKeys(stored: readonly { kid: string; privateJwk: JWK; publicJwk: JWK }[]): Promise<HubKeys> {
  const active = stored[0];
  if (active === undefined) throw new Error('no hub signing key');
  const privateKey = await importJWK(active.privateJwk, 'ES256');
  if (privateKey instanceof Uint8Array) throw new Error('hub signing key is not an asymmetric key');
  const jwks: JSONWebKeySet = { keys: stored.map((k) => k.publicJwk) };
  return { kid: active.kid, alg: 'ES256', privateKey, jwks, verifyKeys: createLocalJWKSet(jwks) };
}
