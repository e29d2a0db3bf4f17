import fc from 'fast-check';
import type { Patient, QuestionnaireItem } from 'fhir/r4.js';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { CAF_QUESTIONNAIRE } from '../../src/adapters/caf-questionnaire.js';
import { adaptCaf } from '../../src/adapters/caf.js';
import { validateFhir } from '../../src/fhir/validator.js';
import { haveSharedFixtures, sharedFixtures } from '../conformance/shared-fixtures.js';
import { expectGolden } from '../support/golden.js';
import { all, applyEdits, edits, expectTotal, expectWellFormed, load, loadShared, loose, one, unitOf, urlOf, type CafInput } from './caf-support.js';

// The CAF adapter: golden files for the repo's synthetic exports, refusals with
// exact locations, the response/form agreement, property tests, and the shared
// demo fixtures as a conformance suite.

const OWN = ['born-three-agencies', 'born-three-agencies-revision-2', 'unborn-do-not-share', 'consent-not-given', 'in-progress-no-plan'] as const;

describe('CAF adapter: golden files', () => {
  test.each(OWN)('%s', async (name) => {
    const result = adaptCaf(await load(name));
    await expectGolden(`caf/${name}`, result);
    expectWellFormed(unitOf(result));
    expect(adaptCaf(await load(name))).toEqual(result); // deterministic
  });
});

