import type { Bundle, OperationOutcome, Subscription } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRows } from '../../src/db/database.js';
import { allowReceiver, deliveryIdle, startReceiver, subscriptionBody, type Receiver } from '../support/receiver.js';
import { restEventsFor } from '../support/audit.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Who may subscribe, to what, and where: a Subscription is its organisation's
// own, its endpoint one the registry allows that organisation, and bad input
// a 4xx naming the field with nothing stored.

let t: TestHub;
let fhirBase: string;
let ocean: Receiver;
let iod: Receiver;
let oceanToken: string;
let iodToken: string;

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const json = { 'Content-Type': 'application/fhir+json' };
const post = (token: string, body: unknown, requestId = 'sub-post') => t.http.post('/fhir/Subscription').set(bearer(token)).set(json).set('X-Request-Id', requestId).send(JSON.stringify(body));
const stored = async (): Promise<number> => Number((await rawRows<{ n: string }>(t.database.db, sql`select count(*) as n from subscription`))[0]?.n);
const expression = (body: unknown): string[] | undefined => (body as OperationOutcome).issue[0]?.expression;

beforeAll(async () => {
  t = await startTestHub({ subscriptions: { pollMs: 50, retryBaseMs: 20, maxFailures: 3, timeoutMs: 2000 } });
  fhirBase = `${t.baseUrl}/fhir`;
  ocean = await startReceiver();
  iod = await startReceiver();
  await allowReceiver(t.database.db, 'CC-OCEAN', ocean);
  await allowReceiver(t.database.db, 'CC-IOD', iod);
  oceanToken = await t.token('ocean-cc', 'early-years-registration');
  iodToken = await t.token('iod-cc', 'early-years-registration');
});
afterAll(async () => {
  await t.close();
  await ocean.close();
  await iod.close();
});

describe('the topics', () => {
  it('are served at their canonical URLs, as R5 SubscriptionTopic JSON', async () => {
    const list = await t.http.get('/fhir/SubscriptionTopic');
    expect(list.status).toBe(200);
    expect(((list.body as Bundle).entry ?? []).map((e) => e.fullUrl)).toEqual(
      ['registration', 'birth', 'missed-dose', 'follow-up-task', 'withdrawal-notice'].map((id) => `${fhirBase}/SubscriptionTopic/${id}`),
    );
    const one = await t.http.get('/fhir/SubscriptionTopic/birth');
    expect(one.body).toMatchObject({ resourceType: 'SubscriptionTopic', url: `${fhirBase}/SubscriptionTopic/birth`, status: 'active' });
    expect((await t.http.get('/fhir/SubscriptionTopic/nothing')).status).toBe(404);
  });
});

describe('an endpoint the registry does not allow for the organisation', () => {
  let refusals = 0;
  it.each([
    ['another organisation’s endpoint', () => iod.url],
    ['an arbitrary URL', () => 'https://collector.example/hook'],
    ['the allowed origin under another path', () => ocean.url.replace('/notify', '/elsewhere')],
    ['a longer path that only starts alike', () => `${ocean.url}x`],
  ])('is refused: %s (422 naming the endpoint, audited, nothing stored)', async (_name, endpoint) => {
    refusals += 1;
    const requestId = `sub-not-allowed-${refusals}`;
    const res = await post(oceanToken, subscriptionBody(fhirBase, 'registration', endpoint()), requestId);
    expect(res.status).toBe(422);
    expect(expression(res.body)).toEqual(['Subscription.channel.endpoint']);
    expect(await stored()).toBe(0);
    const [audited] = await restEventsFor(t.database.db, requestId);
    expect(audited?.outcome).toBe('4');
    expect(audited?.outcomeDesc).toContain('not one the partner registry allows for CC-OCEAN');
  });
});

