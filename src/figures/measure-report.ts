import type { CodeableConcept, MeasureReport, MeasureReportGroupPopulation } from 'fhir/r4.js';
import {
  ANTIGEN_GROUP_NAMES,
  ANTIGEN_GROUP_SYSTEM,
  ANTIGEN_GROUPS,
  FOLLOW_UP_REASON_EXTRAS,
  FOLLOW_UP_VACCINE_EXTRAS,
  REASON_CATEGORIES,
  REASON_CATEGORY_NAMES,
  REASON_CATEGORY_SYSTEM,
  type AntigenGroup,
  type ReasonCategory,
} from './figure-codes.js';
import { FIGURES, measureCanonical, POPULATION_SYSTEM, STRATIFIER_SYSTEM, stratifierDisplay, type MeasureId, type StratifierCode } from './measures.js';
import type { FollowUpKind } from '../followup/follow-up-task.js';
import { suppress, type CountEntry, type CountLine } from './suppression.js';

// From aggregate counts to a published figure: totals, strata, small-number
// suppression, then the FHIR MeasureReport or CSV rows. Pure.
// See: https://hl7.org/fhir/R4/measurereport.html

/** One group of events with the same stratum in every stratifier, and its count per population. */
export interface FigureFact {
  strata: Partial<Record<StratifierCode, string>>;
  counts: readonly number[];
}

export interface FigurePeriod {
  /** Inclusive dates, YYYY-MM-DD. */
  start: string;
  end: string;
}

/** A count as published: a number, or null when withheld. */
export type Published = number | null;

export interface FigureTable {
  measure: MeasureId;
  period: FigurePeriod;
  /** Per population, in the figure's order. */
  overall: Published[];
  stratifiers: { code: StratifierCode; strata: { value: string; counts: Published[] }[] }[];
}

export const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';

/** The kinds of follow-up each Task-based figure counts. */
export const FOLLOW_UP_KINDS_OF: Readonly<Partial<Record<MeasureId, readonly FollowUpKind[]>>> = {
  'follow-ups': ['missed-dose', 'overdue-dose', 'birth-without-booking', 'pregnancy-overdue'],
  exceptions: ['birth-without-booking', 'pregnancy-overdue'],
};

/** Every month (YYYY-MM) the period touches. */
export function monthsOf(period: FigurePeriod): string[] {
  const months: string[] = [];
  let [y, m] = [Number(period.start.slice(0, 4)), Number(period.start.slice(5, 7))];
  const last = period.end.slice(0, 7);
  for (let guard = 0; guard < 1200; guard++) {
    const month = `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}`;
    if (month > last) break;
    months.push(month);
    [y, m] = m === 12 ? [y + 1, 1] : [y, m + 1];
  }
  return months;
}

/** The strata a stratifier always lists (zeros shown), before any observed ones. */
function domainOf(measure: MeasureId, code: StratifierCode, period: FigurePeriod): readonly string[] {
  switch (code) {
    case 'month':
      return monthsOf(period);
    case 'vaccine':
      return measure === 'follow-ups' ? [...ANTIGEN_GROUPS, ...FOLLOW_UP_VACCINE_EXTRAS] : ANTIGEN_GROUPS;
    case 'reason-category':
      return measure === 'follow-ups' ? [...REASON_CATEGORIES, ...FOLLOW_UP_REASON_EXTRAS] : REASON_CATEGORIES;
    case 'follow-up-kind':
      return FOLLOW_UP_KINDS_OF[measure] ?? [];
    case 'postcode-district':
      return [];
  }
}

/**
 * Adds up the facts into the figure's population counts and strata, and
 * withholds small counts and those that would reveal them (suppression.ts).
 * A numerator's complement (denominator - numerator) is part of the
 * relations, never shown, and protected like a shown count.
 */
