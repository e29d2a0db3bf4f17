import type { Immunization, ImmunizationRecommendation, MeasureReport, MeasureReportGroupPopulation, Patient, Resource } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNOMED, VACCINATION_PROCEDURE_EXTENSION } from '../../src/adapters/codes.js';
import { inTransaction } from '../../src/db/database.js';
import { writeVersion } from '../../src/db/resource-queries.js';
import { seal } from '../../src/db/undisclosed.js';
import { HUB_ORGANISATION } from '../../src/decision/decision-types.js';
import { buildFollowUpTask, closeTask, type FollowUpKind } from '../../src/followup/follow-up-task.js';
import { validateFhir } from '../../src/fhir/validator.js';
import { nhsNumber } from '../support/resources.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Issue 11, Build 4: follow-ups by vaccine and reason category (from the dose
// each Task is about: its focus Immunization or ImmunizationRecommendation),
// exceptions by postcode district; small counts withheld in every stratifier.
// A small synthetic world written straight to the store: the children, the
// records the Tasks are about, and the Tasks as the hub builds them.

const MASKED = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] };
const GP = 'Y99901';

let t: TestHub;
let commissioner: string;
const child: Record<string, string> = {};

async function store<T extends Resource>(type: T['resourceType'], content: T, sourceOrg: string): Promise<string> {
  const id = randomUUID();
  await inTransaction(t.database.db, (tx) =>
    writeVersion(tx, { type, id, versionId: 1, lastUpdated: new Date('2024-04-01T00:00:00Z'), sourceOrg, content: seal({ ...content, id, meta: { versionId: '1' } }) }),
  );
  return id;
}

/** A dose recorded as not given (UK Core vaccination procedure, SNOMED CT reason). */
const notDone = (district: string, procedure: string, reason: string): Promise<string> =>
  store<Immunization>('Immunization', {
    resourceType: 'Immunization',
    status: 'not-done',
    extension: [{ url: VACCINATION_PROCEDURE_EXTENSION, valueCodeableConcept: { coding: [{ system: SNOMED, code: procedure }] } }],
    statusReason: { coding: [{ system: SNOMED, code: reason }] },
    vaccineCode: { coding: [{ system: SNOMED, code: procedure }] },
    patient: { reference: `Patient/${child[district] ?? ''}` },
    occurrenceDateTime: '2024-04-02',
  }, GP);

