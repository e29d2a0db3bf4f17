import type {
  CarePlan,
  Consent,
  ConsentProvision,
  EpisodeOfCare,
  Extension,
  Immunization,
  Observation,
  Patient,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  RelatedPerson,
  Resource,
  Task,
} from 'fhir/r4.js';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { cafConsent } from '../../src/adapters/caf-consent.js';
import { CAF_QUESTIONNAIRE_CANONICAL } from '../../src/adapters/caf-questionnaire.js';
import type { OrganisationType as CafOrganisationType } from '../../src/adapters/caf-schema.js';
import type { ConsentFacts, RecordFacts, Requester, SubjectFacts } from '../../src/decision/decision-types.js';
import type { DecisionInput } from '../../src/decision/decide.js';
import { demoClients, demoOrganisations } from '../../src/demo/world.js';
import { compileFlows, protocolSchema, type LoadedProtocol, type ProtocolDocument } from '../../src/protocol/protocol-schema.js';
import { nhsNumber } from './resources.js';

// Builders for the disclosure decision's inputs: the demo protocol (parsed and
// compiled, every signature taken as valid, no files of signatures or keys),
// requesters for the demo organisations, and the records and Consents in the
// shapes the hub stores them. Synthetic people only.

/** "Today" in the story (shared fixtures README). */
export const NOW = new Date('2026-11-22T10:00:00Z');
export const ISP_ID = 'eastside-early-years-isp';
export const ISP_POLICY = `urn:isp:${ISP_ID}`;
export const ORGANISATION_TYPE_SYSTEM = 'urn:eastside:organisation-type';
export const LOCAL_ORG_SYSTEM = 'urn:eastside:org';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
export const PURPOSE_SYSTEM = 'https://eastside.example/fhir/CodeSystem/purpose-of-use';
export const HUB_EXTENSIONS = 'https://eastside.example/fhir/StructureDefinition';
export const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
export const SNOMED = 'http://snomed.info/sct';
/** "Did not attend child immunisation". */
export const DNA_CODE = '201741000000102';
/** The other did-not-attend code the missed-imms flow's `where` lists. */
export const DNA_CODE_2 = '281399006';
/** "Immunisation consent not given" (the refusal in the GP batch fixture). */
export const REFUSAL_CODE = '310376006';
export const VACCINATION_PROCEDURE = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure';
export const CAUGHT_UP = `${HUB_EXTENSIONS}/missed-dose-caught-up`;
export const BIRTH_PLACE = 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace';
export const PARENTAL_RESPONSIBILITY = `${HUB_EXTENSIONS}/parental-responsibility`;

const policyFile = new URL('../../policies/early-years-isp.yaml', import.meta.url);

/** The protocol document as the partners wrote it (a fresh copy each call, to edit freely). */
export function demoDocument(): ProtocolDocument {
  return protocolSchema.parse(parse(readFileSync(policyFile, 'utf8')));
}

/** A document as the hub holds it once loaded, with every party's signature valid unless overridden. */
export function loadedProtocol(doc: ProtocolDocument, overrides: Partial<LoadedProtocol> = {}): LoadedProtocol {
  return {
    id: doc.id,
    version: doc.version,
    title: doc.title,
    period: { ...doc.period },
    reviewDate: doc.reviewDate,
    parties: [...doc.parties],
    flows: compileFlows(doc),
    sources: doc.sources,
    signatures: doc.parties.map((party) => ({ party, valid: true })),
    digest: '0'.repeat(64),
    source: 'early-years-isp.yaml',
    ...overrides,
  };
}

let cached: ProtocolDocument | undefined;

/** The demo ISP, in force on NOW (every signature valid), with any field overridden. */
export function demoProtocol(overrides: Partial<LoadedProtocol> = {}): LoadedProtocol {
  cached ??= demoDocument();
  return loadedProtocol(cached, overrides);
}

/** The demo ISP with one party's signature failing. */
export function withBadSignature(protocol: LoadedProtocol, party: string, problem = 'does not verify'): LoadedProtocol {
  return { ...protocol, signatures: protocol.signatures.map((s) => (s.party === party ? { party, valid: false, problem } : s)) };
}

/** The demo ISP with one party's signature absent. */
export function withoutSignature(protocol: LoadedProtocol, party: string): LoadedProtocol {
  return { ...protocol, signatures: protocol.signatures.filter((s) => s.party !== party) };
}

