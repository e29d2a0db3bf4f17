import type pg from 'pg';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterPostgres } from 'rate-limiter-flexible';
import { LeasedLimit } from './leased-limit.js';
import type { AuditRequester, RestInteraction } from '../audit/audit-event.js';
import type { Db } from '../db/database.js';
import type { AuditRecorder, RequestMeta } from './audit-recorder.js';

// Rate limits, shared by every instance on one PostgreSQL (rate-limiter-flexible's
// RateLimiterPostgres on the hub's pool and the `rate_limits` table made by
// migration 0008), or held in memory on the embedded database (one process).
//
// Refusals are audited once per window, not once per request: a client
// hammering the hub must not be able to grow the audit log at its own pace.
// The store counts every request atomically (a block of places at a time for
// a high limit: leased-limit.ts), so exactly one request (across instances) is
// the first over the limit in a window: that one writes an
// AuditEvent naming the limit, the window and the key. Audit rows are
// append-only, so the count is not updated later; instead each instance tallies
// the refusals it answered, and the next window's AuditEvent for the same key
// reports how many the earlier window(s) refused on that instance.

export interface RateLimitPolicy {
  /** Requests allowed per window. */
  points: number;
  windowSeconds: number;
}

export interface RateLimits {
  /** POST /auth/token, keyed by the client the assertion names (signed or not) and by source address. */
  token: { perClient: number; perAddress: number; windowSeconds: number };
  /** /fhir, /ingest, /audit: per authenticated client; requests without a valid token per source address. */
  api: { perClient: number; perAddress: number; windowSeconds: number };
}

/** Limits no partner reaches and an attacker does; see README "Request limits and rate limits". */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  token: { perClient: 60, perAddress: 120, windowSeconds: 60 },
  api: { perClient: 6000, perAddress: 600, windowSeconds: 60 },
};

export type LimitName = 'token-client' | 'token-address' | 'api-client' | 'api-address';

/** One limit's state after a request, for the RateLimit and RateLimit-Policy fields. */
export interface LimitState {
  name: LimitName;
  policy: RateLimitPolicy;
  remaining: number;
  resetSeconds: number;
}

export type RateCheck = { ok: true; state: LimitState } | { ok: false; state: LimitState; retryAfterSeconds: number };

export interface RateLimitDeps {
  db: Db;
  audit: AuditRecorder;
  logger: Logger;
  limits: RateLimits;
  /** The PostgreSQL pool, when the hub runs on PostgreSQL; else the memory store. */
  pool?: pg.Pool | undefined;
}

const MAX_TALLIED_KEYS = 10_000;

export class RateLimitService {
  private readonly limiters: Record<LimitName, { limiter: LeasedLimit; policy: RateLimitPolicy }>;
  /** Refusals this instance answered per key since it last audited one (see the note above). */
  private readonly tally = new Map<string, number>();

  constructor(private readonly deps: RateLimitDeps) {
    const { token, api } = deps.limits;
    const make = (name: LimitName, points: number, windowSeconds: number) => {
      const options = { keyPrefix: name, points, duration: windowSeconds };
      const store =
        deps.pool === undefined
          ? new RateLimiterMemory(options)
          : new RateLimiterPostgres({ ...options, storeClient: deps.pool, storeType: 'pool', tableName: 'rate_limits', tableCreated: true });
      return { limiter: new LeasedLimit(store, points), policy: { points, windowSeconds } };
    };
    this.limiters = {
      'token-client': make('token-client', token.perClient, token.windowSeconds),
      'token-address': make('token-address', token.perAddress, token.windowSeconds),
      'api-client': make('api-client', api.perClient, api.windowSeconds),
      'api-address': make('api-address', api.perAddress, api.windowSeconds),
    };
  }

  /**
   * Counts one request against a limit. Over the limit, the first refusal of
   * the window is audited (a login event for the token endpoint, else a REST
   * event for the interaction); later ones in the window only counted.
   */
  async consume(name: LimitName, key: string, meta: RequestMeta, requester: AuditRequester, interaction?: RestInteraction): Promise<RateCheck> {
    const { limiter, policy } = this.limiters[name];
    // A store fault (a busy pool) is not a refusal: it reaches the error handler (503 when transient).
    const place = await limiter.place(key.slice(0, 200));
    const state: LimitState = {
      name,
      policy,
      remaining: Math.max(0, policy.points - place.position),
      resetSeconds: Math.max(1, Math.ceil(place.msBeforeNext / 1000)),
    };
    if (place.position <= policy.points) return { ok: true, state };
    const tallyKey = `${name}:${key}`;
    const earlier = this.tally.get(tallyKey) ?? 0;
    this.tally.delete(tallyKey);
    if (place.position === policy.points + 1) {
      this.tally.set(tallyKey, 1);
      const desc =
        `rate limited (${name}: ${policy.points} requests per ${policy.windowSeconds} s) for ${key}; ` +
        'further refusals in this window are not audited one by one' +
        (earlier > 0 ? `; ${earlier} requests were refused by this instance in earlier windows` : '');
      await this.deps.audit.transaction(this.deps.db, (tx) =>
        interaction === undefined
          ? this.deps.audit.login(tx, meta, requester, { outcome: 'minor-failure', outcomeDesc: desc })
          : this.deps.audit.rest(tx, meta, requester, { interaction, outcome: 'minor-failure', outcomeDesc: desc }),
      );
      this.deps.logger.warn({ limit: name, requestId: meta.requestId }, 'rate limit reached');
    } else {
      this.tally.set(tallyKey, earlier + 1);
    }
    if (this.tally.size > MAX_TALLIED_KEYS) {
      const oldest = this.tally.keys().next();
      if (oldest.done !== true) this.tally.delete(oldest.value);
    }
    return { ok: false, state, retryAfterSeconds: state.resetSeconds };
  }
}
