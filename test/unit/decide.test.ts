import { describe, expect, it, test } from 'vitest';
import { CAF_QUESTIONNAIRE } from '../../src/adapters/caf-questionnaire.js';
import { decide, type DecisionInput } from '../../src/decision/decide.js';
import { DENY_REASONS, type Decision, type DenyReason } from '../../src/decision/decision-types.js';
import {
  BABY_ID,
  BIRTH_PLACE,
  CAUGHT_UP,
  ISP_ID,
  MOTHER_ID,
  NOW,
  PARENTAL_RESPONSIBILITY,
  VACCINATION_PROCEDURE,
  birthWeight,
  bloodPressure,
  bookingConsent,
  cafCarePlan,
  cafConsentOf,
  cafResponse,
  child,
  consentFacts,
  demoDocument,
  demoProtocol,
  eddObservation,
  followUpTask,
  immunization,
  input,
  loadedProtocol,
  mother,
  parent,
  pregnancy,
  record,
  recorderOf,
  requester,
  strangerRequester,
  subject,
  withBadSignature,
  withoutSignature,
} from '../support/decision-world.js';

// The disclosure decision, case by case: the story in the shared fixtures
// README, then every reason a disclosure can be denied and every flow of the
// demo ISP as a permit. Inputs are built in memory (no files of signatures).

type Expected =
  | { effect: 'deny'; reason: DenyReason; consent?: string; flow?: string; detail?: string }
  | { effect: 'permit'; basis: 'public' | 'originator' }
  | {
      effect: 'permit';
      basis: 'flow';
      flow: string;
      protocol?: string;
      consent?: string;
      items: readonly string[];
      elements: readonly string[];
      override?: string;
    };

const withFocus = (task: ReturnType<typeof followUpTask>, focus: string): ReturnType<typeof followUpTask> => ({ ...task, focus: { reference: focus } });
const denied = (reason: DenyReason, more: { consent?: string; flow?: string; detail?: string } = {}): Expected => ({ effect: 'deny', reason, ...more });
const permitted = (flow: string, items: readonly string[], elements: readonly string[], more: { consent?: string; override?: string; protocol?: string } = {}): Expected => ({
  effect: 'permit',
  basis: 'flow',
  flow,
  items,
  elements,
  ...more,
});

// Element paths (after the type name) each data item carries, written out from the ISP text.
const MOTHER_CONTACT = ['name', 'address', 'telecom', 'birthDate', 'communication'];
const PREGNANCY_EPISODE = ['status', 'type', 'patient', 'period', 'managingOrganization'];
const PREGNANCY_OBSERVATION = ['status', 'code', 'subject', 'value[x]'];
const CHILD_PATIENT = ['name', 'birthDate', 'gender', 'address'];
const CHILD_RELATED_PERSON = ['patient', 'relationship', 'name'];
const BIRTH_DETAILS_PATIENT = ['multipleBirth[x]', `extension('${BIRTH_PLACE}')`];
const BIRTH_DETAILS_OBSERVATION = ['status', 'code', 'subject', 'effective[x]', 'value[x]'];
const DUE_DATE = 'https://eastside.example/fhir/StructureDefinition/immunisation-due-date';
const MISSED_IMMUNISATION = [
  'status',
  'vaccineCode',
  `extension('${VACCINATION_PROCEDURE}')`,
  `extension('${DUE_DATE}')`,
  `extension('${CAUGHT_UP}')`,
  'protocolApplied.doseNumber[x]',
  'occurrence[x]',
  'patient',
];
const CAF_SUMMARY_RESPONSE = ['questionnaire', 'status', 'subject', 'authored', 'author', "item.item.item.where(linkId.endsWith('.needs'))"];
const CAF_FULL_RESPONSE = ['identifier', 'questionnaire', 'status', 'subject', 'authored', 'author', 'item'];
const CAF_SUMMARY_PLAN = ['status', 'intent', 'title', 'subject', 'period', 'author', 'activity'];
const CAF_FULL_PLAN = ['identifier', 'status', 'intent', 'title', 'subject', 'period', 'author', 'supportingInfo', 'activity'];
const FOLLOW_UP_TASK = ['status', 'businessStatus', 'intent', 'code', 'for', 'focus', 'owner', 'executionPeriod', 'authoredOn', 'lastModified', 'note'];
const CAF_FULL_RELATED_PERSON = [`extension('${PARENTAL_RESPONSIBILITY}')`, 'patient', 'relationship', 'name', 'telecom', 'address'];

// The people of the story, synthetic.
const BOOKING = 'Consent/booking-a/_history/1';
const WITHDRAWN = 'Consent/booking-a/_history/2';
const CAF = 'Consent/caf-a/_history/1';

const amina = mother();
const aminaConsent = consentFacts(bookingConsent());
const aminaFacts = subject(amina, { pregnancies: [pregnancy({ outcome: 'live-birth', baby: BABY_ID })], consents: [aminaConsent] });
const yusuf = child();
const yusufFacts = subject(yusuf, {
  pregnancies: [pregnancy({ outcome: 'live-birth', baby: BABY_ID })],
  consents: [consentFacts(bookingConsent(), 'booking-a', 1, `Patient/${MOTHER_ID}`)],
});

const zofia = mother({ id: 'mother-z', postcode: 'E14 3BD' });
const zofiaRefusal = consentFacts(bookingConsent({ type: 'deny' }, 'mother-z'), 'booking-z');
const zofiaFacts = subject(zofia, { consents: [zofiaRefusal] });

const sarah = mother({ id: 'mother-s', postcode: 'E1W 2AB' });
const stillbirth = pregnancy({ motherId: 'mother-s', outcome: 'stillbirth', baby: 'baby-s', id: 'pregnancy-s' });
const sarahConsent = consentFacts(bookingConsent({}, 'mother-s'), 'booking-s');
const sarahFacts = subject(sarah, { pregnancies: [stillbirth], consents: [sarahConsent] });
const sarahBaby = child({ id: 'baby-s', postcode: 'E1W 2AB' });
const sarahBabyFacts = subject(sarahBaby, {
  pregnancies: [stillbirth],
  consents: [consentFacts(bookingConsent({}, 'mother-s'), 'booking-s', 1, 'Patient/mother-s')],
});