/** The hub's recommendation for one overdue dose. */
const overdue = (district: string, vaccineCode: string): Promise<string> =>
  store<ImmunizationRecommendation>('ImmunizationRecommendation', {
    resourceType: 'ImmunizationRecommendation',
    patient: { reference: `Patient/${child[district] ?? ''}` },
    date: '2024-04-01',
    recommendation: [{ vaccineCode: [{ coding: [{ system: SNOMED, code: vaccineCode }] }], forecastStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/immunization-recommendation-status', code: 'overdue' }] } }],
  }, HUB_ORGANISATION);

async function hubTask(kind: FollowUpKind, district: string, focus: string, start: string, end?: string): Promise<void> {
  const id = randomUUID();
  const spec = { kind, owner: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', code: 'R9H' }, subject: `Patient/${child[district] ?? ''}`, focus, raisedOn: new Date(start) };
  const raised = buildFollowUpTask(id, spec, { system: 'urn:eastside:org', code: HUB_ORGANISATION });
  const task = end === undefined ? raised : closeTask(raised, { status: 'completed', businessStatus: 'dose-given' }, new Date(end), 'test');
  await inTransaction(t.database.db, (tx) =>
    writeVersion(tx, { type: 'Task', id, versionId: 1, lastUpdated: new Date(start), sourceOrg: HUB_ORGANISATION, content: seal({ ...task, meta: { versionId: '1', lastUpdated: start } }) }),
  );
}

async function times(n: number, f: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i++) await f();
}

beforeAll(async () => {
  t = await startTestHub({ clock: () => new Date('2024-06-20T09:00:00Z') });
  commissioner = await t.token('eastside-public-health', 'commissioning');
  let seed = 52_000;
  for (const [district, postcode] of [['E1', 'E1 6AN'], ['E14', 'E14 9ZZ'], ['E1W', 'E1W 3TJ']] as const) {
    seed += 11;
    child[district] = await store<Patient>('Patient', {
      resourceType: 'Patient',
      identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhsNumber(seed) }],
      birthDate: '2023-10-01',
      address: [{ postalCode: postcode }],
    }, GP);
  }
  // April 2024 follow-ups: 6 missed 6-in-1 doses in E1 (did not attend), all completed within 28 days;
  // 5 overdue MMR doses in E14, open; 2 missed MenB doses in E1W (consent not given), open; 5 births without booking in E1W, open.
  await times(6, async () => hubTask('missed-dose', 'E1', `Immunization/${await notDone('E1', '770618004', '201741000000102')}`, '2024-04-05T10:00:00Z', '2024-04-15T10:00:00Z'));
  await times(5, async () => hubTask('overdue-dose', 'E14', `ImmunizationRecommendation/${await overdue('E14', '308081000000105')}`, '2024-04-08T10:00:00Z'));
  await times(2, async () => hubTask('missed-dose', 'E1W', `Immunization/${await notDone('E1W', '720539004', '310376006')}`, '2024-04-09T10:00:00Z'));
  await times(5, () => hubTask('birth-without-booking', 'E1W', `Patient/${child['E1W'] ?? ''}`, '2024-04-10T10:00:00Z'));
  // May 2024 exceptions: 6 births without booking in E1W, 5 in E14, 2 pregnancies overdue in E1.
  await times(6, () => hubTask('birth-without-booking', 'E1W', `Patient/${child['E1W'] ?? ''}`, '2024-05-03T10:00:00Z'));
  await times(5, () => hubTask('birth-without-booking', 'E14', `Patient/${child['E14'] ?? ''}`, '2024-05-06T10:00:00Z'));
  await times(2, () => hubTask('pregnancy-overdue', 'E1', `Patient/${child['E1'] ?? ''}`, '2024-05-07T10:00:00Z'));
}, 120_000);
afterAll(async () => {
  await t.close();
});

const evaluate = (id: string, query: string) => t.http.get(`/fhir/Measure/${id}/$evaluate-measure?${query}`).set('Authorization', `Bearer ${commissioner}`);
const population = (pops: readonly MeasureReportGroupPopulation[] | undefined, code: string): MeasureReportGroupPopulation | undefined =>
  pops?.find((p) => p.code?.coding?.[0]?.code === code);
function strata(report: MeasureReport, stratifier: string, code: string): Record<string, number | null> {
  const s = report.group?.[0]?.stratifier?.find((x) => x.code?.[0]?.coding?.[0]?.code === stratifier);
  return Object.fromEntries((s?.stratum ?? []).map((st) => [st.value?.text ?? '', population(st.population, code)?.count ?? null]));
}

/** No count from 1 to 4, a withheld one masked; in a proportion, no small difference between a stratum's two shown counts. */
function expectSuppressed(report: MeasureReport): void {
  const group = report.group?.[0];
  const cells = [group?.population ?? [], ...(group?.stratifier ?? []).flatMap((s) => (s.stratum ?? []).map((st) => st.population ?? []))];
  for (const pops of cells) {
    for (const p of pops) {
      if (p.count === undefined) expect(p._count).toEqual(MASKED);
      else expect(p.count === 0 || p.count > 4).toBe(true);
    }
    const [d, n] = [population(pops, 'denominator')?.count, population(pops, 'numerator')?.count];
    if (d !== undefined && n !== undefined) expect(d - n === 0 || d - n > 4).toBe(true);
  }
}

function expectCsvSuppressed(csv: string): void {
  const lines = csv.trimEnd().split('\r\n').slice(1);
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) expect(l.split(',').at(-1)).toMatch(/^(0|[5-9]|\d{2,}|\*)$/);
}

