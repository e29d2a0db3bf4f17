import type { Bundle, Patient } from 'fhir/r4.js';
import type { Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decisionCode, decisionEventsFor, restEventsFor, storedResources } from '../support/audit.js';
import { bookMother, MATERNITY_MRN as MRN } from '../support/booking.js';
import { readFixture } from '../support/golden.js';
import { masked, type MaskedAnswer } from '../support/oracle.js';
import { nhsNumber, patient } from '../support/resources.js';
import { ownVxu } from '../support/route-walk.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// A co-writer cannot tell whether the hub held an NHS number (issue 10, the
// gap its closing note left). An organisation that says something about a
// Patient gets back its own statement: what it said, under the Patient's id,
// with no version, whether the NHS number was new to the hub or maternity
// holds it under a restricted label no flow carries to it. Each channel's
// whole sequence of answers (the write's answer, read, search by identifier,
// history, vread, a resend) must be the same in both worlds, apart from ids,
// NHS numbers, message keys, timestamps and request ids.

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const FHIR_JSON = 'application/fhir+json';
const HL7 = 'x-application/hl7-v2+er7';

let t: TestHub;
let testB: string;
let csvGp: string;
beforeAll(async () => {
  t = await startTestHub();
  testB = await t.token('test-b', 'direct-care');
  csvGp = await t.token('test-gp', 'direct-care');
});
afterAll(async () => {
  await t.close();
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Maternity books a mother with this NHS number, restricted (v3-Confidentiality R): no flow carries her to a GP. */
async function heldByMaternity(seed: number): Promise<string> {
  const { nhs } = await bookMother(t, seed, { restricted: true });
  return nhs;
}

/** One CSV row in the repo fixture's format, from the test practice (Y99901), for this NHS number. */
async function csvRow(nhs: string, uniqueId: string): Promise<string> {
  const [header = '', row = ''] = (await readFixture('csv/good-rows.csv')).split('\n');
  return `${header}\n${row.replace('"9990005028"', `"${nhs}"`).replace('"TEST-0001"', `"${uniqueId}"`)}\n`;
}

interface World {
  nhs: string;
  /** Values that differ between the worlds by construction (message keys, identifiers the sender made up). */
  keys: string[];
  answers: { what: string; res: Response }[];
  id?: string;
}

/** The answers, with this world's NHS number, ids and keys masked, and every timestamp and other id by order of appearance. */
function normalised(w: World): { what: string; answer: MaskedAnswer }[] {
  const seen = new Map<string, string>();
  const stable = (text: string): string =>
    text
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g, '{time}')
      .replace(/[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT/g, '{date}')
      // HL7 v2 timestamps (MSH-7 of an ACK), and a CSV row's message key (a hash of the row, which holds the NHS number).
      .replace(/\|\d{14}[+-]\d{4}\|/g, '|{hl7time}|')
      .replace(/\b[0-9a-f]{64}\b/g, '{row-hash}')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (u) => {
        if (!seen.has(u)) seen.set(u, `{uuid${seen.size}}`);
        return seen.get(u) ?? u;
      });
  return w.answers.map(({ what, res }) => {
    const m = masked(res, [w.id ?? '', w.nhs, ...w.keys]);
    return { what, answer: { status: m.status, body: stable(m.body), headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, stable(v)])) } };
  });
}

/** Read, search by identifier, history and vread of the Patient, as the co-writer. */
async function readBack(w: World, token: string): Promise<void> {
  const id = w.id ?? '';
  w.answers.push({ what: 'read', res: await t.http.get(`/fhir/Patient/${id}`).set(bearer(token)) });
  w.answers.push({ what: 'search by identifier', res: await t.http.get(`/fhir/Patient?identifier=${NHS}|${w.nhs}`).set(bearer(token)) });
  w.answers.push({ what: 'search by NHS number alone', res: await t.http.get(`/fhir/Patient?identifier=${w.nhs}`).set(bearer(token)) });
  w.answers.push({ what: 'search by _id', res: await t.http.get(`/fhir/Patient?_id=${id}`).set(bearer(token)) });
  w.answers.push({ what: 'history', res: await t.http.get(`/fhir/Patient/${id}/_history`).set(bearer(token)) });
  for (const vid of ['1', '2']) w.answers.push({ what: `vread ${vid}`, res: await t.http.get(`/fhir/Patient/${id}/_history/${vid}`).set(bearer(token)) });
}

