import type { Bundle, Consent, OperationOutcome, Parameters, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, decisionCode, decisionEventsFor } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { loadedTestProtocols } from '../support/protocols.js';
import { expectSameAsAbsent, unknownId } from '../support/oracle.js';
import { nhsNumber, patient } from '../support/resources.js';
import { bookFixtureMother } from '../support/booking.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Disclosure through the API beyond the story: a protocol out of force,
// consents made and changed through the API, _include, and the IG lead's
// $explain-disclosure with bad input. The mother in the repo's booking
// fixture lives in E1 0AA (Ocean's catchment) and consents to children's centres.

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const entries = (body: unknown) => ((body as Bundle).entry ?? []).map((e) => e.resource);

describe('a protocol with one bad signature', () => {
  let t: TestHub;
  let mother: string;
  beforeAll(async () => {
    t = await startTestHub({ protocols: await loadedTestProtocols({ tamper: { party: 'CC-IOD' } }) });
    ({ mother } = await bookFixtureMother(t));
  });
  afterAll(async () => {
    await t.close();
  });

  it('denies every flow in it, for every partner, and the audit names the party', async () => {
    for (const [client, purpose] of [['ocean-cc', 'early-years-registration'], ['eastside-hv', 'direct-care']] as const) {
      const id = `bad-signature-${client}`;
      const res = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(await t.token(client, purpose))).set('X-Request-Id', id);
      expect(res.status).toBe(404);
      // The requester is told nothing: the answer is that for an id the hub never held.
      expectSameAsAbsent(res, mother, await t.http.get(`/fhir/Patient/${unknownId(1)}`).set(bearer(await t.token(client, purpose))), unknownId(1), client);
      const [decision] = await decisionEventsFor(t.database.db, id);
      expect(decision?.outcome).toBe('8');
      expect(decisionCode(decision)).toBe('protocol-not-in-force');
      expect(decision?.outcomeDesc).toMatch(/not in force: signature of CC-IOD/);
      const search = await t.http.get('/fhir/Patient').set(bearer(await t.token(client, purpose)));
      expect(entries(search.body)).toEqual([]);
    }
  });

  it('still lets an organisation read back what it wrote (that is not a disclosure)', async () => {
    const own = await t.token('test-a', 'direct-care');
    const created = await t.http.post('/fhir/Patient').set(bearer(own)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(patient(41)));
    expect(created.status).toBe(201);
    const res = await t.http.get(`/fhir/Patient/${(created.body as Patient).id ?? ''}`).set(bearer(own)).set('X-Request-Id', 'read-back');
    expect(res.status).toBe(200);
    expect(decisionCode((await decisionEventsFor(t.database.db, 'read-back'))[0])).toBe('originator');
  });
});

