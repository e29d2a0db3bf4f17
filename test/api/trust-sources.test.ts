import type { Bundle, EpisodeOfCare, OperationOutcome, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEventsFor, countRows, storedResources } from '../support/audit.js';
import { bookFixtureMother } from '../support/booking.js';
import { readFixture } from '../support/golden.js';
import { recordStatements } from '../support/statement-log.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Who may send what (issue 10, finding 4; DESIGN.md section 10): the
// protocol's `sources` names the organisation types that may send each kind
// of message. A message from anyone else is refused (403, audited) and writes
// nothing, and no message or REST write from them acts on records another
// organisation wrote (a pregnancy ended as a loss).

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const issues = (body: unknown) => (body as OperationOutcome).issue;
/** The booked fixture mother's NHS number and pregnancy (pregnancy-notification.json). */
const MOTHER_NHS = '9995100010';
const PREGNANCY_ID = 'NG-PREG-2026-900001';

let t: TestHub;
let mother: string;
let gp: string;
let ocean: string;
beforeAll(async () => {
  t = await startTestHub();
  ({ mother } = await bookFixtureMother(t));
  gp = await t.token('limehouse-gp', 'direct-care');
  ocean = await t.token('ocean-cc', 'early-years-registration');
});
afterAll(async () => {
  await t.close();
});

const processMessage = (token: string, body: string, requestId: string) =>
  t.http.post('/fhir/$process-message').set(bearer(token)).set('Content-Type', 'application/fhir+json').set('X-Request-Id', requestId).send(body);

/** The repo's stillbirth notification, about the booked mother, in the name of `sender` (ODS code). */
async function stillbirthFor(sender: string, messageId: string): Promise<string> {
  return (await readFixture('fhir-message/stillbirth-notification-stu3.json'))
    .replaceAll('9995100215', MOTHER_NHS)
    .replaceAll('"R9M"', `"${sender}"`)
    .replaceAll('22222222-2222-4222-8222-222222222202', messageId);
}

const pregnancy = async (): Promise<EpisodeOfCare | undefined> =>
  (await storedResources<EpisodeOfCare>(t.database.db, 'EpisodeOfCare')).find((e) => e.identifier?.some((i) => i.value === PREGNANCY_ID));

