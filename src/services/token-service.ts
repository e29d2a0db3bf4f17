import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { z } from 'zod';
import type { AuditRequester } from '../audit/audit-event.js';
import { signAccessToken, type TokenAudience } from '../auth/access-token.js';
import type { HubKeys } from '../auth/hub-keys.js';
import { grantScopes, parseScopeList, type SystemScope } from '../auth/scopes.js';
import type { Db } from '../db/database.js';
import { findClient, recordAssertion, type RegisteredClient } from '../db/registry-queries.js';
import type { AuditRecorder, RequestMeta } from './audit-recorder.js';

// SMART Backend Services token endpoint: client_credentials with a signed
// client assertion (private_key_jwt).
// See: https://hl7.org/fhir/smart-app-launch/backend-services.html
// and RFC 7523 section 3 for the assertion's claims.

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The algorithms SMART Backend Services requires servers to support. */
export const ASSERTION_ALGORITHMS = ['ES384', 'RS384'] as const;
const MAX_ASSERTION_LIFETIME_S = 300;
/**
 * How far ahead of the hub's clock an assertion's iat may be: clocks drift, but
 * an assertion "issued" later than now plus this was made to outlive its window.
 * See: RFC 7523 section 3 (the server may reject iat unreasonably far in the future)
 * and SMART Backend Services (exp at most five minutes ahead).
 */
const MAX_CLOCK_SKEW_S = 60;
const CLIENT_ID = /^[A-Za-z0-9._-]{1,64}$/;

export const tokenRequestSchema = z.object({
  grant_type: z.literal('client_credentials', { error: 'grant_type must be client_credentials' }),
  client_assertion_type: z.literal(ASSERTION_TYPE, { error: `client_assertion_type must be ${ASSERTION_TYPE}` }),
  client_assertion: z.string({ error: 'client_assertion is required' }).min(1, 'client_assertion is required').max(16_384),
  scope: z.string({ error: 'scope is required' }).min(1, 'scope is required').max(4096),
  purpose_of_use: z
    .string({ error: 'purpose_of_use is required' })
    .regex(/^[a-z][a-z0-9-]{0,63}$/, 'purpose_of_use must be a purpose-of-use code'),
});

/** RFC 6749 section 5.2 error codes. */
export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'invalid_scope' | 'unsupported_grant_type';

export type TokenResult =
  | { ok: true; body: { access_token: string; token_type: 'bearer'; expires_in: number; scope: string; purpose_of_use: string } }
  | { ok: false; status: 400 | 401; error: OAuthErrorCode; description: string };

export interface TokenServiceDeps {
  db: Db;
  keys: HubKeys;
  audience: TokenAudience;
  tokenUrl: string;
  clock: () => Date;
  audit: AuditRecorder;
}

type Refusal = Extract<TokenResult, { ok: false }>;
const refuse = (status: 400 | 401, error: OAuthErrorCode, description: string): Refusal => ({ ok: false, status, error, description });

/** Issues an access token, or refuses; either way one AuditEvent is written. */
export async function requestToken(deps: TokenServiceDeps, form: unknown, meta: RequestMeta): Promise<TokenResult> {
  const checked = await checkRequest(deps, form);
  if (!checked.ok) {
    await deps.audit.transaction(deps.db, async (tx) => {
      await deps.audit.login(tx, meta, checked.requester, { outcome: 'minor-failure', outcomeDesc: `${checked.refusal.error}: ${checked.refusal.description}` });
    });
    return checked.refusal;
  }
  const { client, scopes, purpose, jti, expiresAt } = checked;
  const requester: AuditRequester = {
    clientId: client.id,
    organisationCode: client.organisation.code,
    organisationSystem: client.organisation.system,
    organisationType: client.organisation.type,
    purposeOfUse: purpose,
  };
  return deps.audit.transaction(deps.db, async (tx): Promise<TokenResult> => {
    // The jti row and the audit row commit together: a replay seen by any instance is refused.
    if (!(await recordAssertion(tx, client.id, jti, expiresAt))) {
      const refusal = refuse(401, 'invalid_client', 'client_assertion jti has already been used');
      await deps.audit.login(tx, meta, requester, { outcome: 'minor-failure', outcomeDesc: `${refusal.error}: ${refusal.description}` });
      return refusal;
    }
    const issued = await signAccessToken(deps.keys, deps.audience, deps.clock(), {
      clientId: client.id,
      organisation: { code: client.organisation.code, system: client.organisation.system, type: client.organisation.type },
      scopes,
      purposeOfUse: purpose,
    });
    await deps.audit.login(tx, meta, requester, { outcome: 'success', outcomeDesc: `granted ${issued.scope}` });
    return {
      ok: true,
      body: { access_token: issued.token, token_type: 'bearer', expires_in: issued.expiresIn, scope: issued.scope, purpose_of_use: purpose },
    };
  });
}

type Checked =
  | { ok: true; client: RegisteredClient; scopes: SystemScope[]; purpose: string; jti: string; expiresAt: Date }
  | { ok: false; refusal: Refusal; requester: AuditRequester };

