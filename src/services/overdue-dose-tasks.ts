import type { Immunization, ImmunizationRecommendation, Patient } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { Tx } from '../db/database.js';
import { listOrganisationFacts, type OrganisationFacts } from '../db/disclosure-queries.js';
import { findByIdentifier, findReferring } from '../db/ingest-queries.js';
import { readCurrent, writeVersion, type StoredResource } from '../db/resource-queries.js';
import { contentForRules, seal } from '../db/undisclosed.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { dayOf, scheduleInEffect } from '../followup/follow-up-rules.js';
import { FORECAST_STATUS_SYSTEM } from '../followup/immunization-recommendation.js';
import { countsAsImmunisationRecord } from '../protocol/message-sources.js';
import { assessDoses, buildOverdueRecommendation, doseKey, RECOMMENDATION_ID_SYSTEM, type DoseFindings } from '../followup/overdue-doses.js';
import type { DoseAssessment } from '../followup/schedule.js';
import type { Schedule } from '../followup/schedule-schema.js';
import type { RequestMeta } from './audit-recorder.js';
import { closeFollowUps, openFollowUps, taskOf, type FollowUpDeps } from './follow-up-service.js';

// Overdue-dose work and its recommendation: the hub's ImmunizationRecommendation
// for one overdue dose of a child (written once, keyed by child and dose), and
// the completion of that dose's Tasks once a record satisfies the dose. The
// follow-up job's scan and every write path of Immunizations (an ingest unit, a
// REST create or update) complete them the same way, so whichever comes first
// does it and the other finds nothing open: idempotent either way.

export interface OverdueDoseDeps extends FollowUpDeps {
  /** The national schedules (SCHEDULES_DIR): a dose is judged given against the latest in effect on the day. */
  schedules: readonly Schedule[];
}

/** Who the hub's own changes to recommendations are audited as. */
const HUB_REQUESTER = { organisationCode: HUB_ORGANISATION, clientId: 'follow-up' } as const;

/** "<group>|<dose number>" of the dose an overdue-dose recommendation is about (its key is "<child>|<group>|<dose number>"). */
export function recommendationDose(recommendation: ImmunizationRecommendation, child: string): string | undefined {
  const key = recommendation.identifier?.find((i) => i.system === RECOMMENDATION_ID_SYSTEM)?.value;
  return key?.startsWith(`${child}|`) === true ? key.slice(child.length + 1) : undefined;
}

/**
 * Completes the child's open overdue-dose Tasks (`open`) whose dose the
 * findings say is given: status completed, business status dose-given, the
 * satisfying Immunization as Task.output and named in a note; the
 * recommendation then reads complete. Returns the Tasks written.
 */
export async function completeGivenDoses(
  deps: FollowUpDeps,
  tx: Tx,
  meta: RequestMeta,
  asOf: string,
  child: string,
  findings: DoseFindings,
  open: readonly StoredResource[],
  recommendations: ReadonlyMap<string, StoredResource>,
): Promise<StoredResource[]> {
  const written: StoredResource[] = [];
  const foci = [...new Set(open.flatMap((row) => taskOf(row).focus?.reference ?? []))].sort();
  for (const focus of foci) {
    const recommendation = recommendations.get(focus);
    const dose = recommendation === undefined ? undefined : recommendationDose(contentForRules(recommendation.content) as ImmunizationRecommendation, child);
    const given = dose === undefined ? undefined : findings.given.get(dose);
    if (recommendation === undefined || given === undefined) continue;
    const output = given.immunization === undefined ? undefined : { reference: `Immunization/${given.immunization}`, display: `${given.label} given on ${dayOf(given.date)}` };
    written.push(
      ...(await closeFollowUps(deps, tx, meta, { focus, kinds: ['overdue-dose'] }, {
        status: 'completed',
        businessStatus: 'dose-given',
        note: `The dose has been given: ${given.label} on ${dayOf(given.date)}`,
        output,
      })),
    );
    await markRecommendation(deps, tx, meta, recommendation, 'complete', asOf);
  }
  return written;
}

/**
 * At a write of Immunizations (ingest or REST): each child given a dose who has
 * open overdue-dose work is assessed again as of today, and the work a dose now
 * satisfies is completed in the transaction of the dose.
 */
