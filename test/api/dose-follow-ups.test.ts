import type { Immunization, ImmunizationRecommendation, Patient, Task } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEventsFor, countRows, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { doseRow } from '../support/history.js';
import { storyClock } from '../support/story.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';
import { FOLLOW_UP_SYSTEM } from '../../src/followup/follow-up-task.js';
import { HL7_MEDIA_TYPE } from '../../src/services/hl7-ingest.js';

// The follow-up work a dose changes, at the write of the dose, by every route
// that writes Immunizations: a dose given completes the overdue-dose Task it
// satisfies in the transaction of the dose (CSV, HL7 v2 VXU, FHIR message,
// REST POST), and a missed dose written through REST raises the Tasks ingest
// raises (one shared hook, services/dose-follow-ups.ts). Only a source of
// immunisation events makes or ends work this way.

const HISTORY = 'csv/immunisation-history.csv';
const ALPHA = '9997300017'; // born 2026-05-04 (E1 3AB): 6-in-1 dose 3 and PCV dose 1 overdue on 22 November 2026
const CHARLIE = '9997300033'; // born 2025-02-01 (E14 2BB): 6-in-1 dose 4 and MMRV dose 2 overdue
const SIX_IN_ONE_3 = '770618004';
const PCV_1 = '247631000000101';
const MMRV_2 = '433733003';
const SIX_IN_ONE_4 = '770618004';
const PROCEDURE = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure';

let t: TestHub;
const tokens: Record<string, string> = {};
const bearer = (who: string): string => `Bearer ${tokens[who] ?? ''}`;

beforeAll(async () => {
  t = await startTestHub({ clock: storyClock('2026-11-22T09:00:00Z') });
  tokens['gp'] = await t.token('limehouse-gp', 'direct-care');
  tokens['maternity'] = await t.token('northgate-maternity', 'direct-care');
  tokens['hv'] = await t.token('eastside-hv', 'immunisation-follow-up');
  tokens['ocean'] = await t.token('ocean-cc', 'immunisation-follow-up');
  const res = await t.http.post('/ingest/immunisations-csv?history=complete').set('Authorization', bearer('gp')).set('Content-Type', 'text/csv').send(await readFixture(HISTORY));
  expect(res.status).toBe(200);
  const run = await t.hub.followUps.run('2026-11-22');
  expect(run.raised).toHaveLength(4);
});
afterAll(async () => {
  await t.close();
});

async function patientId(nhs: string): Promise<string> {
  const found = (await storedResources<Patient>(t.database.db, 'Patient')).find((p) => p.identifier?.some((i) => i.value === nhs));
  if (found === undefined) throw new Error(`no Patient with NHS number ${nhs}`);
  return `Patient/${found.id}`;
}

const kind = (task: Task) => task.code?.coding?.find((c) => c.system === FOLLOW_UP_SYSTEM)?.code;
const tasksFor = async (subject: string) => (await storedResources<Task>(t.database.db, 'Task')).filter((task) => task.for?.reference === subject);

/** The child's overdue-dose Task for a dose, found through its recommendation's vaccine code and dose number. */
async function overdueTask(child: string, code: string, dose: number): Promise<Task> {
  const recommendations = await storedResources<ImmunizationRecommendation>(t.database.db, 'ImmunizationRecommendation');
  for (const task of (await tasksFor(child)).filter((x) => kind(x) === 'overdue-dose')) {
    const recommendation = recommendations.find((r) => `ImmunizationRecommendation/${r.id}` === task.focus?.reference)?.recommendation[0];
    if (recommendation?.vaccineCode?.[0]?.coding?.[0]?.code === code && recommendation.doseNumberPositiveInt === dose) return task;
  }
  throw new Error(`no overdue-dose Task for ${code} dose ${String(dose)}`);
}

const reread = async (task: Task): Promise<Task> => (await storedResources<Task>(t.database.db, 'Task')).find((x) => x.id === task.id) as Task;

/** The Task completed with the dose: status, business status, the Immunization as output, a note naming it; audited in the dose's request. */
async function expectCompletedBy(task: Task, requestId: string, label: RegExp): Promise<Immunization> {
  const after = await reread(task);
  expect([after.status, after.businessStatus?.coding?.[0]?.code]).toEqual(['completed', 'dose-given']);
  expect(after.executionPeriod?.end).toBeDefined();
  const output = after.output?.[0]?.valueReference?.reference ?? '';
  const given = (await storedResources<Immunization>(t.database.db, 'Immunization')).find((i) => `Immunization/${i.id}` === output);
  expect(given?.status).toBe('completed');
  expect(after.note?.at(-1)?.text).toMatch(label);
  // The request that brought the dose audited the Task's change too (the hub's own update, in the dose's transaction).
  const events = await auditEventsFor(t.database.db, requestId);
  expect(events.some((e) => e.entity?.some((x) => x.what?.reference === `Task/${task.id ?? ''}/_history/2`) === true && e.agent.some((a) => a.who?.identifier?.value === 'EYHUB'))).toBe(true);
  // The recommendation no longer reads as overdue.
  const recommendation = (await storedResources<ImmunizationRecommendation>(t.database.db, 'ImmunizationRecommendation')).find((r) => `ImmunizationRecommendation/${r.id}` === task.focus?.reference);
  expect(recommendation?.recommendation[0]?.forecastStatus.coding?.[0]?.code).toBe('complete');
  return given as Immunization;
}

