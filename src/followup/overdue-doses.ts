import type { Immunization, ImmunizationRecommendation } from 'fhir/r4.js';
import { HUB_IDS } from '../adapters/codes.js';
import { doseRecordsFromImmunizations } from './dose-records.js';
import { buildImmunizationRecommendation } from './immunization-recommendation.js';
import { assessSchedule, type Assessment, type DoseAssessment } from './schedule.js';
import type { Schedule } from './schedule-schema.js';

// The follow-up job's view of the national schedule (schedule.ts): for a
// child covered by a complete history, which doses are overdue (never
// recorded, past their overdue date) and which are given. A dose a practice
// recorded as not given is a missed dose: its follow-up is raised at ingest
// (missed-dose Tasks), not again here. Pure.

export interface DoseFindings {
  /** The assessment, for the recommendation of each overdue dose. */
  assessment: Extract<Assessment, { ok: true }> | undefined;
  overdue: DoseAssessment[];
  /** "<group>|<dose number>" of every scheduled dose the child has had, with the record that satisfies it. */
  given: ReadonlyMap<string, GivenDose>;
}

export interface GivenDose {
  label: string;
  /** The Immunization id that satisfies the dose (undefined for a record without an id). */
  immunization: string | undefined;
  date: string;
}

export const doseKey = (d: { group: string; doseNumber: number }): string => `${d.group}|${d.doseNumber}`;

export function assessDoses(schedule: Schedule, birthDate: string, immunizations: readonly Immunization[], asOf: string): DoseFindings {
  const assessment = assessSchedule(schedule, birthDate, doseRecordsFromImmunizations(immunizations), asOf);
  if (!assessment.ok) return { assessment: undefined, overdue: [], given: new Map() };
  return {
    assessment,
    overdue: assessment.doses.filter((d) => d.status === 'overdue'),
    given: new Map(
      assessment.doses.flatMap((d) =>
        d.status === 'given' && d.satisfiedBy !== undefined ? [[doseKey(d), { label: d.label, immunization: d.satisfiedBy.id, date: d.satisfiedBy.date }] as const] : [],
      ),
    ),
  };
}

/** Identifies the hub's recommendation for one dose of one child: the focus of that dose's overdue-dose Tasks. */
export const RECOMMENDATION_ID_SYSTEM = `${HUB_IDS}/overdue-dose`;

/**
 * The hub's ImmunizationRecommendation for one overdue dose (forecastStatus
 * overdue), one per dose so that each dose's Task has a focus of its own.
 * See: https://hl7.org/fhir/R4/immunizationrecommendation.html
 */
export function buildOverdueRecommendation(
  schedule: Schedule,
  assessment: Extract<Assessment, { ok: true }>,
  dose: DoseAssessment,
  target: { id: string; patient: string },
): ImmunizationRecommendation {
  const built = buildImmunizationRecommendation(schedule, { ...assessment, doses: [dose] }, { id: target.id, patient: { reference: target.patient } });
  return { ...built, identifier: [{ system: RECOMMENDATION_ID_SYSTEM, value: `${target.patient}|${doseKey(dose)}` }] };
}
