import type { EpisodeOfCare, FhirResource, List, Observation, Patient, RelatedPerson, Task } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import { HUB_IDS } from '../adapters/codes.js';
import { NHS_NUMBER_SYSTEM } from '../adapters/nhs-number.js';
import type { Db, Tx } from '../db/database.js';
import { currentOfType, currentWithIdentifierSystem, organisationsOfTypes, tryFollowUpRunLock, type OwnerOrganisation } from '../db/follow-up-queries.js';
import { listOrganisationFacts, type OrganisationFacts } from '../db/disclosure-queries.js';
import { findByIdentifier, findReferring } from '../db/ingest-queries.js';
import { organisationsByCode } from '../db/notice-queries.js';
import { readCurrent, writeVersion, type StoredResource } from '../db/resource-queries.js';
import { contentForRules, seal } from '../db/undisclosed.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { postcodeDistrict } from '../fhir/resource-types.js';
import { HISTORY_ID_SYSTEM, isCompleteHistory } from '../followup/complete-history.js';
import { followUpClosedNotice } from '../followup/follow-up-notice.js';
import {
  birthNotifiedSince,
  birthWithoutBookingSpecs,
  escalated,
  expectedDelivery,
  isOngoingPregnancy,
  isPregnancyEpisode,
  isPregnancyOverdue,
  moveAction,
  needsEscalation,
  overdueDoseSpecs,
  pregnancyOverdueSpecs,
  scheduleInEffect,
  specFor,
  type Organisation,
  type SubjectWhereabouts,
} from '../followup/follow-up-rules.js';
import { isOpen, kindOf, type FollowUpBusinessStatus, type FollowUpKind, type FollowUpSpec, type RaiseCause } from '../followup/follow-up-task.js';
import { assessDoses, type DoseFindings } from '../followup/overdue-doses.js';
import type { RequestMeta } from './audit-recorder.js';
import { closeFollowUps, openFollowUps, ownerMaySee, raiseFollowUps, rewriteFollowUps } from './follow-up-service.js';
import { completeGivenDoses, overdueRecommendation, scheduleRecords, type OverdueDoseDeps } from './overdue-dose-tasks.js';

// The follow-up job, the imperative shell around followup/follow-up-rules.ts.
// For one as-of day it raises overdue-dose Tasks for children covered by a
// complete history, raises and closes the exception reports (a birth with no
// booking, a pregnancy four weeks past its due date), moves or closes Tasks of
// children who moved or died, and escalates Tasks nobody accepted in time.
// One run at a time across instances (an advisory lock held by the run's one
// transaction); every Task is keyed (followUpKey), so a re-run changes nothing.

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

export const DEFAULT_ESCALATE_AFTER_DAYS = 14;

const RELATED_PERSON_KEY_SYSTEM = `${HUB_IDS}/related-person-key`;
const HUB_REQUESTER = { organisationCode: HUB_ORGANISATION, clientId: 'follow-up-job' } as const;

export async function runFollowUpJob(deps: FollowUpJobDeps, asOf: string, meta: RequestMeta = { requestId: `follow-up-job-${randomUUID()}` }): Promise<FollowUpRun> {
  return deps.audit.transaction(deps.db, async (tx) => {
    const run: FollowUpRun = { asOf, ran: false, raised: [], closed: [], escalated: [], lines: [] };
    if (!(await tryFollowUpRunLock(tx))) {
      await deps.audit.rest(tx, meta, HUB_REQUESTER, { interaction: 'operation', outcome: 'success', outcomeDesc: `follow-up job as of ${asOf}: skipped, another instance is running it` });
      return run;
    }
    run.ran = true;
    const job = new Job(deps, tx, meta, asOf, run);
    await job.load();
    await job.overdueDoses();
    await job.births();
    await job.pregnancies();
    await job.movesAndDeaths();
    await job.escalations();
    const patients = [...new Set(job.touchedPatients)];
    await deps.audit.rest(tx, meta, HUB_REQUESTER, {
      interaction: 'operation',
      outcome: 'success',
      outcomeDesc: `follow-up job as of ${asOf}: ${run.raised.length} raised, ${run.closed.length} closed, ${run.escalated.length} escalated`,
      resources: [...run.raised, ...run.closed, ...run.escalated],
      patients,
    });
    return run;
  });
}

