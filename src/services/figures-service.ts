import type { Bundle } from 'fhir/r4.js';
import { LOCAL_ORG_SYSTEM } from '../adapters/codes.js';
import type { Principal } from '../auth/principal.js';
import { allows, type Permission } from '../auth/scopes.js';
import type { Db } from '../db/database.js';
import { followUpCounts, missedDoseCounts, type DateRange } from '../db/figure-queries.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { problem, type Problem } from '../fhir/operation-outcome.js';
import type { ParamList } from '../fhir/search-request.js';
import { antigenGroupOf, followUpStrata, reasonCategoryOf } from '../figures/figure-codes.js';
import { buildFigure, FIGURE_CSV_HEADER, FOLLOW_UP_KINDS_OF, toCsvRows, toMeasureReport, type FigureFact, type FigureTable } from '../figures/measure-report.js';
import { isMeasureId, measureCanonical, measureOfCanonical, type MeasureId } from '../figures/measures.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { refuse } from './decision-audit.js';
import type { FhirResult } from './fhir-result.js';
import { toCsv } from './report-service.js';

// The commissioners' figures (issue 11, Build 4): aggregate counts of what the
// hub stores, as FHIR MeasureReports or CSV, with small numbers withheld.
// No record leaves here: the queries return counts per group only, so the
// disclosure decision (which judges records) has nothing to judge; access is
// decided by purpose instead, and every report is audited without patients.

export interface FiguresDeps {
  db: Db;
  audit: AuditRecorder;
  clock: () => Date;
}

export type FigureAnswer =
  | { kind: 'fhir'; result: FhirResult }
  | { kind: 'csv'; body: string; filename: string };

/** The longest period one report covers (bounds the work and the answer). */
export const MAX_PERIOD_MONTHS = 36;

const HUB_REPORTER = { system: LOCAL_ORG_SYSTEM, value: HUB_ORGANISATION, display: 'Eastside Early Years Sharing Hub' };

/**
 * Who may have the figures: a commissioner's client, purpose commissioning,
 * with a MeasureReport scope; or the information governance lead (purpose
 * audit). Everyone else is refused, whatever other scopes they hold.
 */
export function mayReadFigures(p: Principal, permission: Permission): boolean {
  if (p.organisationType === 'hub-operator' && p.purposeOfUse === 'audit') return allows(p.scopes, 'AuditEvent', 'r');
  return p.organisationType === 'commissioner' && p.purposeOfUse === 'commissioning' && allows(p.scopes, 'MeasureReport', permission);
}

const DATE = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

function validDate(text: string): boolean {
  if (!DATE.test(text)) return false;
  const d = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === text;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: Problem };

function bad(param: string, diagnostics: string): { ok: false; problem: Problem } {
  return { ok: false, problem: problem(400, 'invalid', diagnostics, param) };
}

function checkRange(range: DateRange, startParam: string, endParam: string): Parsed<DateRange> {
  if (!validDate(range.start)) return bad(startParam, `${startParam} must be a date, YYYY-MM-DD`);
  if (!validDate(range.end)) return bad(endParam, `${endParam} must be a date, YYYY-MM-DD`);
  if (range.end < range.start) return bad(endParam, `${endParam} (${range.end}) is before ${startParam} (${range.start})`);
  const months = (Number(range.end.slice(0, 4)) - Number(range.start.slice(0, 4))) * 12 + Number(range.end.slice(5, 7)) - Number(range.start.slice(5, 7)) + 1;
  if (months > MAX_PERIOD_MONTHS) return bad(endParam, `a report covers at most ${MAX_PERIOD_MONTHS} months`);
  return { ok: true, value: range };
}

interface FigureRequest {
  range: DateRange;
  csv: boolean;
}

function wantsCsv(format: string | undefined, accept: string | undefined): Parsed<boolean> {
  if (format === undefined) return { ok: true, value: /\btext\/csv\b/i.test(accept ?? '') };
  if (['csv', 'text/csv'].includes(format)) return { ok: true, value: true };
  if (['json', 'application/json', 'application/fhir+json'].includes(format)) return { ok: true, value: false };
  return bad('_format', '_format must be csv or json');
}

