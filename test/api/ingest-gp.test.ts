import type { Immunization, OperationOutcome, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEventsFor, countByType, countRows, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// What GP systems push: HL7 v2 VXU (with ACKs) and the immunisation CSV.

const HL7 = 'x-application/hl7-v2+er7';
let t: TestHub;
let limehouse: string;
let bowcommon: string;
let csvGp: string;
beforeAll(async () => {
  t = await startTestHub();
  limehouse = await t.token('limehouse-gp', 'direct-care');
  bowcommon = await t.token('bowcommon-gp', 'direct-care');
  csvGp = await t.token('test-gp', 'direct-care');
});
afterAll(async () => {
  await t.close();
});

const hl7 = (token: string, body: string, accept = 'application/fhir+json') =>
  t.http.post('/ingest/hl7v2').set('Authorization', `Bearer ${token}`).set('Content-Type', HL7).set('Accept', accept).buffer(true).parse((res, done) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.on('end', () => { done(null, text); });
  }).send(body);
const outcome = (text: unknown) => JSON.parse(String(text)) as OperationOutcome;
const immunizations = () => storedResources<Immunization>(t.database.db, 'Immunization');

describe('POST /ingest/hl7v2', () => {
  it('stores a missed dose as a not-done Immunization with its reason, once per NHS number', async () => {
    const res = await hl7(limehouse, await readFixture('hl7v2/missed-dose-na.hl7'));
    expect(res.status).toBe(200);
    expect(outcome(res.body).issue[0]?.severity).toBe('information');
    const [imm] = await immunizations();
    expect(imm).toMatchObject({ status: 'not-done', statusReason: { coding: [{ code: '201741000000102' }] } });
    const patients = await storedResources<Patient>(t.database.db, 'Patient');
    expect(patients).toHaveLength(1);
    expect(imm?.patient.reference).toBe(`Patient/${patients[0]?.id ?? ''}`);
  });

  it('answers with an HL7 ACK when asked, and recognises the re-sent message', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    const res = await hl7(limehouse, await readFixture('hl7v2/missed-dose-na.hl7'), HL7);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^x-application\/hl7-v2\+er7/);
    const segments = String(res.body).split('\r');
    expect(segments[0]).toMatch(/^MSH\|\^~\\&\|EYHUB\|EASTSIDE\|EMISWEB\|Y90001\|/);
    expect(segments[1]).toBe('MSA|AA|Y90001-TEST-0001');
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('keeps the catch-up dose beside the missed one, for the same child', async () => {
    expect((await hl7(limehouse, await readFixture('hl7v2/catch-up-cp.hl7'))).status).toBe(200);
    const all = await immunizations();
    expect(all.map((i) => i.status).sort()).toEqual(['completed', 'not-done']);
    expect(new Set(all.map((i) => i.patient.reference)).size).toBe(1);
    expect(await storedResources(t.database.db, 'Patient')).toHaveLength(1);
    // The missed dose stays missed, and is marked caught up on the day the dose was given.
    const missed = all.find((i) => i.status === 'not-done');
    const given = all.find((i) => i.status === 'completed');
    expect(missed?.meta?.versionId).toBe('2');
    expect(missed?.extension?.find((e) => e.url === 'https://eastside.example/fhir/StructureDefinition/missed-dose-caught-up')?.valueDateTime).toBe(given?.occurrenceDateTime);
  });

  it('catches up a missed dose given in the same message, for a child the hub has never seen: no follow-up work is left', async () => {
    // One VXU with two orders for a new child (NHS number 9990092001): the 6-in-1 dose 3 missed, then given.
    const segments = (text: string) => text.split(/\r\n?|\n/).filter((s) => s !== '');
    const missed = segments(await readFixture('hl7v2/missed-dose-na.hl7'));
    const caughtUp = segments(await readFixture('hl7v2/catch-up-cp.hl7')).filter((s) => s.startsWith('ORC|') || s.startsWith('RXA|'));
    const vxu = [...missed, ...caughtUp].join('\r').replaceAll('9990091013', '9990092001').replaceAll('Y90001-TEST-0001', 'Y90001-TEST-0101').replaceAll('Y90001-IMM-9000', 'Y90001-IMM-9010');
    const tasksBefore = (await storedResources(t.database.db, 'Task')).length;
    const res = await hl7(limehouse, vxu);
    expect(res.status).toBe(200);
    const patient = (await storedResources<Patient>(t.database.db, 'Patient')).find((p) => p.identifier?.some((i) => i.value === '9990092001'));
    const hers = (await immunizations()).filter((i) => i.patient.reference === `Patient/${patient?.id ?? ''}`);
    expect(hers.map((i) => i.status).sort()).toEqual(['completed', 'not-done']);
    const given = hers.find((i) => i.status === 'completed');
    // Written and caught up in the one transaction: version 2, marked on the day the dose was given.
    expect(hers.find((i) => i.status === 'not-done')).toMatchObject({
      meta: { versionId: '2' },
      extension: expect.arrayContaining([{ url: 'https://eastside.example/fhir/StructureDefinition/missed-dose-caught-up', valueDateTime: given?.occurrenceDateTime }]),
    });
    // A dose caught up before the message was committed is no one's work.
    expect(await storedResources(t.database.db, 'Task')).toHaveLength(tasksBefore);
  });

  it('stores each message of a batch, with an ACK per message', async () => {
    const res = await hl7(limehouse, await readFixture('hl7v2/batch-fhs-bhs.hl7'), HL7);
    expect(res.status).toBe(200);
    expect(String(res.body).match(/MSA\|AA\|/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses input that is not HL7: 400 OperationOutcome, or an AR', async () => {
    const letter = 'Dear Health Visitor,\nPlease find attached the list of children.\n';
    const res = await hl7(limehouse, letter);
    expect(res.status).toBe(400);
    expect(outcome(res.body).issue[0]?.severity).toBe('error');
    const ack = await hl7(limehouse, letter, HL7);
    expect(String(ack.body)).toMatch(/MSA\|AR\|/);
  });

  it.each(['2.9', '3.0', '2.2', '', '2.5.1.9'])('refuses HL7 version "%s" in MSH-12 (400, or AR naming MSH-12), and stores nothing', async (version) => {
    const before = await countRows(t.database.db, 'resource_history');
    const body = (await readFixture('hl7v2/missed-dose-na.hl7')).replace('|P|2.5.1', `|P|${version}`).replace('Y90001-TEST-0001', `Y90001-TEST-V${version}`);
    const res = await hl7(limehouse, body);
    expect(res.status).toBe(400);
    expect(outcome(res.body).issue[0]?.expression).toEqual(['MSH-12']);
    const ack = await hl7(limehouse, body, HL7);
    expect(String(ack.body)).toMatch(/MSA\|AR\|Y90001-TEST-V[^\r]*\rERR\|\|MSH\^1\^12\|/);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it.each(['2.3', '2.4', '2.7.1', '2.8.2'])('accepts HL7 version %s in MSH-12', async (version) => {
    const body = (await readFixture('hl7v2/missed-dose-na.hl7')).replace('|P|2.5.1', `|P|${version}`).replace('Y90001-TEST-0001', `Y90001-TEST-V${version}`);
    const res = await hl7(limehouse, body);
    expect(res.status).toBe(200);
  });

  it('refuses a message without PID naming the segment, and stores nothing', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    const noPid = (await readFixture('hl7v2/missed-dose-na.hl7')).replace(/PID\|[^\r\n]*[\r\n]+/, '').replace('Y90001-TEST-0001', 'Y90001-TEST-NOPID');
    const res = await hl7(limehouse, noPid);
    expect(res.status).toBe(422);
    expect(outcome(res.body).issue[0]?.expression).toEqual(['PID']);
    const ack = await hl7(limehouse, noPid, HL7);
    expect(String(ack.body)).toMatch(/MSA\|AE\|Y90001-TEST-NOPID\rERR\|\|PID/);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('refuses a message sent in another practice\'s name (403, or AE)', async () => {
    const body = (await readFixture('hl7v2/refusal-re.hl7')).replace(/\|Y90001-TEST-\d+\|/, '|Y90001-TEST-FORGED|');
    const res = await hl7(bowcommon, body);
    expect(res.status).toBe(403);
    const ack = await hl7(bowcommon, body, HL7);
    expect(String(ack.body)).toMatch(/MSA\|AE\|Y90001-TEST-FORGED/);
  });

  it('stores ten concurrent copies of one message once', async () => {
    const body = await readFixture('hl7v2/refusal-re.hl7');
    const before = await countByType(t.database.db);
    const results = await Promise.all(Array.from({ length: 10 }, () => hl7(limehouse, body)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const after = await countByType(t.database.db);
    expect((after['Immunization'] ?? 0) - (before['Immunization'] ?? 0)).toBe(1);
    expect((after['Provenance'] ?? 0) - (before['Provenance'] ?? 0)).toBe(1);
  });

  it('needs the Immunization create scope', async () => {
    const ocean = await t.token('ocean-cc', 'early-years-registration');
    expect((await hl7(ocean, await readFixture('hl7v2/missed-dose-na.hl7'))).status).toBe(403);
  });
});

describe('POST /ingest/immunisations-csv', () => {
  const csv = (token: string, body: string, requestId = 'csv') =>
    t.http.post('/ingest/immunisations-csv').set('Authorization', `Bearer ${token}`).set('Content-Type', 'text/csv').set('X-Request-Id', requestId).send(body);

  it('stores the good rows and reports each bad row with its row number and column', async () => {
    const before = await countByType(t.database.db);
    const res = await csv(csvGp, await readFixture('csv/mixed-good-bad.csv'), 'csv-mixed');
    expect(res.status).toBe(200);
    const issues = (res.body as OperationOutcome).issue;
    expect(issues.filter((i) => i.severity === 'information').map((i) => i.expression?.[0])).toEqual(['row 1', 'row 3', 'row 7']);
    const errors = issues.filter((i) => i.severity === 'error');
    expect(errors.length).toBeGreaterThan(3);
    expect(errors.every((i) => /^row [2456]( column [A-Z_]+)?$/.test(i.expression?.[0] ?? ''))).toBe(true);
    const after = await countByType(t.database.db);
    expect((after['Immunization'] ?? 0) - (before['Immunization'] ?? 0)).toBe(3);
    // One event per row sent; the follow-up work the hub raised for the missed doses is audited as the hub's own.
    const events = await auditEventsFor(t.database.db, 'csv-mixed');
    const byHub = (e: (typeof events)[number]) => e.agent.some((a) => a.who?.identifier?.value === 'EYHUB');
    expect(events.filter((e) => !byHub(e)).map((e) => e.outcome).sort()).toEqual(['0', '0', '0', '4', '4', '4', '4']);
    expect(events.filter(byHub).every((e) => e.outcome === '0' && e.entity?.some((x) => x.what?.reference?.startsWith('Task/')) === true)).toBe(true);
  });

  it('stores nothing twice when the file is sent again', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    const res = await csv(csvGp, await readFixture('csv/mixed-good-bad.csv'));
    expect((res.body as OperationOutcome).issue.filter((i) => i.code === 'duplicate')).toHaveLength(3);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('applies updates and deletes by the source\'s unique id', async () => {
    const file = await readFixture('csv/good-rows.csv');
    const res = await csv(csvGp, file);
    expect(res.status).toBe(200);
    const byId = async (id: string) => (await immunizations()).find((i) => i.identifier?.some((x) => x.value === id));
    // "new", then caught up by TEST-0003 (the same dose given later), then the source's "update", which keeps it caught up.
    const first = await byId('TEST-0001');
    expect(first?.meta.versionId).toBe('3');
    expect(first?.extension?.find((e) => e.url === 'https://eastside.example/fhir/StructureDefinition/missed-dose-caught-up')?.valueDateTime).toBe('2026-07-02T14:10:00+01:00');
    expect(await byId('TEST-0004')).toBeUndefined(); // a delete of a record never received changes nothing
    const [header = '', ...rows] = file.split(/\r?\n/);
    const update = rows.find((r) => r.includes('"TEST-0001"') && r.includes('"update"')) ?? '';
    const res2 = await csv(csvGp, `${header}\n${update.replace('"update"', '"delete"')}\n`);
    expect(res2.status).toBe(200);
    expect(await byId('TEST-0001')).toMatchObject({ status: 'entered-in-error', meta: { versionId: '4' } });
  });

  it('refuses a file that is not the immunisation CSV with 400', async () => {
    const res = await csv(csvGp, 'name,dob\nx,y\n');
    expect(res.status).toBe(400);
    expect((res.body as OperationOutcome).issue[0]?.expression?.[0]).toMatch(/^header/);
  });

  it('refuses rows sent in another site\'s name', async () => {
    const res = await csv(limehouse, await readFixture('csv/crlf-bom.csv'));
    expect(res.status).toBe(403);
  });
});
