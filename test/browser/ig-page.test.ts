import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Bundle, QuestionnaireResponse } from 'fhir/r4.js';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoginLink } from '../../src/db/ig-queries.js';
import { IG_COOKIE } from '../../src/http/ig-guard.js';
import { readFixture } from '../support/golden.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// The IG lead's page (/ig) in a real headless Chromium (Debian's, driven by
// playwright-core): sign in with a one-time link, read the integrity of the
// log, the reports and the alerts, look up one child by NHS number, and see
// a wrong NHS number refused in the browser. A full-page screenshot is kept
// in test-results/ig-page.png. The browser talks to 127.0.0.1 only.

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
const SCREENSHOT = path.resolve('test-results', 'ig-page.png');
const CAF_ASSESSMENT = 'https://eastside.example/fhir/Id/caf-assessment';
/** Oakley Fixturely, E1 0XX: her family consented to health visiting, GP and children's centres. */
const CHILD_NHS = '9990070016';
const OVERRIDE_REASON = 'Section 47 enquiry opened after a nursery disclosure';

if (!HAS_CHROMIUM) console.warn(`test/browser/ig-page.test.ts skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`);

const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? "the IG lead's page in headless Chromium" : `skipped: ${CHROMIUM} is missing`, () => {
  let t: TestHub;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let link: string;
  const pageErrors: string[] = [];
  const offHost: string[] = [];

  beforeAll(async () => {
    t = await startTestHub({ listen: true });
    // The early help team shares Oakley's assessment; partners ask for it.
    const earlyHelp = await t.token('eastside-early-help', 'early-help');
    const ingested = await t.http.post('/ingest/caf').set(bearer(earlyHelp)).set('Content-Type', 'application/json').send(await readFixture('caf/born-three-agencies.json'));
    if (ingested.status !== 200) throw new Error(`CAF not ingested: ${ingested.text}`);
    const hvEarlyHelp = await t.token('eastside-hv', 'early-help');
    const found = await t.http.get('/fhir/QuestionnaireResponse').query({ identifier: `${CAF_ASSESSMENT}|EH-TEST-0001` }).set(bearer(hvEarlyHelp));
    const qr = (found.body as Bundle).entry?.[0]?.resource as QuestionnaireResponse | undefined;
    if (qr?.id === undefined) throw new Error(`the health visitor did not find the CAF: ${found.text}`);
    const read = (token: string, headers: Record<string, string> = {}) => t.http.get(`/fhir/QuestionnaireResponse/${qr.id ?? ''}`).set(bearer(token)).set(headers);
    // Disclosures under caf-to-health and caf-to-childrens-centre (her consent), a denial
    // (a GP asking for direct care: no flow), a safeguarding read without a reason
    // (denied), and with one (an override: flagged, alerted).
    expect((await read(hvEarlyHelp)).status).toBe(200);
    expect((await read(await t.token('iod-cc', 'early-help'))).status).toBe(200);
    expect((await read(await t.token('limehouse-gp', 'direct-care'))).status).toBe(404);
    const hvSafeguarding = await t.token('eastside-hv', 'safeguarding');
    expect((await read(hvSafeguarding)).status).toBe(404);
    expect((await read(hvSafeguarding, { 'X-Override-Reason': OVERRIDE_REASON })).status).toBe(200);

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
  });

  it('shows the integrity of the log: the latest checkpoint, and "Verify now" verifies it', async () => {
    const size = Number(await page.getByTestId('checkpoint-size').textContent());
    expect(size).toBeGreaterThan(0);
    expect(await page.getByTestId('checkpoint-root').textContent()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    await page.getByTestId('verify').click();
    const result = page.getByTestId('verify-result');
    await result.filter({ hasText: /Log verified|Log FAILED|Could not verify|not available/ }).waitFor();
    expect(await result.textContent()).toMatch(/^Log verified: [1-9]\d* entries, \d+ checkpoints?$/);
    expect(await result.getAttribute('class')).toBe('ok');
  });

  it('charts and tabulates the disclosures by partner and flow, with a CSV link, and lists the denials', async () => {
    expect(await page.getByTestId('chart').locator('rect.bar').count()).toBeGreaterThan(0);
    const disclosures = await page.getByTestId('disclosures-by-partner').textContent();
    expect(disclosures).toContain('R9H');
    expect(disclosures).toContain('caf-to-health');
    expect(await page.getByTestId('disclosures-csv').getAttribute('href')).toMatch(/^\/audit\/report\/disclosures\?from=\d{4}-\d{2}&to=\d{4}-\d{2}$/);
    const denials = await page.getByTestId('denials-by-reason').textContent();
    expect(denials).toContain('limehouse-gp');
    expect(denials).toContain('override-reason-required');
  });

  it("looks up a child by NHS number: every disclosure and denial, newest first, with organisation, flow and consent", async () => {
    await page.getByTestId('nhs-number').fill('999 007 0016');
    await page.getByTestId('look-up').click();
    try {
      await page.getByTestId('child-history').locator('p').filter({ hasText: /^(NHS number|Not available|The audit log search failed)/ }).waitFor();
      expect(await page.getByTestId('history-summary').textContent()).toMatch(new RegExp(`^NHS number ${CHILD_NHS}: \\d+ audit events, [1-9]\\d* disclosures, [1-9]\\d* denials\\.$`));
      const history = await page.getByTestId('history-table').textContent();
      for (const seen of ['Eastside Community Health (Health Visiting) (R9H)', 'CC-IOD', 'Y90001', 'caf-to-health', 'caf-to-childrens-centre', 'Consent/', 'Disclosed', 'Denied', 'override-reason-required', OVERRIDE_REASON]) {
        expect(history, seen).toContain(seen);
      }
      expect(await page.getByTestId('history-consent').count()).toBeGreaterThan(0);
      const times = await Promise.all((await page.getByTestId('history-row').locator('time').all()).map((n) => n.getAttribute('datetime')));
      expect(times).toEqual([...times].sort().reverse());
    } finally {
      // The artefact: the whole page with the child's history, kept by CI in test-results/.
      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }
    expect(existsSync(SCREENSHOT)).toBe(true);
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
  });

  it('refuses a wrong NHS number in the browser, before asking the hub', async () => {
    for (const [typed, message] of [['9990070017', /check digit/], ['12345', /10 digits/]] as const) {
      await page.getByTestId('nhs-number').fill(typed);
      await page.getByTestId('look-up').click();
      expect(await page.getByTestId('nhs-error').textContent()).toMatch(message);
      expect(await page.getByTestId('nhs-number').getAttribute('aria-invalid')).toBe('true');
      expect(await page.getByTestId('child-history').textContent()).toBe('');
    }
  });

  it('refuses the same link a second time, and signs out', async () => {
    const other = await browser.newContext();
    try {
      const again = await (await other.newPage()).goto(link);
      expect(again?.status()).toBe(401);
      expect(await again?.text()).toMatch(/cannot be used[\s\S]*ig-link/);
      expect((await other.cookies()).find((c) => c.name === IG_COOKIE)).toBeUndefined();
    } finally {
      await other.close();
    }
    await page.getByTestId('sign-out').click();
    await page.waitForURL(`${t.baseUrl}/ig`);
    expect((await context.cookies()).find((c) => c.name === IG_COOKIE)).toBeUndefined();
    await page.getByTestId('signed-out').waitFor();
  });

  it('ran without script errors or CSP violations, and asked no host but the hub', () => {
    expect(pageErrors).toEqual([]);
    expect(offHost).toEqual([]);
  });
});
