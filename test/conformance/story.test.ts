import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type {
  AuditEvent,
  CarePlan,
  Communication,
  Consent,
  EpisodeOfCare,
  Extension,
  Immunization,
  Observation,
  OperationOutcome,
  Parameters,
  Patient,
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  RelatedPerson,
  Resource,
  Task,
  ImmunizationRecommendation,
  MeasureReport,
} from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyConsistency } from '../../src/audit/merkle.js';
import { openCheckpoint, parseVerifierKey, type LogVerifier } from '../../src/audit/signed-note.js';
import { rawRows } from '../../src/db/database.js';
import { restEventsFor } from '../support/audit.js';
import { decisionOn, decisionsOf, Partner, storyClock, type DecisionSummary, type ReadRefusal, type Refusal } from '../support/story.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';
import { haveSharedFixtures, sharedFixtures } from './shared-fixtures.js';

// Conformance: the story of ../shared/fixtures/README.md, steps 1 to 13, told
// through HTTP in one hub, in order. Partners send their fixtures to the
// ingest endpoints; every read and search a partner makes goes through a stock
// FHIR client (fhir-kit-client), with the demo clients and purposes of
// partners.yaml. Ids are learnt the way a partner would learn them (a search
// by NHS number or business identifier, or a pull); only AuditEvents and
// ig_alert rows are read from the database.

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const CAF_ASSESSMENT = 'https://eastside.example/fhir/Id/caf-assessment';
const DENY_REASON = 'https://eastside.example/fhir/CodeSystem/deny-reason';
const CAUGHT_UP = 'https://eastside.example/fhir/StructureDefinition/missed-dose-caught-up';
const VACCINATION_PROCEDURE = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure';
const SNOMED = 'http://snomed.info/sct';
const flow = (id: string): string => `eastside-early-years-isp|4|${id}`;

/** NHS numbers of the fixtures' people (see the files named). */
const AMINA = '9990007926'; // maternity/booking-consent-given.json, E1 6AN
const ZOFIA = '9990023751'; // maternity/booking-consent-refused.json, E14 3BD
const SARAH = '9990039593'; // maternity/booking-consent-given-2.json, E1W 2AA
const SARAH_BABY = '9990047510'; // maternity/birth-notification-stillbirth-nems-stu3.json
const YUSUF = '9990031673'; // maternity/birth-notification-nems-stu3.json, E1 6AN
const MAYA = '9990063354'; // gp/vxu-missed-6in1-dose3.hl7, E1 1LA
const IBRAHIM = '9990071276'; // gp/vxu-batch-y90002.hl7, second message (RXA-20 RE), E14 8JH
const LEO = '9990055432'; // la/caf-leo-ahmed.json, E14 3NE
const OLIVIA = '9992004118'; // gp/immunisation-history-y90001.csv, born 2026-05-04
const ELLA = '9992006854'; // same file, born 2025-02-01
const JACOB = '9992005483'; // same file, born 2024-03-10
const HALIMA = '9992001372'; // maternity/birth-notification-no-booking-nems-stu3.json, never booked
const ADAM = '9992002743'; // her baby, born 2026-11-14
const NOOR = '9992008229'; // hv/caf-hv-noor-hussain.json
const FOLLOW_UP = 'https://eastside.example/fhir/CodeSystem/follow-up';
const byNhs = (nhs: string): Record<string, string> => ({ identifier: `${NHS}|${nhs}` });

/** "Today" in the story is 2026-11-22 (fixtures README); the hub's clock starts there and runs. */
const clock = storyClock('2026-11-22T09:00:00.000Z');
const at = (): string => clock().toISOString();

let requestCount = 0;
const rid = (label: string): string => `story-${label}-${String((requestCount += 1))}`;

const ids = (resources: readonly Resource[]): string[] => resources.map((r) => r.id ?? '');
const ref = (type: string, id: string): string => `${type}/${id}`;
const one = <T>(list: readonly T[]): T => {
  expect(list).toHaveLength(1);
  return list[0] as T;
};
const redacted = (r: Resource): boolean => (r.meta?.security ?? []).some((s) => s.code === 'REDACTED');
const leaves = (items: readonly QuestionnaireResponseItem[] | undefined): QuestionnaireResponseItem[] =>
  (items ?? []).flatMap((i) => (i.item === undefined ? [i] : leaves(i.item)));
const param = (p: Parameters, name: string) => p.parameter?.find((x) => x.name === name);

/**
 * A denial says nothing: the requester is answered exactly as for an id the
 * hub never held (no reason code), and the reason is in the audit log.
 */
async function expectDenied(t: TestHub, refusal: ReadRefusal, reason: string): Promise<void> {
  expect({ status: refusal.status, reason: refusal.reason, system: refusal.reasonSystem }).toEqual({ status: 404, reason: undefined, system: undefined });
  const masked = (r: Refusal, id: string): string => JSON.stringify(r.outcome).split(id).join('{id}');
  expect({ status: refusal.status, outcome: masked(refusal, refusal.id) }).toEqual({ status: refusal.absent.status, outcome: masked(refusal.absent, refusal.absentId) });
  const denials = (await decisionsOf(t, refusal.requestId)).filter((d) => d.effect === 'deny');
  expect(denials.map((d) => d.code)).toContain(reason);
}

function expectDenial(d: DecisionSummary | undefined, reason: string, patient: string): void {
  expect(d?.outcome).toBe('8');
  expect(d?.effect).toBe('deny');
  expect(d?.code).toBe(reason);
  expect(d?.patients).toEqual([patient]);
}

function expectPermit(d: DecisionSummary | undefined, flowId: string): void {
  expect(d?.outcome).toBe('0');
  expect(d?.code).toBe('flow');
  expect(d?.flow).toBe(flow(flowId));
}