// ---------------------------------------------------------------- requesters

export type OrgCode = 'R9M' | 'Y90001' | 'Y90002' | 'R9H' | 'E09000999-EH' | 'CC-OCEAN' | 'CC-IOD' | 'EYHUB';
export const ORG_CODES: readonly OrgCode[] = ['R9M', 'Y90001', 'Y90002', 'R9H', 'E09000999-EH', 'CC-OCEAN', 'CC-IOD', 'EYHUB'];

/** A demo organisation's client, asking for `purpose`. */
export function requester(code: OrgCode, purpose: string, overrideReason?: string): Requester {
  const org = demoOrganisations.find((o) => o.code === code);
  if (org === undefined) throw new Error(`no demo organisation ${code}`);
  const client = demoClients.find((c) => c.organisation === code);
  return {
    organisationCode: org.code,
    organisationType: org.type,
    catchment: org.catchment,
    clientId: client?.id ?? code.toLowerCase(),
    purpose,
    ...(overrideReason === undefined ? {} : { overrideReason }),
  };
}

/** An organisation of a type no protocol knows. */
export function strangerRequester(purpose: string): Requester {
  return { organisationCode: 'XX-PHARM', organisationType: 'pharmacy', catchment: ['E1'], clientId: 'stranger', purpose };
}

// ---------------------------------------------------------------- people

export const MOTHER_ID = 'mother-a';
export const BABY_ID = 'baby-a';

const homeAddress = (postcode: string | undefined): Patient['address'] =>
  postcode === undefined ? undefined : [{ use: 'home', line: ['1 Synthetic Street'], city: 'London', postalCode: postcode }];

/** A mother aged about 30 (born 1996). */
export function mother(opts: { id?: string; postcode?: string | undefined; restricted?: boolean; birthDate?: string | undefined } = {}): Patient {
  const postcode = 'postcode' in opts ? opts.postcode : 'E1 6AN';
  const birthDate = 'birthDate' in opts ? opts.birthDate : '1996-04-10';
  return {
    resourceType: 'Patient',
    id: opts.id ?? MOTHER_ID,
    ...(opts.restricted === true ? { meta: { security: [{ system: CONFIDENTIALITY, code: 'R' }] } } : {}),
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhsNumber(700) }],
    name: [{ use: 'official', family: 'Testmother', given: ['Synthetic'] }],
    gender: 'female',
    ...(birthDate === undefined ? {} : { birthDate }),
    telecom: [{ system: 'phone', value: '07700 900001', use: 'mobile' }],
    address: homeAddress(postcode),
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en' }] }, preferred: true }],
  };
}

/** A baby born 2026-09-25 (under six on NOW). */
export function child(opts: { id?: string; postcode?: string | undefined; restricted?: boolean; birthDate?: string } = {}): Patient {
  const postcode = 'postcode' in opts ? opts.postcode : 'E1 6AN';
  return {
    resourceType: 'Patient',
    id: opts.id ?? BABY_ID,
    ...(opts.restricted === true ? { meta: { security: [{ system: CONFIDENTIALITY, code: 'R' }] } } : {}),
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhsNumber(800) }],
    name: [{ use: 'official', family: 'Testbaby', given: ['Synthetic'] }],
    gender: 'male',
    birthDate: opts.birthDate ?? '2026-09-25',
    multipleBirthBoolean: false,
    extension: [{ url: BIRTH_PLACE, valueAddress: { city: 'London' } }],
    address: homeAddress(postcode),
  };
}

// ---------------------------------------------------------------- records

/** A stored record, written by `writer` (its type is the source type unless `sourceTypes` says more). */
export function record(resource: Resource, writer: string = 'R9M', sourceTypes?: readonly string[]): RecordFacts {
  const org = demoOrganisations.find((o) => o.code === writer);
  return { resource, writer, sourceTypes: sourceTypes ?? (org === undefined ? [] : [org.type]) };
}

export type PregnancyOutcome = 'live-birth' | 'stillbirth' | 'miscarriage';

