import type { AuditEvent, Bundle, OperationOutcome } from 'fhir/r4.js';
import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoOrganisations } from '../../src/demo/world.js';
import { errorHandler } from '../../src/http/error-handler.js';
import { requestContext } from '../../src/http/request-context.js';
import { decisionEventsFor, restEventsFor } from '../support/audit.js';
import { bookFixtureMother } from '../support/booking.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// What the /ig page reads beyond the reports: the registry's names for the
// codes in the audit log (GET /audit/organisations), the description of each
// record a decision names (AuditEvent.entity.description), and the page's own
// error pages for a browser (HTML in the page's style, no stack) while API
// clients keep their OperationOutcome.

const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const issueOf = (body: unknown) => (body as OperationOutcome).issue[0];

let t: TestHub;
let ig: string;
let seq = 0;
const rid = (label: string): string => `ig-page-api-${label}-${(seq += 1)}`;

beforeAll(async () => {
  t = await startTestHub();
  ig = await t.token('ig-console', 'audit');
});

afterAll(async () => {
  await t?.close();
});

describe('GET /audit/organisations', () => {
  it('names every registered organisation, the hub operator included, for the IG lead; and audits the listing', async () => {
    const id = rid('organisations');
    const res = await t.http.get('/audit/organisations').set(bearer(ig)).set('X-Request-Id', id);
    expect(res.status).toBe(200);
    const body = res.body as { organisations: { code: string; name: string; type: string }[]; hub: string };
    expect(body.hub).toBe('EYHUB');
    for (const org of demoOrganisations) {
      expect(body.organisations).toContainEqual(expect.objectContaining({ code: org.code, name: org.name, type: org.type }));
    }
    expect(body.organisations.find((o) => o.code === 'EYHUB')?.type).toBe('hub-operator');
    const [event] = await restEventsFor(t.database.db, id);
    expect(event?.outcome).toBe('0');
    expect(event?.outcomeDesc).toBe(`organisations listed: ${body.organisations.length}`);
  });

  it('is refused without a token (401) and to a partner (403), both audited', async () => {
    const none = await t.http.get('/audit/organisations').set('X-Request-Id', rid('none'));
    expect(none.status).toBe(401);
    expect(issueOf(none.body)?.code).toBe('login');
    const id = rid('partner');
    const partner = await t.http.get('/audit/organisations').set(bearer(await t.token('ocean-cc', 'early-years-registration'))).set('X-Request-Id', id);
    expect(partner.status).toBe(403);
    expect(JSON.stringify(partner.body)).not.toContain('Limehouse');
    const [event] = await restEventsFor(t.database.db, id);
    expect(event?.outcome).toBe('4');
  });
});

describe('what a decision names', () => {
  it('describes each record it decided: a mother\'s registration with her postcode district, permitted or denied', async () => {
    const { mother } = await bookFixtureMother(t);
    const permitId = rid('ocean');
    const ocean = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(await t.token('ocean-cc', 'early-years-registration'))).set('X-Request-Id', permitId);
    expect(ocean.status).toBe(200);
    const denyId = rid('iod');
    const iod = await t.http.get(`/fhir/Patient/${mother}`).set(bearer(await t.token('iod-cc', 'early-years-registration'))).set('X-Request-Id', denyId);
    expect(iod.status).toBe(404);
    for (const [id, outcome] of [[permitId, '0'], [denyId, '8']] as const) {
      const [decision] = await decisionEventsFor(t.database.db, id);
      expect(decision?.outcome, id).toBe(outcome);
      const records = (decision?.entity ?? []).filter((e) => e.role?.code === '4' && e.what?.reference?.startsWith('Patient/') === true);
      expect(records, id).toHaveLength(1);
      expect(records[0]?.what?.reference, id).toMatch(new RegExp(`^Patient/${mother}/_history/\\d+$`));
      // The fixture mother lives at E1 0AA.
      expect(records[0]?.description, id).toBe("a mother's registration, E1");
      // The description is the IG lead's: nothing of it reaches the requester.
      expect(JSON.stringify(iod.body)).not.toContain('registration');
    }
    // The search the IG lead runs answers it as stored.
    const found = await t.http.get('/fhir/AuditEvent').query({ entity: `Patient/${mother}`, subtype: 'AuthZ-Consent' }).set(bearer(ig));
    expect(found.status).toBe(200);
    const descriptions = ((found.body as Bundle).entry ?? []).flatMap((e) => ((e.resource as AuditEvent).entity ?? []).map((x) => x.description).filter(Boolean));
    expect(descriptions).toContain("a mother's registration, E1");
  });
});

