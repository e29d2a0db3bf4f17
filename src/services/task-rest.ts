import type { Task } from 'fhir/r4.js';
import type { Principal } from '../auth/principal.js';
import type { Tx } from '../db/database.js';
import { writeVersion, type StoredResource } from '../db/resource-queries.js';
import { patientsOfStored, seal } from '../db/undisclosed.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { problem } from '../fhir/operation-outcome.js';
import { ownerChange, ownerCodeOf } from '../followup/follow-up-task.js';
import { organisationsByCode } from '../db/notice-queries.js';
import { requesterOf, type RequestMeta } from './audit-recorder.js';
import { recordDecisions, versionConflict, versionedReference, type DecisionAuditDeps } from './decision-audit.js';
import type { DisclosureService } from './disclosure-service.js';
import { toResult, type FhirResult } from './fhir-result.js';
import { taskOf } from './follow-up-service.js';

// The owner of a follow-up Task moves it on (accepted, in progress, completed,
// cancelled) and adds notes, with PUT /fhir/Task/{id} and scope Task.u. Only
// those elements: the rest is the hub's (follow-up-task.ts ownerChange). The
// hub keeps writing the record (its own follow-up work); the AuditEvent names
// the owner's client as the one who changed it. To anyone but the owner, the
// Task answers an update as an unknown record does.

export interface TaskRestDeps extends DecisionAuditDeps {
  disclosure: DisclosureService;
  fhirBase: string;
}

/** Is this stored Task the hub's own follow-up work (written by the hub alone)? */
export function isHubTask(row: StoredResource): boolean {
  return row.type === 'Task' && (row.sourceOrgs ?? [row.sourceOrg]).every((o) => o === HUB_ORGANISATION);
}

export async function updateFollowUp(deps: TaskRestDeps, tx: Tx, principal: Principal, meta: RequestMeta, current: StoredResource, submitted: Task, expectedVersion: number | undefined): Promise<FhirResult> {
  const ctx = await deps.disclosure.context(tx, principal, meta.overrideReason);
  const [judged] = await deps.disclosure.judge(tx, ctx, [current]);
  if (judged === undefined) throw new Error('no decision for a record');
  const owner = ownerCodeOf(taskOf(current));
  if (judged.decision.effect === 'deny' || judged.body === undefined || owner !== principal.organisationCode) {
    if (judged.decision.effect === 'deny') await recordDecisions(deps, tx, principal, meta, [judged]);
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'update',
      outcome: 'minor-failure',
      outcomeDesc: judged.decision.effect === 'deny' ? `denied: ${judged.decision.reason}` : 'denied: not-the-owner',
      resourceType: 'Task',
      resources: [versionedReference(current)],
    });
    return toResult(problem(404, 'not-found', `Task/${current.id} is not known; this server does not create resources on update`));
  }
  const conflict = await versionConflict(deps.audit, tx, principal, meta, current, expectedVersion);
  if (conflict !== undefined) return conflict;
  const now = deps.clock();
  const name = (await organisationsByCode(tx, [principal.organisationCode])).get(principal.organisationCode)?.name ?? principal.organisationCode;
  const change = ownerChange(taskOf(current), judged.body as Task, submitted, now, name);
  if (!change.ok) {
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'update',
      outcome: 'minor-failure',
      outcomeDesc: `refused: ${change.message}`,
      resources: [versionedReference(current)],
      patients: patientsOfStored(current),
    });
    return toResult(problem(change.status, change.status === 409 ? 'conflict' : 'business-rule', change.message, change.element));
  }
  let row = current;
  if (change.changed) {
    const versionId = current.versionId + 1;
    const content: Task = { ...change.task, meta: { versionId: String(versionId), lastUpdated: now.toISOString() } };
    row = { type: 'Task', id: current.id, versionId, lastUpdated: now, sourceOrg: HUB_ORGANISATION, content: seal(content) };
    await writeVersion(tx, row);
  }
  await deps.audit.rest(tx, meta, requesterOf(principal), {
    interaction: 'update',
    outcome: 'success',
    outcomeDesc: change.changed ? `the owner moved the follow-up to ${change.task.status}` : 'nothing changed',
    resources: [versionedReference(row)],
    patients: patientsOfStored(row),
  });
  const [answer] = await deps.disclosure.judge(tx, ctx, [row]);
  if (answer === undefined) throw new Error('no decision for a record');
  await recordDecisions(deps, tx, principal, meta, [answer]);
  return {
    status: 200,
    ...(answer.body === undefined ? {} : { body: answer.body }),
    headers: { ETag: `W/"${row.versionId}"`, 'Last-Modified': row.lastUpdated.toUTCString(), 'Content-Location': `${deps.fhirBase}/Task/${row.id}/_history/${row.versionId}` },
  };
}