/** A pregnancy EpisodeOfCare with the hub's outcome and baby extensions. */
export function pregnancy(opts: { motherId?: string; outcome?: PregnancyOutcome; baby?: string; start?: string; id?: string } = {}): EpisodeOfCare {
  const extension: Extension[] = [];
  if (opts.outcome !== undefined) extension.push({ url: `${HUB_EXTENSIONS}/pregnancy-outcome`, valueCode: opts.outcome });
  if (opts.baby !== undefined) extension.push({ url: `${HUB_EXTENSIONS}/pregnancy-baby`, valueReference: { reference: `Patient/${opts.baby}` } });
  return {
    resourceType: 'EpisodeOfCare',
    id: opts.id ?? 'pregnancy-a',
    ...(extension.length === 0 ? {} : { extension }),
    identifier: [{ system: 'https://eastside.example/fhir/Id/northgate-pregnancy', value: 'NG-PREG-TEST-0001' }],
    status: opts.outcome === undefined ? 'active' : 'finished',
    type: [{ coding: [{ system: SNOMED, code: '77386006', display: 'Pregnancy' }] }],
    patient: { reference: `Patient/${opts.motherId ?? MOTHER_ID}` },
    managingOrganization: { identifier: { system: ODS_SYSTEM, value: 'R9M' } },
    period: { start: opts.start ?? '2026-03-02' },
  };
}

/** The estimated delivery date (LOINC 11778-8). */
export function eddObservation(subjectId = MOTHER_ID): Observation {
  return {
    resourceType: 'Observation',
    id: 'edd-a',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '11778-8', display: 'Delivery date Estimated' }] },
    subject: { reference: `Patient/${subjectId}` },
    effectiveDateTime: '2026-03-02T10:05:00+00:00',
    valueDateTime: '2026-09-28',
  };
}

/** Birth weight (SNOMED 364589006), one of the birth details. */
export function birthWeight(subjectId = BABY_ID): Observation {
  return {
    resourceType: 'Observation',
    id: 'birth-weight-a',
    status: 'final',
    code: { coding: [{ system: SNOMED, code: '364589006', display: 'Birth weight' }] },
    subject: { reference: `Patient/${subjectId}` },
    effectiveDateTime: '2026-09-25T08:10:00+00:00',
    valueQuantity: { value: 3400, unit: 'g', system: 'http://unitsofmeasure.org', code: 'g' },
  };
}

/** An observation no data item selects (blood pressure). */
export function bloodPressure(subjectId = MOTHER_ID): Observation {
  return {
    resourceType: 'Observation',
    id: 'bp-a',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' }] },
    subject: { reference: `Patient/${subjectId}` },
    effectiveDateTime: '2026-06-01T09:00:00+00:00',
  };
}

export type ImmunisationKind = 'dna' | 'dna-2' | 'refusal' | 'text-reason' | 'dna-wrong-system' | 'given';

/** A 6-in-1 dose as the GP adapters store it: missed (did not attend), refused, or given. */
export function immunization(kind: ImmunisationKind, patientId = BABY_ID): Immunization {
  const reason: Immunization['statusReason'] = (() => {
    switch (kind) {
      case 'dna':
        return { coding: [{ system: SNOMED, code: DNA_CODE, display: 'Did not attend child immunisation' }] };
      case 'dna-2':
        return { coding: [{ system: SNOMED, code: DNA_CODE_2 }] };
      case 'refusal':
        return { coding: [{ system: SNOMED, code: REFUSAL_CODE, display: 'Immunisation consent not given' }] };
      case 'text-reason':
        return { text: 'Did not attend' };
      case 'dna-wrong-system':
        return { coding: [{ system: 'http://read.info/ctv3', code: DNA_CODE }] };
      case 'given':
        return undefined;
    }
  })();
  return {
    resourceType: 'Immunization',
    id: `imm-${kind}`,
    extension: [
      { url: VACCINATION_PROCEDURE, valueCodeableConcept: { coding: [{ system: SNOMED, code: '1082441000000108', display: 'Third 6-in-1 dose' }] } },
      { url: `${HUB_EXTENSIONS}/immunisation-due-date`, valueDate: '2026-11-01' },
    ],
    identifier: [{ system: 'https://eastside.example/fhir/Id/hl7v2-order/Y90001', value: `ORD-${kind}` }],
    status: kind === 'given' ? 'completed' : 'not-done',
    ...(reason === undefined ? {} : { statusReason: reason }),
    vaccineCode: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' }] },
    patient: { reference: `Patient/${patientId}` },
    occurrenceDateTime: '2026-11-01',
    primarySource: true,
    protocolApplied: [{ series: '6-in-1', doseNumberPositiveInt: 3 }],
  };
}

