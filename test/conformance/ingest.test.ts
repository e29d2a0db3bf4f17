import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { EpisodeOfCare, OperationOutcome, Patient } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateAgainstProfile } from '../../src/fhir/profiles.js';
import { countRows, storedResources } from '../support/audit.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';
import { haveSharedFixtures, partnerFixtures, sharedFixtures } from './shared-fixtures.js';

// Conformance: every partner fixture in ../shared/fixtures through the real endpoints.

const read = (name: string) => readFile(path.join(sharedFixtures, name), 'utf8');

describe.skipIf(!haveSharedFixtures)('conformance: partners\' messages through the ingest endpoints', () => {
  let t: TestHub;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    t = await startTestHub();
    tokens['maternity'] = await t.token('northgate-maternity', 'direct-care');
    tokens['Y90001'] = await t.token('limehouse-gp', 'direct-care');
    tokens['Y90002'] = await t.token('bowcommon-gp', 'direct-care');
    tokens['la'] = await t.token('eastside-early-help', 'early-help');
  });
  afterAll(async () => {
    await t.close();
  });

  const send = async (name: string) => {
    const body = await read(name);
    const bearer = (who: string) => `Bearer ${tokens[who] ?? ''}`;
    if (name.endsWith('.hl7')) {
      const who = body.includes('|Y90002|') ? 'Y90002' : 'Y90001';
      return t.http.post('/ingest/hl7v2').set('Authorization', bearer(who)).set('Content-Type', 'x-application/hl7-v2+er7').send(body);
    }
    if (name.endsWith('.csv')) return t.http.post('/ingest/immunisations-csv').set('Authorization', bearer('Y90001')).set('Content-Type', 'text/csv').send(body);
    if (name.includes('caf')) return t.http.post('/ingest/caf').set('Authorization', bearer('la')).set('Content-Type', 'application/json').send(body);
    return t.http.post('/fhir/$process-message').set('Authorization', bearer('maternity')).set('Content-Type', 'application/fhir+json').send(body);
  };
  const issues = (body: unknown) => (body as OperationOutcome).issue;

  
  it.each(partnerFixtures)('%s is stored', async (name) => {
    const res = await send(name);
    expect(res.status).toBe(200);
    expect(issues(res.body).every((i) => i.severity === 'information')).toBe(true);
    expect(issues(res.body).some((i) => i.code === 'informational')).toBe(true);
  });

  it('the story holds: one Patient per NHS number, Yusuf linked to Amina\'s ended pregnancy, Sarah\'s stillbirth recorded', async () => {
    const patients = await storedResources<Patient>(t.database.db, 'Patient');
    const nhs = patients.flatMap((p) => p.identifier?.filter((i) => i.system === 'https://fhir.nhs.uk/Id/nhs-number').map((i) => i.value) ?? []);
    expect(new Set(nhs).size).toBe(nhs.length);
    const yusuf = patients.find((p) => p.identifier?.some((i) => i.value === '9990031673'));
    const episodes = await storedResources<EpisodeOfCare>(t.database.db, 'EpisodeOfCare');
    const amina = episodes.find((e) => e.identifier?.[0]?.value === 'NG-PREG-2026-004417');
    expect(amina).toMatchObject({ status: 'finished', period: { end: '2026-09-25' } });
    expect(amina?.extension).toContainEqual({ url: 'https://eastside.example/fhir/StructureDefinition/pregnancy-baby', valueReference: { reference: `Patient/${yusuf?.id ?? ''}` } });
    const sarah = episodes.find((e) => e.extension?.some((x) => x.valueCode === 'stillbirth'));
    expect(sarah?.status).toBe('finished');
  });

  it('everything stored validates against the hub\'s profiles', async () => {
    const types = ['Patient', 'RelatedPerson', 'EpisodeOfCare', 'Observation', 'Consent', 'Immunization', 'QuestionnaireResponse', 'CarePlan', 'Practitioner', 'Organization', 'Provenance', 'Questionnaire'];
    let checked = 0;
    for (const type of types) {
      for (const resource of await storedResources(t.database.db, type)) {
        expect(validateAgainstProfile(resource as never), `${type}/${resource.id}`).toEqual({ ok: true });
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('re-sending every fixture changes nothing', async () => {
    const before = await countRows(t.database.db, 'resource_history');
    for (const name of partnerFixtures) {
      const res = await send(name);
      expect(res.status).toBe(200);
      expect(issues(res.body).every((i) => i.code === 'duplicate')).toBe(true);
    }
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it.each([
    ['bad/booking-invalid-nhs-number.json', 422, 'Bundle.entry[1].resource.identifier[0].value'],
    ['bad/booking-truncated.json', 400, 'body'],
    ['bad/birth-notification-baby-without-nhs-number.json', 422, 'Bundle.entry[4].resource.identifier'],
    ['bad/not-hl7.hl7', 400, undefined],
    ['bad/vxu-without-pid.hl7', 422, 'PID'],
    ['bad/caf-child-without-date-of-birth.json', 422, 'assessment.child.dateOfBirth'],
  ])('%s is refused with %i, naming the fault, storing nothing', async (name, status, expression) => {
    const before = await countRows(t.database.db, 'resource_history');
    const res = await send(name);
    expect(res.status).toBe(status);
    const [first] = issues(res.body);
    expect(first?.severity).toBe('error');
    expect(first?.diagnostics?.length).toBeGreaterThan(5);
    if (expression !== undefined) expect(first?.expression).toEqual([expression]);
    expect(await countRows(t.database.db, 'resource_history')).toBe(before);
  });

  it('stores the good row of the bad CSV (already received), and reports each bad row with its column', async () => {
    const res = await send('bad/missed-immunisations-some-bad-rows.csv');
    expect(res.status).toBe(200);
    const all = issues(res.body);
    expect(all.filter((i) => i.severity === 'information').map((i) => [i.expression?.[0], i.code])).toEqual([['row 1', 'duplicate']]);
    expect(all.filter((i) => i.severity === 'error').map((i) => i.expression?.[0])).toEqual(['row 2 column NHS_NUMBER', 'row 3 column PERSON_DOB', 'row 4 column STATUS']);
  });

  it('processes ten concurrent copies of a re-keyed booking once, and a late booking update never reopens an ended pregnancy', async () => {
    const original = await read('maternity/booking-consent-given-2.json');
    const headerId = (JSON.parse(original) as { entry: { resource: { id: string } }[] }).entry[0]?.resource.id ?? '';
    const body = original.replaceAll(headerId, '99999999-9999-4999-8999-999999999999');
    const results = await Promise.all(
      Array.from({ length: 10 }, () => t.http.post('/fhir/$process-message').set('Authorization', `Bearer ${tokens['maternity'] ?? ''}`).set('Content-Type', 'application/fhir+json').send(body)),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const processed = results.map((r) => issues(r.body)[0]?.diagnostics ?? '').filter((d) => !/already received/.test(d));
    expect(processed).toHaveLength(1);
    // The mother's details as the booking states them may differ from the birth notification's; nothing else moves.
    // The Patient is named without a version (its versions would count other sources' writes).
    expect(processed[0]).toMatch(/^Bundle: (nothing new|stored Patient\/[0-9a-f-]{36})$/);
    const episode = (await storedResources<EpisodeOfCare>(t.database.db, 'EpisodeOfCare')).find((e) => e.identifier?.[0]?.value === 'NG-PREG-2026-003981');
    expect(episode?.status).toBe('finished');
    expect(episode?.extension).toContainEqual({ url: 'https://eastside.example/fhir/StructureDefinition/pregnancy-outcome', valueCode: 'stillbirth' });
  });
});
