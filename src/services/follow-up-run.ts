import type { FhirResource, Patient, Task } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { Db, Tx } from '../db/database.js';
import { listOrganisationFacts, type OrganisationFacts } from '../db/disclosure-queries.js';
import { organisationsOfTypes, type OwnerOrganisation } from '../db/follow-up-queries.js';
import { organisationsByCode } from '../db/notice-queries.js';
import { readCurrent, writeVersion, type StoredResource } from '../db/resource-queries.js';
import { contentForRules, seal } from '../db/undisclosed.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { postcodeDistrict } from '../fhir/resource-types.js';
import { followUpClosedNotice } from '../followup/follow-up-notice.js';
import type { Organisation, SubjectWhereabouts } from '../followup/follow-up-rules.js';
import { kindOf, type FollowUpBusinessStatus, type FollowUpKind, type FollowUpSpec, type RaiseCause } from '../followup/follow-up-task.js';
import type { RequestMeta } from './audit-recorder.js';
import { closeFollowUps, raiseFollowUps, taskNow } from './follow-up-service.js';
import type { OverdueDoseDeps } from './overdue-dose-tasks.js';

// One run of the follow-up job: what every step shares. The organisations
// that own follow-up work, the run's record of what changed, and the writes
// every step makes the same way (raise, close, tell a centre its Task closed).

export interface FollowUpJobDeps extends OverdueDoseDeps {
  db: Db;
  /** A Task still `requested` this many days after it was raised is escalated (ESCALATE_AFTER_DAYS). */
  escalateAfterDays: number;
}

export interface FollowUpRun {
  asOf: string;
  /** False when another instance's run held the lock: this one changed nothing. */
  ran: boolean;
  raised: string[];
  closed: string[];
  escalated: string[];
  /** One line per change, for the command line and the run's AuditEvent. */
  lines: string[];
}

export interface TaskWhere {
  focus?: string;
  subject?: string;
  kinds?: readonly FollowUpKind[];
  owner?: string;
}

export class FollowUpRunContext {
  healthVisitors: Organisation[] = [];
  centres: Organisation[] = [];
  maternity: Organisation[] = [];
  /** Every organisation's registry type: whose dose records the schedule counts. */
  facts: ReadonlyMap<string, OrganisationFacts> = new Map();
  /** Who the hub's notes on a Task are by (its registry name, as the follow-up service signs them). */
  hubName: string = HUB_ORGANISATION;
  private hubSystem = 'urn:eastside:org';
  readonly touchedPatients: string[] = [];

  constructor(
    readonly deps: FollowUpJobDeps,
    readonly tx: Tx,
    readonly meta: RequestMeta,
    readonly asOf: string,
    readonly run: FollowUpRun,
  ) {}

  async load(): Promise<void> {
    const orgs = (await organisationsOfTypes(this.tx, ['health-visiting', 'childrens-centre', 'maternity'])).map(organisation);
    this.healthVisitors = orgs.filter((o) => o.type === 'health-visiting');
    this.centres = orgs.filter((o) => o.type === 'childrens-centre');
    this.maternity = orgs.filter((o) => o.type === 'maternity');
    this.facts = await listOrganisationFacts(this.tx);
    const hub = (await organisationsByCode(this.tx, [HUB_ORGANISATION])).get(HUB_ORGANISATION);
    this.hubName = hub?.name ?? HUB_ORGANISATION;
    this.hubSystem = hub?.system ?? 'urn:eastside:org';
  }

  /** The run's time on its as-of day: what the work it writes is dated by. */
  now(): Date {
    return taskNow(this.deps);
  }

  async raise(specs: readonly FollowUpSpec[], cause: RaiseCause = 'condition'): Promise<void> {
    if (specs.length === 0) return;
    for (const row of await raiseFollowUps(this.deps, this.tx, this.meta, specs, { cause, asOf: this.asOf, underRunLock: true })) {
      this.noteRow('raised', row, this.run.raised);
    }
  }

