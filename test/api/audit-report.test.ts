import type { AuditEvent, OperationOutcome } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRows } from '../../src/db/database.js';
import { upsertOrganisation } from '../../src/db/registry-queries.js';
import { demoOrganisations } from '../../src/demo/world.js';
import { SYSTEMS } from '../../src/fhir/systems.js';
import { restEventsFor } from '../support/audit.js';
import { bookFixtureMother } from '../support/booking.js';
import { movableClock } from '../support/clock.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// The IG lead's monthly reports, over decisions made by real requests in two
// months of the hub's clock. Every number is computed again here from the
// stored AuditEvents, and the CSV is read back with an RFC 4180 parser.

const OCTOBER = '2026-10-14T09:00:00.000Z';
const NOVEMBER = '2026-11-20T09:00:00.000Z';

const { clock, moveTo } = movableClock(OCTOBER);

let t: TestHub;
let ig: string;
let seq = 0;
const rid = (label: string): string => `audit-report-${label}-${(seq += 1)}`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const issueOf = (body: unknown) => (body as OperationOutcome).issue[0];

const DISCLOSURE_HEADER = 'month,organisation_code,organisation_name,organisation_type,protocol,flow,disclosure_events,records,people';
const DENIAL_HEADER = 'month,organisation_code,organisation_name,client_id,reason,denial_events,people';

async function tokenAt(clientId: string, purpose: string): Promise<string> {
  return t.token(clientId, purpose);
}

async function storedDecisions(): Promise<{ seq: number; recorded: Date; event: AuditEvent }[]> {
  const rows = await rawRows<{ seq: string | number; recorded: string | Date; event: AuditEvent | string }>(t.database.db, sql`select seq, recorded, event from audit_event order by seq`);
  return rows
    .map((r) => ({ seq: Number(r.seq), recorded: new Date(r.recorded), event: typeof r.event === 'string' ? (JSON.parse(r.event) as AuditEvent) : r.event }))
    .filter((r) => r.event.subtype?.some((s) => s.system === SYSTEMS.balpAuthZSubType && s.code === 'AuthZ-Consent') === true);
}

const detail = (e: AuditEvent, kind: string, type: string): string =>
  e.entity?.find((x) => x.type?.code === kind)?.detail?.find((d) => d.type === type)?.valueString ?? '';
const organisationOf = (e: AuditEvent): string => e.agent.find((a) => a.type?.coding?.[0]?.code === 'requesting-organisation')?.who?.identifier?.value ?? '';
const clientOf = (e: AuditEvent): string => e.agent.find((a) => a.who?.identifier?.system === SYSTEMS.client)?.who?.identifier?.value ?? '';
const peopleOf = (e: AuditEvent): string[] => (e.entity ?? []).filter((x) => x.role?.code === '1').map((x) => x.what?.reference ?? '');
const recordsOf = (e: AuditEvent): string[] =>
  (e.entity ?? []).filter((x) => x.type?.code === '2' && x.role?.code === '4').map((x) => (x.what?.reference ?? '').replace(/\/_history\/\d+$/, ''));
const inMonths = (recorded: Date, from?: string, to?: string): boolean => {
  const month = recorded.toISOString().slice(0, 7);
  return (from === undefined || month >= from) && (to === undefined || month <= to);
};