class Job {
  private healthVisitors: Organisation[] = [];
  private centres: Organisation[] = [];
  private maternity: Organisation[] = [];
  /** Every organisation's registry type: whose dose records the schedule counts. */
  private facts: ReadonlyMap<string, OrganisationFacts> = new Map();
  /** Who the hub's notes on a Task are by (its registry name, as the follow-up service signs them). */
  private hubName: string = HUB_ORGANISATION;
  private hubSystem = 'urn:eastside:org';
  /** Birth dates of the babies notified for each mother (by NHS number). */
  private readonly birthsByMother = new Map<string, string[]>();
  readonly touchedPatients: string[] = [];

  constructor(
    private readonly deps: FollowUpJobDeps,
    private readonly tx: Tx,
    private readonly meta: RequestMeta,
    private readonly asOf: string,
    private readonly run: FollowUpRun,
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

  /** Every child a practice has sent a complete history of: overdue doses raised, doses since given closed. */
  async overdueDoses(): Promise<void> {
    const schedule = scheduleInEffect(this.deps.schedules, this.asOf);
    if (schedule === undefined) {
      this.run.lines.push(`no schedule in effect on ${this.asOf}: overdue doses not checked`);
      return;
    }
    const lists = await currentWithIdentifierSystem(this.tx, 'List', HISTORY_ID_SYSTEM);
    const children = new Set(lists.map((r) => (content(r) as List)).filter(isCompleteHistory).flatMap((l) => (l.subject?.reference === undefined ? [] : [l.subject.reference])));
    for (const child of [...children].sort()) {
      const patient = await this.patient(child);
      if (patient?.birthDate === undefined) continue;
      const doses = scheduleRecords(this.deps.protocols, this.facts, await findReferring(this.tx, 'Immunization', 'patient', child));
      const findings = assessDoses(schedule, patient.birthDate, doses, this.asOf);
      await this.closeGiven(child, findings);
      if (findings.assessment === undefined || !this.mayRaiseFor(patient)) continue;
      for (const dose of findings.overdue) {
        const recommendation = await overdueRecommendation(this.deps, this.tx, this.meta, schedule, child, findings.assessment, dose, undefined);
        await this.raise(overdueDoseSpecs(dose, child, recommendation, this.healthVisitors, this.deps.clock()));
      }
    }
  }

  /** Births notified by a maternity unit for a mother with no pregnancy episode: an exception until a booking arrives. */
  async births(): Promise<void> {
    const relations = await currentWithIdentifierSystem(this.tx, 'RelatedPerson', RELATED_PERSON_KEY_SYSTEM);
    for (const row of relations) {
      const relation = (content(row) as RelatedPerson);
      const baby = relation.patient.reference;
      const notifiedBy = this.maternity.filter((m) => (row.sourceOrgs ?? [row.sourceOrg]).includes(m.code));
      const motherNhs = relation.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM)?.value;
      const isMother = relation.identifier?.some((i) => i.system === RELATED_PERSON_KEY_SYSTEM && (i.value ?? '').endsWith(':MTH')) ?? false;
      if (baby === undefined || motherNhs === undefined || !isMother || notifiedBy.length === 0) continue;
      const born = (await this.patient(baby))?.birthDate;
      if (born !== undefined) this.birthsByMother.set(motherNhs, [...(this.birthsByMother.get(motherNhs) ?? []), born]);
      const mother = await findByIdentifier(this.tx, 'Patient', NHS_NUMBER_SYSTEM, motherNhs);
      const episodes = mother === undefined ? [] : await findReferring(this.tx, 'EpisodeOfCare', 'patient', `Patient/${mother.id}`);
      if (episodes.some((e) => isPregnancyEpisode((content(e) as EpisodeOfCare)))) {
        await this.close({ focus: baby, kinds: ['birth-without-booking'] }, 'completed', 'booking-received', 'A booking for the mother has been received');
        continue;
      }
      await this.raise(birthWithoutBookingSpecs(baby, notifiedBy, this.healthVisitors, this.deps.clock()));
    }
  }

