import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';

// What a client system does to authenticate: sign a short-lived JWT with its
// private key (SMART Backend Services, RFC 7523). Used by the CLI, the demo
// and the tests exactly as a partner's system would.

export interface ClientKeyPair {
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function generateClientKeyPair(alg: 'ES384' | 'RS384' = 'ES384'): Promise<ClientKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
  };
}

export async function signClientAssertion(
  privateJwk: JWK,
  clientId: string,
  tokenUrl: string,
  options: { now?: Date; lifetimeSeconds?: number; jti?: string } = {},
): Promise<string> {
  const alg = privateJwk.alg ?? 'ES384';
  const key = await importJWK(privateJwk, alg);
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg, typ: 'JWT', ...(privateJwk.kid === undefined ? {} : { kid: privateJwk.kid }) })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenUrl)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.lifetimeSeconds ?? 60))
    .setJti(options.jti ?? randomUUID())
    .sign(key);
}
