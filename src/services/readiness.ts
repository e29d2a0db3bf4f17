import type { Db } from '../db/database.js';
import { latestAppliedMigration, oldestUnsequencedEvent } from '../db/health-queries.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';

// Whether this instance should be sent traffic (a load balancer's /readyz).
// The answer names each check and whether it passed: no counts, versions,
// addresses or error text, since /readyz needs no token.

export type ReadinessCheck = 'accepting' | 'database' | 'migrations' | 'protocols' | 'sequencer';

export interface Readiness {
  ready: boolean;
  checks: Record<ReadinessCheck, 'ok' | 'fail'>;
}

export interface ReadinessDeps {
  db: Db;
  clock: () => Date;
  protocols: readonly LoadedProtocol[];
  /** The newest migration this build ships (its journal `when`). */
  shippedMigration: number;
  /** The longest an audit event may wait for its place in the log before the instance is not ready. */
  maxSequencerLagMs: number;
  /** True once shutdown has begun: the balancer should stop sending new requests. */
  stopping: () => boolean;
}

export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  const checks: Readiness['checks'] = {
    accepting: deps.stopping() ? 'fail' : 'ok',
    database: 'fail',
    migrations: 'fail',
    // Every protocol was read and its signatures checked at start; none at all means nothing can be shared.
    protocols: deps.protocols.length > 0 ? 'ok' : 'fail',
    sequencer: 'fail',
  };
  try {
    const applied = await latestAppliedMigration(deps.db);
    checks.database = 'ok';
    checks.migrations = applied !== undefined && applied >= deps.shippedMigration ? 'ok' : 'fail';
    const oldest = await oldestUnsequencedEvent(deps.db);
    checks.sequencer = oldest === undefined || deps.clock().getTime() - oldest.getTime() <= deps.maxSequencerLagMs ? 'ok' : 'fail';
  } catch {
    // Unreachable, or too busy to answer: not ready. The checks not reached stay 'fail'.
  }
  return { ready: Object.values(checks).every((c) => c === 'ok'), checks };
}