const maya = child({ id: 'child-m', postcode: 'E1 2QE' });
const mayaFacts = subject(maya);
const missed = record(immunization('dna', 'child-m'), 'Y90001');
const refused = record(immunization('refusal', 'child-m'), 'Y90001');

// A child's registration reaches a children's centre for follow-up only with a qualifying missed dose from a GP.
const mayaPatientFromGp = record(maya, 'Y90001', ['maternity', 'gp']);
const objection = consentFacts(
  bookingConsent({ type: 'deny', actors: [{ type: 'childrens-centre' }], purposes: ['immunisation-follow-up'], period: { start: '2026-10-01' } }, 'child-m'),
  'objection-m',
);

const leo = child({ id: 'child-l', birthDate: '2024-02-14' });
const leoConsent = consentFacts(cafConsentOf(true, ['health-visiting', 'gp', 'childrens-centre'], [], 'child-l'), 'caf-a');
const leoFacts = subject(leo, { consents: [leoConsent] });
const leoCaf = record(cafResponse('child-l'), 'E09000999-EH');
const leoPlan = record(cafCarePlan('child-l'), 'E09000999-EH');
const leoParent = record(parent('child-l'), 'E09000999-EH');

// Noor's CAF-compliant review from the health visitors' own system: consent to share with early help only.
const NOOR_CAF = 'Consent/caf-n/_history/1';
// The health visitor recorded the consent in its own CAF (caf-from-health-visiting takes consent recorded by health visiting).
const noorFacts = subject(child({ id: 'child-n', birthDate: '2024-10-01' }), { consents: [consentFacts(cafConsentOf(true, ['early-help'], [], 'child-n'), 'caf-n', 1, undefined, recorderOf('R9H'))] });
const noorCaf = record(cafResponse('child-n'), 'R9H');

// A CAF consent to every agency with a nested deny for children's centres (a permit with an exception).
const chloeLike = subject(child({ id: 'child-c' }), {
  consents: [consentFacts(cafConsentOf(true, ['health-visiting', 'gp', 'childrens-centre'], ['childrens-centre'], 'child-c'), 'caf-a')],
});
// The CAF adapter's own shape when children's centres are excluded: they are simply not named.
const chloe = subject(child({ id: 'child-c' }), {
  consents: [consentFacts(cafConsentOf(true, ['health-visiting', 'gp'], ['childrens-centre'], 'child-c'), 'caf-a')],
});
const ruby = subject(child({ id: 'child-r' }), { consents: [consentFacts(cafConsentOf(false, [], [], 'child-r'), 'caf-a')] });
const rubyCaf = record(cafResponse('child-r'), 'E09000999-EH');

const ocean = (purpose = 'early-years-registration'): ReturnType<typeof requester> => requester('CC-OCEAN', purpose);
const iod = (purpose = 'early-years-registration'): ReturnType<typeof requester> => requester('CC-IOD', purpose);
const hv = (purpose = 'direct-care', reason?: string): ReturnType<typeof requester> => requester('R9H', purpose, reason);

const aminaWith = (...consents: Parameters<typeof consentFacts>[0][]): ReturnType<typeof subject> =>
  subject(amina, { consents: consents.map((c, i) => consentFacts(c, `c-${i}`)) });

const otherProtocol = loadedProtocol({ ...demoDocument(), id: 'another-isp' });

interface Row {
  name: string;
  input: DecisionInput;
  expected: Expected;
}