/** A CAF assessment as the CAF adapter stores it (domains → elements → strengths/needs). */
export function cafResponse(subjectId: string | undefined = BABY_ID): QuestionnaireResponse {
  const part = (domain: string, element: string, which: 'strengths' | 'needs', text: string): QuestionnaireResponseItem => ({
    linkId: `${domain}.${element}.${which}`,
    answer: [{ valueString: text }],
  });
  return {
    resourceType: 'QuestionnaireResponse',
    id: 'caf-a',
    identifier: { system: 'https://eastside.example/fhir/Id/caf-assessment', value: 'CAF-TEST-0001' },
    questionnaire: CAF_QUESTIONNAIRE_CANONICAL,
    status: 'completed',
    ...(subjectId === undefined ? {} : { subject: { reference: `Patient/${subjectId}` } }),
    authored: '2026-10-20',
    author: { reference: 'Practitioner/lead-a' },
    item: [
      { linkId: 'reason-for-assessment', answer: [{ valueString: 'Synthetic reason' }] },
      {
        linkId: 'development',
        item: [
          {
            linkId: 'development.general-health',
            item: [part('development', 'general-health', 'strengths', 'Synthetic strength'), part('development', 'general-health', 'needs', 'Synthetic need')],
          },
        ],
      },
      {
        linkId: 'familyAndEnvironment',
        item: [{ linkId: 'familyAndEnvironment.wider-family', item: [part('familyAndEnvironment', 'wider-family', 'strengths', 'Synthetic support')] }],
      },
      { linkId: 'parent-views', answer: [{ valueString: 'Synthetic view' }] },
    ],
  };
}

/** The CAF's action plan. */
export function cafCarePlan(subjectId = BABY_ID): CarePlan {
  return {
    resourceType: 'CarePlan',
    id: 'caf-plan-a',
    identifier: [{ system: 'https://eastside.example/fhir/Id/caf-action-plan', value: 'CAF-TEST-0001' }],
    status: 'active',
    intent: 'plan',
    title: 'Early help action plan',
    subject: { reference: `Patient/${subjectId}` },
    period: { start: '2026-10-20', end: '2027-01-20' },
    author: { reference: 'Practitioner/lead-a' },
    supportingInfo: [{ reference: 'QuestionnaireResponse/caf-a' }],
    activity: [{ detail: { status: 'not-started', description: 'Synthetic action' } }],
  };
}

/** A parent as the CAF adapter stores them (with parental responsibility). */
export function parent(patientId = BABY_ID): RelatedPerson {
  return {
    resourceType: 'RelatedPerson',
    id: 'parent-a',
    extension: [{ url: PARENTAL_RESPONSIBILITY, valueBoolean: true }],
    identifier: [{ system: 'https://eastside.example/fhir/Id/related-person-key', value: 'key-a' }],
    active: true,
    patient: { reference: `Patient/${patientId}` },
    relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'MTH', display: 'mother' }], text: 'mother' }],
    name: [{ use: 'official', family: 'Testmother', given: ['Synthetic'] }],
    telecom: [{ system: 'phone', value: '07700 900001' }],
    address: [{ postalCode: 'E1 6AN' }],
  };
}

// ---------------------------------------------------------------- consents

const IRCP = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] };

export type Actor = { type: string } | { code: string; system?: string };

export function actor(a: Actor): NonNullable<ConsentProvision['actor']>[number] {
  return 'type' in a
    ? { role: IRCP, reference: { type: 'Group', identifier: { system: ORGANISATION_TYPE_SYSTEM, value: a.type } } }
    : { role: IRCP, reference: { type: 'Organization', identifier: { system: a.system ?? LOCAL_ORG_SYSTEM, value: a.code } } };
}

export interface BookingConsentOptions {
  status?: Consent['status'];
  type?: 'permit' | 'deny';
  actors?: readonly Actor[];
  purposes?: readonly string[];
  period?: { start?: string; end?: string };
  policy?: readonly string[];
  scope?: string;
  nested?: ConsentProvision[];
  classes?: readonly string[];
}

