import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { adaptCaf } from '../../src/adapters/caf.js';
import { adaptCafResponse } from '../../src/adapters/caf-response.js';
import { expectGolden, readFixture } from '../support/golden.js';
import { all, expectWellFormed, load, one, unitOf } from './caf-support.js';

// The CAF's second input shape: a QuestionnaireResponse answering the hub's
// CAF Questionnaire, with the child, the assessor and the consent contained.
// Typed once means the same assessment in either shape gives the same records.

const ods = { senderSystem: 'https://fhir.nhs.uk/Id/ods-organization-code' };
type Obj = Record<string, unknown>;
type Json = Obj & { item: Obj[]; contained: Obj[]; meta: { tag: Obj[] } };
const response = async (): Promise<Json> => JSON.parse(await readFixture('caf/hv-two-year-review-response.json')) as Json;

describe('CAF QuestionnaireResponse adapter', () => {
  test('golden: the health visitors\' review as a QuestionnaireResponse', async () => {
    const result = adaptCafResponse(await response(), ods);
    await expectGolden('caf/hv-two-year-review-response', result);
    expectWellFormed(unitOf(result));
    expect(adaptCafResponse(await response(), ods)).toEqual(result); // deterministic
  });

  test('typed once: the same assessment in the JSON shape gives the same assessment record, key and consent', async () => {
    const fromResponse = unitOf(adaptCafResponse(await response(), ods));
    const fromExport = unitOf(adaptCaf(await load('hv-two-year-review'), ods));
    expect([fromResponse.messageKey, fromResponse.senderCode, fromResponse.event]).toEqual([fromExport.messageKey, fromExport.senderCode, fromExport.event]);
    // The same entry URLs too (they derive from the key): subject and author name the same child and assessor.
    expect(one(fromResponse, 'QuestionnaireResponse')).toEqual(one(fromExport, 'QuestionnaireResponse'));
    const consent = (unit: typeof fromExport) => ({ ...one(unit, 'Consent'), patient: undefined, performer: one(unit, 'Consent').performer?.map((p) => p.display) });
    expect(consent(fromResponse)).toEqual(consent(fromExport));
    expect(one(fromResponse, 'Patient')).toEqual(all(fromExport, 'Patient')[0]); // the child (the export also names the mother)
    expect(one(fromResponse, 'Practitioner')).toEqual(one(fromExport, 'Practitioner'));
  });

  const refused = async (edit: (qr: Json) => void) => {
    const qr = await response();
    edit(qr);
    return adaptCafResponse(qr, ods);
  };

  test.each<[string, (qr: Json) => void, { code: string; location: string; diagnostics?: RegExp }]>([
    ['an unknown linkId at the top', (qr) => qr.item.push({ linkId: 'favourite-colour', answer: [{ valueString: 'blue' }] }), { code: 'not-supported', location: 'QuestionnaireResponse.item[8].linkId', diagnostics: /"favourite-colour" is not in the hub's CAF Questionnaire/ }],
    ['an unknown element in a domain', (qr) => (qr.item[2]!['item'] as Obj[]).push({ linkId: 'development.astrology', item: [] }), { code: 'not-supported', location: 'QuestionnaireResponse.item[2].item[2].linkId', diagnostics: /"development.astrology"/ }],
    ['an answer of the wrong type', (qr) => (qr.item[7]!['answer'] = [{ valueString: 'next year' }]), { code: 'value', location: 'QuestionnaireResponse.item[7].answer[0]', diagnostics: /review-date is a date item/ }],
    ['two answers to a single item', (qr) => (qr.item[0]!['answer'] = [{ valueString: 'a' }, { valueString: 'b' }]), { code: 'business-rule', location: 'QuestionnaireResponse.item[0].answer' }],
    ['a child without a date of birth', (qr) => delete qr.contained[0]!['birthDate'], { code: 'required', location: 'QuestionnaireResponse.contained[0].birthDate', diagnostics: /date of birth/ }],
    ['a child with a bad NHS number', (qr) => ((qr.contained[0]!['identifier'] as Obj[])[0]!['value'] = '9990081019'), { code: 'value', location: 'QuestionnaireResponse.contained[0].identifier' }],
    ['no revision', (qr) => (qr.meta.tag = []), { code: 'required', location: 'QuestionnaireResponse.meta.tag' }],
    ['another Questionnaire', (qr) => (qr['questionnaire'] = 'https://example.org/Questionnaire/other'), { code: 'value', location: 'QuestionnaireResponse.questionnaire' }],
    ['no contained Consent', (qr) => (qr.contained = qr.contained.slice(0, 2)), { code: 'required', location: 'QuestionnaireResponse.contained' }],
    ['a subject that is not contained', (qr) => (qr['subject'] = { reference: 'Patient/123' }), { code: 'required', location: 'QuestionnaireResponse.subject' }],
    ['consent given to no agency', (qr) => ((qr.contained[2]!['provision'] as Obj)['actor'] = []), { code: 'required', location: 'QuestionnaireResponse.contained[2].provision.actor' }],
    ['an unborn child', (qr) => qr.item.push({ linkId: 'expected-delivery-date', answer: [{ valueDate: '2027-01-01' }] }), { code: 'not-supported', location: 'QuestionnaireResponse.item[8]' }],
  ])('refuses %s, naming where', async (_name, edit, expected) => {
    const result = await refused(edit);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.kind).toBe('invalid');
    expect(result.issues).toContainEqual(expect.objectContaining({ code: expected.code, location: expected.location, ...(expected.diagnostics === undefined ? {} : { diagnostics: expect.stringMatching(expected.diagnostics) }) }));
  });

  test.each([null, [], 'text', { resourceType: 'Patient' }])('refuses %j as not a QuestionnaireResponse', (body) => {
    expect(adaptCafResponse(body, ods)).toMatchObject({ ok: false, kind: 'unparsable', issues: [{ location: 'QuestionnaireResponse.resourceType' }] });
  });

  test('no input crashes it: any JSON, and the fixture with any part replaced by any JSON', async () => {
    const base = await response();
    const total = (v: unknown): void => {
      const result = adaptCafResponse(v, ods);
      if (result.ok) expectWellFormed(result.value);
      else expect(result.issues.every((i) => i.location.startsWith('QuestionnaireResponse') && i.diagnostics.length > 0)).toBe(true);
    };
    fc.assert(fc.property(fc.jsonValue(), total), { numRuns: 200 });
    const parts = ['item', 'contained', 'meta', 'subject', 'author', 'identifier', 'status', 'authored', 'questionnaire'];
    fc.assert(
      fc.property(fc.constantFrom(...parts), fc.nat(9), fc.jsonValue(), (key, index, value) => {
        const copy = structuredClone(base) as Obj;
        const target = copy[key];
        if (Array.isArray(target) && target.length > 0) target[index % target.length] = value;
        else copy[key] = value;
        total({ ...copy, resourceType: 'QuestionnaireResponse' });
      }),
      { numRuns: 300 },
    );
  });
});
