import type { Bundle, Observation, OperationOutcome, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEventsFor, countRows, decisionCode, decisionEventsFor, restEventsFor } from '../support/audit.js';
import { expectSameAsAbsent, unknownId } from '../support/oracle.js';
import { nhsNumber, patient } from '../support/resources.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

let t: TestHub;
let gp: string; // test-a: system/*.cruds, organisation TEST-A
let other: string; // test-b: system/*.cruds, organisation TEST-B
let hv: string; // eastside-hv (demo): system/*.rs

beforeAll(async () => {
  t = await startTestHub();
  gp = await t.token('test-a', 'direct-care');
  other = await t.token('test-b', 'direct-care');
  hv = await t.token('eastside-hv', 'direct-care');
});
afterAll(async () => {
  await t.close();
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
let seq = 0;
const rid = (label: string) => `${label}-${(seq += 1)}`;

function create(token: string, resource: object, headers: Record<string, string> = {}) {
  return t.http.post(`/fhir/${(resource as { resourceType: string }).resourceType}`).set(bearer(token)).set(headers).type('application/fhir+json').send(JSON.stringify(resource));
}

function issue(body: unknown) {
  return (body as OperationOutcome).issue[0];
}

describe('metadata', () => {
  it('answers a CapabilityStatement listing exactly the implemented interactions', async () => {
    const res = await t.http.get('/fhir/metadata');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body.resourceType).toBe('CapabilityStatement');
    expect(res.body.fhirVersion).toBe('4.0.1');
    const patientCaps = res.body.rest[0].resource.find((r: { type: string }) => r.type === 'Patient');
    expect(patientCaps.interaction.map((i: { code: string }) => i.code).sort()).toEqual(['create', 'history-instance', 'read', 'search-type', 'update', 'vread']);
    expect(patientCaps.searchParam.map((p: { name: string }) => p.name).sort()).toEqual(['_id', '_lastUpdated', 'identifier']);
    const obs = res.body.rest[0].resource.find((r: { type: string }) => r.type === 'Observation');
    expect(obs.searchParam.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['patient', 'subject']));
    expect(res.body.rest[0].security.extension[0].extension[0].valueUri).toBe(`${t.baseUrl}/auth/token`);
  });
});

