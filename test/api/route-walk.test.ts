import type { AuditEvent, Bundle, OperationOutcome } from 'fhir/r4.js';
import type { Response } from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { rawRows } from '../../src/db/database.js';
import { DENY_REASONS } from '../../src/decision/decision-types.js';
import { DENY_REASON_SYSTEM } from '../../src/fhir/operation-outcome.js';
import { isPublicType, isSupportedType, searchParamsOf, supportedTypes } from '../../src/fhir/resource-types.js';
import { auditEventsFor, decisionEventsFor } from '../support/audit.js';
import { nhsNumber, patient } from '../support/resources.js';
import { appShape, ownBody, ownBooking, ownCaf, ownCsv, ownVxu, seededCafInOwnName, seededRecords, seedWorld, type SeededRecord } from '../support/route-walk.js';
import { masked, standIn, substituted } from '../support/oracle.js';
import { subscriptionBody } from '../support/receiver.js';
import { loadedTestProtocols } from '../support/protocols.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Every route the app registers reaches stored data only through a decision.
// The table below is what the app must register, no more and no less; each
// route is walked as an organisation no flow reaches (test-b, a GP asking for
// direct care), without a token, and with a token lacking the scope, and no
// response may carry a seeded record. test-a, which wrote some of the data,
// walks the same table as the positive control: the walk sees data that flows.

/**
 * The walk table: each router as the app mounts it, with its routes and its
 * other layers (error handlers, fall-backs). The token and ingest routers are
 * mounted at '/' and carry their full paths; only the FHIR router has a prefix.
 */
const MOUNT_PREFIXES = ['/', '/fhir'] as const;
const ROUTE_TABLE = {
  // App-level layers, the request bounds (path escapes, parameter counts), the shutdown state and the in-flight cap among them.
  app: { routes: ['GET /'], middleware: 8 },
  routers: [
    // The probes for load balancers, before the in-flight cap.
    { mount: '/', routes: ['GET /livez', 'GET /readyz'], middleware: 0 },
    { mount: '/', routes: ['GET /.well-known/smart-configuration', 'GET /.well-known/jwks.json'], middleware: 0 },
    { mount: '/', routes: ['POST /auth/token'], middleware: 0 },
    { mount: '/', routes: ['POST /fhir/$process-message', 'POST /ingest/hl7v2', 'POST /ingest/immunisations-csv', 'POST /ingest/caf'], middleware: 1 },
    // The commissioners' figures, before the generic FHIR routes.
    { mount: '/fhir', routes: ['GET /fhir/Measure/:id/$evaluate-measure', 'GET /fhir/MeasureReport'], middleware: 0 },
    // Topic-based subscriptions: the topics (public definitions), a partner's own Subscriptions, $status and $events.
    {
      mount: '/fhir',
      routes: [
        'GET /fhir/SubscriptionTopic',
        'GET /fhir/SubscriptionTopic/:id',
        'POST /fhir/Subscription',
        'GET /fhir/Subscription',
        'GET /fhir/Subscription/:id',
        'DELETE /fhir/Subscription/:id',
        'GET /fhir/Subscription/:id/$status',
        'GET /fhir/Subscription/:id/$events',
      ],
      middleware: 1,
    },
    {
      mount: '/fhir',
      routes: [
        'GET /fhir/metadata',
        'GET /fhir/AuditEvent',
        'GET /fhir/AuditEvent/:id',
        'GET /fhir/:type',
        'GET /fhir/:type/:id',
        'GET /fhir/:type/:id/$explain-disclosure',
        'GET /fhir/:type/:id/_history',
        'GET /fhir/:type/:id/_history/:vid',
        'POST /fhir/:type',
        'PUT /fhir/:type/:id',
      ],
      middleware: 2,
    },
    // The IG lead's: the verifiable log, reports, alerts, the /ig page.
    {
      mount: '/',
      routes: ['GET /audit/key', 'GET /audit/checkpoint', 'POST /audit/checkpoint', 'GET /audit/proof/inclusion', 'GET /audit/proof/consistency', 'POST /audit/verify'],
      middleware: 0,
    },
    // The same log for tlog-tiles clients: the checkpoint and the tree's hashes, no entries.
    { mount: '/', routes: ['GET /audit-log/checkpoint', 'GET /audit-log/tile/*path'], middleware: 0 },
    { mount: '/', routes: ['GET /audit/report/disclosures', 'GET /audit/report/denials', 'GET /audit/report/follow-ups', 'GET /audit/organisations'], middleware: 0 },
    { mount: '/', routes: ['GET /audit/alerts', 'POST /audit/alerts/:id/review'], middleware: 1 },
    { mount: '/', routes: ['POST /audit/patients/:id/lift-label'], middleware: 1 },
    { mount: '/', routes: ['GET /ig', 'GET /ig/app.js', 'GET /ig/app.css', 'GET /ig/login', 'POST /ig/logout'], middleware: 0 },
  ],
} as const;

type RouteKey = (typeof ROUTE_TABLE)['app']['routes'][number] | (typeof ROUTE_TABLE)['routers'][number]['routes'][number];
const TABLE_ROUTES: readonly RouteKey[] = [...ROUTE_TABLE.app.routes, ...ROUTE_TABLE.routers.flatMap((r) => r.routes)];

/**
 * How each route is reached. public: no token, no stored data, not audited;
 * metadata: no token, audited; token: the SMART token endpoint; protected: a token with a scope;
 * sign-in: the /ig page's one-time link, which no walker holds (refused, audited).
 */
const ACCESS: Record<RouteKey, 'public' | 'metadata' | 'token' | 'protected' | 'sign-in'> = {
  'GET /': 'public',
  'GET /livez': 'public',
  'GET /readyz': 'public',
  'GET /.well-known/smart-configuration': 'public',
  'GET /.well-known/jwks.json': 'public',
  'POST /auth/token': 'token',
  'GET /fhir/metadata': 'metadata',
  'GET /fhir/AuditEvent': 'protected',
  'GET /fhir/Measure/:id/$evaluate-measure': 'protected',
  'GET /fhir/MeasureReport': 'protected',
  'GET /fhir/SubscriptionTopic': 'public',
  'GET /fhir/SubscriptionTopic/:id': 'public',
  'POST /fhir/Subscription': 'protected',
  'GET /fhir/Subscription': 'protected',
  'GET /fhir/Subscription/:id': 'protected',
  'DELETE /fhir/Subscription/:id': 'protected',
  'GET /fhir/Subscription/:id/$status': 'protected',
  'GET /fhir/Subscription/:id/$events': 'protected',
  'GET /fhir/AuditEvent/:id': 'protected',
  'GET /audit/report/disclosures': 'protected',
  'GET /audit/report/denials': 'protected',
  'GET /audit/report/follow-ups': 'protected',
  'GET /audit/organisations': 'protected',
  'POST /fhir/$process-message': 'protected',
  'POST /ingest/hl7v2': 'protected',
  'POST /ingest/immunisations-csv': 'protected',
  'POST /ingest/caf': 'protected',
  'GET /fhir/:type': 'protected',
  'GET /fhir/:type/:id': 'protected',
  'GET /fhir/:type/:id/$explain-disclosure': 'protected',
  'GET /fhir/:type/:id/_history': 'protected',
  'GET /fhir/:type/:id/_history/:vid': 'protected',
  'POST /fhir/:type': 'protected',
  'PUT /fhir/:type/:id': 'protected',
  'GET /audit/key': 'public',
  'GET /audit-log/checkpoint': 'public',
  'GET /audit-log/tile/*path': 'public',
  'GET /audit/checkpoint': 'protected',
  'POST /audit/checkpoint': 'protected',
  'GET /audit/proof/inclusion': 'protected',
  'GET /audit/proof/consistency': 'protected',
  'POST /audit/verify': 'protected',
  'GET /audit/alerts': 'protected',
  'POST /audit/alerts/:id/review': 'protected',
  'POST /audit/patients/:id/lift-label': 'protected',
  'GET /ig': 'public',
  'GET /ig/app.js': 'public',
  'GET /ig/app.css': 'public',
  'GET /ig/login': 'sign-in',
  'POST /ig/logout': 'public',
};

