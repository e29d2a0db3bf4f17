import { describe, expect, it } from 'vitest';
import { isNewNarrowing, narrowingNotice, narrows } from '../../src/fhir/narrowing-notice.js';
import { bookingConsent, cafConsentOf } from '../support/decision-world.js';

// Which Consent versions narrow (a refusal, a withdrawal, a deny anywhere in the provisions), and the notice.

const permit = bookingConsent();
const deny = bookingConsent({ type: 'deny' });
const nestedDeny = bookingConsent({ nested: [{ type: 'deny' }] });
const rejected = bookingConsent({ status: 'rejected' });
const inactive = bookingConsent({ status: 'inactive' });
const draft = bookingConsent({ status: 'draft', type: 'deny' });

describe('narrows', () => {
  it.each([
    ['an active permit', permit, false],
    ['an active deny', deny, true],
    ['a permit with a nested deny', nestedDeny, true],
    ['a refusal', rejected, true],
    ['a withdrawal', inactive, true],
    ['a draft deny (not in force)', draft, false],
    ['a CAF consent not given', cafConsentOf(false), true],
    ['a CAF consent given', cafConsentOf(true, ['health-visiting']), false],
  ] as const)('%s → %s', (_name, consent, expected) => {
    expect(narrows(consent)).toBe(expected);
  });
});

describe('isNewNarrowing', () => {
  it.each([
    ['a new refusal', undefined, rejected, true],
    ['a new permit', undefined, permit, false],
    ['a permit turned deny', permit, deny, true],
    ['a permit withdrawn', permit, inactive, true],
    ['a deny re-sent unchanged', deny, deny, false],
    ['a deny turned refusal', deny, rejected, true],
    ['not a Consent', undefined, { resourceType: 'Patient' } as never, false],
  ] as const)('%s → %s', (_name, before, after, expected) => {
    expect(isNewNarrowing(before, after)).toBe(expected);
  });
});

describe('narrowingNotice', () => {
  it('tells the recipient who narrowed what, naming the consents it overrides', () => {
    const notice = narrowingNotice({
      id: 'n-1',
      sent: new Date('2026-11-22T10:00:00Z'),
      narrowing: { id: 'eh-1', versionId: 1, content: { ...rejected, patient: { reference: 'Patient/mother-a' } } },
      recordedBy: { system: 'urn:eastside:org', code: 'E09000999-EH', name: 'Early Help', type: 'early-help' },
      overrides: ['Consent/booking-a/_history/2'],
      recipient: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', code: 'R9M', name: 'Maternity' },
      hub: { system: 'urn:eastside:org', code: 'EYHUB' },
    });
    expect(notice.recipient).toEqual([{ type: 'Organization', identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'R9M' }, display: 'Maternity' }]);
    expect(notice.about?.map((a) => a.reference)).toEqual(['Consent/eh-1/_history/1', 'Consent/booking-a/_history/2']);
    expect(notice.category?.[0]?.coding?.[0]?.code).toBe('consent-narrowed');
    expect(notice.payload?.[0]?.contentString).toBe(
      'On 2026-11-22, Early Help (early-help) recorded a refusal, Consent/eh-1/_history/1, for Patient/mother-a. It takes effect at once: the hub discloses nothing it refuses, under any flow, including those resting on the consent you recorded (Consent/booking-a/_history/2). Review it with the family, and record any change in your own system.',
    );
  });
});
