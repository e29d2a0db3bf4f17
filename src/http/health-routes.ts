import { Router } from 'express';
import type { Readiness } from '../services/readiness.js';

// Probes for load balancers and supervisors, with no token: /livez says the
// process answers (restart it if not); /readyz says it should be sent traffic
// (database reachable, migrations applied, protocols loaded, the audit
// sequencer keeping up, not shutting down). Both reveal only pass or fail.
// See: https://kubernetes.io/docs/reference/using-api/health-checks/

export function healthRouter(readiness: () => Promise<Readiness>): Router {
  const router = Router();
  router.get('/livez', (_req, res) => {
    res.json({ status: 'live' });
  });
  router.get('/readyz', async (_req, res) => {
    const answer = await readiness();
    res.status(answer.ready ? 200 : 503).json({ status: answer.ready ? 'ready' : 'not-ready', checks: answer.checks });
  });
  return router;
}
