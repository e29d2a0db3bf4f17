import type { ImmunizationRecommendation, ImmunizationRecommendationRecommendation, Reference } from 'fhir/r4.js';
import { SNOMED } from '../adapters/codes.js';
import type { Assessment, DoseAssessment } from './schedule.js';
import type { Schedule } from './schedule-schema.js';

// An assessment as a FHIR R4 ImmunizationRecommendation: one recommendation
// per scheduled dose the child still has or has had, with its due and overdue
// dates. See: https://hl7.org/fhir/R4/immunizationrecommendation.html

/** See: https://terminology.hl7.org/CodeSystem-immunization-recommendation-status.html */
export const FORECAST_STATUS_SYSTEM = 'http://terminology.hl7.org/CodeSystem/immunization-recommendation-status';
export const LOINC = 'http://loinc.org';
/** LOINC 30980-7 "Date vaccine due" and 59778-1 "Date when overdue for immunization". */
export const DATE_VACCINE_DUE = { system: LOINC, code: '30980-7', display: 'Date vaccine due' } as const;
export const DATE_OVERDUE = { system: LOINC, code: '59778-1', display: 'Date when overdue for immunization' } as const;

type ForecastStatus = 'due' | 'overdue' | 'complete';

const FORECAST_DISPLAY: Readonly<Record<ForecastStatus, string>> = { due: 'Due', overdue: 'Overdue', complete: 'Complete' };

/**
 * The forecast status of a dose, or undefined for a dose no longer offered
 * (past its upper age limit: not recommended, so not listed). A dose not yet
 * due is `due` with its due date in the future; a missed dose is overdue once
 * past its overdue date, due before.
 */
export function forecastStatusOf(dose: DoseAssessment, asOf: string): ForecastStatus | undefined {
  switch (dose.status) {
    case 'given':
      return 'complete';
    case 'due':
    case 'not-yet-due':
      return 'due';
    case 'overdue':
      return 'overdue';
    case 'missed':
      return asOf >= dose.overdueFrom ? 'overdue' : 'due';
    case 'no-longer-due':
      return undefined;
  }
}

export interface RecommendationTarget {
  /** The child: `Patient/<id>` or a reference by identifier. */
  patient: Reference;
  id?: string;
}

/** The ImmunizationRecommendation for a valid assessment (`ok: true`). */
export function buildImmunizationRecommendation(
  schedule: Schedule,
  assessment: Extract<Assessment, { ok: true }>,
  target: RecommendationTarget,
): ImmunizationRecommendation {
  const displays = new Map<string, string>();
  const groupNames = new Map<string, string>();
  for (const g of schedule.groups) {
    groupNames.set(g.id, g.display);
    for (const c of g.codes) displays.set(c.code, c.display);
  }
  const recommendation: ImmunizationRecommendationRecommendation[] = [];
  for (const dose of assessment.doses) {
    const status = forecastStatusOf(dose, assessment.asOf);
    if (status === undefined) continue;
    const display = displays.get(dose.vaccineCode);
    // Only the given dose is cited: a not-done record may be a refusal, which
    // only health visitors may learn of; even its id says that it exists.
    const supporting = dose.satisfiedBy;
    recommendation.push({
      vaccineCode: [{ coding: [{ system: SNOMED, code: dose.vaccineCode, ...(display === undefined ? {} : { display }) }], text: dose.label }],
      forecastStatus: { coding: [{ system: FORECAST_STATUS_SYSTEM, code: status, display: FORECAST_DISPLAY[status] }] },
      dateCriterion: [
        { code: { coding: [{ ...DATE_VACCINE_DUE }] }, value: dose.dueDate },
        { code: { coding: [{ ...DATE_OVERDUE }] }, value: dose.overdueFrom },
      ],
      ...(groupNames.has(dose.group) ? { series: groupNames.get(dose.group) } : {}),
      doseNumberPositiveInt: dose.doseNumber,
      ...(supporting?.id === undefined ? {} : { supportingImmunization: [{ reference: `Immunization/${supporting.id}` }] }),
    });
  }
  return {
    resourceType: 'ImmunizationRecommendation',
    ...(target.id === undefined ? {} : { id: target.id }),
    patient: target.patient,
    date: assessment.asOf,
    recommendation,
  };
}
