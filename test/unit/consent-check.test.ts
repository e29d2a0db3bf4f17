import type { Consent, ConsentProvision } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { answerConsents, type ConsentAnswer, type ConsentQuestion } from '../../src/decision/consent-check.js';
import type { ConsentFacts } from '../../src/decision/decision-types.js';
import { ISP_ID, ODS_SYSTEM, PURPOSE_SYSTEM, actor, bookingConsent, cafConsentOf, consentFacts, recorderOf, type BookingConsentOptions } from '../support/decision-world.js';

// How the family's Consents answer one prospective disclosure.
// See: https://hl7.org/fhir/R4/consent.html#provision

/** Ocean Children's Centre asking to register a mother, on the story's day. */
const OCEAN: ConsentQuestion = {
  recipientType: 'childrens-centre',
  recipientCode: 'CC-OCEAN',
  purpose: 'early-years-registration',
  resourceType: 'Patient',
  day: '2026-11-22',
  protocolId: ISP_ID,
  // Here the question's flow takes consent from both recorders of this file's consents (maternity's bookings,
  // early help's CAFs), so the rows below test the provisions; who recorded a consent has rows of its own.
  recordedBy: ['maternity', 'early-help'],
};
const IOD: ConsentQuestion = { ...OCEAN, recipientCode: 'CC-IOD' };
/** Ocean under a booking flow, which takes consent recorded by maternity only. */
const MATERNITY_ONLY: ConsentQuestion = { ...OCEAN, recordedBy: ['maternity'] };
const HV: ConsentQuestion = { ...OCEAN, recipientType: 'health-visiting', recipientCode: 'R9H', purpose: 'early-help' };
const GP: ConsentQuestion = { ...HV, recipientType: 'gp', recipientCode: 'Y90001' };
const CC_EARLY_HELP: ConsentQuestion = { ...OCEAN, purpose: 'early-help' };

const REF = 'Consent/c/_history/1';
const one = (opts: BookingConsentOptions): ConsentFacts[] => [consentFacts(bookingConsent(opts), 'c')];
const permit: ConsentAnswer = { kind: 'permit', consent: REF };
const deny: ConsentAnswer = { kind: 'deny', consent: REF };
const withdrawn: ConsentAnswer = { kind: 'withdrawn', consent: REF };
const none: ConsentAnswer = { kind: 'none' };

const bare = (status: Consent['status'], provision: ConsentProvision | undefined): ConsentFacts[] => [
  consentFacts(
    {
      resourceType: 'Consent',
      status,
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      ...(provision === undefined ? {} : { provision }),
    },
    'c',
  ),
];
const withActorReference = (reference: NonNullable<ConsentProvision['actor']>[number]['reference']): ConsentFacts[] => {
  const c = bookingConsent();
  return [consentFacts({ ...c, provision: { ...c.provision, actor: [{ role: { coding: [{ code: 'IRCP' }] }, reference }] } }, 'c')];
};
const caf = (given: boolean, share: Parameters<typeof cafConsentOf>[1] = [], doNot: Parameters<typeof cafConsentOf>[2] = []): ConsentFacts[] => [
  consentFacts(cafConsentOf(given, share, doNot), 'c'),
];

type Row = [name: string, consents: ConsentFacts[], question: ConsentQuestion, expected: ConsentAnswer];

