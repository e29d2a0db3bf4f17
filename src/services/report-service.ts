import type { Principal } from '../auth/principal.js';
import { denialReport, disclosureReport, type DenialReportRow, type DisclosureReportRow, type RecordedRange } from '../db/audit-search-queries.js';
import type { Db, Tx } from '../db/database.js';
import { followUpReport, type FollowUpReportRow } from '../db/follow-up-report-queries.js';
import { problem } from '../fhir/operation-outcome.js';
import type { ParamList } from '../fhir/search-request.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { refuse } from './decision-audit.js';
import type { FhirResult } from './fhir-result.js';

// The IG lead's monthly reports over the disclosure decisions in the audit log,
// as CSV (RFC 4180) or JSON. Reading them is audited like any other read.

export interface ReportDeps {
  db: Db;
  audit: AuditRecorder;
  clock: () => Date;
}

/** Follow-up work nobody has acted on for this long counts as stalled (the escalation bound's default). */
export const STALLED_AFTER_DAYS = 14;

/** A report to send, or a refusal (an OperationOutcome). */
export type ReportAnswer =
  | { kind: 'report'; contentType: string; headers: Record<string, string>; body: string }
  | { kind: 'refused'; result: FhirResult };

interface ReportRequest {
  range: RecordedRange;
  from: string | undefined;
  to: string | undefined;
  json: boolean;
}

const DISCLOSURE_COLUMNS: readonly [string, keyof DisclosureReportRow][] = [
  ['month', 'month'],
  ['organisation_code', 'organisationCode'],
  ['organisation_name', 'organisationName'],
  ['organisation_type', 'organisationType'],
  ['protocol', 'protocol'],
  ['flow', 'flow'],
  ['disclosure_events', 'disclosureEvents'],
  ['records', 'records'],
  ['people', 'people'],
];

const DENIAL_COLUMNS: readonly [string, keyof DenialReportRow][] = [
  ['month', 'month'],
  ['organisation_code', 'organisationCode'],
  ['organisation_name', 'organisationName'],
  ['client_id', 'clientId'],
  ['reason', 'reason'],
  ['denial_events', 'denialEvents'],
  ['people', 'people'],
];

const FOLLOW_UP_COLUMNS: readonly [string, keyof FollowUpReportRow][] = [
  ['month', 'month'],
  ['kind', 'kind'],
  ['organisation_code', 'organisationCode'],
  ['organisation_name', 'organisationName'],
  ['status', 'status'],
  ['business_status', 'businessStatus'],
  ['tasks', 'tasks'],
  ['stalled', 'stalled'],
  ['completed_within_28_days', 'completedWithin28Days'],
];

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** from/to (YYYY-MM, inclusive UTC months) and the format, naming the parameter at fault. */
export function parseReportRequest(params: ParamList, accept: string | undefined): { ok: true; request: ReportRequest } | { ok: false; param: string; diagnostics: string; status: number } {
  const seen = new Set<string>();
  let from: string | undefined;
  let to: string | undefined;
  let format: string | undefined;
  for (const [name, raw] of params) {
    const value = raw.trim();
    const printable = name.replace(/[^\x20-\x7e]/g, '?');
    if (!['from', 'to', '_format'].includes(name)) return { ok: false, param: printable, diagnostics: `parameter ${printable} is not supported (from, to, _format)`, status: 400 };
    if (seen.has(name)) return { ok: false, param: name, diagnostics: `${name} may appear only once`, status: 400 };
    seen.add(name);
    if (name === '_format') {
      if (!['csv', 'text/csv', 'json', 'application/json'].includes(value)) return { ok: false, param: name, diagnostics: '_format must be csv or json', status: 400 };
      format = value;
    } else if (!MONTH.test(value)) {
      return { ok: false, param: name, diagnostics: `${name} must be a month, YYYY-MM`, status: 400 };
    } else if (name === 'from') {
      from = value;
    } else {
      to = value;
    }
  }
  if (from !== undefined && to !== undefined && to < from) return { ok: false, param: 'to', diagnostics: `to (${to}) is before from (${from})`, status: 400 };
  const json = format === undefined ? /\bapplication\/json\b/i.test(accept ?? '') : format.endsWith('json');
  return { ok: true, request: { range: { from: monthStart(from, 0), to: monthStart(to, 1) }, from, to, json } };
}

