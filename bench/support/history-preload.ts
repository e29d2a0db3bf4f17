import type { FhirResource } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { adaptImmunisationCsv, IMMUNISATION_CSV_COLUMNS } from '../../src/adapters/immunisation-csv.js';
import { completeHistoryUnits } from '../../src/adapters/immunisation-history.js';
import { composePatient, demographicsOf, restate } from '../../src/fhir/patient-sources.js';
import { rewriteReferences, withIdentifier } from '../../src/fhir/resource-edits.js';
import { buildCompleteHistoryList } from '../../src/followup/complete-history.js';
import { assessSchedule, type DoseRecord } from '../../src/followup/schedule.js';
import type { Schedule } from '../../src/followup/schedule-schema.js';
import type { LoadedProtocol } from '../../src/protocol/protocol-schema.js';
import { insertFirstVersions, type PreloadRow } from './family-preload.js';
import { nhsNumbers, seededRandom } from './synthetic.js';

// Children whose practice sent a complete immunisation history, written
// straight into the hub's tables (as family-preload.ts does) in the shapes
// `POST /ingest/immunisations-csv?history=complete` stores: each batch of
// children is written out as the CSV a practice sends and read back by the
// hub's own adapter (adaptImmunisationCsv, completeHistoryUnits); then, as
// IngestService does for a first version, references are rewritten to the
// new ids, the match identifier is kept, the Patient is composed from the
// practice's statement (composePatient), and one snapshot List per child
// names every dose (buildCompleteHistoryList). Not written, because the job
// never reads them: the raw message (Binary), Provenance, dedup rows, the
// Patient's source statement row and the ingest's AuditEvents.
//
// Histories: each child is aged 9 weeks to 5 years 6 months on the day
// assessed; every dose due by then is given (on time 70 %, up to two months
// late 20 %, later 10 %; a dose past its upper age limit is given on time),
// 3 % of them after a did-not-attend record, except that 10 % of children
// miss one due dose and 5 % miss two: those doses are overdue unless past
// their upper age limit.

const PRACTICE = { system: 'https://fhir.nhs.uk/Id/ods-organization-code', code: 'Y90001', type: 'gp' } as const;
const UNIQUE_ID_URI = 'https://eastside.example/fhir/Id/emis-imms';
const POSTCODES = ['E1 3AB', 'E1 6AN', 'E1W 2PT', 'E14 5AB'] as const;
const DNA = { code: '201741000000102', term: 'Did not attend child immunisation' } as const;
const CHILDREN_PER_BATCH = 500;
const DAY_MS = 86_400_000;

export interface HistoryPreloadPlan {
  children: number;
  schedule: Schedule;
  /** The day the job assesses (YYYY-MM-DD). */
  asOf: string;
  /** When the practice's file arrived: every row's lastUpdated. */
  sentAt: Date;
  protocols: readonly LoadedProtocol[];
  signal: AbortSignal;
  log: (line: string) => void;
}

export interface HistoryPreload {
  children: number;
  byType: Map<string, number>;
  /** Doses the schedule finds overdue on asOf, from the histories as generated: what the first job run should raise. */
  overdue: number;
  /** Children with at least one overdue dose. */
  childrenOverdue: number;
}

interface Dose {
  date: string;
  code: string;
  term: string;
  doseNumber: number;
  status: 'completed' | 'not-done';
}

interface Child {
  n: number;
  nhs: string;
  birthDate: string;
  gender: '1' | '2';
  postcode: string;
  doses: Dose[];
}

function plusDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

