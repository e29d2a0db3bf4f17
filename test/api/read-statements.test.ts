import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordStatements } from '../support/statement-log.js';
import { createdId, startTestHub, type TestHub } from '../support/test-hub.js';

// What a read costs the database, counted at the driver: the record and the
// organisation facts in one statement (for a Patient, with the facts the
// decision reads about it and the caller's own statement), the request's
// AuditEvents (the REST event and the decision event) in one more; a search reads each batch
// with the same facts in one statement too. Background work (the log
// sequencer, subscription delivery) runs on other statements and is not counted.

let t: TestHub;
let token: string;
let id: string;
let observationId: string;

beforeAll(async () => {
  t = await startTestHub();
  token = await t.token('test-a', 'direct-care');
  id = await createdId(t, token, { resourceType: 'Patient', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }], name: [{ family: 'Read' }], birthDate: '2024-01-01' });
  observationId = await createdId(t, token, { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${id}` } });
});

afterAll(async () => {
  await t.close();
});

async function statementsOf(path: string, bearer: string): Promise<{ status: number; texts: string[] }> {
  const log = recordStatements(t.database);
  try {
    const res = await t.http.get(path).set('authorization', `Bearer ${bearer}`);
    return { status: res.status, texts: log.statements() };
  } finally {
    log.stop();
  }
}

// The statements of background work that a commit wakes (the log sequencer, subscription delivery), and the
// rate limiter's count (on PostgreSQL taken in blocks, so not by every request): none depends on what is read.
// BEGIN and COMMIT are left out too, since background transactions interleave theirs.
const BACKGROUND = /pg_try_advisory_xact_lock|\baudit_queue q\b|insert into audit_log\b|from audit_log\)|update subscription set lease_owner|INSERT INTO "rate_limits"/;
const requestOnly = (texts: string[]): string[] => texts.filter((s) => !BACKGROUND.test(s) && !/^\s*(begin|commit)\s*$/i.test(s));

describe('the statements of a read', () => {
  it('reads the record with the organisation facts in one statement and writes its AuditEvents in one', async () => {
    const { status, texts } = await statementsOf(`/fhir/Patient/${id}`, token);
    expect(status).toBe(200);
    expect(texts.filter((s) => /\bfrom organisation\b/.test(s))).toHaveLength(1);
    expect(texts.filter((s) => /\b(from|join) "?resource"?\s/.test(s) && /\bfrom organisation\b/.test(s))).toHaveLength(1);
    expect(texts.filter((s) => /insert into "?audit_event"?/.test(s))).toHaveLength(1);
    expect(texts.filter((s) => /insert into "?audit_queue"?/.test(s))).toHaveLength(1);
    // The subject's facts and the caller's own statement come in that same statement: nothing else reads them.
    const facts = texts.filter((s) => /\b"?(resource_reference|patient_source)"?\b/.test(s));
    expect(facts).toHaveLength(1);
    expect(facts[0]).toMatch(/\bfrom organisation\b/);
  });

  it('does the same for a record it denies, which answers as an unknown id', async () => {
    const other = await t.token('test-b', 'direct-care');
    const denied = await statementsOf(`/fhir/Patient/${id}`, other);
    const unknown = await statementsOf('/fhir/Patient/no-such-patient', other);
    expect([denied.status, unknown.status]).toEqual([404, 404]);
    for (const { texts } of [denied, unknown]) {
      expect(texts.filter((s) => /\bfrom organisation\b/.test(s))).toHaveLength(1);
      expect(texts.filter((s) => /insert into "?audit_event"?/.test(s))).toHaveLength(1);
    }
    // A denied id and an unknown one run the same statements: the database's work does not tell them apart.
    expect(requestOnly(denied.texts)).toEqual(requestOnly(unknown.texts));
  });

  it("reads another record with its subject's facts in one statement, and an unknown id or a denied one alike", async () => {
    const mine = await statementsOf(`/fhir/Observation/${observationId}`, token);
    expect(mine.status).toBe(200);
    const facts = mine.texts.filter((s) => /\b"?(resource_reference|patient_source)"?\b/.test(s));
    expect(facts).toHaveLength(1);
    expect(facts[0]).toMatch(/\bfrom organisation\b/);
    // Nothing else reads a record: the subject's Patient comes with the facts.
    expect(mine.texts.filter((s) => /\b(from|join) "?resource"?\s/.test(s))).toHaveLength(1);

    const other = await t.token('test-b', 'direct-care');
    const denied = await statementsOf(`/fhir/Observation/${observationId}`, other);
    const unknown = await statementsOf('/fhir/Observation/no-such-observation', other);
    expect([denied.status, unknown.status]).toEqual([404, 404]);
    expect(requestOnly(denied.texts)).toEqual(requestOnly(unknown.texts));
    // The denial's count (its upsert, then the claim of the window's alert) runs for the unknown id too, adding
    // nothing, at the transaction's close: after the audit rows, so that the client's window row is locked for the
    // commit alone.
    const request = requestOnly(unknown.texts);
    expect(request.filter((s) => /"?ig_denial_window"?/.test(s))).toHaveLength(2);
    expect(request.slice(-3)[0]).toMatch(/insert into audit_event\b/);
    expect(request.slice(-2).every((s) => /\big_denial_window\b/.test(s))).toBe(true);
    expect(unknown.texts.filter((s) => /\bfrom organisation\b/.test(s))).toHaveLength(1);
  });

  it("reads a record's history as it reads the record: a denied id and an unknown one alike", async () => {
    const other = await t.token('test-b', 'direct-care');
    for (const [known, unknownId] of [
      [`/fhir/Patient/${id}/_history`, '/fhir/Patient/no-such-patient/_history'],
      [`/fhir/Observation/${observationId}/_history`, '/fhir/Observation/no-such-observation/_history'],
    ] as const) {
      const denied = await statementsOf(known, other);
      const unknown = await statementsOf(unknownId, other);
      expect([denied.status, unknown.status]).toEqual([404, 404]);
      expect(requestOnly(denied.texts)).toEqual(requestOnly(unknown.texts));
    }
  });

  // What a search reads: everything but its audit (and the denial window's count, which runs whatever is found).
  const searchReads = (texts: string[]): string[] => requestOnly(texts).filter((s) => !/insert into "?audit_(event|queue)"?|"?ig_denial_window"?/.test(s));

  it("reads a Patient search's candidates with the organisations, their facts and the caller's own statements in one statement", async () => {
    const { status, texts } = await statementsOf('/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919', token);
    expect(status).toBe(200);
    const reads = searchReads(texts);
    expect(reads).toHaveLength(1);
    for (const part of [/\bfrom organisation\b/, /"resource_token"/, /\bfrom resource_reference\b/, /\bfrom patient_source\b/]) expect(reads[0]).toMatch(part);
    expect(texts.filter((s) => /insert into "?audit_event"?/.test(s))).toHaveLength(1);
  });

  it("reads another type's search with its subjects' Patients and facts in the same one statement", async () => {
    const { status, texts } = await statementsOf(`/fhir/Observation?subject=Patient/${id}`, token);
    expect(status).toBe(200);
    const reads = searchReads(texts);
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatch(/\bfrom organisation\b/);
    expect(reads[0]).toMatch(/\bfrom resource p where p\.type = 'Patient'/);
  });

  it('runs the same statements for a search naming a Patient the caller may not see and one naming nobody the hub holds', async () => {
    const other = await t.token('test-b', 'direct-care');
    const hidden = await statementsOf('/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919', other);
    const nobody = await statementsOf('/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009', other);
    expect([hidden.status, nobody.status]).toEqual([200, 200]);
    expect(requestOnly(hidden.texts)).toEqual(requestOnly(nobody.texts));
    expect(searchReads(hidden.texts)).toHaveLength(1);
    // And the answers are the same but for the number searched for in their self link.
    const answer = async (nhs: string): Promise<unknown> => {
      const res = await t.http.get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`).set('authorization', `Bearer ${other}`);
      return JSON.parse(JSON.stringify(res.body).replaceAll(nhs, 'NHS'));
    };
    expect(await answer('9434765919')).toEqual(await answer('9000000009'));
  });
});

describe('the statements of an update', () => {
  it("sends the same statements for another's Patient and an id the hub never held, and both answer 404", async () => {
    const other = await t.token('test-b', 'direct-care');
    const put = async (patientId: string): Promise<{ status: number; texts: string[] }> => {
      const log = recordStatements(t.database);
      try {
        const res = await t.http
          .put(`/fhir/Patient/${patientId}`)
          .set('authorization', `Bearer ${other}`)
          .set('content-type', 'application/fhir+json')
          .send({ resourceType: 'Patient', id: patientId, identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }], name: [{ family: 'Rewrite' }], birthDate: '2024-01-01' });
        return { status: res.status, texts: log.statements() };
      } finally {
        log.stop();
      }
    };
    const held = await put(id);
    const unknown = await put('no-such-patient');
    expect([held.status, unknown.status]).toEqual([404, 404]);
    expect(requestOnly(held.texts)).toEqual(requestOnly(unknown.texts));
  });
});
