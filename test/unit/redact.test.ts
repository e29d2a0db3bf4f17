import fc from 'fast-check';
import type { Immunization, Patient, QuestionnaireResponse, Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decision/decide.js';
import { REDACTED_LABEL, SUBSETTED_TAG, redact } from '../../src/decision/redact.js';
import { ELEMENT_PATH } from '../../src/protocol/protocol-schema.js';
import {
  BIRTH_PLACE,
  CAUGHT_UP,
  PURPOSE_SYSTEM,
  VACCINATION_PROCEDURE,
  cafResponse,
  child,
  immunization,
  input,
  record,
  requester,
  subject,
} from '../support/decision-world.js';

// Redaction is an allow-list projection: only the listed elements leave the
// hub, labelled so the recipient knows the record is a subset.
// See: https://hl7.org/fhir/R4/security-labels.html

const PROFILE = 'https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient';
const purposeLabel = (code: string): { system: string; code: string } => ({ system: PURPOSE_SYSTEM, code });

/** Object.freeze all the way down: a write anywhere in the input throws. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Everything but meta (where the labels go). */
const data = (r: Resource): Record<string, unknown> => {
  const { meta: _meta, ...rest } = r;
  return rest;
};

function patient(): Patient {
  return {
    resourceType: 'Patient',
    id: 'p-1',
    meta: { versionId: '3', profile: [PROFILE], security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HTEST' }] },
    identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9990000018' }],
    name: [{ family: 'Testbaby', given: ['Synthetic'] }, { family: 'Alias' }],
    birthDate: '2026-09-25',
    _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '2026-09-25T08:10:00+00:00' }] },
    gender: 'male',
    telecom: [{ system: 'phone', value: '07700 900002' }],
    multipleBirthInteger: 2,
    extension: [
      { url: BIRTH_PLACE, valueAddress: { city: 'London' } },
      { url: 'https://eastside.example/fhir/StructureDefinition/other', valueString: 'kept back' },
    ],
  };
}