const rows: Row[] = [
  // 1. Amina books and consents to children's centres.
  { name: 'Ocean gets a consenting E1 mother’s contact details', input: input(ocean(), record(amina), aminaFacts), expected: permitted('booking-to-childrens-centre', ['mother-contact'], MOTHER_CONTACT, { consent: BOOKING }) },
  { name: 'Ocean gets her pregnancy episode', input: input(ocean(), record(pregnancy()), aminaFacts), expected: permitted('booking-to-childrens-centre', ['pregnancy-summary'], PREGNANCY_EPISODE, { consent: BOOKING }) },
  { name: 'Ocean gets her due date', input: input(ocean(), record(eddObservation()), aminaFacts), expected: permitted('booking-to-childrens-centre', ['pregnancy-summary'], PREGNANCY_OBSERVATION, { consent: BOOKING }) },
  { name: 'an observation no data item selects goes nowhere', input: input(ocean(), record(bloodPressure()), aminaFacts), expected: denied('no-flow') },
  { name: 'Isle of Dogs (E14) may not have an E1 mother', input: input(iod(), record(amina), aminaFacts), expected: denied('outside-catchment', { flow: 'booking-to-childrens-centre', detail: 'E1 ' }) },
  { name: 'Isle of Dogs may not have her due date either', input: input(iod(), record(eddObservation()), aminaFacts), expected: denied('outside-catchment', { flow: 'booking-to-childrens-centre' }) },
  { name: 'a mother with no postcode is outside every catchment', input: input(ocean(), record(mother({ postcode: undefined })), subject(mother({ postcode: undefined }), { consents: [aminaConsent] })), expected: denied('outside-catchment', { detail: 'no postcode' }) },
  { name: 'an old address does not count', input: input(ocean(), record(amina), subject({ ...amina, address: [{ use: 'old', postalCode: 'E1 6AN' }, { use: 'home', postalCode: 'E14 3BD' }] }, { consents: [aminaConsent] })), expected: denied('outside-catchment') },
  { name: 'health visiting gets the mother for direct care without consent', input: input(hv(), record(amina), subject(amina)), expected: permitted('booking-to-health-visiting', ['mother-contact'], MOTHER_CONTACT) },
  { name: 'health visiting gets the pregnancy episode', input: input(hv(), record(pregnancy()), subject(amina)), expected: permitted('booking-to-health-visiting', ['pregnancy-summary'], PREGNANCY_EPISODE) },
  { name: 'health visiting asking for early help gets nothing from maternity', input: input(hv('early-help'), record(amina), aminaFacts), expected: denied('purpose-not-permitted') },
  { name: 'Ocean asking for immunisation follow-up gets no booking', input: input(ocean('immunisation-follow-up'), record(amina), aminaFacts), expected: denied('purpose-not-permitted') },

  // 2. Zofia refuses.
  { name: 'a refused booking consent stops Isle of Dogs', input: input(iod(), record(zofia), zofiaFacts), expected: denied('consent-refused', { consent: 'Consent/booking-z/_history/1', flow: 'booking-to-childrens-centre' }) },
  { name: 'a refused booking consent stops her due date too', input: input(iod(), record(eddObservation('mother-z')), zofiaFacts), expected: denied('consent-refused', { consent: 'Consent/booking-z/_history/1' }) },
  { name: 'a refusal does not stop health visiting', input: input(hv(), record(zofia), zofiaFacts), expected: permitted('booking-to-health-visiting', ['mother-contact'], MOTHER_CONTACT) },
  { name: 'a refusal beside a consent: the refusal wins', input: input(ocean(), record(amina), subject(amina, { consents: [aminaConsent, consentFacts(bookingConsent({ type: 'deny' }), 'refusal-a')] })), expected: denied('consent-refused', { consent: 'Consent/refusal-a/_history/1' }) },

  // 3. Sarah's baby is stillborn.
  { name: 'after a stillbirth Ocean gets nothing about the mother', input: input(ocean(), record(sarah), sarahFacts), expected: denied('excluded:pregnancy-loss', { flow: 'booking-to-childrens-centre' }) },
  { name: 'after a stillbirth Ocean gets nothing about the pregnancy', input: input(ocean(), record(stillbirth), sarahFacts), expected: denied('excluded:pregnancy-loss') },
  { name: 'after a stillbirth Ocean gets nothing about the baby', input: input(ocean(), record(sarahBaby), sarahBabyFacts), expected: denied('excluded:pregnancy-loss', { flow: 'birth-to-childrens-centre' }) },
  { name: 'after a miscarriage Ocean gets nothing about the mother', input: input(ocean(), record(sarah), subject(sarah, { pregnancies: [pregnancy({ motherId: 'mother-s', outcome: 'miscarriage' })], consents: [sarahConsent] })), expected: denied('excluded:pregnancy-loss') },
  { name: 'health visiting still supports the bereaved mother', input: input(hv(), record(sarah), sarahFacts), expected: permitted('booking-to-health-visiting', ['mother-contact'], MOTHER_CONTACT) },
  {
    name: 'a later pregnancy after an earlier loss is shared again',
    input: input(ocean(), record(sarah), subject(sarah, { pregnancies: [stillbirth, pregnancy({ motherId: 'mother-s', start: '2027-01-01', id: 'pregnancy-s2' })], consents: [sarahConsent] })),
    expected: permitted('booking-to-childrens-centre', ['mother-contact'], MOTHER_CONTACT, { consent: 'Consent/booking-s/_history/1' }),
  },

  // 4. Yusuf is born; the booking consent carries to him.
  { name: 'Ocean gets the baby’s registration on the carried consent', input: input(ocean(), record(yusuf), yusufFacts), expected: permitted('birth-to-childrens-centre', ['child-registration'], CHILD_PATIENT, { consent: BOOKING }) },
  { name: 'Ocean gets the link to his mother', input: input(ocean(), record(parent()), yusufFacts), expected: permitted('birth-to-childrens-centre', ['child-registration'], CHILD_RELATED_PERSON, { consent: BOOKING }) },
  { name: 'Isle of Dogs does not get an E1 baby', input: input(iod(), record(yusuf), yusufFacts), expected: denied('outside-catchment', { flow: 'birth-to-childrens-centre' }) },
  { name: 'a baby without the carried consent is not registered', input: input(ocean(), record(yusuf), subject(yusuf)), expected: denied('no-consent', { flow: 'birth-to-childrens-centre' }) },
  { name: 'health visiting gets his birth details on his record', input: input(hv(), record(yusuf), subject(yusuf)), expected: permitted('birth-to-health-visiting', ['child-registration', 'birth-details'], [...CHILD_PATIENT, ...BIRTH_DETAILS_PATIENT]) },
  { name: 'health visiting gets his birth weight', input: input(hv(), record(birthWeight()), subject(yusuf)), expected: permitted('birth-to-health-visiting', ['birth-details'], BIRTH_DETAILS_OBSERVATION) },
  { name: 'a children’s centre never gets the birth weight', input: input(ocean(), record(birthWeight()), yusufFacts), expected: denied('no-flow') },
  { name: 'a patient with no birth date is nobody’s child or mother: only birth details reach health visiting', input: input(hv(), record(mother({ birthDate: undefined })), subject(mother({ birthDate: undefined }))), expected: permitted('birth-to-health-visiting', ['birth-details'], BIRTH_DETAILS_PATIENT) },
  { name: 'a patient with no birth date reaches no children’s centre', input: input(ocean(), record(mother({ birthDate: undefined })), subject(mother({ birthDate: undefined }), { consents: [aminaConsent] })), expected: denied('no-flow') },

  // 7. Amina withdraws.
  { name: 'a withdrawn booking consent stops Ocean', input: input(ocean(), record(amina), subject(amina, { consents: [consentFacts(bookingConsent({ status: 'inactive' }), 'booking-a', 2)] })), expected: denied('consent-withdrawn', { consent: WITHDRAWN, flow: 'booking-to-childrens-centre' }) },
  { name: 'the withdrawal carries to the baby', input: input(ocean(), record(yusuf), subject(yusuf, { consents: [consentFacts(bookingConsent({ status: 'inactive' }), 'booking-a', 2, `Patient/${MOTHER_ID}`)] })), expected: denied('consent-withdrawn', { consent: WITHDRAWN }) },
  { name: 'a withdrawal does not stop health visiting', input: input(hv(), record(amina), subject(amina, { consents: [consentFacts(bookingConsent({ status: 'inactive' }), 'booking-a', 2)] })), expected: permitted('booking-to-health-visiting', ['mother-contact'], MOTHER_CONTACT) },
  { name: 'a standing consent outweighs an older withdrawn one', input: input(ocean(), record(amina), subject(amina, { consents: [consentFacts(bookingConsent({ status: 'inactive' }), 'old-a', 2), aminaConsent] })), expected: permitted('booking-to-childrens-centre', ['mother-contact'], MOTHER_CONTACT, { consent: BOOKING }) },

  // Consents that do not cover the disclosure.
  { name: 'no consent at all on a consent-required flow', input: input(ocean(), record(amina), subject(amina)), expected: denied('no-consent', { flow: 'booking-to-childrens-centre' }) },
  { name: 'a consent whose period has ended', input: input(ocean(), record(amina), aminaWith(bookingConsent({ period: { start: '2026-03-02', end: '2026-10-01' } }))), expected: denied('no-consent') },
  { name: 'a consent whose period has not begun', input: input(ocean(), record(amina), aminaWith(bookingConsent({ period: { start: '2027-01-01' } }))), expected: denied('no-consent') },
  { name: 'a consent naming another ISP is ignored', input: input(ocean(), record(amina), aminaWith(bookingConsent({ policy: ['urn:isp:another-isp'] }))), expected: denied('no-consent') },
  { name: 'a refusal naming another ISP is ignored too', input: input(ocean(), record(amina), subject(amina, { consents: [aminaConsent, consentFacts(bookingConsent({ type: 'deny', policy: ['urn:isp:another-isp'] }), 'other-a')] })), expected: permitted('booking-to-childrens-centre', ['mother-contact'], MOTHER_CONTACT, { consent: BOOKING }) },
  { name: 'a consent for another purpose', input: input(ocean(), record(amina), aminaWith(bookingConsent({ purposes: ['early-help'] }))), expected: denied('no-consent') },
  { name: 'a consent to health visiting only', input: input(ocean(), record(amina), aminaWith(bookingConsent({ actors: [{ type: 'health-visiting' }] }))), expected: denied('no-consent') },
  { name: 'a consent naming Ocean by code', input: input(ocean(), record(amina), subject(amina, { consents: [consentFacts(bookingConsent({ actors: [{ code: 'CC-OCEAN' }] }))] })), expected: permitted('booking-to-childrens-centre', ['mother-contact'], MOTHER_CONTACT, { consent: BOOKING }) },
  { name: 'a consent naming Ocean does not cover Isle of Dogs', input: input(iod(), record(zofia), subject(zofia, { consents: [consentFacts(bookingConsent({ actors: [{ code: 'CC-OCEAN' }] }, 'mother-z'))] })), expected: denied('no-consent') },
  { name: 'a consent for another resource class', input: input(ocean(), record(amina), aminaWith(bookingConsent({ classes: ['Observation'] }))), expected: denied('no-consent') },
  { name: 'a consent that is not a privacy consent', input: input(ocean(), record(amina), aminaWith(bookingConsent({ scope: 'research' }))), expected: denied('no-consent') },
  { name: 'a draft consent', input: input(ocean(), record(amina), aminaWith(bookingConsent({ status: 'draft' }))), expected: denied('no-consent') },
  { name: 'a consent entered in error', input: input(ocean(), record(amina), aminaWith(bookingConsent({ status: 'entered-in-error' }))), expected: denied('no-consent') },

  // 5. Maya misses a dose; Ibrahim's parents refuse one.
  { name: 'Ocean sees a missed dose, without its reason', input: input(ocean('immunisation-follow-up'), missed, mayaFacts), expected: permitted('missed-imms-to-childrens-centre', ['missed-immunisation'], MISSED_IMMUNISATION) },
  { name: 'the other did-not-attend code counts too', input: input(ocean('immunisation-follow-up'), record(immunization('dna-2', 'child-m'), 'Y90001'), mayaFacts), expected: permitted('missed-imms-to-childrens-centre', ['missed-immunisation'], MISSED_IMMUNISATION) },
  { name: 'health visiting sees the missed dose with its reason', input: input(hv(), missed, mayaFacts), expected: permitted('missed-imms-to-health-visiting', ['missed-immunisation', 'missed-immunisation-reason'], [...MISSED_IMMUNISATION, 'statusReason']) },
  { name: 'health visiting may follow it up too', input: input(hv('immunisation-follow-up'), missed, mayaFacts), expected: permitted('missed-imms-to-health-visiting', ['missed-immunisation', 'missed-immunisation-reason'], [...MISSED_IMMUNISATION, 'statusReason']) },
  { name: 'a refusal never goes to a children’s centre', input: input(ocean('immunisation-follow-up'), refused, mayaFacts), expected: denied('where-not-met', { flow: 'missed-imms-to-childrens-centre' }) },
  { name: 'a refusal goes to health visiting with its reason', input: input(hv(), refused, mayaFacts), expected: permitted('missed-imms-to-health-visiting', ['missed-immunisation', 'missed-immunisation-reason'], [...MISSED_IMMUNISATION, 'statusReason']) },
  { name: 'a reason given only as text does not qualify', input: input(ocean('immunisation-follow-up'), record(immunization('text-reason', 'child-m'), 'Y90001'), mayaFacts), expected: denied('where-not-met') },
  { name: 'the did-not-attend code in another code system does not qualify', input: input(ocean('immunisation-follow-up'), record(immunization('dna-wrong-system', 'child-m'), 'Y90001'), mayaFacts), expected: denied('where-not-met') },
  { name: 'the catch-up dose given is no missed dose for a children’s centre', input: input(ocean('immunisation-follow-up'), record(immunization('given', 'child-m'), 'Y90001'), mayaFacts), expected: denied('where-not-met') },
  { name: 'Isle of Dogs does not see an E1 child’s missed dose', input: input(iod('immunisation-follow-up'), missed, mayaFacts), expected: denied('outside-catchment', { flow: 'missed-imms-to-childrens-centre' }) },
  { name: 'Isle of Dogs sees an E14 child’s missed dose', input: input(iod('immunisation-follow-up'), missed, subject(child({ id: 'child-m', postcode: 'E14 3BD' }))), expected: permitted('missed-imms-to-childrens-centre', ['missed-immunisation'], MISSED_IMMUNISATION) },
  { name: 'a missed dose asked for as registration', input: input(ocean(), missed, mayaFacts), expected: denied('purpose-not-permitted') },
  { name: 'a missed dose of a six-year-old is no early-years record', input: input(ocean('immunisation-follow-up'), missed, subject(child({ id: 'child-m', birthDate: '2020-11-22' }))), expected: denied('no-flow') },
  { name: 'a missed dose of a child six tomorrow still is', input: input(ocean('immunisation-follow-up'), missed, subject(child({ id: 'child-m', birthDate: '2020-11-23' }))), expected: permitted('missed-imms-to-childrens-centre', ['missed-immunisation'], MISSED_IMMUNISATION) },
  {
    name: 'the child’s registration goes with a qualifying missed dose from a GP',
    input: input(ocean('immunisation-follow-up'), mayaPatientFromGp, subject(maya, { records: [missed] })),
    expected: permitted('missed-imms-to-childrens-centre', ['child-registration'], CHILD_PATIENT),
  },
  { name: 'the child’s registration does not go with a refusal', input: input(ocean('immunisation-follow-up'), mayaPatientFromGp, subject(maya, { records: [refused] })), expected: denied('where-not-met') },
  { name: 'the child’s registration does not go on its own', input: input(ocean('immunisation-follow-up'), mayaPatientFromGp, mayaFacts), expected: denied('where-not-met') },
  { name: 'a missed dose that did not come from a GP does not carry the registration', input: input(ocean('immunisation-follow-up'), mayaPatientFromGp, subject(maya, { records: [record(immunization('dna', 'child-m'), 'R9M')] })), expected: denied('where-not-met') },
  { name: 'an objection stops the missed dose going to a children’s centre', input: input(ocean('immunisation-follow-up'), missed, subject(maya, { consents: [objection] })), expected: denied('objection', { consent: 'Consent/objection-m/_history/1', flow: 'missed-imms-to-childrens-centre' }) },
  { name: 'an objection does not stop health visiting', input: input(hv(), missed, subject(maya, { consents: [objection] })), expected: permitted('missed-imms-to-health-visiting', ['missed-immunisation', 'missed-immunisation-reason'], [...MISSED_IMMUNISATION, 'statusReason']) },
  {
    name: 'an objection that was withdrawn stops nothing',
    input: input(ocean('immunisation-follow-up'), missed, subject(maya, { consents: [{ ...objection, consent: { ...objection.consent, status: 'inactive' } }] })),
    expected: permitted('missed-imms-to-childrens-centre', ['missed-immunisation'], MISSED_IMMUNISATION),
  },
  {
    name: 'a withdrawn consent is not an objection: a missed dose still goes',
    input: input(ocean('immunisation-follow-up'), missed, subject(maya, { consents: [consentFacts(bookingConsent({ status: 'inactive', purposes: ['immunisation-follow-up'] }, 'child-m'), 'imms-m', 2)] })),
    expected: permitted('missed-imms-to-childrens-centre', ['missed-immunisation'], MISSED_IMMUNISATION),
  },
  {
    name: 'an explicit consent on an objection-stops flow is cited',
    // Recorded by the GP, the flow's source.
    input: input(ocean('immunisation-follow-up'), missed, subject(maya, { consents: [consentFacts(bookingConsent({ purposes: ['immunisation-follow-up'] }, 'child-m'), 'imms-m', 1, undefined, recorderOf('Y90001'))] })),
    expected: permitted('missed-imms-to-childrens-centre', ['missed-immunisation'], MISSED_IMMUNISATION, { consent: 'Consent/imms-m/_history/1' }),
  },

  // 6. The CAFs.
  { name: 'a CAF with consent reaches health visiting in full', input: input(hv('early-help'), leoCaf, leoFacts), expected: permitted('caf-to-health', ['caf-full'], CAF_FULL_RESPONSE, { consent: CAF }) },
  { name: 'a CAF with consent reaches the GP in full', input: input(requester('Y90001', 'early-help'), leoCaf, leoFacts), expected: permitted('caf-to-health', ['caf-full'], CAF_FULL_RESPONSE, { consent: CAF }) },
  { name: 'the action plan reaches the GP in full', input: input(requester('Y90002', 'early-help'), leoPlan, leoFacts), expected: permitted('caf-to-health', ['caf-full'], CAF_FULL_PLAN, { consent: CAF }) },
  { name: 'the parents reach health visiting', input: input(hv('early-help'), leoParent, leoFacts), expected: permitted('caf-to-health', ['child-registration', 'caf-full'], [...CHILD_RELATED_PERSON, ...CAF_FULL_RELATED_PERSON], { consent: CAF }) },
  { name: 'a CAF reaches Isle of Dogs as a summary (no catchment for early help)', input: input(iod('early-help'), leoCaf, leoFacts), expected: permitted('caf-to-childrens-centre', ['caf-summary'], CAF_SUMMARY_RESPONSE, { consent: CAF }) },
  { name: 'the action plan reaches Ocean as a summary', input: input(ocean('early-help'), leoPlan, leoFacts), expected: permitted('caf-to-childrens-centre', ['caf-summary'], CAF_SUMMARY_PLAN, { consent: CAF }) },
  { name: 'the child reaches a children’s centre as registration with the CAF', input: input(ocean('early-help'), record(leo, 'E09000999-EH'), leoFacts), expected: permitted('caf-to-childrens-centre', ['child-registration'], CHILD_PATIENT, { consent: CAF }) },
  { name: 'a CAF asked for as direct care', input: input(hv(), leoCaf, leoFacts), expected: denied('purpose-not-permitted') },
  { name: 'a nested deny for children’s centres refuses Ocean', input: input(ocean('early-help'), record(cafResponse('child-c'), 'E09000999-EH'), chloeLike), expected: denied('consent-refused', { consent: CAF, flow: 'caf-to-childrens-centre' }) },
  { name: 'the nested deny leaves health visiting in full', input: input(hv('early-help'), record(cafResponse('child-c'), 'E09000999-EH'), chloeLike), expected: permitted('caf-to-health', ['caf-full'], CAF_FULL_RESPONSE, { consent: CAF }) },
  { name: 'the nested deny leaves the GP', input: input(requester('Y90001', 'early-help'), record(cafResponse('child-c'), 'E09000999-EH'), chloeLike), expected: permitted('caf-to-health', ['caf-full'], CAF_FULL_RESPONSE, { consent: CAF }) },
  { name: 'children’s centres the family excluded from the CAF consent are refused', input: input(ocean('early-help'), record(cafResponse('child-c'), 'E09000999-EH'), chloe), expected: denied('consent-refused', { consent: CAF, flow: 'caf-to-childrens-centre' }) },
  { name: 'a CAF without consent does not reach health visiting', input: input(hv('early-help'), rubyCaf, ruby), expected: denied('consent-refused', { consent: CAF, flow: 'caf-to-health' }) },
  { name: 'a CAF without consent does not reach the GP', input: input(requester('Y90001', 'early-help'), rubyCaf, ruby), expected: denied('consent-refused', { consent: CAF }) },
  { name: 'a CAF without consent does not reach a children’s centre', input: input(ocean('early-help'), rubyCaf, ruby), expected: denied('consent-refused', { consent: CAF, flow: 'caf-to-childrens-centre' }) },
  { name: 'a safeguarding override needs a reason', input: input(hv('safeguarding'), rubyCaf, ruby), expected: denied('override-reason-required', { flow: 'safeguarding' }) },
  { name: 'a blank reason is no reason', input: input(hv('safeguarding', '   '), rubyCaf, ruby), expected: denied('override-reason-required') },
  { name: 'a safeguarding override with a reason is allowed and flagged', input: input(hv('safeguarding', ' Concern raised at home visit '), rubyCaf, ruby), expected: permitted('safeguarding', ['caf-full'], CAF_FULL_RESPONSE, { override: 'Concern raised at home visit' }) },
  { name: 'early help may invoke the override for a missed dose', input: input(requester('E09000999-EH', 'safeguarding', 'Referral received'), missed, mayaFacts), expected: permitted('safeguarding', ['missed-immunisation', 'missed-immunisation-reason'], [...MISSED_IMMUNISATION, 'statusReason'], { override: 'Referral received' }) },
  { name: 'a children’s centre cannot invoke the override', input: input(requester('CC-OCEAN', 'safeguarding', 'Worried'), missed, mayaFacts), expected: denied('purpose-not-permitted') },
  { name: 'early help asking for early help gets nothing from maternity', input: input(requester('E09000999-EH', 'early-help'), record(amina), aminaFacts), expected: denied('purpose-not-permitted') },

  // Protocol version 4: a health visitor's CAF for early help, and the hub's follow-up work.
  { name: 'a health visitor’s CAF reaches early help in full', input: input(requester('E09000999-EH', 'early-help'), noorCaf, noorFacts), expected: permitted('caf-from-health-visiting', ['caf-full'], CAF_FULL_RESPONSE, { consent: NOOR_CAF }) },
  { name: 'a health visitor’s CAF does not reach a children’s centre', input: input(ocean('early-help'), noorCaf, noorFacts), expected: denied('no-flow') },
  { name: 'a follow-up Task reaches Ocean for a child in its catchment', input: input(ocean('immunisation-follow-up'), record(followUpTask('child-m', 'CC-OCEAN'), 'EYHUB'), mayaFacts), expected: permitted('follow-up-to-childrens-centre', ['follow-up'], FOLLOW_UP_TASK) },
  { name: 'a follow-up Task does not reach Isle of Dogs for an E1 child', input: input(iod('immunisation-follow-up'), record(followUpTask('child-m', 'CC-OCEAN'), 'EYHUB'), mayaFacts), expected: denied('outside-catchment', { flow: 'follow-up-to-childrens-centre' }) },
  { name: 'a follow-up Task reaches the health visitors', input: input(hv('immunisation-follow-up'), record(followUpTask('child-m', 'R9H'), 'EYHUB'), mayaFacts), expected: permitted('follow-up-to-health-visiting', ['follow-up'], FOLLOW_UP_TASK) },
  {
    name: 'a follow-up Task about a record Ocean may not see (a refusal) does not reach Ocean',
    input: input(ocean('immunisation-follow-up'), { ...record(withFocus(followUpTask('child-m', 'R9H'), 'Immunization/refused-m'), 'EYHUB'), focusDisclosed: false }, mayaFacts),
    expected: denied('focus-not-disclosed', { flow: 'follow-up-to-childrens-centre' }),
  },
  {
    name: 'a follow-up Task about a missed appointment Ocean may see reaches Ocean',
    input: input(ocean('immunisation-follow-up'), { ...record(withFocus(followUpTask('child-m', 'CC-OCEAN'), 'Immunization/dna-m'), 'EYHUB'), focusDisclosed: true }, mayaFacts),
    expected: permitted('follow-up-to-childrens-centre', ['follow-up'], FOLLOW_UP_TASK),
  },
  { name: 'an exception report reaches maternity', input: input(requester('R9M', 'direct-care'), record(followUpTask('mother-z', 'R9M'), 'EYHUB'), zofiaFacts), expected: permitted('exception-to-maternity', ['follow-up'], FOLLOW_UP_TASK) },

  // Restricted records.
  { name: 'a restricted mother is kept from children’s centres', input: input(ocean(), record(mother({ restricted: true })), subject(mother({ restricted: true }), { consents: [aminaConsent] })), expected: denied('excluded:restricted-record', { flow: 'booking-to-childrens-centre' }) },
  { name: 'her due date too', input: input(ocean(), record(eddObservation()), subject(mother({ restricted: true }), { consents: [aminaConsent] })), expected: denied('excluded:restricted-record') },
  {
    name: 'a restricted record of an unrestricted mother',
    input: input(ocean(), record({ ...pregnancy(), meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'V' }] } }), aminaFacts),
    expected: denied('excluded:restricted-record'),
  },
  { name: 'a restricted child’s missed dose', input: input(ocean('immunisation-follow-up'), missed, subject(child({ id: 'child-m', restricted: true }))), expected: denied('excluded:restricted-record', { flow: 'missed-imms-to-childrens-centre' }) },
  { name: 'restriction does not stop direct care', input: input(hv(), record(mother({ restricted: true })), subject(mother({ restricted: true }))), expected: permitted('booking-to-health-visiting', ['mother-contact'], MOTHER_CONTACT) },

  // Who may ask at all.
  { name: 'an organisation of an unknown type', input: input(strangerRequester('direct-care'), record(amina), aminaFacts), expected: denied('no-flow') },
  { name: 'maternity: no flow comes back to it', input: input(requester('R9M', 'direct-care'), missed, mayaFacts), expected: denied('no-flow') },
  { name: 'a GP: no flow from maternity', input: input(requester('Y90002', 'direct-care'), record(amina), aminaFacts), expected: denied('no-flow') },
  { name: 'the hub operator: no flow at all', input: input(requester('EYHUB', 'audit'), record(amina), aminaFacts), expected: denied('no-flow') },
  { name: 'a Consent is carried by no data item', input: input(hv(), record(bookingConsent()), aminaFacts), expected: denied('no-flow') },
  { name: 'another GP’s record', input: input(requester('Y90002', 'direct-care'), missed, mayaFacts), expected: denied('no-flow') },
  { name: 'a CAF naming no patient the hub holds', input: input(hv('early-help'), record(cafResponse(undefined), 'E09000999-EH'), undefined), expected: denied('no-subject', { flow: 'caf-to-health' }) },
  { name: 'an override without a reason is asked for before the subject', input: input(hv('safeguarding'), record(cafResponse(undefined), 'E09000999-EH'), undefined), expected: denied('override-reason-required') },
  { name: 'an override with a reason still needs a subject', input: input(hv('safeguarding', 'Concern'), record(cafResponse(undefined), 'E09000999-EH'), undefined), expected: denied('no-subject') },
  { name: 'a child-only record of an unknown subject matches no item', input: input(ocean('immunisation-follow-up'), missed, undefined), expected: denied('no-flow') },

  // The protocol's standing.
  { name: 'one party’s signature does not verify', input: input(ocean(), record(amina), aminaFacts, [withBadSignature(demoProtocol(), 'CC-IOD')]), expected: denied('protocol-not-in-force', { flow: 'booking-to-childrens-centre', detail: 'CC-IOD' }) },
  { name: 'one party has not signed', input: input(hv(), record(amina), aminaFacts, [withoutSignature(demoProtocol(), 'Y90002')]), expected: denied('protocol-not-in-force', { detail: 'signature of Y90002: missing' }) },
  { name: 'before the protocol’s period', input: input(hv(), record(amina), aminaFacts, undefined, new Date('2025-12-31T23:59:59Z')), expected: denied('protocol-not-in-force', { detail: 'starts on 2026-01-01' }) },
  { name: 'on its first day', input: input(hv(), record(amina), aminaFacts, undefined, new Date('2026-01-01T00:00:00Z')), expected: permitted('booking-to-health-visiting', ['mother-contact'], MOTHER_CONTACT) },
  { name: 'after the protocol’s period', input: input(hv(), record(amina), aminaFacts, undefined, new Date('2029-01-01T00:00:00Z')), expected: denied('protocol-not-in-force', { detail: 'ended on 2028-12-31' }) },
  { name: 'a protocol out of force denies even where another permits', input: input(hv(), record(amina), aminaFacts, [otherProtocol, withBadSignature(demoProtocol(), 'R9M')]), expected: denied('protocol-not-in-force', { detail: 'R9M' }) },
  { name: 'a second protocol in force permits under the first that does', input: input(hv(), record(amina), aminaFacts, [otherProtocol, demoProtocol()]), expected: permitted('booking-to-health-visiting', ['mother-contact'], MOTHER_CONTACT, { protocol: 'another-isp' }) },
  { name: 'no protocol at all', input: input(hv(), record(amina), aminaFacts, []), expected: denied('no-flow') },
  { name: 'out of force, but no flow would carry the record anyway', input: input(ocean(), record(birthWeight()), yusufFacts, [withBadSignature(demoProtocol(), 'R9H')]), expected: denied('no-flow') },

  // Consent only from those entitled to record it (DESIGN.md section 10): anyone may narrow, only the flow's recorders may permit.
  { name: 'a permit early help recorded does not open a maternity flow', input: input(ocean(), record(amina), subject(amina, { consents: [consentFacts(bookingConsent(), 'forged', 1, undefined, recorderOf('E09000999-EH'))] })), expected: denied('no-consent', { flow: 'booking-to-childrens-centre', detail: 'Consent/forged/_history/1 ignored: recorded by early-help, flow booking-to-childrens-centre takes consent recorded by maternity' }) },
  { name: 'a permit a GP recorded does not outweigh maternity’s withdrawal', input: input(ocean(), record(amina), subject(amina, { consents: [consentFacts(bookingConsent({ status: 'inactive' })), consentFacts(bookingConsent(), 'gp-permit', 1, undefined, recorderOf('Y90001'))] })), expected: denied('consent-withdrawn', { flow: 'booking-to-childrens-centre', consent: 'Consent/booking-a/_history/1', detail: 'Consent/gp-permit/_history/1 ignored: recorded by gp' }) },
  { name: 'a permit the children’s centre recorded itself is ignored', input: input(ocean(), record(amina), subject(amina, { consents: [consentFacts(bookingConsent(), 'self', 1, undefined, recorderOf('CC-OCEAN'))] })), expected: denied('no-consent', { flow: 'booking-to-childrens-centre', detail: 'recorded by childrens-centre' }) },
  { name: 'a refusal early help recorded stops a maternity flow at once', input: input(ocean(), record(amina), subject(amina, { consents: [aminaConsent, consentFacts(bookingConsent({ type: 'deny' }), 'eh-refusal', 1, undefined, recorderOf('E09000999-EH'))] })), expected: denied('consent-refused', { flow: 'booking-to-childrens-centre', consent: 'Consent/eh-refusal/_history/1' }) },
  { name: 'a rejected consent any party recorded stops a maternity flow', input: input(ocean(), record(amina), subject(amina, { consents: [aminaConsent, consentFacts(bookingConsent({ status: 'rejected' }), 'gp-rejected', 1, undefined, recorderOf('Y90001'))] })), expected: denied('consent-refused', { flow: 'booking-to-childrens-centre', consent: 'Consent/gp-rejected/_history/1' }) },
  { name: 'an objection the health visitor recorded stops a GP flow', input: input(ocean('immunisation-follow-up'), missed, subject(maya, { consents: [consentFacts(bookingConsent({ type: 'deny', purposes: ['immunisation-follow-up'] }, 'child-m'), 'hv-objection', 1, undefined, recorderOf('R9H'))] })), expected: denied('objection', { flow: 'missed-imms-to-childrens-centre', consent: 'Consent/hv-objection/_history/1' }) },
  { name: 'a permit maternity recorded beside one early help recorded still permits', input: input(ocean(), record(amina), subject(amina, { consents: [consentFacts(bookingConsent(), 'forged', 1, undefined, recorderOf('E09000999-EH')), aminaConsent] })), expected: permitted('booking-to-childrens-centre', ['mother-contact'], MOTHER_CONTACT, { consent: 'Consent/booking-a/_history/1' }) },

  // Not disclosures.
  { name: 'an organisation reads back what it wrote', input: input(requester('R9M', 'direct-care'), record(amina), aminaFacts), expected: { effect: 'permit', basis: 'originator' } },
  { name: 'a record another organisation has written to is no longer read back as one’s own', input: input(requester('R9M', 'direct-care'), { ...record(amina), alsoWrittenBy: ['Y90001'] }, aminaFacts), expected: denied('no-flow') },
  { name: 'a GP reads back its own missed dose, protocol or not', input: input(requester('Y90001', 'direct-care'), missed, mayaFacts, []), expected: { effect: 'permit', basis: 'originator' } },
  { name: 'the CAF Questionnaire is public', input: input(strangerRequester('audit'), record(CAF_QUESTIONNAIRE, 'EYHUB'), undefined, []), expected: { effect: 'permit', basis: 'public' } },
];

