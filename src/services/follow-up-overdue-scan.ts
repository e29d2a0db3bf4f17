import type { ImmunizationRecommendation, List, Patient, Task } from 'fhir/r4.js';
import { childRecords, currentWithIdentifierSystem } from '../db/follow-up-queries.js';
import type { StoredResource } from '../db/resource-queries.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { HISTORY_ID_SYSTEM, isCompleteHistory } from '../followup/complete-history.js';
import { overdueDoseSpecs, scheduleInEffect } from '../followup/follow-up-rules.js';
import { isOpen, kindOf, nextEpisode } from '../followup/follow-up-task.js';
import { assessDoses, doseKey, RECOMMENDATION_ID_SYSTEM } from '../followup/overdue-doses.js';
import type { Schedule } from '../followup/schedule-schema.js';
import { content, type FollowUpRunContext } from './follow-up-run.js';
import { completeGivenDoses, forecastIs, overdueRecommendation, scheduleRecords } from './overdue-dose-tasks.js';

// The job's overdue scan: every child a practice has sent a complete history
// of (never a partial record) is assessed against the schedule in effect on
// the day; doses since given complete their work, overdue doses get a
// recommendation and work for the health visitors. Set-based: the facts of a
// batch of children are read in a few queries, and a child whose work is
// already as it should be costs no query at all.

/** Children read together (each batch: seven index and key lookups). */
const BATCH = 500;

export async function scanOverdueDoses(ctx: FollowUpRunContext): Promise<void> {
  const schedule = scheduleInEffect(ctx.deps.schedules, ctx.asOf);
  if (schedule === undefined) {
    ctx.run.lines.push(`no schedule in effect on ${ctx.asOf}: overdue doses not checked`);
    return;
  }
  const lists = await currentWithIdentifierSystem(ctx.tx, 'List', HISTORY_ID_SYSTEM);
  const children = [...new Set(lists.map((r) => content(r) as List).filter(isCompleteHistory).flatMap((l) => (l.subject?.reference === undefined ? [] : [l.subject.reference])))].sort();
  for (let i = 0; i < children.length; i += BATCH) await scanBatch(ctx, schedule, children.slice(i, i + BATCH));
}

async function scanBatch(ctx: FollowUpRunContext, schedule: Schedule, children: readonly string[]): Promise<void> {
  const records = await childRecords(ctx.tx, children.filter((c) => c.startsWith('Patient/')));
  for (const child of children) {
    const row = records.patients.get(child);
    const patient = row === undefined ? undefined : (content(row) as Patient);
    if (patient?.birthDate === undefined) continue;
    const findings = assessDoses(schedule, patient.birthDate, scheduleRecords(ctx.deps.protocols, ctx.facts, records.immunizations.get(child) ?? []), ctx.asOf);
    const work = (records.tasks.get(child) ?? []).filter((r) => r.sourceOrg === HUB_ORGANISATION && kindOf(content(r) as Task) === 'overdue-dose');
    const recommendations = (records.recommendations.get(child) ?? []).filter((r) => r.sourceOrg === HUB_ORGANISATION);
    const byFocus = new Map(recommendations.map((r) => [`ImmunizationRecommendation/${r.id}`, r]));
    const open = work.filter((r) => isOpen(content(r) as Task));
    if (open.length > 0) {
      for (const closed of await completeGivenDoses(ctx.deps, ctx.tx, ctx.meta, ctx.asOf, child, findings, open, byFocus)) ctx.noteRow('closed (dose-given)', closed, ctx.run.closed);
    }
    if (findings.assessment === undefined || findings.overdue.length === 0 || !ctx.mayRaiseFor(patient)) continue;
    const byKey = new Map(recommendations.flatMap((r) => ((content(r) as ImmunizationRecommendation).identifier ?? []).filter((i) => i.system === RECOMMENDATION_ID_SYSTEM).map((i) => [i.value ?? '', r] as const)));
    for (const dose of findings.overdue) {
      const found = byKey.get(`${child}|${doseKey(dose)}`);
      if (found !== undefined && settled(ctx, found, work)) continue;
      const recommendation = await overdueRecommendation(ctx.deps, ctx.tx, ctx.meta, schedule, child, findings.assessment, dose, found);
      await ctx.raise(overdueDoseSpecs(dose, child, recommendation, ctx.healthVisitors, ctx.now()));
    }
  }
}

/** The overdue dose's recommendation reads overdue and no health visitor's work on it is due a new episode: nothing to write. */
function settled(ctx: FollowUpRunContext, recommendation: StoredResource, work: readonly StoredResource[]): boolean {
  if (!forecastIs(recommendation, 'overdue')) return false;
  const focus = `ImmunizationRecommendation/${recommendation.id}`;
  return ctx.healthVisitors.every((hv) => {
    const tasks = work.map((r) => content(r) as Task).filter((t) => t.focus?.reference === focus && t.owner?.identifier?.value === hv.code);
    return nextEpisode(tasks, 'condition', ctx.asOf) === undefined;
  });
}
