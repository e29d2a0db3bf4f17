import type { Patient, Task } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { doseRow } from '../support/history.js';
import { storyClock } from '../support/story.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Episodes of follow-up work: one open Task per kind, focus and owner, but a
// closed one no longer blocks the work coming back. A child who moves back
// gets its old centre's work again; a dose still overdue four weeks after its
// owner closed the work is asked again; an escalation asks the health visitors
// even if they closed their own. Re-runs of a day still change nothing.

const FOLLOW_UP = 'https://eastside.example/fhir/CodeSystem/follow-up';
const KEY = 'https://eastside.example/fhir/Id/follow-up';
const ALPHA = '9997300017'; // complete history: 6-in-1 dose 3 and PCV dose 1 overdue on 22 November 2026

let t: TestHub;
const tokens: Record<string, string> = {};
const bearer = (who: string): string => `Bearer ${tokens[who] ?? ''}`;

beforeAll(async () => {
  t = await startTestHub({ clock: storyClock('2026-11-22T09:00:00Z') });
  tokens['gp'] = await t.token('limehouse-gp', 'direct-care');
  tokens['hv'] = await t.token('eastside-hv', 'immunisation-follow-up');
});
afterAll(async () => {
  await t.close();
});

const csv = (body: string, query = '') => t.http.post(`/ingest/immunisations-csv${query}`).set('Authorization', bearer('gp')).set('Content-Type', 'text/csv').send(body);
const kind = (task: Task) => task.code?.coding?.find((c) => c.system === FOLLOW_UP)?.code;
const key = (task: Task) => task.identifier?.find((i) => i.system === KEY)?.value;
const business = (task: Task) => task.businessStatus?.coding?.[0]?.code;
const tasksFor = async (subject: string) => (await storedResources<Task>(t.database.db, 'Task')).filter((task) => task.for?.reference === subject);

async function patientId(nhs: string): Promise<string> {
  const found = (await storedResources<Patient>(t.database.db, 'Patient')).find((p) => p.identifier?.some((i) => i.value === nhs));
  if (found === undefined) throw new Error(`no Patient with NHS number ${nhs}`);
  return `Patient/${found.id}`;
}

/** The owner closes its own Task through the API, as it was given to it. */
async function ownerCloses(task: Task, status: 'completed' | 'cancelled'): Promise<void> {
  const seen = (await t.http.get(`/fhir/Task/${task.id ?? ''}`).set('Authorization', bearer('hv'))).body as Task;
  const res = await t.http.put(`/fhir/Task/${task.id ?? ''}`).set('Authorization', bearer('hv')).set('Content-Type', 'application/fhir+json').send({ ...seen, status, note: [{ text: 'family contacted' }] });
  expect(res.status).toBe(200);
}

async function expectRerunChangesNothing(asOf: string): Promise<void> {
  const history = await countRows(t.database.db, 'resource_history');
  expect(await t.hub.followUps.run(asOf)).toMatchObject({ raised: [], closed: [], escalated: [] });
  expect(await countRows(t.database.db, 'resource_history')).toBe(history);
}

