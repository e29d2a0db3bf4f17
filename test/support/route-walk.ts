import type { Express } from 'express';
import type { Resource } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { rawRows, type Db } from '../../src/db/database.js';
import { isPublicType } from '../../src/fhir/resource-types.js';
import { readFixture } from './golden.js';
import { nhsNumber, patient } from './resources.js';
import type { TestHub } from './test-hub.js';

// Support for test/api/route-walk.test.ts: what the Express app registers,
// a seeded world of several organisations' records, the strings that would
// betray those records in a response, and plausible bodies for every route.

/** The parts of an Express 5 (router 2.x) layer the walk reads. */
interface StackLayer {
  name: string;
  route?: { path: string; methods: Record<string, boolean | undefined> };
  handle: { stack?: StackLayer[] };
  /** True for a layer mounted at '/' (it matches every path without its matchers). */
  slash: boolean;
  matchers: ((path: string) => false | { path: string })[];
}

export interface RouterShape {
  /** Where the router is mounted ('/' for app.use(router)). */
  mount: string;
  /** "METHOD /full/path" of each route it registers. */
  routes: string[];
  /** Layers that are neither routes nor routers (error handlers, fall-backs). */
  middleware: number;
}

export interface AppShape {
  routes: string[];
  middleware: number;
  routers: RouterShape[];
}

const PROBE = '/route-walk-probe';

/**
 * Where a mounted router sits. Express 5 keeps no plain mount string on the
 * layer, so each candidate prefix is tried against the layer's own matchers:
 * a root mount matches any path, a '/fhir' mount matches '/fhir/…' as '/fhir'.
 * A prefix not in the caller's list comes out as an unknown mount, and fails the table.
 */
function mountOf(layer: StackLayer, prefixes: readonly string[]): string {
  const match = (path: string): { path: string } | undefined => {
    for (const m of layer.matchers) {
      const found = m(path);
      if (found !== false) return found;
    }
    return undefined;
  };
  if (layer.slash || match(PROBE) !== undefined) return '/';
  return prefixes.find((p) => p !== '/' && match(`${p}${PROBE}`)?.path === p) ?? '(a mount path the walk does not know)';
}

function routesOf(layer: StackLayer, mount: string): string[] {
  const route = layer.route;
  if (route === undefined) return [];
  // '\\$process-message' is how the path is written for path-to-regexp; the URL has '$'.
  const path = route.path.replace(/\\/g, '');
  const full = mount === '/' ? path : `${mount}${path === '/' ? '' : path}`;
  return Object.keys(route.methods)
    .filter((m) => route.methods[m] === true)
    .map((m) => `${m === '_all' ? 'ALL' : m.toUpperCase()} ${full}`);
}

/** Everything the app registers: its own routes, each mounted router's, and the other layers counted. */
export function appShape(app: Express, prefixes: readonly string[]): AppShape {
  const stack = (app as unknown as { router: { stack: StackLayer[] } }).router.stack;
  const shape: AppShape = { routes: [], middleware: 0, routers: [] };
  const walk = (layers: readonly StackLayer[], mount: string, into: { routes: string[]; middleware: number }): void => {
    for (const layer of layers) {
      if (layer.route !== undefined) {
        into.routes.push(...routesOf(layer, mount));
      } else if (Array.isArray(layer.handle.stack)) {
        const inner = mountOf(layer, prefixes);
        const router: RouterShape = { mount: mount === '/' ? inner : `${mount}${inner}`, routes: [], middleware: 0 };
        shape.routers.push(router);
        walk(layer.handle.stack, router.mount, router);
      } else {
        into.middleware += 1;
      }
    }
  };
  walk(stack, '/', shape);
  return shape;
}

/** A stored record and the strings that would betray it in a response. */
export interface SeededRecord {
  type: string;
  id: string;
  versionId: number;
  writer: string;
  /** Every organisation that has written a version of it. */
  writers: string[];
  /** Its identifier values (NHS numbers, message and record keys). */
  identifiers: string[];
  /** Its identifier values, family names, postcodes and telecom values: what would betray it in a response. */
  strings: string[];
}

/** Every current record in the store except the hub's public definitions. */
export async function seededRecords(db: Db): Promise<SeededRecord[]> {
  const rows = await rawRows<{ type: string; id: string; version_id: number; source_org: string; source_orgs: string[]; content: Resource | string }>(
    db,
    sql`select type, id, version_id, source_org, source_orgs, content from resource order by type, id`,
  );
  return rows
    .filter((r) => !isPublicType(r.type))
    .map((r) => {
      const content = (typeof r.content === 'string' ? JSON.parse(r.content) : r.content) as Record<string, unknown>;
      const identifiers = list(content['identifier']).flatMap((i) => text(i['value']));
      return { type: r.type, id: r.id, versionId: r.version_id, writer: r.source_org, writers: [...r.source_orgs].sort(), identifiers, strings: distinctiveStrings(content) };
    });
}

function list(v: unknown): Record<string, unknown>[] {
  return (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]).filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null);
}

