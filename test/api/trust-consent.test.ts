import type { Bundle, Communication, Consent, OperationOutcome, Parameters } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEventsFor, storedResources } from '../support/audit.js';
import { bookFixtureMother } from '../support/booking.js';
import { readFixture } from '../support/golden.js';
import { nhsNumber } from '../support/resources.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Consent only from those entitled to record it (issue 10, finding 5;
// DESIGN.md section 10). A Consent counts for a flow only if an organisation
// named in its `consentRecordedBy` (default: its `from`) recorded it, by the
// hub's registry, whatever the Consent says of itself. Anyone may narrow: a
// refusal recorded by any party stops the flow at once, and the organisation
// whose consent it overrides is told with a Communication.

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const FHIR_JSON = 'application/fhir+json';

let t: TestHub;
let earlyHelp: string;
let ocean: string;
let ig: string;
beforeAll(async () => {
  t = await startTestHub();
  earlyHelp = await t.token('eastside-early-help', 'early-help');
  ocean = await t.token('ocean-cc', 'early-years-registration');
  ig = await t.token('ig-console', 'audit');
});
afterAll(async () => {
  await t.close();
});

/** A Consent in the maternity booking's shape, naming maternity as its organisation: what a forger would write. */
function bookingShaped(mother: string, opts: { status: Consent['status']; type: 'permit' | 'deny' }): Consent {
  return {
    resourceType: 'Consent',
    status: opts.status,
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'INFA' }] }],
    patient: { reference: `Patient/${mother}` },
    dateTime: '2026-11-20T10:00:00+00:00',
    performer: [{ reference: `Patient/${mother}` }],
    organization: [{ identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'R9M' } }],
    policy: [{ uri: 'urn:isp:eastside-early-years-isp' }],
    provision: {
      type: opts.type,
      period: { start: '2026-03-02', end: '2031-09-28' },
      actor: [
        {
          role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
          reference: { type: 'Group', identifier: { system: 'urn:eastside:organisation-type', value: 'childrens-centre' } },
        },
      ],
      purpose: [{ system: 'https://eastside.example/fhir/CodeSystem/purpose-of-use', code: 'early-years-registration' }],
    },
  };
}

const postConsent = (token: string, consent: Consent, requestId: string) =>
  t.http.post('/fhir/Consent').set(bearer(token)).set('Content-Type', FHIR_JSON).set('X-Request-Id', requestId).send(JSON.stringify(consent));

/** The repo's booking for another mother, without its Consent entry: booked without consent. */
async function bookWithoutConsent(): Promise<string> {
  const bundle = JSON.parse(
    (await readFixture('fhir-message/pregnancy-notification.json'))
      .replaceAll('9995100010', nhsNumber(510101))
      .replaceAll('NG-PREG-2026-900001', 'NG-PREG-2026-900101')
      .replaceAll('11111111-1111-4111-8111-111111111101', '11111111-1111-4111-8111-111111111c01'),
  ) as Bundle;
  const consentUrls = new Set((bundle.entry ?? []).filter((e) => e.resource?.resourceType === 'Consent').map((e) => e.fullUrl));
  bundle.entry = (bundle.entry ?? []).filter((e) => !consentUrls.has(e.fullUrl));
  const header = bundle.entry[0]?.resource as { focus?: { reference?: string }[] } | undefined;
  if (header?.focus !== undefined) header.focus = header.focus.filter((f) => !consentUrls.has(f.reference));
  const maternity = await t.token('northgate-maternity', 'direct-care');
  const res = await t.http.post('/fhir/$process-message').set(bearer(maternity)).set('Content-Type', FHIR_JSON).send(JSON.stringify(bundle));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const mother = /Patient\/([0-9a-f-]{36})/.exec(String((res.body as OperationOutcome).issue[0]?.diagnostics))?.[1];
  expect(mother).toBeDefined();
  return mother ?? '';
}

const explain = (type: string, id: string, organisation: string, purpose: string) =>
  t.http.get(`/fhir/${type}/${id}/$explain-disclosure`).query({ organisation, purpose }).set(bearer(ig));