  async close(where: TaskWhere, status: 'completed' | 'cancelled', businessStatus: FollowUpBusinessStatus, note: string): Promise<void> {
    for (const row of await closeFollowUps(this.deps, this.tx, this.meta, where, { status, businessStatus, note })) {
      this.noteRow(`closed (${businessStatus})`, row, this.run.closed);
    }
  }

  /** Records a change to a Task in the run (and the line the command line prints). */
  noteRow(what: string, row: StoredResource, list: string[]): void {
    const version = `Task/${row.id}/_history/${row.versionId}`;
    list.push(version);
    const task = content(row) as Task;
    const subject = task.for?.reference;
    if (subject !== undefined) this.touchedPatients.push(subject);
    this.run.lines.push(`${what} ${kindOf(task) ?? 'task'} ${version} owner ${task.owner?.identifier?.value ?? '?'} for ${subject ?? '?'}`);
  }

  /**
   * A centre whose Task closed because the child left its catchment can no
   * longer see the child's records, nor so its Task: it gets a notice of its own.
   */
  async noticeClosed(before: StoredResource, owner: string, why: 'moved-to-another-centre' | 'moved-away'): Promise<void> {
    const centre = this.centres.find((c) => c.code === owner);
    if (centre === undefined) return;
    const id = randomUUID();
    const now = this.deps.clock();
    const notice = followUpClosedNotice({
      id,
      sent: now,
      task: `Task/${before.id}/_history/${before.versionId + 1}`,
      why,
      recipient: centre,
      hub: { system: this.hubSystem, code: HUB_ORGANISATION, name: this.hubName },
    });
    const row: StoredResource = { type: 'Communication', id, versionId: 1, lastUpdated: now, sourceOrg: HUB_ORGANISATION, content: seal({ ...notice, meta: { versionId: '1', lastUpdated: now.toISOString() } }) };
    await writeVersion(this.tx, row);
    await this.deps.audit.rest(this.tx, this.meta, { organisationCode: HUB_ORGANISATION, clientId: 'follow-up-job' }, {
      interaction: 'create',
      outcome: 'success',
      outcomeDesc: `follow-up closed notice to ${owner}: ${why}`,
      resources: [`Communication/${id}/_history/1`],
    });
    this.run.lines.push(`notice Communication/${id} to ${owner}: ${why}`);
  }

  async patient(reference: string): Promise<Patient | undefined> {
    if (!reference.startsWith('Patient/')) return undefined;
    const row = await readCurrent(this.tx, 'Patient', reference.slice('Patient/'.length));
    return row === undefined ? undefined : (content(row) as Patient);
  }

  /** No new follow-up for a child who died or lives outside every partner's catchment. */
  mayRaiseFor(patient: Patient): boolean {
    const where = whereabouts(patient);
    if (where === undefined || where.deceased) return false;
    return where.districts.length === 0 || this.centres.some((c) => c.catchment.some((d) => where.districts.includes(d)));
  }
}

function organisation(o: OwnerOrganisation): Organisation & { type: string } {
  return { system: o.system, code: o.code, name: o.name, catchment: o.catchment, type: o.type };
}

export function whereabouts(patient: Patient | undefined): SubjectWhereabouts | undefined {
  if (patient === undefined) return undefined;
  const current = (patient.address ?? []).filter((a) => a.period?.end === undefined && a.use !== 'old');
  const districts = [...new Set(current.flatMap((a) => (a.postalCode === undefined ? [] : [postcodeDistrict(a.postalCode)]).filter((d): d is string => d !== undefined)))];
  const deceased = patient.deceasedBoolean === true || patient.deceasedDateTime !== undefined;
  return { districts, deceased };
}

/** What is stored, for the job's rules only: nothing here leaves the hub. */
export function content(row: StoredResource): FhirResource {
  return contentForRules(row.content) as FhirResource;
}
