import type { Task } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { Tx } from '../db/database.js';
import { currentOfType } from '../db/follow-up-queries.js';
import { findByIdentifier } from '../db/ingest-queries.js';
import { writeVersion, type StoredResource } from '../db/resource-queries.js';
import { contentForRules, seal } from '../db/undisclosed.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { buildFollowUpTask, FOLLOW_UP_KEY_SYSTEM, FOLLOW_UP_STATUS_SYSTEM, FOLLOW_UP_SYSTEM, followUpKey, type FollowUpBusinessStatus, type FollowUpKind, type FollowUpSpec } from '../followup/follow-up-task.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';
import type { AuditRecorder, RequestMeta } from './audit-recorder.js';
import type { DisclosureService } from './disclosure-service.js';

// TEMPORARY stub of the lead's contract (notes: task contract); replaced by merging main.

export interface FollowUpDeps {
  audit: AuditRecorder;
  clock: () => Date;
  protocols: readonly LoadedProtocol[];
  disclosure: DisclosureService;
}

interface Where {
  focus?: string;
  subject?: string;
  kinds?: readonly FollowUpKind[];
  owner?: string;
}

const HUB = { system: 'urn:eastside:org', code: HUB_ORGANISATION };

export async function raiseFollowUps(deps: FollowUpDeps, tx: Tx, meta: RequestMeta, specs: readonly FollowUpSpec[]): Promise<StoredResource[]> {
  const rows: StoredResource[] = [];
  for (const spec of specs) {
    if ((await findByIdentifier(tx, 'Task', FOLLOW_UP_KEY_SYSTEM, followUpKey(spec))) !== undefined) continue;
    const now = deps.clock();
    const id = randomUUID();
    const task = { ...buildFollowUpTask(id, spec, HUB), meta: { versionId: '1', lastUpdated: now.toISOString() } };
    const row: StoredResource = { type: 'Task', id, versionId: 1, lastUpdated: now, sourceOrg: HUB_ORGANISATION, content: seal(task) };
    await writeVersion(tx, row);
    await deps.audit.rest(tx, meta, { organisationCode: HUB_ORGANISATION }, { interaction: 'create', outcome: 'success', resources: [`Task/${id}/_history/1`], patients: [spec.subject] });
    rows.push(row);
  }
  return rows;
}

export async function openFollowUps(tx: Tx, where: Where): Promise<StoredResource[]> {
  return (await currentOfType(tx, 'Task')).filter((r) => {
    const t = contentForRules(r.content) as Task;
    if (!['requested', 'accepted', 'in-progress', 'on-hold'].includes(t.status)) return false;
    if (where.focus !== undefined && t.focus?.reference !== where.focus) return false;
    if (where.subject !== undefined && t.for?.reference !== where.subject) return false;
    if (where.owner !== undefined && t.owner?.identifier?.value !== where.owner) return false;
    const kind = t.code?.coding?.find((c) => c.system === FOLLOW_UP_SYSTEM)?.code as FollowUpKind | undefined;
    return where.kinds === undefined || (kind !== undefined && where.kinds.includes(kind));
  });
}

export async function closeFollowUps(
  deps: FollowUpDeps,
  tx: Tx,
  meta: RequestMeta,
  where: Where,
  close: { status: 'completed' | 'cancelled'; businessStatus: FollowUpBusinessStatus; note?: string },
): Promise<StoredResource[]> {
  const rows: StoredResource[] = [];
  for (const open of await openFollowUps(tx, where)) {
    const now = deps.clock();
    const t = contentForRules(open.content) as Task;
    const versionId = open.versionId + 1;
    const next: Task = {
      ...t,
      status: close.status,
      businessStatus: { coding: [{ system: FOLLOW_UP_STATUS_SYSTEM, code: close.businessStatus }] },
      lastModified: now.toISOString(),
      executionPeriod: { ...t.executionPeriod, end: now.toISOString() },
      ...(close.note === undefined ? {} : { note: [...(t.note ?? []), { text: close.note, time: now.toISOString() }] }),
      meta: { versionId: String(versionId), lastUpdated: now.toISOString() },
    };
    const row: StoredResource = { type: 'Task', id: open.id, versionId, lastUpdated: now, sourceOrg: HUB_ORGANISATION, content: seal(next) };
    await writeVersion(tx, row);
    await deps.audit.rest(tx, meta, { organisationCode: HUB_ORGANISATION }, { interaction: 'update', outcome: 'success', resources: [`Task/${open.id}/_history/${versionId}`] });
    rows.push(row);
  }
  return rows;
}

export async function ownerMaySee(_deps: FollowUpDeps, _tx: Tx, _spec: FollowUpSpec, _purpose: string): Promise<boolean> {
  return Promise.resolve(true);
}
