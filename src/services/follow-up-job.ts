import { randomUUID } from 'node:crypto';
import { tryFollowUpRunLock } from '../db/follow-up-queries.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import type { RequestMeta } from './audit-recorder.js';
import { exceptionReports } from './follow-up-exceptions.js';
import { escalations, movesAndDeaths } from './follow-up-moves.js';
import { scanOverdueDoses } from './follow-up-overdue-scan.js';
import { asOfClock } from '../followup/follow-up-rules.js';
import { FollowUpRunContext, type FollowUpJobDeps, type FollowUpRun } from './follow-up-run.js';

// The follow-up job, the imperative shell around followup/follow-up-rules.ts.
// For one as-of day it raises overdue-dose Tasks for children covered by a
// complete history (follow-up-overdue-scan.ts), raises and closes the
// exception reports (follow-up-exceptions.ts), moves or closes Tasks of
// children who moved or died, and escalates Tasks nobody accepted in time
// (follow-up-moves.ts). One run at a time across instances (an advisory lock
// held by the run's one transaction); every Task is keyed (followUpKey, with
// its episode), so a re-run changes nothing.

export type { FollowUpJobDeps, FollowUpRun } from './follow-up-run.js';

export const DEFAULT_ESCALATE_AFTER_DAYS = 14;

const HUB_REQUESTER = { organisationCode: HUB_ORGANISATION, clientId: 'follow-up-job' } as const;

export async function runFollowUpJob(deps: FollowUpJobDeps, asOf: string, meta: RequestMeta = { requestId: `follow-up-job-${randomUUID()}` }): Promise<FollowUpRun> {
  return deps.audit.transaction(deps.db, async (tx) => {
    const run: FollowUpRun = { asOf, ran: false, raised: [], closed: [], escalated: [], lines: [] };
    if (!(await tryFollowUpRunLock(tx))) {
      await deps.audit.rest(tx, meta, HUB_REQUESTER, { interaction: 'operation', outcome: 'success', outcomeDesc: `follow-up job as of ${asOf}: skipped, another instance is running it` });
      return run;
    }
    run.ran = true;
    // Everything the run raises, escalates, cancels or completes is dated on its as-of day.
    const ctx = new FollowUpRunContext({ ...deps, taskClock: asOfClock(deps.clock, asOf) }, tx, meta, asOf, run);
    await ctx.load();
    await scanOverdueDoses(ctx);
    await exceptionReports(ctx);
    await movesAndDeaths(ctx);
    await escalations(ctx);
    await deps.audit.rest(tx, meta, HUB_REQUESTER, {
      interaction: 'operation',
      outcome: 'success',
      outcomeDesc: `follow-up job as of ${asOf}: ${run.raised.length} raised, ${run.closed.length} closed, ${run.escalated.length} escalated`,
      resources: [...run.raised, ...run.closed, ...run.escalated],
      patients: [...new Set(ctx.touchedPatients)],
    });
    return run;
  });
}
