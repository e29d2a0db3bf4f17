import type { CarePlan, Consent, OperationOutcome, Patient, QuestionnaireResponse, RelatedPerson } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countByType, countRows, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

let t: TestHub;
let earlyHelp: string;
beforeAll(async () => {
  t = await startTestHub();
  earlyHelp = await t.token('eastside-early-help', 'early-help');
});
afterAll(async () => {
  await t.close();
});

const caf = (token: string, body: string) =>
  t.http.post('/ingest/caf').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send(body);
const patientWith = async (nhs: string) =>
  (await storedResources<Patient>(t.database.db, 'Patient')).find((p) => p.identifier?.some((i) => i.value === nhs.replace(/\s/g, '')));

describe('POST /ingest/caf', () => {
  it('stores the assessment, the child and parents, the plan and the family\'s sharing choice', async () => {
    const body = await readFixture('caf/born-three-agencies.json');
    const res = await caf(earlyHelp, body);
    expect(res.status).toBe(200);
    const child = await patientWith((JSON.parse(body) as { assessment: { child: { nhsNumber: string } } }).assessment.child.nhsNumber);
    const [qr] = await storedResources<QuestionnaireResponse>(t.database.db, 'QuestionnaireResponse');
    expect(qr?.subject?.reference).toBe(`Patient/${child?.id ?? ''}`);
    expect(qr?.questionnaire).toMatch(/^https:\/\/eastside\.example\/fhir\/Questionnaire\/early-help-assessment/);
    const [plan] = await storedResources<CarePlan>(t.database.db, 'CarePlan');
    expect(plan?.subject.reference).toBe(`Patient/${child?.id ?? ''}`);
    const [consent] = await storedResources<Consent>(t.database.db, 'Consent');
    expect(consent?.status).toBe('active');
    expect(consent?.provision?.actor?.map((a) => a.reference.identifier?.value).sort()).toEqual(['childrens-centre', 'gp', 'health-visiting']);
    const relations = await storedResources<RelatedPerson>(t.database.db, 'RelatedPerson');
    expect(relations.some((r) => r.patient.reference === `Patient/${child?.id ?? ''}`)).toBe(true);
  });

  it('makes a later revision a new version of the same assessment, and a re-sent one changes nothing', async () => {
    const [before] = await storedResources<QuestionnaireResponse>(t.database.db, 'QuestionnaireResponse');
    const counts = await countByType(t.database.db);
    expect((await caf(earlyHelp, await readFixture('caf/born-three-agencies-revision-2.json'))).status).toBe(200);
    const newCounts = await countByType(t.database.db);
    for (const type of ['Patient', 'RelatedPerson', 'Practitioner', 'CarePlan', 'Consent', 'QuestionnaireResponse']) expect(newCounts[type]).toBe(counts[type]);
    const after = await storedResources<QuestionnaireResponse>(t.database.db, 'QuestionnaireResponse');
    expect(after).toHaveLength(1);
    expect(after[0]?.id).toBe(before?.id);
    expect(after[0]?.meta.versionId).toBe('2');
    const rows = await countRows(t.database.db, 'resource_history');
    const again = await caf(earlyHelp, await readFixture('caf/born-three-agencies-revision-2.json'));
    expect((again.body as OperationOutcome).issue[0]?.code).toBe('duplicate');
    expect(await countRows(t.database.db, 'resource_history')).toBe(rows);
  });

  it('records an unborn child\'s assessment against the mother, with the "do not share" as a deny', async () => {
    const body = await readFixture('caf/unborn-do-not-share.json');
    expect((await caf(earlyHelp, body)).status).toBe(200);
    const parsed = JSON.parse(body) as { assessment: { reference: string; parentsCarers: { nhsNumber?: string; relationship: string }[] } };
    const motherNhs = parsed.assessment.parentsCarers.find((p) => p.relationship.startsWith('mother'))?.nhsNumber ?? '';
    const mother = await patientWith(motherNhs);
    const qr = (await storedResources<QuestionnaireResponse>(t.database.db, 'QuestionnaireResponse')).find((q) => q.identifier?.value === parsed.assessment.reference);
    expect(qr?.subject?.reference).toBe(`Patient/${mother?.id ?? ''}`);
    const consent = (await storedResources<Consent>(t.database.db, 'Consent')).find((c) => c.patient?.reference === `Patient/${mother?.id ?? ''}`);
    expect(JSON.stringify(consent?.provision)).toMatch(/"type":"deny".*childrens-centre/);
  });

  it('stores an assessment without consent with a rejected Consent', async () => {
    expect((await caf(earlyHelp, await readFixture('caf/consent-not-given.json'))).status).toBe(200);
    expect((await storedResources<Consent>(t.database.db, 'Consent')).some((c) => c.status === 'rejected')).toBe(true);
  });

  it('refuses a child without a date of birth naming the field, storing nothing', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    const doc = JSON.parse(await readFixture('caf/born-three-agencies.json')) as { assessment: { reference: string; child: Record<string, unknown> } };
    delete doc.assessment.child['dateOfBirth'];
    doc.assessment.reference = 'EH-TEST-NODOB';
    const res = await caf(earlyHelp, JSON.stringify(doc));
    expect(res.status).toBe(422);
    expect((res.body as OperationOutcome).issue[0]).toMatchObject({ severity: 'error', expression: ['assessment.child.dateOfBirth'] });
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('refuses an assessment from another council\'s client, and without the scope', async () => {
    const other = await t.token('test-a', 'direct-care');
    expect((await caf(other, await readFixture('caf/in-progress-no-plan.json'))).status).toBe(403);
    const gp = await t.token('limehouse-gp', 'early-help');
    expect((await caf(gp, await readFixture('caf/in-progress-no-plan.json'))).status).toBe(403);
  });
});

describe('POST /ingest/caf: the same assessments as QuestionnaireResponses answering the hub\'s CAF Questionnaire', () => {
  type Obj = Record<string, unknown>;
  type Response = Obj & { identifier: { value: string }; item: Obj[] };
  const unborn = async (reference: string): Promise<Response> => {
    const qr = JSON.parse(await readFixture('caf/unborn-do-not-share-response.json')) as Response;
    qr.identifier.value = reference;
    return qr;
  };
  const post = (body: unknown) => t.http.post('/ingest/caf').set('Authorization', `Bearer ${earlyHelp}`).set('Content-Type', 'application/fhir+json').send(JSON.stringify(body));
  const inner = (item: Obj | undefined): Obj[] => (item?.['item'] ?? []) as Obj[];

  it('an unborn child\'s assessment already received in the JSON shape is the same message: nothing changes', async () => {
    const rows = await countRows(t.database.db, 'resource_history');
    const res = await post(await unborn('EH-TEST-0002'));
    expect(res.status).toBe(200);
    expect((res.body as OperationOutcome).issue[0]?.code).toBe('duplicate');
    expect(await countRows(t.database.db, 'resource_history')).toBe(rows);
  });

  it('files an unborn child\'s assessment on the mother-to-be, with both parents and the action plan as records of their own', async () => {
    const res = await post(await unborn('EH-TEST-QR-0002'));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const mother = await patientWith('9990070113');
    const subject = `Patient/${mother?.id ?? ''}`;
    const qr = (await storedResources<QuestionnaireResponse>(t.database.db, 'QuestionnaireResponse')).find((q) => q.identifier?.value === 'EH-TEST-QR-0002');
    expect(qr?.subject?.reference).toBe(subject);
    expect(qr?.item?.find((i) => i.linkId === 'expected-delivery-date')?.answer).toEqual([{ valueDate: '2027-02-20' }]);
    expect(qr?.item?.map((i) => i.linkId)).not.toContain('parent-carer');
    const plan = (await storedResources<CarePlan>(t.database.db, 'CarePlan')).find((c) => c.identifier?.some((i) => i.value === 'EH-TEST-QR-0002'));
    expect(plan).toMatchObject({ subject: { reference: subject }, activity: [{ detail: { description: 'Antenatal group place', scheduledPeriod: { end: '2026-11-30' } } }] });
    const father = (await storedResources<RelatedPerson>(t.database.db, 'RelatedPerson')).find((r) => r.identifier?.some((i) => i.value === 'unborn:9990070113:FTH:9990070121'));
    expect(father).toMatchObject({ patient: { reference: subject }, relationship: [{ text: 'father-to-be' }] });
    const consent = (await storedResources<Consent>(t.database.db, 'Consent')).find((c) => c.identifier?.some((i) => i.value === 'EH-TEST-QR-0002'));
    expect(JSON.stringify(consent?.provision)).toMatch(/"type":"deny".*childrens-centre/);
  });

  it.each<[string, (qr: Response) => void, string, RegExp]>([
    ['a parent whose NHS number fails its check digit', (qr) => (inner(qr.item[3])[2]!['answer'] = [{ valueString: '9990070122' }]), 'QuestionnaireResponse.item[3].item[2]', /parent-carer\.nhs-number: "9990070122" is not a valid NHS number/],
    ['a relationship that is not one of the answers', (qr) => (inner(qr.item[3])[3]!['answer'] = [{ valueCoding: { system: 'https://eastside.example/fhir/CodeSystem/caf-relationship', code: 'uncle' } }]), 'QuestionnaireResponse.item[3].item[3].answer[0]', /parent-carer\.relationship: .*uncle is not one of its answers/],
    ['an action given as a date', (qr) => (inner(qr.item[11])[0]!['answer'] = [{ valueDate: '2026-11-30' }]), 'QuestionnaireResponse.item[11].item[0].answer[0]', /action-plan\.action is a text item/],
  ])('refuses %s: 422 naming the item, and nothing stored', async (_name, edit, expression, diagnostics) => {
    const qr = await unborn('EH-TEST-QR-BAD');
    edit(qr);
    const before = { rows: await countRows(t.database.db, 'resource_history'), receipts: await countRows(t.database.db, 'message_receipt') };
    const res = await post(qr);
    expect(res.status).toBe(422);
    expect((res.body as OperationOutcome).issue).toContainEqual(expect.objectContaining({ severity: 'error', expression: [expression], diagnostics: expect.stringMatching(diagnostics) as unknown }));
    expect({ rows: await countRows(t.database.db, 'resource_history'), receipts: await countRows(t.database.db, 'message_receipt') }).toEqual(before);
  });
});