/** The Patient's id from an ingest answer, which names it without a version. */
function patientIn(res: Response): string {
  const text = JSON.stringify(res.body);
  const m = /Patient\/([0-9a-f-]{36})(?!\/_history)/.exec(text);
  if (m?.[1] === undefined) throw new Error(`no Patient named in ${text}`);
  return m[1];
}

type Channel = (w: World) => Promise<void>;

const channels: Record<string, Channel> = {
  'REST POST': async (w) => {
    const res = await t.http.post('/fhir/Patient').set(bearer(testB)).type(FHIR_JSON).send(JSON.stringify(patient(8801, { identifier: [{ system: NHS, value: w.nhs }] })));
    w.id = String(res.body.id);
    w.answers.push({ what: 'POST', res });
    await readBack(w, testB);
  },
  'REST PUT': async (w) => {
    const post = await t.http.post('/fhir/Patient').set(bearer(testB)).type(FHIR_JSON).send(JSON.stringify(patient(8802, { identifier: [{ system: NHS, value: w.nhs }] })));
    w.id = String(post.body.id);
    w.answers.push({ what: 'POST', res: post });
    const body = { ...patient(8802, { identifier: [{ system: NHS, value: w.nhs }], gender: 'female' }), id: w.id };
    w.answers.push({ what: 'PUT', res: await t.http.put(`/fhir/Patient/${w.id}`).set(bearer(testB)).type(FHIR_JSON).send(JSON.stringify(body)) });
    w.answers.push({ what: 'PUT with If-Match', res: await t.http.put(`/fhir/Patient/${w.id}`).set(bearer(testB)).set('If-Match', 'W/"2"').type(FHIR_JSON).send(JSON.stringify(body)) });
    await readBack(w, testB);
  },
  'REST conditional create': async (w) => {
    const send = () =>
      t.http.post('/fhir/Patient').set(bearer(testB)).set('If-None-Exist', `identifier=${NHS}|${w.nhs}`).type(FHIR_JSON).send(JSON.stringify(patient(8803, { identifier: [{ system: NHS, value: w.nhs }] })));
    const first = await send();
    w.id = String(first.body.id);
    w.answers.push({ what: 'conditional create', res: first });
    w.answers.push({ what: 'conditional create again (matches its own statement)', res: await send() });
    await readBack(w, testB);
  },
  'HL7 v2 VXU': async (w) => {
    const key = w.keys[0] ?? '';
    const send = async () => t.http.post('/ingest/hl7v2').set(bearer(testB)).set('Content-Type', HL7).set('Accept', FHIR_JSON).send(await ownVxu(key, w.nhs));
    const res = await send();
    w.id = patientIn(res);
    w.answers.push({ what: 'VXU', res });
    w.answers.push({ what: 'VXU resent (duplicate)', res: await send() });
    w.answers.push({ what: 'VXU as an HL7 ACK', res: await t.http.post('/ingest/hl7v2').set(bearer(testB)).set('Content-Type', HL7).set('Accept', HL7).send(await ownVxu(`${key}-2`, w.nhs)) });
    await readBack(w, testB);
  },
  'immunisation CSV row': async (w) => {
    const send = async () => t.http.post('/ingest/immunisations-csv').set(bearer(csvGp)).set('Content-Type', 'text/csv').send(await csvRow(w.nhs, w.keys[0] ?? ''));
    const res = await send();
    w.id = patientIn(res);
    w.answers.push({ what: 'CSV', res });
    w.answers.push({ what: 'CSV resent', res: await send() });
    await readBack(w, csvGp);
  },
};