async function checkRequest(deps: TokenServiceDeps, form: unknown): Promise<Checked> {
  const anonymous = (refusal: Refusal, requester: AuditRequester = {}): Checked => ({ ok: false, refusal, requester });
  if (typeof form !== 'object' || form === null) {
    return anonymous(refuse(400, 'invalid_request', 'the token request must be an application/x-www-form-urlencoded body'));
  }
  const parsed = tokenRequestSchema.safeParse(form);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? 'request');
    const code: OAuthErrorCode = field === 'grant_type' ? 'unsupported_grant_type' : 'invalid_request';
    return anonymous(refuse(400, code, issue?.message ?? 'malformed token request'));
  }
  const request = parsed.data;

  let header: ReturnType<typeof decodeProtectedHeader>;
  let claimed: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(request.client_assertion);
    claimed = decodeJwt(request.client_assertion);
  } catch {
    return anonymous(refuse(400, 'invalid_request', 'client_assertion is not a JWT'));
  }
  const claimedId = typeof claimed.iss === 'string' ? claimed.iss : undefined;
  if (claimedId === undefined) return anonymous(refuse(401, 'invalid_client', 'client_assertion has no iss'));
  if (!CLIENT_ID.test(claimedId)) return anonymous(refuse(401, 'invalid_client', 'unknown or inactive client'));
  const client = await findClient(deps.db, claimedId);
  if (client === undefined || !client.active) {
    return anonymous(refuse(401, 'invalid_client', 'unknown or inactive client'));
  }
  const requester: AuditRequester = {
    clientId: client.id,
    organisationCode: client.organisation.code,
    organisationSystem: client.organisation.system,
    organisationType: client.organisation.type,
    purposeOfUse: request.purpose_of_use,
  };
  const fail = (status: 400 | 401, error: OAuthErrorCode, description: string): Checked => ({
    ok: false,
    refusal: refuse(status, error, description),
    requester,
  });
  if (!ASSERTION_ALGORITHMS.includes(header.alg as (typeof ASSERTION_ALGORITHMS)[number])) {
    return fail(401, 'invalid_client', `client_assertion alg ${String(header.alg)} is not allowed (ES384 or RS384)`);
  }

  const now = deps.clock();
  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload } = await jwtVerify(request.client_assertion, createLocalJWKSet(client.jwks), {
      algorithms: [...ASSERTION_ALGORITHMS],
      issuer: client.id,
      subject: client.id,
      audience: deps.tokenUrl,
      currentDate: now,
      requiredClaims: ['exp', 'jti', 'iss', 'sub', 'aud'],
    }));
  } catch (err) {
    return fail(401, 'invalid_client', describeAssertionError(err));
  }
  const exp = payload.exp ?? 0;
  const nowS = Math.floor(now.getTime() / 1000);
  if (exp - nowS > MAX_ASSERTION_LIFETIME_S) {
    return fail(401, 'invalid_client', 'client_assertion exp is more than five minutes in the future');
  }
  if (payload.iat !== undefined && payload.iat - nowS > MAX_CLOCK_SKEW_S) {
    return fail(401, 'invalid_client', `client_assertion iat is more than ${MAX_CLOCK_SKEW_S} s in the future`);
  }
  const jti = payload.jti ?? '';
  if (jti.length === 0 || jti.length > 255) return fail(401, 'invalid_client', 'client_assertion jti is missing or too long');

  if (!client.purposes.includes(request.purpose_of_use)) {
    return fail(400, 'invalid_request', `purpose_of_use ${request.purpose_of_use} is not permitted for this client`);
  }
  const requested = parseScopeList(request.scope);
  if (!requested.ok) return fail(400, 'invalid_scope', requested.reason);
  const registered = parseScopeList(client.scopes.join(' '));
  if (!registered.ok) throw new Error(`client ${client.id} has malformed registered scopes`);
  const scopes = grantScopes(requested.scopes, registered.scopes);
  if (scopes.length === 0) return fail(400, 'invalid_scope', 'none of the requested scopes is permitted for this client');
  return { ok: true, client, scopes, purpose: request.purpose_of_use, jti, expiresAt: new Date(exp * 1000) };
}

function describeAssertionError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'client_assertion has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `client_assertion claim ${err.claim} is invalid (${err.reason})`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'client_assertion signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no registered key matches the client_assertion';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'client_assertion alg is not allowed (ES384 or RS384)';
  if (err instanceof errors.JOSEError) return `client_assertion rejected (${err.code})`;
  throw err;
}

/**
 * The client a token request's assertion names (its `iss`), read without
 * checking the signature: only for counting requests against that client's
 * rate limit. Undefined when the body holds no readable assertion.
 */
export function claimedClientId(form: unknown): string | undefined {
  const assertion = typeof form === 'object' && form !== null ? (form as { client_assertion?: unknown }).client_assertion : undefined;
  if (typeof assertion !== 'string' || assertion.length > 16_384) return undefined;
  try {
    const iss = decodeJwt(assertion).iss;
    return typeof iss === 'string' && CLIENT_ID.test(iss) ? iss : undefined;
  } catch {
    return undefined;
  }
}
