import type { AuditEvent, Bundle, MeasureReport, MeasureReportGroupPopulation, OperationOutcome, Patient, Resource, Task } from 'fhir/r4.js';
import { Client } from 'fhir-kit-client';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMMUNISATION_CSV_COLUMNS } from '../../src/adapters/immunisation-csv.js';
import { inTransaction } from '../../src/db/database.js';
import { writeVersion } from '../../src/db/resource-queries.js';
import { seal } from '../../src/db/undisclosed.js';
import { validateFhir } from '../../src/fhir/validator.js';
import { createSession } from '../../src/db/ig-queries.js';
import { HUB_ORGANISATION } from '../../src/decision/decision-types.js';
import { buildFollowUpTask, closeTask, FOLLOW_UP_SYSTEM, type FollowUpKind } from '../../src/followup/follow-up-task.js';
import { countRows, restEventsFor, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { nhsNumber } from '../support/resources.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Story step 13: public health commissioners see missed doses by month,
// postcode district, vaccine and reason as a MeasureReport (and CSV), with no
// person in it and small numbers withheld. The missed doses come in through
// the GP ingest paths (CSV with not-done rows, HL7 v2 VXU with RXA-20 NA).
// Follow-up and exception Tasks for past months are built with the hub's own
// builders (src/followup) and written straight to the store as the hub
// (organisation EYHUB): the hub raises them on the day of ingest, and the
// overdue and exception job is not here yet.

const HL7 = 'x-application/hl7-v2+er7';
const MEASURE = 'https://eastside.example/fhir/Measure';
const MASKED = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] };

let t: TestHub;
let commissioner: string;
const nhsNumbers: string[] = [];
const families: string[] = [];
const patientIds: Record<string, string[]> = {};
let seed = 41_000;

/** One synthetic child's row of the immunisation CSV (pipe-separated, quoted, as GP systems export it). */
function csvRow(cells: Partial<Record<string, string>>): string {
  return IMMUNISATION_CSV_COLUMNS.map((c) => `"${cells[c] ?? ''}"`).join('|');
}

function child(postcode: string): { nhs: string; family: string; postcode: string } {
  seed += 7;
  const nhs = nhsNumber(seed);
  const family = `Figurefamily${String(seed)}`;
  nhsNumbers.push(nhs);
  families.push(family);
  return { nhs, family, postcode };
}

function notDone(c: { nhs: string; family: string; postcode: string }, when: string, procedure: string, reason: string, status = 'not-done'): string {
  seed += 1;
  return csvRow({
    NHS_NUMBER: c.nhs,
    PERSON_FORENAME: 'Synthetic',
    PERSON_SURNAME: c.family,
    PERSON_DOB: '20260105',
    PERSON_GENDER_CODE: '2',
    PERSON_POSTCODE: c.postcode,
    DATE_AND_TIME: `${when}T093000+01`,
    SITE_CODE: 'Y99901',
    SITE_CODE_TYPE_URI: 'https://fhir.nhs.uk/Id/ods-organization-code',
    UNIQUE_ID: `FIG-${String(seed)}`,
    UNIQUE_ID_URI: 'https://eastside.example/fhir/Id/test-imms',
    ACTION_FLAG: 'new',
    RECORDED_DATE: when,
    PRIMARY_SOURCE: 'TRUE',
    VACCINATION_PROCEDURE_CODE: procedure,
    DOSE_SEQUENCE: '1',
    STATUS: status,
    STATUS_REASON_CODE: status === 'not-done' ? reason : '',
  });
}

const SIX_IN_ONE_3 = '770618004';
const MMRV_1 = '871909005';
const MENB_1 = '720539004';
const DNA = '201741000000102';
const NO_CONSENT = '310376006';