  /** Pregnancies four weeks past their due date with no birth: an exception until the birth (or a new due date) arrives. */
  async pregnancies(): Promise<void> {
    for (const row of await currentOfType(this.tx, 'EpisodeOfCare')) {
      const episode = (content(row) as EpisodeOfCare);
      const mother = episode.patient.reference;
      if (!isPregnancyEpisode(episode) || mother === undefined) continue;
      const focus = `EpisodeOfCare/${row.id}`;
      const motherNhs = (await this.patient(mother))?.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM)?.value;
      const births = motherNhs === undefined ? [] : (this.birthsByMother.get(motherNhs) ?? []);
      if (!isOngoingPregnancy(episode) || birthNotifiedSince(episode, births)) {
        if (episode.status === 'finished' || births.length > 0) await this.close({ focus, kinds: ['pregnancy-overdue'] }, 'completed', 'birth-notified', 'The birth has been notified');
        continue;
      }
      const observations = (await findReferring(this.tx, 'Observation', 'subject', mother)).map((r) => (content(r) as Observation));
      const edd = expectedDelivery(episode, observations);
      if (edd === undefined) continue;
      if (!isPregnancyOverdue(episode, edd, this.asOf)) {
        await this.close({ focus, kinds: ['pregnancy-overdue'] }, 'completed', 'booking-received', `A later booking gives the due date ${edd}`);
        continue;
      }
      const managing = episode.managingOrganization?.identifier?.value;
      const unit = this.maternity.find((m) => m.code === managing) ?? this.maternity.find((m) => (row.sourceOrgs ?? [row.sourceOrg]).includes(m.code));
      await this.raise(pregnancyOverdueSpecs(focus, mother, edd, unit, this.healthVisitors, this.deps.clock()));
    }
  }

  /** A child who moved: centre Tasks follow to the new centre's catchment (if its flow permits); out of every catchment, or died: closed. */
  async movesAndDeaths(): Promise<void> {
    const open = await this.allOpen();
    const subjects = new Map<string, SubjectWhereabouts | undefined>();
    for (const row of open) {
      const task = (content(row) as Task);
      const subject = task.for?.reference;
      const kind = kindOf(task);
      const owner = task.owner?.identifier?.value;
      if (subject === undefined || kind === undefined || owner === undefined) continue;
      if (!subjects.has(subject)) subjects.set(subject, whereabouts(await this.patient(subject)));
      const where = subjects.get(subject);
      if (where === undefined) continue;
      const action = moveAction(task, where, this.centres);
      const focus = task.focus?.reference;
      switch (action.action) {
        case 'stay':
          break;
        case 'transfer': {
          const spec = specFor(task, action.to, this.deps.clock());
          if (spec !== undefined && (await ownerMaySee(this.deps, this.tx, spec, 'immunisation-follow-up'))) await this.raise([spec]);
          await this.close({ ...(focus === undefined ? {} : { focus }), subject, owner, kinds: [kind] }, 'cancelled', 'moved-to-another-centre', "The child has moved to another children's centre's area");
          await this.noticeClosed(row, owner, 'moved-to-another-centre');
          break;
        }
        case 'close':
          await this.close(
            { ...(focus === undefined ? {} : { focus }), subject, owner, kinds: [kind] },
            'cancelled',
            action.businessStatus,
            action.businessStatus === 'moved-away' ? "Closed by the hub: the child has moved out of every partner's area" : 'Closed by the hub: no longer needed',
          );
          if (action.businessStatus === 'moved-away') await this.noticeClosed(row, owner, 'moved-away');
          break;
      }
    }
  }

  /** Tasks nobody accepted in time: marked escalated, and the health visitors get their own if they have none for that focus. */
  async escalations(): Promise<void> {
    const days = this.deps.escalateAfterDays;
    for (const row of await this.allOpen()) {
      const task = content(row) as Task;
      if (!needsEscalation(task, this.asOf, days)) continue;
      const now = this.deps.clock();
      const [updated] = await rewriteFollowUps(this.deps, this.tx, this.meta, [{ row, task: escalated(task, days, now, this.hubName) }], `follow-up escalated: not accepted within ${days} days`);
      if (updated === undefined) continue;
      const version = `Task/${updated.id}/_history/${updated.versionId}`;
      this.note('escalated', version, task);
      this.run.escalated.push(version);
      const focus = task.focus?.reference;
      if (focus === undefined) continue;
      for (const hv of this.healthVisitors) {
        if ((await openFollowUps(this.tx, { focus, owner: hv.code })).length > 0) continue;
        const spec = specFor(task, hv, now);
        if (spec !== undefined && (await ownerMaySee(this.deps, this.tx, spec, 'direct-care'))) await this.raise([spec], 'escalation');
      }
    }
  }

  /** Open overdue-dose Tasks of a child whose dose has since been given: completed (dose-given). */
  private async closeGiven(child: string, findings: DoseFindings): Promise<void> {
    const open = await openFollowUps(this.tx, { subject: child, kinds: ['overdue-dose'] });
    if (open.length === 0) return;
    const recommendations = new Map<string, StoredResource>();
    for (const row of open) {
      const focus = (content(row) as Task).focus?.reference;
      if (focus?.startsWith('ImmunizationRecommendation/') !== true) continue;
      const found = await readCurrent(this.tx, 'ImmunizationRecommendation', focus.slice(focus.indexOf('/') + 1));
      if (found !== undefined) recommendations.set(focus, found);
    }
    for (const row of await completeGivenDoses(this.deps, this.tx, this.meta, this.asOf, child, findings, open, recommendations)) {
      const version = `Task/${row.id}/_history/${row.versionId}`;
      this.run.closed.push(version);
      this.note('closed (dose-given)', version, content(row) as Task);
    }
  }

  private async raise(specs: readonly FollowUpSpec[], cause: RaiseCause = 'condition'): Promise<void> {
    if (specs.length === 0) return;
    for (const row of await raiseFollowUps(this.deps, this.tx, this.meta, specs, { cause, asOf: this.asOf })) {
      const version = `Task/${row.id}/_history/${row.versionId}`;
      this.run.raised.push(version);
      this.note('raised', version, (content(row) as Task));
    }
  }

  private async close(
    where: { focus?: string; subject?: string; kinds?: readonly FollowUpKind[]; owner?: string },
    status: 'completed' | 'cancelled',
    businessStatus: FollowUpBusinessStatus,
    note: string,
  ): Promise<void> {
    for (const row of await closeFollowUps(this.deps, this.tx, this.meta, where, { status, businessStatus, note })) {
      const version = `Task/${row.id}/_history/${row.versionId}`;
      this.run.closed.push(version);
      this.note(`closed (${businessStatus})`, version, (content(row) as Task));
    }
  }

  private note(what: string, version: string, task: Task): void {
    const subject = task.for?.reference;
    if (subject !== undefined) this.touchedPatients.push(subject);
    this.run.lines.push(`${what} ${kindOf(task) ?? 'task'} ${version} owner ${task.owner?.identifier?.value ?? '?'} for ${subject ?? '?'}`);
  }

  /**
   * A centre whose Task closed because the child left its catchment can no
   * longer see the child's records, nor so its Task: it gets a notice of its own.
   */
  private async noticeClosed(before: StoredResource, owner: string, why: 'moved-to-another-centre' | 'moved-away'): Promise<void> {
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
    await this.deps.audit.rest(this.tx, this.meta, HUB_REQUESTER, {
      interaction: 'create',
      outcome: 'success',
      outcomeDesc: `follow-up closed notice to ${owner}: ${why}`,
      resources: [`Communication/${id}/_history/1`],
    });
    this.run.lines.push(`notice Communication/${id} to ${owner}: ${why}`);
  }

  /** Every open Task the hub has raised (the rules decide which move or escalate). */
  private async allOpen(): Promise<StoredResource[]> {
    return (await currentOfType(this.tx, 'Task')).filter((row) => row.sourceOrg === HUB_ORGANISATION && isOpen(content(row) as Task));
  }

  private async patient(reference: string): Promise<Patient | undefined> {
    if (!reference.startsWith('Patient/')) return undefined;
    const row = await readCurrent(this.tx, 'Patient', reference.slice('Patient/'.length));
    return row === undefined ? undefined : (content(row) as Patient);
  }

  /** No new follow-up for a child who died or lives outside every partner's catchment. */
  private mayRaiseFor(patient: Patient): boolean {
    const where = whereabouts(patient);
    if (where === undefined || where.deceased) return false;
    return where.districts.length === 0 || this.centres.some((c) => c.catchment.some((d) => where.districts.includes(d)));
  }
}

function organisation(o: OwnerOrganisation): Organisation & { type: string } {
  return { system: o.system, code: o.code, name: o.name, catchment: o.catchment, type: o.type };
}

function whereabouts(patient: Patient | undefined): SubjectWhereabouts | undefined {
  if (patient === undefined) return undefined;
  const current = (patient.address ?? []).filter((a) => a.period?.end === undefined && a.use !== 'old');
  const districts = [...new Set(current.flatMap((a) => (a.postalCode === undefined ? [] : [postcodeDistrict(a.postalCode)]).filter((d): d is string => d !== undefined)))];
  const deceased = patient.deceasedBoolean === true || patient.deceasedDateTime !== undefined;
  return { districts, deceased };
}

/** What is stored, for the job's rules only: nothing here leaves the hub. */
function content(row: StoredResource): FhirResource {
  return contentForRules(row.content) as FhirResource;
}
