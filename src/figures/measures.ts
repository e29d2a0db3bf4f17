import type { Measure, MeasureGroupStratifier } from 'fhir/r4.js';

// The hub's commissioners' figures as FHIR R4 Measures: definitional, with no
// personal data (served read-only like the CAF Questionnaire). Each report of
// one (a MeasureReport) is computed on request. Pure.
// See: https://hl7.org/fhir/R4/measure.html

export const MEASURE_BASE = 'https://eastside.example/fhir/Measure';
export const STRATIFIER_SYSTEM = 'https://eastside.example/fhir/CodeSystem/figure-stratifier';
export const POPULATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/measure-population';

export const MEASURE_IDS = ['missed-doses', 'follow-ups', 'exceptions'] as const;
export type MeasureId = (typeof MEASURE_IDS)[number];

export type StratifierCode = 'month' | 'postcode-district' | 'vaccine' | 'reason-category' | 'follow-up-kind';
export type PopulationCode = 'initial-population' | 'denominator' | 'numerator';

export interface FigureDefinition {
  id: MeasureId;
  /** The populations counted, in order; with a numerator, it is a subset of the denominator. */
  populations: readonly PopulationCode[];
  stratifiers: readonly StratifierCode[];
}

export const FIGURES: Readonly<Record<MeasureId, FigureDefinition>> = {
  'missed-doses': { id: 'missed-doses', populations: ['initial-population'], stratifiers: ['month', 'postcode-district', 'vaccine', 'reason-category'] },
  'follow-ups': { id: 'follow-ups', populations: ['denominator', 'numerator'], stratifiers: ['month', 'postcode-district', 'follow-up-kind', 'vaccine', 'reason-category'] },
  exceptions: { id: 'exceptions', populations: ['initial-population'], stratifiers: ['month', 'postcode-district', 'follow-up-kind'] },
};

export function isMeasureId(id: string): id is MeasureId {
  return (MEASURE_IDS as readonly string[]).includes(id);
}

export function measureCanonical(id: MeasureId): string {
  return `${MEASURE_BASE}/${id}`;
}

/** The measure a canonical URL names (an optional |version ignored), or undefined. */
export function measureOfCanonical(canonical: string): MeasureId | undefined {
  const url = canonical.split('|')[0] ?? '';
  const id = url.startsWith(`${MEASURE_BASE}/`) ? url.slice(MEASURE_BASE.length + 1) : undefined;
  return id !== undefined && isMeasureId(id) ? id : undefined;
}

const STRATIFIER_TEXT: Record<StratifierCode, { display: string; description: string; expression: string }> = {
  month: {
    display: 'Month',
    description: 'The calendar month (YYYY-MM) of the event as recorded: the appointment of a missed dose, the day a Task was raised.',
    expression: 'occurrence.toString().substring(0, 7) | executionPeriod.start.toString().substring(0, 7)',
  },
  'postcode-district': {
    display: 'Postcode district',
    description: 'The outward code of the child\'s postcode as the hub holds it (the first in sort order when it holds several); "unknown" without one.',
    expression: "(patient | for).resolve().address.postalCode",
  },
  vaccine: {
    display: 'Vaccine (antigen group)',
    description:
      'The antigen group of the SNOMED CT vaccination procedure (Extension-UKCore-VaccinationProcedure): 6-in-1, rotavirus, MenB, PCV, Hib-MenC, MMR, MMRV, 4-in-1, other. ' +
      'For a follow-up, that of the dose its focus is about: the missed dose (Immunization) or the overdue dose (ImmunizationRecommendation vaccineCode); not-applicable for an exception.',
    expression:
      "(focus.resolve() | $this).ofType(Immunization).extension.where(url = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure').value.coding.code" +
      ' | focus.resolve().ofType(ImmunizationRecommendation).recommendation.vaccineCode.coding.code',
  },
  'reason-category': {
    display: 'Reason category',
    description:
      'Why the dose was not given: did-not-attend (201741000000102, 281399006), consent-not-given (310376006), other-reason (declined, contraindicated and any other code). ' +
      'For a follow-up, that of its focus Immunization for a missed dose; overdue for an overdue dose; not-applicable for an exception.',
    expression: '(focus.resolve() | $this).ofType(Immunization).statusReason.coding.code',
  },
  'follow-up-kind': {
    display: 'Kind of follow-up',
    description: 'The Task code (https://eastside.example/fhir/CodeSystem/follow-up): missed-dose, overdue-dose, birth-without-booking, pregnancy-overdue.',
    expression: 'code.coding.code',
  },
};

