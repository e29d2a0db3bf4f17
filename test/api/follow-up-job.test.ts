import type { AuditEvent, Bundle, Communication, ImmunizationRecommendation, List, OperationOutcome, Patient, Task } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateClientKeyPair, signClientAssertion } from '../../src/auth/client-assertion.js';
import { inTransaction, openDatabase, rawRows } from '../../src/db/database.js';
import { upsertClient, upsertOrganisation } from '../../src/db/registry-queries.js';
import { createHub } from '../../src/hub.js';
import { AuditRecorder } from '../../src/services/audit-recorder.js';
import { DisclosureService } from '../../src/services/disclosure-service.js';
import { raiseFollowUps } from '../../src/services/follow-up-service.js';
import { countRows, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { recordStatements } from '../support/statement-log.js';
import { loadedTestProtocols } from '../support/protocols.js';
import { readRoutineSchedule } from '../support/schedule.js';
import { doseRow } from '../support/history.js';
import { storyClock } from '../support/story.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// The follow-up job (story steps 10 and 11): overdue doses of children whose
// practice sent a complete history, exception reports for a birth with no
// booking and a pregnancy past its due date, escalation, moves, one run at a
// time, and a re-run that changes nothing. Partners act through HTTP with
// their own tokens; the job runs as the hub's schedule runs it.

const HISTORY = 'csv/immunisation-history.csv';
const ALPHA = '9997300017'; // born 2026-05-04 (E1): 16-week doses overdue
const BRAVO = '9997300025'; // born 2024-03-10 (E1W): nothing due before the pre-school boosters
const CHARLIE = '9997300033'; // born 2025-02-01 (E14): 18-month doses overdue
const PARTIAL = '9997300041'; // a child whose practice never said its record is complete
const FOLLOW_UP = 'https://eastside.example/fhir/CodeSystem/follow-up';
const FOLLOW_UP_STATUS = 'https://eastside.example/fhir/CodeSystem/follow-up-status';

let t: TestHub;
const tokens: Record<string, string> = {};
const bearer = (who: string): string => `Bearer ${tokens[who] ?? ''}`;

beforeAll(async () => {
  const clock = storyClock('2026-11-22T09:00:00Z');
  t = await startTestHub({ clock });
  // A second maternity unit, to show exception reports stay with the unit they are about.
  const other = await generateClientKeyPair();
  await upsertOrganisation(t.database.db, { code: 'TEST-MAT', system: 'urn:eastside:org', type: 'maternity', name: 'Test maternity unit', catchment: [] });
  await upsertClient(t.database.db, { id: 'test-maternity', organisationCode: 'TEST-MAT', scopes: ['system/*.rs', 'system/Task.u'], purposes: ['direct-care'], jwks: { keys: [other.publicJwk] } });
  const res = await t.http
    .post('/auth/token')
    .type('form')
    .send({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await signClientAssertion(other.privateJwk, 'test-maternity', t.hub.tokenUrl, { now: clock() }), // the hub's time now: starting it may take longer than the assertion lives
      scope: 'system/*.rs system/Task.u',
      purpose_of_use: 'direct-care',
    });
  expect(res.status).toBe(200);
  tokens['other-maternity'] = (res.body as { access_token: string }).access_token;
  tokens['gp'] = await t.token('limehouse-gp', 'direct-care');
  tokens['test-gp'] = await t.token('test-gp', 'direct-care');
  tokens['hv'] = await t.token('eastside-hv', 'immunisation-follow-up');
  tokens['hv-direct'] = await t.token('eastside-hv', 'direct-care');
  tokens['ocean'] = await t.token('ocean-cc', 'immunisation-follow-up');
  tokens['iod'] = await t.token('iod-cc', 'immunisation-follow-up');
  tokens['maternity'] = await t.token('northgate-maternity', 'direct-care');
});
afterAll(async () => {
  await t.close();
});

const csv = (who: string, body: string, query = '?history=complete') =>
  t.http.post(`/ingest/immunisations-csv${query}`).set('Authorization', bearer(who)).set('Content-Type', 'text/csv').send(body);
const message = async (body: string) =>
  t.http.post('/fhir/$process-message').set('Authorization', bearer('maternity')).set('Content-Type', 'application/fhir+json').send(body);
const get = (who: string, path: string) => t.http.get(`/fhir/${path}`).set('Authorization', bearer(who));
const issues = (body: unknown) => (body as OperationOutcome).issue;

async function patientId(nhs: string): Promise<string> {
  const patients = await storedResources<Patient>(t.database.db, 'Patient');
  const found = patients.find((p) => p.identifier?.some((i) => i.value === nhs));
  if (found === undefined) throw new Error(`no Patient with NHS number ${nhs}`);
  return `Patient/${found.id}`;
}

const kind = (task: Task) => task.code?.coding?.find((c) => c.system === FOLLOW_UP)?.code;
const business = (task: Task) => task.businessStatus?.coding?.find((c) => c.system === FOLLOW_UP_STATUS)?.code;
const tasksFor = async (subject: string) => (await storedResources<Task>(t.database.db, 'Task')).filter((task) => task.for?.reference === subject);
const taskAuditCount = async () =>
  (await rawRows<{ n: number }>(t.database.db, sql`select count(*)::int as n from audit_event where event::text like '%"Task/%'`))[0]?.n ?? 0;
const runSummaries = async (asOf: string): Promise<AuditEvent[]> => {
  const rows = await rawRows<{ event: AuditEvent | string }>(t.database.db, sql`select event from audit_event where event->>'outcomeDesc' like ${`follow-up job as of ${asOf}:%`} order by seq`);
  return rows.map((r) => (typeof r.event === 'string' ? (JSON.parse(r.event) as AuditEvent) : r.event));
};

describe('history=complete on the immunisation CSV', () => {
  it('refuses any other value of history, naming it, and stores nothing', async () => {
    const before = await countRows(t.database.db, 'resource');
    const res = await csv('gp', await readFixture(HISTORY), '?history=partial');
    expect(res.status).toBe(400);
    expect(issues(res.body)[0]).toMatchObject({ severity: 'error', expression: ['history'] });
    expect(await countRows(t.database.db, 'resource')).toBe(before);
  });

  it('records, as the practice, one snapshot List per child naming every dose of the child in the file', async () => {
    const res = await csv('gp', await readFixture(HISTORY));
    expect(res.status).toBe(200);
    const histories = issues(res.body).filter((i) => (i.expression ?? [])[0]?.startsWith('complete history') === true);
    expect(histories.map((i) => i.severity)).toEqual(['information', 'information', 'information']);
    const lists = await storedResources<List>(t.database.db, 'List');
    expect(lists).toHaveLength(3);
    const immunizations = await storedResources<{ id: string; patient: { reference: string } }>(t.database.db, 'Immunization');
    for (const [nhs, doses] of [[ALPHA, 6], [BRAVO, 12], [CHARLIE, 11]] as const) {
      const child = await patientId(nhs);
      const list = lists.find((l) => l.subject?.reference === child);
      expect(list).toMatchObject({
        status: 'current',
        mode: 'snapshot',
        code: { coding: [{ code: 'immunisation-history' }] },
        source: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'Y90001' } },
        date: expect.stringMatching(/^2026-11-22T/) as unknown,
      });
      const own = immunizations.filter((i) => i.patient.reference === child).map((i) => `Immunization/${i.id}`).sort();
      expect(own).toHaveLength(doses);
      expect(list?.entry?.map((e) => e.item.reference)).toEqual(own);
    }
    // The practice reads back what it said; nobody else learns of it.
    const [first] = lists;
    expect((await get('gp', `List/${first?.id ?? ''}`)).status).toBe(200);
    expect((await get('ocean', `List/${first?.id ?? ''}`)).status).toBe(404);
  });

  it('changes nothing when the same file is sent again', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    const res = await csv('gp', await readFixture(HISTORY));
    expect(res.status).toBe(200);
    expect(issues(res.body).every((i) => i.code === 'duplicate')).toBe(true);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('records no history from a file with a refused row, and says which rows', async () => {
    const before = (await storedResources(t.database.db, 'List')).length;
    const res = await csv('test-gp', await readFixture('csv/mixed-good-bad.csv'));
    expect(res.status).toBe(200);
    const refusal = issues(res.body).find((i) => (i.expression ?? []).includes('history'));
    expect(refusal).toMatchObject({ severity: 'error', code: 'business-rule' });
    expect(refusal?.diagnostics).toMatch(/rows 2, 4, 5, 6 were refused/);
    expect(await storedResources(t.database.db, 'List')).toHaveLength(before);
  });

  it('refuses a complete history from an organisation that is not a source of immunisation events', async () => {
    const before = await countRows(t.database.db, 'resource');
    const res = await csv('maternity', doseRow(PARTIAL, '20250101', 'E1 1AA', 'MAT-0001', '770616000', 1).replaceAll('"Y90001"', '"R9M"'));
    expect(res.status).toBe(403);
    expect(await countRows(t.database.db, 'resource')).toBe(before);
  });
});

