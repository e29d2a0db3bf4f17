import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { AuditEvent, Bundle, Consent, QuestionnaireResponse } from 'fhir/r4.js';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoginLink } from '../../src/db/ig-queries.js';
import { demoOrganisations } from '../../src/demo/world.js';
import { IG_COOKIE } from '../../src/http/ig-guard.js';
import { storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { nhsNumber } from '../support/resources.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// The IG lead's page (/ig) in a real headless Chromium (Debian's, driven by
// playwright-core), read as a new IG lead reads it: sign in with a one-time
// link; the integrity of the log, refreshed by "Verify now"; the reports and
// alerts with every organisation by name; one child's history by NHS number,
// one row per access (its request and its decisions together), records
// described rather than referenced, and counts that agree with the reports;
// the page's own error pages; signing out. A screenshot of each state is kept
// in test-results/ig-page/ (CI keeps test-results/). The browser talks to
// 127.0.0.1 only.

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
const SHOTS = path.resolve('test-results', 'ig-page');
const CAF_ASSESSMENT = 'https://eastside.example/fhir/Id/caf-assessment';
/** Oakley Fixturely, E1 0XX: her family consented to health visiting, GP and children's centres. */
const CHILD_NHS = '9990070016';
const OVERRIDE_REASON = 'Section 47 enquiry opened after a nursery disclosure';
const HUB_NAME = demoOrganisations.find((o) => o.code === 'EYHUB')?.name ?? '';
const named = (code: string): string => `${demoOrganisations.find((o) => o.code === code)?.name ?? '?'} (${code})`;
/** A reference as the audit log holds it: what the page must not show as the record's name. */
const REFERENCE = /[A-Z][A-Za-z]+\/[0-9a-f-]{36}(\/_history\/\d+)?/;
/** The masthead's background as rendered: the page's stylesheet applied (var(--ink)). */
const MASTHEAD_INK = "getComputedStyle(document.querySelector('.masthead')).backgroundColor";

if (!HAS_CHROMIUM) console.warn(`test/browser/ig-page.test.ts skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`);

const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? "the IG lead's page in headless Chromium" : `skipped: ${CHROMIUM} is missing`, () => {
  let t: TestHub;
  let ig: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let link: string;
  let qrId: string;
  const pageErrors: string[] = [];
  const offHost: string[] = [];

  /** The artefact of one state of the page. */
  const shot = async (name: string, target: Page = page): Promise<void> => {
    await target.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    // Only this run's screenshots: the last test checks each was written.
    await rm(SHOTS, { recursive: true, force: true });
    await mkdir(SHOTS, { recursive: true });
    t = await startTestHub({ listen: true });
    ig = await t.token('ig-console', 'audit');
    // The early help team shares Oakley's assessment; partners ask for it.
    const earlyHelp = await t.token('eastside-early-help', 'early-help');
    const ingested = await t.http.post('/ingest/caf').set(bearer(earlyHelp)).set('Content-Type', 'application/json').send(await readFixture('caf/born-three-agencies.json'));
    if (ingested.status !== 200) throw new Error(`CAF not ingested: ${ingested.text}`);
    const hvEarlyHelp = await t.token('eastside-hv', 'early-help');
    const found = await t.http.get('/fhir/QuestionnaireResponse').query({ identifier: `${CAF_ASSESSMENT}|EH-TEST-0001` }).set(bearer(hvEarlyHelp));
    const qr = (found.body as Bundle).entry?.[0]?.resource as QuestionnaireResponse | undefined;
    if (qr?.id === undefined) throw new Error(`the health visitor did not find the CAF: ${found.text}`);
    qrId = qr.id;
    const read = (token: string, requestId: string, headers: Record<string, string> = {}) =>
      t.http.get(`/fhir/QuestionnaireResponse/${qrId}`).set(bearer(token)).set('X-Request-Id', requestId).set(headers);
    // Disclosures under caf-to-health and caf-to-childrens-centre (her consent), a denial
    // (a GP asking for direct care: no flow), a safeguarding read without a reason
    // (denied), and with one (an override: flagged, alerted).
    expect((await read(hvEarlyHelp, 'browser-hv-read')).status).toBe(200);
    expect((await read(await t.token('iod-cc', 'early-help'), 'browser-iod-read')).status).toBe(200);
    expect((await read(await t.token('limehouse-gp', 'direct-care'), 'browser-gp-read')).status).toBe(404);
    const hvSafeguarding = await t.token('eastside-hv', 'safeguarding');
    expect((await read(hvSafeguarding, 'browser-hv-no-reason')).status).toBe(404);
    expect((await read(hvSafeguarding, 'browser-hv-override', { 'X-Override-Reason': OVERRIDE_REASON })).status).toBe(200);
    // Not disclosures: the early help team reads back what it wrote, then withdraws the family's
    // consent; the hub writes a notice to each recipient (its own event), and the health visitors read theirs.
    const readBack = await t.http.get('/fhir/QuestionnaireResponse').query({ identifier: `${CAF_ASSESSMENT}|EH-TEST-0001` }).set(bearer(earlyHelp)).set('X-Request-Id', 'browser-read-back');
    expect((readBack.body as Bundle).entry).toHaveLength(1);
    const [consent] = await storedResources<Consent>(t.database.db, 'Consent');
    const current = (await t.http.get(`/fhir/Consent/${consent?.id ?? ''}`).set(bearer(earlyHelp))).body as Consent;
    const withdrawn = await t.http.put(`/fhir/Consent/${consent?.id ?? ''}`).set(bearer(earlyHelp)).set('Content-Type', 'application/fhir+json').set('X-Request-Id', 'browser-withdraw')
      .send(JSON.stringify({ ...current, status: 'inactive' }));
    expect(withdrawn.status).toBe(200);
    const notices = await t.http.get('/fhir/Communication').set(bearer(hvEarlyHelp)).set('X-Request-Id', 'browser-notice');
    expect((notices.body as Bundle).entry).toHaveLength(1);

    // Missed doses from a practice: five children in July and five in September missed an appointment (work for
    // Ocean and the health visitors each), and one family in August refused (the health visitors' only).
    const gp = await t.token('limehouse-gp', 'direct-care');
    const vxu = await readFixture('hl7v2/missed-dose-na.hl7');
    for (let i = 0; i < 10; i++) {
      const body = vxu
        .replaceAll('9990091013', nhsNumber(830_000 + i))
        .replaceAll('Y90001-TEST-0001', `Y90001-BROWSER-${i}`)
        .replaceAll('Y90001-IMM-900001', `Y90001-BROWSER-IMM-${i}`)
        .replaceAll('|20260723|20260723|', i < 5 ? '|20260723|20260723|' : '|20260923|20260923|');
      const sent = await t.http.post('/ingest/hl7v2').set(bearer(gp)).set('Content-Type', 'x-application/hl7-v2+er7').send(body);
      if (sent.status !== 200) throw new Error(`VXU not ingested: ${sent.text}`);
    }
    const refusal = await t.http.post('/ingest/hl7v2').set(bearer(gp)).set('Content-Type', 'x-application/hl7-v2+er7').send(await readFixture('hl7v2/refusal-re.hl7'));
    if (refusal.status !== 200) throw new Error(`refusal not ingested: ${refusal.text}`);

    const { token } = await createLoginLink(t.database.db, 'ig.lead', new Date());
    link = `${t.baseUrl}/ig/login?token=${token}`;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // Nothing but the hub resolves: the page must need no other host.
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: 'Europe/London' });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) pageErrors.push(msg.text());
    });
    context.on('request', (req) => {
      const url = req.url();
      if (!url.startsWith(`${t.baseUrl}/`) && !url.startsWith('data:') && !url.startsWith('about:')) offHost.push(url);
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('signs in with the one-time link: redirected to /ig with an HttpOnly, SameSite=Strict session cookie', async () => {
    const response = await page.goto(link);
    expect(response?.status()).toBe(200);
    expect(page.url()).toBe(`${t.baseUrl}/ig`);
    const cookie = (await context.cookies()).find((c) => c.name === IG_COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/', secure: false });
    expect(await page.evaluate('document.cookie')).toBe('');
    await page.locator('body[data-loaded="true"]').waitFor();
    expect(await page.getByTestId('signed-out').isHidden()).toBe(true);
    await shot('01-signed-in');
  });

  it('"Verify now" verifies the log, then signs a checkpoint of it and refreshes the integrity panel', async () => {
    const before = Number(await page.getByTestId('checkpoint-size').textContent());
    expect(before).toBeGreaterThan(0);
    expect(await page.getByTestId('checkpoint-verified').textContent()).toMatch(/Not yet/);
    await page.getByTestId('verify').click();
    const result = page.getByTestId('verify-result');
    await result.filter({ hasText: /Log verified|Log FAILED|Could not verify|not available/ }).waitFor();
    const verified = /^Log verified: ([1-9]\d*) entries, \d+ checkpoints?$/.exec((await result.textContent()) ?? '');
    expect(verified, (await result.textContent()) ?? '').not.toBeNull();
    expect(await result.getAttribute('class')).toBe('ok');
    const entries = Number(verified?.[1]);
    // The panel shows the checkpoint signed after the verification: it covers every entry verified.
    await page.getByTestId('checkpoint-verified').filter({ hasText: 'intact' }).waitFor();
    const after = Number(await page.getByTestId('checkpoint-size').textContent());
    expect(after).toBeGreaterThanOrEqual(entries);
    expect(after).toBeGreaterThan(before);
    expect(await page.getByTestId('checkpoint-verified').textContent()).toContain(`${entries} entries intact`);
    expect(await page.getByTestId('checkpoint-root').textContent()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    // The same checkpoint the hub now serves as its latest.
    const latest = await t.http.get('/audit/checkpoint').set(bearer(ig)).set('Accept', 'application/json');
    expect(latest.body).toMatchObject({ treeSize: after, rootHash: await page.getByTestId('checkpoint-root').textContent() });
    await shot('02-verified');
  });

  it('charts and tabulates the disclosures by partner and flow, with a CSV link, and lists the denials: every organisation by name', async () => {
    expect(await page.getByTestId('chart').locator('rect.bar').count()).toBeGreaterThan(0);
    const disclosures = await page.getByTestId('disclosures-by-partner').textContent();
    expect(disclosures).toContain(named('R9H'));
    expect(disclosures).toContain('caf-to-health');
    expect(await page.getByTestId('disclosures-csv').getAttribute('href')).toMatch(/^\/audit\/report\/disclosures\?from=\d{4}-\d{2}&to=\d{4}-\d{2}$/);
    const denials = await page.getByTestId('denials-by-reason').textContent();
    expect(denials).toContain(named('Y90001'));
    expect(denials).toContain('limehouse-gp');
    expect(denials).toContain('override-reason-required');
    expect(await page.getByTestId('alert-organisation').allTextContents()).toContain(named('R9H'));
  });

  it("shows the follow-up work and exceptions by owner, and the commissioners' missed doses with small months withheld", async () => {
    const work = page.getByTestId('follow-ups-table');
    await work.scrollIntoViewIfNeeded();
    const text = (await work.textContent()) ?? '';
    expect(text).toContain('Missed dose');
    expect(text).toContain(named('CC-OCEAN'));
    expect(text).toContain(named('R9H'));
    // Ten missed appointments (Ocean and the health visitors each) and one refusal (the health visitors only).
    expect(await page.getByTestId('follow-ups-summary').textContent()).toMatch(/^21 raised, 21 still open, 0 stalled, 0 completed within 28 days\.$/);
    expect(await page.getByTestId('follow-up-row').count()).toBe(2);
    expect(await page.getByTestId('exceptions-table').textContent()).toContain('No exceptions in this period.');
    const chart = page.getByTestId('figures-svg');
    const drawn: number[] = await chart.locator('rect.bar').evaluateAll((bars): number[] => bars.map((b): number => Number(b.getAttribute('data-count'))));
    expect(drawn.length).toBeGreaterThan(0);
    expect(drawn.every((n) => n >= 5)).toBe(true);
    const withheld: string[] = await chart.locator('[data-withheld="true"]').evaluateAll((marks): string[] => marks.map((m): string => String(m.getAttribute('data-month'))));
    expect(withheld).toContain('2026-08');
    await page.getByTestId('figures').scrollIntoViewIfNeeded();
    await shot('09-follow-ups-and-figures');
  });

  it("looks up a child by NHS number: one row per access, every organisation named, records described, counts as the reports count", async () => {
    await page.getByTestId('nhs-number').fill('999 007 0016');
    await page.getByTestId('look-up').click();
    await page.getByTestId('child-history').locator('p').filter({ hasText: /^(NHS number|Not available|The audit log search failed)/ }).waitFor();
    await shot('03-child-history');
    const rows = page.getByTestId('history-row');

    // One row per access: what the audit log holds about her, grouped by request (and by who acted in it).
    const search = await t.http.get('/fhir/AuditEvent').query({ 'patient:identifier': `https://fhir.nhs.uk/Id/nhs-number|${CHILD_NHS}`, _count: '500' }).set(bearer(ig));
    const events = ((search.body as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
    const accessKey = (e: AuditEvent): string =>
      [e.entity?.find((x) => x.type?.code === 'XrequestId')?.what?.identifier?.value, ...e.agent.map((a) => a.who?.identifier?.value ?? '')].join('|');
    expect(await rows.count()).toBe(new Set(events.map(accessKey)).size);
    expect(await rows.count()).toBeLessThan(events.length);
    const requestIds = await Promise.all((await rows.all()).map((row) => row.getAttribute('data-request-id')));
    expect(new Set(requestIds.filter((r) => r !== 'browser-withdraw')).size).toBe(requestIds.filter((r) => r !== 'browser-withdraw').length);
    // The GP's refused read: its request and its denial, one row.
    const gp = page.locator('[data-testid="history-row"][data-request-id="browser-gp-read"]');
    expect(await gp.count()).toBe(1);
    expect(await gp.getByTestId('history-request').textContent()).toBe('Read refused');
    expect(await gp.getByTestId('history-effect').textContent()).toBe('Denied');
    expect(await gp.getByTestId('history-organisation').textContent()).toBe(named('Y90001'));
    expect(Number(await gp.getAttribute('data-events'))).toBe(2);
    const override = page.locator('[data-testid="history-row"][data-request-id="browser-hv-override"]');
    expect(await override.textContent()).toContain(OVERRIDE_REASON);
    expect(await override.getByTestId('history-flow').textContent()).toMatch(/^eastside-early-years-isp v\d+: \S+$/);
    // A disclosure under the family's consent names it.
    const hvRead = page.locator('[data-testid="history-row"][data-request-id="browser-hv-read"]');
    expect(await hvRead.getByTestId('history-effect').textContent()).toBe('Disclosed');
    expect(await hvRead.getByTestId('history-flow').textContent()).toMatch(/: caf-to-health$/);
    expect(await hvRead.getByTestId('history-consent').textContent()).toBe('a consent');

    // Organisations by name everywhere; the hub's own notices name the hub, not an "unidentified client".
    const organisations = await page.getByTestId('history-organisation').allTextContents();
    for (const o of organisations) expect(o).toMatch(/^.+ \([A-Z0-9-]+\)$/);
    expect(organisations).toEqual(expect.arrayContaining([named('Y90001'), named('CC-IOD'), named('E09000999-EH'), `${HUB_NAME} (EYHUB)`]));
    // The early help team's withdrawal, and in the same request the hub's notices: two accesses.
    const withdrawal = page.locator('[data-testid="history-row"][data-request-id="browser-withdraw"]');
    expect(await withdrawal.getByTestId('history-organisation').allTextContents()).toEqual(expect.arrayContaining([named('E09000999-EH'), `${HUB_NAME} (EYHUB)`]));
    const hubRow = withdrawal.filter({ has: page.getByTestId('history-organisation').filter({ hasText: HUB_NAME }) });
    expect(await hubRow.getByTestId('history-client').textContent()).toBe('the hub itself, on its own account');
    expect(await page.getByTestId('history-table').textContent()).not.toContain('unidentified');

    // Records described, the reference kept in the title and under "References" (closed).
    const caf = override.getByTestId('history-record');
    expect(await caf.textContent()).toBe("a child's early help assessment (CAF), E1");
    expect(await caf.getAttribute('title')).toMatch(new RegExp(`^QuestionnaireResponse/${qrId}/_history/\\d+$`));
    expect(await hvRead.getByTestId('history-consent').getAttribute('title')).toMatch(/^Consent\/[0-9a-f-]{36}\/_history\/\d+$/);
    expect(await override.getByTestId('history-references').textContent()).toMatch(new RegExp(`QuestionnaireResponse/${qrId}`));
    expect(await page.getByTestId('history-table').innerText()).not.toMatch(REFERENCE);

    // The counts: disclosures and denials as the reports count them; read-backs and notices apart.
    const report = await t.http.get('/audit/report/disclosures').query({ _format: 'json' }).set(bearer(ig));
    const reported = (report.body as { rows: { disclosureEvents: number }[] }).rows.reduce((n, r) => n + r.disclosureEvents, 0);
    const denialReport = await t.http.get('/audit/report/denials').query({ _format: 'json' }).set(bearer(ig));
    const denied = (denialReport.body as { rows: { denialEvents: number }[] }).rows.reduce((n, r) => n + r.denialEvents, 0);
    // The setup's disclosures: the health visitors' search and two reads, the centre's read.
    expect(reported).toBe(4);
    expect(await page.getByTestId('history-disclosure').textContent()).toBe(`${reported} disclosures`);
    expect(await page.getByTestId('history-denial').textContent()).toBe(`${denied} denials`);
    // Apart: the early help team's search and its read of the consent before withdrawing it; the notice the health visitors read.
    const basis = (e: AuditEvent): string | undefined => e.entity?.find((x) => x.type?.code === 'decision')?.detail?.find((d) => d.type === 'basis')?.valueString;
    expect(events.filter((e) => basis(e) === 'originator')).toHaveLength(2);
    expect(events.filter((e) => basis(e) === 'addressed')).toHaveLength(1);
    expect(await page.getByTestId('history-read-back').textContent()).toBe('2 read-backs by the organisation that wrote the record');
    expect(await page.getByTestId('history-notice').textContent()).toBe('1 notice delivered');
    expect(await page.getByTestId('history-accesses').textContent()).toBe(`${await rows.count()} accesses`);
    const readBack = page.locator('[data-testid="history-row"][data-request-id="browser-read-back"]');
    expect(await readBack.getByTestId('history-effect').textContent()).toBe('Read back');
    const notice = page.locator('[data-testid="history-row"][data-request-id="browser-notice"]');
    expect(await notice.getByTestId('history-effect').textContent()).toBe('Notice delivered');
    expect(await notice.getByTestId('history-record').textContent()).toBe('a notice from the hub about a child, E1');

    const times = await Promise.all((await rows.locator('td:first-child time').all()).map((n) => n.getAttribute('datetime')));
    expect(times).toEqual([...times].sort().reverse());
  });

  it('lists the safeguarding override awaiting review, and marks it reviewed with a note (not without one)', async () => {
    const row = page.getByTestId('alert-row').filter({ hasText: OVERRIDE_REASON });
    await row.waitFor();
    expect(await row.textContent()).toContain('Safeguarding override');
    await row.getByTestId('alert-review').click();
    expect(await page.getByTestId('alerts-status').textContent()).toMatch(/Write a note/);
    await row.getByTestId('alert-note').fill('Checked with the health visiting lead: section 47 enquiry confirmed.');
    await row.getByTestId('alert-review').click();
    await page.getByTestId('alerts-status').filter({ hasText: 'Alert marked reviewed' }).waitFor();
    await row.waitFor({ state: 'detached' });
    await shot('04-alert-reviewed');
  });

  it('refuses a wrong NHS number in the browser, before asking the hub', async () => {
    for (const [typed, message] of [['9990070017', /check digit/], ['12345', /10 digits/]] as const) {
      await page.getByTestId('nhs-number').fill(typed);
      await page.getByTestId('look-up').click();
      expect(await page.getByTestId('nhs-error').textContent()).toMatch(message);
      expect(await page.getByTestId('nhs-number').getAttribute('aria-invalid')).toBe('true');
      expect(await page.getByTestId('child-history').textContent()).toBe('');
    }
    await shot('05-nhs-number-refused');
  });

  it('answers a wrong /ig address with its own styled page, and leads back to the page', async () => {
    const response = await page.goto(`${t.baseUrl}/ig/no-such-page`);
    expect(response?.status()).toBe(404);
    expect(response?.headers()['content-type']).toMatch(/^text\/html/);
    expect(await page.getByTestId('error-title').textContent()).toBe('Page not found');
    // Styled: the page's stylesheet applied (the masthead's ink), no inline style or script.
    expect(await page.evaluate(MASTHEAD_INK)).toBe('rgb(11, 12, 12)');
    expect(await page.getByTestId('error-reference').textContent()).toBe(response?.headers()['x-request-id']);
    await shot('06-error-not-found');
    await page.getByTestId('error-link').click();
    await page.waitForURL(`${t.baseUrl}/ig`);
    await page.locator('body[data-loaded="true"]').waitFor();
    expect(await page.getByTestId('dashboard').isVisible()).toBe(true);
  });

  it('refuses the same link a second time with the styled page, and signs out', async () => {
    const other = await browser.newContext();
    try {
      const otherPage = await other.newPage();
      const again = await otherPage.goto(link);
      expect(again?.status()).toBe(401);
      expect(await otherPage.getByTestId('error-title').textContent()).toBe('This sign-in link cannot be used');
      expect(await otherPage.getByTestId('error-next').textContent()).toMatch(/ig-link/);
      expect(await otherPage.evaluate(MASTHEAD_INK)).toBe('rgb(11, 12, 12)');
      expect((await other.cookies()).find((c) => c.name === IG_COOKIE)).toBeUndefined();
      await shot('07-error-link-refused', otherPage);
    } finally {
      await other.close();
    }
    await page.getByTestId('sign-out').click();
    await page.waitForURL(`${t.baseUrl}/ig`);
    expect((await context.cookies()).find((c) => c.name === IG_COOKIE)).toBeUndefined();
    await page.getByTestId('signed-out').waitFor();
    await shot('08-signed-out');
  });

  it('ran without script errors or CSP violations, asked no host but the hub, and kept a screenshot of each state', () => {
    expect(pageErrors).toEqual([]);
    expect(offHost).toEqual([]);
    for (const name of ['01-signed-in', '02-verified', '03-child-history', '04-alert-reviewed', '05-nhs-number-refused', '06-error-not-found', '07-error-link-refused', '08-signed-out', '09-follow-ups-and-figures']) {
      expect(existsSync(path.join(SHOTS, `${name}.png`)), name).toBe(true);
    }
  });
});
