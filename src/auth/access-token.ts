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

/** Verifies one of the hub's own access tokens. Never throws for a bad token. */
export async function verifyAccessToken(keys: HubKeys, where: TokenAudience, now: Date, token: string): Promise<TokenCheck> {
  try {
    const { payload } = await jwtVerify(token, keys.verifyKeys, {
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
    return {
      ok: true,
      principal: {
        clientId: claims.data.client_id,
        organisationCode: claims.data.organisation.code,
        organisationSystem: claims.data.organisation.system,
        organisationType: claims.data.organisation.type,
        purposeOfUse: claims.data.purpose_of_use,
        scopes: scopes.scopes,
        tokenId: claims.data.jti,
      },
    };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, reason: 'access token expired' };
    if (err instanceof errors.JOSEError) return { ok: false, reason: `access token rejected (${err.code})` };
    throw err;
  }
}
