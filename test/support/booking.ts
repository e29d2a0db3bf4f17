import type { Bundle, FhirResource, OperationOutcome } from 'fhir/r4.js';
import { expect } from 'vitest';
import { readFixture } from './golden.js';
import { nhsNumber } from './resources.js';
import type { TestHub } from './test-hub.js';

/**
 * The maternity system books the repo's fixture mother (pregnancy
 * notification, with her consent to share with children's centres); answers
 * the ids the hub stored, as its answer names them. Without a token, one of
 * northgate-maternity's for direct care.
 */
export async function bookFixtureMother(t: TestHub, maternityToken?: string): Promise<{ mother: string; consent: string }> {
  const token = maternityToken ?? (await t.token('northgate-maternity', 'direct-care'));
  const res = await t.http
    .post('/fhir/$process-message')
    .set('Authorization', `Bearer ${token}`)
    .set('Content-Type', 'application/fhir+json')
    .send(await readFixture('fhir-message/pregnancy-notification.json'));
  expect(res.status).toBe(200);
  const stored = String((res.body as OperationOutcome).issue[0]?.diagnostics);
  const mother = /Patient\/([0-9a-f-]{36})/.exec(stored)?.[1] ?? '';
  const consent = /Consent\/([0-9a-f-]{36})/.exec(stored)?.[1] ?? '';
  expect(mother).not.toBe('');
  expect(consent).not.toBe('');
  return { mother, consent };
}

/** A hospital number only maternity gives a mother (bookMother). */
export const MATERNITY_MRN = 'https://eastside.example/fhir/Id/northgate-mrn';

/**
 * Maternity books another mother: the fixture booking with a fresh message id, pregnancy and NHS number
 * (from `seed`), her hospital number `MRN-<seed>` beside it, and, when asked, restricted (v3-Confidentiality R).
 * Answers her Patient's id and NHS number.
 */
export async function bookMother(t: TestHub, seed: number, options: { restricted?: boolean } = {}): Promise<{ mother: string; nhs: string }> {
  const token = await t.token('northgate-maternity', 'direct-care');
  const nhs = nhsNumber(seed);
  const bundle = JSON.parse(await readFixture('fhir-message/pregnancy-notification.json')) as Bundle<FhirResource>;
  for (const entry of bundle.entry ?? []) {
    const r = entry.resource;
    if (r?.resourceType === 'MessageHeader') r.id = `11111111-1111-4111-8111-${String(seed).padStart(12, '0')}`;
    if (r?.resourceType === 'EpisodeOfCare') r.identifier = [{ system: 'https://eastside.example/fhir/Id/northgate-pregnancy', value: `NG-PREG-${seed}` }];
    if (r?.resourceType === 'Patient') {
      r.identifier = [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhs }, { system: MATERNITY_MRN, value: `MRN-${seed}` }];
      if (options.restricted === true) r.meta = { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' }] };
    }
  }
  const res = await t.http.post('/fhir/$process-message').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/fhir+json').send(JSON.stringify(bundle));
  expect(res.status).toBe(200);
  const mother = /Patient\/([0-9a-f-]{36})/.exec(String((res.body as OperationOutcome).issue[0]?.diagnostics))?.[1] ?? '';
  expect(mother).not.toBe('');
  return { mother, nhs };
}