describe('redact', () => {
  it('keeps only the listed elements, with the extension sibling of a listed primitive', () => {
    const out = redact(patient(), ['name', 'birthDate'], 'early-years-registration');
    expect(data(out)).toEqual({ resourceType: 'Patient', id: 'p-1', name: patient().name, birthDate: '2026-09-25', _birthDate: patient()._birthDate });
  });

  it('labels a subset REDACTED and SUBSETTED, drops the profile it no longer meets, keeps the rest of meta', () => {
    const out = redact(patient(), ['name'], 'early-years-registration');
    expect(out.meta).toEqual({
      versionId: '3',
      security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HTEST' }, REDACTED_LABEL, purposeLabel('early-years-registration')],
      tag: [SUBSETTED_TAG],
    });
  });

  it('adds only the purpose when nothing was left out', () => {
    const whole = patient();
    const elements = ['identifier', 'name', 'birthDate', 'gender', 'telecom', 'multipleBirth[x]', 'extension'];
    const out = redact(whole, elements, 'direct-care');
    expect(data(out)).toEqual(data(whole));
    expect(out.meta).toEqual({ ...whole.meta, security: [...(whole.meta?.security ?? []), purposeLabel('direct-care')] });
  });

  it('adds a meta with the purpose to a record that had none, and keeps a missing id missing', () => {
    const out = redact({ resourceType: 'Patient', gender: 'female' }, ['gender'], 'direct-care');
    expect(out).toEqual({ resourceType: 'Patient', meta: { security: [purposeLabel('direct-care')] }, gender: 'female' });
  });

  it('keeps resourceType, id and meta when nothing listed is present', () => {
    const out = redact(patient(), ['communication'], 'direct-care');
    expect(Object.keys(out).sort()).toEqual(['id', 'meta', 'resourceType']);
    expect(out.meta?.tag).toEqual([SUBSETTED_TAG]);
  });

  it('keeps a choice element in whichever type it has, with its primitive extension', () => {
    const imm = { ...immunization('dna'), _occurrenceDateTime: { id: 'due' } } as Immunization;
    expect(data(redact(imm, ['occurrence[x]'], 'direct-care'))).toEqual({ resourceType: 'Immunization', id: 'imm-dna', occurrenceDateTime: '2026-11-01', _occurrenceDateTime: { id: 'due' } });
    const asText: Immunization = { ...immunization('dna'), occurrenceDateTime: undefined, occurrenceString: 'November' };
    delete asText.occurrenceDateTime;
    expect(redact(asText, ['occurrence[x]'], 'direct-care')).toMatchObject({ occurrenceString: 'November' });
    expect(redact(patient(), ['multipleBirth[x]'], 'direct-care')).toMatchObject({ multipleBirthInteger: 2 });
  });

  it('keeps a nested element of each entry, and drops entries without it', () => {
    const imm: Immunization = { ...immunization('dna'), protocolApplied: [{ series: '6-in-1', doseNumberPositiveInt: 3, targetDisease: [{ text: 'x' }] }, { doseNumberString: 'booster' }, { series: 'none' }] };
    expect(redact(imm, ['protocolApplied.doseNumber[x]'], 'direct-care').protocolApplied).toEqual([{ doseNumberPositiveInt: 3 }, { doseNumberString: 'booster' }]);
    expect(redact(patient(), ['name.given'], 'direct-care').name).toEqual([{ given: ['Synthetic'] }]);
  });

  it("extension('url') keeps only that extension; two such paths keep both", () => {
    expect(redact(patient(), [`extension('${BIRTH_PLACE}')`], 'direct-care').extension).toEqual([{ url: BIRTH_PLACE, valueAddress: { city: 'London' } }]);
    const imm: Immunization = { ...immunization('dna'), extension: [...(immunization('dna').extension ?? []), { url: CAUGHT_UP, valueBoolean: false }] };
    const kept = redact(imm, [`extension('${VACCINATION_PROCEDURE}')`, `extension('${CAUGHT_UP}')`], 'immunisation-follow-up').extension;
    expect(kept?.map((e) => e.url)).toEqual([VACCINATION_PROCEDURE, CAUGHT_UP]);
    expect(redact(patient(), ["extension('https://nowhere.example/x')"], 'direct-care').extension).toBeUndefined();
  });

  it('keeps the needs of each domain, with their parents’ linkIds, and nothing else of the CAF', () => {
    const caf = cafResponse();
    const out = redact(caf, ['status', "item.item.item.where(linkId.endsWith('.needs'))"], 'early-help');
    expect(out.item).toEqual([
      { linkId: 'development', item: [{ linkId: 'development.general-health', item: [{ linkId: 'development.general-health.needs', answer: [{ valueString: 'Synthetic need' }] }] }] },
    ]);
    expect(out.status).toBe('completed');
    expect(out.identifier).toBeUndefined();
  });

  // Found by the property below: two paths to one array concatenated what each kept.
  it('keeps an entry two paths reach once, in its place, and does not call that a redaction', () => {
    const basic = { resourceType: 'Basic', extension: [{ url: 'https://a.example/u2', valueString: 'b' }, { url: 'https://a.example/u1', valueString: 'a' }] } as Resource;
    for (const elements of [
      ["extension('https://a.example/u1')", "extension('https://a.example/u2')"],
      ['extension', "extension('https://a.example/u2')"],
    ]) {
      const out = redact(basic, elements, 'direct-care');
      expect(data(out)).toEqual(data(basic));
      expect(out.meta).toEqual({ security: [purposeLabel('direct-care')] });
    }
    const caf = cafResponse();
    expect(redact(caf, ['item', "item.where(linkId.endsWith('.needs'))"], 'early-help').item).toEqual(caf.item);
  });

  it('keeps what either of two paths into one element keeps', () => {
    const obs = { resourceType: 'Observation', valueQuantity: { value: 3400, unit: 'g', code: 'g' }, status: 'final' } as Resource;
    expect(redact(obs, ['valueQuantity.value', 'valueQuantity.unit'], 'direct-care')).toMatchObject({ valueQuantity: { value: 3400, unit: 'g' } });
    expect(redact(obs, ['valueQuantity.value', 'value[x]'], 'direct-care')).toMatchObject({ valueQuantity: { value: 3400, unit: 'g', code: 'g' } });
  });

  it('keeps the whole answer tree when `item` is listed', () => {
    const caf = cafResponse();
    expect(redact(caf, ['item'], 'early-help').item).toEqual(caf.item);
  });

  it('never changes its input', () => {
    const frozen = deepFreeze(patient());
    const copy = structuredClone(frozen);
    redact(frozen, ['name', 'birthDate', `extension('${BIRTH_PLACE}')`], 'direct-care');
    redact(frozen, ['identifier', 'name', 'birthDate', 'gender', 'telecom', 'multipleBirth[x]', 'extension'], 'direct-care');
    expect(frozen).toEqual(copy);
    const caf = deepFreeze(cafResponse());
    redact(caf, ["item.item.item.where(linkId.endsWith('.needs'))"], 'early-help');
    expect(caf).toEqual(cafResponse());
  });

  it('with the elements decide gives: a children’s centre never sees why a dose was missed; health visiting does', () => {
    const missed = record(immunization('dna'), 'Y90001');
    const about = subject(child());
    const toCentre = decide(input(requester('CC-OCEAN', 'immunisation-follow-up'), missed, about));
    const toHv = decide(input(requester('R9H', 'direct-care'), missed, about));
    if (toCentre.effect !== 'permit' || toCentre.basis !== 'flow' || toHv.effect !== 'permit' || toHv.basis !== 'flow') throw new Error('expected two flow permits');
    const centre = redact(missed.resource as Immunization, toCentre.elements, 'immunisation-follow-up');
    expect(centre.statusReason).toBeUndefined();
    expect(centre.identifier).toBeUndefined();
    expect(centre.extension?.map((e) => e.url)).toEqual([VACCINATION_PROCEDURE, 'https://eastside.example/fhir/StructureDefinition/immunisation-due-date']);
    expect(centre).toMatchObject({ status: 'not-done', occurrenceDateTime: '2026-11-01', protocolApplied: [{ doseNumberPositiveInt: 3 }] });
    expect(redact(missed.resource as Immunization, toHv.elements, 'direct-care').statusReason).toEqual((missed.resource as Immunization).statusReason);
  });

  it('the CAF summary a children’s centre receives holds the needs only', () => {
    const caf: QuestionnaireResponse = cafResponse();
    const summary = redact(caf, ['questionnaire', 'status', 'subject', 'authored', 'author', "item.item.item.where(linkId.endsWith('.needs'))"], 'early-help');
    expect(JSON.stringify(summary)).not.toContain('Synthetic strength');
    expect(JSON.stringify(summary)).not.toContain('Synthetic reason');
    expect(JSON.stringify(summary)).toContain('Synthetic need');
  });
});