describe('a message from an organisation the protocol does not name as its source', () => {
  it('a GP’s stillbirth notification is refused 403 naming the event, audited, and stores nothing; the pregnancy stands and Ocean still receives the mother', async () => {
    const before = { history: await countRows(t.database.db, 'resource_history'), receipts: await countRows(t.database.db, 'message_receipt'), episode: await pregnancy() };
    expect(before.episode?.status).toBe('active');

    const res = await processMessage(gp, await stillbirthFor('Y90001', '22222222-2222-4222-8222-2222222222e1'), 'gp-stillbirth');
    expect(res.status).toBe(403);
    expect(issues(res.body)[0]).toMatchObject({ severity: 'error', code: 'forbidden', expression: ['event'] });
    expect(issues(res.body)[0]?.diagnostics).toMatch(/pds-birth-notification-1 is a birth-notification message, which only maternity may send/);

    const [event] = await auditEventsFor(t.database.db, 'gp-stillbirth');
    expect(event?.outcome).toBe('4');
    expect(event?.outcomeDesc).toMatch(/birth-notification/);

    // Nothing stored: no Observation, RelatedPerson, baby or receipt; the maternity unit's pregnancy is as it was.
    expect(await countRows(t.database.db, 'resource_history')).toBe(before.history);
    expect(await countRows(t.database.db, 'message_receipt')).toBe(before.receipts);
    expect(await pregnancy()).toEqual(before.episode);

    const read = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean));
    expect(read.status).toBe(200);
    expect((read.body as Patient).id).toBe(mother);
  });

  it('the refused message sent again is refused again, not answered as a duplicate: its claim did not outlive the refusal', async () => {
    const body = await stillbirthFor('Y90001', '22222222-2222-4222-8222-2222222222e3');
    const receipts = await countRows(t.database.db, 'message_receipt');
    for (const attempt of ['gp-stillbirth-again-1', 'gp-stillbirth-again-2']) {
      const res = await processMessage(gp, body, attempt);
      expect(res.status).toBe(403);
      expect(issues(res.body)[0]).toMatchObject({ code: 'forbidden', expression: ['event'] });
      const events = await auditEventsFor(t.database.db, attempt);
      expect(events.map((e) => e.outcome)).toEqual(['4']);
    }
    expect(await countRows(t.database.db, 'message_receipt')).toBe(receipts);
  });

  it('the refused message neither waits on nor reads the records of the people it names (attacker: no timing to learn from)', async () => {
    const log = recordStatements(t.database);
    const res = await processMessage(gp, await stillbirthFor('Y90001', '22222222-2222-4222-8222-2222222222e4'), 'gp-stillbirth-no-lookup');
    log.stop();
    expect(res.status).toBe(403);
    const statements = log.statements();
    // The claim was made (and rolled back); no identity lock and no lookup by identifier followed it.
    expect(statements.some((s) => s.includes('message_receipt'))).toBe(true);
    expect(statements.filter((s) => s.includes('pg_advisory_xact_lock') || s.includes("t.param = 'identifier'"))).toEqual([]);
  });

  it('a booking from a GP client holding every scope is refused too: the scope is the client’s, the source is the protocol’s', async () => {
    const testA = await t.token('test-a', 'direct-care');
    const body = (await readFixture('fhir-message/pregnancy-notification.json'))
      .replaceAll('"R9M"', '"TEST-A"')
      .replaceAll('11111111-1111-4111-8111-111111111101', '11111111-1111-4111-8111-1111111111e2');
    const before = await countRows(t.database.db, 'resource_history');
    const res = await processMessage(testA, body, 'gp-booking');
    expect(res.status).toBe(403);
    expect(issues(res.body)[0]?.diagnostics).toMatch(/pregnancy-notification message, which only maternity may send under the protocol; the sender is a gp organisation/);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('an assessment from a GP is refused; the token’s QuestionnaireResponse scope does not make it early help', async () => {
    const testA = await t.token('test-a', 'direct-care');
    const text = (await readFixture('caf/in-progress-no-plan.json')).replaceAll('E09000999-EH', 'TEST-A');
    const res = await t.http.post('/ingest/caf').set(bearer(testA)).set('Content-Type', 'application/json').send(text);
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).toMatch(/early-help-assessment message, which only early-help or health-visiting may send/);
  });

  it('a pregnancy episode a GP client writes through the REST API cannot declare a loss: Ocean still receives the mother', async () => {
    const testA = await t.token('test-a', 'direct-care');
    const forged: EpisodeOfCare = {
      resourceType: 'EpisodeOfCare',
      extension: [{ url: 'https://eastside.example/fhir/StructureDefinition/pregnancy-outcome', valueCode: 'stillbirth' }],
      status: 'finished',
      type: [{ coding: [{ system: 'http://snomed.info/sct', code: '77386006', display: 'Pregnancy' }] }],
      patient: { reference: `Patient/${mother}` },
      // Later than the booking, so it would be the latest pregnancy if it counted.
      period: { start: '2026-08-01', end: '2026-08-14' },
    };
    const created = await t.http.post('/fhir/EpisodeOfCare').set(bearer(testA)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(forged));
    expect(created.status).toBe(201);
    expect((await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean))).status).toBe(200);
    const search = await t.http.get('/fhir/Patient').query({ _id: mother }).set(bearer(ocean));
    expect(((search.body as Bundle).entry ?? []).map((e) => e.resource?.id)).toContain(mother);
  });

  it('the same message from the maternity unit, the source, ends the pregnancy as a loss', async () => {
    const maternity = await t.token('northgate-maternity', 'direct-care');
    // The GP's refused copy claimed nothing: the key is the sender's, so the real one goes through.
    const res = await processMessage(maternity, await stillbirthFor('R9M', '22222222-2222-4222-8222-2222222222e1'), 'maternity-stillbirth');
    expect(res.status).toBe(200);
    const episode = await pregnancy();
    expect(episode?.status).toBe('finished');
    expect(episode?.extension?.find((e) => e.url.endsWith('/pregnancy-outcome'))?.valueCode).toBe('stillbirth');
    expect((await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean))).status).toBe(404);
  });
});