/** Short values (a sex code, a one-letter initial) would match innocent text: five characters at least. */
function text(v: unknown): string[] {
  return typeof v === 'string' && v.trim().length >= 5 ? [v.trim()] : [];
}

function distinctiveStrings(content: Record<string, unknown>): string[] {
  return [
    ...new Set([
      ...list(content['identifier']).flatMap((i) => text(i['value'])),
      ...list(content['name']).flatMap((n) => [...text(n['family']), ...text(n['text'])]),
      ...list(content['address']).flatMap((a) => text(a['postalCode'])),
      ...list(content['telecom']).flatMap((c) => text(c['value'])),
    ]),
  ];
}

const HL7 = 'x-application/hl7-v2+er7';
/** The early help assessment seedWorld stores. */
export const SEEDED_CAF = 'caf/consent-not-given.json';
const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

/**
 * The seeded world: a booking from the demo maternity client, a missed dose
 * from a demo GP, an early help assessment the family did not consent to
 * share, and a Patient with an Observation created through the REST API by test-a.
 */
export async function seedWorld(t: TestHub): Promise<{ records: SeededRecord[]; testAPatient: string; testAObservation: string }> {
  const maternity = await t.token('northgate-maternity', 'direct-care');
  const limehouse = await t.token('limehouse-gp', 'direct-care');
  const earlyHelp = await t.token('eastside-early-help', 'early-help');
  const testA = await t.token('test-a', 'direct-care');
  const sent = [
    await t.http.post('/fhir/$process-message').set(bearer(maternity)).set('Content-Type', 'application/fhir+json').send(await readFixture('fhir-message/pregnancy-notification.json')),
    await t.http.post('/ingest/hl7v2').set(bearer(limehouse)).set('Content-Type', HL7).set('Accept', 'application/fhir+json').send(await readFixture('hl7v2/missed-dose-na.hl7')),
    // The family did not consent: the one flow that reaches a GP (early help, caf-to-health) is then decided and denied.
    await t.http.post('/ingest/caf').set(bearer(earlyHelp)).set('Content-Type', 'application/json').send(await readFixture(SEEDED_CAF)),
  ];
  const own = await t.http
    .post('/fhir/Patient')
    .set(bearer(testA))
    .type('application/fhir+json')
    .send(JSON.stringify(patient(4242, { address: [{ postalCode: 'E2 7QQ' }], telecom: [{ system: 'phone', value: '07700 904242' }] })));
  const observation = await t.http
    .post('/fhir/Observation')
    .set(bearer(testA))
    .type('application/fhir+json')
    .send(JSON.stringify({ resourceType: 'Observation', status: 'final', identifier: [{ system: 'urn:test:route-walk', value: 'walk-obs-4242' }], code: { text: 'walk seed observation' }, subject: { reference: `Patient/${String(own.body.id)}` } }));
  for (const res of [...sent, own, observation]) {
    if (res.status >= 300) throw new Error(`seeding failed: ${res.status} ${res.text}`);
  }
  return { records: await seededRecords(t.database.db), testAPatient: String(own.body.id), testAObservation: String(observation.body.id) };
}

/** A resource of each served type that validates, about the requester's own patient. */
export function ownBody(type: string, patientId: string): Record<string, unknown> | undefined {
  const ref = { reference: `Patient/${patientId}` };
  const at = '2026-11-01T10:00:00Z';
  switch (type) {
    case 'Patient':
      return { ...patient(8101), address: [{ postalCode: 'E3 9WW' }] };
    case 'Observation':
      return { resourceType: 'Observation', status: 'final', code: { text: 'walk probe' }, subject: ref };
    case 'Immunization':
      return { resourceType: 'Immunization', status: 'completed', vaccineCode: { text: 'walk probe' }, patient: ref, occurrenceDateTime: at };
    case 'EpisodeOfCare':
      return { resourceType: 'EpisodeOfCare', status: 'active', type: [{ coding: [{ system: 'http://snomed.info/sct', code: '77386006' }] }], patient: ref };
    case 'Consent':
      return {
        resourceType: 'Consent',
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ text: 'walk probe' }],
        patient: ref,
        policyRule: { text: 'walk probe' },
        provision: { type: 'deny' },
      };
    case 'RelatedPerson':
      return { resourceType: 'RelatedPerson', patient: ref, relationship: [{ text: 'mother' }], name: [{ family: 'Walkrelative' }] };
    case 'Provenance':
      return { resourceType: 'Provenance', target: [ref], recorded: at, activity: { text: 'walk probe' }, agent: [{ who: { display: 'walk probe' } }], entity: [{ role: 'source', what: { display: 'walk probe' } }] };
    case 'Practitioner':
      return { resourceType: 'Practitioner', name: [{ family: 'Walkpractitioner' }] };
    case 'QuestionnaireResponse':
      return { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: 'https://eastside.example/fhir/Questionnaire/early-help-assessment', subject: ref };
    case 'CarePlan':
      return { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: ref };
    case 'Task':
      return { resourceType: 'Task', status: 'requested', intent: 'order', code: { text: 'walk probe' }, for: ref };
    case 'List':
      return { resourceType: 'List', status: 'current', mode: 'snapshot', code: { text: 'walk probe' }, subject: ref };
    case 'ImmunizationRecommendation':
      return {
        resourceType: 'ImmunizationRecommendation',
        patient: ref,
        date: at,
        recommendation: [{ vaccineCode: [{ text: 'walk probe' }], forecastStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/immunization-recommendation-status', code: 'due' }] } }],
      };
    default:
      return undefined;
  }
}