function buildChild(n: number, nhs: string, plan: HistoryPreloadPlan, random: () => number): Child {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const birthDate = plusDays(plan.asOf, -(63 + Math.floor(random() * (2010 - 63))));
  const assessed = assessSchedule(plan.schedule, birthDate, [], plan.asOf);
  if (!assessed.ok) throw new Error(`synthetic child ${n}: ${assessed.problem}`);
  const due = assessed.doses.filter((d) => d.dueDate <= plan.asOf);
  const r = random();
  const missing = new Set<number>();
  const misses = r < 0.05 ? 2 : r < 0.15 ? 1 : 0;
  while (missing.size < Math.min(misses, due.length)) missing.add(Math.floor(random() * due.length));
  const doses: Dose[] = [];
  for (const [i, dose] of due.entries()) {
    if (missing.has(i)) continue;
    const form = { code: dose.vaccineCode, term: dose.label, doseNumber: dose.doseNumber };
    const l = random();
    const lateness = l < 0.7 ? Math.floor(random() * 8) : l < 0.9 ? 8 + Math.floor(random() * 53) : 61 + Math.floor(random() * 305);
    let given = plusDays(dose.dueDate, lateness);
    if (given > plan.asOf || (dose.noLongerDueFrom !== undefined && given >= dose.noLongerDueFrom)) given = dose.dueDate;
    if (random() < 0.03 && given > dose.dueDate) doses.push({ ...form, date: dose.dueDate, status: 'not-done' });
    doses.push({ ...form, date: given, status: 'completed' });
  }
  return { n, nhs, birthDate, gender: random() < 0.5 ? '1' : '2', postcode: pick(POSTCODES), doses };
}