// ---------------------------------------------------------------- properties

const URLS = ['https://a.example/u1', 'https://a.example/u2'];
const PLAIN_KEYS = ['name', 'given', 'status', 'birthDate', '_birthDate', 'valueString', '_valueString', 'valueQuantity', 'code', 'text', 'linkId', 'answer'];

const leafArb = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean(), fc.constant(null));

const { node: nodeArb } = fc.letrec<{ node: unknown; object: Record<string, unknown>; array: unknown[] }>((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, leafArb, tie('object'), tie('array')),
  object: fc.dictionary(fc.constantFrom(...PLAIN_KEYS), tie('node'), { maxKeys: 4 }),
  array: fc.array(tie('node'), { maxLength: 3 }),
}));

const extensionsArb = fc.array(fc.record({ url: fc.constantFrom(...URLS), valueString: fc.string({ maxLength: 3 }) }), { maxLength: 3 });

interface Item {
  linkId: string;
  answer?: { valueString: string }[];
  item?: Item[];
}
const { items: itemsArb } = fc.letrec<{ items: Item[] }>((tie) => ({
  items: fc.oneof(
    { depthSize: 'small' },
    fc.constant<Item[]>([]),
    fc.array(
      fc.record(
        {
          linkId: fc.constantFrom('d.needs', 'd.strengths', 'd', 'e.needs'),
          answer: fc.array(fc.record({ valueString: fc.string({ maxLength: 3 }) }), { minLength: 1, maxLength: 2 }),
          item: tie('items'),
        },
        { requiredKeys: ['linkId'] },
      ),
      { maxLength: 3 },
    ),
  ),
}));