/** The disclosure report, computed here from the stored decisions. */
async function expectedDisclosures(from?: string, to?: string): Promise<Record<string, string | number>[]> {
  const groups = new Map<string, { key: string[]; events: Set<number>; records: Set<string>; people: Set<string> }>();
  for (const { seq: s, recorded, event } of await storedDecisions()) {
    if (event.outcome !== '0' || !inMonths(recorded, from, to)) continue;
    const protocol = detail(event, 'protocol-flow', 'protocol');
    if (protocol === '') continue;
    const org = organisationOf(event);
    const known = demoOrganisations.find((o) => o.code === org);
    const key = [recorded.toISOString().slice(0, 7), org, known?.name ?? '', known?.type ?? '', `${protocol}|${detail(event, 'protocol-flow', 'version')}`, detail(event, 'protocol-flow', 'flow')];
    const group = groups.get(key.join('\n')) ?? { key, events: new Set(), records: new Set(), people: new Set() };
    group.events.add(s);
    for (const r of recordsOf(event)) group.records.add(r);
    for (const p of peopleOf(event)) group.people.add(p);
    groups.set(key.join('\n'), group);
  }
  return [...groups.values()]
    .sort((a, b) => a.key.join('\n').localeCompare(b.key.join('\n')))
    .map(({ key: [month = '', organisationCode = '', organisationName = '', organisationType = '', protocol = '', flow = ''], events, records, people }) => ({
      month,
      organisationCode,
      organisationName,
      organisationType,
      protocol,
      flow,
      disclosureEvents: events.size,
      records: records.size,
      people: people.size,
    }));
}

async function expectedDenials(from?: string, to?: string): Promise<Record<string, string | number>[]> {
  const groups = new Map<string, { key: string[]; events: Set<number>; people: Set<string> }>();
  for (const { seq: s, recorded, event } of await storedDecisions()) {
    if (event.outcome !== '8' || !inMonths(recorded, from, to)) continue;
    const org = organisationOf(event);
    const key = [recorded.toISOString().slice(0, 7), org, demoOrganisations.find((o) => o.code === org)?.name ?? '', clientOf(event), detail(event, 'decision', 'reason')];
    const group = groups.get(key.join('\n')) ?? { key, events: new Set(), people: new Set() };
    group.events.add(s);
    for (const p of peopleOf(event)) group.people.add(p);
    groups.set(key.join('\n'), group);
  }
  return [...groups.values()]
    .sort((a, b) => a.key.join('\n').localeCompare(b.key.join('\n')))
    .map(({ key: [month = '', organisationCode = '', organisationName = '', clientId = '', reason = ''], events, people }) => ({
      month,
      organisationCode,
      organisationName,
      clientId,
      reason,
      denialEvents: events.size,
      people: people.size,
    }));
}

/** RFC 4180, strictly: CRLF record ends, quoted fields with doubled quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      i += 1;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (text[i] === '"') {
          i += 1;
          break;
        } else {
          field += text.charAt(i);
          i += 1;
        }
      }
    } else if (text[i] === ',') {
      row.push(field);
      field = '';
      i += 1;
    } else if (text.startsWith('\r\n', i)) {
      rows.push([...row, field]);
      row = [];
      field = '';
      i += 2;
    } else if (text[i] === '\n' || text[i] === '\r') {
      throw new Error(`a bare line break at ${i}`);
    } else {
      field += text.charAt(i);
      i += 1;
    }
  }
  if (field !== '' || row.length > 0) throw new Error('the last record has no CRLF');
  return rows;
}

/** The CSV rows as JSON rows would render (numbers as text). */
const asCsvCells = (rows: readonly Record<string, string | number>[]): string[][] => rows.map((r) => Object.values(r).map(String));

const report = (path: string, token = ig) => t.http.get(path).set(bearer(token)).buffer(true);

