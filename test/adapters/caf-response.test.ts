import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { adaptCaf } from '../../src/adapters/caf.js';
import { adaptCafResponse } from '../../src/adapters/caf-response.js';
import type { IngestUnit } from '../../src/adapters/ingest-unit.js';
import { expectGolden, readFixture } from '../support/golden.js';
import { all, expectWellFormed, load, one, unitOf } from './caf-support.js';

// The CAF's second input shape: a QuestionnaireResponse answering the hub's
// CAF Questionnaire, with the child, the assessor and the consent contained.
// Typed once means the same assessment in either shape gives the same records.

const ods = { senderSystem: 'https://fhir.nhs.uk/Id/ods-organization-code' };
const local = { senderSystem: 'urn:eastside:org' };
type Obj = Record<string, unknown>;
type Json = Obj & { item: Obj[]; contained: Obj[]; meta: { tag: Obj[] } };
const response = async (name = 'hv-two-year-review-response'): Promise<Json> => JSON.parse(await readFixture(`caf/${name}.json`)) as Json;
/** A unit as the other shape gives it: the same records, the revision located where that shape states it. */
const revisionAt = (unit: IngestUnit, location: string): IngestUnit => ({ ...unit, entries: unit.entries.map((e) => (e.revision === undefined ? e : { ...e, revision: { ...e.revision, location } })) });
/** The items of a group item of the response (a parent-carer, an action). */
const inner = (item: Obj | undefined): Obj[] => (item?.['item'] ?? []) as Obj[];