describe('authentication and scopes', () => {
  it('answers 401 with an OperationOutcome and audits a failure when there is no token', async () => {
    const id = rid('noauth');
    const res = await t.http.get('/fhir/Patient').set('X-Request-Id', id);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(issue(res.body)?.code).toBe('login');
    const events = await auditEventsFor(t.database.db, id);
    expect(events).toHaveLength(1);
    expect(events[0]?.outcome).toBe('4');
    expect(events[0]?.subtype?.[0]?.code).toBe('search-type');
  });

  it.each([
    ['a malformed header', 'Basic abc'],
    ['a token that is not a JWT', 'Bearer abc.def.ghi'],
    ['a client assertion presented as an access token', 'assertion'],
  ])('answers 401 for %s', async (_name, header) => {
    const value = header === 'assertion' ? `Bearer ${await t.assertion('ocean-cc')}` : header;
    const res = await t.http.get('/fhir/Patient').set('Authorization', value);
    expect(res.status).toBe(401);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('answers 401 to an access token that has expired', async () => {
    let offsetMs = 0;
    const timed = await startTestHub({ clock: () => new Date(Date.now() + offsetMs) });
    try {
      const token = await timed.token('eastside-hv', 'direct-care');
      expect((await timed.http.get('/fhir/Patient').set(bearer(token))).status).toBe(200);
      offsetMs = 301_000; // just past the five-minute lifetime
      const late = await timed.http.get('/fhir/Patient').set(bearer(token));
      expect(late.status).toBe(401);
      expect(issue(late.body)?.diagnostics).toMatch(/expired/);
    } finally {
      await timed.close();
    }
  });

  it('answers 401 to a token signed by a key that is not the hub\'s', async () => {
    const foreign = await startTestHub();
    try {
      const token = await foreign.token('eastside-hv', 'direct-care');
      const res = await t.http.get('/fhir/Patient').set(bearer(token));
      expect(res.status).toBe(401);
    } finally {
      await foreign.close();
    }
  });

  it('answers 403 with an audited failure when a scope is missing', async () => {
    const id = rid('noscope');
    const res = await create(hv, patient(1)).set('X-Request-Id', id); // eastside-hv has *.rs only
    expect(res.status).toBe(403);
    expect(issue(res.body)?.code).toBe('forbidden');
    const events = await auditEventsFor(t.database.db, id);
    expect(events[0]?.outcome).toBe('4');
    expect(events[0]?.subtype?.[0]?.code).toBe('create');
    expect(events[0]?.agent?.find((a) => a.requestor)?.who?.identifier?.value).toBe('eastside-hv');

    const narrow = await t.token('eastside-hv', 'direct-care', 'system/Observation.rs');
    expect((await t.http.get('/fhir/Patient').set(bearer(narrow))).status).toBe(403);
    expect((await t.http.get('/fhir/Observation').set(bearer(narrow))).status).toBe(200);
    const searchOnly = await t.token('eastside-hv', 'direct-care', 'system/Patient.s');
    expect((await t.http.get('/fhir/Patient/abc').set(bearer(searchOnly))).status).toBe(403);
  });

  it('answers 404 for a resource type the hub does not serve', async () => {
    const res = await t.http.get('/fhir/Medication').set(bearer(hv));
    expect(res.status).toBe(404);
    expect(issue(res.body)?.code).toBe('not-supported');
  });
});

describe('create, read, vread, update, history', () => {
  it('creates a Patient with a server id, and answers and reads it back as the caller\'s statement, without a version, with audit', async () => {
    const id = rid('create');
    const res = await create(gp, { ...patient(2), id: 'client-chosen' }).set('X-Request-Id', id);
    expect(res.status).toBe(201);
    const created = res.body as Patient;
    expect(created.id).not.toBe('client-chosen');
    // A Patient is answered with the caller's own statement, never a version: the Patient's versions count every
    // source's writes, and a version here would tell whether the hub held the NHS number (cowriter-answers.test.ts).
    expect(created.meta?.versionId).toBeUndefined();
    expect(res.headers['location']).toBe(`${t.baseUrl}/fhir/Patient/${created.id}`);
    expect(res.headers['etag']).toBeUndefined();
    expect(res.headers['last-modified']).toBe(new Date(String(created.meta?.lastUpdated)).toUTCString());
    const [event] = await auditEventsFor(t.database.db, id);
    expect(event?.action).toBe('C');
    expect(event?.outcome).toBe('0');
    expect(event?.entity?.map((e) => e.what?.reference)).toEqual(expect.arrayContaining([`Patient/${created.id}`, `Patient/${created.id}/_history/1`]));

    const readId = rid('read');
    const read = await t.http.get(`/fhir/Patient/${created.id}`).set(bearer(gp)).set('X-Request-Id', readId);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created);
    expect(read.headers['cache-control']).toBe('no-store');
    const [readEvent] = await restEventsFor(t.database.db, readId);
    expect(readEvent?.subtype?.[0]?.code).toBe('read');
    const [decision] = await decisionEventsFor(t.database.db, readId);
    expect(decision?.outcome).toBe('0');
    expect(decisionCode(decision)).toBe('originator');
    expect(readEvent?.entity?.find((e) => e.role?.code === '1')?.what?.reference).toBe(`Patient/${created.id}`);
  });

  it('updates as a new version, keeps history, vreads old versions and honours If-Match', async () => {
    const subject = (await create(gp, patient(3))).body as Patient;
    const first = await create(gp, { resourceType: 'Observation', status: 'preliminary', code: { text: 'versioned' }, subject: { reference: `Patient/${subject.id ?? ''}` } });
    expect(first.status).toBe(201);
    expect(first.body.meta.versionId).toBe('1');
    expect(first.headers['etag']).toBe('W/"1"');
    const created = first.body as Observation;
    const url = `/fhir/Observation/${created.id ?? ''}`;
    const v2 = await t.http.put(url).set(bearer(gp)).set('If-Match', 'W/"1"').type('application/fhir+json').send(JSON.stringify({ ...created, status: 'final' }));
    expect(v2.status).toBe(200);
    expect(v2.body.meta.versionId).toBe('2');
    const stale = await t.http.put(url).set(bearer(gp)).set('If-Match', 'W/"1"').type('application/fhir+json').send(JSON.stringify({ ...created, status: 'amended' }));
    expect(stale.status).toBe(412);
    expect(issue(stale.body)?.expression).toEqual(['If-Match']);

    const history = await t.http.get(`${url}/_history`).set(bearer(gp));
    expect(history.status).toBe(200);
    expect((history.body as Bundle).type).toBe('history');
    expect((history.body as Bundle).entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['2', '1']);
    const v1 = await t.http.get(`${url}/_history/1`).set(bearer(gp));
    expect(v1.status).toBe(200);
    expect(v1.body.status).toBe('preliminary');
    expect((await t.http.get(`${url}/_history/9`).set(bearer(gp))).status).toBe(404);
    expect((await t.http.get(`${url}/_history/x`).set(bearer(gp))).status).toBe(400);
  });

  it('a Patient is the caller\'s statement: PUT replaces it, If-Match is refused, history is the statement alone, no version is read', async () => {
    const created = (await create(gp, patient(7))).body as Patient;
    const url = `/fhir/Patient/${created.id ?? ''}`;
    const put = await t.http.put(url).set(bearer(gp)).type('application/fhir+json').send(JSON.stringify({ ...created, gender: 'female' }));
    expect(put.status).toBe(200);
    expect(put.body.gender).toBe('female');
    expect(put.body.meta.versionId).toBeUndefined();
    expect(put.headers['content-location']).toBe(`${t.baseUrl}${url}`);
    const before = await countRows(t.database.db, 'resource_history');
    const matched = await t.http.put(url).set(bearer(gp)).set('If-Match', 'W/"2"').type('application/fhir+json').send(JSON.stringify({ ...created, gender: 'male' }));
    expect(matched.status).toBe(400);
    expect(issue(matched.body)?.expression).toEqual(['If-Match']);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
    const history = await t.http.get(`${url}/_history`).set(bearer(gp));
    expect(history.status).toBe(200);
    expect((history.body as Bundle).entry?.map((e) => e.resource)).toEqual([put.body]);
    expect((history.body as Bundle).entry?.[0]?.response?.etag).toBeUndefined();
    for (const vid of ['1', '2']) expect((await t.http.get(`${url}/_history/${vid}`).set(bearer(gp))).status).toBe(404);
    expect((await t.http.get(url).set(bearer(gp))).body).toEqual(put.body);
  });

  it('refuses an update whose body id differs from the URL, and never creates on update', async () => {
    const created = (await create(gp, patient(4))).body as Patient;
    const wrongId = await t.http.put(`/fhir/Patient/${created.id}`).set(bearer(gp)).type('application/fhir+json').send(JSON.stringify({ ...created, id: 'other' }));
    expect(wrongId.status).toBe(400);
    expect(issue(wrongId.body)?.expression).toEqual(['Patient.id']);
    const absent = await t.http.put('/fhir/Patient/does-not-exist').set(bearer(gp)).type('application/fhir+json').send(JSON.stringify({ ...patient(5), id: 'does-not-exist' }));
    expect(absent.status).toBe(404);
  });
});

describe('deny by default: an organisation reads only what it sent', () => {
  it('hides another organisation\'s resources from read, vread, history, search and update, and audits the denial', async () => {
    const theirs = (await create(gp, patient(6))).body as Patient;
    const id = rid('deny');
    const read = await t.http.get(`/fhir/Patient/${theirs.id}`).set(bearer(other)).set('X-Request-Id', id);
    expect(read.status).toBe(404);
    // A denial says nothing: the same answer as an id the hub never held; the reason is only in the audit log.
    expect(read.body.issue[0].details).toBeUndefined();
    const absentId = unknownId(6);
    expectSameAsAbsent(read, theirs.id ?? '', await t.http.get(`/fhir/Patient/${absentId}`).set(bearer(other)), absentId, 'read');
    const [event] = await restEventsFor(t.database.db, id);
    expect(event?.outcome).toBe('4');
    expect(event?.outcomeDesc).toMatch(/denied: no-flow/);
    const [decision] = await decisionEventsFor(t.database.db, id);
    expect(decision?.outcome).toBe('8');
    expect(decisionCode(decision)).toBe('no-flow');
    expect(decision?.entity?.filter((e) => e.role?.code === '1').map((e) => e.what?.reference)).toEqual([`Patient/${theirs.id}`]);
    for (const path of ['/_history/1', '/_history/2', '/_history']) {
      const denied = await t.http.get(`/fhir/Patient/${theirs.id}${path}`).set(bearer(other));
      expect(denied.status).toBe(404);
      expectSameAsAbsent(denied, theirs.id ?? '', await t.http.get(`/fhir/Patient/${absentId}${path}`).set(bearer(other)), absentId, path);
    }
    const search = await t.http.get('/fhir/Patient').query({ _id: theirs.id }).set(bearer(other));
    expect(search.body.entry).toEqual([]);
    // No flow carries a GP's records to another GP: a search by NHS number finds nothing.
    const found = await t.http.get('/fhir/Patient').query({ identifier: `https://fhir.nhs.uk/Id/nhs-number|${nhsNumber(6)}` }).set(bearer(other));
    expect(found.body.entry).toEqual([]);
    expect(found.body.total).toBe(0);
    const update = await t.http.put(`/fhir/Patient/${theirs.id}`).set(bearer(other)).type('application/fhir+json').send(JSON.stringify({ ...theirs, gender: 'other' }));
    expect(update.status).toBe(404);
    const unchanged = await t.http.get(`/fhir/Patient/${theirs.id}`).set(bearer(gp));
    expect(unchanged.body).toEqual(theirs);
    const mine = await t.http.get('/fhir/Patient').query({ identifier: `https://fhir.nhs.uk/Id/nhs-number|${nhsNumber(6)}` }).set(bearer(gp));
    expect(mine.body.entry.map((e: { resource: Patient }) => e.resource.id)).toEqual([theirs.id]);
  });
});

describe('the hub\'s own definitional resources', () => {
  it('serves the canonical CAF Questionnaire to every client, read and search', async () => {
    const read = await t.http.get('/fhir/Questionnaire/early-help-assessment').set(bearer(hv));
    expect(read.status).toBe(200);
    expect(read.body.url).toBe('https://eastside.example/fhir/Questionnaire/early-help-assessment');
    const search = await t.http.get('/fhir/Questionnaire').set(bearer(other));
    expect(search.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toEqual(['early-help-assessment']);
    const overwrite = await t.http.put('/fhir/Questionnaire/early-help-assessment').set(bearer(gp)).type('application/fhir+json').send(JSON.stringify(read.body));
    expect(overwrite.status).toBe(405);
    const publish = await create(gp, { resourceType: 'Questionnaire', status: 'active', item: [{ linkId: 'x', type: 'string', text: 'personal data?' }] });
    expect(publish.status).toBe(405);
  });

  it('lists the $process-message operation in the CapabilityStatement', async () => {
    const caps = await t.http.get('/fhir/metadata');
    expect(caps.body.rest[0].operation[0].name).toBe('process-message');
  });
});

describe('search', () => {
  let subjectId: string;
  const made: Observation[] = [];
  beforeAll(async () => {
    subjectId = ((await create(gp, patient(100))).body as Patient).id ?? '';
    for (let i = 0; i < 7; i += 1) {
      const obs: Observation = {
        resourceType: 'Observation',
        status: 'final',
        identifier: [{ system: 'urn:test:obs', value: `obs-${i}` }],
        code: { text: `test observation ${i}` },
        subject: { reference: `Patient/${subjectId}` },
      };
      const res = await t.http.post('/fhir/Observation').set(bearer(gp)).type('application/fhir+json').send(JSON.stringify(obs));
      // eastside-early-help lacks Observation.c: use a token that has it
      if (res.status === 403) throw new Error('unexpected scope');
      made.push(res.body as Observation);
    }
  }, 60_000);

  it('finds by patient, subject and identifier, and pages with next links until done', async () => {
    const byPatient = await t.http.get('/fhir/Observation').query({ patient: `Patient/${subjectId}`, _count: '3' }).set(bearer(gp));
    expect(byPatient.status).toBe(200);
    const pages: string[][] = [];
    let bundle = byPatient.body as Bundle;
    for (;;) {
      pages.push((bundle.entry ?? []).map((e) => e.resource?.id ?? ''));
      const next = bundle.link?.find((l) => l.relation === 'next')?.url;
      if (next === undefined) break;
      bundle = (await t.http.get(next.replace(t.baseUrl, '')).set(bearer(gp))).body as Bundle;
    }
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual(made.map((m) => m.id));

    const bySubject = await t.http.get('/fhir/Observation').query({ subject: subjectId }).set(bearer(gp));
    expect(bySubject.body.entry).toHaveLength(7);
    const byIdentifier = await t.http.get('/fhir/Observation').query({ identifier: 'urn:test:obs|obs-4,urn:test:obs|obs-5' }).set(bearer(gp));
    expect(byIdentifier.body.entry.map((e: { resource: Observation }) => e.resource.identifier?.[0]?.value).sort()).toEqual(['obs-4', 'obs-5']);
    const valueOnly = await t.http.get('/fhir/Observation').query({ identifier: 'obs-6' }).set(bearer(gp));
    expect(valueOnly.body.entry).toHaveLength(1);
  });

  it('sorts by _lastUpdated both ways and filters with gt/ge/lt/le', async () => {
    const desc = await t.http.get('/fhir/Observation').query({ patient: subjectId, _sort: '-_lastUpdated', _count: '4' }).set(bearer(gp));
    const descIds = (desc.body as Bundle).entry?.map((e) => e.resource?.id);
    const ascending = made.map((m) => m.id);
    expect(descIds).toEqual([...ascending].reverse().slice(0, 4));
    const next = (desc.body as Bundle).link?.find((l) => l.relation === 'next')?.url ?? '';
    const rest = await t.http.get(next.replace(t.baseUrl, '')).set(bearer(gp));
    expect((rest.body as Bundle).entry?.map((e) => e.resource?.id)).toEqual([...ascending].reverse().slice(4));

    const pivot = made[3]?.meta?.lastUpdated ?? '';
    const count = async (q: string) =>
      ((await t.http.get('/fhir/Observation').query({ patient: subjectId, _lastUpdated: q }).set(bearer(gp))).body as Bundle).entry?.length;
    const at = made.filter((m) => m.meta?.lastUpdated === pivot).length;
    const before = made.filter((m) => (m.meta?.lastUpdated ?? '') < pivot).length;
    expect(await count(`ge${pivot}`)).toBe(7 - before);
    expect(await count(`gt${pivot}`)).toBe(7 - before - at);
    expect(await count(`lt${pivot}`)).toBe(before);
    expect(await count(`le${pivot}`)).toBe(before + at);
    expect(await count('gt2020-01-01')).toBe(7);
    expect(await count('lt2020-01-01')).toBe(0);
  });

  it.each([
    ['_count', 'x'],
    ['_count', '0'],
    ['_lastUpdated', 'yesterday'],
    ['_lastUpdated', 'gt2026-13-01'],
    ['_lastUpdated', 'ge2026-11-22T10:00:00'],
    ['_sort', 'birthdate'],
    ['_cursor', 'bm90LWEtY3Vyc29y'],
    ['patient', 'Group/1'],
    ['_id', 'a b'],
    ['name', 'Smith'],
  ])('refuses %s=%s with a 400 naming the parameter', async (name, value) => {
    const res = await t.http.get('/fhir/Observation').query({ [name]: value }).set(bearer(gp));
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(issue(res.body)?.expression).toEqual([name]);
  });

  it('ignores unknown parameters when the client asks for lenient handling', async () => {
    const res = await t.http.get('/fhir/Observation').query({ name: 'x', patient: subjectId }).set(bearer(gp)).set('Prefer', 'handling=lenient');
    expect(res.status).toBe(200);
    expect(res.body.entry).toHaveLength(7);
  });

  it('audits a search with its query and every patient returned', async () => {
    const id = rid('search');
    await t.http.get('/fhir/Observation').query({ patient: subjectId, _count: '2' }).set(bearer(gp)).set('X-Request-Id', id);
    const [event] = await restEventsFor(t.database.db, id);
    expect(event?.action).toBe('E');
    const query = event?.entity?.find((e) => e.role?.code === '24')?.query ?? '';
    expect(Buffer.from(query, 'base64').toString()).toBe(`patient=${subjectId}&_count=2`);
    expect(event?.entity?.filter((e) => e.role?.code === '1').map((e) => e.what?.reference)).toEqual([`Patient/${subjectId}`]);
    expect(event?.entity?.filter((e) => e.role?.code === '4')).toHaveLength(2);
  });
});

describe('conditional create', () => {
  it('creates once and returns the match afterwards, also under concurrency', async () => {
    const nhs = nhsNumber(200);
    const header = { 'If-None-Exist': `identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}` };
    const results = await Promise.all(Array.from({ length: 5 }, () => create(gp, patient(200), header)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => (r.body as Patient).id)).size).toBe(1);
    const search = await t.http.get('/fhir/Patient').query({ identifier: `https://fhir.nhs.uk/Id/nhs-number|${nhs}` }).set(bearer(gp));
    expect(search.body.entry).toHaveLength(1);
  });

  it('refuses If-None-Exist that matches several or is not a search', async () => {
    // Two Patients that share a (non-unique) local identifier beside their NHS numbers.
    const twin = (seed: number) => patient(seed, { identifier: [...(patient(seed).identifier ?? []), { system: 'urn:test:dup', value: 'twin' }] });
    expect((await create(gp, twin(300))).status).toBe(201);
    expect((await create(gp, twin(301))).status).toBe(201);
    const several = await create(gp, patient(302), { 'If-None-Exist': 'identifier=urn:test:dup|twin' });
    expect(several.status).toBe(412);
    const bad = await create(gp, patient(303), { 'If-None-Exist': 'name=Smith' });
    expect(bad.status).toBe(400);
    expect(issue(bad.body)?.expression?.[0]).toBe('If-None-Exist');
  });
});

describe('bad input leaves nothing stored', () => {
  it.each([
    ['invalid JSON', '{"resourceType":"Patient",', 'application/fhir+json', 400, 'body'],
    ['a JSON array', '[]', 'application/fhir+json', 400, 'resourceType'],
    ['another resource type', '{"resourceType":"Observation","status":"final","code":{"text":"x"}}', 'application/fhir+json', 400, 'resourceType'],
    ['an unknown element', '{"resourceType":"Patient","favouriteColour":"blue"}', 'application/fhir+json', 422, 'Patient.favouriteColour'],
    ['a malformed date', '{"resourceType":"Patient","birthDate":"25/09/2026"}', 'application/fhir+json', 422, 'Patient.birthDate'],
    ['a wrong cardinality', '{"resourceType":"Patient","name":{"family":"X"}}', 'application/fhir+json', 422, 'Patient.name'],
    ['a Patient without an NHS number (the hub\'s profile)', '{"resourceType":"Patient","name":[{"family":"X"}]}', 'application/fhir+json', 422, 'Patient.identifier'],
    ['a gender outside the required value set', JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9990000018' }], gender: 'boy' }), 'application/fhir+json', 422, 'Patient.gender'],
    ['a form body', 'resourceType=Patient', 'application/x-www-form-urlencoded', 415, 'Content-Type'],
    ['a member named like an Object method', '{"resourceType":"Patient","name":[{"family":"X","toString":"y"}]}', 'application/fhir+json', 400, 'body'],
    ['an object shadowing valueOf where a date belongs', JSON.stringify({ resourceType: 'Patient', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9990000018' }], birthDate: { valueOf: false } }), 'application/fhir+json', 400, 'body'],
  ])('refuses %s', async (_name, body, contentType, status, expression) => {
    const before = { resources: await countRows(t.database.db, 'resource'), history: await countRows(t.database.db, 'resource_history') };
    const id = rid('bad');
    const res = await t.http.post('/fhir/Patient').set(bearer(gp)).set('X-Request-Id', id).set('Content-Type', contentType).send(body);
    expect(res.status).toBe(status);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue.flatMap((i: { expression?: string[] }) => i.expression ?? [])).toContain(expression);
    expect(await countRows(t.database.db, 'resource')).toBe(before.resources);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before.history);
    const [event] = await auditEventsFor(t.database.db, id);
    expect(event?.outcome).toBe('4');
  });

  it('refuses a body over the size limit with 413', async () => {
    const huge = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'x'.repeat(2_000_000) }] });
    const res = await t.http.post('/fhir/Patient').set(bearer(gp)).type('application/fhir+json').send(huge);
    expect(res.status).toBe(413);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});

describe('hardening', () => {
  it('sets a request id, no X-Powered-By, helmet headers and no-store everywhere', async () => {
    for (const path of ['/fhir/metadata', '/fhir/Patient', '/.well-known/smart-configuration', '/nowhere']) {
      const res = await t.http.get(path);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers['x-powered-by']).toBeUndefined();
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cache-control']).toBe('no-store');
    }
    const echoed = await t.http.get('/fhir/metadata').set('X-Request-Id', 'caller-chosen-id.1');
    expect(echoed.headers['x-request-id']).toBe('caller-chosen-id.1');
    const refused = await t.http.get('/fhir/metadata').set('X-Request-Id', 'not ok <script>');
    expect(refused.headers['x-request-id']).not.toContain('script');
  });

  it('answers unknown routes with an OperationOutcome', async () => {
    const res = await t.http.delete('/fhir/Patient/abc').set(bearer(gp));
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});