/** The CSV a practice sends for these children, one row per dose, every column of the format. */
function csvOf(children: readonly Child[]): string {
  const quote = (s: string): string => `"${s}"`;
  const lines = [IMMUNISATION_CSV_COLUMNS.join('|')];
  for (const c of children) {
    for (const [k, d] of c.doses.entries()) {
      const day = d.date.replaceAll('-', '');
      const cells: Record<string, string> = {
        NHS_NUMBER: c.nhs,
        PERSON_FORENAME: 'Testchild',
        PERSON_SURNAME: `Testhistory${c.n}`,
        PERSON_DOB: c.birthDate.replaceAll('-', ''),
        PERSON_GENDER_CODE: c.gender,
        PERSON_POSTCODE: c.postcode,
        DATE_AND_TIME: `${day}T100000+00`,
        SITE_CODE: PRACTICE.code,
        SITE_CODE_TYPE_URI: PRACTICE.system,
        UNIQUE_ID: `${PRACTICE.code}-BENCH-${c.n}-${k}`,
        UNIQUE_ID_URI,
        ACTION_FLAG: 'new',
        RECORDED_DATE: day,
        PRIMARY_SOURCE: 'TRUE',
        VACCINATION_PROCEDURE_CODE: d.code,
        VACCINATION_PROCEDURE_TERM: d.term,
        DOSE_SEQUENCE: String(d.doseNumber),
        LOCATION_CODE: PRACTICE.code,
        LOCATION_CODE_TYPE_URI: PRACTICE.system,
        STATUS: d.status,
        ...(d.status === 'not-done' ? { STATUS_REASON_CODE: DNA.code, STATUS_REASON_TERM: DNA.term } : {}),
      };
      lines.push(IMMUNISATION_CSV_COLUMNS.map((col) => quote(cells[col] ?? '')).join('|'));
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The rows ingest would store for one file: Patients, Immunizations, and one complete-history List per child. */
export function rowsOfCsv(text: string, plan: Pick<HistoryPreloadPlan, 'protocols' | 'sentAt'>): PreloadRow[] {
  const file = adaptImmunisationCsv(text);
  if (!file.ok) throw new Error(`the synthetic CSV was refused: ${JSON.stringify(file.issues)}`);
  const refused = file.value.rows.filter((r) => !r.result.ok);
  if (refused.length > 0) throw new Error(`the synthetic CSV has refused rows: ${JSON.stringify(refused[0])}`);
  const demographics = demographicsOf(plan.protocols);
  const lastUpdated = plan.sentAt;
  const meta = { versionId: '1', lastUpdated: lastUpdated.toISOString() };
  const row = (content: FhirResource & { id: string }): PreloadRow => ({
    type: content.resourceType,
    id: content.id,
    lastUpdated,
    sourceOrg: PRACTICE.code,
    content: { ...content, meta: { ...(content.meta ?? {}), ...meta } },
  });
  const rows: PreloadRow[] = [];
  /** NHS number → Patient id; a child's later rows refer to the Patient its first row made. */
  const patients = new Map<string, string>();
  /** Immunization identifier (system|value) → id, for the Lists. */
  const doses = new Map<string, string>();
  for (const { result } of file.value.rows) {
    if (!result.ok) continue;
    const ids = new Map<string, string>();
    for (const entry of result.value.entries) {
      if (entry.resource.resourceType === 'Patient' && entry.match !== undefined) {
        const known = patients.get(entry.match.value);
        ids.set(entry.fullUrl, `Patient/${known ?? randomUUID()}`);
      } else {
        ids.set(entry.fullUrl, `${entry.resource.resourceType}/${randomUUID()}`);
      }
    }
    for (const entry of result.value.entries) {
      const id = (ids.get(entry.fullUrl) ?? '').split('/')[1] ?? '';
      const content = withIdentifier(rewriteReferences(entry.resource, ids), entry.match);
      if (content.resourceType === 'Patient') {
        const nhs = entry.match?.value ?? '';
        if (patients.has(nhs)) continue; // the same statement again: ingest stores no new version
        patients.set(nhs, id);
        const statement = restate(undefined, content, 'merge');
        const composed = composePatient([{ organisation: PRACTICE.code, organisationType: PRACTICE.type, content: statement, firstSaid: 1, lastSaid: 1 }], demographics);
        rows.push(row({ ...(composed), id }));
      } else {
        if (entry.match !== undefined) doses.set(`${entry.match.system}|${entry.match.value}`, id);
        rows.push(row({ ...content, id }));
      }
    }
  }
  for (const unit of completeHistoryUnits(file, [])) {
    if (!unit.result.ok) throw new Error(`no complete history: ${JSON.stringify(unit.result.issues)}`);
    for (const effect of unit.result.value.effects) {
      if (effect.kind !== 'complete-history') continue;
      const child = patients.get(effect.nhsNumber);
      if (child === undefined) throw new Error(`no Patient for ${effect.nhsNumber}`);
      const entries = effect.immunizations.map((d) => `Immunization/${doses.get(`${d.system}|${d.value}`) ?? ''}`);
      const list = buildCompleteHistoryList({
        id: randomUUID(),
        subject: `Patient/${child}`,
        source: { system: PRACTICE.system, code: PRACTICE.code },
        nhsNumber: effect.nhsNumber,
        date: lastUpdated.toISOString(),
        entries,
      });
      rows.push(row(list as FhirResource & { id: string }));
    }
  }
  return rows;
}

function overdueOf(child: Child, plan: HistoryPreloadPlan): number {
  const records: DoseRecord[] = child.doses.map((d) => ({ procedureCode: d.code, doseNumber: d.doseNumber, date: d.date, status: d.status }));
  const assessed = assessSchedule(plan.schedule, child.birthDate, records, plan.asOf);
  if (!assessed.ok) throw new Error(assessed.problem);
  return assessed.doses.filter((d) => d.status === 'overdue').length;
}

/** Writes the children and their complete histories. The client must be connected to the bench database. */
export async function preloadHistories(client: pg.Client, plan: HistoryPreloadPlan): Promise<HistoryPreload> {
  const random = seededRandom(20_261_206);
  const numbers = nhsNumbers();
  const result: HistoryPreload = { children: 0, byType: new Map(), overdue: 0, childrenOverdue: 0 };
  const started = Date.now();
  for (let first = 0; first < plan.children; first += CHILDREN_PER_BATCH) {
    plan.signal.throwIfAborted();
    const children: Child[] = [];
    for (let n = first; n < Math.min(first + CHILDREN_PER_BATCH, plan.children); n += 1) {
      const nhs = numbers.next();
      if (nhs.done === true) throw new Error('ran out of 999-range NHS numbers');
      const child = buildChild(n, nhs.value, plan, random);
      const overdue = overdueOf(child, plan);
      result.overdue += overdue;
      if (overdue > 0) result.childrenOverdue += 1;
      children.push(child);
    }
    const rows = rowsOfCsv(csvOf(children), plan);
    await insertFirstVersions(client, rows);
    for (const r of rows) result.byType.set(r.type, (result.byType.get(r.type) ?? 0) + 1);
    result.children += children.length;
    if (result.children % 10_000 === 0 || result.children === plan.children) {
      plan.log(`  preloaded ${result.children} of ${plan.children} children (${Math.round((Date.now() - started) / 1000)} s)`);
    }
  }
  return result;
}