describe('CAF QuestionnaireResponse adapter', () => {
  test('golden: the health visitors\' review as a QuestionnaireResponse', async () => {
    const result = adaptCafResponse(await response(), ods);
    await expectGolden('caf/hv-two-year-review-response', result);
    expectWellFormed(unitOf(result));
    expect(adaptCafResponse(await response(), ods)).toEqual(result); // deterministic
  });

  test('golden: an unborn child\'s assessment from early help, filed on the mother, with both parents and the action plan', async () => {
    const result = adaptCafResponse(await response('unborn-do-not-share-response'), local);
    await expectGolden('caf/unborn-do-not-share-response', result);
    expectWellFormed(unitOf(result));
    expect(adaptCafResponse(await response('unborn-do-not-share-response'), local)).toEqual(result); // deterministic
  });

  test('typed once: the same assessment in the JSON shape gives the same unit, record for record', async () => {
    const fromResponse = unitOf(adaptCafResponse(await response(), ods));
    const fromExport = unitOf(adaptCaf(await load('hv-two-year-review'), ods));
    expect([fromResponse.messageKey, fromResponse.senderCode, fromResponse.event]).toEqual([fromExport.messageKey, fromExport.senderCode, fromExport.event]);
    // The same entry URLs too (they derive from the key): subject, author and performer name the same people.
    expect(fromResponse).toEqual(revisionAt(fromExport, 'QuestionnaireResponse.meta.tag'));
    // The parent is a Patient and a RelatedPerson of the child, and the plan is authored by the lead professional.
    expect(all(fromResponse, 'Patient').map((p) => p.identifier?.[0]?.value)).toEqual(['9990081018', '9990081026']);
    expect(one(fromResponse, 'RelatedPerson')).toMatchObject({ relationship: [{ coding: [{ code: 'MTH' }], text: 'mother' }], telecom: [{ system: 'phone', value: '07700 900001' }] });
    expect(one(fromResponse, 'CarePlan')).toMatchObject({ status: 'active', author: { display: 'J. Visitorby' }, activity: [{ detail: { scheduledPeriod: { end: '2026-11-17' } } }, { detail: { scheduledPeriod: { end: '2026-12-08' } } }] });
    // The response the hub stores answers the Questionnaire without the people and the plan: they are records of their own.
    expect(one(fromResponse, 'QuestionnaireResponse').item?.map((i) => i.linkId)).not.toEqual(expect.arrayContaining(['parent-carer']));
  });

  test('typed once: an unborn child\'s assessment in either shape is the same unit, filed on the mother-to-be', async () => {
    const fromResponse = unitOf(adaptCafResponse(await response('unborn-do-not-share-response'), local));
    const fromExport = unitOf(adaptCaf(await load('unborn-do-not-share'), local));
    expect(fromResponse).toEqual(revisionAt(fromExport, 'QuestionnaireResponse.meta.tag'));
    expect(fromResponse.effects).toEqual([{ kind: 'unborn', motherNhsNumber: '9990070113', expectedDeliveryDate: '2027-02-20' }]);
  });

  const refused = async (edit: (qr: Json) => void) => {
    const qr = await response();
    edit(qr);
    return adaptCafResponse(qr, ods);
  };

  test.each<[string, (qr: Json) => void, { code: string; location: string; diagnostics?: RegExp }]>([
    ['an unknown linkId at the top', (qr) => qr.item.push({ linkId: 'favourite-colour', answer: [{ valueString: 'blue' }] }), { code: 'not-supported', location: 'QuestionnaireResponse.item[12].linkId', diagnostics: /"favourite-colour" is not in the hub's CAF Questionnaire/ }],
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
    ['an unborn child whose subject is not the mother', (qr) => qr.item.push({ linkId: 'expected-delivery-date', answer: [{ valueDate: '2027-01-01' }] }), { code: 'business-rule', location: 'QuestionnaireResponse.contained[0].identifier', diagnostics: /subject is the mother/ }],
    ['a parent with a bad NHS number', (qr) => (inner(qr.item[8])[2]!['answer'] = [{ valueString: '9990081027' }]), { code: 'value', location: 'QuestionnaireResponse.item[8].item[2]', diagnostics: /^parent-carer\.nhs-number: "9990081027" is not a valid NHS number/ }],
    ['a relationship that is not one of the answers', (qr) => (inner(qr.item[8])[3]!['answer'] = [{ valueCoding: { system: 'https://eastside.example/fhir/CodeSystem/caf-relationship', code: 'aunt' } }]), { code: 'code-invalid', location: 'QuestionnaireResponse.item[8].item[3].answer[0]', diagnostics: /^parent-carer\.relationship: .*\|aunt is not one of its answers/ }],
    ['a relationship as words', (qr) => (inner(qr.item[8])[3]!['answer'] = [{ valueString: 'mum' }]), { code: 'value', location: 'QuestionnaireResponse.item[8].item[3].answer[0]', diagnostics: /parent-carer\.relationship is a choice item: its answer is valueCoding/ }],
    ['parental responsibility in words', (qr) => (inner(qr.item[8])[4]!['answer'] = [{ valueString: 'yes' }]), { code: 'value', location: 'QuestionnaireResponse.item[8].item[4].answer[0]', diagnostics: /parent-carer\.parental-responsibility is a boolean item/ }],
    ['a parent without a family name', (qr) => inner(qr.item[8]).splice(1, 1), { code: 'required', location: 'QuestionnaireResponse.item[8].item', diagnostics: /parent-carer\.family-name .* is required/ }],
    ['a parent listed twice', (qr) => qr.item.push(structuredClone(qr.item[8]!)), { code: 'business-rule', location: 'QuestionnaireResponse.item[12]', diagnostics: /listed twice/ }],
    ['an action with nothing to do', (qr) => inner(qr.item[10]).splice(0, 1), { code: 'required', location: 'QuestionnaireResponse.item[10].item', diagnostics: /action-plan\.action .* is required/ }],
    ['an action whose words are blank', (qr) => (inner(qr.item[10])[0]!['answer'] = [{ valueString: ' ' }]), { code: 'required', location: 'QuestionnaireResponse.item[10].item[0]', diagnostics: /^action-plan\.action: action must not be empty/ }],
    ['a lead professional who is not contained', (qr) => (qr.item[9]!['answer'] = [{ valueReference: { reference: 'Practitioner/1' } }]), { code: 'value', location: 'QuestionnaireResponse.item[9].answer[0]', diagnostics: /lead-professional must reference a contained PractitionerRole/ }],
  ])('refuses %s, naming where', async (_name, edit, expected) => {
    const result = await refused(edit);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.kind).toBe('invalid');
    expect(result.issues).toContainEqual(expect.objectContaining({ code: expected.code, location: expected.location, ...(expected.diagnostics === undefined ? {} : { diagnostics: expect.stringMatching(expected.diagnostics) }) }));
  });

  test('refuses an unborn child\'s assessment that names no mother among the parents and carers', async () => {
    const qr = await response('unborn-do-not-share-response');
    qr.item.splice(4, 1); // the mother-to-be's group
    const result = adaptCafResponse(qr, local);
    expect(result).toMatchObject({ ok: false, kind: 'invalid' });
    if (result.ok) return;
    expect(result.issues).toContainEqual(expect.objectContaining({ code: 'required', location: 'QuestionnaireResponse.item', diagnostics: expect.stringMatching(/needs the mother/) as unknown }));
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