const resourceArb: fc.Arbitrary<Resource> = fc
  .record({
    id: fc.option(fc.constantFrom('r-1', 'r-2'), { nil: undefined }),
    meta: fc.constantFrom<Resource['meta']>(undefined, { versionId: '1' }, { versionId: '1', profile: ['https://example.org/p'] }, { profile: ['https://example.org/p'] }),
    plain: fc.dictionary(fc.constantFrom(...PLAIN_KEYS), nodeArb, { maxKeys: 5 }),
    special: fc.record({ extension: extensionsArb, item: itemsArb }, { requiredKeys: [] }),
  })
  .map(({ id, meta, plain, special }) => ({ ...plain, ...special, resourceType: 'Basic', ...(id === undefined ? {} : { id }), ...(meta === undefined ? {} : { meta }) }));

const SEGMENTS = [
  ...PLAIN_KEYS.filter((k) => !k.startsWith('_')),
  'item',
  'extension',
  'value[x]',
  ...URLS.map((u) => `extension('${u}')`),
  "item.where(linkId.endsWith('.needs'))",
  "item.where(linkId.endsWith('s'))",
];
const pathArb = fc
  .array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 })
  .map((s) => s.join('.'))
  .filter((p) => ELEMENT_PATH.test(`Basic.${p}`));
const elementsArb = fc.uniqueArray(pathArb, { maxLength: 5 });

/** Every leaf of a JSON value as "path=value", array positions ignored (a projection may drop entries). */
function leaves(value: unknown, path = '', out: string[] = []): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) out.push(`${path}=[]`);
    for (const v of value) leaves(v, `${path}[]`, out);
  } else if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) out.push(`${path}={}`);
    for (const [k, v] of entries) leaves(v, `${path}.${k}`, out);
  } else {
    out.push(`${path}=${JSON.stringify(value)}`);
  }
  return out;
}

/** The leaves of `part` that `whole` does not have as many times. */
function invented(part: unknown, whole: unknown): string[] {
  const counts = new Map<string, number>();
  for (const l of leaves(whole)) counts.set(l, (counts.get(l) ?? 0) + 1);
  const extra: string[] = [];
  for (const l of leaves(part)) {
    const n = counts.get(l) ?? 0;
    if (n === 0) extra.push(l);
    else counts.set(l, n - 1);
  }
  return extra;
}

const isLabel = (c: { code?: string }): boolean => c.code === 'REDACTED' || c.code === 'SUBSETTED';

describe('redact: properties', () => {
  it('never invents data: every leaf of the output is a leaf of the input, no more often', () => {
    fc.assert(
      fc.property(resourceArb, elementsArb, (resource, elements) => {
        const out = redact(deepFreeze(resource), elements, 'direct-care');
        expect(invented(data(out), data(resource))).toEqual([]);
        expect(out.resourceType).toBe(resource.resourceType);
        expect(out.id).toBe(resource.id);
      }),
      { numRuns: 500 },
    );
  });

  it('labels a record REDACTED and SUBSETTED exactly when something was left out, and always with the purpose', () => {
    fc.assert(
      fc.property(resourceArb, elementsArb, (resource, elements) => {
        const out = redact(resource, elements, 'early-help');
        const removed = invented(data(resource), data(out)).length > 0;
        expect((out.meta?.security ?? []).some(isLabel)).toBe(removed);
        expect((out.meta?.tag ?? []).some(isLabel)).toBe(removed);
        expect(out.meta?.security?.at(-1)).toEqual(purposeLabel('early-help'));
        if (removed) expect(out.meta?.profile).toBeUndefined();
        else expect(out.meta?.profile).toEqual(resource.meta?.profile);
      }),
      { numRuns: 500 },
    );
  });

  it('with every top-level element listed, returns all the data', () => {
    fc.assert(
      fc.property(resourceArb, (resource) => {
        const elements = [...new Set(Object.keys(resource).filter((k) => !['resourceType', 'id', 'meta'].includes(k)).map((k) => k.replace(/^_/, '')))];
        const out = redact(deepFreeze(resource), elements, 'direct-care');
        expect(data(out)).toEqual(data(resource));
        expect(out.meta).toEqual({ ...resource.meta, security: [purposeLabel('direct-care')] });
      }),
      { numRuns: 500 },
    );
  });
});
