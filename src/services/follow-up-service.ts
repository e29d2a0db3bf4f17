import type { Task } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { Tx } from '../db/database.js';
import { listOrganisationFacts, type OrganisationFacts } from '../db/disclosure-queries.js';
import { findTasks, type TaskFilter } from '../db/follow-up-queries.js';
import { lockIdentity } from '../db/ingest-queries.js';
import { organisationsByCode, type OrganisationEntry } from '../db/notice-queries.js';
import { writeVersion, type StoredResource } from '../db/resource-queries.js';
import { contentForRules, seal } from '../db/undisclosed.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { validateAgainstProfile } from '../fhir/profiles.js';
import {
  buildFollowUpTask,
  closeTask,
  FOLLOW_UP_KEY_SYSTEM,
  followUpKey,
  isOpen,
  kindOf,
  nextEpisode,
  RAISED_ONLY_BY_THE_JOB,
  type FollowUpKind,
  type FollowUpSpec,
  type Party,
  type RaiseCause,
  type TaskClose,
} from '../followup/follow-up-task.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';
import type { AuditRecorder, RequestMeta } from './audit-recorder.js';
import type { DisclosureService, KnownSubjectFacts } from './disclosure-service.js';

// The shell of follow-up work: the hub raises, closes and escalates its Tasks
// in the transaction of whatever caused them, and audits each change as its
// own (organisation EYHUB). Tasks leave the hub only through the decision,
// like every record: src/decision/decide.ts sends a Task only with its focus.

export interface FollowUpDeps {
  audit: AuditRecorder;
  /** When the hub records a version (meta.lastUpdated, what `_lastUpdated` searches find), and by default when work is dated. */
  clock: () => Date;
  /**
   * When the work written is dated (Task.authoredOn, executionPeriod, lastModified, note times):
   * the follow-up job's as-of day (followup/follow-up-rules.ts asOfClock). Default `clock`. The
   * store's meta.lastUpdated stays `clock`, so a run for a past day is still found by partners
   * polling with `_lastUpdated`.
   */
  taskClock?: () => Date;
  protocols: readonly LoadedProtocol[];
  disclosure: DisclosureService;
}

export interface FollowUpFilter extends TaskFilter {
  kinds?: readonly FollowUpKind[] | undefined;
}

export type FollowUpClose = TaskClose;

export interface RaiseOptions {
  /** Why (default: the rules call for the work); an escalation is a new request whatever came before. */
  cause?: RaiseCause;
  /** The day judged (the job's as-of day; default today by the clock). */
  asOf?: string;
  /** Raised by the follow-up job, which holds its run lock (follow-up-job.ts). */
  underRunLock?: boolean;
  /**
   * Every spec's focus was created by this transaction, under an id it minted: no other transaction can raise
   * work about it, and none is held, so the key is neither locked nor looked for.
   */
  newFocus?: boolean;
  /** The hub's party, when this transaction has read it. */
  hub?: HubParty | undefined;
}

/**
 * Idempotent: a spec whose kind, focus and owner has an open Task is left
 * alone; one whose last Task closed raises a new episode only as nextEpisode
 * says (follow-up-task.ts). Raisers of one key are serialised across
 * instances until commit: by a lock on the key, or, for a kind only the job
 * raises, by the job's run lock. A run raises thousands of Tasks in one
 * transaction, and PostgreSQL's lock table holds max_locks_per_transaction
 * (64) per connection: a lock per Task overflowed it at 100,000 children.
 * Returns the Tasks written.
 */