/** The first instant of the month (offset 0) or of the month after it (offset 1), UTC. */
function monthStart(month: string | undefined, offset: number): Date | undefined {
  const m = month === undefined ? null : MONTH.exec(month);
  if (m === null) return undefined;
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1 + offset, 1));
}

/**
 * RFC 4180: a header row, CRLF line ends, fields holding a comma, quote or
 * line break quoted with quotes doubled. A text cell that a spreadsheet
 * would take for a formula (= + - @, tab, CR first) is prefixed with an
 * apostrophe. See: https://www.rfc-editor.org/rfc/rfc4180 and
 * https://owasp.org/www-community/attacks/CSV_Injection
 */
export function toCsv(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cell = (v: string | number): string => {
    if (typeof v === 'number') return String(v);
    const text = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [header, ...rows].map((row) => `${row.map(cell).join(',')}\r\n`).join('');
}

export class ReportService {
  constructor(private readonly deps: ReportDeps) {}

  /** GET /audit/report/disclosures: permits under a protocol flow, per month, organisation and flow. */
  async disclosures(principal: Principal, params: ParamList, accept: string | undefined, meta: RequestMeta): Promise<ReportAnswer> {
    return this.report(principal, params, accept, meta, 'disclosures', DISCLOSURE_COLUMNS, disclosureReport);
  }

  /** GET /audit/report/denials: denials per month, organisation, client and reason. */
  async denials(principal: Principal, params: ParamList, accept: string | undefined, meta: RequestMeta): Promise<ReportAnswer> {
    return this.report(principal, params, accept, meta, 'denials', DENIAL_COLUMNS, denialReport);
  }

  /** GET /audit/report/follow-ups: the hub's follow-up Tasks per month raised, kind, owner and status; stalled ones counted. */
  async followUps(principal: Principal, params: ParamList, accept: string | undefined, meta: RequestMeta): Promise<ReportAnswer> {
    const stalledBefore = new Date(this.deps.clock().getTime() - STALLED_AFTER_DAYS * 86_400_000);
    return this.report(principal, params, accept, meta, 'follow-ups', FOLLOW_UP_COLUMNS, (db, range) => followUpReport(db, range, stalledBefore), 'Task');
  }

  private async report<Row extends object>(
    principal: Principal,
    params: ParamList,
    accept: string | undefined,
    meta: RequestMeta,
    name: string,
    columns: readonly [string, keyof Row][],
    load: (db: Db | Tx, range: RecordedRange) => Promise<Row[]>,
    resourceType = 'AuditEvent',
  ): Promise<ReportAnswer> {
    const query = new URLSearchParams(params.map(([k, v]): [string, string] => [k, v])).toString();
    const parsed = parseReportRequest(params, accept);
    if (!parsed.ok) {
      return { kind: 'refused', result: await refuse(this.deps, principal, meta, 'operation', resourceType, problem(parsed.status, 'invalid', parsed.diagnostics, parsed.param), query) };
    }
    const { range, from, to, json } = parsed.request;
    const rows = await this.deps.audit.transaction(this.deps.db, async (tx) => {
      const found = await load(tx, range);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'operation',
        outcome: 'success',
        outcomeDesc: `${name} report: ${found.length} row(s)`,
        query,
        resourceType,
      });
      return found;
    });
    if (json) return { kind: 'report', contentType: 'application/json; charset=utf-8', headers: {}, body: JSON.stringify({ rows }) };
    const csv = toCsv(
      columns.map(([header]) => header),
      rows.map((row) => columns.map(([, key]) => row[key] as string | number)),
    );
    return {
      kind: 'report',
      contentType: 'text/csv; charset=utf-8',
      headers: { 'Content-Disposition': `attachment; filename="${name}-${from ?? 'earliest'}-${to ?? 'latest'}.csv"` },
      body: csv,
    };
  }
}
