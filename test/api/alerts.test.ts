import type { OperationOutcome } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { rawRows } from '../../src/db/database.js';
import { createSession } from '../../src/db/ig-queries.js';
import type { AlertList, AlertView } from '../../src/services/alert-service.js';
import { decisionEventsFor, restEventsFor } from '../support/audit.js';
import { patient } from '../support/resources.js';
import { bookFixtureMother } from '../support/booking.js';
import { withSuperuser } from '../support/tamper.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// The alerts the IG lead must review: every safeguarding override and every
// burst of denials for one requester, listed at GET /audit/alerts and marked
// reviewed at POST /audit/alerts/:id/review (who and when, audited). The
// mother in the repo's booking fixture is carried to health visiting for
// safeguarding only with a stated reason (an override), and to nobody at
// TEST-B (a GP no flow reaches) or Isle of Dogs (outside its catchment).

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const issueOf = (body: unknown) => (body as OperationOutcome).issue[0];
let seq = 0;
const rid = (label: string): string => `alerts-${label}-${(seq += 1)}`;

/** The message of a refused SQL statement and of its cause (drizzle wraps the driver's error). */
/** The triggers' refusal, seen by a superuser (the hub's own role is refused earlier, by privileges: test/db/roles.test.ts). */
async function sqlRefusal(t: TestHub, query: ReturnType<typeof sql>): Promise<string> {
  try {
    await withSuperuser(t.database, (db) => rawRows(db, query));
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return `${(err as Error).message} ${cause instanceof Error ? cause.message : ''}`;
  }
  throw new Error('the statement was not refused');
}