/** A follow-up Task as the hub builds it (and closes it), stored as the hub stores its own. */
async function hubTask(kind: FollowUpKind, subject: string, start: string, end?: string): Promise<void> {
  const id = randomUUID();
  const spec = { kind, owner: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', code: 'R9H' }, subject: `Patient/${subject}`, focus: `Patient/${subject}`, raisedOn: new Date(start) };
  const raised = buildFollowUpTask(id, spec, { system: 'urn:eastside:org', code: HUB_ORGANISATION });
  const task = end === undefined ? raised : closeTask(raised, { status: 'completed', businessStatus: 'dose-given' }, new Date(end), 'test');
  await inTransaction(t.database.db, (tx) =>
    writeVersion(tx, { type: 'Task', id, versionId: 1, lastUpdated: new Date(start), sourceOrg: HUB_ORGANISATION, content: seal({ ...task, meta: { versionId: '1', lastUpdated: start } }) }),
  );
}

const evaluate = (token: string, id: string, query: string, extra: Record<string, string> = {}) =>
  t.http.get(`/fhir/Measure/${id}/$evaluate-measure?${query}`).set('Authorization', `Bearer ${token}`).set(extra);

beforeAll(async () => {
  // The hub's day: after the missed appointments, so the Tasks it raises at ingest are dated in August 2026.
  t = await startTestHub({ listen: true, clock: () => new Date('2026-08-20T09:00:00Z') });
  commissioner = await t.token('eastside-public-health', 'commissioning');
  const gp = await t.token('test-gp', 'direct-care');
  const limehouse = await t.token('limehouse-gp', 'direct-care');

  // June and July 2026: 7 + 2 missed 6-in-1 doses in E1 (did not attend; 2 of them by HL7), 6 MMRV refusals in E14,
  // 2 missed MenB doses in E1W; a dose given, and a dose missed in August, are not counted in June–July.
  const e1 = Array.from({ length: 7 }, () => child('E1 6AN'));
  const e14 = Array.from({ length: 6 }, () => child('E14 9ZZ'));
  const e1w = Array.from({ length: 2 }, () => child('E1W 3TJ'));
  const given = child('E14 6DE');
  const august = child('E1 2QE');
  const rows = [
    ...e1.map((c) => notDone(c, '20260610', SIX_IN_ONE_3, DNA)),
    ...e14.map((c) => notDone(c, '20260714', MMRV_1, NO_CONSENT)),
    ...e1w.map((c) => notDone(c, '20260603', MENB_1, DNA)),
    notDone(given, '20260720', MMRV_1, '', 'completed'),
    notDone(august, '20260812', MENB_1, DNA),
  ];
  const csv = await t.http.post('/ingest/immunisations-csv').set('Authorization', `Bearer ${gp}`).set('Content-Type', 'text/csv')
    .send(`${IMMUNISATION_CSV_COLUMNS.join('|')}\n${rows.join('\n')}\n`);
  expect(csv.status).toBe(200);

  const vxu = await readFixture('hl7v2/missed-dose-na.hl7');
  for (let i = 0; i < 2; i++) {
    const c = child('E1 0AA');
    const body = vxu
      .replace('Y90001-TEST-0001', `Y90001-FIG-${String(i)}`)
      .replace('9990091013', c.nhs)
      .replace('TESTCHILD^ALPHA', `${c.family.toUpperCase()}^SYNTHETIC`)
      .replace('Y90001-IMM-900001', `Y90001-FIG-IMM-${String(i)}`)
      .replace('RXA|0|1|20260723|20260723', 'RXA|0|1|20260715|20260715');
    const res = await t.http.post('/ingest/hl7v2').set('Authorization', `Bearer ${limehouse}`).set('Content-Type', HL7).send(body);
    expect(res.status).toBe(200);
  }
  expect(new Set(nhsNumbers).size).toBe(nhsNumbers.length);

  // Children by district, for the Tasks.
  for (const p of await storedResources<Patient>(t.database.db, 'Patient')) {
    const district = (p.address?.[0]?.postalCode ?? '').split(' ')[0] ?? '';
    (patientIds[district] ??= []).push(p.id);
  }
  const e1Ids = patientIds['E1'] ?? [];
  const e14Ids = patientIds['E14'] ?? [];
  const e1wIds = patientIds['E1W'] ?? [];
  // January 2025: 8 missed-dose Tasks in E1, 6 completed within 28 days, 1 after 40 days, 1 open.
  for (let i = 0; i < 8; i++) {
    const end = i < 6 ? '2025-01-20T10:00:00Z' : i === 6 ? '2025-02-19T10:00:00Z' : undefined;
    await hubTask('missed-dose', e1Ids[i] ?? '', '2025-01-10T10:00:00Z', end);
  }
  // February 2025: 6 overdue-dose Tasks in E14, all completed within 10 days.
  for (let i = 0; i < 6; i++) await hubTask('overdue-dose', e14Ids[i] ?? '', '2025-02-03T10:00:00Z', '2025-02-13T10:00:00Z');
  // March 2025: 5 births without booking and 1 pregnancy overdue (exceptions), open.
  for (let i = 0; i < 5; i++) await hubTask('birth-without-booking', e1wIds[i % 2] ?? '', '2025-03-05T10:00:00Z');
  await hubTask('pregnancy-overdue', e1wIds[0] ?? '', '2025-03-20T10:00:00Z');
}, 120_000);
afterAll(async () => {
  await t.close();
});

const population = (pops: readonly MeasureReportGroupPopulation[] | undefined, code: string): MeasureReportGroupPopulation | undefined =>
  pops?.find((p) => p.code?.coding?.[0]?.code === code);
/** Each stratum of a stratifier: its value and its count of one population (null when withheld). */
function strata(report: MeasureReport, stratifier: string, code = 'initial-population'): Record<string, number | null> {
  const s = report.group?.[0]?.stratifier?.find((x) => x.code?.[0]?.coding?.[0]?.code === stratifier);
  return Object.fromEntries((s?.stratum ?? []).map((st) => [st.value?.text ?? '', population(st.population, code)?.count ?? null]));
}
const total = (report: MeasureReport, code = 'initial-population'): number | null => population(report.group?.[0]?.population, code)?.count ?? null;

/** Nothing in an answer may name or point to a person or a record. */
function expectNoPerson(text: string): void {
  for (const nhs of nhsNumbers) expect(text).not.toContain(nhs);
  for (const family of families) expect(text.toLowerCase()).not.toContain(family.toLowerCase());
  expect(text).not.toMatch(/Patient\/|Immunization\/|Task\//);
  expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
  expect(text).not.toMatch(/Synthetic|Testchild/i);
}

/** Every count in a MeasureReport: none from 1 to 4; a missing count is marked masked. */
function expectSuppressed(report: MeasureReport): void {
  const pops = [...(report.group?.[0]?.population ?? []), ...(report.group?.[0]?.stratifier ?? []).flatMap((s) => (s.stratum ?? []).flatMap((st) => st.population ?? []))];
  for (const p of pops) {
    if (p.count === undefined) expect(p._count).toEqual(MASKED);
    else expect(p.count === 0 || p.count > 4).toBe(true);
  }
}

describe('story step 13: missed doses for commissioners', () => {
  it('answers $evaluate-measure with a summary MeasureReport: counts by month, district, vaccine and reason, small ones withheld', async () => {
    const res = await evaluate(commissioner, 'missed-doses', 'periodStart=2026-06-01&periodEnd=2026-07-31').set('X-Request-Id', 'fig-june-july');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const report = JSON.parse(res.text) as MeasureReport;
    expect(report).toMatchObject({ resourceType: 'MeasureReport', status: 'complete', type: 'summary', measure: `${MEASURE}/missed-doses`, period: { start: '2026-06-01', end: '2026-07-31' } });
    // 7 + 2 in E1 (6-in-1, did not attend), 6 in E14 (MMRV, consent not given), 2 in E1W (MenB, did not attend).
    expect(total(report)).toBe(17);
    expect(strata(report, 'month')).toEqual({ '2026-06': 9, '2026-07': 8 });
    // E1W (2) is small; E14 (6) is withheld with it, or E1W = 17 - 9 - E14.
    expect(strata(report, 'postcode-district')).toEqual({ E1: 9, E14: null, E1W: null });
    expect(strata(report, 'vaccine')).toEqual({ '6-in-1': 9, rotavirus: 0, MenB: null, PCV: 0, 'Hib-MenC': 0, MMR: 0, MMRV: null, '4-in-1': 0, other: 0 });
    expect(strata(report, 'reason-category')).toEqual({ 'did-not-attend': 11, 'consent-not-given': 6, 'other-reason': 0 });
    const e1w = report.group?.[0]?.stratifier?.[1]?.stratum?.find((s) => s.value?.text === 'E1W');
    expect(e1w?.population?.[0]).toEqual({ code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-population', code: 'initial-population' }] }, _count: MASKED });
    expectSuppressed(report);
    expectNoPerson(res.text);
  });

  it('audits one event per report, naming the measure and the period, with no patient', async () => {
    const events = await restEventsFor(t.database.db, 'fig-june-july');
    expect(events).toHaveLength(1);
    const event = events[0] as AuditEvent;
    expect(event.outcome).toBe('0');
    expect(event.outcomeDesc).toBe(`figure ${MEASURE}/missed-doses for 2026-06-01 to 2026-07-31 (MeasureReport)`);
    expect(event.agent.some((a) => a.who?.identifier?.value === 'eastside-public-health')).toBe(true);
    expect(event.entity?.map((e) => e.what?.reference).filter((r) => r !== undefined)).toEqual(['Measure/missed-doses']);
    expect(JSON.stringify(event)).not.toMatch(/Patient\//);
    const { id: _ownId, ...rest } = event;
    expectNoPerson(JSON.stringify(rest));
  });

  it('withholds both strata of a two-stratum line when one is small (June only)', async () => {
    const res = await evaluate(commissioner, 'missed-doses', 'periodStart=2026-06-01&periodEnd=2026-06-30');
    const report = res.body as MeasureReport;
    expect(total(report)).toBe(9);
    expect(strata(report, 'postcode-district')).toEqual({ E1: null, E1W: null });
    expect(strata(report, 'reason-category')).toEqual({ 'did-not-attend': 9, 'consent-not-given': 0, 'other-reason': 0 });
    expectSuppressed(report);
  });

  it('gives the same figures as CSV (_format=csv or Accept: text/csv), "*" for a withheld count', async () => {
    const byFormat = await evaluate(commissioner, 'missed-doses', 'periodStart=2026-06-01&periodEnd=2026-07-31&_format=csv');
    const byAccept = await evaluate(commissioner, 'missed-doses', 'periodStart=2026-06-01&periodEnd=2026-07-31', { Accept: 'text/csv' });
    for (const res of [byFormat, byAccept]) {
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      expect(res.headers['content-disposition']).toBe('attachment; filename="missed-doses-2026-06-01-2026-07-31.csv"');
    }
    const lines = byFormat.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('measure,period_start,period_end,stratifier,stratum,population,count');
    const row = (stratifier: string, stratum: string) => lines.find((l) => l.includes(`,${stratifier},${stratum},`))?.split(',').at(-1);
    expect(row('all', 'all')).toBe('17');
    expect(row('postcode-district', 'E1')).toBe('9');
    expect(row('postcode-district', 'E1W')).toBe('*');
    expect(row('postcode-district', 'E14')).toBe('*');
    expect(row('vaccine', 'MenB')).toBe('*');
    expect(row('reason-category', 'consent-not-given')).toBe('6');
    for (const l of lines.slice(1)) expect(l.split(',').at(-1)).toMatch(/^(0|[5-9]|\d{2,}|\*)$/);
    expectNoPerson(byFormat.text);
    expect(byAccept.text).toBe(byFormat.text);
  });

  it('is callable from a stock FHIR client: the operation by GET, and a MeasureReport search', async () => {
    const client = new Client({ baseUrl: `${t.baseUrl}/fhir`, bearerToken: commissioner });
    const report = (await client.operation({ resourceType: 'Measure', id: 'missed-doses', name: '$evaluate-measure', method: 'GET', input: { periodStart: '2026-06-01', periodEnd: '2026-07-31' } })) as unknown as MeasureReport;
    expect(total(report)).toBe(17);
    const bundle = (await client.search({ resourceType: 'MeasureReport', searchParams: { measure: `${MEASURE}/missed-doses`, period: ['ge2026-06-01', 'le2026-07-31'] } })) as unknown as Bundle;
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    const found = bundle.entry?.[0]?.resource as MeasureReport;
    expect(strata(found, 'postcode-district')).toEqual(strata(report, 'postcode-district'));
  });

  it('serves the Measures as read-only definitions, valid R4 like the reports, and lists them in the CapabilityStatement', async () => {
    const cc = await t.token('ocean-cc', 'early-years-registration');
    const res = await t.http.get('/fhir/Measure/missed-doses').set('Authorization', `Bearer ${cc}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resourceType: 'Measure', url: `${MEASURE}/missed-doses`, status: 'active' });
    expect(validateFhir(res.body as Resource)).toEqual({ ok: true });
    const report = await evaluate(commissioner, 'follow-ups', 'periodStart=2025-01-01&periodEnd=2025-03-31');
    expect(validateFhir(report.body as Resource)).toEqual({ ok: true });
    const caps = await t.http.get('/fhir/metadata');
    expect(caps.body.rest[0].operation.map((o: { name: string }) => o.name)).toContain('evaluate-measure');
    expect(caps.body.rest[0].resource.map((r: { type: string }) => r.type)).toEqual(expect.arrayContaining(['Measure', 'MeasureReport']));
    const put = await t.http.put('/fhir/Measure/missed-doses').set('Authorization', `Bearer ${await t.token('test-a', 'direct-care')}`).set('Content-Type', 'application/fhir+json').send(res.body);
    expect(put.status).toBe(405);
  });
});

describe('follow-ups and exceptions', () => {
  it('counts follow-ups opened and completed within 28 days; a stratum never shows both counts when their difference is small', async () => {
    const res = await evaluate(commissioner, 'follow-ups', 'periodStart=2025-01-01&periodEnd=2025-03-31');
    expect(res.status).toBe(200);
    const report = res.body as MeasureReport;
    expectSuppressed(report);
    expectNoPerson(res.text);
    // January: 8 opened, 6 completed within 28 days: showing both would tell that 2 were not.
    for (const stratifier of ['month', 'postcode-district', 'follow-up-kind']) {
      const opened = strata(report, stratifier, 'denominator');
      const completed = strata(report, stratifier, 'numerator');
      for (const [value, d] of Object.entries(opened)) {
        const n = completed[value];
        if (d !== null && n !== null && n !== undefined) expect(d - n === 0 || d - n > 4, `${stratifier} ${value}`).toBe(true);
      }
    }
    expect(strata(report, 'month', 'numerator')['2025-01']).toBeNull();
    // February: 6 opened, 6 completed: nothing small.
    expect(strata(report, 'month', 'denominator')['2025-02']).toBe(6);
    const d = total(report, 'denominator');
    const n = total(report, 'numerator');
    if (d !== null && n !== null) expect(d - n === 0 || d - n > 4).toBe(true);
  });

  it('counts the follow-up Tasks the hub raised itself when the missed doses came in', async () => {
    const raised = (await storedResources<Task>(t.database.db, 'Task')).filter(
      (task) => task.code?.coding?.some((c) => c.system === FOLLOW_UP_SYSTEM && c.code === 'missed-dose') === true && task.executionPeriod?.start?.startsWith('2026-08') === true,
    );
    expect(raised.length).toBeGreaterThan(4);
    const report = (await evaluate(commissioner, 'follow-ups', 'periodStart=2026-08-01&periodEnd=2026-08-31')).body as MeasureReport;
    expect(total(report, 'denominator')).toBe(raised.length);
    expect(total(report, 'numerator')).toBe(0);
    expect(strata(report, 'follow-up-kind', 'denominator')).toMatchObject({ 'missed-dose': raised.length, 'overdue-dose': 0 });
    expectSuppressed(report);
  });

  it('counts exceptions by month and kind, and never a Task a partner wrote', async () => {
    // A partner's own Task claiming to be the hub's exception report is not counted.
    const forged = await t.http.post('/fhir/Task').set('Authorization', `Bearer ${await t.token('test-a', 'direct-care')}`).set('Content-Type', 'application/fhir+json').send({
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      code: { coding: [{ system: FOLLOW_UP_SYSTEM, code: 'birth-without-booking' }] },
      requester: { identifier: { system: 'urn:eastside:org', value: 'EYHUB' } },
      executionPeriod: { start: '2025-03-06T10:00:00Z' },
    });
    expect(forged.status).toBe(201);
    const report = (await evaluate(commissioner, 'exceptions', 'periodStart=2025-01-01&periodEnd=2025-03-31')).body as MeasureReport;
    expect(total(report)).toBe(6);
    expect(strata(report, 'month')).toEqual({ '2025-01': 0, '2025-02': 0, '2025-03': 6 });
    // 1 pregnancy overdue is small; births without booking (5) would then be 6 - 1.
    expect(strata(report, 'follow-up-kind')).toEqual({ 'birth-without-booking': null, 'pregnancy-overdue': null });
    expectSuppressed(report);
  });
});

describe('who may have the figures', () => {
  it('refuses a children\'s centre (403, audited), though its scopes would read any type', async () => {
    const cc = await t.token('ocean-cc', 'early-years-registration');
    const res = await evaluate(cc, 'missed-doses', 'periodStart=2026-06-01&periodEnd=2026-07-31').set('X-Request-Id', 'fig-cc');
    expect(res.status).toBe(403);
    expect((res.body as OperationOutcome).issue[0]?.expression).toEqual(['purpose_of_use']);
    expectNoPerson(res.text);
    const [event] = await restEventsFor(t.database.db, 'fig-cc');
    expect(event?.outcome).toBe('4');
    const search = await t.http.get(`/fhir/MeasureReport?measure=${encodeURIComponent(`${MEASURE}/missed-doses`)}&period=ge2026-06-01&period=le2026-07-31`).set('Authorization', `Bearer ${cc}`);
    expect(search.status).toBe(403);
  });

  it('refuses a GP (direct care) and a token without a MeasureReport scope; 401 without a token', async () => {
    const gp = await t.token('limehouse-gp', 'direct-care');
    expect((await evaluate(gp, 'missed-doses', 'periodStart=2026-06-01&periodEnd=2026-07-31')).status).toBe(403);
    const narrow = await t.token('test-a', 'direct-care', 'system/Patient.rs');
    expect((await evaluate(narrow, 'missed-doses', 'periodStart=2026-06-01&periodEnd=2026-07-31&_format=csv')).status).toBe(403);
    expect((await t.http.get('/fhir/Measure/missed-doses/$evaluate-measure?periodStart=2026-06-01&periodEnd=2026-07-31')).status).toBe(401);
  });

  it('answers the information governance lead, by token and by the /ig page session', async () => {
    const ig = await t.token('ig-console', 'audit');
    const byToken = await evaluate(ig, 'missed-doses', 'periodStart=2026-06-01&periodEnd=2026-07-31');
    expect(byToken.status).toBe(200);
    expect(total(byToken.body as MeasureReport)).toBe(17);
    const session = await createSession(t.database.db, 'ig-deputy', new Date());
    const bySession = await t.http.get('/fhir/Measure/missed-doses/$evaluate-measure?periodStart=2026-06-01&periodEnd=2026-07-31').set('Cookie', `eyhub_ig=${session.id}`);
    expect(bySession.status).toBe(200);
    expect(strata(bySession.body as MeasureReport, 'month')).toEqual({ '2026-06': 9, '2026-07': 8 });
  });

  it.each([
    ['periodEnd=2026-07-31', 400, 'periodStart'],
    ['periodStart=2026-06-01', 400, 'periodEnd'],
    ['periodStart=2026-06-31&periodEnd=2026-07-31', 400, 'periodStart'],
    ['periodStart=2026-07-01&periodEnd=2026-06-30', 400, 'periodEnd'],
    ['periodStart=2020-01-01&periodEnd=2026-06-30', 400, 'periodEnd'],
    ['periodStart=2026-06-01&periodEnd=2026-07-31&subject=Patient/x', 400, 'subject'],
    ['periodStart=2026-06-01&periodEnd=2026-07-31&reportType=subject-list', 400, 'reportType'],
    ['periodStart=2026-06-01&periodEnd=2026-07-31&_format=xml', 400, '_format'],
    ['periodStart=2026-06-01&periodStart=2026-06-02&periodEnd=2026-07-31', 400, 'periodStart'],
  ])('refuses %s with %i naming %s, audited, storing nothing', async (query, status, field) => {
    const before = await countRows(t.database.db, 'resource');
    const res = await evaluate(commissioner, 'missed-doses', query).set('X-Request-Id', `fig-bad-${field}`);
    expect(res.status).toBe(status);
    expect((res.body as OperationOutcome).issue[0]?.expression).toEqual([field]);
    expect(await countRows(t.database.db, 'resource')).toBe(before);
    expect((await restEventsFor(t.database.db, `fig-bad-${field}`)).some((e) => e.outcome === '4')).toBe(true);
  });

  it('answers 404 for a measure the hub does not have, and 400 for a search without measure or period', async () => {
    expect((await evaluate(commissioner, 'everyone', 'periodStart=2026-06-01&periodEnd=2026-07-31')).status).toBe(404);
    const search = (q: string) => t.http.get(`/fhir/MeasureReport?${q}`).set('Authorization', `Bearer ${commissioner}`);
    expect(((await search('period=ge2026-06-01&period=le2026-07-31')).body as OperationOutcome).issue[0]?.expression).toEqual(['measure']);
    expect(((await search(`measure=${encodeURIComponent(`${MEASURE}/missed-doses`)}&period=ge2026-06-01`)).body as OperationOutcome).issue[0]?.expression).toEqual(['period']);
    expect((await search(`measure=${encodeURIComponent(`${MEASURE}/other`)}&period=ge2026-06-01&period=le2026-07-31`)).status).toBe(400);
  });
});
