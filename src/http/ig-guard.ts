import type { NextFunction, Request, Response } from 'express';
import type { RestInteraction } from '../audit/audit-event.js';
import { verifyAccessToken } from '../auth/access-token.js';
import type { Principal } from '../auth/principal.js';
import { allows, parseScopeList } from '../auth/scopes.js';
import { findHubOperator, findSession } from '../db/ig-queries.js';
import { problem } from '../fhir/operation-outcome.js';
import { requesterOf } from '../services/audit-recorder.js';
import { refuseAudited, type GuardDeps } from './guard.js';
import { withinLimit } from './rate-limit.js';
import { metaOf } from './request-context.js';
import { sendProblem } from './send.js';

/** The /ig session cookie: HttpOnly, SameSite=Strict, Path=/. */
export const IG_COOKIE = 'eyhub_ig';

/** Client id recorded in the audit log for the signed-in /ig page: `ig-web:<user>`. */
export const IG_WEB_CLIENT = 'ig-web';

/** What the signed-in /ig page may do: the IG client's rights. */
const IG_WEB_SCOPES = (() => {
  const parsed = parseScopeList('system/AuditEvent.rs system/Consent.rs');
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.scopes;
})();

/** Is this principal the information governance lead (a hub-operator client, purpose audit, AuditEvent read)? */
export function isIgPrincipal(p: Principal): boolean {
  return p.organisationType === 'hub-operator' && p.purposeOfUse === 'audit' && allows(p.scopes, 'AuditEvent', 'r');
}

export interface IgGuardDeps extends GuardDeps {
  baseUrl: string;
}

/**
 * The gate of the IG lead's routes (/fhir/AuditEvent, /audit/*): a hub access
 * token of an IG client, or the /ig page's session cookie. Anything else is
 * refused (401/403) and the refusal audited. A cookie-borne request that
 * changes something must come from the hub's own origin.
 */
export function igGuard(deps: IgGuardDeps, interaction: RestInteraction, resourceType = 'AuditEvent') {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const principal = await igPrincipal(deps, req);
    const meta = metaOf(req, res);
    // Counted per client once known (a valid token or session), else per source address.
    const who = principal.principal;
    const limited = who === undefined
      ? await withinLimit(deps.rateLimits, res, 'api-address', meta.clientAddress ?? 'unknown', meta, {}, { interaction })
      : await withinLimit(deps.rateLimits, res, 'api-client', who.clientId, meta, requesterOf(who), { interaction });
    if (!limited) return;
    if (!principal.ok) {
      if (principal.status === 401) {
        await deps.audit.transaction(deps.db, (tx) =>
          deps.audit.rest(tx, metaOf(req, res), {}, { interaction, outcome: 'minor-failure', outcomeDesc: `unauthenticated: ${principal.reason}`, resourceType }),
        );
        res.setHeader('WWW-Authenticate', `Bearer realm="fhir", error="invalid_token", error_description="${principal.reason}"`);
        sendProblem(res, problem(401, 'login', `the information governance lead's access token or /ig session is required: ${principal.reason}`, 'Authorization'));
        return;
      }
      if (principal.principal !== undefined) res.locals['principal'] = principal.principal;
      await refuseAudited(deps, req, res, interaction, problem(principal.status, 'forbidden', principal.reason, principal.field));
      return;
    }
    res.locals['principal'] = principal.principal;
    res.locals['igUser'] = principal.user;
    next();
  };
}

type IgCheck =
  | { ok: true; principal: Principal; user: string | undefined }
  | { ok: false; status: 401 | 403; reason: string; field: string; principal?: Principal };

async function igPrincipal(deps: IgGuardDeps, req: Request): Promise<IgCheck> {
  const header = req.get('authorization');
  if (header !== undefined) {
    const bearer = /^Bearer ([A-Za-z0-9\-_.~+/]+=*)$/i.exec(header)?.[1];
    if (bearer === undefined) return { ok: false, status: 401, reason: 'Authorization is not a Bearer token', field: 'Authorization' };
    const checked = await verifyAccessToken(deps.keys, deps.audience, deps.clock(), bearer);
    if (!checked.ok) return { ok: false, status: 401, reason: checked.reason, field: 'Authorization' };
    if (!isIgPrincipal(checked.principal)) {
      return {
        ok: false,
        status: 403,
        reason: 'the audit log is for the information governance lead only (a hub-operator client, purpose audit, scope system/AuditEvent.rs)',
        field: 'purpose_of_use',
        principal: checked.principal,
      };
    }
    return { ok: true, principal: checked.principal, user: undefined };
  }
  const cookie = cookieValue(req.get('cookie'), IG_COOKIE);
  if (cookie === undefined) return { ok: false, status: 401, reason: 'no access token', field: 'Authorization' };
  const now = deps.clock();
  const session = await findSession(deps.db, cookie, now);
  if (session === undefined) return { ok: false, status: 401, reason: 'the /ig session has expired or is unknown: ask for a new link (hub ig-link)', field: 'Cookie' };
  const operator = await findHubOperator(deps.db);
  if (operator === undefined) return { ok: false, status: 401, reason: 'no hub-operator organisation is registered', field: 'Cookie' };
  const principal: Principal = {
    clientId: `${IG_WEB_CLIENT}:${session.userLabel}`,
    organisationCode: operator.code,
    organisationSystem: operator.system,
    organisationType: 'hub-operator',
    purposeOfUse: 'audit',
    scopes: IG_WEB_SCOPES,
    tokenId: session.idHash.slice(0, 16),
  };
  if (!['GET', 'HEAD'].includes(req.method) && !fromOwnOrigin(req, deps.baseUrl)) {
    return { ok: false, status: 403, reason: 'a change made with the /ig session must come from the hub\'s own page (Origin)', field: 'Origin', principal };
  }
  return { ok: true, principal, user: session.userLabel };
}

/**
 * The CSRF defence of every cookie-borne change on the /ig page: the request
 * must come from the hub's own origin. Browsers send Origin with every POST
 * (Fetch standard, "origin" header) and Sec-Fetch-Site with every request
 * (W3C Fetch Metadata); neither can be set by a page's script.
 * See: https://owasp.org/www-community/attacks/csrf (verifying origin with standard headers)
 */
export function fromOwnOrigin(req: Request, baseUrl: string): boolean {
  const origin = req.get('origin');
  // A form POST from a page whose Referrer-Policy is no-referrer (helmet's, so the /ig page's own sign-out
  // form) carries `Origin: null` (Fetch, "serializing a request origin"): then Sec-Fetch-Site decides.
  if (origin !== undefined && origin !== 'null') return origin === new URL(baseUrl).origin;
  return req.get('sec-fetch-site') === 'same-origin';
}

/** One cookie's value from a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}