describe('consent through the API, _include and $explain-disclosure', () => {
  let t: TestHub;
  let mother: string;
  let consent: string;
  let maternity: string;
  let ocean: string;
  let ig: string;
  beforeAll(async () => {
    t = await startTestHub();
    ({ mother, consent } = await bookFixtureMother(t));
    maternity = await t.token('northgate-maternity', 'direct-care');
    ocean = await t.token('ocean-cc', 'early-years-registration');
    ig = await t.token('ig-console', 'audit');
  });
  afterAll(async () => {
    await t.close();
  });

  const explain = (query: Record<string, string>, token = ig) => t.http.get(`/fhir/Patient/${mother}/$explain-disclosure`).query(query).set(bearer(token));

  it('explains without disclosing, and refuses bad questions naming the parameter', async () => {
    const yes = await explain({ organisation: 'CC-OCEAN', purpose: 'early-years-registration' });
    expect(yes.status).toBe(200);
    const params = (yes.body as Parameters).parameter ?? [];
    expect(params.find((p) => p.name === 'decision')?.valueCode).toBe('permit');
    expect(params.filter((p) => p.name === 'element').map((p) => p.valueString)).toContain('Patient.telecom');
    expect(JSON.stringify(yes.body)).not.toMatch(/Testmother|E1 0AA|9995100010/);
    const wrongPurpose = await explain({ organisation: 'CC-OCEAN', purpose: 'immunisation-follow-up' });
    expect((wrongPurpose.body as Parameters).parameter?.find((p) => p.name === 'reason')?.valueCoding?.code).toBe('purpose-not-permitted');

    for (const [query, field] of [
      [{ purpose: 'early-years-registration' }, 'organisation'],
      [{ organisation: 'CC-OCEAN' }, 'purpose'],
      [{ organisation: 'CC OCEAN', purpose: 'early-years-registration' }, 'organisation'],
      [{ organisation: 'NOWHERE', purpose: 'early-years-registration' }, 'organisation'],
      [{ organisation: 'CC-OCEAN', purpose: 'early-years-registration', colour: 'blue' }, 'colour'],
    ] as const) {
      const res = await explain(query);
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect((res.body as OperationOutcome).issue[0]?.expression).toEqual([field]);
    }
    expect((await explain({ organisation: 'CC-OCEAN', purpose: 'early-years-registration' }, ocean)).status).toBe(403);
    const missing = await t.http.get('/fhir/Patient/no-such-id/$explain-disclosure').query({ organisation: 'CC-OCEAN', purpose: 'direct-care' }).set(bearer(ig));
    expect(missing.status).toBe(404);
  });

  it('_include brings in the referenced records that are disclosed, each decided and redacted', async () => {
    const res = await t.http.get('/fhir/Observation').query({ patient: mother, _include: 'Observation:patient' }).set(bearer(ocean));
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    expect(bundle.entry?.map((e) => e.search?.mode)).toEqual(['match', 'include']);
    const included = bundle.entry?.[1]?.resource as Patient;
    expect(included.id).toBe(mother);
    expect(included.identifier).toBeUndefined();
    // Another centre: no match, so nothing to include either.
    const iod = await t.http.get('/fhir/Observation').query({ patient: mother, _include: 'Observation:patient' }).set(bearer(await t.token('iod-cc', 'early-years-registration')));
    expect(entries(iod.body)).toEqual([]);
    const wrong = await t.http.get('/fhir/Observation').query({ _include: 'Patient:link' }).set(bearer(ocean));
    expect(wrong.status).toBe(400);
    expect((wrong.body as OperationOutcome).issue[0]?.expression).toEqual(['_include']);
  });

  it('a deny provision added through the API refuses at once; a bad Consent is refused whole', async () => {
    const current = (await t.http.get(`/fhir/Consent/${consent}`).set(bearer(maternity))).body as Consent;
    const before = await countRows(t.database.db, 'resource_history');
    const broken = await t.http
      .put(`/fhir/Consent/${consent}`)
      .set(bearer(maternity))
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ ...current, status: 'withdrawn' }));
    expect(broken.status).toBe(422);
    expect(JSON.stringify((broken.body as OperationOutcome).issue.map((i) => i.expression))).toMatch(/Consent\.status/);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);

    const refused: Consent = { ...current, provision: { ...current.provision, type: 'deny' } };
    const put = await t.http.put(`/fhir/Consent/${consent}`).set(bearer(maternity)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(refused));
    expect(put.status).toBe(200);
    const res = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean)).set('X-Request-Id', 'after-deny');
    expect(res.status).toBe(404);
    expectSameAsAbsent(res, mother, await t.http.get(`/fhir/Patient/${unknownId(2)}`).set(bearer(ocean)), unknownId(2), 'after a refusal');
    const [decision] = await decisionEventsFor(t.database.db, 'after-deny');
    expect(decisionCode(decision)).toBe('consent-refused');
    expect(decision?.entity?.find((e) => e.type?.code === 'Consent')?.what?.reference).toBe(`Consent/${consent}/_history/2`);
  });

  it('a consent created through the API for another recipient does not undo a refusal', async () => {
    const fresh: Consent = {
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: `Patient/${mother}` },
      policy: [{ uri: 'urn:isp:eastside-early-years-isp' }],
      provision: {
        type: 'permit',
        actor: [
          {
            role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
            reference: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'R9H' } },
          },
        ],
      },
    };
    const created = await t.http.post('/fhir/Consent').set(bearer(maternity)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(fresh));
    expect(created.status).toBe(201);
    // It names the health visitors only: the refusal for children's centres still stands.
    expect((await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean))).status).toBe(404);
  });
});

describe('decisions alike share one AuditEvent', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t.close();
  });

  it('a search denying three refusals for one reason writes one deny event naming each record and child', async () => {
    const gp = await t.token('limehouse-gp', 'direct-care');
    const refusal = await readFixture('hl7v2/refusal-re.hl7');
    for (const n of [51, 52, 53]) {
      const message = refusal
        .replace('9990091021', nhsNumber(n))
        .replace('Y90001-TEST-0003', `Y90001-TEST-00${n}`)
        .replace('Y90001-IMM-900003', `Y90001-IMM-9000${n}`);
      const res = await t.http.post('/ingest/hl7v2').set(bearer(gp)).set('Content-Type', 'x-application/hl7-v2+er7').send(message);
      expect(res.status).toBe(200);
    }
    const ocean = await t.token('ocean-cc', 'immunisation-follow-up');
    const res = await t.http.get('/fhir/Immunization').set(bearer(ocean)).set('X-Request-Id', 'grouped-denials');
    expect(entries(res.body)).toEqual([]);
    const decisions = await decisionEventsFor(t.database.db, 'grouped-denials');
    expect(decisions).toHaveLength(1);
    expect(decisionCode(decisions[0])).toBe('where-not-met');
    expect(decisions[0]?.outcome).toBe('8');
    expect(decisions[0]?.entity?.filter((e) => e.role?.code === '4')).toHaveLength(3);
    expect(decisions[0]?.entity?.filter((e) => e.role?.code === '1')).toHaveLength(3);
  });
});