describe("a co-writer's answers say nothing of whether the hub held the NHS number", () => {
  it.each(Object.entries(channels).map(([name, run], i) => [name, run, i] as const))('%s: the same answers for a new NHS number and one maternity holds restricted', async (_name, run, i) => {
    const fresh: World = { nhs: nhsNumber(880_000 + i * 10), keys: [`CW-NEW-${i}`], answers: [] };
    const held: World = { nhs: await heldByMaternity(881_000 + i * 10), keys: [`CW-OLD-${i}`], answers: [] };
    await run(fresh);
    await run(held);
    const a = normalised(fresh);
    const b = normalised(held);
    expect(b.map((x) => x.what)).toEqual(a.map((x) => x.what));
    for (const [n, x] of a.entries()) expect(b[n], `${x.what}: an NHS number others hold must answer as a new one`).toEqual(x);
    // The answers are real ones: the write succeeded, and the read returns what the co-writer said, unversioned.
    const read = held.answers.find((x) => x.what === 'read')?.res;
    expect(read?.status).toBe(200);
    expect(read?.body).toMatchObject({ resourceType: 'Patient', id: held.id, identifier: expect.arrayContaining([{ system: NHS, value: held.nhs }]) });
    expect(read?.body.meta?.versionId).toBeUndefined();
    expect(read?.body.meta?.security).toBeUndefined();
    expect(read?.headers['etag']).toBeUndefined();
    // And maternity's word is still held: the composed Patient carries its restriction.
    const stored = (await storedResources<Patient>(t.database.db, 'Patient')).find((p) => p.id === held.id);
    expect(stored?.meta?.security).toContainEqual(expect.objectContaining({ code: 'R' }));
  }, 60_000);
});

describe("the co-writer's own statement, and nothing else", () => {
  it("is found by what it said, never by what only maternity said, and is audited as a read-back", async () => {
    const nhs = await heldByMaternity(882_010);
    const res = await t.http.post('/fhir/Patient').set(bearer(testB)).type(FHIR_JSON).send(JSON.stringify(patient(8810, { identifier: [{ system: NHS, value: nhs }] })));
    expect(res.status).toBe(201);
    const id = String(res.body.id);
    // Maternity's hospital number for her, and her name: only maternity said them. The index holds the number
    // (the composed Patient's), yet a search by it finds nothing for the co-writer.
    const stored = (await storedResources<Patient>(t.database.db, 'Patient')).find((p) => p.id === id);
    expect(stored?.identifier).toContainEqual({ system: MRN, value: 'MRN-882010' });
    for (const query of [`identifier=${MRN}|MRN-882010`, 'identifier=MRN-882010', `identifier=MRN-882010,${nhs}&identifier=MRN-882010`]) {
      const bySomeoneElse = await t.http.get(`/fhir/Patient?${query}`).set(bearer(testB));
      expect(bySomeoneElse.status).toBe(200);
      expect((bySomeoneElse.body as Bundle).entry ?? [], query).toEqual([]);
    }
    const byEither = await t.http.get(`/fhir/Patient?identifier=MRN-882010,${nhs}`).set(bearer(testB));
    expect(((byEither.body as Bundle).entry ?? []).map((e) => e.resource?.id)).toEqual([id]);
    const read = await t.http.get(`/fhir/Patient/${id}`).set(bearer(testB)).set('X-Request-Id', 'cw-read-audited');
    expect(read.status).toBe(200);
    expect(read.body.name).toEqual([{ family: 'Testfamily8810', given: ['Synthetic'] }]);
    expect(JSON.stringify(read.body)).not.toContain(stored?.name?.[0]?.family ?? 'no maternity name');
    const [event] = await restEventsFor(t.database.db, 'cw-read-audited');
    expect(event?.outcome).toBe('0');
    expect(event?.entity?.some((e) => e.what?.reference === `Patient/${id}`)).toBe(true);
    expect(decisionCode((await decisionEventsFor(t.database.db, 'cw-read-audited'))[0])).toBe('originator');
    // _lastUpdated is the statement's time: after it finds nothing, up to it finds the statement.
    const after = new Date(Date.parse(String(read.body.meta.lastUpdated)) + 1000).toISOString();
    const later = await t.http.get(`/fhir/Patient?identifier=${nhs}&_lastUpdated=gt${after}`).set(bearer(testB));
    expect((later.body as Bundle).entry ?? []).toEqual([]);
    const since = await t.http.get(`/fhir/Patient?identifier=${nhs}&_lastUpdated=le${after}`).set(bearer(testB));
    expect(((since.body as Bundle).entry ?? []).map((e) => e.resource?.id)).toEqual([id]);
  });
});
