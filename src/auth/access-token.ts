import { errors, jwtVerify, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import type { HubKeys } from './hub-keys.js';
import { accessTokenClaims, type Principal } from './principal.js';
import { formatScope, parseScopeList, type SystemScope } from './scopes.js';

/** Access tokens live five minutes (SMART Backend Services: "should not exceed five minutes"). */
export const ACCESS_TOKEN_SECONDS = 300;

export interface TokenAudience {
  issuer: string; // the hub's base URL
  audience: string; // the FHIR base URL
}

export async function signAccessToken(
  keys: HubKeys,
  where: TokenAudience,
  now: Date,
  grant: {
    clientId: string;
    organisation: { code: string; system: string; type: string };
    scopes: readonly SystemScope[];
    purposeOfUse: string;
  },
): Promise<{ token: string; scope: string; expiresIn: number }> {
  const scope = grant.scopes.map(formatScope).join(' ');
  const iat = Math.floor(now.getTime() / 1000);
  const token = await new SignJWT({
    client_id: grant.clientId,
    scope,
    purpose_of_use: grant.purposeOfUse,
    organisation: grant.organisation,
  })
    .setProtectedHeader({ alg: keys.alg, kid: keys.kid, typ: 'at+jwt' })
    .setIssuer(where.issuer)
    .setAudience(where.audience)
    .setSubject(grant.clientId)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + ACCESS_TOKEN_SECONDS)
    .sign(keys.privateKey);
  return { token, scope, expiresIn: ACCESS_TOKEN_SECONDS };
}

export type TokenCheck = { ok: true; principal: Principal } | { ok: false; reason: string };

/** A token this process has verified: its principal, until it expires, while its key is kept. */
interface Verified {
  principal: Principal;
  /** exp, in seconds since the epoch. */
  exp: number;
  kid: string;
  issuer: string;
  audience: string;
}

/** Tokens verified by each set of hub keys, oldest first; bounded. */
const verifiedTokens = new WeakMap<HubKeys, Map<string, Verified>>();
const MAX_VERIFIED = 10_000;

/**
 * Verifies one of the hub's own access tokens. Never throws for a bad token.
 * A token already verified (the same bytes, signature included) is not
 * verified again while it lives: its claims cannot change, and a caller
 * sends the same token for five minutes, so each request would otherwise pay
 * an ECDSA verification. Its expiry is still checked against `now` on every
 * request, and a token whose key the hub no longer keeps is refused as before.
 */
export async function verifyAccessToken(keys: HubKeys, where: TokenAudience, now: Date, token: string): Promise<TokenCheck> {
  let cache = verifiedTokens.get(keys);
  if (cache === undefined) {
    cache = new Map();
    verifiedTokens.set(keys, cache);
  }
  const known = cache.get(token);
  if (known !== undefined && known.issuer === where.issuer && known.audience === where.audience && keys.keeps(known.kid)) {
    // jose's rule: expired when exp <= now, in whole seconds.
    if (known.exp > Math.floor(now.getTime() / 1000)) return { ok: true, principal: known.principal };
    cache.delete(token);
    return { ok: false, reason: 'access token expired' };
  }
  const checked = await verifyToken(keys, where, now, token);
  if (checked.ok) {
    cache.delete(token);
    cache.set(token, { ...checked.verified, issuer: where.issuer, audience: where.audience });
    if (cache.size > MAX_VERIFIED) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) cache.delete(oldest.value);
    }
    return { ok: true, principal: checked.verified.principal };
  }
  return checked;
}

async function verifyToken(
  keys: HubKeys,
  where: TokenAudience,
  now: Date,
  token: string,
): Promise<{ ok: true; verified: Omit<Verified, 'issuer' | 'audience'> } | { ok: false; reason: string }> {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, keys.verifyKeys, {
      issuer: where.issuer,
      audience: where.audience,
      algorithms: [keys.alg],
      typ: 'at+jwt',
      currentDate: now,
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    });
    const claims = accessTokenClaims.safeParse(payload);
    if (!claims.success) return { ok: false, reason: 'access token claims are malformed' };
    const scopes = parseScopeList(claims.data.scope);
    if (!scopes.ok) return { ok: false, reason: 'access token scope is malformed' };
    if (payload.exp === undefined) return { ok: false, reason: 'access token has no expiry' };
    const principal: Principal = {
      clientId: claims.data.client_id,
      organisationCode: claims.data.organisation.code,
      organisationSystem: claims.data.organisation.system,
      organisationType: claims.data.organisation.type,
      purposeOfUse: claims.data.purpose_of_use,
      scopes: scopes.scopes,
      tokenId: claims.data.jti,
    };
    // Shared by every request that sends this token: nobody may change it.
    Object.freeze(principal.scopes);
    return { ok: true, verified: { principal: Object.freeze(principal), exp: payload.exp, kid: protectedHeader.kid ?? '' } };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: 'access token expired' };
    if (err instanceof errors.JOSEError) return { ok: false, reason: `access token rejected (${err.code})` };
    throw err;
  }
}