export async function raiseFollowUps(deps: FollowUpDeps, tx: Tx, meta: RequestMeta, specs: readonly FollowUpSpec[], options: RaiseOptions = {}): Promise<StoredResource[]> {
  if (specs.length === 0) return [];
  const now = deps.clock();
  const asOf = options.asOf ?? taskNow(deps).toISOString().slice(0, 10);
  const unique = new Map(specs.map((spec) => [followUpKey(spec), spec] as const));
  let hub = options.hub;
  const rows: StoredResource[] = [];
  for (const [key, spec] of [...unique].sort(([a], [b]) => a.localeCompare(b))) {
    if (RAISED_ONLY_BY_THE_JOB.has(spec.kind) && options.underRunLock !== true) throw new Error(`a ${spec.kind} Task is raised only by the follow-up job, under its run lock`);
    if (!RAISED_ONLY_BY_THE_JOB.has(spec.kind) && options.newFocus !== true) await lockIdentity(tx, `Task|${FOLLOW_UP_KEY_SYSTEM}|${key}`);
    const held = options.newFocus === true ? [] : await findTasks(tx, { focus: spec.focus, owner: spec.owner.code });
    const existing = held.filter((row) => row.sourceOrg === HUB_ORGANISATION && kindOf(taskOf(row)) === spec.kind);
    const episode = nextEpisode(existing.map(taskOf), options.cause ?? 'condition', asOf);
    if (episode === undefined) continue;
    hub ??= await hubParty(tx);
    const row = hubVersion(buildFollowUpTask(randomUUID(), spec, hub.party, episode, options.cause), undefined, now);
    await writeVersion(tx, row);
    rows.push(row);
  }
  if (hub !== undefined) await auditHub(deps, tx, meta, hub, 'create', rows, 'follow-up raised');
  return rows;
}

/** Closes the open Tasks matching `where`. Returns the new versions. */
export async function closeFollowUps(deps: FollowUpDeps, tx: Tx, meta: RequestMeta, where: FollowUpFilter, close: FollowUpClose): Promise<StoredResource[]> {
  const open = await openFollowUps(tx, where);
  if (open.length === 0) return [];
  const hub = await hubParty(tx);
  const now = deps.clock();
  const at = taskNow(deps);
  const rows = open.map((row) => hubVersion(closeTask(taskOf(row), close, at, hub.party.name ?? HUB_ORGANISATION), row, now));
  for (const row of rows) await writeVersion(tx, row);
  await auditHub(deps, tx, meta, hub, 'update', rows, `follow-up ${close.status}: ${close.businessStatus}`);
  return rows;
}

/** Writes a new version of a Task the hub changed itself (an escalation, a move), audited as the hub's update. */
export async function rewriteFollowUps(deps: FollowUpDeps, tx: Tx, meta: RequestMeta, changes: readonly { row: StoredResource; task: Task }[], what: string): Promise<StoredResource[]> {
  if (changes.length === 0) return [];
  const hub = await hubParty(tx);
  const now = deps.clock();
  const rows = changes.map(({ row, task }) => hubVersion(task, row, now));
  for (const row of rows) await writeVersion(tx, row);
  await auditHub(deps, tx, meta, hub, 'update', rows, what);
  return rows;
}

/** The hub's open Tasks matching every filter given. */
export async function openFollowUps(tx: Tx, where: FollowUpFilter): Promise<StoredResource[]> {
  const rows = await findTasks(tx, where);
  return rows.filter((row) => {
    if (row.sourceOrg !== HUB_ORGANISATION) return false;
    const task = taskOf(row);
    const kind = kindOf(task);
    return isOpen(task) && kind !== undefined && (where.kinds === undefined || where.kinds.includes(kind));
  });
}

/**
 * Would the owner be permitted to see a Task built from this spec, for this purpose, now? The hub raises work
 * only for an organisation its flow carries the work to (a children's centre in catchment, no objection, a
 * focus it may see): work it could not read would be a record nobody acts on.
 */
export async function ownerMaySee(deps: FollowUpDeps, tx: Tx, spec: FollowUpSpec, purpose: string): Promise<boolean> {
  return (await ownersMaySee(deps, tx, [{ spec, purpose }])).length === 1;
}

