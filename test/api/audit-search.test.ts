import type { AuditEvent, Bundle, CapabilityStatement, OperationOutcome } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRows } from '../../src/db/database.js';
import { SYSTEMS } from '../../src/fhir/systems.js';
import { auditEventsFor, restEventsFor } from '../support/audit.js';
import { patient } from '../support/resources.js';
import { bookFixtureMother } from '../support/booking.js';
import { movableClock } from '../support/clock.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// The IG lead's AuditEvent search, over events made by real requests: a
// booking, a children's centre shown the mother (permit, under her consent),
// another centre refused her (outside its catchment), a health visitor shown
// her (no consent needed), in two months of the hub's clock. Every expectation
// is computed from the stored events themselves.

const OCTOBER = '2026-10-14T09:00:00.000Z';
const NOVEMBER = '2026-11-20T09:00:00.000Z';
const NHS_NUMBER = '9995100010'; // the booking fixture's mother
const FLOW = 'eastside-early-years-isp|4|booking-to-childrens-centre';

/** The hub's clock runs with real time from a moment the test moves. */
const { clock, moveTo } = movableClock(OCTOBER);

let t: TestHub;
let ig: string;
let mother: string;
let consent: string;
let other: string;
let seq = 0;
const rid = (label: string): string => `audit-search-${label}-${(seq += 1)}`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const issueOf = (body: unknown) => (body as OperationOutcome).issue[0];
const ids = (events: readonly AuditEvent[]): string[] => events.map((e) => e.id ?? '');

/** A token from the real token endpoint, the assertion signed at the hub's time. */
async function tokenAt(clientId: string, purpose: string, scope?: string): Promise<string> {
  return t.token(clientId, purpose, scope);
}

/** Every stored event, in insertion order, as stored. */
async function stored(): Promise<{ seq: number; recorded: Date; event: AuditEvent }[]> {
  const rows = await rawRows<{ seq: string | number; recorded: string | Date; event: AuditEvent | string }>(t.database.db, sql`select seq, recorded, event from audit_event order by seq`);
  return rows.map((r) => ({ seq: Number(r.seq), recorded: new Date(r.recorded), event: typeof r.event === 'string' ? (JSON.parse(r.event) as AuditEvent) : r.event }));
}

const refersTo = (e: AuditEvent, reference: string): boolean =>
  (e.entity ?? []).some((x) => x.what?.reference === reference || x.what?.reference?.startsWith(`${reference}/_history/`) === true);
const namesAgent = (e: AuditEvent, value: string): boolean => e.agent.some((a) => a.who?.identifier?.value === value);
const isDecision = (e: AuditEvent): boolean => e.subtype?.some((s) => s.system === SYSTEMS.balpAuthZSubType && s.code === 'AuthZ-Consent') === true;

const search = (query: string, token = ig) => t.http.get(`/fhir/AuditEvent${query === '' ? '' : `?${query}`}`).set(bearer(token));

/** Every match of a search, following next links. */
async function searchAll(query: string): Promise<{ events: AuditEvent[]; pages: number }> {
  const events: AuditEvent[] = [];
  let url: string | undefined = `/fhir/AuditEvent?${query}`;
  let pages = 0;
  while (url !== undefined) {
    const res = await t.http.get(url).set(bearer(ig));
    expect(res.status, res.text).toBe(200);
    const bundle = res.body as Bundle;
    expect(bundle.type).toBe('searchset');
    events.push(...(bundle.entry ?? []).map((e) => e.resource as AuditEvent));
    pages += 1;
    url = bundle.link?.find((l) => l.relation === 'next')?.url.replace(t.baseUrl, '');
  }
  return { events, pages };
}

beforeAll(async () => {
  t = await startTestHub({ clock });
  // October: the booking; Ocean is shown the mother, Isle of Dogs is refused her.
  ({ mother, consent } = await bookFixtureMother(t, await tokenAt('northgate-maternity', 'direct-care')));
  const ocean = await tokenAt('ocean-cc', 'early-years-registration');
  const iod = await tokenAt('iod-cc', 'early-years-registration');
  expect((await t.http.get(`/fhir/Patient/${mother}`).set(bearer(ocean))).status).toBe(200);
  expect((await t.http.get(`/fhir/Patient/${mother}`).set(bearer(iod))).status).toBe(404);
  // A second person, whom a GP registers.
  const gp = await tokenAt('limehouse-gp', 'direct-care');
  const created = await t.http.post('/fhir/Patient').set(bearer(gp)).type('application/fhir+json').send(JSON.stringify(patient(41)));
  expect(created.status).toBe(201);
  other = String(created.body.id);
  // November: Ocean searches her records, the health visitor reads her, Isle of Dogs is refused again.
  moveTo(NOVEMBER);
  const ocean2 = await tokenAt('ocean-cc', 'early-years-registration');
  expect((await t.http.get('/fhir/Observation').query({ patient: mother }).set(bearer(ocean2))).status).toBe(200);
  expect((await t.http.get(`/fhir/Patient/${mother}`).set(bearer(await tokenAt('eastside-hv', 'direct-care')))).status).toBe(200);
  expect((await t.http.get(`/fhir/Patient/${mother}`).set(bearer(await tokenAt('iod-cc', 'early-years-registration')))).status).toBe(404);
  ig = await tokenAt('ig-console', 'audit');
}, 120_000);