describe('safeguarding overrides: listed, reviewed once, audited', () => {
  let t: TestHub;
  let mother: string;
  let ig: string;
  let hv: string;
  let reviewed: AlertView;
  beforeAll(async () => {
    t = await startTestHub();
    ({ mother } = await bookFixtureMother(t));
    ig = await t.token('ig-console', 'audit');
    hv = await t.token('eastside-hv', 'safeguarding');
  });
  afterAll(async () => {
    await t.close();
  });

  const list = (query: Record<string, string> = {}, token = ig) => t.http.get('/audit/alerts').query(query).set(bearer(token));
  const review = (id: string, body?: unknown, token = ig) => {
    const req = t.http.post(`/audit/alerts/${id}/review`).set(bearer(token));
    return body === undefined ? req : req.set('Content-Type', 'application/json').send(JSON.stringify(body));
  };
  const override = async (reason: string): Promise<string> => {
    const requestId = rid('override');
    const res = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(hv)).set('X-Override-Reason', reason).set('X-Request-Id', requestId);
    expect(res.status).toBe(200);
    const [decision] = await decisionEventsFor(t.database.db, requestId);
    expect(decision?.outcome).toBe('0');
    return decision?.id ?? '';
  };

  it('an override raises one alert, listed as open, newest first, and the listing is audited', async () => {
    const none = await list();
    expect(none.status).toBe(200);
    expect(none.body).toEqual({ alerts: [], open: 0 });

    // Without a reason the override is refused: a denial, not an alert.
    const refused = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(hv));
    expect(refused.status).toBe(404);
    expect((await list()).body).toEqual({ alerts: [], open: 0 });

    const eventId = await override('Section 47 enquiry opened today');
    const requestId = rid('list');
    const res = await list({}, ig).set('X-Request-Id', requestId);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.body as AlertList;
    expect(body.open).toBe(1);
    expect(body.alerts).toHaveLength(1);
    expect(body.alerts[0]).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      raised: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      kind: 'safeguarding-override',
      auditEventId: eventId,
      clientId: 'eastside-hv',
      organisationCode: 'R9H',
      patients: [`Patient/${mother}`],
      reason: 'Section 47 enquiry opened today',
      reviewedAt: null,
      reviewedBy: null,
      reviewNote: null,
    });
    const [event] = await restEventsFor(t.database.db, requestId);
    expect(event?.subtype?.[0]?.code).toBe('operation');
    expect(event?.outcome).toBe('0');
    expect(event?.outcomeDesc).toBe('alerts listed');
    expect(event?.agent?.find((a) => a.requestor)?.who?.identifier?.value).toBe('ig-console');
    expect(event?.entity?.map((e) => e.what?.reference)).toEqual(expect.arrayContaining([`Patient/${mother}`, `AuditEvent/${eventId}`]));

    // A second override: a second alert, listed first.
    const second = await override('Police request under s47, ref 123');
    const both = (await list()).body as AlertList;
    expect(both.open).toBe(2);
    expect(both.alerts.map((a) => a.auditEventId)).toEqual([second, eventId]);
    expect(((await list({ _count: '1' })).body as AlertList).alerts.map((a) => a.auditEventId)).toEqual([second]);
  });

  it('marking one reviewed records who, when and the note, audited in the same transaction; a second review is 409', async () => {
    const [target] = ((await list()).body as AlertList).alerts.slice(-1);
    if (target === undefined) throw new Error('no open alert');
    const requestId = rid('review');
    const before = Date.now();
    const res = await review(target.id, { note: 'Checked with the health visitor: enquiry confirmed' }).set('X-Request-Id', requestId);
    expect(res.status).toBe(200);
    reviewed = res.body as AlertView;
    expect(reviewed).toEqual({ ...target, reviewedAt: expect.any(String) as unknown, reviewedBy: 'ig-console', reviewNote: 'Checked with the health visitor: enquiry confirmed' });
    expect(Date.parse(reviewed.reviewedAt ?? '')).toBeGreaterThanOrEqual(before - 1000);

    const [event] = await restEventsFor(t.database.db, requestId);
    expect(event?.subtype?.[0]?.code).toBe('update');
    expect(event?.outcome).toBe('0');
    expect(event?.outcomeDesc).toBe(`alert ${target.id} reviewed`);
    expect(event?.entity?.map((e) => e.what?.reference)).toContain(`AuditEvent/${target.auditEventId}`);

    const open = (await list()).body as AlertList;
    expect(open.open).toBe(1);
    expect(open.alerts.map((a) => a.id)).not.toContain(target.id);
    expect(((await list({ status: 'reviewed' })).body as AlertList).alerts).toEqual([reviewed]);
    expect(((await list({ status: 'all' })).body as AlertList).alerts.map((a) => a.id)).toContain(target.id);

    const again = rid('review-again');
    const twice = await review(target.id, { note: 'again' }).set('X-Request-Id', again);
    expect(twice.status).toBe(409);
    expect(issueOf(twice.body)?.code).toBe('conflict');
    expect(issueOf(twice.body)?.diagnostics).toContain(`by ig-console at ${reviewed.reviewedAt ?? ''}`);
    expect((await restEventsFor(t.database.db, again))[0]?.outcome).toBe('4');
    expect(((await list({ status: 'reviewed' })).body as AlertList).alerts).toEqual([reviewed]);
  });

  it('the /ig session reviews as ig-web:<user>, from the hub\'s own origin only; no body means no note', async () => {
    const [target] = ((await list()).body as AlertList).alerts;
    if (target === undefined) throw new Error('no open alert');
    const session = await createSession(t.database.db, 'ig-deputy', new Date());
    const cookie = { Cookie: `eyhub_ig=${session.id}` };
    const elsewhere = await t.http.post(`/audit/alerts/${target.id}/review`).set(cookie).set('Origin', 'https://elsewhere.example');
    expect(elsewhere.status).toBe(403);
    expect(issueOf(elsewhere.body)?.expression).toEqual(['Origin']);
    const res = await t.http.post(`/audit/alerts/${target.id}/review`).set(cookie).set('Origin', new URL(t.baseUrl).origin);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: target.id, reviewedBy: 'ig-web:ig-deputy', reviewNote: null });
    const listed = await t.http.get('/audit/alerts').set(cookie);
    expect(listed.status).toBe(200);
    expect((listed.body as AlertList).open).toBe(0);
  });

  it('signing out of /ig must come from the hub\'s own page: another site cannot end the session', async () => {
    const session = await createSession(t.database.db, 'ig-deputy', new Date());
    const cookie = { Cookie: `eyhub_ig=${session.id}` };
    for (const headers of [
      { Origin: 'https://elsewhere.example' },
      { 'Sec-Fetch-Site': 'cross-site' },
      { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' },
      { Origin: 'null' },
      {},
    ]) {
      const refused = await t.http.post('/ig/logout').set(cookie).set(headers);
      expect(refused.status).toBe(403);
      expect(issueOf(refused.body)?.expression).toEqual(['Origin']);
      expect(refused.headers['set-cookie']).toBeUndefined();
    }
    expect((await t.http.get('/audit/alerts').set(cookie)).status).toBe(200);
    const own = await t.http.post('/ig/logout').set(cookie).set('Origin', new URL(t.baseUrl).origin);
    expect(own.status).toBe(303);
    expect((await t.http.get('/audit/alerts').set(cookie)).status).toBe(401);
    // The page's own sign-out form: a no-referrer page's form POST says `Origin: null`, and the browser says same-origin.
    const again = await createSession(t.database.db, 'ig-deputy', new Date());
    const form = await t.http.post('/ig/logout').set({ Cookie: `eyhub_ig=${again.id}`, Origin: 'null', 'Sec-Fetch-Site': 'same-origin' });
    expect(form.status).toBe(303);
    expect((await t.http.get('/audit/alerts').set({ Cookie: `eyhub_ig=${again.id}` })).status).toBe(401);
  });

  it('an unknown alert is 404; a bad body is 400 naming the field; a body that is not JSON is 415', async () => {
    expect((await review('7d1c1f52-0000-4000-8000-000000000000', {})).status).toBe(404);
    expect((await review('not an id!', {})).status).toBe(404);
    const target = (((await list()).body as AlertList).alerts[0] ?? reviewed).id;
    for (const [body, field] of [
      [{ note: 'x'.repeat(1001) }, 'note'],
      [{ note: 42 }, 'note'],
      [{ note: 'nul \u0000 inside' }, 'note'],
      [{ note: 'fine', colour: 'blue' }, 'colour'],
      [['a list'], 'body'],
    ] as const) {
      const res = await review(target, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(issueOf(res.body)?.expression, JSON.stringify(body)).toEqual([field]);
    }
    const broken = await t.http.post(`/audit/alerts/${target}/review`).set(bearer(ig)).set('Content-Type', 'application/json').send('{"note": ');
    expect(broken.status).toBe(400);
    expect(issueOf(broken.body)?.expression).toEqual(['body']);
    const text = await t.http.post(`/audit/alerts/${target}/review`).set(bearer(ig)).set('Content-Type', 'text/plain').send('looked at it');
    expect(text.status).toBe(415);
    // None of these changed the alert.
    expect(((await list({ status: 'all' })).body as AlertList).alerts.find((a) => a.id === reviewed.id)).toEqual(reviewed);
  });

  it('a bad listing query is 400 naming the parameter', async () => {
    for (const [query, field] of [
      [{ status: 'closed' }, 'status'],
      [{ _count: '0' }, '_count'],
      [{ _count: '501' }, '_count'],
      [{ _count: 'ten' }, '_count'],
      [{ colour: 'blue' }, 'colour'],
    ] as const) {
      const res = await list(query);
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(issueOf(res.body)?.expression, JSON.stringify(query)).toEqual([field]);
    }
    const twice = await t.http.get('/audit/alerts?status=open&status=all').set(bearer(ig));
    expect(twice.status).toBe(400);
    expect(issueOf(twice.body)?.expression).toEqual(['status']);
  });

  it('is for the IG lead only: 403 to any other client, 401 without a token, both audited', async () => {
    const target = reviewed.id;
    const others = [await t.token('ocean-cc', 'early-years-registration'), hv, await t.token('test-a', 'direct-care')];
    for (const token of others) {
      const requestId = rid('forbidden');
      const res = await list({}, token).set('X-Request-Id', requestId);
      expect(res.status).toBe(403);
      expect(issueOf(res.body)?.code).toBe('forbidden');
      expect(JSON.stringify(res.body)).not.toContain(mother);
      expect((await restEventsFor(t.database.db, requestId))[0]?.outcome).toBe('4');
      expect((await review(target, { note: 'x' }, token)).status).toBe(403);
    }
    const anonymous = rid('anonymous');
    const res = await t.http.get('/audit/alerts').set('X-Request-Id', anonymous);
    expect(res.status).toBe(401);
    expect(issueOf(res.body)?.code).toBe('login');
    expect((await restEventsFor(t.database.db, anonymous))[0]?.outcome).toBe('4');
    expect((await t.http.post(`/audit/alerts/${target}/review`).send({ note: 'x' })).status).toBe(401);
  });

  it('the table refuses deleting an alert, re-reviewing it, or changing what it says', async () => {
    const all = ((await list({ status: 'all' })).body as AlertList).alerts;
    expect(all.length).toBeGreaterThan(0);
    const id = reviewed.id;
    expect(await sqlRefusal(t, sql`delete from ig_alert where id = ${id}`)).toMatch(/append-only: DELETE refused/);
    expect(await sqlRefusal(t, sql`truncate ig_alert`)).toMatch(/append-only: TRUNCATE refused/);
    expect(await sqlRefusal(t, sql`update ig_alert set reviewed_by = 'someone-else', review_note = 'rewritten' where id = ${id}`)).toMatch(/only an open alert may be marked reviewed/);
    expect(await sqlRefusal(t, sql`update ig_alert set reviewed_at = null where id = ${id}`)).toMatch(/only an open alert may be marked reviewed/);
    // An open one's content is fixed too: only the review columns may be set.
    await override('One more enquiry');
    const [open] = ((await list()).body as AlertList).alerts;
    expect(await sqlRefusal(t, sql`update ig_alert set reason = 'nothing to see' where id = ${open?.id ?? ''}`)).toMatch(/only an open alert may be marked reviewed/);
    expect(((await list({ status: 'all' })).body as AlertList).alerts).toHaveLength(all.length + 1);
    expect(((await list({ status: 'reviewed' })).body as AlertList).alerts.find((a) => a.id === id)).toEqual(reviewed);
  });
});

