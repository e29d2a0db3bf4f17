import { createHash } from 'node:crypto';
import type { EpisodeOfCare, OperationOutcome, Patient, Provenance, RelatedPerson } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateFhir } from '../../src/fhir/validator.js';
import { auditEventsFor, countByType, countRows, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { nhsNumber } from '../support/resources.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

let t: TestHub;
let maternity: string;
beforeAll(async () => {
  t = await startTestHub();
  maternity = await t.token('northgate-maternity', 'direct-care');
});
afterAll(async () => {
  await t.close();
});

const post = (token: string, body: string, requestId?: string) => {
  const req = t.http.post('/fhir/$process-message').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/fhir+json');
  if (requestId !== undefined) req.set('X-Request-Id', requestId);
  return req.send(body);
};
const message = (name: string) => readFixture(`fhir-message/${name}.json`);
const issues = (body: unknown) => (body as OperationOutcome).issue;

describe('$process-message', () => {
  it('stores a pregnancy notification with its Provenance and raw message, and audits it', async () => {
    const res = await post(maternity, await message('pregnancy-notification'), 'ingest-booking');
    expect(res.status).toBe(200);
    expect(issues(res.body)[0]).toMatchObject({ severity: 'information', code: 'informational' });
    const counts = await countByType(t.database.db);
    expect(counts).toMatchObject({ Patient: 1, EpisodeOfCare: 1, Observation: 1, Consent: 1, Practitioner: 1, Provenance: 1, Binary: 1 });
    expect(counts['Organization']).toBeUndefined();

    const [provenance] = await storedResources<Provenance>(t.database.db, 'Provenance');
    expect(provenance?.target).toHaveLength(5);
    expect(provenance?.entity?.[0]?.what?.reference).toMatch(/^Binary\/[0-9a-f]{64}$/);
    const [consent] = await storedResources<{ patient: { reference: string }; extension: { valueReference: { reference: string } }[] }>(t.database.db, 'Consent');
    const [mother] = await storedResources<Patient>(t.database.db, 'Patient');
    const [episode] = await storedResources<EpisodeOfCare>(t.database.db, 'EpisodeOfCare');
    expect(consent?.patient.reference).toBe(`Patient/${mother?.id ?? ''}`);
    expect(consent?.extension[0]?.valueReference.reference).toBe(`EpisodeOfCare/${episode?.id ?? ''}`);

    const [event] = await auditEventsFor(t.database.db, 'ingest-booking');
    expect(event?.outcome).toBe('0');
    expect(event?.entity?.filter((e) => e.role?.code === '1').map((e) => e.what?.reference)).toContain(`Patient/${mother?.id ?? ''}`);
  });

  it('keeps the raw message byte for byte, not a re-serialisation', async () => {
    const [provenance] = await storedResources<Provenance>(t.database.db, 'Provenance');
    const binaryId = provenance?.entity?.[0]?.what?.reference?.split('/')[1] ?? '';
    const [binary] = (await storedResources<{ id: string; data: string }>(t.database.db, 'Binary')).filter((b) => b.id === binaryId);
    expect(Buffer.from(binary?.data ?? '', 'base64').toString('utf8')).toBe(await message('pregnancy-notification'));
    expect(createHash('sha256').update(await message('pregnancy-notification')).digest('hex')).toBe(binaryId);
  });

  it('refuses a body that is not FHIR JSON with 400, storing nothing', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    const res = await t.http.post('/fhir/$process-message').set('Authorization', `Bearer ${maternity}`).set('Content-Type', 'text/plain').send('MSH|^~\\&|not a FHIR message');
    expect(res.status).toBe(400);
    expect(issues(res.body)[0]).toMatchObject({ severity: 'error', expression: ['Bundle.resourceType'] });
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('recognises a re-sent message: same answer, nothing changed', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    const res = await post(maternity, await message('pregnancy-notification'));
    expect(res.status).toBe(200);
    expect(issues(res.body)[0]).toMatchObject({ code: 'duplicate' });
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('stores ten concurrent copies of one message once', async () => {
    const body = await message('pregnancy-notification-consent-refused');
    const before = await countByType(t.database.db);
    const results = await Promise.all(Array.from({ length: 10 }, () => post(maternity, body)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(results.filter((r) => issues(r.body)[0]?.code === 'informational')).toHaveLength(1);
    const after = await countByType(t.database.db);
    expect((after['Patient'] ?? 0) - (before['Patient'] ?? 0)).toBe(1);
    expect((after['Consent'] ?? 0) - (before['Consent'] ?? 0)).toBe(1);
    expect((after['Provenance'] ?? 0) - (before['Provenance'] ?? 0)).toBe(1);
  });

  it('links a birth to the mother: one Patient per NHS number, the baby, the relation, the pregnancy ended', async () => {
    const res = await post(maternity, await message('birth-notification-stu3'));
    expect(res.status).toBe(200);
    const patients = await storedResources<Patient>(t.database.db, 'Patient');
    const mothers = patients.filter((p) => p.identifier?.some((i) => i.value === '9995100010'));
    expect(mothers).toHaveLength(1);
    expect(mothers[0]?.meta.versionId).toBe('2');
    expect(mothers[0]?.telecom).toBeDefined(); // kept from the booking: the birth message does not carry it
    const baby = patients.find((p) => p.identifier?.some((i) => i.value === '9995100029'));
    expect(baby?.birthDate).toBe('2026-09-25');
    const relation = (await storedResources<RelatedPerson>(t.database.db, 'RelatedPerson')).find((r) => r.patient.reference === `Patient/${baby?.id ?? ''}`);
    expect(relation?.identifier?.[0]?.value).toBe('9995100010');
    const episode = (await storedResources<EpisodeOfCare>(t.database.db, 'EpisodeOfCare')).find((e) => e.identifier?.[0]?.value === 'NG-PREG-2026-900001');
    expect(episode).toMatchObject({ status: 'finished', period: { start: '2026-03-02', end: '2026-09-25' } });
    expect(episode?.extension).toEqual(
      expect.arrayContaining([
        { url: 'https://eastside.example/fhir/StructureDefinition/pregnancy-outcome', valueCode: 'live-birth' },
        { url: 'https://eastside.example/fhir/StructureDefinition/pregnancy-baby', valueReference: { reference: `Patient/${baby?.id ?? ''}` } },
      ]),
    );
  });

  it('links a twin to the same ended pregnancy', async () => {
    const twin = nhsNumber(510003);
    const body = (await message('birth-notification-stu3')).replaceAll('9995100029', twin).replaceAll('22222222-2222-4222-8222-222222222201', '22222222-2222-4222-8222-2222222222aa');
    expect((await post(maternity, body)).status).toBe(200);
    const episode = (await storedResources<EpisodeOfCare>(t.database.db, 'EpisodeOfCare')).find((e) => e.identifier?.[0]?.value === 'NG-PREG-2026-900001');
    expect(episode?.extension?.filter((e) => e.url.endsWith('/pregnancy-baby'))).toHaveLength(2);
    expect(episode?.status).toBe('finished');
  });

  it('records a stillbirth so that later rules can act on it', async () => {
    const res = await post(maternity, await message('stillbirth-notification-stu3'));
    expect(res.status).toBe(200);
    const baby = (await storedResources<Patient>(t.database.db, 'Patient')).find((p) => p.identifier?.some((i) => i.value === '9995100223'));
    expect(baby?.deceasedBoolean).toBe(true);
  });

  it('stores only resources that validate as R4', async () => {
    for (const type of ['Patient', 'EpisodeOfCare', 'Observation', 'Consent', 'RelatedPerson', 'Provenance', 'Practitioner', 'Organization']) {
      for (const resource of await storedResources(t.database.db, type)) {
        expect(validateFhir(resource as never)).toEqual({ ok: true });
      }
    }
  });
});

describe('$process-message refusals store nothing', () => {
  it.each([
    ['an invalid NHS number', 'bad-invalid-nhs-number', 422, 'Bundle.entry[1].resource.identifier[0].value'],
    ['a baby without an NHS number', 'bad-birth-without-baby-nhs-number', 422, 'Bundle.entry[4].resource.identifier'],
  ])('%s → %i naming the FHIRPath', async (_name, fixture, status, expression) => {
    const before = await countRows(t.database.db, 'resource_history');
    const res = await post(maternity, await message(fixture), `bad-${fixture}`);
    expect(res.status).toBe(status);
    expect(issues(res.body)[0]).toMatchObject({ severity: 'error', expression: [expression] });
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
    expect((await auditEventsFor(t.database.db, `bad-${fixture}`))[0]?.outcome).toBe('4');
  });

  it('answers truncated JSON with 400 naming the body', async () => {
    const text = await message('pregnancy-notification');
    const res = await post(maternity, text.slice(0, text.length / 2));
    expect(res.status).toBe(400);
    expect(issues(res.body)[0]?.expression).toEqual(['body']);
  });

  it('refuses a message whose sender is not the client\'s organisation (403)', async () => {
    const other = await t.token('test-a', 'direct-care');
    const body = (await message('pregnancy-notification')).replaceAll('11111111-1111-4111-8111-111111111101', '11111111-1111-4111-8111-1111111111ff');
    const res = await post(other, body);
    expect(res.status).toBe(403);
    expect(issues(res.body)[0]?.expression).toEqual(['sender']);
  });

  it.each([
    ['no sender', (header: Record<string, unknown>) => { delete header['sender']; }],
    ['a sender that is no entry of the message', (header: Record<string, unknown>) => { header['sender'] = { reference: 'urn:uuid:00000000-0000-4000-8000-000000000000' }; }],
  ])('refuses a booking with %s (422 naming MessageHeader.sender), storing nothing', async (_name, edit) => {
    const bundle = JSON.parse((await message('pregnancy-notification')).replaceAll('11111111-1111-4111-8111-111111111101', '11111111-1111-4111-8111-1111111111ee')) as { entry: { resource: Record<string, unknown> }[] };
    const header = bundle.entry[0]?.resource;
    if (header === undefined) throw new Error('the fixture has no MessageHeader');
    edit(header);
    const before = await countRows(t.database.db, 'resource_history');
    const res = await post(maternity, JSON.stringify(bundle));
    expect(res.status).toBe(422);
    expect(issues(res.body).map((i) => i.expression?.[0])).toContain('Bundle.entry[0].resource.sender');
    expect(issues(res.body).map((i) => i.diagnostics).join(' ')).toContain('MessageHeader.sender');
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('needs the create scope of the event\'s focus type', async () => {
    const ocean = await t.token('ocean-cc', 'early-years-registration');
    const res = await post(ocean, await message('pregnancy-notification'));
    expect(res.status).toBe(403);
    expect((await post('not-a-token', await message('pregnancy-notification'))).status).toBe(401);
  });
});