export function buildFigure(measure: MeasureId, period: FigurePeriod, facts: readonly FigureFact[]): FigureTable {
  const figure = FIGURES[measure];
  const populations = figure.populations.length;
  const proportion = figure.populations.includes('numerator');
  const den = figure.populations.indexOf('denominator');
  const num = figure.populations.indexOf('numerator');

  const entries: CountEntry[] = [];
  const lines: CountLine[] = [];
  const add = (value: number, hidden = false): number => entries.push(hidden ? { value, hidden } : { value }) - 1;
  /** Entries of one cell: one per population, then the hidden complement. */
  const cellOf = (counts: readonly number[]): number[] => {
    const ids = counts.map((c) => add(c));
    if (proportion) {
      const complement = add((counts[den] ?? 0) - (counts[num] ?? 0), true);
      lines.push({ members: [ids[num] ?? -1, complement], total: ids[den] ?? -1 });
      ids.push(complement);
    }
    return ids;
  };
  const sum = (rows: readonly (readonly number[])[]): number[] => Array.from({ length: populations }, (_, p) => rows.reduce((s, r) => s + (r[p] ?? 0), 0));

  const overall = cellOf(sum(facts.map((f) => f.counts)));
  const strata = figure.stratifiers.map((code) => {
    const observed = [...new Set(facts.map((f) => f.strata[code] ?? ''))].sort();
    const domain = domainOf(measure, code, period);
    const values = [...domain, ...observed.filter((v) => !domain.includes(v))];
    const cells = values.map((value) => ({ value, ids: cellOf(sum(facts.filter((f) => (f.strata[code] ?? '') === value).map((f) => f.counts))) }));
    for (let k = 0; k < (overall.length); k++) lines.push({ members: cells.map((c) => c.ids[k] ?? -1), total: overall[k] ?? -1 });
    return { code, cells };
  });

  const shown = suppress({ entries, lines });
  const publish = (ids: readonly number[]): Published[] => ids.slice(0, populations).map((i) => (shown[i] === true ? (entries[i]?.value ?? 0) : null));
  return {
    measure,
    period,
    overall: publish(overall),
    stratifiers: strata.map(({ code, cells }) => ({ code, strata: cells.map((c) => ({ value: c.value, counts: publish(c.ids) })) })),
  };
}

/** The figure as an R4 MeasureReport (type summary, status complete). A withheld count has no value, only data-absent-reason masked. */
export function toMeasureReport(table: FigureTable, generated: Date, reporter: { system: string; value: string; display: string }): MeasureReport {
  const figure = FIGURES[table.measure];
  const population = (counts: readonly Published[]): MeasureReportGroupPopulation[] =>
    figure.populations.map((code, i) => {
      const count = counts[i] ?? null;
      return {
        code: { coding: [{ system: POPULATION_SYSTEM, code }] },
        ...(count === null ? { _count: { extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] } } : { count }),
      };
    });
  return {
    resourceType: 'MeasureReport',
    status: 'complete',
    type: 'summary',
    measure: measureCanonical(table.measure),
    date: generated.toISOString(),
    reporter: { identifier: { system: reporter.system, value: reporter.value }, display: reporter.display },
    period: { start: table.period.start, end: table.period.end },
    group: [
      {
        population: population(table.overall),
        stratifier: table.stratifiers.map((s) => ({
          code: [{ coding: [{ system: STRATIFIER_SYSTEM, code: s.code, display: stratifierDisplay(s.code) }], text: stratifierDisplay(s.code) }],
          stratum: s.strata.map((st) => ({ value: stratumValue(s.code, st.value), population: population(st.counts) })),
        })),
      },
    ],
  };
}

function stratumValue(code: StratifierCode, value: string): CodeableConcept {
  // A follow-up's "not-applicable" and "overdue" are no codes of these systems: text only.
  if (code === 'vaccine' && (ANTIGEN_GROUPS as readonly string[]).includes(value)) return { coding: [{ system: ANTIGEN_GROUP_SYSTEM, code: value, display: ANTIGEN_GROUP_NAMES[value as AntigenGroup] }], text: value };
  if (code === 'reason-category' && (REASON_CATEGORIES as readonly string[]).includes(value)) return { coding: [{ system: REASON_CATEGORY_SYSTEM, code: value, display: REASON_CATEGORY_NAMES[value as ReasonCategory] }], text: value };
  return { text: value };
}

/** The CSV's marker for a withheld count. */
export const WITHHELD = '*';
export const FIGURE_CSV_HEADER = ['measure', 'period_start', 'period_end', 'stratifier', 'stratum', 'population', 'count'] as const;

/** One row per population of the whole period ("all"/"all") and of each stratum; a withheld count is "*". */
export function toCsvRows(table: FigureTable): string[][] {
  const figure = FIGURES[table.measure];
  const canonical = measureCanonical(table.measure);
  const rows = (stratifier: string, stratum: string, counts: readonly Published[]): string[][] =>
    figure.populations.map((code, i) => [canonical, table.period.start, table.period.end, stratifier, stratum, code, String(counts[i] ?? WITHHELD)]);
  return [
    ...rows('all', 'all', table.overall),
    ...table.stratifiers.flatMap((s) => s.strata.flatMap((st) => rows(s.code, st.value, st.counts))),
  ];
}