afterAll(async () => {
  await t.close();
});

describe('GET /fhir/AuditEvent', () => {
  it('finds every event naming a patient, by reference and by identifier, exactly as stored', async () => {
    const all = await stored();
    const expected = all.filter((r) => (r.event.entity ?? []).some((x) => x.what?.reference === `Patient/${mother}`));
    expect(expected.some((r) => isDecision(r.event) && r.event.outcome === '0')).toBe(true);
    expect(expected.some((r) => isDecision(r.event) && r.event.outcome === '8')).toBe(true);
    const res = await search(`patient=Patient/${mother}&_count=500`);
    expect(res.status).toBe(200);
    const bundle = res.body as Bundle;
    // Newest first; the events as stored.
    const newestFirst = [...expected].sort((a, b) => b.recorded.getTime() - a.recorded.getTime() || b.seq - a.seq);
    expect(bundle.entry?.map((e) => e.resource)).toEqual(newestFirst.map((r) => r.event));
    expect(bundle.total).toBe(expected.length);
    expect(bundle.entry?.[0]?.fullUrl).toBe(`${t.baseUrl}/fhir/AuditEvent/${newestFirst[0]?.event.id ?? ''}`);

    const byIdentifier = await searchAll(`patient:identifier=${encodeURIComponent(`${SYSTEMS.nhsNumber}|${NHS_NUMBER}`)}&_count=500`);
    expect(ids(byIdentifier.events)).toEqual(newestFirst.map((r) => r.event.id));
    expect(ids((await searchAll(`patient:identifier=${NHS_NUMBER}`)).events).sort()).toEqual(ids(expected.map((r) => r.event)).sort());

    const both = await searchAll(`patient=Patient/${mother},Patient/${other}&_count=500`);
    const either = all.filter((r) => [mother, other].some((p) => (r.event.entity ?? []).some((x) => x.what?.reference === `Patient/${p}`)));
    expect(ids(both.events).sort()).toEqual(ids(either.map((r) => r.event)).sort());
    expect(either.length).toBeGreaterThan(expected.length);

    const nobody = await search(`patient:identifier=${SYSTEMS.nhsNumber}|9990000018`);
    expect(nobody.status).toBe(200);
    expect(nobody.body.entry).toEqual([]);
    expect(nobody.body.total).toBe(0);
  });

  it('finds events by agent: a client id, an organisation code, or system|value', async () => {
    const all = await stored();
    for (const [query, value] of [
      ['agent=ocean-cc', 'ocean-cc'],
      ['agent=CC-IOD', 'CC-IOD'],
      [`agent=${encodeURIComponent(`${SYSTEMS.client}|iod-cc`)}`, 'iod-cc'],
    ] as const) {
      const expected = all.filter((r) => namesAgent(r.event, value));
      expect(expected.length, query).toBeGreaterThan(0);
      const found = await searchAll(`${query}&_count=500`);
      expect(ids(found.events).sort(), query).toEqual(ids(expected.map((r) => r.event)).sort());
    }
    // A system that is not the value's: nothing.
    expect((await search(`agent=${encodeURIComponent(`${SYSTEMS.localOrg}|iod-cc`)}`)).body.entry).toEqual([]);
    // Organisation and client of the same requests.
    const iodOrg = ids((await searchAll('agent=CC-IOD&_count=500')).events).sort();
    const iodClient = ids((await searchAll('agent=iod-cc&_count=500')).events).sort();
    expect(iodOrg).toEqual(iodClient);
  });

  it('narrows by date: prefixes, day precision, full dateTimes, repeated (AND)', async () => {
    const mine = (await stored()).filter((r) => (r.event.entity ?? []).some((x) => x.what?.reference === `Patient/${mother}`));
    const october = mine.filter((r) => r.recorded < new Date('2026-11-01T00:00:00Z'));
    const november = mine.filter((r) => r.recorded >= new Date('2026-11-01T00:00:00Z'));
    expect(october.length).toBeGreaterThan(0);
    expect(november.length).toBeGreaterThan(0);
    const found = async (dates: string[]): Promise<string[]> =>
      ids((await searchAll([`patient=Patient/${mother}`, ...dates.map((d) => `date=${encodeURIComponent(d)}`), '_count=500'].join('&'))).events).sort();
    const idsOf = (rows: typeof mine): string[] => ids(rows.map((r) => r.event)).sort();
    expect(await found(['lt2026-11-01'])).toEqual(idsOf(october));
    expect(await found(['ge2026-11'])).toEqual(idsOf(november));
    expect(await found(['2026-10-14'])).toEqual(idsOf(october));
    expect(await found(['eq2026-11-20'])).toEqual(idsOf(november));
    expect(await found(['gt2026-10-14'])).toEqual(idsOf(november));
    expect(await found(['le2026-10-14'])).toEqual(idsOf(october));
    expect(await found(['ge2026-10-14T00:00:00Z', 'lt2026-10-15T00:00:00+00:00'])).toEqual(idsOf(october));
    expect(await found(['ge2026-10-01', 'lt2026-10-14'])).toEqual([]);
    // A full dateTime between two events splits them.
    const first = november.sort((a, b) => a.recorded.getTime() - b.recorded.getTime() || a.seq - b.seq)[0];
    expect(await found([`ge${first?.recorded.toISOString() ?? ''}`])).toEqual(idsOf(november));
    expect(await found([`lt${first?.recorded.toISOString() ?? ''}`])).toEqual(idsOf(october));
  });

  it('narrows by outcome, subtype, type, action, purpose and protocol flow', async () => {
    const all = await stored();
    const denials = all.filter((r) => isDecision(r.event) && r.event.outcome === '8');
    const permitsUnderFlow = all.filter((r) => isDecision(r.event) && r.event.outcome === '0' && (r.event.entity ?? []).some((x) => x.what?.identifier?.value === FLOW));
    expect(denials.length).toBe(2);
    expect(permitsUnderFlow.length).toBeGreaterThan(1);
    const sorted = (rows: typeof all): string[] => ids(rows.map((r) => r.event)).sort();
    const found = async (query: string): Promise<string[]> => ids((await searchAll(`${query}&_count=500`)).events).sort();

    expect(await found('subtype=AuthZ-Consent&outcome=8')).toEqual(sorted(denials));
    expect(await found(`subtype=${encodeURIComponent(`${SYSTEMS.balpAuthZSubType}|AuthZ-Consent`)}&outcome=8,12`)).toEqual(sorted(denials));
    expect(await found('type=110113&action=E&outcome=8')).toEqual(sorted(denials));
    expect(await found(`type=${encodeURIComponent(`${SYSTEMS.dicom}|110113`)}&outcome=8`)).toEqual(sorted(denials));
    expect(await found('flow=booking-to-childrens-centre&outcome=0')).toEqual(sorted(permitsUnderFlow));
    expect(await found(`flow=${encodeURIComponent(FLOW)}&outcome=0`)).toEqual(sorted(permitsUnderFlow));
    // The denials to Isle of Dogs were judged under the same flow.
    expect(await found('flow=booking-to-childrens-centre')).toEqual(sorted([...permitsUnderFlow, ...denials]));
    expect(await found('flow=booking-to-health-visiting')).toEqual(sorted(all.filter((r) => (r.event.entity ?? []).some((x) => x.what?.identifier?.value === 'eastside-early-years-isp|4|booking-to-health-visiting'))));
    expect(await found('purpose=early-years-registration&subtype=read&outcome=4')).toEqual(
      sorted(all.filter((r) => r.event.outcome === '4' && r.event.subtype?.[0]?.code === 'read' && r.event.purposeOfEvent?.[0]?.coding?.[0]?.code === 'early-years-registration')),
    );
    expect((await found('action=C')).length).toBeGreaterThan(0);
    expect((await found('action=C,E&subtype=AuthZ-Consent')).length).toBe(await found('subtype=AuthZ-Consent').then((x) => x.length));
  });

  it('entity=Consent/id finds the disclosures made under that consent (any version) and the writes of it', async () => {
    const all = await stored();
    const expected = all.filter((r) => refersTo(r.event, `Consent/${consent}`));
    const decisions = expected.filter((r) => isDecision(r.event));
    expect(decisions.length).toBeGreaterThan(0);
    expect(decisions.every((r) => r.event.outcome === '0' || r.event.outcome === '8')).toBe(true);
    const found = await searchAll(`entity=Consent/${consent}&_count=500`);
    expect(ids(found.events).sort()).toEqual(ids(expected.map((r) => r.event)).sort());
    const permits = await searchAll(`entity=Consent/${consent}&subtype=AuthZ-Consent&outcome=0&_count=500`);
    expect(ids(permits.events).sort()).toEqual(ids(decisions.filter((r) => r.event.outcome === '0').map((r) => r.event)).sort());
    const exact = await searchAll(`entity=Consent/${consent}/_history/1&_count=500`);
    expect(ids(exact.events).sort()).toEqual(ids(expected.filter((r) => (r.event.entity ?? []).some((x) => x.what?.reference === `Consent/${consent}/_history/1`)).map((r) => r.event)).sort());
    expect((await search('entity=Consent/no-such-consent')).body.entry).toEqual([]);
  });

  it('pages by sealed next links, every event exactly once, in either order', async () => {
    const expected = (await stored()).filter((r) => (r.event.entity ?? []).some((x) => x.what?.reference === `Patient/${mother}`));
    const oldestFirst = [...expected].sort((a, b) => a.recorded.getTime() - b.recorded.getTime() || a.seq - b.seq).map((r) => r.event.id);
    expect(expected.length).toBeGreaterThan(6);
    const down = await searchAll(`patient=Patient/${mother}&_count=3`);
    expect(down.pages).toBe(Math.ceil(expected.length / 3));
    expect(ids(down.events)).toEqual([...oldestFirst].reverse());
    const up = await searchAll(`patient=Patient/${mother}&_count=2&_sort=date`);
    expect(up.pages).toBe(Math.ceil(expected.length / 2));
    expect(ids(up.events)).toEqual(oldestFirst);

    const first = await search(`patient=Patient/${mother}&_count=3`);
    // Not the last page: the total is given only when asked for.
    expect(first.body.total).toBeUndefined();
    const next = (first.body as Bundle).link?.find((l) => l.relation === 'next')?.url ?? '';
    const cursor = new URL(next).searchParams.get('_cursor') ?? '';
    expect(cursor).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const tampered = `${cursor.slice(0, 20)}${cursor[20] === 'A' ? 'B' : 'A'}${cursor.slice(21)}`;
    const refused = await search(`patient=Patient/${mother}&_count=3&_cursor=${tampered}`);
    expect(refused.status).toBe(400);
    expect(issueOf(refused.body)?.expression).toEqual(['_cursor']);
  });

  it('_total=accurate gives the total on every page; _count=0 the total alone', async () => {
    const expected = (await stored()).filter((r) => (r.event.entity ?? []).some((x) => x.what?.reference === `Patient/${mother}`));
    const counted = await search(`patient=Patient/${mother}&_count=2&_total=accurate`);
    expect(counted.body.total).toBe(expected.length);
    expect(counted.body.entry).toHaveLength(2);
    const only = await search(`patient=Patient/${mother}&_count=0`);
    expect(only.status).toBe(200);
    expect(only.body.total).toBe(expected.length);
    expect(only.body.entry).toEqual([]);
    expect((only.body as Bundle).link?.some((l) => l.relation === 'next')).toBe(false);
  });

  it('is itself audited: one REST event per search, with the query, in the same request', async () => {
    const id = rid('self');
    const query = `agent=iod-cc&outcome=8`;
    const res = await search(query).set('X-Request-Id', id);
    expect(res.status).toBe(200);
    const [event, ...more] = await auditEventsFor(t.database.db, id);
    expect(more).toEqual([]);
    expect(event?.type.code).toBe('rest');
    expect(event?.subtype?.[0]?.code).toBe('search-type');
    expect(event?.outcome).toBe('0');
    expect(event?.agent.some((a) => a.who?.identifier?.value === 'ig-console')).toBe(true);
    const queryEntity = event?.entity?.find((e) => e.role?.code === '24');
    expect(queryEntity?.description).toBe('AuditEvent');
    expect(Buffer.from(queryEntity?.query ?? '', 'base64').toString('utf8')).toBe(query);
    // And the IG lead's own searches are found like any other event.
    const own = await searchAll('agent=ig-console&subtype=search-type&_count=500');
    expect(ids(own.events)).toContain(event?.id);
    // A refused search is audited too.
    const badId = rid('self-bad');
    expect((await search('colour=blue').set('X-Request-Id', badId)).status).toBe(400);
    const [bad] = await restEventsFor(t.database.db, badId);
    expect(bad?.outcome).toBe('4');
  });

  it('refuses unknown and malformed parameters with 400 naming them (unknown ones ignored when lenient)', async () => {
    for (const [query, param] of [
      ['colour=blue', 'colour'],
      ['patient:missing=true', 'patient:missing'],
      ['patient=Observation/1', 'patient'],
      ['patient:identifier=a|b|c', 'patient:identifier'],
      ['date=yesterday', 'date'],
      ['date=2026-02-30', 'date'],
      ['outcome=3', 'outcome'],
      ['action=X', 'action'],
      ['entity=nothing', 'entity'],
      ['flow=a|b', 'flow'],
      ['flow=eastside|three|x', 'flow'],
      ['_count=-1', '_count'],
      ['_count=2&_count=3', '_count'],
      ['_sort=_lastUpdated', '_sort'],
      ['_total=maybe', '_total'],
      ['_cursor=abc', '_cursor'],
      ['agent=', 'agent'],
    ] as const) {
      const res = await search(query);
      expect(res.status, query).toBe(400);
      expect(issueOf(res.body)?.expression, query).toEqual([param]);
    }
    const lenient = await search('colour=blue&outcome=8').set('Prefer', 'handling=lenient');
    expect(lenient.status).toBe(200);
    expect(lenient.body.entry.length).toBeGreaterThan(0);
  });

  it('is for the IG lead only: 401 without a token, 403 to anyone else, each audited', async () => {
    const anonymous = rid('anon');
    const none = await t.http.get('/fhir/AuditEvent').set('X-Request-Id', anonymous);
    expect(none.status).toBe(401);
    expect(issueOf(none.body)?.code).toBe('login');
    expect((await restEventsFor(t.database.db, anonymous))[0]?.outcome).toBe('4');
    for (const token of [
      await tokenAt('ocean-cc', 'early-years-registration'),
      await tokenAt('eastside-hv', 'safeguarding'),
      await tokenAt('ig-console', 'audit', 'system/Consent.rs'),
    ]) {
      const id = rid('forbidden');
      const res = await search('', token).set('X-Request-Id', id);
      expect(res.status).toBe(403);
      expect(issueOf(res.body)?.code).toBe('forbidden');
      expect(JSON.stringify(res.body)).not.toContain(mother);
      expect((await restEventsFor(t.database.db, id))[0]?.outcome).toBe('4');
      expect((await t.http.get(`/fhir/AuditEvent/${(await stored())[0]?.event.id ?? ''}`).set(bearer(token))).status).toBe(403);
    }
  });
});

