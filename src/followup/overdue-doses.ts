import type { Immunization, ImmunizationRecommendation } from 'fhir/r4.js';
import { HUB_IDS, SNOMED, VACCINATION_PROCEDURE_EXTENSION } from '../adapters/codes.js';

// The follow-up job's view of the national schedule: for a child, which doses
// are overdue and which are given. TEMPORARY: a minimal stand-in for the
// schedule data and function (DESIGN.md section 11) until they land; the job
// depends only on assessDoses and buildOverdueRecommendation.

export interface ScheduledDose {
  antigen: string;
  doseNumber: number;
  /** YYYY-MM-DD. */
  dueDate: string;
  /** "6-in-1 dose 3". */
  label: string;
  /** SNOMED procedure code of the dose, for the recommendation's vaccineCode. */
  code: string;
}

export interface DoseAssessment {
  overdue: ScheduledDose[];
  /** "<antigen>|<dose number>" of every scheduled dose the child has had. */
  given: ReadonlySet<string>;
}

export const doseKey = (d: { antigen: string; doseNumber: number }): string => `${d.antigen}|${d.doseNumber}`;

const GROUPS: Readonly<Record<string, readonly [string, number]>> = {
  '770616000': ['6-in-1', 1], '770617009': ['6-in-1', 2], '770618004': ['6-in-1', 3],
  '868631000000102': ['rotavirus', 1], '868651000000109': ['rotavirus', 2],
  '720539004': ['MenB', 1], '720540002': ['MenB', 2], '720544006': ['MenB', 3],
  '247631000000101': ['PCV', 1], '247641000000105': ['PCV', 2], '247651000000108': ['PCV', 3],
  '712834006': ['Hib/MenC', 1], '308081000000105': ['measles', 1], '170433008': ['measles', 2],
  '871909005': ['measles', 1], '433733003': ['measles', 2], '390865008': ['4-in-1', 1],
};

const addDays = (date: string, days: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
const addMonths = (date: string, months: number): string => {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + months);
  return d.toISOString().slice(0, 10);
};

function schedule(birthDate: string): ScheduledDose[] {
  const dose = (antigen: string, n: number, dueDate: string, code: string, name = antigen): ScheduledDose => ({ antigen, doseNumber: n, dueDate, code, label: `${name} dose ${n}` });
  const w8 = addDays(birthDate, 56), w12 = addDays(birthDate, 84), w16 = addDays(birthDate, 112);
  const y1 = addMonths(birthDate, 12), m18 = addMonths(birthDate, 18), y3m4 = addMonths(birthDate, 40);
  const doses = [dose('6-in-1', 1, w8, '770616000'), dose('MenB', 1, w8, '720539004'), dose('6-in-1', 2, w12, '770617009'), dose('6-in-1', 3, w16, '770618004')];
  doses.push(...(w12 < '2025-07-01' ? [dose('PCV', 1, w12, '247631000000101')] : [dose('MenB', 2, w12, '720540002')]));
  doses.push(...(w16 < '2025-07-01' ? [dose('MenB', 2, w16, '720540002')] : [dose('PCV', 1, w16, '247631000000101')]));
  doses.push(dose('PCV', 2, y1, '247641000000105'), dose('MenB', 3, y1, '720544006'));
  if (birthDate < '2024-07-01') doses.push(dose('Hib/MenC', 1, y1, '712834006'), dose('measles', 1, y1, '308081000000105', 'MMR'), dose('measles', 2, y3m4, '170433008', 'MMR'));
  else if (birthDate < '2025-01-01') doses.push(dose('measles', 1, y1, '308081000000105', 'MMR'), dose('6-in-1', 4, m18, '770618004'), dose('measles', 2, m18, '433733003', 'MMRV'));
  else doses.push(dose('measles', 1, y1, '871909005', 'MMRV'), dose('6-in-1', 4, m18, '770618004'), dose('measles', 2, m18, '433733003', 'MMRV'));
  doses.push(dose('4-in-1', 1, y3m4, '390865008'));
  return doses;
}

/** Overdue: four weeks past its due date and not given (counted by antigen group, whenever and wherever given). */
export function assessDoses(birthDate: string, immunizations: readonly Immunization[], asOf: string): DoseAssessment {
  const counts = new Map<string, number>();
  for (const i of immunizations) {
    if (i.status !== 'completed') continue;
    const code = i.extension?.find((e) => e.url === VACCINATION_PROCEDURE_EXTENSION)?.valueCodeableConcept?.coding?.find((c) => c.system === SNOMED)?.code;
    const group = code === undefined ? undefined : GROUPS[code];
    if (group !== undefined) counts.set(group[0], (counts.get(group[0]) ?? 0) + 1);
  }
  const doses = schedule(birthDate);
  const given = new Set(doses.filter((d) => (counts.get(d.antigen) ?? 0) >= d.doseNumber).map(doseKey));
  return { overdue: doses.filter((d) => !given.has(doseKey(d)) && addDays(d.dueDate, 28) <= asOf), given };
}

export const RECOMMENDATION_ID_SYSTEM = `${HUB_IDS}/overdue-dose`;

/** The hub's statement that a dose is overdue. See: https://hl7.org/fhir/R4/immunizationrecommendation.html */
export function buildOverdueRecommendation(id: string, patient: string, dose: ScheduledDose, asOf: string): ImmunizationRecommendation {
  return {
    resourceType: 'ImmunizationRecommendation',
    id,
    identifier: [{ system: RECOMMENDATION_ID_SYSTEM, value: `${patient}|${doseKey(dose)}` }],
    patient: { reference: patient },
    date: asOf,
    recommendation: [
      {
        vaccineCode: [{ coding: [{ system: SNOMED, code: dose.code }], text: dose.label }],
        doseNumberPositiveInt: dose.doseNumber,
        forecastStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/immunization-recommendation-status', code: 'overdue' }] },
        dateCriterion: [{ code: { coding: [{ system: 'http://loinc.org', code: '30980-7', display: 'Date vaccine due' }] }, value: dose.dueDate }],
        description: dose.label,
      },
    ],
  };
}