describe.skipIf(!haveSharedFixtures)('conformance: the story, steps 1 to 13, through HTTP', () => {
  let t: TestHub;
  // The partners, each a client system with one purpose of use (partners.yaml).
  let northgate: Partner;
  let limehouse: Partner;
  let bowcommon: Partner;
  let earlyHelp: Partner;
  let hvDirect: Partner;
  let hvEarlyHelp: Partner;
  let hvSafeguarding: Partner;
  let bowcommonEarlyHelp: Partner;
  let ocean: Partner;
  let oceanImms: Partner;
  let oceanEarlyHelp: Partner;
  let iod: Partner;
  let iodImms: Partner;
  let iodEarlyHelp: Partner;
  let ig: Partner;
  let hvImms: Partner;
  let publicHealth: Partner;

  /** What the partners have learnt so far (ids, and when Ocean last pulled). */
  const known: Record<string, string> = {};
  const id = (name: string): string => {
    const value = known[name];
    if (value === undefined) throw new Error(`${name} was not learnt in an earlier step`);
    return value;
  };
  let oceanLastPatientPull = '';
  /** What the IG lead kept from her last look at the log: its key, and a signed checkpoint. */
  let pinnedLog: LogVerifier | undefined;
  let savedCheckpoint = '';

  beforeAll(async () => {
    t = await startTestHub({ listen: true, clock });
    const partner = (clientId: string, purpose: string): Partner => new Partner(t, clock, clientId, purpose);
    northgate = partner('northgate-maternity', 'direct-care');
    limehouse = partner('limehouse-gp', 'direct-care');
    bowcommon = partner('bowcommon-gp', 'direct-care');
    earlyHelp = partner('eastside-early-help', 'early-help');
    hvDirect = partner('eastside-hv', 'direct-care');
    hvEarlyHelp = partner('eastside-hv', 'early-help');
    hvSafeguarding = partner('eastside-hv', 'safeguarding');
    bowcommonEarlyHelp = partner('bowcommon-gp', 'early-help');
    ocean = partner('ocean-cc', 'early-years-registration');
    oceanImms = partner('ocean-cc', 'immunisation-follow-up');
    oceanEarlyHelp = partner('ocean-cc', 'early-help');
    iod = partner('iod-cc', 'early-years-registration');
    iodImms = partner('iod-cc', 'immunisation-follow-up');
    iodEarlyHelp = partner('iod-cc', 'early-help');
    ig = partner('ig-console', 'audit');
    hvImms = partner('eastside-hv', 'immunisation-follow-up');
    publicHealth = partner('eastside-public-health', 'commissioning');
  });
  afterAll(async () => {
    await t.close();
  });

  /**
   * A partner's system posts a fixture to the endpoint for its format; the hub
   * must accept it. Returns what the answer says was stored ("Type/id"), which
   * is how a sender learns the ids of its own records.
   */
  async function send(name: string, sender: Partner): Promise<string[]> {
    const body = await readFile(path.join(sharedFixtures, name), 'utf8');
    const auth = `Bearer ${await sender.bearer()}`;
    const res = name.endsWith('.hl7')
      ? await t.http.post('/ingest/hl7v2').set('Authorization', auth).set('Content-Type', 'x-application/hl7-v2+er7').send(body)
      : name.startsWith('la/') || name.startsWith('hv/')
        ? await t.http.post('/ingest/caf').set('Authorization', auth).set('Content-Type', 'application/json').send(body)
        : await t.http.post('/fhir/$process-message').set('Authorization', auth).set('Content-Type', 'application/fhir+json').send(body);
    expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(200);
    const issues = (res.body as OperationOutcome).issue;
    expect(issues.map((i) => [i.severity, i.code])).toEqual(issues.map(() => ['information', 'informational']));
    // A Patient is named without a version (ingest answers never count other sources' writes); other records with one.
    return issues.flatMap((i) => [...(i.diagnostics ?? '').matchAll(/\b([A-Z][A-Za-z]+\/[A-Za-z0-9.-]+)(?:\/_history\/\d+)?/g)].map((m) => m[1] ?? ''));
  }
  const storedOf = (stored: readonly string[], type: string): string => {
    const found = stored.filter((r) => r.startsWith(`${type}/`));
    expect(found, `${type} in ${stored.join(', ')}`).toHaveLength(1);
    return (found[0] ?? '').slice(type.length + 1);
  };

  it('1. Amina books with consent: Ocean pulls her registration, redacted to mother-contact and pregnancy-summary', async () => {
    const since = at();
    known['bookingSince'] = since;
    const stored = await send('maternity/booking-consent-given.json', northgate);

    // Northgate learns its booking Consent's id from the hub's answer, and reads it back (Consent.cruds).
    known['aminaConsent'] = storedOf(stored, 'Consent');
    const consent = await northgate.read<Consent>('Consent', id('aminaConsent'));
    expect(consent).toMatchObject({ status: 'active', provision: { type: 'permit' } });

    // Ocean (catchment E1, E1W) pulls what is new since it last looked.
    const pull = rid('ocean-pull');
    oceanLastPatientPull = at();
    const pulled = await ocean.search<Patient>('Patient', { _lastUpdated: `ge${since}` }, { requestId: pull });
    expect(pulled.map((p) => p.name?.[0]?.family)).toEqual(['Rahman']);
    const amina = one(pulled);
    known['amina'] = amina.id ?? '';
    expect(consent.patient?.reference).toBe(ref('Patient', id('amina')));
    expect(amina.name?.[0]).toMatchObject({ family: 'Rahman', given: ['Amina'] });
    expect(amina.address?.[0]?.postalCode).toBe('E1 6AN');
    expect(amina.telecom?.[0]?.value).toBe('07700 900123');
    expect(amina.birthDate).toBe('1994-05-17');
    expect(amina.communication?.[0]?.language.coding?.[0]?.code).toBe('bn');
    expect(amina.identifier).toBeUndefined();
    expect(amina.generalPractitioner).toBeUndefined();
    expect(amina.gender).toBeUndefined();
    expect(JSON.stringify(amina)).not.toContain(AMINA);
    expect(redacted(amina)).toBe(true);
    const decision = decisionOn(await decisionsOf(t, pull), ref('Patient', id('amina')));
    expectPermit(decision, 'booking-to-childrens-centre');
    expect(decision?.consent).toBe(`Consent/${id('aminaConsent')}/_history/1`);
    expect(decision?.patients).toEqual([ref('Patient', id('amina'))]);

    // Her due date and booking, as the pregnancy-summary item allows.
    const episode = one(await ocean.search<EpisodeOfCare>('EpisodeOfCare', { patient: ref('Patient', id('amina')) }));
    expect(episode).toMatchObject({ status: 'active', period: { start: '2026-03-02' }, patient: { reference: ref('Patient', id('amina')) } });
    expect(episode.type?.[0]?.coding?.[0]).toMatchObject({ system: SNOMED, code: '77386006' });
    expect(episode.managingOrganization).toBeDefined();
    expect(episode.identifier).toBeUndefined();
    expect(redacted(episode)).toBe(true);
    const edd = one(await ocean.search<Observation>('Observation', { patient: ref('Patient', id('amina')) }));
    expect(edd).toMatchObject({ status: 'final', valueDateTime: '2026-09-28', code: { coding: [{ system: 'http://loinc.org', code: '11778-8' }] } });
    expect(edd.effectiveDateTime).toBeUndefined();
    expect(edd.identifier).toBeUndefined();
    expect(redacted(edd)).toBe(true);
    known['aminaEpisode'] = episode.id ?? '';
    known['aminaEdd'] = edd.id ?? '';
  });

  it('1. Isle of Dogs (E14) cannot: its pull omits her, a read is 404 outside-catchment, and the denial is audited', async () => {
    const amina = ref('Patient', id('amina'));
    // The search omits her (whether the hub decides and audits each out-of-catchment record of a search, or
    // leaves them out before deciding, is the hub's choice: only the read's denial is asserted as audited).
    expect(await iod.search<Patient>('Patient', { _lastUpdated: `ge${id('bookingSince')}` })).toEqual([]);
    for (const type of ['EpisodeOfCare', 'Observation'] as const) {
      expect(await iod.search(type, { _lastUpdated: `ge${id('bookingSince')}` }), type).toEqual([]);
    }

    const read = rid('iod-read');
    await expectDenied(t, await iod.readRefused('Patient', id('amina'), { requestId: read }), 'outside-catchment');
    const decisions = await decisionsOf(t, read);
    expect(decisions).toHaveLength(1);
    expectDenial(decisions[0], 'outside-catchment', amina);
    expect(decisions[0]?.record).toMatch(new RegExp(`^${amina}/_history/\\d+$`));
    expect(decisions[0]?.flow).toBe(flow('booking-to-childrens-centre'));
    for (const [type, key] of [['EpisodeOfCare', 'aminaEpisode'], ['Observation', 'aminaEdd']] as const) {
      await expectDenied(t, await iod.readRefused(type, id(key)), 'outside-catchment');
    }
  });

  it('1. The health visitors find her by NHS number for direct care (booking-to-health-visiting, no consent needed)', async () => {
    const search = rid('hv-find-amina');
    const amina = one(await hvDirect.search<Patient>('Patient', byNhs(AMINA), { requestId: search }));
    expect(amina.id).toBe(id('amina'));
    expect(amina.name?.[0]?.family).toBe('Rahman');
    expect(amina.address?.[0]?.postalCode).toBe('E1 6AN');
    const decision = decisionOn(await decisionsOf(t, search), ref('Patient', id('amina')));
    expectPermit(decision, 'booking-to-health-visiting');
    expect(decision?.consent).toBeUndefined();
    expect(ids(await hvDirect.search<EpisodeOfCare>('EpisodeOfCare', { patient: ref('Patient', id('amina')) }))).toEqual([id('aminaEpisode')]);
    expect(ids(await hvDirect.search<Observation>('Observation', { patient: ref('Patient', id('amina')) }))).toEqual([id('aminaEdd')]);
  });

  it('2. Zofia (E14) refuses: no children\'s centre sees her (Ocean: outside-catchment, Isle of Dogs: consent-refused); the health visitors still do', async () => {
    const since = at();
    const stored = await send('maternity/booking-consent-refused.json', northgate);
    const zofia = one(await hvDirect.search<Patient>('Patient', byNhs(ZOFIA)));
    expect(zofia.name?.[0]).toMatchObject({ family: 'Kowalska', given: ['Zofia'] });
    expect(zofia.address?.[0]?.postalCode).toBe('E14 3BD');
    const patient = ref('Patient', zofia.id ?? '');
    const episode = one(await hvDirect.search<EpisodeOfCare>('EpisodeOfCare', { patient }));
    const edd = one(await hvDirect.search<Observation>('Observation', { patient }));
    const refusal = await northgate.read<Consent>('Consent', storedOf(stored, 'Consent'));
    expect(refusal).toMatchObject({ status: 'active', provision: { type: 'deny' }, patient: { reference: patient } });

    for (const [type, recordId] of [['Patient', zofia.id ?? ''], ['EpisodeOfCare', episode.id ?? ''], ['Observation', edd.id ?? '']] as const) {
      // Ocean's catchment (E1, E1W) does not hold E14: that is checked before any consent.
      await expectDenied(t, await ocean.readRefused(type, recordId), 'outside-catchment');
      const read = rid('iod-read-zofia');
      await expectDenied(t, await iod.readRefused(type, recordId, { requestId: read }), 'consent-refused');
      const [decision] = await decisionsOf(t, read);
      expectDenial(decision, 'consent-refused', patient);
      expect(decision?.consent).toBe(`Consent/${refusal.id ?? ''}/_history/1`);
      expect(decision?.flow).toBe(flow('booking-to-childrens-centre'));
    }
    for (const centre of [ocean, iod]) {
      for (const type of ['Patient', 'EpisodeOfCare', 'Observation'] as const) {
        expect(await centre.search(type, { _lastUpdated: `gt${since}` }), `${centre.clientId} ${type}`).toEqual([]);
      }
    }
  });

  it('3. Sarah (E1W) consents; after the stillbirth notification no children\'s centre gets anything about her or the baby (excluded:pregnancy-loss); the health visitors still do', async () => {
    const since = at();
    await send('maternity/booking-consent-given-2.json', northgate);
    oceanLastPatientPull = at();
    const sarah = one(await ocean.search<Patient>('Patient', { _lastUpdated: `gt${since}` }));
    expect(sarah.name?.[0]).toMatchObject({ family: 'Mensah', given: ['Sarah'] });
    known['sarah'] = sarah.id ?? '';
    const sarahEpisode = one(await ocean.search<EpisodeOfCare>('EpisodeOfCare', { patient: ref('Patient', id('sarah')) }));
    const sarahEdd = one(await ocean.search<Observation>('Observation', { patient: ref('Patient', id('sarah')) }));

    await send('maternity/birth-notification-stillbirth-nems-stu3.json', northgate);
    const baby = one(await hvDirect.search<Patient>('Patient', byNhs(SARAH_BABY)));
    expect(baby).toMatchObject({ birthDate: '2026-08-14', name: [{ family: 'Mensah' }] });

    const records: [string, string, string][] = [
      ['Patient', id('sarah'), id('sarah')],
      ['EpisodeOfCare', sarahEpisode.id ?? '', id('sarah')],
      ['Observation', sarahEdd.id ?? '', id('sarah')],
      ['Patient', baby.id ?? '', baby.id ?? ''],
    ];
    for (const centre of [ocean, iod]) {
      for (const [type, recordId, subject] of records) {
        const read = rid('cc-read-sarah');
        await expectDenied(t, await centre.readRefused(type, recordId, { requestId: read }), 'excluded:pregnancy-loss');
        expectDenial((await decisionsOf(t, read))[0], 'excluded:pregnancy-loss', ref('Patient', subject));
      }
    }
    // Ocean's next pull: nothing about either of them.
    const previous = oceanLastPatientPull;
    oceanLastPatientPull = at();
    for (const type of ['Patient', 'EpisodeOfCare', 'Observation', 'RelatedPerson'] as const) {
      expect(await ocean.search(type, { _lastUpdated: `gt${previous}` }), type).toEqual([]);
    }
    expect(await ocean.search('Patient', { _id: `${id('sarah')},${baby.id ?? ''}` })).toEqual([]);

    // Health visiting: direct care rests on no consent and no exclusion.
    expect(ids(await hvDirect.search<Patient>('Patient', byNhs(SARAH)))).toEqual([id('sarah')]);
    expect((await hvDirect.read<Patient>('Patient', id('sarah'))).name?.[0]?.family).toBe('Mensah');
    const hvBaby = rid('hv-read-baby');
    expect((await hvDirect.read<Patient>('Patient', baby.id ?? '', { requestId: hvBaby })).birthDate).toBe('2026-08-14');
    expectPermit((await decisionsOf(t, hvBaby))[0], 'birth-to-health-visiting');
    expect(ids(await hvDirect.search('EpisodeOfCare', { patient: ref('Patient', id('sarah')) }))).toEqual([sarahEpisode.id]);
  });

  it('4. Yusuf is born: Ocean gets his registration on Amina\'s booking consent (birth-to-childrens-centre); the health visitors get his birth details', async () => {
    const since = at();
    await send('maternity/birth-notification-nems-stu3.json', northgate);

    const found = rid('hv-find-yusuf');
    const yusufAtHv = one(await hvDirect.search<Patient>('Patient', byNhs(YUSUF), { requestId: found }));
    known['yusuf'] = yusufAtHv.id ?? '';
    expectPermit(decisionOn(await decisionsOf(t, found), ref('Patient', id('yusuf'))), 'birth-to-health-visiting');
    const observations = await hvDirect.search<Observation>('Observation', { patient: ref('Patient', id('yusuf')) });
    const weight = observations.find((o) => o.code.coding?.some((c) => c.system === SNOMED && c.code === '364589006'));
    expect(weight).toMatchObject({ status: 'final', subject: { reference: ref('Patient', id('yusuf')) }, valueQuantity: { value: 3340, unit: 'g' } });
    expect(weight?.effectiveDateTime?.slice(0, 10)).toBe('2026-09-25');

    const previous = oceanLastPatientPull;
    oceanLastPatientPull = at();
    const pull = rid('ocean-pull-yusuf');
    const pulled = await ocean.search<Patient>('Patient', { _lastUpdated: `gt${previous}` }, { requestId: pull });
    const yusuf = pulled.find((p) => p.id === id('yusuf'));
    expect(yusuf?.name?.[0]).toMatchObject({ family: 'Rahman', given: ['Yusuf'] });
    expect(yusuf).toMatchObject({ birthDate: '2026-09-25', gender: 'male', address: [{ postalCode: 'E1 6AN' }] });
    expect(yusuf?.identifier).toBeUndefined();
    expect(yusuf?.multipleBirthInteger).toBeUndefined();
    expect(yusuf !== undefined && redacted(yusuf)).toBe(true);
    const decision = decisionOn(await decisionsOf(t, pull), ref('Patient', id('yusuf')));
    expectPermit(decision, 'birth-to-childrens-centre');
    expect(decision?.consent).toBe(`Consent/${id('aminaConsent')}/_history/1`);
    expect(decision?.patients).toEqual([ref('Patient', id('yusuf'))]);

    // Birth details are the health visitors' alone; Amina's registration stays with Ocean.
    expect(await ocean.search('Observation', { patient: ref('Patient', id('yusuf')) })).toEqual([]);
    expect(await ocean.search('Observation', { _lastUpdated: `gt${since}` })).toEqual([]);
    const amina = await ocean.read<Patient>('Patient', id('amina'));
    expect(amina.address?.[0]?.postalCode).toBe('E1 6AN');
    expect(amina.identifier).toBeUndefined();
  });

  it('5. Maya misses her third 6-in-1: Ocean sees the missed dose without the reason, the health visitors with it; the catch-up closes it in Ocean\'s next pull', async () => {
    const since = at();
    await send('gp/vxu-missed-6in1-dose3.hl7', limehouse);

    const firstPull = at();
    const pull = rid('ocean-imms-pull');
    const missed = one(await oceanImms.search<Immunization>('Immunization', { _lastUpdated: `gt${since}` }, { requestId: pull }));
    expect(missed.status).toBe('not-done');
    expect(missed.statusReason).toBeUndefined();
    expect(missed.extension?.find((e) => e.url === VACCINATION_PROCEDURE)?.valueCodeableConcept?.coding?.[0]?.code).toBe('770618004');
    expect(missed.extension?.some((e) => e.url === CAUGHT_UP)).toBe(false);
    expect(redacted(missed)).toBe(true);
    expectPermit(decisionOn(await decisionsOf(t, pull), ref('Immunization', missed.id ?? '')), 'missed-imms-to-childrens-centre');

    const maya = one(await hvDirect.search<Patient>('Patient', byNhs(MAYA)));
    expect(maya.name?.[0]?.family?.toUpperCase()).toBe('THOMPSON');
    const atHv = one(await hvDirect.search<Immunization>('Immunization', { patient: ref('Patient', maya.id ?? '') }));
    expect(atHv.id).toBe(missed.id);
    expect(atHv.status).toBe('not-done');
    expect(atHv.statusReason?.coding?.[0]).toMatchObject({ system: SNOMED, code: '201741000000102' });
    known['maya'] = maya.id ?? '';
    known['maya-missed'] = missed.id ?? '';
    known['maya-first-pull'] = firstPull;
  });

  it('9. Maya\'s missed dose is follow-up work: a Task owned by Ocean and one for the health visitors; Ocean marks its Task in progress', async () => {
    const focus = ref('Immunization', id('maya-missed'));
    const pull = rid('ocean-task-pull');
    const atOcean = (await oceanImms.search<Task>('Task', { patient: ref('Patient', id('maya')) }, { requestId: pull })).filter((x) => x.focus?.reference === focus);
    const mine = one(atOcean.filter((x) => x.owner?.identifier?.value === 'CC-OCEAN'));
    expect(mine).toMatchObject({ status: 'requested', intent: 'order', for: { reference: ref('Patient', id('maya')) }, code: { coding: [{ code: 'missed-dose' }] } });
    expect(redacted(mine)).toBe(true);
    // One decision event names every record decided alike (here Ocean's Task and the health visitors').
    const naming = (await decisionsOf(t, pull)).find((d) => d.event.entity?.some((e) => e.what?.reference?.startsWith(`${ref('Task', mine.id ?? '')}/_history/`) === true) === true);
    expectPermit(naming, 'follow-up-to-childrens-centre');
    const atHv = await hvDirect.search<Task>('Task', { patient: ref('Patient', id('maya')) });
    expect(atHv.filter((x) => x.focus?.reference === focus).map((x) => x.owner?.identifier?.value).sort()).toEqual(['CC-OCEAN', 'R9H']);
    // Isle of Dogs (E14) has no part in an E1 child's follow-up.
    expect(await iodImms.search<Task>('Task', { patient: ref('Patient', id('maya')) })).toEqual([]);

    const moved = await oceanImms.update<Task>({ ...mine, id: mine.id ?? '', status: 'in-progress', note: [{ text: 'family contacted, appointment booked' }] });
    expect(moved.status).toBe('in-progress');
    expect(moved.note?.map((n) => n.text)).toEqual(['family contacted, appointment booked']);
    known['maya-ocean-task'] = mine.id ?? '';
  });

  it('5 and 9. The catch-up dose closes Maya\'s missed dose in Ocean\'s next pull, and completes both Tasks by itself', async () => {
    const missed = { id: id('maya-missed') };
    const firstPull = id('maya-first-pull');
    const maya = { id: id('maya') };
    await send('gp/vxu-catch-up-given-6in1-dose3.hl7', limehouse);
    const next = await oceanImms.search<Immunization>('Immunization', { _lastUpdated: `gt${firstPull}` });
    const closed = one(next);
    expect(closed.id).toBe(missed.id);
    expect(closed.meta?.versionId).toBe('2');
    expect(closed.status).toBe('not-done');
    expect(closed.statusReason).toBeUndefined();
    const marker: Extension | undefined = closed.extension?.find((e) => e.url === CAUGHT_UP);
    expect(marker?.valueDateTime?.slice(0, 10)).toBe('2026-08-06');

    const both = await hvDirect.search<Immunization>('Immunization', { patient: ref('Patient', maya.id ?? '') });
    expect(both.map((i) => i.status).sort()).toEqual(['completed', 'not-done']);
    expect(both.find((i) => i.id === missed.id)?.extension?.some((e) => e.url === CAUGHT_UP)).toBe(true);

    const done = await oceanImms.read<Task>('Task', id('maya-ocean-task'));
    expect(done.status).toBe('completed');
    expect(done.businessStatus?.coding?.[0]?.code).toBe('dose-given');
    const atHv = (await hvDirect.search<Task>('Task', { patient: ref('Patient', maya.id) })).filter((x) => x.focus?.reference === ref('Immunization', missed.id));
    expect(atHv.map((x) => x.status)).toEqual(['completed', 'completed']);
  });

  it('5. Ibrahim Hossain\'s refused rotavirus dose (E14) goes to the health visitors only', async () => {
    const since = at();
    await send('gp/vxu-batch-y90002.hl7', bowcommon);
    const ibrahim = one(await hvDirect.search<Patient>('Patient', byNhs(IBRAHIM)));
    expect(ibrahim.name?.[0]?.given?.[0]?.toUpperCase()).toBe('IBRAHIM');
    const refusal = one(await hvDirect.search<Immunization>('Immunization', { patient: ref('Patient', ibrahim.id ?? '') }));
    expect(refusal.status).toBe('not-done');
    expect(refusal.statusReason?.coding?.[0]).toMatchObject({ system: SNOMED, code: '310376006' });

    await expectDenied(t, await oceanImms.readRefused('Immunization', refusal.id ?? ''), 'outside-catchment');
    const read = rid('iod-read-refusal');
    await expectDenied(t, await iodImms.readRefused('Immunization', refusal.id ?? '', { requestId: read }), 'where-not-met');
    const [decision] = await decisionsOf(t, read);
    expectDenial(decision, 'where-not-met', ref('Patient', ibrahim.id ?? ''));
    expect(decision?.flow).toBe(flow('missed-imms-to-childrens-centre'));
    await expectDenied(t, await iodImms.readRefused('Patient', ibrahim.id ?? ''), 'where-not-met');
    expect(ids(await iodImms.search('Immunization', { _lastUpdated: `gt${since}` }))).not.toContain(refusal.id);
    expect(ids(await iodImms.search('Patient', { _lastUpdated: `gt${since}` }))).not.toContain(ibrahim.id);

    // 9. The refusal is work for the health visitors only: no centre owns a Task for it, and none can see theirs.
    const tasks = (await hvDirect.search<Task>('Task', { patient: ref('Patient', ibrahim.id ?? '') })).filter((x) => x.focus?.reference === ref('Immunization', refusal.id ?? ''));
    expect(tasks.map((x) => x.owner?.identifier?.value)).toEqual(['R9H']);
    const hvTask = tasks[0]?.id ?? '';
    await expectDenied(t, await iodImms.readRefused('Task', hvTask), 'focus-not-disclosed');
    expect(ids(await iodImms.search('Task', {}))).not.toContain(hvTask);
  });

  it('6. Leo Ahmed\'s CAF reaches the health visitors and his GP in full, and Isle of Dogs as a summary', async () => {
    const since = at();
    await send('la/caf-leo-ahmed.json', earlyHelp);

    const leo = one(await hvEarlyHelp.search<Patient>('Patient', byNhs(LEO)));
    known['leo'] = leo.id ?? '';
    const subject = ref('Patient', id('leo'));
    const search = rid('hv-caf-leo');
    const full = one(await hvEarlyHelp.search<QuestionnaireResponse>('QuestionnaireResponse', { subject }, { requestId: search }));
    expectPermit(decisionOn(await decisionsOf(t, search), ref('QuestionnaireResponse', full.id ?? '')), 'caf-to-health');
    expect(full.identifier).toMatchObject({ system: CAF_ASSESSMENT, value: 'EH-2026-00187' });
    expect(JSON.stringify(full.item)).toContain('Nursery reports speech delay');
    expect(leaves(full.item).some((i) => i.linkId.endsWith('.strengths'))).toBe(true);
    const plan = one(await hvEarlyHelp.search<CarePlan>('CarePlan', { subject }));
    expect(plan.activity).toHaveLength(4);
    expect(plan.supportingInfo?.[0]?.reference).toBe(ref('QuestionnaireResponse', full.id ?? ''));

    // His GP (Bow Common, Y90002) for early help: the same full assessment.
    const atGp = one(await bowcommonEarlyHelp.search<QuestionnaireResponse>('QuestionnaireResponse', { subject }));
    expect(atGp).toEqual(full);

    // Isle of Dogs, for early help: the summary only, the needs headline per domain and the action plan.
    const pull = rid('iod-caf-pull');
    const summary = one(await iodEarlyHelp.search<QuestionnaireResponse>('QuestionnaireResponse', { _lastUpdated: `gt${since}` }, { requestId: pull }));
    expect(summary.id).toBe(full.id);
    expectPermit(decisionOn(await decisionsOf(t, pull), ref('QuestionnaireResponse', full.id ?? '')), 'caf-to-childrens-centre');
    expect(summary).toMatchObject({ status: 'completed', authored: '2026-10-05', subject: { reference: subject } });
    expect(summary.identifier).toBeUndefined();
    expect(redacted(summary)).toBe(true);
    const kept = leaves(summary.item);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.map((i) => i.linkId).filter((l) => !l.endsWith('.needs'))).toEqual([]);
    expect(kept.map((i) => i.linkId)).toEqual(leaves(full.item).map((i) => i.linkId).filter((l) => l.endsWith('.needs')));
    expect(JSON.stringify(summary)).not.toContain('Nursery reports speech delay');
    expect(JSON.stringify(summary)).not.toContain('Warm attachment');
    const iodPlan = one(await iodEarlyHelp.search<CarePlan>('CarePlan', { subject }));
    expect(iodPlan.activity).toEqual(plan.activity);
    expect(iodPlan.supportingInfo).toBeUndefined();
    expect(iodPlan.identifier).toBeUndefined();
  });

  it('6. Chloe Bennett\'s CAF on her unborn baby reaches the health visitors; her choice keeps it from children\'s centres', async () => {
    await send('la/caf-unborn-bennett.json', earlyHelp);
    const qr = one(await hvEarlyHelp.search<QuestionnaireResponse>('QuestionnaireResponse', { identifier: `${CAF_ASSESSMENT}|EH-2026-00203` }));
    expect(qr.subject?.display).toBe('Chloe Bennett');
    known['chloeQr'] = qr.id ?? '';
    known['chloe'] = qr.subject?.reference?.replace(/^Patient\//, '') ?? '';
    const plan = one(await hvEarlyHelp.search<CarePlan>('CarePlan', { subject: qr.subject?.reference ?? '' }));
    known['chloePlan'] = plan.id ?? '';
    for (const centre of [oceanEarlyHelp, iodEarlyHelp]) {
      expect(await centre.search('QuestionnaireResponse', { identifier: `${CAF_ASSESSMENT}|EH-2026-00203` }), centre.clientId).toEqual([]);
      expect(await centre.search('CarePlan', { subject: qr.subject?.reference ?? '' }), centre.clientId).toEqual([]);
    }
  });

  it('6. ...and a children\'s centre\'s read of Chloe\'s CAF is refused as consent-refused (her doNotShareWith), citing her Consent', async () => {
    for (const centre of [oceanEarlyHelp, iodEarlyHelp]) {
      for (const [type, key] of [['QuestionnaireResponse', 'chloeQr'], ['CarePlan', 'chloePlan']] as const) {
        const read = rid('cc-read-chloe');
        await expectDenied(t, await centre.readRefused(type, id(key), { requestId: read }), 'consent-refused');
        const [decision] = await decisionsOf(t, read);
        expectDenial(decision, 'consent-refused', ref('Patient', id('chloe')));
        expect(decision?.consent).toMatch(/^Consent\/[A-Za-z0-9.-]+\/_history\/1$/);
      }
    }
  });

  it('6. Ruby Walsh\'s CAF without consent is stored and disclosed to nobody, unless a health visitor overrides for safeguarding with a reason (flagged, alerted)', async () => {
    await send('la/caf-consent-not-given.json', earlyHelp);
    const byReference = { identifier: `${CAF_ASSESSMENT}|EH-2026-00199` };
    const reason = 'Section 47 enquiry: concern for the child\'s welfare raised at the nursery';
    const alerts = async (): Promise<{ audit_event_id: string; kind: string; client_id: string; organisation_code: string; reason: string; patients: unknown }[]> =>
      rawRows(t.database.db, sql`select audit_event_id, kind, client_id, organisation_code, reason, patients from ig_alert order by raised`);

    // Early help purpose: the assessment is not there for the health visitor.
    const early = rid('hv-caf-ruby');
    expect(await hvEarlyHelp.search('QuestionnaireResponse', byReference, { requestId: early })).toEqual([]);
    const [earlyDecision] = await decisionsOf(t, early);
    expect(earlyDecision?.outcome).toBe('8');
    expect(earlyDecision?.code).toBe('consent-refused');

    // The health visitor invokes the safeguarding override, stating why, to find it.
    const found = one(await hvSafeguarding.search<QuestionnaireResponse>('QuestionnaireResponse', byReference, { overrideReason: reason }));
    const rubyQr = found.id ?? '';
    const ruby = found.subject?.reference ?? '';
    expect(ruby).toMatch(/^Patient\//);

    const before = (await alerts()).length;
    const refused = rid('hv-ruby-early-help');
    await expectDenied(t, await hvEarlyHelp.readRefused('QuestionnaireResponse', rubyQr, { requestId: refused }), 'consent-refused');
    expectDenial((await decisionsOf(t, refused))[0], 'consent-refused', ruby);
    for (const [who, partner] of [['GP', bowcommonEarlyHelp], ['Ocean', oceanEarlyHelp], ['Isle of Dogs', iodEarlyHelp]] as const) {
      await expectDenied(t, await partner.readRefused('QuestionnaireResponse', rubyQr), 'consent-refused');
      expect(await partner.search('QuestionnaireResponse', byReference), who).toEqual([]);
    }
    const noReason = rid('hv-ruby-no-reason');
    await expectDenied(t, await hvSafeguarding.readRefused('QuestionnaireResponse', rubyQr, { requestId: noReason }), 'override-reason-required');
    expectDenial((await decisionsOf(t, noReason))[0], 'override-reason-required', ruby);
    expect((await alerts()).length).toBe(before);

    const override = rid('hv-ruby-override');
    const disclosed = await hvSafeguarding.read<QuestionnaireResponse>('QuestionnaireResponse', rubyQr, { requestId: override, overrideReason: reason });
    expect(disclosed.identifier?.value).toBe('EH-2026-00199');
    expect(JSON.stringify(disclosed.item)).toContain('Nursery reports speech delay');
    const decisions = await decisionsOf(t, override);
    expect(decisions).toHaveLength(1);
    const [decision] = decisions;
    expectPermit(decision, 'safeguarding');
    expect(decision?.patients).toEqual([ruby]);
    expect(decision?.overrideReason).toBe(reason);
    expect(decision?.tags).toContain('safeguarding-override');
    const raised = (await alerts()).filter((a) => a.audit_event_id === decision?.event.id);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ kind: 'safeguarding-override', client_id: 'eastside-hv', organisation_code: 'R9H', reason });
    const patients: unknown = raised[0]?.patients;
    expect(typeof patients === 'string' ? JSON.parse(patients) : patients).toEqual([ruby]);
    expect((await alerts()).length).toBe(before + 1);
  });

  it('IG lead, before the withdrawal: pins the log key and saves the latest signed checkpoint (her "last look")', async () => {
    const key = await t.http.get('/audit/key');
    const parsed = parseVerifierKey(key.text);
    if (!parsed.ok) throw new Error(parsed.reason);
    pinnedLog = parsed.value;
    const res = await t.http.post('/audit/checkpoint').set('Authorization', `Bearer ${await ig.bearer()}`);
    expect(res.status).toBe(200);
    savedCheckpoint = res.text;
    const cp = openCheckpoint(savedCheckpoint, pinnedLog);
    expect(cp.ok && cp.value.treeSize).toBeGreaterThan(0);
  });

  it('IG lead, before the withdrawal: $explain-disclosure says Ocean would see Amina (booking-to-childrens-centre), Isle of Dogs would not, and shows none of her data', async () => {
    const question = { organisation: 'CC-OCEAN', purpose: 'early-years-registration' };
    const forOcean = (await ig.operation('Patient', id('amina'), '$explain-disclosure', question)) as Parameters;
    expect(forOcean.resourceType).toBe('Parameters');
    expect(param(forOcean, 'decision')?.valueCode).toBe('permit');
    expect(param(forOcean, 'flow')?.valueString).toBe(flow('booking-to-childrens-centre'));
    expect(param(forOcean, 'consent')?.valueReference?.reference).toBe(`Consent/${id('aminaConsent')}/_history/1`);
    for (const data of ['Rahman', 'Amina', 'E1 6AN', 'Cable Street', '07700', AMINA, '1994-05-17']) expect(JSON.stringify(forOcean)).not.toContain(data);

    const forIod = (await ig.operation('Patient', id('amina'), '$explain-disclosure', { ...question, organisation: 'CC-IOD' })) as Parameters;
    expect(param(forIod, 'decision')?.valueCode).toBe('deny');
    expect(param(forIod, 'reason')?.valueCoding).toMatchObject({ system: DENY_REASON, code: 'outside-catchment' });
    for (const data of ['Rahman', 'Amina', 'E1 6AN', 'Cable Street']) expect(JSON.stringify(forIod)).not.toContain(data);

    for (const notIg of [ocean, hvDirect]) {
      expect((await notIg.operationRefused('Patient', id('amina'), '$explain-disclosure', question)).status, notIg.clientId).toBe(403);
    }
  });

  it('7. Amina withdraws (Northgate makes her booking Consent inactive): Ocean\'s next pull holds nothing about her or Yusuf, and the audit log shows the denials', async () => {
    const amina = ref('Patient', id('amina'));
    const yusuf = ref('Patient', id('yusuf'));
    expect(ids(await northgate.search<Consent>('Consent', { patient: amina }))).toEqual([id('aminaConsent')]);
    const consent = await northgate.read<Consent>('Consent', id('aminaConsent'));
    expect(consent.status).toBe('active');
    const withdrawal = rid('northgate-withdraws');
    const withdrawn = await northgate.update({ ...consent, id: id('aminaConsent'), status: 'inactive' as const }, { requestId: withdrawal });
    expect(withdrawn.meta?.versionId).toBe('2');
    expect(withdrawn.status).toBe('inactive');
    const version = `Consent/${id('aminaConsent')}/_history/2`;

    const byIds = rid('ocean-after-withdrawal');
    expect(await ocean.search('Patient', { _id: `${id('amina')},${id('yusuf')}` }, { requestId: byIds })).toEqual([]);
    const decisions = await decisionsOf(t, byIds);
    for (const who of [amina, yusuf]) {
      const d = decisionOn(decisions, who);
      expectDenial(d, 'consent-withdrawn', who);
      expect(d?.consent).toBe(version);
    }
    const previous = oceanLastPatientPull;
    oceanLastPatientPull = at();
    expect(ids(await ocean.search('Patient', { _lastUpdated: `gt${previous}` }))).toEqual([]);
    expect(await ocean.search('EpisodeOfCare', { patient: amina })).toEqual([]);
    expect(await ocean.search('Observation', { patient: amina })).toEqual([]);
    expect(await ocean.search<RelatedPerson>('RelatedPerson', { patient: yusuf })).toEqual([]);

    for (const [who, patientId] of [[amina, id('amina')], [yusuf, id('yusuf')]] as const) {
      const read = rid('ocean-read-withdrawn');
      await expectDenied(t, await ocean.readRefused('Patient', patientId, { requestId: read }), 'consent-withdrawn');
      const [d] = await decisionsOf(t, read);
      expectDenial(d, 'consent-withdrawn', who);
      expect(d?.consent).toBe(version);
    }
    for (const [type, key] of [['EpisodeOfCare', 'aminaEpisode'], ['Observation', 'aminaEdd']] as const) {
      await expectDenied(t, await ocean.readRefused(type, id(key)), 'consent-withdrawn');
    }
    // Direct care does not rest on that consent.
    expect((await hvDirect.read<Patient>('Patient', id('yusuf'))).birthDate).toBe('2026-09-25');

    // Ocean, the one organisation that received data under her consent (the health visitors' flows need none), gets a withdrawal notice; no one else does.
    const notice = one(await ocean.search<Communication>('Communication', {}));
    expect(notice).toMatchObject({ status: 'completed', subject: { reference: amina }, recipient: [{ identifier: { value: 'CC-OCEAN' } }] });
    expect(notice.about?.[0]?.reference).toBe(version);
    const about = (notice.about ?? []).map((a) => a.reference?.replace(/\/_history\/\d+$/, ''));
    expect(about).toEqual(expect.arrayContaining([amina, yusuf, ref('EpisodeOfCare', id('aminaEpisode')), ref('Observation', id('aminaEdd'))]));
    expect(notice.payload?.[0]?.contentString).toContain('flows booking-to-childrens-centre and birth-to-childrens-centre of');
    const created = (await restEventsFor(t.database.db, withdrawal)).filter((e) => e.subtype?.some((s) => s.code === 'create'));
    expect(created.flatMap((e) => (e.entity ?? []).filter((x) => x.role?.code === '4').map((x) => x.what?.reference))).toEqual([`Communication/${notice.id ?? ''}/_history/1`]);
    for (const other of [hvDirect, hvEarlyHelp, iod, limehouse, bowcommon, earlyHelp]) {
      expect(await other.search('Communication', {}), other.clientId).toEqual([]);
    }
  });

  it('IG lead, after the withdrawal: $explain-disclosure says Ocean would be denied, consent-withdrawn', async () => {
    const answer = (await ig.operation('Patient', id('amina'), '$explain-disclosure', { organisation: 'CC-OCEAN', purpose: 'early-years-registration' })) as Parameters;
    expect(param(answer, 'decision')?.valueCode).toBe('deny');
    expect(param(answer, 'reason')?.valueCoding).toMatchObject({ system: DENY_REASON, code: 'consent-withdrawn' });
    expect(param(answer, 'consent')?.valueReference?.reference).toBe(`Consent/${id('aminaConsent')}/_history/2`);
    for (const data of ['Rahman', 'Amina', 'E1 6AN', 'Cable Street', '07700', AMINA]) expect(JSON.stringify(answer)).not.toContain(data);
  });

  it('8. "Who has seen anything about Yusuf Rahman, and why?": every disclosure, with its organisation, protocol flow and consent, through the AuditEvent search', async () => {
    await t.hub.sequencer.flush();
    const yusuf = ref('Patient', id('yusuf'));
    const question = rid('ig-who-saw-yusuf');
    const seen = await ig.search<AuditEvent>('AuditEvent', { 'patient:identifier': `${NHS}|${YUSUF}`, subtype: 'AuthZ-Consent', outcome: '0', _sort: 'date' }, { requestId: question });

    // Every disclosure about him in the log, and nothing else: the same set read straight from the table.
    const stored = await rawRows<{ event_id: string }>(
      t.database.db,
      sql`select event_id from audit_event where event @> ${JSON.stringify({ entity: [{ what: { reference: yusuf } }], subtype: [{ code: 'AuthZ-Consent' }], outcome: '0' })}::jsonb`,
    );
    expect(seen.map((e) => e.id).sort()).toEqual(stored.map((r) => r.event_id).sort());
    expect(seen.length).toBeGreaterThan(0);

    const answer = seen.map((e) => {
      const flowEntity = e.entity?.find((x) => x.type?.code === 'protocol-flow');
      return {
        organisation: e.agent.find((a) => a.who?.type === 'Organization')?.who?.identifier?.value,
        flow: flowEntity?.detail?.find((d) => d.type === 'flow')?.valueString,
        consent: e.entity?.find((x) => x.type?.code === 'Consent')?.what?.reference,
        basis: e.entity?.find((x) => x.type?.code === 'decision')?.detail?.find((d) => d.type === 'basis')?.valueString,
      };
    });
    // Why each saw him: the writer of a record sees it as its originator; everyone else under a protocol flow.
    for (const a of answer) {
      expect(a.organisation).toBeDefined();
      if (a.basis !== 'originator') expect(a.flow, JSON.stringify(a)).toBeDefined();
    }
    const pairs = new Set(answer.filter((a) => a.flow !== undefined).map((a) => `${a.organisation ?? ''} ${a.flow ?? ''} ${a.consent ?? '-'}`));
    // Ocean, under Amina's booking consent carried to him at birth; the health visitors for direct care, on no consent.
    expect(pairs).toContain(`CC-OCEAN birth-to-childrens-centre Consent/${id('aminaConsent')}/_history/1`);
    expect(pairs).toContain('R9H birth-to-health-visiting -');
    expect(answer.filter((a) => a.organisation === 'CC-IOD')).toEqual([]);
    // After the withdrawal Ocean was turned away, and the log says so, citing the withdrawn consent.
    const refusedToOcean = await ig.search<AuditEvent>('AuditEvent', { 'patient:identifier': `${NHS}|${YUSUF}`, outcome: '8', agent: 'CC-OCEAN', flow: 'birth-to-childrens-centre' });
    expect(refusedToOcean.length).toBeGreaterThan(0);
    for (const e of refusedToOcean) {
      expect(e.entity?.find((x) => x.type?.code === 'Consent')?.what?.reference).toBe(`Consent/${id('aminaConsent')}/_history/2`);
    }
    // Asking is itself in the log.
    const asked = await restEventsFor(t.database.db, question);
    expect(asked.map((e) => e.agent.find((a) => a.requestor)?.who?.identifier?.value)).toEqual(['ig-console']);
  });

  it('8. ...and she checks the log has not been altered since her saved checkpoint: a consistency proof to today\'s, verified with the key she pinned', async () => {
    if (pinnedLog === undefined) throw new Error('the IG lead saved no checkpoint');
    const bearer = `Bearer ${await ig.bearer()}`;
    const saved = openCheckpoint(savedCheckpoint, pinnedLog);
    const today = openCheckpoint((await t.http.post('/audit/checkpoint').set('Authorization', bearer)).text, pinnedLog);
    if (!saved.ok || !today.ok) throw new Error('a checkpoint does not verify with the pinned key');
    expect(today.value.treeSize).toBeGreaterThan(saved.value.treeSize);
    const proof = await t.http.get(`/audit/proof/consistency?from=${saved.value.treeSize}&to=${today.value.treeSize}`).set('Authorization', bearer);
    expect(proof.status).toBe(200);
    const path = (proof.body.proof as string[]).map((p) => Buffer.from(p, 'base64'));
    expect(verifyConsistency(saved.value.treeSize, today.value.treeSize, saved.value.rootHash, today.value.rootHash, path)).toBe(true);
    // And the hub's own check of every entry against every checkpoint and receipt.
    const verified = await t.http.post('/audit/verify').set('Authorization', bearer);
    expect(verified.body).toMatchObject({ ok: true });
  });

  /** The hub's follow-up Tasks of one kind about a patient, as the health visitors find them. */
  const workFor = async (who: Partner, nhs: string, kind: string): Promise<Task[]> => {
    const person = one(await hvDirect.search<Patient>('Patient', byNhs(nhs)));
    return who.search<Task>('Task', { patient: ref('Patient', person.id ?? ''), code: `${FOLLOW_UP}|${kind}` });
  };

  it('10. Limehouse sends its complete history: Olivia\'s 16-week doses and Ella\'s 18-month doses are overdue work for the health visitors; Jacob has nothing due', async () => {
    const body = await readFile(path.join(sharedFixtures, 'gp/immunisation-history-y90001.csv'), 'utf8');
    const sent = await t.http.post('/ingest/immunisations-csv?history=complete').set('Authorization', `Bearer ${await limehouse.bearer()}`).set('Content-Type', 'text/csv').send(body);
    expect(sent.status, sent.text).toBe(200);
    await t.hub.followUps.run('2026-11-22');
    const overdue = async (nhs: string): Promise<string[]> =>
      Promise.all(
        (await workFor(hvDirect, nhs, 'overdue-dose')).map(async (task) => {
          expect(task.owner?.identifier?.value).toBe('R9H');
          expect(task.status).toBe('requested');
          const [type = '', focusId = ''] = (task.focus?.reference ?? '').split('/');
          const recommendation = await hvDirect.read<ImmunizationRecommendation>(type as 'ImmunizationRecommendation', focusId);
          const r = recommendation.recommendation[0];
          expect(r?.forecastStatus.coding?.[0]?.code).toBe('overdue');
          return `${r?.vaccineCode?.[0]?.coding?.[0]?.code ?? ''}/${String(r?.doseNumberPositiveInt)}`;
        }),
      );
    expect((await overdue(OLIVIA)).sort()).toEqual(['247631000000101/1', '770618004/3']);
    expect((await overdue(ELLA)).sort()).toEqual(['433733003/2', '770618004/4']);
    expect(await overdue(JACOB)).toEqual([]);
    // Overdue work is the health visitors' (follow-up-to-health-visiting): Ocean, whose catchment holds Olivia, sees none of it.
    const olivia = one(await hvDirect.search<Patient>('Patient', byNhs(OLIVIA)));
    expect(await oceanImms.search<Task>('Task', { patient: ref('Patient', olivia.id ?? '') })).toEqual([]);
    known['olivia-overdue'] = (await workFor(hvImms, OLIVIA, 'overdue-dose'))[0]?.id ?? '';
    await expectDenied(t, await oceanImms.readRefused('Task', id('olivia-overdue')), 'focus-not-disclosed');
  });

  it('11. Exceptions: Adam is born with no booking for his mother, and Zofia is four weeks past her due date; each is work for Northgate and the health visitors', async () => {
    await send('maternity/birth-notification-no-booking-nems-stu3.json', northgate);
    await t.hub.followUps.run('2026-11-22');
    const adam = one(await hvDirect.search<Patient>('Patient', byNhs(ADAM)));
    const birth = await hvDirect.search<Task>('Task', { patient: ref('Patient', adam.id ?? ''), code: `${FOLLOW_UP}|birth-without-booking` });
    expect(birth.map((x) => x.owner?.identifier?.value).sort()).toEqual(['R9H', 'R9M']);
    const atNorthgate = await northgate.search<Task>('Task', { code: `${FOLLOW_UP}|birth-without-booking` });
    expect(atNorthgate.map((x) => x.owner?.identifier?.value)).toContain('R9M');
    const zofia = one(await hvDirect.search<Patient>('Patient', byNhs(ZOFIA)));
    const late = await hvDirect.search<Task>('Task', { patient: ref('Patient', zofia.id ?? ''), code: `${FOLLOW_UP}|pregnancy-overdue` });
    expect(late.map((x) => x.owner?.identifier?.value).sort()).toEqual(['R9H', 'R9M']);
    // Zofia refused sharing with children's centres: no centre sees this work.
    for (const task of late) expect((await iodImms.readRefused('Task', task.id ?? '')).status).toBe(404);
    // The hub knows his mother only from the birth notification: no partner booked her.
    const halima = one(await hvDirect.search<Patient>('Patient', byNhs(HALIMA)));
    expect(await northgate.search<Consent>('Consent', { patient: ref('Patient', halima.id ?? '') })).toEqual([]);
  });

  it('12. The health visitors send Noor Hussain\'s CAF-compliant review: early help receives it in full, typed once; no children\'s centre sees it', async () => {
    const stored = await send('hv/caf-hv-noor-hussain.json', hvEarlyHelp);
    const qrId = storedOf(stored, 'QuestionnaireResponse');
    const pull = rid('eh-noor');
    const atEarlyHelp = await earlyHelp.read<QuestionnaireResponse>('QuestionnaireResponse', qrId, { requestId: pull });
    expect(leaves(atEarlyHelp.item).length).toBeGreaterThan(5);
    expectPermit(decisionOn(await decisionsOf(t, pull), ref('QuestionnaireResponse', qrId)), 'caf-from-health-visiting');
    const noor = one(await hvDirect.search<Patient>('Patient', byNhs(NOOR)));
    expect(atEarlyHelp.subject?.reference).toBe(ref('Patient', noor.id ?? ''));
    for (const centre of [oceanEarlyHelp, iodEarlyHelp]) {
      expect((await centre.readRefused('QuestionnaireResponse', qrId)).status).toBe(404);
      expect(ids(await centre.search('QuestionnaireResponse', { subject: ref('Patient', noor.id ?? '') }))).toEqual([]);
    }
  });

  it('13. Public health commissioners see missed doses by month, postcode district and vaccine as a MeasureReport: no person in it, small numbers withheld', async () => {
    const report = (await publicHealth.operation('Measure', 'missed-doses', 'evaluate-measure', { periodStart: '2026-01-01', periodEnd: '2026-12-31' })) as MeasureReport;
    expect(report).toMatchObject({ resourceType: 'MeasureReport', status: 'complete', type: 'summary' });
    const stratifiers = report.group?.[0]?.stratifier ?? [];
    const dimensions = stratifiers.map((st) => st.code?.[0]?.coding?.[0]?.code);
    expect(dimensions).toEqual(expect.arrayContaining(['month', 'postcode-district', 'vaccine']));
    const counts = [report.group?.[0]?.population?.[0]?.count, ...stratifiers.flatMap((st) => (st.stratum ?? []).map((x) => x.population?.[0]?.count))];
    expect(counts.every((n) => n === undefined || n === 0 || n > 4)).toBe(true);
    const text = JSON.stringify(report);
    for (const person of [MAYA, IBRAHIM, OLIVIA, ELLA, 'Thompson', 'Hossain', 'Patient/']) expect(text).not.toContain(person);
    // A children's centre is no commissioner.
    expect((await oceanImms.operationRefused('Measure', 'missed-doses', 'evaluate-measure', { periodStart: '2026-01-01', periodEnd: '2026-12-31' })).status).toBe(403);
  });
});
