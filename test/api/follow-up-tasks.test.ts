import type { Bundle, OperationOutcome, Task } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEventsNaming, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Story step 9: a missed dose becomes follow-up work (R4 Task). The centre in
// catchment and the health visitors each get a Task for a missed appointment;
// a refusal is work for the health visitors only; the owner moves its Task on;
// the dose given completes it. Every Task is decided like any record.

const HL7 = 'x-application/hl7-v2+er7';
const FOLLOW_UP = 'https://eastside.example/fhir/CodeSystem/follow-up';
let t: TestHub;
let gp: string;
let ocean: string;
let iod: string;
let hv: string;
let maternity: string;

beforeAll(async () => {
  t = await startTestHub();
  gp = await t.token('limehouse-gp', 'direct-care');
  ocean = await t.token('ocean-cc', 'immunisation-follow-up');
  iod = await t.token('iod-cc', 'immunisation-follow-up');
  hv = await t.token('eastside-hv', 'direct-care');
  maternity = await t.token('northgate-maternity', 'direct-care');
});
afterAll(async () => {
  await t.close();
});

const vxu = (body: string) => t.http.post('/ingest/hl7v2').set('Authorization', `Bearer ${gp}`).set('Content-Type', HL7).send(body);
const get = (token: string, path: string) => t.http.get(`/fhir/${path}`).set('Authorization', `Bearer ${token}`);
const put = (token: string, task: Task) => t.http.put(`/fhir/Task/${task.id ?? ''}`).set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/fhir+json').send(task);
const tasks = async (): Promise<Task[]> => storedResources<Task>(t.database.db, 'Task');
const ownedBy = (all: Task[], code: string) => all.filter((x) => x.owner?.identifier?.value === code);
const searchTasks = async (token: string): Promise<Task[]> => {
  const res = await get(token, 'Task');
  expect(res.status).toBe(200);
  return ((res.body as Bundle).entry ?? []).map((e) => e.resource as Task);
};

