import type { NextFunction, Request, Response } from 'express';
import type { RestInteraction } from '../audit/audit-event.js';
import { verifyAccessToken, type TokenAudience } from '../auth/access-token.js';
import type { HubKeys } from '../auth/hub-keys.js';
import type { Principal } from '../auth/principal.js';
import { allows, type Permission } from '../auth/scopes.js';
import type { Db } from '../db/database.js';
import { problem, type Problem } from '../fhir/operation-outcome.js';
import { isSupportedType } from '../fhir/resource-types.js';
import { requesterOf, type AuditRecorder } from '../services/audit-recorder.js';
import type { RateLimitService } from '../services/rate-limit-service.js';
import { withinLimit } from './rate-limit.js';
import { ShadowingMemberError } from './json-body.js';
import { metaOf } from './request-context.js';
import { sendProblem } from './send.js';

export interface GuardDeps {
  db: Db;
  keys: HubKeys;
  audience: TokenAudience;
  clock: () => Date;
  audit: AuditRecorder;
  rateLimits: RateLimitService;
}

/**
 * Every protected route starts here: a valid hub access token (401), a
 * resource type the hub serves (404), and a granted SMART scope for this
 * interaction (403). Each refusal is audited before it is answered.
 */
export function guard(deps: GuardDeps, interaction: RestInteraction, permission: Permission, fixedType?: string | null) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    // null: authenticate only; the handler checks the scope once it knows the resource type.
    const type = fixedType === null ? undefined : (fixedType ?? String(req.params['type']));
    const meta = metaOf(req, res);
    const header = req.get('authorization');
    const bearer = header === undefined ? undefined : /^Bearer ([A-Za-z0-9\-_.~+/]+=*)$/i.exec(header)?.[1];
    const checked = bearer === undefined
      ? { ok: false as const, reason: header === undefined ? 'no access token' : 'Authorization is not a Bearer token' }
      : await verifyAccessToken(deps.keys, deps.audience, deps.clock(), bearer);
    if (!checked.ok) {
      // Requests without a valid token count per source address: each is audited, so they are bounded too.
      if (!(await withinLimit(deps.rateLimits, res, 'api-address', meta.clientAddress ?? 'unknown', meta, {}, { interaction }))) return;
      await deps.audit.transaction(deps.db, (tx) =>
        deps.audit.rest(tx, meta, {}, { interaction, outcome: 'minor-failure', outcomeDesc: `unauthenticated: ${checked.reason}`, resourceType: type }),
      );
      res.setHeader('WWW-Authenticate', `Bearer realm="fhir", error="invalid_token", error_description="${checked.reason}"`);
      sendProblem(res, problem(401, 'login', `a valid access token is required: ${checked.reason}`, 'Authorization'));
      return;
    }
    const principal = checked.principal;
    res.locals['principal'] = principal;
    if (!(await withinLimit(deps.rateLimits, res, 'api-client', principal.clientId, meta, requesterOf(principal), { interaction }))) return;
    let refusal: Problem | undefined;
    if (type === undefined) {
      refusal = undefined;
    } else if (!isSupportedType(type)) {
      refusal = problem(404, 'not-supported', `resource type ${type} is not supported by this server`, 'type');
    } else if (!allows(principal.scopes, type, permission)) {
      refusal = problem(403, 'forbidden', `the access token has no scope allowing ${permission} on ${type} (e.g. system/${type}.${permission})`, 'scope');
    }
    if (refusal !== undefined) {
      await refuseAudited(deps, req, res, interaction, refusal);
      return;
    }
    next();
  };
}

/** Answers a refusal found at the HTTP edge (body, headers), auditing it like any other. */
export async function refuseAudited(
  deps: Pick<GuardDeps, 'db' | 'audit'>,
  req: Request,
  res: Response,
  interaction: RestInteraction,
  refusal: Problem,
): Promise<void> {
  const principal = res.locals['principal'] as Principal | undefined;
  await deps.audit.transaction(deps.db, (tx) =>
    deps.audit.rest(tx, metaOf(req, res), principal === undefined ? {} : requesterOf(principal), {
      interaction,
      outcome: 'minor-failure',
      outcomeDesc: refusal.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; '),
      resourceType: typeof req.params['type'] === 'string' ? req.params['type'] : undefined,
    }),
  );
  sendProblem(res, refusal);
}

/**
 * Body-parser faults on an authenticated route are the caller's: answered
 * with a 4xx naming the body, and audited like any refusal.
 */
export function bodyErrors(deps: Pick<GuardDeps, 'db' | 'audit'>, limit: string, interactionOf: (req: Request) => RestInteraction) {
  return async (err: unknown, req: Request, res: Response, next: NextFunction): Promise<void> => {
    const kind = (err as { type?: string } | undefined)?.type;
    const refusal =
      kind === 'entity.too.large'
        ? problem(413, 'too-costly', `the request body is larger than ${limit}`, 'body')
        : kind === 'entity.parse.failed'
          ? problem(400, 'structure', err instanceof ShadowingMemberError ? `the request body is refused: ${err.message}` : 'the request body is not valid JSON', 'body')
          : kind === 'encoding.unsupported' || kind === 'charset.unsupported'
            ? problem(415, 'not-supported', 'unsupported body encoding or charset', 'Content-Type')
            : undefined;
    if (refusal === undefined || res.locals['principal'] === undefined) {
      next(err);
      return;
    }
    await refuseAudited(deps, req, res, interactionOf(req), refusal);
  };
}