beforeAll(async () => {
  t = await startTestHub({ clock });
  const { mother } = await bookFixtureMother(t, await tokenAt('northgate-maternity', 'direct-care'));
  const read = async (clientId: string, purpose: string, path: string, status: number): Promise<void> => {
    expect((await t.http.get(path).set(bearer(await tokenAt(clientId, purpose)))).status, `${clientId} ${path}`).toBe(status);
  };
  // October: Ocean is shown the mother and her records; Isle of Dogs is refused her.
  await read('ocean-cc', 'early-years-registration', `/fhir/Patient/${mother}`, 200);
  await read('ocean-cc', 'early-years-registration', `/fhir/Observation?patient=${mother}`, 200);
  await read('ocean-cc', 'early-years-registration', `/fhir/EpisodeOfCare?patient=${mother}`, 200);
  await read('iod-cc', 'early-years-registration', `/fhir/Patient/${mother}`, 404);
  // November: Ocean again, the health visitor (no consent needed), Isle of Dogs twice refused,
  // and a GP for a purpose no flow carries to it.
  moveTo(NOVEMBER);
  await read('ocean-cc', 'early-years-registration', `/fhir/Patient/${mother}`, 200);
  await read('eastside-hv', 'direct-care', `/fhir/Patient/${mother}`, 200);
  await read('eastside-hv', 'direct-care', `/fhir/Observation?patient=${mother}`, 200);
  await read('iod-cc', 'early-years-registration', `/fhir/Patient/${mother}`, 404);
  await read('iod-cc', 'early-years-registration', `/fhir/Patient/${mother}`, 404);
  await read('limehouse-gp', 'direct-care', `/fhir/Patient/${mother}`, 404);
  ig = await tokenAt('ig-console', 'audit');
  await t.hub.sequencer.flush();
}, 120_000);

afterAll(async () => {
  await t.close();
});