function check(decision: Decision, expected: Expected): void {
  expect(decision.effect).toBe(expected.effect);
  if (expected.effect === 'deny') {
    if (decision.effect !== 'deny') return;
    expect(decision.reason).toBe(expected.reason);
    expect(decision.consent).toBe(expected.consent);
    if (expected.flow !== undefined) expect(decision.flow?.flow).toBe(expected.flow);
    if (expected.detail !== undefined) expect(decision.detail).toContain(expected.detail);
    expect(decision.detail.length).toBeGreaterThan(0);
    return;
  }
  if (decision.effect !== 'permit') return;
  expect(decision.basis).toBe(expected.basis);
  if (expected.basis !== 'flow' || decision.basis !== 'flow') return;
  expect(decision.flow).toEqual({ protocol: expected.protocol ?? ISP_ID, version: 4, flow: expected.flow });
  expect(decision.consent).toBe(expected.consent);
  expect(decision.override).toBe(expected.override);
  expect(decision.items).toEqual(expected.items);
  expect([...decision.elements].sort()).toEqual([...new Set(expected.elements)].sort());
}

describe('decide', () => {
  test.each(rows.map((row) => [row.name, row] as const))('%s', (_name, row) => {
    check(decide(row.input), row.expected);
  });

  it('has at least 60 cases', () => {
    expect(rows.length).toBeGreaterThanOrEqual(60);
  });

  it('uses every deny reason in the table', () => {
    const used = new Set(rows.flatMap((r) => (r.expected.effect === 'deny' ? [r.expected.reason] : [])));
    expect([...used].sort()).toEqual([...DENY_REASONS].sort());
  });

  it('permits under every flow of the demo ISP in the table', () => {
    const used = new Set(rows.flatMap((r) => (r.expected.effect === 'permit' && r.expected.basis === 'flow' ? [r.expected.flow] : [])));
    expect([...used].sort()).toEqual(demoProtocol().flows.map((f) => f.id).sort());
  });

  it('missed-dose elements for a children’s centre never include the reason', () => {
    const decision = decide(input(ocean('immunisation-follow-up'), missed, mayaFacts));
    expect(decision.effect === 'permit' && decision.basis === 'flow' && decision.elements).not.toContain('statusReason');
  });

  it('reads the clock only through `now`', () => {
    expect(decide(input(hv(), record(amina), aminaFacts, undefined, NOW))).toEqual(decide(input(hv(), record(amina), aminaFacts, undefined, new Date(NOW))));
  });
});
