import type { OperationOutcome, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decisionCode, decisionEventsFor, restEventsFor } from '../support/audit.js';
import { bookFixtureMother, bookMother, MATERNITY_MRN } from '../support/booking.js';
import { nhsNumber, patient } from '../support/resources.js';
import { ownVxu } from '../support/route-walk.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Conditional create (If-None-Exist) goes through the decision like a read
// (issue 10, finding 7): it never returns or reveals a record the caller may
// not read, and answers without a body to a token that may not read the type.
// See: https://hl7.org/fhir/R4/http.html#ccreate

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
/** The fixture mother maternity books: her NHS number, and what maternity recorded that a GP never sent. */
const MOTHER_NHS = '9995100010';
const MATERNITY_ONLY = ['Testmother', '07700 900000', 'E1 0AA'];

let t: TestHub;
let mother: string;
let testB: string;
let seq = 0;
const rid = (label: string): string => `ccreate-${label}-${(seq += 1)}`;
const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

beforeAll(async () => {
  t = await startTestHub();
  ({ mother } = await bookFixtureMother(t));
  testB = await t.token('test-b', 'direct-care');
  // TEST-B, a practice, sends a VXU about the mother maternity booked: it is now a co-writer of her
  // Patient (the last to write it) but no flow lets it read what maternity recorded.
  const vxu = await t.http.post('/ingest/hl7v2').set(bearer(testB)).set('Content-Type', 'x-application/hl7-v2+er7').set('Accept', 'application/fhir+json').send(await ownVxu('CCREATE-1', MOTHER_NHS));
  expect(vxu.status).toBe(200);
});
afterAll(async () => {
  await t.close();
});

function conditional(token: string, body: object, criteria: string, requestId: string) {
  return t.http.post('/fhir/Patient').set(bearer(token)).set('If-None-Exist', criteria).set('X-Request-Id', requestId).type('application/fhir+json').send(JSON.stringify(body));
}

const carried = (res: { text: string; headers: Record<string, string> }, sent: string): string[] =>
  [mother, ...MATERNITY_ONLY].filter((s) => !sent.includes(s) && `${res.text}\n${JSON.stringify(res.headers)}`.includes(s));

describe('conditional create by a co-writer that may not read the record', () => {
  it('answers a match on what only maternity said exactly as criteria that match nothing (apart from the new id and time)', async () => {
    // TEST-B co-writes a second mother; her hospital number is maternity's word alone, so matching it is a hidden match.
    const other = await bookMother(t, 9150);
    const vxu = await t.http.post('/ingest/hl7v2').set(bearer(testB)).set('Content-Type', 'x-application/hl7-v2+er7').set('Accept', 'application/fhir+json').send(await ownVxu('CCREATE-2', other.nhs));
    expect(vxu.status).toBe(200);
    const hidden = await conditional(testB, patient(9102), `identifier=${MATERNITY_MRN}|MRN-9150`, rid('oracle-hidden'));
    const none = await conditional(testB, patient(9102), `identifier=${NHS}|${nhsNumber(9103)}`, rid('oracle-none'));
    const shape = (res: typeof hidden) => {
      const created = res.body as Patient;
      return {
        status: res.status,
        headers: Object.keys(res.headers).filter((h) => !['date', 'x-request-id'].includes(h)).sort(),
        body: JSON.stringify({ ...created, id: '{id}', meta: { ...created.meta, lastUpdated: '{t}' } }),
      };
    };
    expect(shape(hidden)).toEqual(shape(none));
  });

  // After this one, TEST-B's own Patient carries her NHS number too: it runs last.
  it('returns nothing maternity recorded about the matching Patient, and permits nothing about her', async () => {
    const body = patient(9101, { identifier: [{ system: NHS, value: MOTHER_NHS }] });
    const requestId = rid('cowriter');
    const res = await conditional(testB, body, `identifier=${NHS}|${MOTHER_NHS}`, requestId);
    // One Patient per NHS number (issue 10, Build 1): TEST-B's VXU already said this NHS number, so the criteria
    // match its own statement about the Patient its VXU names by id: 200 with that statement, nothing maternity
    // recorded, and no version (as for a Patient it alone wrote).
    expect(carried(res, `${await ownVxu('CCREATE-1', MOTHER_NHS)}\n${mother}`), res.text).toEqual([]);
    expect((res.body as Patient).id).toBe(mother);
    expect(res.headers['etag'], 'a Patient statement answers without a version').toBeUndefined();
    expect(res.status).toBe(200);
    // The statement is TEST-B's own word (basis originator); maternity's composed Patient is permitted to it by no flow.
    const aboutMother = (await decisionEventsFor(t.database.db, requestId)).filter((d) => d.entity?.some((e) => e.what?.reference?.startsWith(`Patient/${mother}/`) === true));
    expect(aboutMother.map(decisionCode)).toEqual(['originator']);
  });
});

describe('conditional create matching the caller\'s own record', () => {
  let own: Patient;
  const identifier = `${NHS}|${nhsNumber(9201)}`;
  beforeAll(async () => {
    const created = await t.http.post('/fhir/Patient').set(bearer(testB)).type('application/fhir+json').send(JSON.stringify(patient(9201)));
    expect(created.status).toBe(201);
    own = created.body as Patient;
  });

  it('answers 200 with the record, decided and audited, to a token that may read Patients', async () => {
    const requestId = rid('own');
    const res = await conditional(testB, patient(9201), `identifier=${identifier}`, requestId);
    expect(res.status).toBe(200);
    expect((res.body as Patient).id).toBe(own.id);
    // A Patient is answered with the caller's statement: no version (see patient-rest.ts).
    expect(res.headers['location']).toBe(`${t.baseUrl}/fhir/Patient/${own.id ?? ''}`);
    expect(res.headers['etag']).toBeUndefined();
    const [rest] = await restEventsFor(t.database.db, requestId);
    expect(rest?.outcomeDesc).toMatch(/matched an existing resource/);
  });

  it('answers 200 without a body (Location and Last-Modified only) to a token that may create but not read Patients', async () => {
    const createOnly = await t.token('test-b', 'direct-care', 'system/Patient.c');
    const res = await conditional(createOnly, patient(9201), `identifier=${identifier}`, rid('create-only'));
    expect(res.status).toBe(200);
    expect(res.text ?? '').toBe('');
    expect(res.headers['location']).toBe(`${t.baseUrl}/fhir/Patient/${own.id ?? ''}`);
    expect(res.headers['etag']).toBeUndefined();
    expect(res.headers['last-modified']).toBeDefined();
  });

  it('still refuses criteria that match two records the caller may read, with 412', async () => {
    // Two people (one Patient per NHS number) sharing a local identifier the criteria name.
    const twin = (seed: number): Patient => patient(seed, { identifier: [...(patient(seed).identifier ?? []), { system: 'urn:test:ccreate', value: 'twin' }] });
    for (const seed of [9202, 9302]) {
      expect((await t.http.post('/fhir/Patient').set(bearer(testB)).type('application/fhir+json').send(JSON.stringify(twin(seed)))).status).toBe(201);
    }
    const res = await conditional(testB, twin(9202), 'identifier=urn:test:ccreate|twin', rid('twins'));
    expect(res.status).toBe(412);
    expect((res.body as OperationOutcome).issue[0]?.expression).toEqual(['If-None-Exist']);
  });
});