describe('GET /audit/report/disclosures', () => {
  it('JSON: one row per month, organisation and flow, the numbers as the stored events give them', async () => {
    const expected = await expectedDisclosures();
    expect(new Set(expected.map((r) => r.month))).toEqual(new Set(['2026-10', '2026-11']));
    expect(new Set(expected.map((r) => r.flow))).toEqual(new Set(['booking-to-childrens-centre', 'booking-to-health-visiting']));
    const res = await report('/audit/report/disclosures').set('Accept', 'application/json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(res.text)).toEqual({ rows: expected });
    // Ocean in October: three reads and searches, each disclosing one record of the mother.
    expect(expected[0]).toMatchObject({ month: '2026-10', organisationCode: 'CC-OCEAN', organisationType: 'childrens-centre', protocol: 'eastside-early-years-isp|4', people: 1 });
    expect(expected[0]?.records).toBeGreaterThanOrEqual(2);
  });

  it('CSV by default: RFC 4180, CRLF, a header row, an attachment named by the months', async () => {
    const res = await report('/audit/report/disclosures?from=2026-10&to=2026-11');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="disclosures-2026-10-2026-11.csv"');
    expect(res.text.endsWith('\r\n')).toBe(true);
    expect(res.text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    const [header, ...rows] = parseCsv(res.text);
    expect(header?.join(',')).toBe(DISCLOSURE_HEADER);
    expect(rows).toEqual(asCsvCells(await expectedDisclosures()));
    const json = await report('/audit/report/disclosures?from=2026-10&to=2026-11&_format=json');
    expect(asCsvCells(JSON.parse(json.text).rows)).toEqual(rows);
  });

  it('from and to are inclusive UTC months', async () => {
    const october = await report('/audit/report/disclosures?to=2026-10&_format=json');
    expect(JSON.parse(october.text).rows).toEqual(await expectedDisclosures(undefined, '2026-10'));
    const november = await report('/audit/report/disclosures?from=2026-11&to=2026-11&_format=json');
    expect(JSON.parse(november.text).rows).toEqual(await expectedDisclosures('2026-11', '2026-11'));
    expect(JSON.parse(november.text).rows.every((r: { month: string }) => r.month === '2026-11')).toBe(true);
    const none = await report('/audit/report/disclosures?from=2026-12');
    expect(parseCsv(none.text)).toEqual([DISCLOSURE_HEADER.split(',')]);
    expect(none.headers['content-disposition']).toBe('attachment; filename="disclosures-2026-12-latest.csv"');
  });
});

describe('GET /audit/report/denials', () => {
  it('per month, organisation, client and reason, as the stored events give them', async () => {
    const expected = await expectedDenials();
    expect(expected.map((r) => [r.month, r.clientId, r.reason, r.denialEvents])).toEqual([
      ['2026-10', 'iod-cc', 'outside-catchment', 1],
      ['2026-11', 'iod-cc', 'outside-catchment', 2],
      ['2026-11', 'limehouse-gp', 'no-flow', 1],
    ]);
    const json = await report('/audit/report/denials').set('Accept', 'application/json');
    expect(JSON.parse(json.text)).toEqual({ rows: expected });
    const csv = await report('/audit/report/denials?from=2026-11');
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toBe('attachment; filename="denials-2026-11-latest.csv"');
    const [header, ...rows] = parseCsv(csv.text);
    expect(header?.join(',')).toBe(DENIAL_HEADER);
    expect(rows).toEqual(asCsvCells(await expectedDenials('2026-11')));
  });

  it('quotes a value holding a comma or a quote', async () => {
    const iod = demoOrganisations.find((o) => o.code === 'CC-IOD');
    if (iod === undefined) throw new Error('no CC-IOD');
    const name = 'Isle of Dogs Children\'s Centre, "Manchester Road"';
    await upsertOrganisation(t.database.db, { ...iod, name });
    try {
      const res = await report('/audit/report/denials?to=2026-10');
      expect(res.text).toContain('"Isle of Dogs Children\'s Centre, ""Manchester Road"""');
      const [, first] = parseCsv(res.text);
      expect(first).toEqual(['2026-10', 'CC-IOD', name, 'iod-cc', 'outside-catchment', '1', '1']);
    } finally {
      await upsertOrganisation(t.database.db, iod);
    }
  });
});

describe('the reports refuse and audit', () => {
  it('names a bad parameter with 400', async () => {
    for (const [query, param] of [
      ['from=2026-13', 'from'],
      ['from=2026-1', 'from'],
      ['to=October', 'to'],
      ['from=2026-11&to=2026-10', 'to'],
      ['from=2026-10&from=2026-11', 'from'],
      ['month=2026-10', 'month'],
      ['_format=xml', '_format'],
    ] as const) {
      for (const path of ['/audit/report/disclosures', '/audit/report/denials']) {
        const res = await report(`${path}?${query}`);
        expect(res.status, `${path}?${query}`).toBe(400);
        expect(issueOf(res.body)?.expression, `${path}?${query}`).toEqual([param]);
      }
    }
  });

  it('is for the IG lead only: 401 without a token, 403 to anyone else', async () => {
    for (const path of ['/audit/report/disclosures', '/audit/report/denials']) {
      const none = await t.http.get(path);
      expect(none.status).toBe(401);
      const id = rid('forbidden');
      const ocean = await t.http.get(path).set(bearer(await tokenAt('ocean-cc', 'early-years-registration'))).set('X-Request-Id', id);
      expect(ocean.status).toBe(403);
      expect(issueOf(ocean.body)?.code).toBe('forbidden');
      expect((await restEventsFor(t.database.db, id))[0]?.outcome).toBe('4');
    }
  });

  it('writes one REST AuditEvent per report, with its query', async () => {
    const id = rid('audited');
    expect((await report('/audit/report/disclosures?from=2026-10').set('X-Request-Id', id)).status).toBe(200);
    const events = await restEventsFor(t.database.db, id);
    expect(events).toHaveLength(1);
    expect(events[0]?.subtype?.[0]?.code).toBe('operation');
    expect(events[0]?.outcome).toBe('0');
    expect(Buffer.from(events[0]?.entity?.find((e) => e.role?.code === '24')?.query ?? '', 'base64').toString('utf8')).toBe('from=2026-10');
    const badId = rid('audited-bad');
    expect((await report('/audit/report/denials?from=x').set('X-Request-Id', badId)).status).toBe(400);
    expect((await restEventsFor(t.database.db, badId))[0]?.outcome).toBe('4');
  });
});