export function stratifierDisplay(code: StratifierCode): string {
  return STRATIFIER_TEXT[code].display;
}

const POPULATION_TEXT: Record<MeasureId, Partial<Record<PopulationCode, { description: string; expression: string }>>> = {
  'missed-doses': {
    'initial-population': {
      description: 'Immunizations the hub holds with status not-done (a dose not given, as GP systems report it), dated in the period.',
      expression: "Immunization.where(status = 'not-done')",
    },
  },
  'follow-ups': {
    denominator: {
      description: 'Follow-up Tasks the hub raised (requester the hub, code from the follow-up code system) with executionPeriod.start in the period.',
      expression: "Task.where(code.coding.system = 'https://eastside.example/fhir/CodeSystem/follow-up')",
    },
    numerator: {
      description: 'Of those, the Tasks completed within 28 days of being raised (status completed; executionPeriod.end, else lastModified, at most 28 days after executionPeriod.start).',
      expression: "status = 'completed' and ((executionPeriod.end | lastModified).first() - executionPeriod.start) <= 28 days",
    },
  },
  exceptions: {
    'initial-population': {
      description: 'Exception Tasks the hub raised (kind birth-without-booking or pregnancy-overdue) with executionPeriod.start in the period.',
      expression: "Task.where(code.coding.code in ('birth-without-booking' | 'pregnancy-overdue'))",
    },
  },
};

const TITLES: Record<MeasureId, { name: string; title: string; description: string }> = {
  'missed-doses': {
    name: 'MissedDoses',
    title: 'Missed routine immunisation doses',
    description: 'Doses of the routine childhood schedule recorded as not given, by month, postcode district, vaccine and reason category.',
  },
  'follow-ups': {
    name: 'FollowUps',
    title: 'Follow-ups opened and completed within 28 days',
    description: 'Follow-up Tasks the hub raised, and how many were completed within 28 days, by month, postcode district, kind, vaccine and reason category.',
  },
  exceptions: {
    name: 'Exceptions',
    title: 'Exception reports',
    description: 'Births notified without a booking and pregnancies four weeks past their due date with no birth, by month, postcode district and kind.',
  },
};

const SUPPRESSION_NOTE =
  'Aggregate counts only: no person, NHS number or record id. Every count from 1 to 4 is withheld, and further counts are withheld ' +
  'so that none can be worked out from the totals; a withheld count has no value and carries the data-absent-reason extension ' +
  '(masked) on count. Zeros are shown.';

/** The Measure resource the hub serves for one figure. */
export function measureResource(id: MeasureId): Measure {
  const figure = FIGURES[id];
  const text = TITLES[id];
  const stratifier: MeasureGroupStratifier[] = figure.stratifiers.map((code) => ({
    code: { coding: [{ system: STRATIFIER_SYSTEM, code, display: STRATIFIER_TEXT[code].display }], text: STRATIFIER_TEXT[code].display },
    description: STRATIFIER_TEXT[code].description,
    criteria: { language: 'text/fhirpath', expression: STRATIFIER_TEXT[code].expression },
  }));
  return {
    resourceType: 'Measure',
    id,
    url: measureCanonical(id),
    version: '1',
    name: text.name,
    title: text.title,
    status: 'active',
    experimental: false,
    publisher: 'Eastside Early Years Sharing Hub',
    description: text.description,
    purpose: 'For public health commissioners (purpose of use commissioning) and the information governance lead.',
    disclaimer: SUPPRESSION_NOTE,
    scoring: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-scoring', code: figure.populations.includes('numerator') ? 'proportion' : 'cohort' }] },
    group: [
      {
        population: figure.populations.map((code) => ({
          code: { coding: [{ system: POPULATION_SYSTEM, code }] },
          description: POPULATION_TEXT[id][code]?.description ?? code,
          criteria: { language: 'text/fhirpath', expression: POPULATION_TEXT[id][code]?.expression ?? code },
        })),
        stratifier,
      },
    ],
  };
}

export const MEASURES: readonly Measure[] = MEASURE_IDS.map(measureResource);