describe('denial bursts: one alert per client per window', () => {
  const WINDOW_MS = 10 * 60_000;
  const THRESHOLD = 5;
  // A clock that runs from just after the start of a window, and jumps a window on demand.
  const started = Date.now();
  const origin = Math.floor(started / WINDOW_MS) * WINDOW_MS + 1000;
  let shift = 0;
  const clock = (): Date => new Date(origin + shift + (Date.now() - started));

  let t: TestHub;
  let mother: string;

  /** A token got from the hub's token endpoint at the hub's time. */
  async function token(clientId: string, purpose: string, scope = 'system/*.rs'): Promise<string> {
    return t.token(clientId, purpose, scope);
  }

  const alertsOf = async (clientId: string): Promise<AlertView[]> => {
    const res = await t.http.get('/audit/alerts').query({ status: 'all', _count: '500' }).set(bearer(await token('ig-console', 'audit', 'system/AuditEvent.rs')));
    expect(res.status).toBe(200);
    return (res.body as AlertList).alerts.filter((a) => a.clientId === clientId && a.kind === 'denial-burst');
  };
  const windowsOf = (clientId: string) =>
    rawRows<{ denials: number; alerted: boolean }>(t.database.db, sql`select denials, alerted from ig_denial_window where client_id = ${clientId} order by window_start`);
  const deniedRead = async (bearerToken: string): Promise<string> => {
    const requestId = rid('denied');
    const res = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(bearerToken)).set('X-Request-Id', requestId);
    expect(res.status).toBe(404);
    return requestId;
  };

  beforeAll(async () => {
    t = await startTestHub({ clock, denialBurst: { threshold: THRESHOLD, windowMs: WINDOW_MS } });
    ({ mother } = await bookFixtureMother(t, await token('northgate-maternity', 'direct-care', 'system/*.c system/Consent.cruds')));
  });
  afterAll(async () => {
    await t.close();
  });

  it('none below the threshold; the request that reaches it raises one, naming its deny event; no more in that window', async () => {
    const testB = await token('test-b', 'direct-care');
    for (let i = 0; i < THRESHOLD - 1; i += 1) await deniedRead(testB);
    expect(await alertsOf('test-b')).toEqual([]);
    expect(await windowsOf('test-b')).toEqual([{ denials: THRESHOLD - 1, alerted: false }]);

    const crossing = await deniedRead(testB);
    const [deny] = await decisionEventsFor(t.database.db, crossing);
    expect(deny?.outcome).toBe('8');
    const raised = await alertsOf('test-b');
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({
      kind: 'denial-burst',
      auditEventId: deny?.id,
      organisationCode: 'TEST-B',
      patients: [`Patient/${mother}`],
      reason: `5 records denied to test-b within 10 minutes (threshold 5; window from ${new Date(origin - 1000).toISOString()})`,
      reviewedAt: null,
    });

    for (let i = 0; i < 3; i += 1) await deniedRead(testB);
    expect(await alertsOf('test-b')).toHaveLength(1);
    expect(await windowsOf('test-b')).toEqual([{ denials: THRESHOLD + 3, alerted: true }]);
  });

  it('a new window counts afresh and raises another', async () => {
    shift += WINDOW_MS;
    const testB = await token('test-b', 'direct-care');
    for (let i = 0; i < THRESHOLD - 1; i += 1) await deniedRead(testB);
    expect(await alertsOf('test-b')).toHaveLength(1);
    await deniedRead(testB);
    const raised = await alertsOf('test-b');
    expect(raised).toHaveLength(2);
    expect(raised[0]?.reason).toContain(`window from ${new Date(origin - 1000 + WINDOW_MS).toISOString()}`);
    expect(await windowsOf('test-b')).toEqual([
      { denials: THRESHOLD + 3, alerted: true },
      { denials: THRESHOLD, alerted: true },
    ]);
  });

  it('concurrent denied requests still raise exactly one', async () => {
    const iod = await token('iod-cc', 'early-years-registration');
    await Promise.all(Array.from({ length: THRESHOLD * 3 }, () => deniedRead(iod)));
    expect(await alertsOf('iod-cc')).toHaveLength(1);
    expect(await windowsOf('iod-cc')).toEqual([{ denials: THRESHOLD * 3, alerted: true }]);
  });

  it('counts records denied: one search denying several raises the alert at once, naming each patient', async () => {
    // A GP's patients reach health visiting for safeguarding only with a stated reason.
    const gp = await token('test-a', 'direct-care', 'system/*.cruds');
    const made: string[] = [];
    for (let i = 0; i < THRESHOLD + 1; i += 1) {
      const res = await t.http.post('/fhir/Patient').set(bearer(gp)).set('Content-Type', 'application/fhir+json').send(JSON.stringify(patient(7100 + i)));
      expect(res.status).toBe(201);
      made.push(`Patient/${String(res.body.id)}`);
    }
    const hv = await token('eastside-hv', 'safeguarding');
    const res = await t.http.get('/fhir/Patient').query({ _count: '100' }).set(bearer(hv));
    expect(res.status).toBe(200);
    expect(res.body.entry).toEqual([]);
    const raised = await alertsOf('eastside-hv');
    expect(raised).toHaveLength(1);
    expect(raised[0]?.patients).toEqual(expect.arrayContaining(made));
    expect(raised[0]?.reason).toMatch(/^\d+ records denied to eastside-hv/);
    const [window] = await windowsOf('eastside-hv');
    expect(window?.denials).toBeGreaterThanOrEqual(THRESHOLD + 1);
    expect(raised[0]?.reason.startsWith(`${String(window?.denials)} records`)).toBe(true);
  });

  it('the IG lead\'s own $explain-disclosure is not counted', async () => {
    const ig = await token('ig-console', 'audit', 'system/AuditEvent.rs');
    for (let i = 0; i < THRESHOLD + 1; i += 1) {
      const res = await t.http.get(`/fhir/Patient/${mother}/$explain-disclosure`).query({ organisation: 'CC-IOD', purpose: 'early-years-registration' }).set(bearer(ig));
      expect(res.status).toBe(200);
    }
    expect(await windowsOf('ig-console')).toEqual([]);
    expect(await alertsOf('ig-console')).toEqual([]);
  });
});

describe('denial burst settings', () => {
  it('are read from DENIAL_BURST_THRESHOLD and DENIAL_BURST_WINDOW_MINUTES, 20 in 10 minutes by default', () => {
    expect(loadConfig({}).denialBurst).toEqual({ threshold: 20, windowMs: 600_000 });
    expect(loadConfig({ DENIAL_BURST_THRESHOLD: '5', DENIAL_BURST_WINDOW_MINUTES: '15' }).denialBurst).toEqual({ threshold: 5, windowMs: 900_000 });
    for (const [name, value] of [['DENIAL_BURST_THRESHOLD', '0'], ['DENIAL_BURST_THRESHOLD', 'many'], ['DENIAL_BURST_WINDOW_MINUTES', '0'], ['DENIAL_BURST_WINDOW_MINUTES', '1.5']]) {
      expect(() => loadConfig({ [name as string]: value }), `${name ?? ''}=${value ?? ''}`).toThrow(new RegExp(`Invalid environment: ${name ?? ''}`));
    }
  });
});