/** $evaluate-measure's parameters. See: https://hl7.org/fhir/R4/measure-operation-evaluate-measure.html */
export function parseEvaluateRequest(params: ParamList, accept: string | undefined): Parsed<FigureRequest> {
  const seen = new Map<string, string>();
  for (const [name, value] of params) {
    const printable = name.replace(/[^\x20-\x7e]/g, '?');
    if (!['periodStart', 'periodEnd', 'reportType', '_format'].includes(name)) return bad(printable, `parameter ${printable} is not supported (periodStart, periodEnd, reportType, _format)`);
    if (seen.has(name)) return bad(name, `${name} may appear only once`);
    seen.set(name, value.trim());
  }
  const reportType = seen.get('reportType');
  if (reportType !== undefined && !['summary', 'population'].includes(reportType)) return bad('reportType', 'reportType must be summary: the hub reports no subject or subject-list');
  const start = seen.get('periodStart');
  const end = seen.get('periodEnd');
  if (start === undefined) return bad('periodStart', 'periodStart is required (YYYY-MM-DD)');
  if (end === undefined) return bad('periodEnd', 'periodEnd is required (YYYY-MM-DD)');
  const range = checkRange({ start, end }, 'periodStart', 'periodEnd');
  if (!range.ok) return range;
  const csv = wantsCsv(seen.get('_format'), accept);
  if (!csv.ok) return csv;
  return { ok: true, value: { range: range.value, csv: csv.value } };
}

/** MeasureReport search: measure (a canonical, required) and period=geYYYY-MM-DD&period=leYYYY-MM-DD. */
export function parseSearchRequest(params: ParamList, accept: string | undefined): Parsed<FigureRequest & { measure: MeasureId }> {
  let measure: MeasureId | undefined;
  let start: string | undefined;
  let end: string | undefined;
  let format: string | undefined;
  for (const [name, raw] of params) {
    const value = raw.trim();
    const printable = name.replace(/[^\x20-\x7e]/g, '?');
    if (name === 'measure') {
      if (measure !== undefined) return bad('measure', 'measure may appear only once');
      measure = measureOfCanonical(value);
      if (measure === undefined) return bad('measure', `measure must be the canonical URL of one of the hub's Measures (${measureCanonical('missed-doses')}, ...)`);
    } else if (name === 'period') {
      const m = /^(ge|le)(.*)$/.exec(value);
      if (m === null) return bad('period', 'period must be geYYYY-MM-DD and leYYYY-MM-DD (one of each)');
      if (m[1] === 'ge') {
        if (start !== undefined) return bad('period', 'period=ge may appear only once');
        start = m[2] ?? '';
      } else {
        if (end !== undefined) return bad('period', 'period=le may appear only once');
        end = m[2] ?? '';
      }
    } else if (name === '_format') {
      if (format !== undefined) return bad('_format', '_format may appear only once');
      format = value;
    } else {
      return bad(printable, `parameter ${printable} is not supported (measure, period, _format)`);
    }
  }
  if (measure === undefined) return bad('measure', 'measure is required (the Measure\'s canonical URL)');
  if (start === undefined || end === undefined) return bad('period', 'period=geYYYY-MM-DD and period=leYYYY-MM-DD are both required');
  const range = checkRange({ start, end }, 'period', 'period');
  if (!range.ok) return range;
  const csv = wantsCsv(format, accept);
  if (!csv.ok) return csv;
  return { ok: true, value: { measure, range: range.value, csv: csv.value } };
}

export class FiguresService {
  constructor(private readonly deps: FiguresDeps) {}

  /** GET /fhir/Measure/{id}/$evaluate-measure: the figure over the period, as a MeasureReport (or CSV). */
  async evaluate(principal: Principal, id: string, params: ParamList, accept: string | undefined, meta: RequestMeta): Promise<FigureAnswer> {
    const query = queryOf(params);
    if (!mayReadFigures(principal, 'r')) return this.refused(principal, meta, 'Measure', forbidden(), query);
    if (!isMeasureId(id)) return this.refused(principal, meta, 'Measure', problem(404, 'not-found', `Measure/${id} is not one of the hub's figures`, 'id'), query);
    const parsed = parseEvaluateRequest(params, accept);
    if (!parsed.ok) return this.refused(principal, meta, 'Measure', parsed.problem, query);
    const table = await this.figure(principal, meta, id, parsed.value.range, query, parsed.value.csv);
    return parsed.value.csv ? csvAnswer(table) : { kind: 'fhir', result: { status: 200, body: toMeasureReport(table, this.deps.clock(), HUB_REPORTER) } };
  }

