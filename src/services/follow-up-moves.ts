import type { Task } from 'fhir/r4.js';
import { currentOfType } from '../db/follow-up-queries.js';
import type { StoredResource } from '../db/resource-queries.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { escalated, moveAction, needsEscalation, specFor, type SubjectWhereabouts } from '../followup/follow-up-rules.js';
import { isOpen, kindOf } from '../followup/follow-up-task.js';
import { openFollowUps, ownerMaySee, rewriteFollowUps } from './follow-up-service.js';
import { content, whereabouts, type FollowUpRunContext } from './follow-up-run.js';

// The job's care for work already raised: Tasks of a child who moved follow
// the child to the centre whose catchment now holds it (or close when no
// partner's does, or the child died); Tasks nobody accepted in time are
// escalated to the health visitors.

/** A child who moved: centre Tasks follow to the new centre's catchment (if its flow permits); out of every catchment, or died: closed. */
export async function movesAndDeaths(ctx: FollowUpRunContext): Promise<void> {
  const subjects = new Map<string, SubjectWhereabouts | undefined>();
  for (const row of await allOpen(ctx)) {
    const task = content(row) as Task;
    const subject = task.for?.reference;
    const kind = kindOf(task);
    const owner = task.owner?.identifier?.value;
    if (subject === undefined || kind === undefined || owner === undefined) continue;
    if (!subjects.has(subject)) subjects.set(subject, whereabouts(await ctx.patient(subject)));
    const where = subjects.get(subject);
    if (where === undefined) continue;
    const action = moveAction(task, where, ctx.centres);
    const focus = task.focus?.reference;
    const mine = { ...(focus === undefined ? {} : { focus }), subject, owner, kinds: [kind] };
    switch (action.action) {
      case 'stay':
        break;
      case 'transfer': {
        const spec = specFor(task, action.to, ctx.now());
        if (spec !== undefined && (await ownerMaySee(ctx.deps, ctx.tx, spec, 'immunisation-follow-up'))) await ctx.raise([spec]);
        await ctx.close(mine, 'cancelled', 'moved-to-another-centre', "The child has moved to another children's centre's area");
        await ctx.noticeClosed(row, owner, 'moved-to-another-centre');
        break;
      }
      case 'close':
        await ctx.close(
          mine,
          'cancelled',
          action.businessStatus,
          action.businessStatus === 'moved-away' ? "Closed by the hub: the child has moved out of every partner's area" : 'Closed by the hub: no longer needed',
        );
        if (action.businessStatus === 'moved-away') await ctx.noticeClosed(row, owner, 'moved-away');
        break;
    }
  }
}

/** Tasks nobody accepted in time: marked escalated, and the health visitors get their own if they have none open for that focus. */
export async function escalations(ctx: FollowUpRunContext): Promise<void> {
  const days = ctx.deps.escalateAfterDays;
  for (const row of await allOpen(ctx)) {
    const task = content(row) as Task;
    if (!needsEscalation(task, ctx.asOf, days)) continue;
    const now = ctx.now();
    const [updated] = await rewriteFollowUps(ctx.deps, ctx.tx, ctx.meta, [{ row, task: escalated(task, days, now, ctx.hubName) }], `follow-up escalated: not accepted within ${days} days`);
    if (updated === undefined) continue;
    ctx.noteRow('escalated', updated, ctx.run.escalated);
    const focus = task.focus?.reference;
    if (focus === undefined) continue;
    for (const hv of ctx.healthVisitors) {
      if ((await openFollowUps(ctx.tx, { focus, owner: hv.code })).length > 0) continue;
      const spec = specFor(task, hv, now);
      if (spec !== undefined && (await ownerMaySee(ctx.deps, ctx.tx, spec, 'direct-care'))) await ctx.raise([spec], 'escalation');
    }
  }
}

/** Every open Task the hub has raised (the rules decide which move or escalate). */
async function allOpen(ctx: FollowUpRunContext): Promise<StoredResource[]> {
  return (await currentOfType(ctx.tx, 'Task')).filter((row) => row.sourceOrg === HUB_ORGANISATION && isOpen(content(row) as Task));
}