export async function completeOverdueAtWrite(
  deps: OverdueDoseDeps,
  tx: Tx,
  meta: RequestMeta,
  written: readonly StoredResource[],
  /** Patients whose ids the write's transaction minted: no overdue-dose work can be about them yet. */
  minted: ReadonlySet<string> = new Set(),
): Promise<StoredResource[]> {
  const children = new Set<string>();
  for (const row of written) {
    if (row.type !== 'Immunization') continue;
    const immunization = contentForRules(row.content) as Immunization;
    const child = immunization.patient.reference;
    if (immunization.status === 'completed' && child?.startsWith('Patient/') === true && !minted.has(child)) children.add(child);
  }
  const asOf = deps.clock().toISOString().slice(0, 10);
  const schedule = scheduleInEffect(deps.schedules, asOf);
  if (schedule === undefined) return [];
  const tasks: StoredResource[] = [];
  for (const child of [...children].sort()) {
    const open = await openFollowUps(tx, { subject: child, kinds: ['overdue-dose'] });
    if (open.length === 0) continue;
    const patient = await readCurrent(tx, 'Patient', child.slice('Patient/'.length));
    const birthDate = patient === undefined ? undefined : (contentForRules(patient.content) as Patient).birthDate;
    if (birthDate === undefined) continue;
    const doses = scheduleRecords(deps.protocols, await listOrganisationFacts(tx), await findReferring(tx, 'Immunization', 'patient', child));
    const recommendations = new Map<string, StoredResource>();
    for (const row of open) {
      const focus = taskOf(row).focus?.reference;
      if (focus?.startsWith('ImmunizationRecommendation/') !== true || recommendations.has(focus)) continue;
      const found = await readCurrent(tx, 'ImmunizationRecommendation', focus.slice(focus.indexOf('/') + 1));
      if (found !== undefined) recommendations.set(focus, found);
    }
    tasks.push(...(await completeGivenDoses(deps, tx, meta, asOf, child, assessDoses(schedule, birthDate, doses, asOf), open, recommendations)));
  }
  return tasks;
}

/** The child's Immunizations the schedule counts: those only sources of immunisation events wrote (message-sources.ts). */
export function scheduleRecords(protocols: OverdueDoseDeps['protocols'], facts: ReadonlyMap<string, OrganisationFacts>, rows: readonly StoredResource[]): Immunization[] {
  return rows
    .filter((row) => countsAsImmunisationRecord(protocols, (row.sourceOrgs ?? [row.sourceOrg]).map((code) => facts.get(code)?.type ?? '')))
    .map((row) => contentForRules(row.content) as Immunization);
}

/**
 * The hub's ImmunizationRecommendation for one overdue dose of a child, written
 * once (keyed by child and dose); one that reads complete (the dose was given,
 * and that record has since gone) reads overdue again. Returns its reference.
 */
export async function overdueRecommendation(
  deps: FollowUpDeps,
  tx: Tx,
  meta: RequestMeta,
  schedule: Schedule,
  child: string,
  assessment: NonNullable<DoseFindings['assessment']>,
  dose: DoseAssessment,
  found: StoredResource | undefined,
): Promise<string> {
  const held = found ?? (await findByIdentifier(tx, 'ImmunizationRecommendation', RECOMMENDATION_ID_SYSTEM, `${child}|${doseKey(dose)}`));
  if (held !== undefined) {
    await markRecommendation(deps, tx, meta, held, 'overdue', assessment.asOf);
    return `ImmunizationRecommendation/${held.id}`;
  }
  const id = randomUUID();
  const now = deps.clock();
  const built = buildOverdueRecommendation(schedule, assessment, dose, { id, patient: child });
  const row: StoredResource = {
    type: 'ImmunizationRecommendation',
    id,
    versionId: 1,
    lastUpdated: now,
    sourceOrg: HUB_ORGANISATION,
    content: seal({ ...built, meta: { versionId: '1', lastUpdated: now.toISOString() } }),
  };
  await writeVersion(tx, row);
  await deps.audit.rest(tx, meta, HUB_REQUESTER, {
    interaction: 'create',
    outcome: 'success',
    outcomeDesc: `overdue dose recorded: ${dose.label}`,
    resources: [`ImmunizationRecommendation/${id}/_history/1`],
    patients: [child],
  });
  return `ImmunizationRecommendation/${id}`;
}

const FORECAST_DISPLAY = { complete: 'Complete', overdue: 'Overdue' } as const;

/** Every recommendation of the resource has this forecast status. */
export function forecastIs(row: StoredResource, status: 'complete' | 'overdue'): boolean {
  const recommendation = contentForRules(row.content) as ImmunizationRecommendation;
  return recommendation.recommendation.every((r) => r.forecastStatus.coding?.some((c) => c.system === FORECAST_STATUS_SYSTEM && c.code === status) === true);
}

/** The recommendation says what the dose stands at (forecastStatus complete or overdue); unchanged, nothing is written. */
async function markRecommendation(deps: FollowUpDeps, tx: Tx, meta: RequestMeta, row: StoredResource, status: 'complete' | 'overdue', asOf: string): Promise<void> {
  if (forecastIs(row, status)) return;
  const before = contentForRules(row.content) as ImmunizationRecommendation;
  const now = deps.clock();
  const versionId = row.versionId + 1;
  const after: ImmunizationRecommendation = {
    ...before,
    date: asOf,
    recommendation: before.recommendation.map((r) => ({ ...r, forecastStatus: { coding: [{ system: FORECAST_STATUS_SYSTEM, code: status, display: FORECAST_DISPLAY[status] }] } })),
    meta: { versionId: String(versionId), lastUpdated: now.toISOString() },
  };
  await writeVersion(tx, { type: row.type, id: row.id, versionId, lastUpdated: now, sourceOrg: HUB_ORGANISATION, content: seal(after) });
  await deps.audit.rest(tx, meta, HUB_REQUESTER, {
    interaction: 'update',
    outcome: 'success',
    outcomeDesc: status === 'complete' ? 'overdue dose given: recommendation complete' : 'dose overdue again: recommendation overdue',
    resources: [`ImmunizationRecommendation/${row.id}/_history/${versionId}`],
    patients: before.patient.reference === undefined ? [] : [before.patient.reference],
  });
}
