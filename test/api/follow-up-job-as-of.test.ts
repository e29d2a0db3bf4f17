import type { Patient, Task } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { doseRow } from '../support/history.js';
import { storyClock } from '../support/story.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// `hub followups run --as-of DATE` for days gone by: the work the job raises,
// escalates and cancels is dated on the day it judged, whatever the wall
// clock reads, so a run by hand for a past day escalates on time and the
// figures count the work in the month it was due. The hub's clock here reads
// 1 March 2027, months after the days the job is run as of.

const HISTORY = 'csv/immunisation-history.csv';
const ALPHA = '9997300017'; // born 2026-05-04 (E1): two doses overdue on 22 November 2026
const CHARLIE = '9997300033'; // born 2025-02-01 (E14): two doses overdue on 22 November 2026
const FOLLOW_UP = 'https://eastside.example/fhir/CodeSystem/follow-up';
const FOLLOW_UP_STATUS = 'https://eastside.example/fhir/CodeSystem/follow-up-status';

let t: TestHub;
let gp = '';

beforeAll(async () => {
  t = await startTestHub({ clock: storyClock('2027-03-01T10:00:00Z') });
  gp = await t.token('limehouse-gp', 'direct-care');
  const res = await t.http.post('/ingest/immunisations-csv?history=complete').set('Authorization', `Bearer ${gp}`).set('Content-Type', 'text/csv').send(await readFixture(HISTORY));
  expect(res.status).toBe(200);
});
afterAll(async () => {
  await t.close();
});

const kind = (task: Task) => task.code?.coding?.find((c) => c.system === FOLLOW_UP)?.code;
const business = (task: Task) => task.businessStatus?.coding?.find((c) => c.system === FOLLOW_UP_STATUS)?.code;
const overdueWork = async (): Promise<Task[]> => (await storedResources<Task>(t.database.db, 'Task')).filter((task) => kind(task) === 'overdue-dose');
async function patientRef(nhs: string): Promise<string> {
  const found = (await storedResources<Patient>(t.database.db, 'Patient')).find((p) => p.identifier?.some((i) => i.value === nhs));
  if (found === undefined) throw new Error(`no Patient with NHS number ${nhs}`);
  return `Patient/${found.id}`;
}

describe('the follow-up job run as of a past day', () => {
  it('dates the Tasks it raises on that day (authoredOn, executionPeriod.start, lastModified); the store records when it wrote them', async () => {
    const run = await t.hub.followUps.run('2026-11-22');
    expect(run.raised).toHaveLength(4);
    const tasks = await overdueWork();
    expect(tasks.map((task) => task.for?.reference).sort()).toEqual([await patientRef(ALPHA), await patientRef(ALPHA), await patientRef(CHARLIE), await patientRef(CHARLIE)].sort());
    for (const task of tasks) {
      expect(task.authoredOn).toMatch(/^2026-11-22T/);
      expect(task.executionPeriod?.start).toBe(task.authoredOn);
      expect(task.lastModified).toBe(task.authoredOn);
      // meta.lastUpdated is when the hub wrote this version: partners polling with _lastUpdated still find it.
      expect(task.meta?.lastUpdated).toMatch(/^2027-03-01T/);
    }
  });

  it('escalates 14 days after that day, not after the wall clock, and dates the escalation on the day it was run as of', async () => {
    expect((await t.hub.followUps.run('2026-12-05')).escalated).toEqual([]);
    const run = await t.hub.followUps.run('2026-12-06');
    expect(run.escalated).toHaveLength(4);
    for (const task of await overdueWork()) {
      expect([task.status, business(task)]).toEqual(['requested', 'escalated']);
      expect(task.authoredOn).toMatch(/^2026-11-22T/);
      expect(task.executionPeriod?.start).toBe(task.authoredOn);
      expect(task.lastModified).toMatch(/^2026-12-06T/);
      expect(task.note?.at(-1)).toMatchObject({ text: expect.stringMatching(/not accepted within 14 days/) as unknown, time: task.lastModified });
    }
    // The health visitors own this work already: no second Task for a focus, and a re-run escalates nothing.
    expect(await overdueWork()).toHaveLength(4);
    expect((await t.hub.followUps.run('2026-12-06')).escalated).toEqual([]);
  });

  it('dates the Tasks it cancels on the day it was run as of (executionPeriod.end, lastModified, the note)', async () => {
    const charlie = await patientRef(CHARLIE);
    // The practice's next message carries an address outside every partner's catchment.
    expect((await t.http.post('/ingest/immunisations-csv').set('Authorization', `Bearer ${gp}`).set('Content-Type', 'text/csv').send(doseRow(CHARLIE, '20250201', 'N1 9GU', 'Y90001-ASOF-0001', '720544006', 3, '20261123T100000+00'))).status).toBe(200);
    const run = await t.hub.followUps.run('2026-12-10');
    expect(run.closed).toHaveLength(2);
    const cancelled = (await overdueWork()).filter((task) => task.for?.reference === charlie);
    expect(cancelled.map((task) => [task.status, business(task)])).toEqual([['cancelled', 'moved-away'], ['cancelled', 'moved-away']]);
    for (const task of cancelled) {
      expect(task.executionPeriod).toEqual({ start: task.authoredOn, end: expect.stringMatching(/^2026-12-10T/) as unknown });
      expect(task.lastModified).toBe(task.executionPeriod?.end);
      expect(task.note?.at(-1)?.time).toBe(task.lastModified);
      expect(task.meta?.lastUpdated).toMatch(/^2027-03-01T/);
    }
  });
});