/** What a request must answer when the requester may see nothing of the seeded data. */
type Expectation =
  | 'ok' // 200, and nothing seeded in it
  | 'search-empty' // a searchset with no entries, no total above 0, no next link
  | 'search-public' // a searchset holding only the hub's public definitions
  | 'hidden' // 404 with a deny reason (or not-found), and a deny decision audited
  | 'absent' // 404: no record of that type has this id
  | 'unserved' // 404: a type the REST API does not serve
  | 'forbidden' // 403
  | 'created' // 201: the requester's own new record
  | 'not-writer' // 404 to an update of someone else's record
  | 'refused' // some 4xx (unrouted methods and paths)
  | 'link-refused' // 401, an HTML page: the /ig sign-in link is unknown, spent or expired
  | 'see-other'; // 303 to /ig (signing out, with no session or an unknown one)

interface Probe {
  route: RouteKey | 'unrouted';
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  body?: string;
  expect: Expectation;
  /** The seeded record a read is about, under its own type: it must be decided, and denied. */
  about?: SeededRecord;
  /** For writes: the phase after the read-only walk (they create the requester's own records). */
  writes?: boolean;
}

type Mode = 'denied' | 'anonymous' | 'unscoped' | 'owner';

interface World {
  records: SeededRecord[];
  /** Served types holding seeded data. */
  types: string[];
  patients: SeededRecord[];
  testAPatient: string;
  testAObservation: string;
}

const HL7 = 'x-application/hl7-v2+er7';
const FHIR_JSON = 'application/fhir+json';
const PAGE_IDENTIFIER = 'urn:test:route-walk-page|page';
/** Types of stored records the REST API does not serve (the raw messages). */
const UNSERVED_STORED_TYPES = ['Binary'];

let t: TestHub;
let world: World;
let seq = 0;
const rid = (label: string): string => `walk-${label}-${(seq += 1)}`;

/**
 * The repo's protocol with gp (TEST-A's and TEST-B's type) also a source of every kind of message, so that the
 * walk goes on sending bookings and assessments in their own names to test reads and matching; who may send
 * what has its own tests (trust-sources.test.ts, message-sources.test.ts).
 */
const gpSendsEverything = (yaml: string): string =>
  yaml.replace(/^sources:\n(?: {2}[a-z-]+: +\[[^\]]*\]\n)+/m, (block) => block.replace(/\[([^\]]*)\]/g, (all, list: string) => (list.includes('gp') ? all : `[${list}, gp]`)));
const walkProtocols = () => loadedTestProtocols({ yamlEdit: gpSendsEverything });

beforeAll(async () => {
  t = await startTestHub({ protocols: await walkProtocols() });
  const seeded = await seedWorld(t);
  world = worldOf(seeded.records, seeded.testAPatient, seeded.testAObservation);
}, 120_000);
afterAll(async () => {
  await t.close();
});

function worldOf(records: SeededRecord[], testAPatient: string, testAObservation: string): World {
  const types = [...new Set(records.map((r) => r.type))].filter((type) => isSupportedType(type)).sort();
  return { records, types, patients: records.filter((r) => r.type === 'Patient'), testAPatient, testAObservation };
}

// ---------------------------------------------------------------------------
// The probes: every route of the table, with each substitution.

const ofType = (w: World, type: string): SeededRecord[] => w.records.filter((r) => r.type === type);
const served = (w: World): SeededRecord[] => w.records.filter((r) => isSupportedType(r.type));
const json = (value: unknown): string => JSON.stringify(value);