describe('follow-up work from a missed dose', () => {
  let oceanTask: Task;
  let hvTask: Task;

  it('raises a Task for the centre in catchment and one for the health visitors, with the child and the missed dose', async () => {
    expect((await vxu(await readFixture('hl7v2/missed-dose-na.hl7'))).status).toBe(200);
    const all = await tasks();
    expect(all).toHaveLength(2);
    oceanTask = ownedBy(all, 'CC-OCEAN')[0] as Task;
    hvTask = ownedBy(all, 'R9H')[0] as Task;
    const [missed] = await storedResources<{ id: string; patient: { reference: string } }>(t.database.db, 'Immunization');
    for (const task of [oceanTask, hvTask]) {
      expect(task).toMatchObject({
        status: 'requested',
        intent: 'order',
        code: { coding: [{ system: FOLLOW_UP, code: 'missed-dose' }] },
        focus: { reference: `Immunization/${missed?.id ?? ''}` },
        for: { reference: missed?.patient.reference },
        requester: { identifier: { value: 'EYHUB' } },
      });
    }
    // The hub audits the work it raised as its own.
    const raised = await auditEventsNaming(t.database.db, `Task/${oceanTask.id ?? ''}/_history/1`);
    expect(raised.some((e) => e.agent.some((a) => a.who?.identifier?.value === 'EYHUB'))).toBe(true);
  });

  it("lets Ocean read its Task as the flow carries it (no requester, no key), and keeps it from Isle of Dogs and maternity", async () => {
    const res = await get(ocean, `Task/${oceanTask.id ?? ''}`);
    expect(res.status).toBe(200);
    const seen = res.body as Task;
    expect(seen.owner?.identifier?.value).toBe('CC-OCEAN');
    expect(seen.requester).toBeUndefined();
    expect(seen.identifier).toBeUndefined();
    expect((await searchTasks(ocean)).map((x) => x.id)).toContain(oceanTask.id);
    const unknown = await get(iod, 'Task/00000000-0000-4000-8000-000000000000');
    for (const token of [iod, maternity]) {
      const denied = await get(token, `Task/${oceanTask.id ?? ''}`);
      expect(denied.status).toBe(404);
      expect(denied.body).toEqual({ ...(unknown.body as object), issue: (unknown.body as OperationOutcome).issue.map((i) => ({ ...i, diagnostics: i.diagnostics?.replace('00000000-0000-4000-8000-000000000000', oceanTask.id ?? '') })) });
      expect(await searchTasks(token)).toEqual([]);
    }
  });

  it('lets an owner find its own open work: Task?owner:identifier=&status=, and by focus and code', async () => {
    const mine = await get(ocean, 'Task?owner:identifier=CC-OCEAN&status=requested,in-progress');
    expect(mine.status).toBe(200);
    expect(((mine.body as Bundle).entry ?? []).map((e) => e.resource?.id)).toEqual([oceanTask.id]);
    const byFocus = await get(hv, `Task?focus=${oceanTask.focus?.reference ?? ''}&code=${FOLLOW_UP}|missed-dose`);
    expect(((byFocus.body as Bundle).entry ?? []).map((e) => e.resource?.id).sort()).toEqual([hvTask.id, oceanTask.id].sort());
    expect(((await get(ocean, 'Task?status=completed')).body as Bundle).entry ?? []).toEqual([]);
    // Isle of Dogs searching for Ocean's work finds nothing, as for work nobody has.
    expect(((await get(iod, 'Task?owner:identifier=CC-OCEAN')).body as Bundle).entry ?? []).toEqual([]);
    const bad = await get(ocean, 'Task?status=a|b|c');
    expect(bad.status).toBe(400);
    expect((bad.body as OperationOutcome).issue[0]?.expression).toEqual(['status']);
  });

  it('lets Ocean move its Task in progress with a note; only status, business status words and notes change', async () => {
    const seen = (await get(ocean, `Task/${oceanTask.id ?? ''}`)).body as Task;
    const res = await put(ocean, { ...seen, status: 'in-progress', note: [{ text: 'family contacted, appointment booked' }] });
    expect(res.status).toBe(200);
    const [stored] = ownedBy(await tasks(), 'CC-OCEAN');
    expect(stored).toMatchObject({ status: 'in-progress', meta: { versionId: '2' }, businessStatus: { coding: [{ code: 'progressed-by-owner' }] } });
    expect(stored?.note?.[0]).toMatchObject({ text: 'family contacted, appointment booked', authorString: "Ocean Children's Centre" });
    expect(stored?.requester?.identifier?.value).toBe('EYHUB');
    const changed = await auditEventsNaming(t.database.db, `Task/${oceanTask.id ?? ''}/_history/2`);
    expect(changed.some((e) => e.agent.some((a) => a.who?.identifier?.value === 'CC-OCEAN'))).toBe(true);
  });

  it('refuses an owner changing what is the hub’s (owner, focus, code) with a 422 naming the element, and stores nothing', async () => {
    const seen = (await get(ocean, `Task/${oceanTask.id ?? ''}`)).body as Task;
    for (const [element, forged] of [
      ['Task.owner', { ...seen, owner: { identifier: { system: 'urn:eastside:org', value: 'CC-IOD' } } }],
      ['Task.focus', { ...seen, focus: { reference: 'Immunization/00000000-0000-4000-8000-000000000001' } }],
      ['Task.description', { ...seen, description: 'anything' }],
    ] as const) {
      const res = await put(ocean, forged);
      expect(res.status).toBe(422);
      expect((res.body as OperationOutcome).issue[0]?.expression).toContain(element);
    }
    // A stale copy: If-Match naming version 1 of a Task now at version 2.
    const stale = await put(ocean, { ...seen, status: 'completed' }).set('If-Match', 'W/"1"');
    expect(stale.status).toBe(412);
    expect((stale.body as OperationOutcome).issue[0]?.expression).toEqual(['If-Match']);
    const bad = await put(ocean, { ...seen, status: 'entered-in-error' });
    expect(bad.status).toBe(422);
    expect((bad.body as OperationOutcome).issue[0]?.expression).toContain('Task.status');
    expect(ownedBy(await tasks(), 'CC-OCEAN')[0]?.meta?.versionId).toBe('2');
  });

  it('gives another organisation the answer an unknown Task gets when it tries to update one', async () => {
    const seen = (await get(ocean, `Task/${oceanTask.id ?? ''}`)).body as Task;
    const unknown = await put(iod, { ...seen, id: '00000000-0000-4000-8000-000000000002' });
    const forged = await put(iod, { ...seen, status: 'cancelled' });
    expect(forged.status).toBe(404);
    expect(unknown.status).toBe(404);
    // The health visitors can see Ocean's Task (every follow-up goes to them) but it is not theirs to move.
    expect((await get(hv, `Task/${hvTask.id ?? ''}`)).status).toBe(200);
    const hvSees = await get(hv, `Task/${oceanTask.id ?? ''}`);
    expect(hvSees.status).toBe(200);
    expect((await put(hv, { ...(hvSees.body as Task), status: 'cancelled' })).status).toBe(404);
    expect(ownedBy(await tasks(), 'CC-OCEAN')[0]?.status).toBe('in-progress');
  });

  it('completes both Tasks by itself when the catch-up dose is given', async () => {
    expect((await vxu(await readFixture('hl7v2/catch-up-cp.hl7'))).status).toBe(200);
    const all = await tasks();
    expect(all).toHaveLength(2);
    for (const task of all) {
      expect(task.status).toBe('completed');
      expect(task.businessStatus?.coding?.[0]?.code).toBe('dose-given');
      expect(task.executionPeriod?.end).toBeDefined();
    }
    // A closed Task can no longer be moved by its owner.
    const seen = (await get(ocean, `Task/${oceanTask.id ?? ''}`)).body as Task;
    expect((await put(ocean, { ...seen, status: 'in-progress' })).status).toBe(409);
  });

  it("gives the IG lead counts of the follow-up work per kind, owner and status (JSON and CSV), no child in them, and nobody else", async () => {
    const ig = await t.token('ig-console', 'audit');
    const res = await t.http.get('/audit/report/follow-ups?_format=json').set('Authorization', `Bearer ${ig}`);
    expect(res.status).toBe(200);
    const rows = (JSON.parse(res.text) as { rows: { kind: string; organisationCode: string; organisationName: string; status: string; tasks: number; completedWithin28Days: number }[] }).rows;
    expect(rows.filter((r) => r.kind === 'missed-dose').map((r) => [r.organisationCode, r.status, r.tasks, r.completedWithin28Days])).toEqual([
      ['CC-OCEAN', 'completed', 1, 1],
      ['R9H', 'completed', 1, 1],
    ]);
    expect(rows.find((r) => r.organisationCode === 'CC-OCEAN')?.organisationName).toBe("Ocean Children's Centre");
    expect(res.text).not.toMatch(/Patient\/|Immunization\/|999009/);
    const csv = await t.http.get('/audit/report/follow-ups').set('Authorization', `Bearer ${ig}`);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.text.split('\r\n')[0]).toBe('month,kind,organisation_code,organisation_name,status,business_status,tasks,stalled,completed_within_28_days');
    expect((await t.http.get('/audit/report/follow-ups').set('Authorization', `Bearer ${ocean}`)).status).toBe(403);
    const bad = await t.http.get('/audit/report/follow-ups?from=2026-13').set('Authorization', `Bearer ${ig}`);
    expect(bad.status).toBe(400);
    expect((bad.body as OperationOutcome).issue[0]?.expression).toEqual(['from']);
  });

  it('makes a refused dose work for the health visitors only: no centre Task, and the HV Task stays hidden from centres', async () => {
    expect((await vxu(await readFixture('hl7v2/refusal-re.hl7'))).status).toBe(200);
    const refusalTasks = (await tasks()).filter((x) => x.status === 'requested');
    expect(refusalTasks.map((x) => x.owner?.identifier?.value)).toEqual(['R9H']);
    const [task] = refusalTasks;
    expect((await get(hv, `Task/${task?.id ?? ''}`)).status).toBe(200);
    expect((await get(ocean, `Task/${task?.id ?? ''}`)).status).toBe(404);
    expect((await searchTasks(ocean)).map((x) => x.id)).not.toContain(task?.id);
  });
});
