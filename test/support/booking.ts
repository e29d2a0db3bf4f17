import type { OperationOutcome } from 'fhir/r4.js';
import { expect } from 'vitest';
import { readFixture } from './golden.js';
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
