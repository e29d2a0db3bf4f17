import type { Consent, ConsentProvision, ConsentProvisionActor, Reference } from 'fhir/r4.js';
import type { CafConsent, OrganisationType } from './caf-schema.js';
import { HUB_CODES, HUB_IDS } from './codes.js';

// The family's consent decision recorded in a CAF, as the same Consent shape
// the maternity booking sends (scope patient-privacy, the ISP as policy,
// actors named by organisation type), so one decision function reads both.
// See: https://hl7.org/fhir/R4/consent.html

export const CAF_CONSENT_SYSTEM = `${HUB_IDS}/caf-consent`;
export const ORGANISATION_TYPE_SYSTEM = 'urn:eastside:organisation-type';
export const PURPOSE_OF_USE_SYSTEM = `${HUB_CODES}/purpose-of-use`;
export const ISP_POLICY = 'urn:isp:eastside-early-years-isp';

const ORGANISATION_TYPE_NAMES: Readonly<Record<OrganisationType, string>> = {
  maternity: 'Maternity services',
  gp: 'GP practices',
  'health-visiting': 'Health visiting teams',
  'childrens-centre': "Children's centres",
  'early-help': 'Early help teams',
  'hub-operator': 'Hub operator',
};

/** A kind of recipient, as the booking Consent names it: an information recipient (IRCP) Group by organisation type. */
function recipient(type: OrganisationType): ConsentProvisionActor {
  return {
    role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
    reference: { type: 'Group', identifier: { system: ORGANISATION_TYPE_SYSTEM, value: type }, display: ORGANISATION_TYPE_NAMES[type] },
  };
}

/**
 * Given: a permit for early help, to the agencies ticked, with a nested deny
 * for each agency the family excluded (a deny inside a permit wins for those
 * actors). Not given: "rejected" with a deny that names no actor, so it
 * applies to everyone: the record is kept, and authorises nothing.
 * See: https://hl7.org/fhir/R4/consent.html#provision
 */
function provision(consent: CafConsent): ConsentProvision {
  const period = { start: consent.date };
  if (!consent.given) return { type: 'deny', period };
  return {
    type: 'permit',
    period,
    actor: consent.shareWith.map(recipient),
    purpose: [{ system: PURPOSE_OF_USE_SYSTEM, code: 'early-help' }],
    provision: consent.doNotShareWith.length === 0 ? undefined : consent.doNotShareWith.map((type) => ({ type: 'deny', actor: [recipient(type)] })),
  };
}

/** The consent as the sender recorded it: `recorder` is the sending organisation (its word counts only for flows that take consent from its type). */
export function cafConsent(reference: string, recorder: { system: string; value: string }, consent: CafConsent, patient: Reference, performer: Reference | undefined): Consent {
  const statement = consent.statement?.trim();
  return {
    resourceType: 'Consent',
    // One Consent per assessment: a later revision's decision is a new version of it.
    identifier: [{ system: CAF_CONSENT_SYSTEM, value: reference }],
    status: consent.given ? 'active' : 'rejected',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    // LOINC 59284-0 from the R4 consent-category value set, and INFA as the booking Consent carries it.
    category: [
      { coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] },
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'INFA' }] },
    ],
    patient,
    dateTime: consent.date,
    performer: performer === undefined ? undefined : [performer],
    organization: [{ identifier: { ...recorder } }],
    // The words the family agreed to, kept with the decision.
    sourceAttachment: statement === undefined || statement === '' ? undefined : { contentType: 'text/plain', title: statement },
    policy: [{ uri: ISP_POLICY }],
    provision: provision(consent),
  };
}