function immunization(patient: string, code: string, dose: number, status: 'completed' | 'not-done', extra: Partial<Immunization> = {}): Immunization {
  return {
    resourceType: 'Immunization',
    status,
    extension: [{ url: PROCEDURE, valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code }] } }],
    vaccineCode: { coding: [{ system: 'http://snomed.info/sct', code }] },
    patient: { reference: patient },
    occurrenceDateTime: '2026-11-21T10:00:00Z',
    protocolApplied: [{ doseNumberPositiveInt: dose }],
    ...extra,
  };
}

const post = (who: string, body: Immunization, requestId: string) =>
  t.http.post('/fhir/Immunization').set('Authorization', bearer(who)).set('Content-Type', 'application/fhir+json').set('X-Request-Id', requestId).send(body);

describe('a dose given completes its overdue-dose Task at ingest, by every route', () => {
  it('through the CSV feed: the PCV Task completes in the request of the row; the other dose stays open', async () => {
    const alpha = await patientId(ALPHA);
    const task = await overdueTask(alpha, PCV_1, 1);
    const res = await t.http
      .post('/ingest/immunisations-csv')
      .set('Authorization', bearer('gp'))
      .set('Content-Type', 'text/csv')
      .set('X-Request-Id', 'dose-csv-1')
      .send(doseRow(ALPHA, '20260504', 'E1 3AB', 'Y90001-AT-INGEST-0001', PCV_1, 1, '20261121T100000+00'));
    expect(res.status).toBe(200);
    const given = await expectCompletedBy(task, 'dose-csv-1', /PCV.*2026-11-21|2026-11-21/);
    expect(given.identifier?.some((i) => i.value === 'Y90001-AT-INGEST-0001')).toBe(true);
    expect((await reread(await overdueTask(alpha, SIX_IN_ONE_3, 3))).status).toBe('requested');
  });

  it('through HL7 v2 (VXU): the 6-in-1 dose 3 Task completes', async () => {
    const alpha = await patientId(ALPHA);
    const task = await overdueTask(alpha, SIX_IN_ONE_3, 3);
    const vxu = (await readFixture('hl7v2/catch-up-cp.hl7'))
      .replaceAll('9990091013', ALPHA)
      .replaceAll('20260402', '20260504')
      .replaceAll('E1 0AA', 'E1 3AB')
      .replaceAll('Y90001-TEST-0002', 'Y90001-AT-INGEST-0002')
      .replaceAll('Y90001-IMM-900002', 'Y90001-AT-INGEST-0003')
      .replaceAll('20260806', '20261121');
    const res = await t.http.post('/ingest/hl7v2').set('Authorization', bearer('gp')).set('Content-Type', HL7_MEDIA_TYPE).set('X-Request-Id', 'dose-vxu-1').send(vxu);
    expect(res.status).toBe(200);
    await expectCompletedBy(task, 'dose-vxu-1', /given/);
  });

  it('through a FHIR message (vaccinations): the 6-in-1 dose 4 Task completes', async () => {
    const charlie = await patientId(CHARLIE);
    const task = await overdueTask(charlie, SIX_IN_ONE_4, 4);
    const bundle = JSON.parse((await readFixture('fhir-message/vaccinations-not-given-stu3.json')).replaceAll('33333333-3333-4333-8333-3333333333', '44444444-4444-4444-8444-4444444444')) as {
      entry: { resource: Record<string, unknown> }[];
    };
    for (const { resource } of bundle.entry) {
      if (resource['resourceType'] === 'Patient') Object.assign(resource, { identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: CHARLIE }], birthDate: '2025-02-01', address: [{ postalCode: 'E14 2BB' }] });
      if (resource['resourceType'] === 'Immunization') {
        Object.assign(resource, {
          notGiven: false,
          identifier: [{ system: 'https://fhir.nhs.uk/Id/gp-immunisation', value: 'Y90001-AT-INGEST-0004' }],
          date: '2026-11-21T10:00:00+00:00',
          extension: [{ url: 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-VaccinationProcedure-1', valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: SIX_IN_ONE_4 }] } }],
          vaccinationProtocol: [{ doseSequence: 4, targetDisease: [{ text: 'diphtheria' }], doseStatus: { text: 'count' } }],
        });
        delete resource['explanation'];
      }
    }
    const res = await t.http.post('/fhir/$process-message').set('Authorization', bearer('gp')).set('Content-Type', 'application/fhir+json').set('X-Request-Id', 'dose-message-1').send(JSON.stringify(bundle));
    expect(res.status).toBe(200);
    await expectCompletedBy(task, 'dose-message-1', /given/);
  });

  it('not from an organisation that is no source of immunisation events: maternity posting the dose through REST ends no work (attacker)', async () => {
    const charlie = await patientId(CHARLIE);
    const task = await overdueTask(charlie, MMRV_2, 2);
    const res = await post('maternity', immunization(charlie, MMRV_2, 2, 'completed'), 'dose-rest-attacker');
    expect(res.status).toBe(201);
    expect(await reread(task)).toMatchObject({ status: 'requested', meta: { versionId: '1' } });
  });

  it('through REST (POST /fhir/Immunization): the MMRV dose 2 Task completes', async () => {
    const charlie = await patientId(CHARLIE);
    const task = await overdueTask(charlie, MMRV_2, 2);
    const res = await post('gp', immunization(charlie, MMRV_2, 2, 'completed'), 'dose-rest-1');
    expect(res.status).toBe(201);
    const given = await expectCompletedBy(task, 'dose-rest-1', /MMRV|given/);
    expect(res.headers['location']).toContain(`Immunization/${given.id ?? ''}`);
  });

  it('leaves the job nothing to do: a run after the doses closes and raises nothing', async () => {
    const history = await countRows(t.database.db, 'resource_history');
    const run = await t.hub.followUps.run('2026-11-22');
    expect(run).toMatchObject({ ran: true, raised: [], closed: [], escalated: [] });
    expect(await countRows(t.database.db, 'resource_history')).toBe(history);
  });
});

