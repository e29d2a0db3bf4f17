import type { Response } from 'express';
import { problem } from '../fhir/operation-outcome.js';
import type { AuditRequester, RestInteraction } from '../audit/audit-event.js';
import type { RequestMeta } from '../services/audit-recorder.js';
import type { LimitName, LimitState, RateCheck, RateLimitService } from '../services/rate-limit-service.js';
import { sendProblem } from './send.js';

// The rate-limit fields of draft-ietf-httpapi-ratelimit-headers (-10; each item a Structured Field):
//   RateLimit-Policy: "<name>";q=<quota>;w=<window seconds>
//   RateLimit: "<name>";r=<remaining>;t=<seconds until the quota resets>
// See: https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/
// and Retry-After on a 429 (RFC 6585 section 4, RFC 9110 section 10.2.3).

/** Sets RateLimit-Policy and RateLimit for the limits a request was counted against. */
export function setRateLimitHeaders(res: Response, states: readonly LimitState[]): void {
  if (states.length === 0) return;
  res.setHeader('RateLimit-Policy', states.map((s) => `"${s.name}";q=${s.policy.points};w=${s.policy.windowSeconds}`).join(', '));
  res.setHeader('RateLimit', states.map((s) => `"${s.name}";r=${s.remaining};t=${s.resetSeconds}`).join(', '));
}

/** Answers a refused request: 429, an OperationOutcome naming the limit, Retry-After and the RateLimit fields. */
export function sendThrottled(res: Response, refused: Extract<RateCheck, { ok: false }>, states: readonly LimitState[]): void {
  setRateLimitHeaders(res, states);
  res.setHeader('Retry-After', String(refused.retryAfterSeconds));
  const { name, policy } = refused.state;
  sendProblem(
    res,
    problem(429, 'throttled', `too many requests: the ${name} limit is ${policy.points} per ${policy.windowSeconds} s; retry after ${refused.retryAfterSeconds} s`, name),
  );
}

/**
 * Counts a request against one limit: within it, the RateLimit fields are set
 * (unless `advertise` is false) and true returned; over it, the 429 is sent and
 * false returned. A limit keyed by something the caller merely claims (the
 * client an unverified assertion names) is not advertised while within it:
 * its remaining count would tell anyone how busy that client is (the draft's
 * "Information disclosure" consideration).
 */
export async function withinLimit(
  limits: RateLimitService,
  res: Response,
  name: LimitName,
  key: string,
  meta: RequestMeta,
  requester: AuditRequester,
  options: { interaction?: RestInteraction; advertise?: boolean } = {},
): Promise<boolean> {
  const check = await limits.consume(name, key, meta, requester, options.interaction);
  if (!check.ok) {
    sendThrottled(res, check, [check.state]);
    return false;
  }
  if (options.advertise !== false) setRateLimitHeaders(res, [check.state]);
  return true;
}