const param = (body: unknown, name: string) => ((body as Parameters).parameter ?? []).filter((p) => p.name === name);

describe('a permit recorded by an organisation the flow does not take consent from', () => {
  it('early help’s permit for a mother maternity booked without consent changes nothing: Ocean gets what it gets for an unknown id, and the IG lead is told why', async () => {
    const mother = await bookWithoutConsent();
    const absent = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean));
    expect(absent.status).toBe(404);

    const forged = await postConsent(earlyHelp, bookingShaped(mother, { status: 'active', type: 'permit' }), 'forged-consent');
    expect(forged.status).toBe(201);
    const consentId = (forged.body as Consent).id ?? '';

    const read = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean));
    const unknown = await t.http.get('/fhir/Patient/00000000-0000-4000-8000-000000000000').set(bearer(ocean));
    expect(read.status).toBe(404);
    expect(read.status).toBe(unknown.status);
    expect(JSON.stringify(read.body)).not.toContain('Testmother');
    const search = await t.http.get('/fhir/Patient').query({ _id: mother }).set(bearer(ocean));
    expect((search.body as Bundle).entry ?? []).toEqual([]);

    const why = await explain('Patient', mother, 'CC-OCEAN', 'early-years-registration');
    expect(why.status).toBe(200);
    expect(param(why.body, 'decision')[0]?.valueCode).toBe('deny');
    expect(param(why.body, 'ignoredConsent').map((p) => p.valueString)).toEqual([
      `Consent/${consentId}/_history/1 ignored: recorded by early-help, flow booking-to-childrens-centre takes consent recorded by maternity`,
    ]);
  });
});

describe('a refusal recorded by any party', () => {
  it('early help’s refusal for a mother maternity booked with consent stops Ocean at once, and maternity is told with a Communication', async () => {
    const { mother, consent } = await bookFixtureMother(t);
    expect((await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean))).status).toBe(200);

    const refusal = await postConsent(earlyHelp, bookingShaped(mother, { status: 'active', type: 'deny' }), 'eh-refusal');
    expect(refusal.status).toBe(201);
    const refusalId = (refusal.body as Consent).id ?? '';

    expect((await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean))).status).toBe(404);

    // One notice, from the hub, to maternity alone, naming the refusal and the consent it overrides.
    const notices = (await storedResources<Communication>(t.database.db, 'Communication')).filter((c) =>
      c.category?.some((k) => k.coding?.some((x) => x.code === 'consent-narrowed')),
    );
    expect(notices).toHaveLength(1);
    const [notice] = notices;
    expect(notice?.recipient?.map((r) => r.identifier?.value)).toEqual(['R9M']);
    expect(notice?.subject?.reference).toBe(`Patient/${mother}`);
    expect(notice?.about?.map((a) => a.reference)).toEqual([`Consent/${refusalId}/_history/1`, `Consent/${consent}/_history/1`]);
    expect(notice?.payload?.[0]?.contentString).toMatch(/London Borough of Eastside Early Help \(early-help\) recorded a consent that refuses some sharing/);
    const [created] = (await auditEventsFor(t.database.db, 'eh-refusal')).filter((e) => e.outcomeDesc?.startsWith('narrowing notices'));
    expect(created?.outcomeDesc).toBe(`narrowing notices for Consent/${refusalId}/_history/1 to R9M`);

    // Delivered to maternity (basis addressed), to no one else.
    const toMaternity = await explain('Communication', notice?.id ?? '', 'R9M', 'direct-care');
    expect(param(toMaternity.body, 'basis')[0]?.valueCoding?.code).toBe('addressed');
    const toOcean = await explain('Communication', notice?.id ?? '', 'CC-OCEAN', 'early-years-registration');
    expect(param(toOcean.body, 'decision')[0]?.valueCode).toBe('deny');
    expect(((await t.http.get('/fhir/Communication').set(bearer(ocean))).body as Bundle).entry ?? []).toEqual([]);
  });
});