const rows: Row[] = [
  // status × provision type
  ['an active permit', one({}), OCEAN, permit],
  ['an active deny', one({ type: 'deny' }), OCEAN, deny],
  ['an inactive permit is a withdrawal', one({ status: 'inactive' }), OCEAN, withdrawn],
  ['an inactive deny is no longer a refusal', one({ status: 'inactive', type: 'deny' }), OCEAN, none],
  ['a rejected permit refuses what it would have allowed', one({ status: 'rejected' }), OCEAN, deny],
  ['a rejected deny refuses', one({ status: 'rejected', type: 'deny' }), OCEAN, deny],
  ['a rejected consent says nothing about what it does not cover', one({ status: 'rejected', actors: [{ type: 'gp' }] }), OCEAN, none],
  ['a rejected consent with no provision refuses everything', bare('rejected', undefined), OCEAN, deny],
  ['an active consent with no provision permits nothing', bare('active', undefined), OCEAN, none],
  ['a draft', one({ status: 'draft' }), OCEAN, none],
  ['a proposal', one({ status: 'proposed' }), OCEAN, none],
  ['a consent entered in error', one({ status: 'entered-in-error' }), OCEAN, none],
  ['a draft refusal', one({ status: 'draft', type: 'deny' }), OCEAN, none],

  // actor by type, by organisation code
  ['an actor by organisation type', one({ actors: [{ type: 'childrens-centre' }] }), IOD, permit],
  ['an actor of another type', one({ actors: [{ type: 'health-visiting' }] }), OCEAN, none],
  ['one of several actors', one({ actors: [{ type: 'gp' }, { type: 'childrens-centre' }] }), OCEAN, permit],
  ['an actor by local organisation code', one({ actors: [{ code: 'CC-OCEAN' }] }), OCEAN, permit],
  ['a local code does not cover another centre of the type', one({ actors: [{ code: 'CC-OCEAN' }] }), IOD, none],
  ['an actor by ODS code', one({ actors: [{ code: 'R9H', system: ODS_SYSTEM }] }), { ...HV, purpose: 'early-years-registration' }, permit],
  ['a code in an unknown identifier system', one({ actors: [{ code: 'CC-OCEAN', system: 'urn:somewhere-else' }] }), OCEAN, none],
  ['a type value under an organisation-code system', one({ actors: [{ code: 'childrens-centre' }] }), OCEAN, none],
  ['an actor identifier without a system', withActorReference({ identifier: { value: 'CC-OCEAN' } }), OCEAN, none],
  ['an actor by literal reference only', withActorReference({ reference: 'Organization/cc-ocean' }), OCEAN, none],
  ['a provision naming no actor applies to every recipient', bare('active', { type: 'permit' }), GP, permit],
  ['a refusal naming no actor refuses every recipient', bare('active', { type: 'deny' }), GP, deny],

  // purpose
  ['another purpose', one({ purposes: ['early-help'] }), OCEAN, none],
  ['one of several purposes', one({ purposes: ['early-help', 'early-years-registration'] }), OCEAN, permit],
  ['a purpose code without a system', bare('active', { type: 'permit', purpose: [{ code: 'early-years-registration' }] }), OCEAN, permit],
  ['a purpose code in another system', bare('active', { type: 'permit', purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'early-years-registration' }] }), OCEAN, none],
  ['a refusal for another purpose does not refuse this one', one({ type: 'deny', purposes: ['immunisation-follow-up'] }), OCEAN, none],

  // period
  ['before the period starts', one({ period: { start: '2026-11-23' } }), OCEAN, none],
  ['on the day it starts', one({ period: { start: '2026-11-22' } }), OCEAN, permit],
  ['on the day it ends', one({ period: { start: '2026-03-02', end: '2026-11-22' } }), OCEAN, permit],
  ['after it ended', one({ period: { start: '2026-03-02', end: '2026-11-21' } }), OCEAN, none],
  ['a period given as instants is read by day', one({ period: { start: '2026-11-22T23:00:00+00:00', end: '2026-11-22T00:00:00Z' } }), OCEAN, permit],
  ['an open-ended period', one({ period: {} }), OCEAN, permit],
  ['a refusal that has expired', one({ type: 'deny', period: { end: '2026-11-01' } }), OCEAN, none],

  // class
  ['a class naming the resource type', one({ classes: ['Patient', 'Observation'] }), OCEAN, permit],
  ['a class naming other resource types', one({ classes: ['Observation'] }), OCEAN, none],
  ['a class code in another system', bare('active', { type: 'permit', class: [{ system: 'http://loinc.org', code: 'Patient' }] }), OCEAN, none],
  ['a class code without a system', bare('active', { type: 'permit', class: [{ code: 'Patient' }] }), OCEAN, permit],

  // nested provisions
  ['a nested deny for this recipient inside a permit', one({ actors: [{ type: 'childrens-centre' }, { type: 'gp' }], nested: [{ type: 'deny', actor: [actor({ type: 'childrens-centre' })] }] }), OCEAN, deny],
  ['the nested deny leaves the others permitted', one({ actors: [{ type: 'childrens-centre' }, { type: 'gp' }], nested: [{ type: 'deny', actor: [actor({ type: 'childrens-centre' })] }] }), { ...OCEAN, recipientType: 'gp', recipientCode: 'Y90001' }, permit],
  ['a nested deny for one centre only', one({ nested: [{ type: 'deny', actor: [actor({ code: 'CC-IOD' })] }] }), IOD, deny],
  ['the nested deny for one centre leaves the other', one({ nested: [{ type: 'deny', actor: [actor({ code: 'CC-IOD' })] }] }), OCEAN, permit],
  ['a nested deny that does not match this purpose', one({ nested: [{ type: 'deny', purpose: [{ system: PURPOSE_SYSTEM, code: 'early-help' }] }] }), OCEAN, permit],
  ['a nested deny of one resource type', one({ nested: [{ type: 'deny', class: [{ code: 'Patient' }] }] }), OCEAN, deny],
  ['a nested deny after a date', one({ nested: [{ type: 'deny', period: { start: '2026-11-01' } }] }), OCEAN, deny],
  ['a nested deny before a date', one({ nested: [{ type: 'deny', period: { end: '2026-11-01' } }] }), OCEAN, permit],
  ['a nested permit inside a deny is an exception to it', one({ type: 'deny', actors: [{ type: 'childrens-centre' }], nested: [{ type: 'permit', actor: [actor({ code: 'CC-OCEAN' })] }] }), OCEAN, permit],
  ['the deny still holds outside its exception', one({ type: 'deny', actors: [{ type: 'childrens-centre' }], nested: [{ type: 'permit', actor: [actor({ code: 'CC-OCEAN' })] }] }), IOD, deny],
  ['a nested deny beside a nested permit: deny wins', one({ nested: [{ type: 'permit' }, { type: 'deny' }] }), OCEAN, deny],
  ['a nested deny outside the root’s scope still refuses its recipient', one({ actors: [{ type: 'gp' }], nested: [{ type: 'deny', actor: [actor({ type: 'childrens-centre' })] }] }), OCEAN, deny],
  ['a nested permit outside the root’s scope is not reached', one({ actors: [{ type: 'gp' }], nested: [{ type: 'permit', actor: [actor({ type: 'childrens-centre' })] }] }), OCEAN, none],
  ['a provision with no type but a nested permit', bare('active', { actor: [actor({ type: 'childrens-centre' })], provision: [{ type: 'permit' }] }), OCEAN, permit],
  ['a provision with no type and nothing nested', bare('active', { actor: [actor({ type: 'childrens-centre' })] }), OCEAN, none],
  ['a withdrawn consent with a nested deny: the deny goes with it', one({ status: 'inactive', nested: [{ type: 'deny', actor: [actor({ code: 'CC-OCEAN' })] }] }), OCEAN, none],
  ['a rejected consent with a nested deny', one({ status: 'rejected', nested: [{ type: 'deny', actor: [actor({ code: 'CC-OCEAN' })] }] }), OCEAN, deny],

  // scope and policy
  ['a consent that is not about privacy', one({ scope: 'research' }), OCEAN, none],
  ['a consent with no scope', [consentFacts({ ...bookingConsent(), scope: undefined } as unknown as Consent, 'c')], OCEAN, none],
  ['a consent naming this ISP', one({ policy: [`urn:isp:${ISP_ID}`] }), OCEAN, permit],
  ['a consent naming another ISP', one({ policy: ['urn:isp:another-isp'] }), OCEAN, none],
  ['a refusal naming another ISP', one({ type: 'deny', policy: ['urn:isp:another-isp'] }), OCEAN, none],
  ['a consent naming this ISP among others', one({ policy: ['urn:isp:another-isp', `urn:isp:${ISP_ID}`] }), OCEAN, permit],
  ['a consent naming no ISP applies to every protocol', one({ policy: [] }), OCEAN, permit],
  ['a consent naming only a non-ISP policy applies too', one({ policy: ['https://example.org/privacy-notice'] }), OCEAN, permit],
  ['a consent naming this ISP, asked under another protocol', one({}), { ...OCEAN, protocolId: 'another-isp' }, none],

  // the CAF's consent shapes
  ['a CAF consent to health visiting, for early help', caf(true, ['health-visiting', 'gp']), HV, permit],
  ['a CAF consent covers the GP', caf(true, ['health-visiting', 'gp']), GP, permit],
  ['a CAF consent is for early help only', caf(true, ['health-visiting']), { ...HV, purpose: 'direct-care' }, none],
  ['a CAF consent excluding children’s centres (not named) refuses them', caf(true, ['health-visiting', 'gp'], ['childrens-centre']), CC_EARLY_HELP, deny],
  ['a CAF consent naming and excluding children’s centres', caf(true, ['health-visiting', 'childrens-centre'], ['childrens-centre']), CC_EARLY_HELP, deny],
  ['a CAF consent not given refuses health visiting', caf(false), HV, deny],
  ['a CAF consent not given refuses children’s centres', caf(false), CC_EARLY_HELP, deny],
  ['a CAF consent not given refuses only from its date', caf(false), { ...HV, day: '2026-10-19' }, none],

  // several consents
  ['no consents', [], OCEAN, none],
  ['deny overrides permit', [consentFacts(bookingConsent(), 'a'), consentFacts(bookingConsent({ type: 'deny' }), 'b')], OCEAN, { kind: 'deny', consent: 'Consent/b/_history/1' }],
  ['deny overrides permit, whatever the order', [consentFacts(bookingConsent({ type: 'deny' }), 'b'), consentFacts(bookingConsent(), 'a')], OCEAN, { kind: 'deny', consent: 'Consent/b/_history/1' }],
  ['a refusal (rejected) overrides a permit', [consentFacts(bookingConsent(), 'a'), consentFacts(cafConsentOf(false), 'b')], CC_EARLY_HELP, { kind: 'deny', consent: 'Consent/b/_history/1' }],
  ['permit outweighs withdrawn', [consentFacts(bookingConsent({ status: 'inactive' }), 'a'), consentFacts(bookingConsent(), 'b')], OCEAN, { kind: 'permit', consent: 'Consent/b/_history/1' }],
  ['permit outweighs withdrawn, whatever the order', [consentFacts(bookingConsent(), 'b'), consentFacts(bookingConsent({ status: 'inactive' }), 'a')], OCEAN, { kind: 'permit', consent: 'Consent/b/_history/1' }],
  ['the first of two permits is cited', [consentFacts(bookingConsent(), 'a'), consentFacts(bookingConsent(), 'b')], OCEAN, { kind: 'permit', consent: 'Consent/a/_history/1' }],
  ['the first of two withdrawals is cited', [consentFacts(bookingConsent({ status: 'inactive' }), 'a'), consentFacts(bookingConsent({ status: 'inactive' }), 'b')], OCEAN, { kind: 'withdrawn', consent: 'Consent/a/_history/1' }],
  ['a withdrawal beside a consent that does not apply', [consentFacts(bookingConsent({ status: 'inactive' }), 'a'), consentFacts(bookingConsent({ actors: [{ type: 'gp' }] }), 'b')], OCEAN, { kind: 'withdrawn', consent: 'Consent/a/_history/1' }],
  ['a refusal that does not apply does not override a permit', [consentFacts(bookingConsent(), 'a'), consentFacts(bookingConsent({ type: 'deny', actors: [{ type: 'gp' }] }), 'b')], OCEAN, { kind: 'permit', consent: 'Consent/a/_history/1' }],
  ['a carried consent counts as the mother’s', [consentFacts(bookingConsent(), 'a', 3, 'Patient/mother-a')], OCEAN, { kind: 'permit', consent: 'Consent/a/_history/3' }],

  // Who recorded it (DESIGN.md section 10): a permit counts only from an organisation the flow takes consent from; a "no" from anyone.
  ['a permit from a recorder the flow does not take consent from is ignored, whatever organization the Consent names', [consentFacts(bookingConsent(), 'c', 1, undefined, recorderOf('E09000999-EH'))], MATERNITY_ONLY, { kind: 'none', ignored: [{ consent: REF, recorderType: 'early-help' }] }],
  ['a permit from an entitled recorder counts', [consentFacts(bookingConsent(), 'c', 1, undefined, recorderOf('R9M'))], MATERNITY_ONLY, permit],
  ['an ignored permit beside a withdrawal is named with it', [consentFacts(bookingConsent({ status: 'inactive' }), 'a'), consentFacts(bookingConsent(), 'c', 1, undefined, recorderOf('Y90001'))], MATERNITY_ONLY, { kind: 'withdrawn', consent: 'Consent/a/_history/1', ignored: [{ consent: REF, recorderType: 'gp' }] }],
  ['a deny from any recorder counts', [consentFacts(bookingConsent(), 'a'), consentFacts(bookingConsent({ type: 'deny' }), 'c', 1, undefined, recorderOf('E09000999-EH'))], MATERNITY_ONLY, deny],
  ['a refusal (rejected) from any recorder counts', [consentFacts(bookingConsent(), 'a'), consentFacts(cafConsentOf(false, [], [], 'mother-a'), 'c', 1, undefined, recorderOf('CC-OCEAN'))], MATERNITY_ONLY, deny],
  ['a withdrawal from any recorder counts when nothing permits', [consentFacts(bookingConsent({ status: 'inactive' }), 'c', 1, undefined, recorderOf('Y90002'))], MATERNITY_ONLY, withdrawn],
];

describe('answerConsents', () => {
  it.each(rows)('%s', (_name, consents, question, expected) => {
    expect(answerConsents(consents, question)).toEqual(expected);
  });

  it('reads the consents without changing them', () => {
    const consents = [consentFacts(bookingConsent({ nested: [{ type: 'deny', actor: [actor({ code: 'CC-IOD' })] }] }), 'a')];
    const before = JSON.stringify(consents);
    answerConsents(consents, OCEAN);
    answerConsents(consents, IOD);
    expect(JSON.stringify(consents)).toBe(before);
  });
});