async function tokenForm(hub: TestHub, mode: Mode, clientId: string): Promise<Record<string, string>> {
  const base = { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', scope: 'system/*.rs' };
  switch (mode) {
    case 'anonymous':
      return { grant_type: 'client_credentials', scope: 'system/*.rs', purpose_of_use: 'direct-care' };
    case 'unscoped':
      // A purpose the client is not registered for: refused like a scope it lacks.
      return { ...base, client_assertion: await hub.assertion(clientId), purpose_of_use: 'safeguarding' };
    case 'denied':
    case 'owner':
      return { ...base, client_assertion: await hub.assertion(clientId), purpose_of_use: 'direct-care' };
  }
}

/** Every request the walk makes for one route of the table. */
async function probesFor(hub: TestHub, route: RouteKey, w: World, mode: Mode, clientId: string, ownPatient: string): Promise<Probe[]> {
  const get = (url: string, expectation: Expectation, extra: Partial<Probe> = {}): Probe => ({ route, method: 'GET', url, headers: {}, expect: expectation, ...extra });
  switch (route) {
    case 'GET /':
    case 'GET /livez':
    case 'GET /readyz':
    case 'GET /.well-known/smart-configuration':
    case 'GET /.well-known/jwks.json':
    case 'GET /fhir/metadata':
      return [get(route.slice('GET '.length), 'ok')];
    case 'POST /auth/token': {
      const form = new URLSearchParams(await tokenForm(hub, mode, clientId)).toString();
      return [{ route, method: 'POST', url: '/auth/token', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form, expect: 'ok' }];
    }
    case 'GET /fhir/:type': {
      const probes: Probe[] = [];
      for (const type of supportedTypes) {
        const expectation: Expectation = isPublicType(type) ? 'search-public' : 'search-empty';
        probes.push(get(`/fhir/${type}`, expectation), get(`/fhir/${type}?_count=1`, expectation));
        if (!w.types.includes(type)) continue;
        const params = searchParamsOf(type);
        const records = ofType(w, type);
        const query = (pairs: [string, string][]): string => `/fhir/${type}?${new URLSearchParams(pairs).toString()}`;
        probes.push(get(query([['_id', records.map((r) => r.id).join(',')]]), expectation));
        if (params.identifier) {
          for (const value of records.flatMap((r) => r.identifiers)) probes.push(get(query([['identifier', value]]), expectation));
        }
        for (const param of params.references) {
          probes.push(get(query([[param, w.patients.map((p) => `Patient/${p.id}`).join(',')]]), expectation));
        }
        probes.push(get(query([['_lastUpdated', 'gt2000-01-01'], ['_sort', '-_lastUpdated'], ['_count', '2']]), expectation));
        // An _include joins referenced records to the page, each decided like any other.
        for (const param of params.references) probes.push(get(query([['_include', `${type}:${param}`]]), expectation));
        // Lenient handling ignores what it does not support: nothing may come in that way either.
        probes.push(get(query([['_revinclude', '*'], ['_has:Observation:subject:_id', 'x'], ['_count', '3']]), expectation, { headers: { Prefer: 'handling=lenient' } }));
      }
      return probes;
    }
    case 'GET /fhir/:type/:id':
      return w.records.flatMap((r): Probe[] => {
        if (!isSupportedType(r.type)) return [get(`/fhir/${r.type}/${r.id}`, 'unserved')];
        const other = r.type === 'Patient' ? 'Observation' : 'Patient';
        return [
          get(`/fhir/${r.type}/${r.id}`, 'hidden', { about: r }),
          { route, method: 'HEAD', url: `/fhir/${r.type}/${r.id}`, headers: {}, expect: 'hidden', about: r },
          get(`/fhir/${other}/${r.id}`, 'absent'),
        ];
      });
    case 'GET /fhir/:type/:id/$explain-disclosure':
      return served(w).map((r) => get(`/fhir/${r.type}/${r.id}/$explain-disclosure?organisation=TEST-B&purpose=direct-care`, 'forbidden'));
    case 'GET /fhir/:type/:id/_history':
      return served(w).map((r) => get(`/fhir/${r.type}/${r.id}/_history`, 'hidden', { about: r }));
    case 'GET /fhir/:type/:id/_history/:vid':
      return served(w).flatMap((r) => [...new Set([1, r.versionId])].map((v) => get(`/fhir/${r.type}/${r.id}/_history/${v}`, 'hidden', { about: r })));
    case 'POST /fhir/:type':
      return w.types.flatMap((type): Probe[] => {
        const body = json(ownBody(type, ownPatient));
        const post = (headers: Record<string, string>): Probe => ({ route, method: 'POST', url: `/fhir/${type}`, headers: { 'Content-Type': FHIR_JSON, ...headers }, body, expect: 'created', writes: true });
        // A conditional create matches only what the requester may read: a hidden match is no match.
        return [
          post({}),
          ...ofType(w, type).slice(0, 3).map((r) => post({ 'If-None-Exist': `_id=${r.id}` })),
          ...(searchParamsOf(type).identifier ? ofType(w, type).flatMap((r) => r.identifiers.slice(0, 1)).map((v) => post({ 'If-None-Exist': `identifier=${v}` })) : []),
        ];
      });
    case 'PUT /fhir/:type/:id':
      return served(w).map((r) => ({
        route,
        method: 'PUT',
        url: `/fhir/${r.type}/${r.id}`,
        headers: { 'Content-Type': FHIR_JSON },
        body: json({ ...ownBody(r.type, ownPatient), id: r.id }),
        expect: 'not-writer',
        writes: true,
      }));
    case 'POST /fhir/$process-message':
      return [{ route, method: 'POST', url: '/fhir/$process-message', headers: { 'Content-Type': FHIR_JSON }, body: await ownBooking(`81018101-8101-4101-8101-81018101${String(seq).padStart(4, '0')}`), expect: 'ok', writes: true }];
    case 'POST /ingest/hl7v2':
      return [{ route, method: 'POST', url: '/ingest/hl7v2', headers: { 'Content-Type': HL7, Accept: FHIR_JSON }, body: await ownVxu(`TESTB-WALK-${seq}`), expect: 'ok', writes: true }];
    case 'POST /ingest/immunisations-csv':
      return [{ route, method: 'POST', url: '/ingest/immunisations-csv', headers: { 'Content-Type': 'text/csv' }, body: await ownCsv(`TESTB-WALK-${seq}`), expect: 'ok', writes: true }];
    case 'POST /ingest/caf':
      return [{ route, method: 'POST', url: '/ingest/caf', headers: { 'Content-Type': 'application/json' }, body: await ownCaf(`TESTB-WALK-CAF-${seq}`), expect: 'ok', writes: true }];
    // The IG lead's audit log and reports: refused to every other requester before anything is read.
    case 'GET /fhir/AuditEvent':
      return [
        get('/fhir/AuditEvent', 'forbidden'),
        get(`/fhir/AuditEvent?${new URLSearchParams([['patient', w.patients.map((p) => `Patient/${p.id}`).join(',')], ['_count', '500']]).toString()}`, 'forbidden'),
        get('/fhir/AuditEvent?subtype=AuthZ-Consent&outcome=0', 'forbidden', { headers: { Prefer: 'handling=lenient' } }),
      ];
    case 'GET /fhir/AuditEvent/:id':
      return [get('/fhir/AuditEvent/2f0c3a4e-0000-4000-8000-000000000000', 'forbidden')];
    case 'GET /audit/report/disclosures':
    case 'GET /audit/report/denials':
    case 'GET /audit/report/follow-ups':
      return [get(route.slice('GET '.length), 'forbidden'), get(`${route.slice('GET '.length)}?from=2000-01&_format=json`, 'forbidden')];
    case 'GET /audit/organisations':
      return [get('/audit/organisations', 'forbidden')];
    // The commissioners' figures: for purpose commissioning (or the IG lead) only, refused before anything is counted.
    case 'GET /fhir/Measure/:id/$evaluate-measure':
      return ['missed-doses', 'follow-ups', 'exceptions'].flatMap((id) => [
        get(`/fhir/Measure/${id}/$evaluate-measure?periodStart=2000-01-01&periodEnd=2002-12-31`, 'forbidden'),
        get(`/fhir/Measure/${id}/$evaluate-measure?periodStart=2025-01-01&periodEnd=2027-12-31&_format=csv`, 'forbidden', { headers: { Accept: 'text/csv' } }),
      ]);
    case 'GET /fhir/MeasureReport':
      return [
        get('/fhir/MeasureReport', 'forbidden'),
        get(`/fhir/MeasureReport?${new URLSearchParams([['measure', 'https://eastside.example/fhir/Measure/missed-doses'], ['period', 'ge2025-01-01'], ['period', 'le2027-12-31']]).toString()}`, 'forbidden'),
      ];
    // Subscriptions: the topics are definitions; a Subscription is its organisation's own, its endpoint one the
    // registry allows it (none for the walkers: every create is refused), another's answers as an unknown id.
    case 'GET /fhir/SubscriptionTopic':
      return [get('/fhir/SubscriptionTopic', 'ok')];
    case 'GET /fhir/SubscriptionTopic/:id':
      return [get('/fhir/SubscriptionTopic/registration', 'ok')];
    case 'POST /fhir/Subscription':
      return [
        { route, method: 'POST', url: '/fhir/Subscription', headers: { 'Content-Type': FHIR_JSON }, body: json(subscriptionBody(`${hub.baseUrl}/fhir`, 'registration', 'https://collector.example/hook')), expect: 'refused', writes: true },
      ];
    case 'GET /fhir/Subscription':
      return [get('/fhir/Subscription', 'search-empty')];
    case 'GET /fhir/Subscription/:id':
    case 'GET /fhir/Subscription/:id/$status':
    case 'GET /fhir/Subscription/:id/$events':
      return w.records.slice(0, 3).map((r) => get(route.slice('GET '.length).replace(':id', r.id), 'absent'));
    case 'DELETE /fhir/Subscription/:id':
      return w.records.slice(0, 3).map((r): Probe => ({ route, method: 'DELETE', url: `/fhir/Subscription/${r.id}`, headers: {}, expect: 'absent', writes: true }));
    // The verifiable log: the public key for anyone; checkpoints, proofs and verification for the IG lead only.
    case 'GET /audit/key':
      return [get('/audit/key', 'ok')];
    // tlog-tiles: hashes for anyone, entry bundles for nobody (they would be the audit events themselves).
    case 'GET /audit-log/checkpoint':
      return [get('/audit-log/checkpoint', 'ok')];
    case 'GET /audit-log/tile/*path':
      return [get('/audit-log/tile/0/000.p/1', 'ok'), get('/audit-log/tile/entries/000.p/1', 'unserved'), get('/audit-log/tile/0/x000/000.p/1', 'absent')];
    case 'GET /audit/checkpoint':
      return [get('/audit/checkpoint', 'forbidden'), get('/audit/checkpoint?size=1', 'forbidden', { headers: { Accept: 'application/json' } })];
    case 'POST /audit/checkpoint':
      return [{ route, method: 'POST', url: '/audit/checkpoint', headers: {}, expect: 'forbidden' }];
    case 'GET /audit/proof/inclusion':
      return [get('/audit/proof/inclusion?index=0', 'forbidden'), get('/audit/proof/inclusion?index=3&size=5', 'forbidden')];
    case 'GET /audit/proof/consistency':
      return [get('/audit/proof/consistency?from=1', 'forbidden'), get('/audit/proof/consistency?from=1&to=2', 'forbidden')];
    case 'POST /audit/verify':
      return [{ route, method: 'POST', url: '/audit/verify', headers: {}, expect: 'forbidden' }];
    // The IG lead's alerts: refused to every other requester before anything is read.
    case 'GET /audit/alerts':
      return [get('/audit/alerts', 'forbidden'), get('/audit/alerts?status=all&_count=500', 'forbidden')];
    case 'POST /audit/alerts/:id/review':
      return [{ route, method: 'POST', url: '/audit/alerts/7d1c1f52-0000-4000-8000-000000000000/review', headers: { 'Content-Type': 'application/json' }, body: json({ note: 'walk' }), expect: 'forbidden', writes: true }];
    // The IG lead's lifting of a confidentiality label: refused to every other requester before anything is read.
    case 'POST /audit/patients/:id/lift-label':
      return [{ route, method: 'POST', url: '/audit/patients/7d1c1f52-0000-4000-8000-000000000000/lift-label', headers: { 'Content-Type': 'application/json' }, body: json({ code: 'R', reason: 'walk' }), expect: 'forbidden', writes: true }];
    // The IG lead's page: static files, and a sign-in no walker holds a link for.
    case 'GET /ig':
    case 'GET /ig/app.js':
    case 'GET /ig/app.css':
      return [get(route.slice('GET '.length), 'ok')];
    case 'GET /ig/login':
      return [get('/ig/login', 'link-refused'), get(`/ig/login?token=${'A'.repeat(43)}`, 'link-refused'), get('/ig/login?token=a&token=b', 'link-refused')];
    case 'POST /ig/logout': {
      // Signing out must come from the hub's own page (Origin), like every /ig change.
      const logout = (headers: Record<string, string>, want: Expectation = 'see-other'): Probe => ({ route, method: 'POST', url: '/ig/logout', headers, expect: want });
      const own = new URL(hub.baseUrl).origin;
      return [
        logout({ Origin: own }),
        logout({ Origin: own, Cookie: `eyhub_ig=${'A'.repeat(43)}` }),
        logout({}, 'forbidden'),
        logout({ Origin: 'https://elsewhere.example', Cookie: `eyhub_ig=${'A'.repeat(43)}` }, 'forbidden'),
      ];
    }
  }
}

/** Requests to methods and paths the table does not list: answered 4xx, with nothing seeded. */
function unroutedProbes(w: World): Probe[] {
  const probe = (method: Probe['method'], url: string): Probe => ({ route: 'unrouted', method, url, headers: { 'Content-Type': FHIR_JSON }, expect: 'refused', ...(method === 'GET' || method === 'DELETE' ? {} : { body: '{}' }) });
  return served(w).flatMap((r) => [
    probe('DELETE', `/fhir/${r.type}/${r.id}`),
    probe('PATCH', `/fhir/${r.type}/${r.id}`),
    probe('POST', `/fhir/${r.type}/${r.id}`),
    probe('GET', `/fhir/${r.type}/${r.id}/$everything`),
    probe('GET', `/fhir/${r.type}/${r.id}/_history/1/x`),
    probe('GET', `/fhir/${r.type}/_history`),
    probe('POST', `/fhir/${r.type}/_search`),
  ]).concat([probe('GET', '/fhir/_history'), probe('POST', '/fhir'), probe('GET', '/fhir/$export'), probe('GET', '/ingest/hl7v2'), probe('GET', '/auth/token'), probe('POST', '/ig/login'), probe('GET', '/ig/logout')]);
}

async function allProbes(w: World, mode: Mode, clientId: string, ownPatient: string, hub: TestHub = t): Promise<Probe[]> {
  const probes: Probe[] = [];
  for (const route of TABLE_ROUTES) probes.push(...(await probesFor(hub, route, w, mode, clientId, ownPatient)));
  return [...probes, ...unroutedProbes(w)];
}

// ---------------------------------------------------------------------------
// Sending a probe and judging the answer.

async function send(hub: TestHub, probe: Probe, token: string | undefined, requestId: string): Promise<Response> {
  const verb = { GET: 'get', HEAD: 'head', POST: 'post', PUT: 'put', DELETE: 'delete', PATCH: 'patch' } as const;
  let req = hub.http[verb[probe.method]](probe.url).set('X-Request-Id', requestId).set(probe.headers);
  if (token !== undefined) req = req.set('Authorization', `Bearer ${token}`);
  // HL7 and CSV answers are read as text like any other.
  req = req.buffer(true);
  return probe.body === undefined ? req : req.send(probe.body);
}

function textOf(res: Response): string {
  return typeof res.text === 'string' ? res.text : json(res.body);
}

/** "Type/id: value" for each seeded value the response carries that the request did not itself send. */
function leaksIn(res: Response, request: string, records: readonly SeededRecord[]): string[] {
  const haystack = `${textOf(res)}\n${json(res.headers)}`.toLowerCase();
  const sent = request.toLowerCase();
  return records.flatMap((r) =>
    [r.id, ...r.strings].filter((s) => !sent.includes(s.toLowerCase()) && haystack.includes(s.toLowerCase())).map((s) => `${r.type}/${r.id}: ${s}`),
  );
}

const requestText = (probe: Probe): string => `${probe.url}\n${json(probe.headers)}\n${probe.body ?? ''}`;
const issueOf = (res: Response) => (res.body as OperationOutcome).issue[0];

/** The answer a mode expects: without a token a protected route is 401, without the scope 403. */
function expected(probe: Probe, mode: Mode): Expectation | 401 | 403 {
  if (probe.route === 'unrouted') return 'refused';
  const access = ACCESS[probe.route];
  if (access === 'public' || access === 'metadata' || access === 'sign-in') return probe.expect;
  if (access === 'token') return mode === 'denied' || mode === 'owner' ? 'ok' : 'refused';
  switch (mode) {
    case 'anonymous':
      return 401;
    case 'unscoped':
      // The type is checked before the scope: a type not served is 404 to everyone authenticated.
      return probe.expect === 'unserved' ? 'unserved' : 403;
    case 'denied':
    case 'owner':
      return probe.expect;
  }
}

interface Walked {
  probe: Probe;
  res: Response;
  requestId: string;
  leaks: string[];
}

async function walk(hub: TestHub, w: World, probes: readonly Probe[], token: string | undefined, label: string): Promise<Walked[]> {
  const walked: Walked[] = [];
  for (const probe of probes) {
    const requestId = rid(label);
    const res = await send(hub, probe, token, requestId);
    walked.push({ probe, res, requestId, leaks: leaksIn(res, requestText(probe), w.records) });
  }
  return walked;
}

const describeProbe = (p: Probe, res: Response): string => `${p.method} ${p.url} (${p.route}) answered ${res.status}: ${textOf(res).slice(0, 300)}`;

/** The checks every answer to a requester who may see nothing must pass. */
async function expectNothingDisclosed(hub: TestHub, w: World, walked: Walked, mode: Mode, own: ReadonlySet<string> = new Set()): Promise<void> {
  const { probe, res, requestId, leaks } = walked;
  const where = describeProbe(probe, res);
  expect(res.status, where).toBeLessThan(500);
  expect(leaks, where).toEqual([]);
  if (probe.route !== 'unrouted' && ACCESS[probe.route] !== 'public') {
    expect((await auditEventsFor(hub.database.db, requestId)).length, `no AuditEvent for ${where}`).toBeGreaterThan(0);
  }
  const want = expected(probe, mode);
  switch (want) {
    case 401:
      expect(res.status, where).toBe(401);
      if (probe.method !== 'HEAD') expect(issueOf(res)?.code, where).toBe('login');
      return;
    case 403:
      expect(res.status, where).toBe(403);
      if (probe.method !== 'HEAD') expect(issueOf(res)?.code, where).toBe('forbidden');
      return;
    case 'ok':
      expect(res.status, where).toBe(200);
      return;
    case 'search-empty':
    case 'search-public': {
      expect(res.status, where).toBe(200);
      const bundle = res.body as Bundle;
      expect(bundle.type, where).toBe('searchset');
      // The requester's own records (a co-writer's) may come back; nothing else may, nor be counted.
      const entries = (bundle.entry ?? []).filter((e) => !own.has(`${e.resource?.resourceType ?? ''}/${e.resource?.id ?? ''}`));
      const owned = (bundle.entry ?? []).length - entries.length;
      // The total counts matches only; an included record of the requester's own (its Patient statement) is not one.
      const ownedMatches = (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include' && own.has(`${e.resource?.resourceType ?? ''}/${e.resource?.id ?? ''}`)).length;
      if (want === 'search-empty') expect(entries, where).toEqual([]);
      else expect(entries.every((e) => isPublicType(e.resource?.resourceType ?? '')), where).toBe(true);
      if (want === 'search-empty') expect([undefined, ownedMatches], where).toContain(bundle.total);
      // The hub's public definitions (a Questionnaire, three Measures) may fill more than one page.
      if (owned === 0 && want === 'search-empty') expect(bundle.link?.some((l) => l.relation === 'next'), where).toBe(false);
      return;
    }
    case 'hidden': {
      expect(res.status, where).toBe(404);
      expect(res.headers['etag'], where).toBeUndefined();
      expect(res.headers['last-modified'], where).toBeUndefined();
      if (probe.method !== 'HEAD') {
        const issue = issueOf(res);
        expect(issue?.code, where).toBe('not-found');
        // A denial says nothing: no reason code (that is for the audit log and the IG lead), as for an unknown id.
        expect(issue?.details, where).toBeUndefined();
        expect(textOf(res), where).not.toContain(DENY_REASON_SYSTEM);
        expect(DENY_REASONS.filter((code) => (issue?.diagnostics ?? '').includes(code)), where).toEqual([]);
      }
      if (probe.about !== undefined) {
        const { type, id } = probe.about;
        const decisions = await decisionEventsFor(hub.database.db, requestId);
        const denied = decisions.filter((d) => d.outcome === '8' && aboutRecord(d, `${type}/${id}`));
        expect(denied.length, `no deny decision audited for ${where}`).toBeGreaterThan(0);
        expect(decisions.filter((d) => d.outcome !== '8'), where).toEqual([]);
      }
      return;
    }
    case 'absent':
    case 'unserved':
      expect(res.status, where).toBe(404);
      expect(issueOf(res)?.code, where).toBe(want === 'absent' ? 'not-found' : 'not-supported');
      return;
    case 'forbidden':
      expect(res.status, where).toBe(403);
      return;
    case 'created':
      expect(res.status, where).toBe(201);
      expect(w.records.map((r) => r.id), where).not.toContain((res.body as { id?: string }).id);
      return;
    case 'not-writer':
      expect(res.status, where).toBe(404);
      expect(issueOf(res)?.code, where).toBe('not-found');
      return;
    case 'refused':
      expect(res.status, where).toBeGreaterThanOrEqual(400);
      return;
    case 'link-refused':
      expect(res.status, where).toBe(401);
      expect(res.type, where).toBe('text/html');
      expect(res.headers['set-cookie'], where).toBeUndefined();
      return;
    case 'see-other':
      expect(res.status, where).toBe(303);
      expect(res.headers['location'], where).toBe('/ig');
      return;
  }
}

function aboutRecord(event: AuditEvent, reference: string): boolean {
  return event.entity?.some((e) => e.what?.reference === reference || e.what?.reference?.startsWith(`${reference}/_history/`) === true) === true;
}

// ---------------------------------------------------------------------------

describe('the walk table is the app\'s routes', () => {
  it('lists every route the app registers, and nothing it does not', () => {
    const shape = appShape(t.hub.app, MOUNT_PREFIXES);
    expect(shape.routes).toEqual([...ROUTE_TABLE.app.routes]);
    expect(shape.middleware).toBe(ROUTE_TABLE.app.middleware);
    expect(shape.routers).toEqual(ROUTE_TABLE.routers.map((r) => ({ mount: r.mount, routes: [...r.routes], middleware: r.middleware })));
  });

  it('seeded data of every served type the walk substitutes, and only the raw messages unserved', () => {
    expect(world.types).toEqual(expect.arrayContaining(['Consent', 'EpisodeOfCare', 'Immunization', 'Observation', 'Patient', 'Provenance', 'RelatedPerson']));
    expect([...new Set(world.records.map((r) => r.type))].filter((type) => !isSupportedType(type))).toEqual(UNSERVED_STORED_TYPES);
    // Each served type needs a plausible body for POST and PUT.
    for (const type of world.types) expect(ownBody(type, 'x'), type).toBeDefined();
    expect(world.patients.flatMap((p) => p.identifiers)).toEqual(expect.arrayContaining(['9995100010', '9990091013', '9990070210', nhsNumber(4242)]));
  });
});

describe('walk as TEST-B, an organisation no flow reaches', () => {
  let token: string;
  beforeAll(async () => {
    token = await t.token('test-b', 'direct-care');
  });

  it('every route of the table is walked, without a token, without the scope, and as TEST-B', async () => {
    const probes = await allProbes(world, 'denied', 'test-b', 'none-yet');
    expect(new Set(probes.map((p) => p.route))).toEqual(new Set([...TABLE_ROUTES, 'unrouted']));
  });

  it('without a token: 401 on every protected route, audited, nothing seeded in any answer', async () => {
    for (const walked of await walk(t, world, await allProbes(world, 'anonymous', 'test-b', 'walk-no-patient'), undefined, 'anon')) {
      await expectNothingDisclosed(t, world, walked, 'anonymous');
    }
  }, 300_000);

  it('with a token lacking the scope: 403 on every protected route, audited, nothing seeded in any answer', async () => {
    const narrow = await t.token('test-b', 'direct-care', 'system/Communication.r');
    for (const walked of await walk(t, world, await allProbes(world, 'unscoped', 'test-b', 'walk-no-patient'), narrow, 'noscope')) {
      await expectNothingDisclosed(t, world, walked, 'unscoped');
    }
  }, 300_000);

  it('reads, searches and operations: nothing seeded, every read denied by a decision and audited', async () => {
    const probes = (await allProbes(world, 'denied', 'test-b', 'walk-no-patient')).filter((p) => p.writes !== true);
    for (const walked of await walk(t, world, probes, token, 'read')) await expectNothingDisclosed(t, world, walked, 'denied');
  }, 300_000);

  it('writes and ingest in its own name: only its own records come back, and no seeded record changes', async () => {
    const before = await seededRecords(t.database.db);
    const own = await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).type(FHIR_JSON).send(json(patient(8100)));
    expect(own.status).toBe(201);
    const probes = (await allProbes(world, 'denied', 'test-b', String(own.body.id))).filter((p) => p.writes === true);
    for (const walked of await walk(t, world, probes, token, 'write')) await expectNothingDisclosed(t, world, walked, 'denied');
    const after = await seededRecords(t.database.db);
    const seededIds = new Set(before.map((r) => `${r.type}/${r.id}`));
    expect(after.filter((r) => seededIds.has(`${r.type}/${r.id}`))).toEqual(before);
    // And having written, TEST-B still reads nothing of anyone else's.
    const rereads = served(world).map((r): Probe => ({ route: 'GET /fhir/:type/:id', method: 'GET', url: `/fhir/${r.type}/${r.id}`, headers: {}, expect: 'hidden', about: r }));
    for (const walked of await walk(t, world, rereads, token, 'reread')) await expectNothingDisclosed(t, world, walked, 'denied');
  }, 300_000);
});

describe('walk as a GP asking for early help, a flow that reaches it but whose family refused consent', () => {
  it('reads, searches and operations: every candidate is decided and denied, nothing seeded comes back', async () => {
    // Unlike TEST-B's searches, which the candidate filter empties before any decision, these
    // searches hold the early help records as candidates: only the decision keeps them out.
    const gp = await t.token('bowcommon-gp', 'early-help');
    const probes = (await allProbes(world, 'denied', 'bowcommon-gp', 'walk-no-patient')).filter((p) => p.writes !== true);
    const walked = await walk(t, world, probes, gp, 'eh');
    for (const one of walked) await expectNothingDisclosed(t, world, one, 'denied');
    const searchDenials = await Promise.all(
      walked.filter((x) => x.probe.route === 'GET /fhir/:type').map(async (x) => (await decisionEventsFor(t.database.db, x.requestId)).filter((d) => d.outcome === '8').length),
    );
    expect(searchDenials.reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);
  }, 300_000);
});

// ---------------------------------------------------------------------------
// The oracle check: to a requester, a record it may not see answers exactly
// as an id the hub never held. Every probe that names a seeded record (its id
// or an identifier value) is sent twice, once as it is and once with each
// named value replaced by a stand-in of the same length that the hub never
// held; the answers must be identical apart from the values themselves, the
// request id and the date (headers included, content length included).

/** The seeded ids and identifier values a probe names, each with its stand-in. */
function namedIn(probe: Probe, w: World): [string, string][] {
  const text = requestText(probe);
  const values = [...new Set(w.records.flatMap((r) => [r.id, ...r.identifiers]))].filter((v) => text.includes(v));
  return values.map((v, i): [string, string] => [v, standIn(v, i + 1)]);
}

/** Probes the oracle compares: reads, searches and operations, updates, and conditional creates. */
const oracleProbes = (probes: readonly Probe[]): Probe[] =>
  probes.filter((p) => p.writes !== true || p.route === 'PUT /fhir/:type/:id' || (p.route === 'POST /fhir/:type' && p.headers['If-None-Exist'] !== undefined));

/** Sends each probe naming a seeded record beside its twin naming stand-ins; answers how many pairs it compared, per route. */
async function oracle(hub: TestHub, w: World, probes: readonly Probe[], token: string, label: string): Promise<Map<string, number>> {
  const compared = new Map<string, number>();
  for (const probe of oracleProbes(probes)) {
    const pairs = namedIn(probe, w);
    if (pairs.length === 0) continue;
    const swap = (text: string): string => substituted(text, pairs);
    const twin: Probe = { ...probe, url: swap(probe.url), headers: Object.fromEntries(Object.entries(probe.headers).map(([k, v]) => [k, swap(v)])), ...(probe.body === undefined ? {} : { body: swap(probe.body) }) };
    const denied = await send(hub, probe, token, rid(`${label}-denied`));
    const absent = await send(hub, twin, token, rid(`${label}-absent`));
    const where = `${probe.method} ${probe.url} against ${twin.method} ${twin.url}`;
    if (probe.expect === 'created') {
      // Both create the requester's own record (a hidden match is no match): alike but for the new id and time.
      const shape = (res: Response) => ({
        status: res.status,
        headers: Object.keys(res.headers).filter((h) => !['date', 'x-request-id'].includes(h)).sort(),
        body: json({ ...(res.body as object), id: undefined, meta: undefined }),
      });
      expect(shape(denied), where).toEqual(shape(absent));
    } else {
      expect(masked(denied, pairs.map(([v]) => v)), where).toEqual(masked(absent, pairs.map(([, v]) => v)));
    }
    compared.set(probe.route, (compared.get(probe.route) ?? 0) + 1);
  }
  return compared;
}

/** Routes that take an id, or search: each must have been compared at least once. */
const ORACLE_ROUTES: readonly RouteKey[] = [
  'GET /fhir/:type',
  'GET /fhir/:type/:id',
  'GET /fhir/:type/:id/$explain-disclosure',
  'GET /fhir/:type/:id/_history',
  'GET /fhir/:type/:id/_history/:vid',
  'PUT /fhir/:type/:id',
];

describe('the oracle: a record the requester may not see answers as an id the hub never held', () => {
  it('as TEST-B, which no flow reaches: every route that takes an id or searches', async () => {
    const token = await t.token('test-b', 'direct-care');
    const own = await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${token}`).type(FHIR_JSON).send(json(patient(8300)));
    expect(own.status).toBe(201);
    const compared = await oracle(t, world, await allProbes(world, 'denied', 'test-b', String(own.body.id)), token, 'oracle-b');
    for (const route of [...ORACLE_ROUTES, 'POST /fhir/:type' as const]) expect(compared.get(route) ?? 0, route).toBeGreaterThan(0);
    expect(compared.get('unrouted') ?? 0).toBeGreaterThan(0);
  }, 600_000);

  it('as a GP for early help, whose family refused: the decision denies, and the answer still says nothing', async () => {
    const gp = await t.token('bowcommon-gp', 'early-help');
    const compared = await oracle(t, world, await allProbes(world, 'denied', 'bowcommon-gp', 'walk-no-patient'), gp, 'oracle-eh');
    for (const route of ORACLE_ROUTES) expect(compared.get(route) ?? 0, route).toBeGreaterThan(0);
  }, 600_000);
});

// ---------------------------------------------------------------------------
// The co-writer: TEST-B, a practice, sends a VXU naming the mother maternity
// booked, so it has written part of her Patient (it is even the last to have
// written it). No flow carries maternity's records to it: on every route it
// gets only what it sent itself. The shared Patient, named by what TEST-B said
// of it (its id, the NHS number), answers with TEST-B's own statement and
// nothing else, as a Patient it alone wrote would (cowriter-answers.test.ts
// checks that the two answer alike); named otherwise, it answers as absent.

/** The world as a walker that already knows some ids sees it: those ids are not leaks (their records' other values still are). */
function knowing(w: World, ids: readonly string[]): World {
  return { ...w, records: w.records.map((r) => (ids.includes(r.id) ? { ...r, id: `(known) ${r.id}` } : r)) };
}

describe('walk as a co-writer: an organisation that wrote part of a shared record may not see the rest', () => {
  let hub: TestHub;
  let w: World;
  let token: string;
  let shared: SeededRecord;
  let sent: string;
  /** Ids of others' records that TEST-B's own records name (the shared Patient): known to it, so not a leak. */
  let knownIds: string[] = [];
  /** "Type/id" of the records TEST-B alone wrote: its own, which it may read. */
  let ownRecords: Set<string>;
  /** The NHS number TEST-B's VXU gave the mother. */
  const motherNhs = '9995100010';
  /** A probe naming the shared Patient by what TEST-B said of it: answered with TEST-B's own statement. */
  const ownWord = (p: Probe): boolean =>
    (p.about?.id === shared.id && (p.route === 'GET /fhir/:type/:id' || p.route === 'GET /fhir/:type/:id/_history')) ||
    (p.route === 'POST /fhir/:type' && p.url === '/fhir/Patient' && [shared.id, motherNhs].some((v) => (p.headers['If-None-Exist'] ?? '').includes(v)));
  beforeAll(async () => {
    hub = await startTestHub();
    const seeded = await seedWorld(hub);
    token = await hub.token('test-b', 'direct-care');
    sent = await ownVxu('TESTB-COWRITER-1', motherNhs);
    const vxu = await hub.http.post('/ingest/hl7v2').set('Authorization', `Bearer ${token}`).set('Content-Type', HL7).set('Accept', FHIR_JSON).send(sent);
    if (vxu.status !== 200) throw new Error(`the co-writer's VXU was refused: ${vxu.text}`);
    const all = await seededRecords(hub.database.db);
    const ownOnly = (r: SeededRecord): boolean => r.writers.length === 1 && r.writers[0] === 'TEST-B';
    // What TEST-B knows already: what it sent, and its own records (which refer to the shared Patient by id).
    const own = await Promise.all(all.filter(ownOnly).filter((r) => isSupportedType(r.type)).map((r) => hub.http.get(`/fhir/${r.type}/${r.id}`).set('Authorization', `Bearer ${token}`)));
    const lower = [sent, ...own.map((r) => r.text)].join('\n').toLowerCase();
    // Everything others wrote (shared records included), less what TEST-B knows already, is what it must not get.
    const records = all
      .filter((r) => !ownOnly(r))
      .map((r) => ({ ...r, strings: r.strings.filter((x) => !lower.includes(x.toLowerCase())) }));
    ownRecords = new Set(all.filter(ownOnly).map((r) => `${r.type}/${r.id}`));
    knownIds = all.filter((r) => !ownOnly(r) && lower.includes(r.id)).map((r) => r.id);
    w = worldOf(records, seeded.testAPatient, seeded.testAObservation);
    const found = records.find((r) => r.type === 'Patient' && r.identifiers.includes(motherNhs));
    if (found === undefined) throw new Error('the mother is not stored');
    shared = found;
  }, 180_000);
  afterAll(async () => {
    await hub.close();
  });

  it('has said something about the mother\'s Patient, as maternity has', async () => {
    // One Patient per NHS number, composed from each source's statement: TEST-B's VXU is its statement about her.
    const said = await rawRows<{ organisation: string }>(hub.database.db, sql`select organisation from patient_source where patient_id = ${shared.id}`);
    expect(said.map((r) => r.organisation)).toEqual(expect.arrayContaining(['TEST-B', 'R9M']));
  });

  it('reads, searches, operations and conditional creates: nothing of anyone else\'s, the shared record only as TEST-B\'s own statement', async () => {
    // Searches are walked before the conditional creates, so they see only what TEST-B wrote before the walk.
    const probes = (await allProbes(w, 'denied', 'test-b', 'walk-no-patient', hub)).filter(
      (p) => p.writes !== true || (p.route === 'POST /fhir/:type' && p.headers['If-None-Exist'] !== undefined),
    );
    const walked = await walk(hub, knowing(w, knownIds), probes, token, 'cowriter');
    // Its statement is its own word: a search may find it (by what TEST-B said), as it finds TEST-B's own records.
    const own = new Set([...ownRecords, `Patient/${shared.id}`]);
    for (const one of walked) {
      if (!ownWord(one.probe)) {
        await expectNothingDisclosed(hub, w, one, 'denied', own);
        continue;
      }
      const where = describeProbe(one.probe, one.res);
      expect(one.leaks, where).toEqual([]);
      expect(one.res.status, where).toBe(200);
      expect(one.res.headers['etag'], where).toBeUndefined();
      expect(JSON.stringify(one.res.body ?? {}), where).not.toContain('versionId');
    }
    expect(walked.some((x) => x.probe.about?.id === shared.id && x.probe.route === 'GET /fhir/:type/:id')).toBe(true);
    expect(walked.filter((x) => ownWord(x.probe)).length).toBeGreaterThan(0);
  }, 600_000);

  it('updating the shared record it wrote: the answer passes the decision and carries nothing of maternity\'s', async () => {
    const body = json({ ...patient(8401, { identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9995100010' }] }), id: shared.id });
    const probe: Probe = { route: 'PUT /fhir/:type/:id', method: 'PUT', url: `/fhir/Patient/${shared.id}`, headers: { 'Content-Type': FHIR_JSON }, body, expect: 'ok', writes: true };
    const [put] = await walk(hub, knowing(w, knownIds), [probe], token, 'cowriter-put');
    if (put === undefined) throw new Error('not sent');
    expect(put.leaks, describeProbe(probe, put.res)).toEqual([]);
    // A Patient maternity and TEST-B both spoke of: the PUT replaces TEST-B's own statement, and the answer
    // is that statement alone (nothing of maternity's: no leaks above), without the shared version.
    expect(put.res.status, describeProbe(probe, put.res)).toBe(200);
    expect(put.res.body, describeProbe(probe, put.res)).toMatchObject({ resourceType: 'Patient', id: shared.id, name: [{ family: 'Testfamily8401' }] });
    expect(put.res.headers['etag'], describeProbe(probe, put.res)).toBeUndefined();
    expect(put.res.headers['content-location'], describeProbe(probe, put.res)).toMatch(new RegExp(`/Patient/${shared.id}$`));
  });

  it('the oracle as the co-writer: the shared record answers as an id the hub never held', async () => {
    // Left out: an update of the shared record (TEST-B is one of its writers), searches by the shared
    // Patient or the NHS number TEST-B gave her, which rightly find TEST-B's own records and its statement
    // about her, and every probe answered with that statement (ownWord). Whether such answers say anything of
    // maternity's record is checked in cowriter-answers.test.ts: they are the same as for an NHS number new to the hub.
    const probes = (await allProbes(w, 'denied', 'test-b', 'walk-no-patient', hub)).filter(
      (p) =>
        !((p.route === 'PUT /fhir/:type/:id' || p.route === 'GET /fhir/:type') && (p.url.includes(shared.id) || p.url.includes(motherNhs))) && !ownWord(p),
    );
    const compared = await oracle(hub, w, probes, token, 'oracle-cowriter');
    for (const route of ORACLE_ROUTES) expect(compared.get(route) ?? 0, route).toBeGreaterThan(0);
  }, 600_000);
});

describe('positive control: TEST-A walks the same table', () => {
  it('sees its own Patient and Observation (so the walk would detect data that flowed), and nothing else', async () => {
    const token = await t.token('test-a', 'direct-care');
    const own = new Set([`Patient/${world.testAPatient}`, `Observation/${world.testAObservation}`]);
    const probes = (await allProbes(world, 'owner', 'test-a', world.testAPatient)).filter((p) => p.writes !== true);
    const walked = await walk(t, world, probes, token, 'owner');
    const seen = new Set<string>();
    for (const { probe, res, leaks } of walked) {
      const where = describeProbe(probe, res);
      expect(res.status, where).toBeLessThan(500);
      // Whatever the walk finds must be TEST-A's own.
      for (const leak of leaks) {
        const record = leak.slice(0, leak.indexOf(':'));
        expect(own.has(record), `${where} carries ${leak}`).toBe(true);
        seen.add(`${probe.route} ${record}`);
      }
      if (probe.about?.type === 'Patient' && probe.route === 'GET /fhir/:type/:id/_history/:vid') {
        // Its own Patient is answered with its statement, which has no versions to read.
        expect(res.status, where).toBe(404);
      } else if (probe.about !== undefined && own.has(`${probe.about.type}/${probe.about.id}`)) {
        expect(res.status, where).toBe(200);
        if (probe.method !== 'HEAD') expect(leaks.length, `the walk did not see TEST-A's own record in ${where}`).toBeGreaterThan(0);
      }
    }
    for (const route of ['GET /fhir/:type', 'GET /fhir/:type/:id', 'GET /fhir/:type/:id/_history', 'GET /fhir/:type/:id/_history/:vid']) {
      // A Patient is answered with its writer's own statement, which has no versions: vread is tested on the Observation.
      const shown = route === 'GET /fhir/:type/:id/_history/:vid' ? [...own].filter((r) => !r.startsWith('Patient/')) : [...own];
      for (const record of shown) expect(seen, `${route} never showed ${record}`).toContain(`${route} ${record}`);
    }
  }, 300_000);
});

describe('searches reveal no denied record through total, paging or _cursor', () => {
  const made: string[] = [];
  let a: string;
  let b: string;
  beforeAll(async () => {
    a = await t.token('test-a', 'direct-care');
    b = await t.token('test-b', 'direct-care');
    const [system = '', value = ''] = PAGE_IDENTIFIER.split('|');
    for (let i = 0; i < 30; i += 1) {
      // Thirty people, thirty NHS numbers (one Patient per NHS number: a repeated number would be one Patient).
      const body = patient(50000 + i * 10, { identifier: [...(patient(50000 + i * 10).identifier ?? []), { system, value }] });
      const res = await t.http.post('/fhir/Patient').set('Authorization', `Bearer ${a}`).type(FHIR_JSON).send(json(body));
      if (res.status !== 201) throw new Error(`could not create page patient: ${res.text}`);
      made.push(String(res.body.id));
    }
  }, 120_000);

  const page = (token: string, url: string) => t.http.get(url).set('Authorization', `Bearer ${token}`);
  const nextOf = (bundle: Bundle): string | undefined => bundle.link?.find((l) => l.relation === 'next')?.url;
  const first = `/fhir/Patient?${new URLSearchParams({ identifier: PAGE_IDENTIFIER, _count: '5' }).toString()}`;

  it('as TEST-B: no entries, no next link, no total above 0', async () => {
    const res = await page(b, first);
    expect(res.status).toBe(200);
    expect(res.body.entry).toEqual([]);
    expect([undefined, 0]).toContain(res.body.total);
    expect(nextOf(res.body as Bundle)).toBeUndefined();
  });

  it('as TEST-A: pages of five with a sealed cursor, every record exactly once', async () => {
    const rows = await seededRecords(t.database.db);
    const times = (await Promise.all(made.map(async (id) => (await page(a, `/fhir/Patient/${id}`)).body.meta.lastUpdated as string)));
    const seen: string[] = [];
    let url: string | undefined = first;
    let pages = 0;
    while (url !== undefined) {
      const res = await page(a, url.replace(t.baseUrl, ''));
      expect(res.status).toBe(200);
      const bundle = res.body as Bundle;
      seen.push(...(bundle.entry ?? []).map((e) => e.resource?.id ?? ''));
      pages += 1;
      if (pages === 1) {
        expect(bundle.entry).toHaveLength(5);
        expect(bundle.total).toBeUndefined(); // not known after filtering until the last page
      }
      url = nextOf(bundle);
      if (url === undefined) break;
      const cursor = new URL(url).searchParams.get('_cursor') ?? '';
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      const decoded = Buffer.from(cursor, 'base64url').toString('latin1');
      for (const clear of [...rows.map((r) => r.id), ...made, ...times, ...times.map((x) => x.slice(0, 19))]) {
        expect(url).not.toContain(clear);
        expect(decoded).not.toContain(clear);
      }
      // The cursor positions a search; it opens nothing: TEST-B following it still finds nothing.
      const theirs = await page(b, url.replace(t.baseUrl, ''));
      expect(theirs.body.entry).toEqual([]);
      expect(nextOf(theirs.body as Bundle)).toBeUndefined();
    }
    expect(pages).toBe(6);
    expect(seen).toHaveLength(30);
    expect(new Set(seen)).toEqual(new Set(made));
  });

  it('refuses a tampered _cursor with 400 naming _cursor', async () => {
    const url = nextOf((await page(a, first)).body as Bundle) ?? '';
    const cursor = new URL(url).searchParams.get('_cursor') ?? '';
    const at = Math.floor(cursor.length / 2);
    const tampered = `${cursor.slice(0, at)}${cursor[at] === 'A' ? 'B' : 'A'}${cursor.slice(at + 1)}`;
    for (const token of [a, b]) {
      const res = await page(token, `${first}&_cursor=${tampered}`);
      expect(res.status).toBe(400);
      expect(issueOf(res)?.expression).toEqual(['_cursor']);
    }
  });

  it('_include never brings in a record the decision denies (or, if the server refuses _include, it says so)', async () => {
    // TEST-B's own Observations about someone else's Patient: the Observations are its own, the Patients are not.
    const mother = world.patients.find((p) => p.identifiers.includes('9995100010'));
    const bodies = [mother?.id ?? '', world.testAPatient].map((id) => json({ resourceType: 'Observation', status: 'final', code: { text: 'walk include probe' }, subject: { reference: `Patient/${id}` } }));
    const mine: string[] = [];
    for (const body of bodies) {
      const res = await t.http.post('/fhir/Observation').set('Authorization', `Bearer ${b}`).type(FHIR_JSON).send(body);
      expect(res.status).toBe(201);
      mine.push(String(res.body.id));
    }
    for (const param of ['subject', 'patient']) {
      const url = `/fhir/Observation?_id=${mine.join(',')}&_include=Observation:${param}`;
      const requestId = rid('include');
      const res = await page(b, url).set('X-Request-Id', requestId);
      if (res.status === 400) {
        expect(issueOf(res)?.expression).toEqual(['_include']);
        continue;
      }
      expect(res.status).toBe(200);
      const entries = (res.body as Bundle).entry ?? [];
      expect(entries.map((e) => `${e.search?.mode ?? ''} ${e.resource?.resourceType ?? ''}/${e.resource?.id ?? ''}`).sort()).toEqual(mine.map((id) => `match Observation/${id}`).sort());
      // What TEST-B wrote itself may come back; nothing else seeded may.
      expect(leaksIn(res, `${url}\n${bodies.join('\n')}`, world.records)).toEqual([]);
      const denied = (await decisionEventsFor(t.database.db, requestId)).filter((d) => d.outcome === '8');
      for (const id of [mother?.id ?? '', world.testAPatient]) expect(denied.some((d) => aboutRecord(d, `Patient/${id}`)), `no deny decision for Patient/${id}`).toBe(true);
      // The control: TEST-A's own Observation brings in its own Patient, so _include does work.
      const control = await page(a, `/fhir/Observation?_id=${world.testAObservation}&_include=Observation:${param}`);
      expect(((control.body as Bundle).entry ?? []).map((e) => `${e.search?.mode ?? ''} ${e.resource?.resourceType ?? ''}/${e.resource?.id ?? ''}`)).toEqual([
        `match Observation/${world.testAObservation}`,
        `include Patient/${world.testAPatient}`,
      ]);
    }
    // Whatever the server makes of _include, _revinclude is refused in a strict search, naming it.
    const rev = await page(b, '/fhir/Patient?_revinclude=Observation:subject');
    expect(rev.status).toBe(400);
    expect(issueOf(rev)?.expression).toEqual(['_revinclude']);
  });
});

// ---------------------------------------------------------------------------
// Ingest in one's own name. The ingest routes match what a message names
// (an NHS number, a message id, an assessment reference) against every
// organisation's stored records, without a decision. Each probe runs on a hub
// of its own, seeded afresh, and is judged twice: does the answer carry a
// seeded record, and can TEST-B read or search one afterwards?

interface Found {
  /** The ingest answer carries seeded ids or values the request did not send. */
  response: boolean;
  /** Afterwards TEST-B reads or finds seeded values it did not send. */
  readAfter: boolean;
}

const NO_LEAK: Found = { response: false, readAfter: false };

const CROSS_ORG_PROBES: readonly { label: string; probe: () => Promise<Probe> }[] = [
  {
    label: 'POST /ingest/hl7v2: a VXU in TEST-B\'s name whose PID names a child another GP registered',
    probe: async () => ({ route: 'POST /ingest/hl7v2', method: 'POST', url: '/ingest/hl7v2', headers: { 'Content-Type': HL7, Accept: FHIR_JSON }, body: await ownVxu('TESTB-CROSS-1', '9990091013'), expect: 'ok' }),
  },
  {
    label: 'POST /ingest/hl7v2: a VXU in TEST-B\'s name whose PID names the mother a maternity unit booked',
    probe: async () => ({ route: 'POST /ingest/hl7v2', method: 'POST', url: '/ingest/hl7v2', headers: { 'Content-Type': HL7, Accept: FHIR_JSON }, body: await ownVxu('TESTB-CROSS-2', '9995100010'), expect: 'ok' }),
  },
  {
    label: 'POST /ingest/immunisations-csv: a row in TEST-B\'s name naming a child another GP registered',
    probe: async () => ({ route: 'POST /ingest/immunisations-csv', method: 'POST', url: '/ingest/immunisations-csv', headers: { 'Content-Type': 'text/csv' }, body: await ownCsv('TESTB-CROSS-3', '9990091013'), expect: 'ok' }),
  },
  {
    label: 'POST /fhir/$process-message: a booking in TEST-B\'s name naming the mother and pregnancy a maternity unit booked',
    probe: async () => ({ route: 'POST /fhir/$process-message', method: 'POST', url: '/fhir/$process-message', headers: { 'Content-Type': FHIR_JSON }, body: await ownBooking('81018101-8101-4101-8101-810181019999', { mother: true }), expect: 'ok' }),
  },
  {
    label: 'POST /fhir/$process-message: a booking in TEST-B\'s name re-using the MessageHeader.id of the maternity unit\'s booking',
    probe: async () => ({ route: 'POST /fhir/$process-message', method: 'POST', url: '/fhir/$process-message', headers: { 'Content-Type': FHIR_JSON }, body: await ownBooking('11111111-1111-4111-8111-111111111101'), expect: 'ok' }),
  },
  {
    label: 'POST /ingest/caf: an assessment in TEST-B\'s name re-using the council\'s assessment reference and revision',
    probe: async () => ({ route: 'POST /ingest/caf', method: 'POST', url: '/ingest/caf', headers: { 'Content-Type': 'application/json' }, body: await seededCafInOwnName(), expect: 'ok' }),
  },
];

/**
 * Leaks a walk has found in src/. Each entry is a bug to fix, not a behaviour
 * to keep: once fixed, the probe finds nothing, this test fails, and the entry
 * must be deleted. (The six this walk first found, all in ingest, are fixed:
 * records other than a Patient are matched only among the sender's own,
 * a shared record is read back only through a flow, an ingest answer names
 * only what the sender alone wrote, and exactly-once keys are the sender's.)
 */
const KNOWN_LEAKS: Readonly<Record<string, Found>> = {};

describe('ingest in TEST-B\'s own name reaches no one else\'s record', () => {
  it('lists a known leak only for a probe the walk makes', () => {
    for (const label of Object.keys(KNOWN_LEAKS)) expect(CROSS_ORG_PROBES.map((p) => p.label)).toContain(label);
    expect(Object.keys(KNOWN_LEAKS)).toEqual([]);
  });

  it.each(CROSS_ORG_PROBES.map((p) => [p.label, p] as const))('%s', async (_label, { label, probe: make }) => {
    const hub = await startTestHub({ protocols: await walkProtocols() });
    try {
      const seeded = await seedWorld(hub);
      const w = worldOf(seeded.records, seeded.testAPatient, seeded.testAObservation);
      const token = await hub.token('test-b', 'direct-care');
      const probe = await make();
      const [sent] = await walk(hub, w, [probe], token, 'cross');
      if (sent === undefined) throw new Error('the probe was not sent');
      expect(sent.res.status, describeProbe(probe, sent.res)).toBeLessThan(500);
      expect(sent.res.status, describeProbe(probe, sent.res)).toBe(200);
      const after: Probe[] = [
        ...served(w).map((r): Probe => ({ route: 'GET /fhir/:type/:id', method: 'GET', url: `/fhir/${r.type}/${r.id}`, headers: {}, expect: 'hidden', about: r })),
        ...w.patients.flatMap((p) => p.identifiers).map((v): Probe => ({ route: 'GET /fhir/:type', method: 'GET', url: `/fhir/Patient?identifier=${v}`, headers: {}, expect: 'search-empty' })),
      ];
      // An ingest answer names each Patient the unit is about by id, whoever else holds it (so that it says nothing of
      // whether others do); TEST-B's own records refer to it by that id, and reads of it answer TEST-B's own statement.
      // Its id is known to TEST-B from then on; nothing else of the record may come back.
      const named = [...textOf(sent.res).matchAll(/Patient\/([0-9a-f-]{36})(?!\/_history)/g)].map((m) => m[1] ?? '');
      const known = knowing(w, named).records;
      const answered = leaksIn(sent.res, requestText(probe), known);
      const readAfter: string[] = [];
      for (const walked of await walk(hub, w, after, token, 'after')) {
        // What TEST-B itself sent in the probe may come back to it; nothing else seeded may.
        readAfter.push(...leaksIn(walked.res, `${requestText(walked.probe)}\n${requestText(probe)}`, known).map((l) => `${walked.probe.url}: ${l}`));
      }
      const found: Found = { response: answered.length > 0, readAfter: readAfter.length > 0 };
      expect(found, `${label}\nanswer carried: ${answered.join('; ') || 'nothing seeded'}\nread afterwards: ${readAfter.join('; ') || 'nothing seeded'}`).toEqual(KNOWN_LEAKS[label] ?? NO_LEAK);
    } finally {
      await hub.close();
    }
  }, 180_000);
});