describe('story step 10: overdue doses of children with a complete history', () => {
  it('a practice that never said a record is complete gets no overdue follow-up for it (attacker: no claim, no Tasks)', async () => {
    // Only the 8-week doses of a child born 1 January 2025: by a partial record, everything since would look overdue.
    const res = await csv('gp', doseRow(PARTIAL, '20250101', 'E1 1AA', 'Y90001-PARTIAL-0001', '770616000', 1, '20250226T100000+00'), '');
    expect(res.status).toBe(200);
    await t.hub.followUps.run('2026-11-22');
    expect(await tasksFor(await patientId(PARTIAL))).toEqual([]);
  });

  it('raises a Task for the health visitors per overdue dose, focused on the hub\'s ImmunizationRecommendation', async () => {
    const alpha = await patientId(ALPHA);
    const charlie = await patientId(CHARLIE);
    const overdue = async (child: string) =>
      Promise.all(
        (await tasksFor(child)).map(async (task) => {
          expect(kind(task)).toBe('overdue-dose');
          expect(task).toMatchObject({ status: 'requested', intent: 'order', owner: { identifier: { value: 'R9H' } }, for: { reference: child } });
          const res = await get('hv', String(task.focus?.reference));
          expect(res.status).toBe(200);
          const recommendation = (res.body as ImmunizationRecommendation).recommendation[0];
          expect(recommendation?.forecastStatus.coding?.[0]?.code).toBe('overdue');
          return `${recommendation?.vaccineCode?.[0]?.coding?.[0]?.code ?? ''} dose ${String(recommendation?.doseNumberPositiveInt)}`;
        }),
      );
    // 16 weeks after 1 July 2025: 6-in-1 dose 3 and the first PCV.
    expect((await overdue(alpha)).sort()).toEqual(['247631000000101 dose 1', '770618004 dose 3']);
    // 18 months, born on or after 1 January 2025: 6-in-1 dose 4 and MMRV dose 2.
    expect((await overdue(charlie)).sort()).toEqual(['433733003 dose 2', '770618004 dose 4']);
    // Born before 1 July 2024: no 18-month appointment, the pre-school boosters not yet due.
    expect(await tasksFor(await patientId(BRAVO))).toEqual([]);
    expect(await runSummaries('2026-11-22')).toHaveLength(1);
  });

  it('shows the health visitors their Tasks; a children\'s centre gets the same 404 as for an id never held', async () => {
    const alpha = await patientId(ALPHA);
    const res = await get('hv', `Task?patient=${alpha}`);
    expect(res.status).toBe(200);
    const found = ((res.body as Bundle).entry ?? []).map((e) => e.resource as Task);
    expect(found).toHaveLength(2);
    const [task] = found;
    const refused = await get('ocean', `Task/${task?.id ?? ''}`);
    const absent = await get('ocean', 'Task/00000000-0000-4000-8000-000000000099');
    expect(refused.status).toBe(404);
    expect(JSON.stringify(refused.body).replaceAll(task?.id ?? '', 'ID')).toBe(JSON.stringify(absent.body).replaceAll('00000000-0000-4000-8000-000000000099', 'ID'));
    const focus = await get('ocean', String(task?.focus?.reference));
    expect(focus.status).toBe(404);
    const search = await get('ocean', `Task?patient=${alpha}`);
    expect((search.body as Bundle).entry ?? []).toEqual([]);
  });

  it('a children\'s centre cannot update a Task it does not own: the answer an unknown Task gets', async () => {
    const [task] = await tasksFor(await patientId(CHARLIE));
    const seen = (await get('hv', `Task/${task?.id ?? ''}`)).body as Task;
    const put = (body: Task) => t.http.put(`/fhir/Task/${body.id ?? ''}`).set('Authorization', bearer('ocean')).set('Content-Type', 'application/fhir+json').send(body);
    const forged = await put({ ...seen, status: 'cancelled' });
    const unknown = await put({ ...seen, id: '00000000-0000-4000-8000-000000000098', status: 'cancelled' });
    expect(forged.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect((await tasksFor(await patientId(CHARLIE))).map((x) => x.status)).toEqual(['requested', 'requested']);
  });

  it('is idempotent: a second run writes no Task and audits no Task, only its own summary', async () => {
    const history = await countRows(t.database.db, 'resource_history');
    const audited = await taskAuditCount();
    const run = await t.hub.followUps.run('2026-11-22');
    expect(run).toMatchObject({ ran: true, raised: [], closed: [], escalated: [] });
    expect(await countRows(t.database.db, 'resource_history')).toBe(history);
    expect(await taskAuditCount()).toBe(audited);
    expect(await runSummaries('2026-11-22')).toHaveLength(2);
  });

  it('completes the Task when the dose is given (dose-given), at the ingest of the dose; the other dose stays open', async () => {
    const alpha = await patientId(ALPHA);
    expect((await csv('gp', doseRow(ALPHA, '20260504', 'E1 3AB', 'Y90001-TESTHIST-0100', '247631000000101', 1), '')).status).toBe(200);
    expect((await tasksFor(alpha)).filter((task) => task.status === 'completed')).toHaveLength(1);
    // The job finds the work already done.
    const run = await t.hub.followUps.run('2026-11-22');
    expect(run.closed).toHaveLength(0);
    const tasks = await tasksFor(alpha);
    const closed = tasks.filter((task) => task.status === 'completed');
    expect(closed).toHaveLength(1);
    expect(business(closed[0] as Task)).toBe('dose-given');
    expect(closed[0]?.executionPeriod?.end).toBeDefined();
    // The recommendation the Task was about no longer reads as overdue.
    const recommendation = (await get('hv', String(closed[0]?.focus?.reference))).body as ImmunizationRecommendation;
    expect(recommendation.recommendation[0]?.forecastStatus.coding?.[0]?.code).toBe('complete');
    expect(tasks.filter((task) => task.status === 'requested')).toHaveLength(1);
  });
});

describe('story step 11: exception reports', () => {
  const owners = (tasks: Task[]) => tasks.map((task) => task.owner?.identifier?.value).sort();

  it('a birth with no booking: a Task for the maternity unit that notified it and for the health visitors', async () => {
    expect((await message(await readFixture('fhir-message/birth-notification-stu3.json'))).status).toBe(200);
    await t.hub.followUps.run('2026-11-22');
    const baby = await patientId('9995100029');
    const tasks = (await tasksFor(baby)).filter((task) => kind(task) === 'birth-without-booking');
    expect(owners(tasks)).toEqual(['R9H', 'R9M']);
    expect(tasks.every((task) => task.focus?.reference === baby)).toBe(true);
    for (const task of tasks) {
      expect((await get('maternity', `Task/${task.id ?? ''}`)).status).toBe(200);
      expect((await get('hv-direct', `Task/${task.id ?? ''}`)).status).toBe(200);
      expect((await get('other-maternity', `Task/${task.id ?? ''}`)).status).toBe(404);
    }
  });

  it('a pregnancy four weeks past its due date with no birth: a Task for the booking unit and the health visitors', async () => {
    // Due 12 October 2026; 9 November is four weeks on.
    expect((await message(await readFixture('fhir-message/pregnancy-notification-consent-refused.json'))).status).toBe(200);
    expect((await t.hub.followUps.run('2026-11-08')).raised.filter((r) => r.startsWith('Task/'))).toEqual([]);
    await t.hub.followUps.run('2026-11-22');
    const mother = await patientId('9995100118');
    const tasks = (await tasksFor(mother)).filter((task) => kind(task) === 'pregnancy-overdue');
    expect(owners(tasks)).toEqual(['R9H', 'R9M']);
    expect(tasks.every((task) => task.focus?.reference?.startsWith('EpisodeOfCare/') === true)).toBe(true);
    for (const task of tasks) {
      expect((await get('maternity', `Task/${task.id ?? ''}`)).status).toBe(200);
      expect((await get('hv-direct', `Task/${task.id ?? ''}`)).status).toBe(200);
      expect((await get('other-maternity', `Task/${task.id ?? ''}`)).status).toBe(404);
    }
  });

  it('a later booking closes the birth exception (booking-received); a later birth closes the pregnancy one (birth-notified)', async () => {
    expect((await message(await readFixture('fhir-message/pregnancy-notification.json'))).status).toBe(200);
    const birth = (await readFixture('fhir-message/birth-notification-stu3.json'))
      .replaceAll('9995100010', '9995100118')
      .replaceAll('9995100029', '9997300068')
      .replaceAll('22222222-2222-4222-8222-222222222201', '22222222-2222-4222-8222-222222222299');
    expect((await message(birth)).status).toBe(200);
    await t.hub.followUps.run('2026-11-22');
    const births = (await tasksFor(await patientId('9995100029'))).filter((task) => kind(task) === 'birth-without-booking');
    expect(births.map((task) => [task.status, business(task)])).toEqual([['completed', 'booking-received'], ['completed', 'booking-received']]);
    const pregnancies = (await tasksFor(await patientId('9995100118'))).filter((task) => kind(task) === 'pregnancy-overdue');
    expect(pregnancies.map((task) => [task.status, business(task)])).toEqual([['completed', 'birth-notified'], ['completed', 'birth-notified']]);
    // The booked mother's own pregnancy (due 28 September) had its birth notified before the booking arrived: no exception.
    expect((await tasksFor(await patientId('9995100010'))).filter((task) => kind(task) === 'pregnancy-overdue')).toEqual([]);
  });
});

describe('escalation, moves and deaths', () => {
  it('escalates a Task still requested 14 days after it was raised, with a note, once', async () => {
    const charlie = await patientId(CHARLIE);
    expect((await t.hub.followUps.run('2026-12-05')).escalated).toEqual([]);
    const run = await t.hub.followUps.run('2026-12-06');
    const tasks = await tasksFor(charlie);
    expect(tasks.map((task) => [task.status, business(task)])).toEqual([['requested', 'escalated'], ['requested', 'escalated']]);
    expect(tasks[0]?.note?.at(-1)?.text).toMatch(/not accepted within 14 days/);
    expect(run.escalated.length).toBeGreaterThanOrEqual(2);
    // The health visitors own these already: no second Task for the same focus.
    expect(tasks).toHaveLength(2);
    expect((await t.hub.followUps.run('2026-12-06')).escalated).toEqual([]);
  });

  it('closes the Tasks of a child who moved out of every partner\'s catchment (moved-away)', async () => {
    const charlie = await patientId(CHARLIE);
    // The practice's next message carries the new address (a GP's word on an address comes first).
    expect((await csv('gp', doseRow(CHARLIE, '20250201', 'N1 9GU', 'Y90001-TESTHIST-0200', '720544006', 3, '20261123T100000+00'), '')).status).toBe(200);
    const run = await t.hub.followUps.run('2026-12-06');
    expect(run.closed).toHaveLength(2);
    const tasks = await tasksFor(charlie);
    expect(tasks.map((task) => [task.status, business(task)])).toEqual([['cancelled', 'moved-away'], ['cancelled', 'moved-away']]);
    // Nothing new is raised for a child out of area, and nothing changes on a re-run.
    expect((await t.hub.followUps.run('2026-12-07')).raised).toEqual([]);
  });
});

describe('item 5: a child who moves to another centre\'s catchment', () => {
  const MOVER = '9997300076';

  it('cancels the old centre\'s Task with a reason it can read and raises it for the new centre', async () => {
    // A missed appointment in Ocean's catchment: follow-up for Ocean and the health visitors, raised at ingest.
    expect((await csv('gp', doseRow(MOVER, '20260115', 'E1 6AN', 'Y90001-MOVER-0001', '770618004', 3, '20261101T100000+00', true), '')).status).toBe(200);
    const child = await patientId(MOVER);
    const owned = async (code: string) => (await tasksFor(child)).filter((task) => task.owner?.identifier?.value === code);
    expect(await owned('CC-OCEAN')).toHaveLength(1);
    // The practice's next message carries the family's new address, in the Isle of Dogs.
    expect((await csv('gp', doseRow(MOVER, '20260115', 'E14 9ZZ', 'Y90001-MOVER-0002', '720540002', 2, '20261121T100000+00'), '')).status).toBe(200);
    const run = await t.hub.followUps.run('2026-11-22');
    const [old] = await owned('CC-OCEAN');
    expect([old?.status, business(old as Task)]).toEqual(['cancelled', 'moved-to-another-centre']);
    const [moved] = await owned('CC-IOD');
    expect(moved).toMatchObject({ status: 'requested', focus: old?.focus, for: { reference: child } });
    expect(run.raised).toContain(`Task/${moved?.id ?? ''}/_history/1`);
    // The new centre sees its Task; the health visitors' Task stays where it was.
    expect((await get('iod', `Task/${moved?.id ?? ''}`)).status).toBe(200);
    expect((await owned('R9H')).map((task) => task.status)).toEqual(['requested']);
    // The old centre may no longer see the child's records (nor so its Task): it reads why in a notice of its own.
    expect((await get('ocean', `Task/${old?.id ?? ''}`)).status).toBe(404);
    const notices = ((await get('ocean', 'Communication')).body as Bundle).entry?.map((e) => e.resource as Communication) ?? [];
    const notice = notices.find((n) => n.about?.some((a) => a.reference === `Task/${old?.id ?? ''}/_history/${old?.meta?.versionId ?? ''}`));
    expect(notice?.payload?.[0]?.contentString).toMatch(/moved-to-another-centre.*moved to another children's centre's area/);
    expect(JSON.stringify(notice)).not.toMatch(/E14|Isle of Dogs|CC-IOD/);
    expect(((await get('iod', 'Communication')).body as Bundle).entry ?? []).toEqual([]);
    expect((await t.hub.followUps.run('2026-11-22')).raised).toEqual([]);
  });
});

describe.skipIf(inject('databaseUrl') === '')('two instances on one PostgreSQL (skipped on PGlite: one process\'s database)', () => {
  it('runs the job from both at once and finds one set of Tasks', async () => {
    const clock = storyClock('2026-11-22T09:00:00Z');
    const first = await startTestHub({ clock });
    const second = await openDatabase({ kind: 'postgres', url: first.database.url ?? '' });
    const other = await createHub({ database: second, baseUrl: first.baseUrl, logger: pino({ level: 'silent' }), protocols: await loadedTestProtocols(), signingKeys: first.hub.keys, clock, schedules: [readRoutineSchedule()] });
    try {
      const gp = await first.token('limehouse-gp', 'direct-care');
      const sent = await request(other.app).post('/ingest/immunisations-csv?history=complete').set('Authorization', `Bearer ${gp}`).set('Content-Type', 'text/csv').send(await readFixture(HISTORY));
      expect(sent.status).toBe(200);
      const runs = await Promise.all([first.hub.followUps.run('2026-11-22'), other.followUps.run('2026-11-22'), first.hub.followUps.run('2026-11-22')]);
      const tasks = await storedResources<Task>(first.database.db, 'Task');
      expect(tasks).toHaveLength(4);
      expect(new Set(tasks.map((task) => task.identifier?.[0]?.value)).size).toBe(4);
      expect(runs.flatMap((r) => r.raised)).toHaveLength(4);
    } finally {
      await other.close();
      await second.close();
      await first.close();
    }
  });
});

describe('the locks a run holds', () => {
  it('raises overdue-dose Tasks under its run lock alone, with no lock per Task (the lock table is bounded)', async () => {
    const clock = storyClock('2026-11-22T09:00:00Z');
    const hub = await startTestHub({ clock });
    try {
      const gp = await hub.token('limehouse-gp', 'direct-care');
      const sent = await hub.http.post('/ingest/immunisations-csv?history=complete').set('Authorization', `Bearer ${gp}`).set('Content-Type', 'text/csv').send(await readFixture(HISTORY));
      expect(sent.status).toBe(200);
      const log = recordStatements(hub.database);
      const run = await hub.hub.followUps.run('2026-11-22');
      log.stop();
      expect(run.raised.filter((r) => r.startsWith('Task/'))).toHaveLength(4);
      // PostgreSQL keeps max_locks_per_transaction (64) per connection: a run raising thousands of Tasks in its one transaction must not take one each.
      expect(log.statements().filter((s) => /pg_advisory_xact_lock\(hashtext/.test(s))).toEqual([]);
    } finally {
      await hub.close();
    }
  });

  it('refuses to raise a kind only the job raises outside the job, and writes nothing', async () => {
    const clock = storyClock('2026-11-22T09:00:00Z');
    const hub = await startTestHub({ clock });
    try {
      const protocols = await loadedTestProtocols();
      const deps = { audit: new AuditRecorder({ hubBaseUrl: hub.baseUrl, clock }), clock, protocols, disclosure: new DisclosureService({ protocols, clock }) };
      const spec = { kind: 'overdue-dose' as const, owner: { system: 'urn:eastside:org', code: 'R9H' }, subject: 'Patient/x', focus: 'ImmunizationRecommendation/x', raisedOn: clock() };
      const before = await countRows(hub.database.db, 'resource');
      await expect(inTransaction(hub.database.db, (tx) => raiseFollowUps(deps, tx, { requestId: 'outside-the-job' }, [spec]))).rejects.toThrow('raised only by the follow-up job');
      expect(await countRows(hub.database.db, 'resource')).toBe(before);
    } finally {
      await hub.close();
    }
  });
});