describe('follow-ups by vaccine and reason category', () => {
  it('counts each Task under the dose its focus is about; exceptions are not-applicable; small strata withheld', async () => {
    const res = await evaluate('follow-ups', 'periodStart=2024-04-01&periodEnd=2024-04-30');
    expect(res.status).toBe(200);
    const report = res.body as MeasureReport;
    expect(validateFhir(report)).toEqual({ ok: true });
    expect(population(report.group?.[0]?.population, 'denominator')?.count).toBe(18);
    // MenB (2) is small; MMR (5) is withheld with it, or MenB = 18 - 6 - 5 - 5.
    expect(strata(report, 'vaccine', 'denominator')).toEqual({
      '6-in-1': 6, rotavirus: 0, MenB: null, PCV: 0, 'Hib-MenC': 0, MMR: null, MMRV: 0, '4-in-1': 0, other: 0, 'not-applicable': 5,
    });
    expect(strata(report, 'vaccine', 'numerator')).toMatchObject({ '6-in-1': 6, 'not-applicable': 0 });
    // Consent not given (2) is small; one of the fives goes with it.
    const reasons = strata(report, 'reason-category', 'denominator');
    expect(reasons).toMatchObject({ 'did-not-attend': 6, 'consent-not-given': null, 'other-reason': 0 });
    expect([reasons['overdue'], reasons['not-applicable']].filter((v) => v === null)).toHaveLength(1);
    expect([reasons['overdue'], reasons['not-applicable']].filter((v) => v !== null)).toEqual([5]);
    const vaccine = report.group?.[0]?.stratifier?.find((s) => s.code?.[0]?.coding?.[0]?.code === 'vaccine');
    expect(vaccine?.stratum?.find((s) => s.value?.text === '6-in-1')?.value?.coding?.[0]).toMatchObject({ system: 'https://eastside.example/fhir/CodeSystem/antigen-group', code: '6-in-1' });
    expect(vaccine?.stratum?.find((s) => s.value?.text === 'not-applicable')?.value).toEqual({ text: 'not-applicable' });
    expectSuppressed(report);
  });

  it('gives the new strata in the CSV too, "*" for a withheld count and none from 1 to 4', async () => {
    const res = await evaluate('follow-ups', 'periodStart=2024-04-01&periodEnd=2024-04-30&_format=csv');
    expect(res.status).toBe(200);
    const row = (stratifier: string, stratum: string, pop: string): string | undefined =>
      res.text.split('\r\n').find((l) => l.includes(`,${stratifier},${stratum},${pop},`))?.split(',').at(-1);
    expect(row('vaccine', '6-in-1', 'denominator')).toBe('6');
    expect(row('vaccine', 'MenB', 'denominator')).toBe('*');
    expect(row('reason-category', 'did-not-attend', 'numerator')).toBe('6');
    expect(row('reason-category', 'consent-not-given', 'denominator')).toBe('*');
    expectCsvSuppressed(res.text);
  });

  it('lists the new stratifiers in the Measure definitions', async () => {
    const reader = await t.token('ocean-cc', 'early-years-registration');
    const codes = async (id: string): Promise<(string | undefined)[]> =>
      ((await t.http.get(`/fhir/Measure/${id}`).set('Authorization', `Bearer ${reader}`)).body as { group: { stratifier: { code: { coding: { code: string }[] } }[] }[] })
        .group[0]?.stratifier.map((s) => s.code.coding[0]?.code) ?? [];
    expect(await codes('follow-ups')).toEqual(['month', 'postcode-district', 'follow-up-kind', 'vaccine', 'reason-category']);
    expect(await codes('exceptions')).toEqual(['month', 'postcode-district', 'follow-up-kind']);
  });
});

describe('exceptions by postcode district', () => {
  it('counts exceptions under the district of the child or mother the Task is for, small ones withheld', async () => {
    const res = await evaluate('exceptions', 'periodStart=2024-05-01&periodEnd=2024-05-31');
    expect(res.status).toBe(200);
    const report = res.body as MeasureReport;
    expect(population(report.group?.[0]?.population, 'initial-population')?.count).toBe(13);
    // E1 (2) is small; E14 (5), the smallest other, is withheld with it, or E1 = 13 - 6 - 5.
    expect(strata(report, 'postcode-district', 'initial-population')).toEqual({ E1: null, E14: null, E1W: 6 });
    expectSuppressed(report);
    const csv = await evaluate('exceptions', 'periodStart=2024-05-01&periodEnd=2024-05-31&_format=csv');
    expect(csv.text).toContain(',postcode-district,E1W,initial-population,6');
    expect(csv.text).toContain(',postcode-district,E1,initial-population,*');
    expectCsvSuppressed(csv.text);
  });
});