/**
 * The follow-ups whose owners may see them (ownerMaySee for each), decided together: the registry, the focus
 * and the child's facts are read once for all the owners, and each owner's own copy of the Task is decided.
 * `read`: what this transaction has read already (the registry, the hub's party) or written (the focuses' current
 * versions), not read again.
 */
export async function ownersMaySee(
  deps: FollowUpDeps,
  tx: Tx,
  wanted: readonly { spec: FollowUpSpec; purpose: string }[],
  read: { organisations?: Map<string, OrganisationFacts>; hub?: HubParty; focuses?: readonly StoredResource[]; subjects?: KnownSubjectFacts | undefined } = {},
): Promise<FollowUpSpec[]> {
  if (wanted.length === 0) return [];
  const organisations = read.organisations ?? (await listOrganisationFacts(tx));
  const hub = read.hub ?? (await hubParty(tx));
  const asks = wanted.flatMap(({ spec, purpose }) => {
    const ctx = deps.disclosure.contextAmong(organisations, spec.owner.code, purpose, undefined);
    return ctx === undefined ? [] : [{ spec, ctx, rows: [hubVersion(buildFollowUpTask(randomUUID(), spec, hub.party), undefined, deps.clock())] }];
  });
  const judged = await deps.disclosure.judgeAmong(tx, asks, read.focuses, read.subjects);
  return asks.filter((_, i) => judged[i]?.[0]?.decision.effect === 'permit').map(({ spec }) => spec);
}

/** The time work is dated by (taskClock, else clock). */
export function taskNow(deps: FollowUpDeps): Date {
  return (deps.taskClock ?? deps.clock)();
}

export function taskOf(row: StoredResource): Task {
  return contentForRules(row.content) as Task;
}

/** The hub as the party that raises and audits follow-up work. */
export interface HubParty {
  party: Party;
  type: string | undefined;
}

async function hubParty(tx: Tx): Promise<HubParty> {
  return hubPartyIn(await organisationsByCode(tx, [HUB_ORGANISATION]));
}

/** The hub's party from a registry read that asked for HUB_ORGANISATION with other codes. */
export function hubPartyIn(registry: ReadonlyMap<string, OrganisationEntry>): HubParty {
  const hub = registry.get(HUB_ORGANISATION);
  return { party: { system: hub?.system ?? 'urn:eastside:organisation', code: HUB_ORGANISATION, name: hub?.name }, type: hub?.type };
}

function hubVersion(task: Task, found: StoredResource | undefined, now: Date): StoredResource {
  const versionId = (found?.versionId ?? 0) + 1;
  const id = task.id ?? found?.id ?? randomUUID();
  const content: Task = { ...task, id, meta: { versionId: String(versionId), lastUpdated: now.toISOString() } };
  // What the hub writes itself must meet the profiles too: a failure here is a bug, and fails the transaction.
  const valid = validateAgainstProfile(content);
  if (!valid.ok) throw new Error(`follow-up Task fails validation: ${valid.problem.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; ')}`);
  return { type: 'Task', id, versionId, lastUpdated: now, sourceOrg: HUB_ORGANISATION, content: seal(content) };
}

async function auditHub(deps: FollowUpDeps, tx: Tx, meta: RequestMeta, hub: HubParty, interaction: 'create' | 'update', rows: readonly StoredResource[], what: string): Promise<void> {
  if (rows.length === 0) return;
  await deps.audit.rest(tx, { requestId: meta.requestId }, { organisationCode: HUB_ORGANISATION, organisationSystem: hub.party.system, organisationType: hub.type }, {
    interaction,
    outcome: 'success',
    outcomeDesc: `${what}: ${rows.map((r) => `Task/${r.id} for ${taskOf(r).owner?.identifier?.value ?? 'nobody'}`).join(', ')}`,
    resourceType: 'Task',
    resources: rows.map((r) => `Task/${r.id}/_history/${r.versionId}`),
    patients: [...new Set(rows.flatMap((r) => (taskOf(r).for?.reference === undefined ? [] : [taskOf(r).for?.reference ?? ''])))],
  });
}