describe('GET /fhir/AuditEvent/:id', () => {
  it('reads one event exactly as stored, and audits the read', async () => {
    const [row] = (await stored()).filter((r) => isDecision(r.event) && r.event.outcome === '8');
    const id = rid('read');
    const res = await t.http.get(`/fhir/AuditEvent/${row?.event.id ?? ''}`).set(bearer(ig)).set('X-Request-Id', id);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.body).toEqual(row?.event);
    const [event] = await restEventsFor(t.database.db, id);
    expect(event?.subtype?.[0]?.code).toBe('read');
    expect(event?.entity?.some((e) => e.what?.reference === `AuditEvent/${row?.event.id ?? ''}`)).toBe(true);
  });

  it('answers 404 to an unknown id and 400 to a malformed one', async () => {
    expect((await t.http.get('/fhir/AuditEvent/no-such-event').set(bearer(ig))).status).toBe(404);
    const bad = await t.http.get(`/fhir/AuditEvent/${'x'.repeat(65)}`).set(bearer(ig));
    expect(bad.status).toBe(400);
    expect(issueOf(bad.body)?.expression).toEqual(['id']);
    expect((await t.http.get('/fhir/AuditEvent/no-such-event')).status).toBe(401);
  });
});

describe('the CapabilityStatement', () => {
  it('lists AuditEvent with read, search-type and its search parameters, flow among them', async () => {
    const caps = (await t.http.get('/fhir/metadata')).body as CapabilityStatement;
    const audit = caps.rest?.[0]?.resource?.find((r) => r.type === 'AuditEvent');
    expect(audit?.interaction?.map((i) => i.code).sort()).toEqual(['read', 'search-type']);
    expect(audit?.searchParam?.map((p) => p.name).sort()).toEqual(['action', 'agent', 'date', 'entity', 'flow', 'outcome', 'patient', 'purpose', 'subtype', 'type']);
  });
});