describe('a missed dose written through REST raises the follow-up ingest raises', () => {
  const MISSED = '9997300084';
  let child: string;

  beforeAll(async () => {
    // The child's practice registers them (in Ocean's catchment) through REST.
    const res = await t.http
      .post('/fhir/Patient')
      .set('Authorization', bearer('gp'))
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Patient', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: MISSED }], name: [{ family: 'Testrest', given: ['Delta'] }], birthDate: '2026-07-01', address: [{ postalCode: 'E1 6AN' }] });
    expect(res.status).toBe(201);
    child = await patientId(MISSED);
  });

  it('a missed appointment: a Task for the centre in catchment and one for the health visitors, audited in the request', async () => {
    const res = await post('gp', immunization(child, '770617009', 2, 'not-done', { statusReason: { coding: [{ system: 'http://snomed.info/sct', code: '201741000000102', display: 'Did not attend child immunisation' }] } }), 'missed-rest-1');
    expect(res.status).toBe(201);
    const focus = `Immunization/${String((res.body as Immunization).id)}`;
    const tasks = (await tasksFor(child)).filter((x) => x.focus?.reference === focus);
    expect(tasks.map((x) => [kind(x), x.owner?.identifier?.value, x.status]).sort()).toEqual([
      ['missed-dose', 'CC-OCEAN', 'requested'],
      ['missed-dose', 'R9H', 'requested'],
    ]);
    const events = await auditEventsFor(t.database.db, 'missed-rest-1');
    for (const task of tasks) expect(events.some((e) => e.entity?.some((x) => x.what?.reference === `Task/${task.id ?? ''}/_history/1`) === true)).toBe(true);
    expect((await t.http.get(`/fhir/Task/${tasks.find((x) => x.owner?.identifier?.value === 'CC-OCEAN')?.id ?? ''}`).set('Authorization', bearer('ocean'))).status).toBe(200);
  });

  it('a refusal: work for the health visitors only, never a children\'s centre', async () => {
    const res = await post('gp', immunization(child, '720540002', 2, 'not-done', { statusReason: { coding: [{ system: 'http://snomed.info/sct', code: '591000119102', display: 'Vaccine refused by patient' }] } }), 'missed-rest-2');
    expect(res.status).toBe(201);
    const focus = `Immunization/${String((res.body as Immunization).id)}`;
    expect((await tasksFor(child)).filter((x) => x.focus?.reference === focus).map((x) => x.owner?.identifier?.value)).toEqual(['R9H']);
  });

  it('an organisation that is no source of immunisation events (maternity, through REST) raises no work (attacker)', async () => {
    const before = (await storedResources<Task>(t.database.db, 'Task')).map((x) => `${x.id}/${x.meta.versionId}`).sort();
    const missed = await post('maternity', immunization(child, '770618004', 3, 'not-done', { statusReason: { coding: [{ system: 'http://snomed.info/sct', code: '201741000000102' }] } }), 'missed-rest-attacker');
    expect(missed.status).toBe(201);
    expect((await storedResources<Task>(t.database.db, 'Task')).map((x) => `${x.id}/${x.meta.versionId}`).sort()).toEqual(before);
  });
});