describe("the /ig page's error pages", () => {
  it('answers a browser asking for a wrong /ig address with a styled page (its stylesheet, its CSP, a way back), and an API client with an OperationOutcome', async () => {
    const page = await t.http.get('/ig/no-such-page').set('Accept', HTML);
    expect(page.status).toBe(404);
    expect(page.type).toBe('text/html');
    expect(page.text).toContain('<link rel="stylesheet" href="/ig/app.css">');
    expect(page.text).toContain('Page not found');
    expect(page.text).toContain('href="/ig"');
    expect(page.text).toContain(String(page.headers['x-request-id']));
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.text).not.toMatch(/<script|style=/);
    const api = await t.http.get('/ig/no-such-page').set('Accept', 'application/json');
    expect(api.status).toBe(404);
    expect(issueOf(api.body)?.code).toBe('not-found');
    // Elsewhere the hub is an API: a browser gets the OperationOutcome there.
    const fhir = await t.http.get('/no-such-route').set('Accept', HTML);
    expect(fhir.status).toBe(404);
    expect(fhir.type).toBe('application/fhir+json');
  });

  it('escapes what it repeats of the address', async () => {
    const page = await t.http.get('/ig/a&b=%3Cscript%3E').set('Accept', HTML);
    expect(page.status).toBe(404);
    expect(page.text).not.toContain('<script');
    expect(page.text).toContain('There is no page at /ig/a&#38;b=%3Cscript%3E on this hub.');
  });

  it('answers a malformed /ig address (400), a refused sign-in link (401) and a sign-out from another site (403) with the styled page', async () => {
    const malformed = await t.http.get('/ig/%E0%A4%A').set('Accept', HTML);
    expect([malformed.status, malformed.type]).toEqual([400, 'text/html']);
    expect(malformed.text).toContain('This address is not valid');
    const link = await t.http.get(`/ig/login?token=${'A'.repeat(43)}`).set('Accept', HTML);
    expect([link.status, link.type]).toEqual([401, 'text/html']);
    expect(link.text).toContain('This sign-in link cannot be used');
    expect(link.text).toContain('ig-link');
    expect(link.headers['set-cookie']).toBeUndefined();
    const foreign = await t.http.post('/ig/logout').set('Accept', HTML).set('Origin', 'https://elsewhere.example');
    expect([foreign.status, foreign.type]).toEqual([403, 'text/html']);
    expect(foreign.text).toContain('nothing was changed');
    const foreignApi = await t.http.post('/ig/logout').set('Accept', 'application/json').set('Origin', 'https://elsewhere.example');
    expect(foreignApi.status).toBe(403);
    expect(issueOf(foreignApi.body)?.code).toBe('forbidden');
  });

  it('answers a fault on an /ig route with the styled page and nothing of the error (500)', async () => {
    // The hub's own error handler behind a route that fails, as any /ig route could.
    const app = express();
    app.use(requestContext(pino({ level: 'silent' })));
    app.get('/ig/fails', () => {
      throw new Error('secret detail: relation "ig_session" at /src/db/ig-queries.ts:42');
    });
    app.use(errorHandler(pino({ level: 'silent' })));
    const page = await request(app).get('/ig/fails').set('Accept', HTML);
    expect([page.status, page.type]).toEqual([500, 'text/html']);
    expect(page.text).toContain('Something went wrong');
    expect(page.text).toContain('<link rel="stylesheet" href="/ig/app.css">');
    expect(page.text).not.toMatch(/secret detail|ig_session|ig-queries|at \//);
    const api = await request(app).get('/ig/fails').set('Accept', 'application/json');
    expect(api.status).toBe(500);
    expect(issueOf(JSON.parse(api.text))?.code).toBe('exception');
    expect(api.text).not.toContain('secret detail');
  });
});