describe('a child who moves away and back', () => {
  const MOVER = '9997300092';

  it("raises the first centre's work again, as a new episode, when the child moves back into its catchment", async () => {
    // A missed appointment in Ocean's catchment (E1): work for Ocean and the health visitors.
    expect((await csv(doseRow(MOVER, '20260115', 'E1 6AN', 'Y90001-EPISODE-0001', '770618004', 3, '20261101T100000+00', true))).status).toBe(200);
    const child = await patientId(MOVER);
    const owned = async (code: string) => (await tasksFor(child)).filter((task) => task.owner?.identifier?.value === code).sort((a, b) => (a.authoredOn ?? '').localeCompare(b.authoredOn ?? ''));
    const [first] = await owned('CC-OCEAN');
    // To the Isle of Dogs (E14): Ocean's work is cancelled, the Isle of Dogs gets it.
    expect((await csv(doseRow(MOVER, '20260115', 'E14 9ZZ', 'Y90001-EPISODE-0002', '720540002', 2, '20261121T100000+00'))).status).toBe(200);
    await t.hub.followUps.run('2026-11-22');
    expect((await owned('CC-IOD')).map((task) => task.status)).toEqual(['requested']);
    // And back to Ocean's catchment.
    expect((await csv(doseRow(MOVER, '20260115', 'E1 6AN', 'Y90001-EPISODE-0003', '247631000000101', 1, '20261122T080000+00'))).status).toBe(200);
    const run = await t.hub.followUps.run('2026-11-23');
    const ocean = await owned('CC-OCEAN');
    expect(ocean.map((task) => [task.status, business(task)])).toEqual([
      ['cancelled', 'moved-to-another-centre'],
      ['requested', 'open'],
    ]);
    const [, second] = ocean;
    expect(key(second as Task)).toBe(`${key(first as Task) ?? ''}:2`);
    expect(second).toMatchObject({ focus: first?.focus, for: { reference: child } });
    expect(run.raised).toContain(`Task/${second?.id ?? ''}/_history/1`);
    expect((await owned('CC-IOD')).map((task) => [task.status, business(task)])).toEqual([['cancelled', 'moved-to-another-centre']]);
    // One open Task per owner, and a re-run of the day changes nothing.
    expect((await owned('R9H')).map((task) => task.status)).toEqual(['requested']);
    await expectRerunChangesNothing('2026-11-23');
  });
});

describe('overdue work its owner closed while the dose is still overdue', () => {
  it('is asked again, as a new episode, four weeks after it was closed, and not before', async () => {
    expect((await csv(await readFixture('csv/immunisation-history.csv'), '?history=complete')).status).toBe(200);
    await t.hub.followUps.run('2026-11-23');
    const alpha = await patientId(ALPHA);
    const overdue = async () => (await tasksFor(alpha)).filter((task) => kind(task) === 'overdue-dose');
    expect(await overdue()).toHaveLength(2);
    const [closedByOwner] = await overdue();
    await ownerCloses(closedByOwner as Task, 'completed');
    await expectRerunChangesNothing('2026-11-23');
    // 27 days after it was closed (22 November): still the owner's word.
    expect((await t.hub.followUps.run('2026-12-19')).raised).toEqual([]);
    const run = await t.hub.followUps.run('2026-12-20');
    const again = (await overdue()).filter((task) => task.focus?.reference === closedByOwner?.focus?.reference && task.status === 'requested');
    expect(again).toHaveLength(1);
    expect(key(again[0] as Task)).toBe(`${key(closedByOwner as Task) ?? ''}:2`);
    expect(run.raised).toEqual([`Task/${again[0]?.id ?? ''}/_history/1`]);
    await expectRerunChangesNothing('2026-12-20');
  });
});

describe('an escalation after the health visitors closed their own work', () => {
  const LATE = '9997300106';

  it('raises a new health-visiting Task for the escalated work', async () => {
    expect((await csv(doseRow(LATE, '20260201', 'E1W 2AB', 'Y90001-EPISODE-0100', '770618004', 3, '20261120T100000+00', true))).status).toBe(200);
    const child = await patientId(LATE);
    const owned = async (code: string) => (await tasksFor(child)).filter((task) => task.owner?.identifier?.value === code).sort((a, b) => (a.authoredOn ?? '').localeCompare(b.authoredOn ?? ''));
    const [hvFirst] = await owned('R9H');
    await ownerCloses(hvFirst as Task, 'completed');
    // Ocean never accepts its Task: escalated after 14 days, and the health visitors are asked again.
    const run = await t.hub.followUps.run('2026-12-07');
    expect((await owned('CC-OCEAN')).map((task) => [task.status, business(task)])).toEqual([['requested', 'escalated']]);
    const hv = await owned('R9H');
    expect(hv.map((task) => [task.status, business(task)])).toEqual([['completed', 'progressed-by-owner'], ['requested', 'escalated']]);
    expect(key(hv[1] as Task)).toBe(`${key(hvFirst as Task) ?? ''}:2`);
    expect(run.raised).toContain(`Task/${hv[1]?.id ?? ''}/_history/1`);
    await expectRerunChangesNothing('2026-12-07');
  });
});
