import type { OperationOutcome, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEventsFor, decisionCode, decisionEventsFor, storedResources } from '../support/audit.js';
import { bookFixtureMother } from '../support/booking.js';
import { readFixture } from '../support/golden.js';
import { nhsNumber } from '../support/resources.js';
import { bookMother } from '../support/booking.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Issue 10 findings 1, 2 and 3 through the HTTP API: a restriction survives the
// NEMS conversion and every later message; one partner cannot rewrite what a
// partner ranked above it recorded about a shared Patient; a Patient posted
// through the REST API is a statement about the one Patient per NHS number;
// only the IG lead (audited) or the source that set it lifts a label.

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const HL7 = 'x-application/hl7-v2+er7';
const FHIR_JSON = 'application/fhir+json';

let t: TestHub;
let maternity: string;
let limehouse: string;
let ocean: string;
let iod: string;
let earlyHelp: string;
let ig: string;
beforeAll(async () => {
  t = await startTestHub();
  maternity = await t.token('northgate-maternity', 'direct-care');
  limehouse = await t.token('limehouse-gp', 'direct-care');
  ocean = await t.token('ocean-cc', 'early-years-registration');
  iod = await t.token('iod-cc', 'early-years-registration');
  earlyHelp = await t.token('eastside-early-help', 'early-help');
  ig = await t.token('ig-console', 'audit');
});
afterAll(async () => {
  await t.close();
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** The fixture booking (with consent to share with children's centres) for another mother: her Patient's id. */
async function book(seed: number, options: { restricted?: boolean } = {}): Promise<string> {
  return (await bookMother(t, seed, options)).mother;
}

async function patientByNhs(nhs: string): Promise<Patient & { id: string }> {
  const all = (await storedResources<Patient>(t.database.db, 'Patient')).filter((p) => p.identifier?.some((i) => i.system === NHS && i.value === nhs));
  expect(all).toHaveLength(1);
  return all[0] as Patient & { id: string };
}

/** A GP's routine VXU (a missed dose) about the person with this NHS number, saying what the GP's system holds. */
function vxu(nhs: string, control: string, person: { family: string; phone: string; postcode: string; protect?: 'Y' | 'N' }): string {
  return [
    `MSH|^~\\&|EMISWEB|Y90001|EYHUB|EASTSIDE|20261001091500+0100||VXU^V04^VXU_V04|${control}|P|2.5.1|||AL|NE`,
    `PID|1||${nhs}^^^NHS^NH||${person.family}^ALPHA^^^^^L||19940517|F|||9 Other Street^^Testtown^^${person.postcode}^GBR^H||${person.phone}^PRN^CP`,
    `PD1|||GP^^Y90001${person.protect === undefined ? '' : `|||||||||${person.protect}`}`,
    `ORC|RE||${control}-IMM^EMISWEB`,
    'RXA|0|1|20260930|20260930|770618004^Administration of third dose of diphtheria and Haemophilus influenzae type B and hepatitis B and pertussis and tetanus vaccine^SCT|999||||||||||||201741000000102^Did not attend child immunisation^SCT||NA|A',
  ].join('\r');
}

async function postVxu(body: string): Promise<void> {
  const res = await t.http.post('/ingest/hl7v2').set(bearer(limehouse)).set('Content-Type', HL7).set('Accept', FHIR_JSON).send(body);
  expect(res.status).toBe(200);
}

async function read(token: string, id: string, requestId: string) {
  return t.http.get(`/fhir/Patient/${id}`).set(bearer(token)).set('X-Request-Id', requestId);
}

async function openAlerts(patientId: string): Promise<{ kind: string; reason: string }[]> {
  const res = await t.http.get('/audit/alerts').set(bearer(ig));
  expect(res.status).toBe(200);
  return (res.body as { alerts: { kind: string; reason: string; patients: string[] }[] }).alerts.filter((a) => a.patients.includes(`Patient/${patientId}`));
}

describe('finding 1: a restricted baby from a NEMS birth notification stays restricted', () => {
  it("keeps the baby's v3-Confidentiality R through the STU3 conversion, so the children's centre in catchment is refused", async () => {
    await bookFixtureMother(t, maternity);
    const res = await t.http.post('/fhir/$process-message').set(bearer(maternity)).type(FHIR_JSON).send(await readFixture('fhir-message/birth-notification-restricted-stu3.json'));
    expect(res.status).toBe(200);
    const baby = await patientByNhs('9995100029');
    expect(baby.meta?.security).toContainEqual(expect.objectContaining({ system: CONFIDENTIALITY, code: 'R' }));
    const denied = await read(ocean, baby.id, 'f1-ocean-baby');
    expect(denied.status).toBe(404);
    expect(decisionCode((await decisionEventsFor(t.database.db, 'f1-ocean-baby'))[0])).toBe('excluded:restricted-record');
  });
});

describe('finding 2: no later message erases a restriction', () => {
  it("a GP's routine VXU about a restricted mother keeps her R label: children's centres are still refused", async () => {
    const mother = await book(9110, { restricted: true });
    expect((await read(ocean, mother, 'f2-before')).status).toBe(404);
    await postVxu(vxu(nhsNumber(9110), 'F2-0001', { family: 'TESTMOTHER', phone: '07700 900000', postcode: 'E1 0AA' }));
    const stored = await patientByNhs(nhsNumber(9110));
    expect(stored.meta?.security).toContainEqual(expect.objectContaining({ system: CONFIDENTIALITY, code: 'R' }));
    const after = await read(ocean, mother, 'f2-after');
    expect(after.status).toBe(404);
    expect(decisionCode((await decisionEventsFor(t.database.db, 'f2-after'))[0])).toBe('excluded:restricted-record');
  });

  it('HL7 v2 PD1-12 Y restricts the Patient, and a later PD1-12 N from the same GP does not lift it', async () => {
    const mother = await book(9120);
    expect((await read(ocean, mother, 'f2-pd1-open')).status).toBe(200);
    await postVxu(vxu(nhsNumber(9120), 'F2-0002', { family: 'TESTMOTHER', phone: '07700 900000', postcode: 'E1 0AA', protect: 'Y' }));
    expect((await read(ocean, mother, 'f2-pd1-closed')).status).toBe(404);
    await postVxu(vxu(nhsNumber(9120), 'F2-0003', { family: 'TESTMOTHER', phone: '07700 900000', postcode: 'E1 0AA', protect: 'N' }));
    expect((await read(ocean, mother, 'f2-pd1-still')).status).toBe(404);
    expect(await openAlerts(mother)).toContainEqual(expect.objectContaining({ kind: 'data-quality', reason: expect.stringMatching(/restriction: Y90001 restricted/) as unknown }));
  });

  it('the IG lead lifts a label with a reason (audited); nobody else can', async () => {
    const mother = await patientByNhs(nhsNumber(9110));
    const lift = (token: string, body: unknown) => t.http.post(`/audit/patients/${mother.id}/lift-label`).set(bearer(token)).set('X-Request-Id', `lift-${token.slice(-6)}`).type('application/json').send(JSON.stringify(body));
    const byMaternity = await lift(maternity, { code: 'R', reason: 'not mine to lift' });
    expect(byMaternity.status).toBe(403);
    const noReason = await lift(ig, { code: 'R' });
    expect(noReason.status).toBe(400);
    expect((noReason.body as OperationOutcome).issue[0]?.expression).toEqual(['reason']);
    const lifted = await lift(ig, { code: 'R', reason: 'restriction ended by court order 2026-10-02' });
    expect(lifted.status).toBe(200);
    expect(lifted.body).toMatchObject({ patient: `Patient/${mother.id}`, setBy: ['R9M'], lifted: { system: CONFIDENTIALITY, code: 'R' } });
    const [event] = await auditEventsFor(t.database.db, `lift-${ig.slice(-6)}`).then((events) => events.filter((e) => e.outcome === '0'));
    expect(event?.outcomeDesc).toMatch(/lifted by the information governance lead \(set by R9M\): restriction ended by court order/);
    expect((await patientByNhs(nhsNumber(9110))).meta?.security).toBeUndefined();
    expect((await read(ocean, mother.id, 'f2-lifted')).status).toBe(200);
    expect((await lift(ig, { code: 'R', reason: 'again' })).status).toBe(409);
  });
});

describe("finding 3: one partner cannot rewrite what a partner ranked above it recorded", () => {
  it("a GP's VXU does not overwrite the name and telephone maternity recorded; the centre in the new catchment never gets the GP's contact details", async () => {
    const mother = await book(9210);
    await postVxu(vxu(nhsNumber(9210), 'F3-0001', { family: 'ATTACKER', phone: '07700 900999', postcode: 'E14 9ZZ' }));
    const stored = await patientByNhs(nhsNumber(9210));
    expect(stored.name?.[0]?.family).toBe('Testmother');
    expect(stored.telecom).toEqual([{ system: 'phone', value: '07700 900000', use: 'mobile' }]);
    // The protocol ranks the GP first for the address (it holds the registered one): the catchment moves, and the IG lead is told.
    expect(stored.address?.[0]?.postalCode).toBe('E14 9ZZ');
    const atIod = await read(iod, mother, 'f3-iod');
    expect(atIod.status).toBe(200);
    expect(JSON.stringify(atIod.body)).not.toMatch(/ATTACKER|900999/);
    expect(await openAlerts(mother)).toContainEqual(expect.objectContaining({ kind: 'data-quality', reason: expect.stringMatching(/postcode-district: Y90001 says E14; R9M \(maternity\) says E1/) as unknown }));
  });

  it("early help cannot move the address maternity recorded (a CAF naming her as parent)", async () => {
    const mother = await book(9220);
    const caf = JSON.parse(await readFixture('caf/born-three-agencies.json')) as { assessment: { reference: string; parentsCarers: Record<string, unknown>[] } };
    caf.assessment.reference = 'CAF-F3-9220';
    caf.assessment.parentsCarers[0] = { ...caf.assessment.parentsCarers[0], nhsNumber: nhsNumber(9220), familyName: 'Rewritten', address: { lines: ['5 Elsewhere'], town: 'London', postcode: 'E14 2XX' } };
    const res = await t.http.post('/ingest/caf').set(bearer(earlyHelp)).type('application/json').send(JSON.stringify(caf));
    expect(res.status).toBe(200);
    const stored = await patientByNhs(nhsNumber(9220));
    expect(stored.address?.[0]?.postalCode).toBe('E1 0AA');
    expect(stored.name?.[0]?.family).toBe('Testmother');
    expect((await read(ocean, mother, 'f3-eh-ocean')).status).toBe(200);
    expect((await read(iod, mother, 'f3-eh-iod')).status).toBe(404);
    expect(await openAlerts(mother)).toContainEqual(expect.objectContaining({ kind: 'data-quality', reason: expect.stringMatching(/postcode-district: E09000999-EH says E14/) as unknown }));
  });
});

describe('the REST identity rule: one Patient per NHS number, whoever can see it', () => {
  it("a POST for an NHS number the hub holds is the caller's statement about that Patient, answered with its own words only", async () => {
    await book(9310);
    const gp = await t.token('test-a', 'direct-care');
    const body: Patient = { resourceType: 'Patient', identifier: [{ system: NHS, value: nhsNumber(9310) }], name: [{ family: 'Restname' }], gender: 'female', birthDate: '1994-05-17' };
    const res = await t.http.post('/fhir/Patient').set(bearer(gp)).type(FHIR_JSON).send(JSON.stringify(body));
    expect(res.status).toBe(201);
    const stored = await patientByNhs(nhsNumber(9310));
    expect(res.body.id).toBe(stored.id);
    // The answer is what the GP said, not maternity's record.
    expect(res.body.name).toEqual([{ family: 'Restname' }]);
    expect(res.body.telecom).toBeUndefined();
    expect(res.body.address).toBeUndefined();
    expect(stored.name?.[0]?.family).toBe('Testmother');

    // The GP may restate its own word with PUT; an organisation that never wrote the Patient may not.
    const put = await t.http.put(`/fhir/Patient/${stored.id}`).set(bearer(gp)).type(FHIR_JSON).send(JSON.stringify({ ...body, id: stored.id, name: [{ family: 'Restname2' }] }));
    expect(put.status).toBe(200);
    expect((await patientByNhs(nhsNumber(9310))).name?.[0]?.family).toBe('Testmother');
    const stranger = await t.token('test-b', 'direct-care');
    const theirs = await t.http.put(`/fhir/Patient/${stored.id}`).set(bearer(stranger)).type(FHIR_JSON).send(JSON.stringify({ ...body, id: stored.id }));
    expect(theirs.status).toBe(404);
    const other = await t.http.put(`/fhir/Patient/${stored.id}`).set(bearer(gp)).type(FHIR_JSON).send(JSON.stringify({ ...body, id: stored.id, identifier: [{ system: NHS, value: nhsNumber(9320) }] }));
    expect(other.status).toBe(422);
    expect((other.body as OperationOutcome).issue[0]?.expression).toEqual(['Patient.identifier']);
  });
});