  /** GET /fhir/MeasureReport?measure=&period=ge&period=le: a searchset Bundle holding the one report (or CSV). */
  async search(principal: Principal, params: ParamList, accept: string | undefined, meta: RequestMeta): Promise<FigureAnswer> {
    const query = queryOf(params);
    if (!mayReadFigures(principal, 's')) return this.refused(principal, meta, 'MeasureReport', forbidden(), query);
    const parsed = parseSearchRequest(params, accept);
    if (!parsed.ok) return this.refused(principal, meta, 'MeasureReport', parsed.problem, query);
    const { measure, range, csv } = parsed.value;
    const table = await this.figure(principal, meta, measure, range, query, csv);
    if (csv) return csvAnswer(table);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: 1,
      entry: [{ resource: toMeasureReport(table, this.deps.clock(), HUB_REPORTER), search: { mode: 'match' } }],
    };
    return { kind: 'fhir', result: { status: 200, body: bundle } };
  }

  /** Counts, builds and audits one figure (one AuditEvent naming the measure and period, no patients). */
  private async figure(principal: Principal, meta: RequestMeta, measure: MeasureId, range: DateRange, query: string, csv: boolean): Promise<FigureTable> {
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      const facts = await factsOf(tx, measure, range);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'operation',
        outcome: 'success',
        outcomeDesc: `figure ${measureCanonical(measure)} for ${range.start} to ${range.end} (${csv ? 'CSV' : 'MeasureReport'})`,
        resources: [`Measure/${measure}`],
        query,
        resourceType: 'MeasureReport',
      });
      return buildFigure(measure, range, facts);
    });
  }

  private async refused(principal: Principal, meta: RequestMeta, type: string, refusal: Problem, query: string): Promise<FigureAnswer> {
    return { kind: 'fhir', result: await refuse(this.deps, principal, meta, 'operation', type, refusal, query) };
  }
}

async function factsOf(tx: Parameters<typeof missedDoseCounts>[0], measure: MeasureId, range: DateRange): Promise<FigureFact[]> {
  switch (measure) {
    case 'missed-doses':
      return (await missedDoseCounts(tx, range)).map((r) => ({
        strata: { month: r.month, 'postcode-district': r.district, vaccine: antigenGroupOf(r.procedure), 'reason-category': reasonCategoryOf(r.reason) },
        counts: [r.count],
      }));
    case 'follow-ups':
    case 'exceptions': {
      const kinds = FOLLOW_UP_KINDS_OF[measure] ?? [];
      return (await followUpCounts(tx, range))
        .filter((r) => (kinds as readonly string[]).includes(r.kind))
        .map((r) => {
          const { vaccine, reasonCategory } = followUpStrata(r.kind, r.procedure, r.reason);
          return {
            strata: { month: r.month, 'postcode-district': r.district, 'follow-up-kind': r.kind, vaccine, 'reason-category': reasonCategory },
            counts: measure === 'follow-ups' ? [r.opened, r.completedWithin28Days] : [r.opened],
          };
        });
    }
  }
}

function csvAnswer(table: FigureTable): FigureAnswer {
  return { kind: 'csv', body: toCsv(FIGURE_CSV_HEADER, toCsvRows(table)), filename: `${table.measure}-${table.period.start}-${table.period.end}.csv` };
}

function forbidden(): Problem {
  return problem(403, 'forbidden', 'the commissioners\' figures are for a commissioner\'s client (purpose commissioning, scope system/MeasureReport.rs) or the information governance lead', 'purpose_of_use');
}

function queryOf(params: ParamList): string {
  return new URLSearchParams(params.map(([k, v]): [string, string] => [k, v])).toString();
}
