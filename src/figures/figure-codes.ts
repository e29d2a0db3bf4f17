// The groupings commissioners' figures are stratified by. Pure.
// Codes: ../../shared DESIGN.md §11 (SNOMED CT vaccination procedures GP
// systems send in UK Core Extension-UKCore-VaccinationProcedure, and the
// reasons a dose was not given).

export const ANTIGEN_GROUP_SYSTEM = 'https://eastside.example/fhir/CodeSystem/antigen-group';
export const REASON_CATEGORY_SYSTEM = 'https://eastside.example/fhir/CodeSystem/missed-dose-reason-category';

export const ANTIGEN_GROUPS = ['6-in-1', 'rotavirus', 'MenB', 'PCV', 'Hib-MenC', 'MMR', 'MMRV', '4-in-1', 'other'] as const;
export type AntigenGroup = (typeof ANTIGEN_GROUPS)[number];

export const ANTIGEN_GROUP_NAMES: Record<AntigenGroup, string> = {
  '6-in-1': '6-in-1 (DTaP/IPV/Hib/HepB)',
  rotavirus: 'Rotavirus',
  MenB: 'MenB',
  PCV: 'Pneumococcal (PCV)',
  'Hib-MenC': 'Hib/MenC',
  MMR: 'MMR',
  MMRV: 'MMRV',
  '4-in-1': '4-in-1 pre-school booster (DTaP/IPV)',
  other: 'Other or not recorded',
};

const PROCEDURE_GROUPS: Readonly<Record<string, AntigenGroup>> = {
  '770616000': '6-in-1', '770617009': '6-in-1', '770618004': '6-in-1',
  '868631000000102': 'rotavirus', '868651000000109': 'rotavirus',
  '720539004': 'MenB', '720540002': 'MenB', '720544006': 'MenB',
  '247631000000101': 'PCV', '247641000000105': 'PCV', '247651000000108': 'PCV',
  '712834006': 'Hib-MenC',
  '308081000000105': 'MMR', '170433008': 'MMR',
  '871909005': 'MMRV', '433733003': 'MMRV',
  '390865008': '4-in-1',
};

/** The antigen group a SNOMED CT vaccination procedure code satisfies ("other" when unknown or absent). */
export function antigenGroupOf(procedureCode: string | null | undefined): AntigenGroup {
  return (procedureCode === null || procedureCode === undefined ? undefined : PROCEDURE_GROUPS[procedureCode]) ?? 'other';
}

export const REASON_CATEGORIES = ['did-not-attend', 'consent-not-given', 'other-reason'] as const;
export type ReasonCategory = (typeof REASON_CATEGORIES)[number];

export const REASON_CATEGORY_NAMES: Record<ReasonCategory, string> = {
  'did-not-attend': 'Did not attend',
  'consent-not-given': 'Consent not given (refused)',
  'other-reason': 'Declined, contraindicated or other reason',
};

const REASONS: Readonly<Record<string, ReasonCategory>> = {
  // Did not attend child immunisation; did not attend.
  '201741000000102': 'did-not-attend',
  '281399006': 'did-not-attend',
  // Immunisation consent not given.
  '310376006': 'consent-not-given',
};

/** The category of a not-done reason (SNOMED CT statusReason code). */
export function reasonCategoryOf(reasonCode: string | null | undefined): ReasonCategory {
  return (reasonCode === null || reasonCode === undefined ? undefined : REASONS[reasonCode]) ?? 'other-reason';
}

/** The stratum of a follow-up with no dose (an exception report): no vaccine, no reason. */
export const NOT_APPLICABLE = 'not-applicable';
/** The reason category of an overdue dose: never recorded, not recorded as not given. */
export const OVERDUE_REASON = 'overdue';

/** The strata a follow-up figure adds to the vaccines and reasons, for Tasks that are not about a missed dose. */
export const FOLLOW_UP_VACCINE_EXTRAS = [NOT_APPLICABLE] as const;
export const FOLLOW_UP_REASON_EXTRAS = [OVERDUE_REASON, NOT_APPLICABLE] as const;

/**
 * A follow-up Task's vaccine and reason strata: a missed dose's from its focus
 * Immunization, an overdue dose's vaccine from its focus recommendation and
 * reason "overdue"; any other kind (an exception) "not-applicable".
 */
export function followUpStrata(kind: string, procedure: string | null, reason: string | null): { vaccine: string; reasonCategory: string } {
  if (kind === 'missed-dose') return { vaccine: antigenGroupOf(procedure), reasonCategory: reasonCategoryOf(reason) };
  if (kind === 'overdue-dose') return { vaccine: antigenGroupOf(procedure), reasonCategory: OVERDUE_REASON };
  return { vaccine: NOT_APPLICABLE, reasonCategory: NOT_APPLICABLE };
}

/** The postcode district a figure is counted under when the child's is not known. */
export const UNKNOWN_DISTRICT = 'unknown';