describe('bad input', () => {
  const good = (): Record<string, unknown> => subscriptionBody(fhirBase, 'registration', ocean.url);
  const channel = (extra: Record<string, unknown>) => ({ ...good(), channel: { ...(good()['channel'] as object), ...extra } });
  it.each([
    ['no endpoint', () => channel({ endpoint: undefined }), 400, 'Subscription.channel.endpoint'],
    ['an endpoint that is no URL', () => channel({ endpoint: 'not a url' }), 400, 'Subscription.channel.endpoint'],
    ['an endpoint with credentials', () => channel({ endpoint: ocean.url.replace('http://', 'http://user:pw@') }), 400, 'Subscription.channel.endpoint'],
    ['a websocket channel', () => channel({ type: 'websocket' }), 400, 'Subscription.channel.type'],
    ['no backport profile', () => ({ ...good(), meta: { profile: ['http://example.org/other'] } }), 400, 'Subscription.meta.profile'],
    ['no reason', () => ({ ...good(), reason: undefined }), 400, 'Subscription.reason'],
    ['a topic the hub does not have', () => ({ ...good(), criteria: `${fhirBase}/SubscriptionTopic/everything` }), 422, 'Subscription.criteria'],
    ['an R4 query criteria', () => ({ ...good(), criteria: 'Patient?_id=x' }), 422, 'Subscription.criteria'],
    ['an unknown payload content', () => channel({ _payload: { extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content', valueCode: 'everything' }] } }), 400, 'Subscription.channel.payload.extension'],
    ['a zero heartbeat', () => channel({ extension: [{ url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period', valueUnsignedInt: 0 }] }), 400, 'Subscription.channel.extension'],
    ['an active status', () => ({ ...good(), status: 'active' }), 400, 'Subscription.status'],
    ['another resource type', () => ({ ...good(), resourceType: 'Patient' }), 400, 'Subscription.resourceType'],
  ])('%s: 4xx naming the field, nothing stored', async (_name, body, status, field) => {
    const res = await post(oceanToken, body());
    expect(res.status).toBe(status);
    expect((res.body as OperationOutcome).resourceType).toBe('OperationOutcome');
    expect(expression(res.body)).toContain(field);
    expect(await stored()).toBe(0);
  });

  it('a body that is not JSON: 400, nothing stored', async () => {
    const res = await t.http.post('/fhir/Subscription').set(bearer(oceanToken)).set(json).send('{"resourceType":');
    expect(res.status).toBe(400);
    expect(expression(res.body)).toEqual(['body']);
    expect(await stored()).toBe(0);
  });
});

describe('whose Subscription it is', () => {
  let id = '';
  beforeAll(async () => {
    const res = await post(oceanToken, subscriptionBody(fhirBase, 'registration', ocean.url));
    expect(res.status).toBe(201);
    id = String((res.body as Subscription).id);
    await deliveryIdle(t.database.db);
  });

  it('needs a token (401) and the Subscription scope (403)', async () => {
    expect((await t.http.post('/fhir/Subscription').set(json).send(JSON.stringify(subscriptionBody(fhirBase, 'registration', ocean.url)))).status).toBe(401);
    const gp = await t.token('limehouse-gp', 'direct-care');
    const refused = await post(gp, subscriptionBody(fhirBase, 'registration', ocean.url));
    expect(refused.status).toBe(403);
    expect(expression(refused.body)).toEqual(['scope']);
    // The practice's system/*.rs lets it read Subscriptions: only its own, and it has none.
    expect((await t.http.get(`/fhir/Subscription/${id}`).set(bearer(gp))).status).toBe(404);
    const commissioner = await t.token('eastside-public-health', 'commissioning');
    expect((await t.http.get(`/fhir/Subscription/${id}`).set(bearer(commissioner))).status).toBe(403);
  });

  it("another organisation's token cannot read, list, query or delete it: 404, as for an unknown id", async () => {
    const unknown = await t.http.get('/fhir/Subscription/00000000-0000-4000-8000-000000000000').set(bearer(iodToken));
    for (const path of [`/fhir/Subscription/${id}`, `/fhir/Subscription/${id}/$status`, `/fhir/Subscription/${id}/$events`]) {
      const res = await t.http.get(path).set(bearer(iodToken));
      expect(res.status).toBe(404);
      expect((res.body as OperationOutcome).issue[0]?.code).toBe((unknown.body as OperationOutcome).issue[0]?.code);
    }
    expect((await t.http.delete(`/fhir/Subscription/${id}`).set(bearer(iodToken))).status).toBe(404);
    expect(((await t.http.get('/fhir/Subscription').set(bearer(iodToken))).body as Bundle).total).toBe(0);
    // Still there, still active, for its owner.
    const own = await t.http.get(`/fhir/Subscription/${id}`).set(bearer(oceanToken));
    expect(own.status).toBe(200);
    expect((own.body as Subscription).status).toBe('active');
    expect(((await t.http.get('/fhir/Subscription').set(bearer(oceanToken))).body as Bundle).total).toBe(1);
  });

  it('its owner deletes it: gone for reads, and no more notifications', async () => {
    expect((await t.http.delete(`/fhir/Subscription/${id}`).set(bearer(oceanToken))).status).toBe(204);
    expect((await t.http.get(`/fhir/Subscription/${id}`).set(bearer(oceanToken))).status).toBe(404);
    const [row] = await rawRows<{ status: string }>(t.database.db, sql`select status from subscription where id = ${id}`);
    expect(row?.status).toBe('off');
  });
});