describe('CAF adapter: what each export yields', () => {
  test('a born child: Patients, RelatedPersons, practitioners, plan and a permit to three agency types', async () => {
    const unit = unitOf(adaptCaf(await load('born-three-agencies')));
    expect(unit).toMatchObject({ messageKey: 'caf:EH-TEST-0001:1', event: 'early-help-assessment', senderCode: 'E09000999-EH', effects: [] });
    const [child, mother] = all(unit, 'Patient') as [Patient, Patient];
    expect(child.identifier).toEqual([{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9990070016' }]); // spaces removed
    expect(child.communication?.[0]?.language.coding?.[0]).toEqual({ system: 'urn:ietf:bcp:47', code: 'pl' });
    expect(mother.identifier?.[0]?.value).toBe('9990070024');
    const related = all(unit, 'RelatedPerson');
    expect(related.map((r) => r.identifier?.[0]?.value)).toEqual(['9990070016:MTH:9990070024', '9990070016:FTH:Fixturely^Dev', '9990070016:GRPRN:Fixturely^Nan']);
    expect(related.every((r) => r.patient.reference === urlOf(unit, child))).toBe(true);
    expect(related.map((r) => r.extension?.[0]?.valueBoolean)).toEqual([true, true, false]);
    const practitioners = all(unit, 'Practitioner');
    expect(practitioners.map((p) => p.identifier?.[0]?.value)).toEqual(['E09000999-EH:A. Examplewood', 'R9H:H. Visitorson']);
    const plan = one(unit, 'CarePlan');
    expect(plan.author?.reference).toBe(urlOf(unit, practitioners[1]!));
    expect(plan.activity?.map((a) => a.detail?.scheduledPeriod ?? a.detail?.scheduledString ?? null)).toEqual([{ end: '2026-10-27' }, 'ongoing', null]);
    const qr = one(unit, 'QuestionnaireResponse');
    expect(qr.author?.reference).toBe(urlOf(unit, practitioners[0]!));
    expect(qr.item?.find((i) => i.linkId === 'people-present')?.answer).toHaveLength(3); // the empty one left out
    const consent = one(unit, 'Consent');
    expect(consent.status).toBe('active');
    expect(consent.provision?.actor?.map((a) => a.reference.identifier?.value)).toEqual(['health-visiting', 'gp', 'childrens-centre']);
    expect(consent.performer?.[0]?.reference).toBe(urlOf(unit, related[0]!));
  });

  test('revision 2 matches the same assessment, plan and consent, under a new message key', async () => {
    const first = unitOf(adaptCaf(await load('born-three-agencies')));
    const second = unitOf(adaptCaf(await load('born-three-agencies-revision-2')));
    expect(second.messageKey).toBe('caf:EH-TEST-0001:2');
    expect(second.entries.map((e) => e.match)).toEqual(first.entries.map((e) => e.match));
    const consent = one(second, 'Consent');
    expect(consent.provision?.provision).toEqual([expect.objectContaining({ type: 'deny', actor: [expect.objectContaining({ reference: expect.objectContaining({ identifier: { system: 'urn:eastside:organisation-type', value: 'childrens-centre' } }) })] })]);
  });

  test('an unborn child is recorded against the mother, with the due date and an unborn effect', async () => {
    const unit = unitOf(adaptCaf(await load('unborn-do-not-share')));
    const patients = all(unit, 'Patient');
    const mother = patients.find((p) => p.identifier?.[0]?.value === '9990070113')!;
    expect(patients).toHaveLength(2); // the mother and the father-to-be; no child
    const qr = one(unit, 'QuestionnaireResponse');
    expect(qr.subject?.reference).toBe(urlOf(unit, mother));
    expect(qr.item?.find((i) => i.linkId === 'expected-delivery-date')?.answer).toEqual([{ valueDate: '2027-02-20' }]);
    expect(one(unit, 'CarePlan').subject.reference).toBe(urlOf(unit, mother));
    expect(one(unit, 'Consent').patient?.reference).toBe(urlOf(unit, mother));
    expect(one(unit, 'Consent').performer?.[0]?.reference).toBe(urlOf(unit, mother));
    expect(all(unit, 'RelatedPerson').map((r) => [r.patient.reference, r.identifier?.[0]?.value])).toEqual([
      [urlOf(unit, mother), 'unborn:9990070113:FTH:9990070121'],
      [urlOf(unit, mother), 'unborn:9990070113:MTH:9990070113'],
    ]);
    expect(all(unit, 'Practitioner')).toHaveLength(1); // assessor and lead professional are one person
    expect(unit.effects).toEqual([{ kind: 'unborn', motherNhsNumber: '9990070113', expectedDeliveryDate: '2027-02-20' }]);
  });

  test('consent not given: stored as rejected, with a deny for everyone', async () => {
    const consent = one(unitOf(adaptCaf(await load('consent-not-given'))), 'Consent');
    expect(consent.status).toBe('rejected');
    expect(consent.provision).toEqual({ type: 'deny', period: { start: '2026-09-08' } });
    expect(consent.performer).toBeUndefined();
  });

  test('an assessment in progress: response in progress, authored when started, no plan', async () => {
    const unit = unitOf(adaptCaf(await load('in-progress-no-plan')));
    const qr = one(unit, 'QuestionnaireResponse');
    expect([qr.status, qr.authored]).toEqual(['in-progress', '2026-11-10']);
    expect(all(unit, 'CarePlan')).toEqual([]);
    expect(one(unit, 'RelatedPerson').relationship?.[0]?.coding?.[0]?.code).toBe('RESPRSN');
    expect(one(unit, 'RelatedPerson').telecom).toBeUndefined(); // a blank phone number is no phone number
    expect(one(unit, 'Consent').performer).toEqual([{ display: 'Someone Notlisted' }]);
  });

  test('blank optional fields are taken as not recorded', async () => {
    const json = await load('consent-not-given');
    Object.assign(json.assessment, { completedOn: '', reviewDate: ' ' });
    Object.assign(json.assessment.parentsCarers![0]!, { nhsNumber: '' });
    Object.assign(json.assessment.child, { gender: '', firstLanguage: '' });
    const unit = unitOf(adaptCaf(json));
    expect(one(unit, 'QuestionnaireResponse').authored).toBe('2026-09-01');
    expect(one(unit, 'CarePlan').period).toEqual({ start: '2026-09-01' });
    expect(all(unit, 'Patient')).toHaveLength(1); // the child; the mother has no NHS number now
    expect(one(unit, 'Patient').gender).toBeUndefined();
    expect(one(unit, 'RelatedPerson').identifier).toEqual([{ system: 'https://eastside.example/fhir/Id/related-person-key', value: '9990070210:MTH:Testington^Kim' }]);
  });
});

describe('CAF adapter: a health visitors\' export (an NHS trust, ODS code)', () => {
  const ods = { senderSystem: 'https://fhir.nhs.uk/Id/ods-organization-code' };

  test.each(['hv-two-year-review', 'hv-two-year-review-revision-2'])('%s (golden)', async (name) => {
    const result = adaptCaf(await load(name), ods);
    await expectGolden(`caf/${name}`, result);
    expectWellFormed(unitOf(result));
  });

  test('the consent is recorded by the sending trust, and the assessment carries its revision for the store', async () => {
    const unit = unitOf(adaptCaf(await load('hv-two-year-review-revision-2'), ods));
    expect(unit).toMatchObject({ messageKey: 'caf:HV-TEST-0001:2', event: 'early-help-assessment', senderCode: 'R9H' });
    const consent = one(unit, 'Consent');
    expect(consent.organization).toEqual([{ identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'R9H' } }]);
    expect(consent.provision?.actor?.map((a) => a.reference.identifier?.value)).toEqual(['early-help']);
    const qr = one(unit, 'QuestionnaireResponse');
    expect(qr.meta?.tag).toEqual([{ system: 'https://eastside.example/fhir/CodeSystem/source-revision', code: '2', display: 'revision 2' }]);
    expect(unit.entries.find((e) => e.resource === qr)?.revision).toEqual({ number: 2, location: 'assessment.revision' });
    expect(all(unit, 'Practitioner').map((p) => p.identifier?.[0]?.value)).toEqual(['R9H:J. Visitorby']);
  });
});

type Edit = (x: CafInput) => void;

describe('CAF adapter: restriction', () => {
  test("restricted: true on the child or a parent becomes v3-Confidentiality R on that person's Patient; absent adds none", async () => {
    const x = await load('born-three-agencies');
    loose(x.assessment.child)['restricted'] = true;
    loose(x.assessment.parentsCarers![0]!)['restricted'] = false;
    const [child, mother] = all(unitOf(adaptCaf(x)), 'Patient') as [Patient, Patient];
    expect(child.meta?.security).toEqual([{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' }]);
    expect(mother.meta).toBeUndefined();
    loose(x.assessment.parentsCarers![0]!)['restricted'] = 'yes';
    expect(adaptCaf(x)).toMatchObject({ ok: false, issues: [{ code: 'value', location: 'assessment.parentsCarers[0].restricted' }] });
  });
});

describe('CAF adapter: refusals name the field', () => {
  const cases: [string, string, Edit, { code: string; location: string }[]][] = [
    ['child without a date of birth', 'born-three-agencies', (x) => delete x.assessment.child.dateOfBirth, [{ code: 'required', location: 'assessment.child.dateOfBirth' }]],
    ['child with a blank date of birth', 'born-three-agencies', (x) => (x.assessment.child.dateOfBirth = ''), [{ code: 'required', location: 'assessment.child.dateOfBirth' }]],
    ['child NHS number failing its check digit', 'born-three-agencies', (x) => (x.assessment.child.nhsNumber = '9990070017'), [{ code: 'value', location: 'assessment.child.nhsNumber' }]],
    ['child without an NHS number', 'born-three-agencies', (x) => delete x.assessment.child.nhsNumber, [{ code: 'required', location: 'assessment.child.nhsNumber' }]],
    ['parent NHS number failing its check digit', 'born-three-agencies', (x) => (x.assessment.parentsCarers![0]!.nhsNumber = '1234567890'), [{ code: 'value', location: 'assessment.parentsCarers[0].nhsNumber' }]],
    ['unborn child without an expected date', 'unborn-do-not-share', (x) => delete x.assessment.child.expectedDeliveryDate, [{ code: 'required', location: 'assessment.child.expectedDeliveryDate' }]],
    ['unborn child with an NHS number', 'unborn-do-not-share', (x) => (x.assessment.child.nhsNumber = '9990070016'), [{ code: 'business-rule', location: 'assessment.child.nhsNumber' }]],
    ['unborn child without an identifiable mother', 'unborn-do-not-share', (x) => delete x.assessment.parentsCarers![1]!.nhsNumber, [{ code: 'required', location: 'assessment.parentsCarers' }]],
    ['unknown domain element', 'born-three-agencies', (x) => (x.assessment.domains.development![1]!.element = 'toileting'), [{ code: 'code-invalid', location: 'assessment.domains.development[1].element' }]],
    ['element listed twice', 'born-three-agencies', (x) => (x.assessment.domains.development![1]!.element = 'physical-development'), [{ code: 'business-rule', location: 'assessment.domains.development[1].element' }]],
    ['unknown domain', 'born-three-agencies', (x) => (loose(x.assessment.domains)['health'] = []), [{ code: 'not-supported', location: 'assessment.domains.health' }]],
    ['consent given to nobody', 'born-three-agencies', (x) => (x.assessment.consent.shareWith = []), [{ code: 'required', location: 'assessment.consent.shareWith' }]],
    ['consent both to share and not', 'born-three-agencies', (x) => (x.assessment.consent.doNotShareWith = ['gp']), [{ code: 'business-rule', location: 'assessment.consent.doNotShareWith[0]' }]],
    ['unknown agency type', 'born-three-agencies', (x) => (loose(x.assessment.consent.shareWith!)['2'] = 'police'), [{ code: 'code-invalid', location: 'assessment.consent.shareWith[2]' }]],
    ['not a date', 'born-three-agencies', (x) => (x.assessment.reviewDate = '08/12/2026'), [{ code: 'value', location: 'assessment.reviewDate' }]],
    ['a control character in a name', 'born-three-agencies', (x) => (x.assessment.parentsCarers![0]!.givenName = 'Mi\u0000ra'), [{ code: 'value', location: 'assessment.parentsCarers[0].givenName' }]],
    ['broken Unicode in free text', 'born-three-agencies', (x) => (x.assessment.parentViews = 'help \ud800'), [{ code: 'value', location: 'assessment.parentViews' }]],
    ['no sender', 'born-three-agencies', (x) => delete loose(x)['organisation'], [{ code: 'required', location: 'organisation' }]],
    ['revision as text', 'born-three-agencies', (x) => (loose(x.assessment)['revision'] = '2'), [{ code: 'value', location: 'assessment.revision' }]],
    [
      'several faults at once, one issue each',
      'born-three-agencies',
      (x) => {
        delete x.assessment.child.dateOfBirth;
        x.assessment.child.givenName = ' ';
        x.assessment.parentsCarers![0]!.nhsNumber = '9990070025';
        x.assessment.domains.familyAndEnvironment![0]!.element = 'finances';
      },
      [
        { code: 'required', location: 'assessment.child.dateOfBirth' },
        { code: 'required', location: 'assessment.child.givenName' },
        { code: 'value', location: 'assessment.parentsCarers[0].nhsNumber' },
        { code: 'code-invalid', location: 'assessment.domains.familyAndEnvironment[0].element' },
      ],
    ],
  ];

  test.each(cases)('%s', async (_label, fixture, edit, expected) => {
    const json = await load(fixture);
    edit(json);
    const result = adaptCaf(json);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.kind).toBe('invalid');
    expect(result.issues.map(({ code, location }) => ({ code, location }))).toEqual(expect.arrayContaining(expected));
    expect(result.issues).toHaveLength(expected.length);
    for (const issue of result.issues) expect(issue.diagnostics.length).toBeGreaterThan(0);
  });

  test('an unknown element is named in the diagnostics', async () => {
    const json = await load('born-three-agencies');
    json.assessment.domains.development![0]!.element = 'toileting';
    const result = adaptCaf(json);
    expect(result.ok ? [] : result.issues.map((i) => i.diagnostics)).toEqual([expect.stringContaining('"toileting"')]);
  });

  test.each([
    ['null', null, '$'],
    ['a number', 42, '$'],
    ['a string', '{"assessment":{}}', '$'],
    ['an array', [{ assessment: {} }], '$'],
    ['an object without an assessment', { organisation: 'E09000999-EH' }, 'assessment'],
    ['an assessment that is not an object', { organisation: 'E09000999-EH', assessment: [] }, 'assessment'],
  ])('%s is unparsable', (_label, body, location) => {
    expect(adaptCaf(body)).toEqual({ ok: false, kind: 'unparsable', issues: [{ code: 'structure', diagnostics: expect.any(String), location }] });
  });
});

describe('CAF Questionnaire', () => {
  test('is valid R4 with unique linkIds, a group per domain element with strengths and needs', () => {
    expect(validateFhir(CAF_QUESTIONNAIRE)).toEqual({ ok: true });
    const linkIds: string[] = [];
    const walk = (items: readonly QuestionnaireItem[]): void => {
      for (const i of items) {
        linkIds.push(i.linkId);
        walk(i.item ?? []);
      }
    };
    walk(CAF_QUESTIONNAIRE.item ?? []);
    expect(new Set(linkIds).size).toBe(linkIds.length);
    expect(linkIds).toEqual(expect.arrayContaining(['development.speech-language-communication.needs', 'parentsAndCarers.basic-care-safety.strengths', 'familyAndEnvironment.social-community-resources.needs', 'review-date']));
  });
});

describe('CAF adapter: properties', () => {
  test('any JSON value gives a result, never an exception', () => {
    fc.assert(fc.property(fc.jsonValue({ stringUnit: 'binary' }), (v) => {
      expectTotal(v);
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.record({ organisation: fc.string(), assessment: fc.dictionary(fc.string(), fc.jsonValue()) }), (v) => {
      expectTotal(v);
    }), { numRuns: 200 });
  });

  test.each(OWN)('mutations of %s give a result, never an exception', async (name) => {
    const doc = await load(name);
    fc.assert(
      fc.property(edits, (e) => {
        expectTotal(applyEdits(doc, e));
      }),
      { numRuns: 150 },
    );
  });
});

describe.skipIf(!haveSharedFixtures)('conformance: the shared CAF fixtures', () => {
  const la = haveSharedFixtures ? readdirSync(path.join(sharedFixtures, 'la')).filter((f) => f.endsWith('.json')) : [];

  test.each(la)('la/%s is accepted', (file) => {
    expectWellFormed(unitOf(adaptCaf(loadShared(`la/${file}`))));
  });

  test("Leo Ahmed's consent is active for three agency types", () => {
    const consent = one(unitOf(adaptCaf(loadShared('la/caf-leo-ahmed.json'))), 'Consent');
    expect(consent.status).toBe('active');
    expect(consent.provision?.actor?.map((a) => a.reference.identifier?.value)).toEqual(['health-visiting', 'gp', 'childrens-centre']);
  });

  test("Chloe Bennett's unborn baby: the assessment is on the mother, children's centres denied", () => {
    const unit = unitOf(adaptCaf(loadShared('la/caf-unborn-bennett.json')));
    const mother = one(unit, 'Patient');
    expect(mother.identifier?.[0]?.value).toBe('9990142548');
    expect(one(unit, 'QuestionnaireResponse').subject?.reference).toBe(urlOf(unit, mother));
    const consent = one(unit, 'Consent');
    expect(consent.patient?.reference).toBe(urlOf(unit, mother));
    expect(consent.provision?.provision?.map((p) => [p.type, p.actor?.[0]?.reference.identifier?.value])).toEqual([['deny', 'childrens-centre']]);
    expect(unit.effects).toEqual([{ kind: 'unborn', motherNhsNumber: '9990142548', expectedDeliveryDate: '2027-01-15' }]);
  });

  test("Ruby Walsh's consent is rejected", () => {
    const consent = one(unitOf(adaptCaf(loadShared('la/caf-consent-not-given.json'))), 'Consent');
    expect(consent.status).toBe('rejected');
    expect(consent.provision).toMatchObject({ type: 'deny' });
    expect(consent.provision?.actor).toBeUndefined();
  });

  test('bad/caf-child-without-date-of-birth.json is refused at assessment.child.dateOfBirth', () => {
    expect(adaptCaf(loadShared('bad/caf-child-without-date-of-birth.json'))).toEqual({
      ok: false,
      kind: 'invalid',
      issues: [{ code: 'required', diagnostics: expect.any(String), location: 'assessment.child.dateOfBirth' }],
    });
  });
});