/** A booking Consent in the shape the maternity message carries (booking-consent-given.json / -refused.json). */
export function bookingConsent(opts: BookingConsentOptions = {}, patientId = MOTHER_ID): Consent {
  return {
    resourceType: 'Consent',
    status: opts.status ?? 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: opts.scope ?? 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'INFA' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: '2026-03-02T10:20:00+00:00',
    performer: [{ reference: `Patient/${patientId}` }],
    organization: [{ identifier: { system: ODS_SYSTEM, value: 'R9M' } }],
    policy: (opts.policy ?? [ISP_POLICY]).map((uri) => ({ uri })),
    provision: {
      type: opts.type ?? 'permit',
      period: opts.period ?? { start: '2026-03-02', end: '2031-09-28' },
      actor: (opts.actors ?? [{ type: 'childrens-centre' }]).map(actor),
      purpose: (opts.purposes ?? ['early-years-registration']).map((code) => ({ system: PURPOSE_SYSTEM, code })),
      ...(opts.classes === undefined ? {} : { class: opts.classes.map((code) => ({ system: 'http://hl7.org/fhir/resource-types', code })) }),
      ...(opts.nested === undefined ? {} : { provision: opts.nested }),
    },
  };
}

/** A CAF consent as the CAF adapter builds it: given (with agencies) or not given (rejected). */
export function cafConsentOf(
  given: boolean,
  shareWith: readonly CafOrganisationType[] = [],
  doNotShareWith: readonly CafOrganisationType[] = [],
  patientId = BABY_ID,
): Consent {
  return cafConsent(
    'CAF-TEST-0001',
    { system: 'urn:eastside:org', value: 'E09000999-EH' },
    { given, date: '2026-10-20', shareWith: [...shareWith], doNotShareWith: [...doNotShareWith], ...(given ? { givenBy: { name: 'Synthetic Parent' } } : {}) },
    { reference: `Patient/${patientId}` },
    undefined,
  );
}

/** Follow-up work the hub raises (R4 workflow Task), owned by an organisation, for a patient. */
export function followUpTask(patientId: string, ownerCode: string): Task {
  return {
    resourceType: 'Task',
    id: `task-${patientId}-${ownerCode.toLowerCase()}`,
    status: 'requested',
    intent: 'order',
    code: { text: 'Follow up a missed immunisation' },
    for: { reference: `Patient/${patientId}` },
    owner: { identifier: { system: LOCAL_ORG_SYSTEM, value: ownerCode } },
    requester: { identifier: { system: LOCAL_ORG_SYSTEM, value: 'EYHUB' } },
    authoredOn: '2026-11-20',
    executionPeriod: { start: '2026-11-20' },
    note: [{ text: 'raised by the hub' }],
  };
}

/** The organisation that recorded a Consent, as the hub's registry knows it. */
export type Recorder = ConsentFacts['recorder'];

/**
 * A stored Consent. Its recorder defaults to the organisation that records
 * consents of its kind in the demo: maternity for a booking consent (which
 * names R9M), early help for a CAF consent (which names the council), the
 * organisation the Consent names otherwise. The decision never reads those
 * fields itself: only the recorder counts.
 */
export function consentFacts(consent: Consent, id = 'booking-a', version = 1, carriedFrom?: string, recorder?: Recorder): ConsentFacts {
  return { reference: `Consent/${id}/_history/${version}`, consent, ...(carriedFrom === undefined ? {} : { carriedFrom }), recorder: recorder ?? defaultRecorder(consent) };
}

export function recorderOf(code: OrgCode): Recorder {
  const org = demoOrganisations.find((o) => o.code === code);
  if (org === undefined) throw new Error(`no demo organisation ${code}`);
  return { organisationCode: org.code, organisationType: org.type };
}

function defaultRecorder(consent: Consent): Recorder {
  const named = consent.organization?.[0]?.identifier?.value;
  const org = demoOrganisations.find((o) => o.code === named);
  return org === undefined ? recorderOf('R9M') : { organisationCode: org.code, organisationType: org.type };
}

// ---------------------------------------------------------------- subjects and inputs

export function subject(patient: Patient, facts: Partial<Omit<SubjectFacts, 'patient'>> = {}): SubjectFacts {
  return { patient, pregnancies: facts.pregnancies ?? [], consents: facts.consents ?? [], records: facts.records ?? [] };
}

export function input(
  who: Requester,
  what: RecordFacts,
  about: SubjectFacts | undefined,
  protocols: readonly LoadedProtocol[] = [demoProtocol()],
  now: Date = NOW,
): DecisionInput {
  return { requester: who, record: what, subject: about, protocols, now };
}