/** HL7 segments of a fixture, without the line ends. */
async function segments(fixture: string): Promise<string[]> {
  return (await readFixture(fixture)).split(/\r\n|\r|\n/).filter((s) => s.length > 0);
}

/**
 * A missed-dose VXU sent in TEST-B's own name. With `nhs` given, the PID
 * carries only that NHS number, a name and a date of birth (no address, no
 * telephone): what a practice's system might send about a child it has just registered.
 */
export async function ownVxu(controlId: string, nhs?: string): Promise<string> {
  const fresh = nhsNumber(810_200);
  return (await segments('hl7v2/missed-dose-na.hl7'))
    .filter((s) => nhs === undefined || !s.startsWith('NK1|'))
    .map((s) => {
      if (s.startsWith('PID|') && nhs !== undefined) return `PID|1||${nhs}^^^NHS^NH||WALKPROBE^CHILD^^^^^L||20260402|F`;
      return s
        .replaceAll('Y90001-TEST-0001', controlId)
        .replaceAll('Y90001-IMM-900001', `${controlId}-IMM`)
        .replaceAll('Y90001', 'TEST-B')
        .replaceAll('9990091013', fresh)
        .replaceAll('TESTCHILD', 'WALKPROBE')
        .replaceAll('E1 0AA', 'E3 9VV')
        .replaceAll('07700 900001', '07700 908101')
        .replaceAll('1 Synthetic Street', '9 Walk Street');
    })
    .join('\r');
}

/** A booking in TEST-B's own name: a fresh message id, mother and pregnancy unless given. */
export async function ownBooking(messageId: string, reuse: { mother?: boolean } = {}): Promise<string> {
  let text = (await readFixture('fhir-message/pregnancy-notification.json'))
    .replaceAll('"R9M"', '"TEST-B"')
    .replaceAll('11111111-1111-4111-8111-111111111101', messageId)
    .replaceAll('Testmidwife', 'Walkmidwife')
    .replaceAll('555000000001', '555000008101');
  if (reuse.mother !== true) {
    text = text
      .replaceAll('9995100010', nhsNumber(810_300))
      .replaceAll('Testmother', 'Walkmother')
      .replaceAll('E1 0AA', 'E3 9UU')
      .replaceAll('07700 900000', '07700 908102')
      .replaceAll('NG-PREG-2026-900001', `WALK-PREG-${messageId.slice(-4)}`);
  }
  return text;
}

/** One immunisation CSV row in TEST-B's own name, about `nhs` (a fresh child unless given). */
export async function ownCsv(uniqueId: string, nhs?: string): Promise<string> {
  const [header = '', first = ''] = (await readFixture('csv/good-rows.csv')).split(/\r?\n/);
  const row = first
    .replace('"Y99901"', '"TEST-B"')
    .replace('"https://fhir.nhs.uk/Id/ods-organization-code"', '"urn:eastside:org"')
    .replace('"TEST-0001"', `"${uniqueId}"`)
    .replace(/^"\d{10}"/, `"${nhs ?? nhsNumber(810_400)}"`)
    .replace('"Testchild"|"Alpha"', nhs === undefined ? '"Walkprobe"|"Csv"' : '""|""')
    .replace('"E1 6AN"', nhs === undefined ? '"E3 9TT"' : '""');
  return `${header}\n${row}\n`;
}

/** An early help assessment in TEST-B's own name, about a family of its own. */
export async function ownCaf(reference: string): Promise<string> {
  return (await readFixture('caf/born-three-agencies.json'))
    .replaceAll('E09000999-EH', 'TEST-B')
    .replaceAll('EH-TEST-0001', reference)
    .replaceAll('999 007 0016', nhsNumber(810_500))
    .replaceAll('9990070024', nhsNumber(810_600))
    .replaceAll('Fixturely', 'Walkfamily')
    .replaceAll('E1 0XX', 'E3 9SS')
    .replaceAll('07700 900001', '07700 908103')
    .replaceAll('07700 900002', '07700 908104')
    .replaceAll('mira@example.invalid', 'walk@example.invalid')
    .replaceAll('Examplewood', 'Walkassessor')
    .replaceAll('Visitorson', 'Walklead')
    .replaceAll('"R9H"', '"TEST-B"');
}

/** The seeded assessment word for word, but sent in TEST-B's name: same reference, same revision. */
export async function seededCafInOwnName(): Promise<string> {
  return (await readFixture(SEEDED_CAF)).replaceAll('E09000999-EH', 'TEST-B');
}
