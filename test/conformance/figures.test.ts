import type { MeasureReport, MeasureReportGroupPopulation } from 'fhir/r4.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../support/test-hub.js';
import { haveSharedFixtures, sharedFixtures } from './shared-fixtures.js';

// Story step 13 over the partners' own GP files: the commissioners' figure of
// missed doses in 2026, with every small count withheld and no one in it.

const read = (name: string) => readFile(path.join(sharedFixtures, name), 'utf8');
const GP_FILES = ['gp/vxu-missed-6in1-dose3.hl7', 'gp/vxu-catch-up-given-6in1-dose3.hl7', 'gp/vxu-batch-y90002.hl7', 'gp/missed-immunisations-y90001.csv'];

describe.skipIf(!haveSharedFixtures)('conformance: story step 13, missed doses for commissioners', () => {
  let t: TestHub;
  let sent = '';
  beforeAll(async () => {
    t = await startTestHub();
    const tokens: Record<string, string> = { Y90001: await t.token('limehouse-gp', 'direct-care'), Y90002: await t.token('bowcommon-gp', 'direct-care') };
    for (const name of GP_FILES) {
      const body = await read(name);
      sent += body;
      const res = name.endsWith('.csv')
        ? await t.http.post('/ingest/immunisations-csv').set('Authorization', `Bearer ${tokens['Y90001'] ?? ''}`).set('Content-Type', 'text/csv').send(body)
        : await t.http.post('/ingest/hl7v2').set('Authorization', `Bearer ${tokens[body.includes('|Y90002|') ? 'Y90002' : 'Y90001'] ?? ''}`).set('Content-Type', 'x-application/hl7-v2+er7').send(body);
      expect(res.status, name).toBe(200);
    }
  }, 120_000);
  afterAll(async () => {
    await t.close();
  });

  it('counts the seven doses not given in 2026, shows no count from 1 to 4, and names no one', async () => {
    const commissioner = await t.token('eastside-public-health', 'commissioning');
    const res = await t.http.get('/fhir/Measure/missed-doses/$evaluate-measure?periodStart=2026-01-01&periodEnd=2026-12-31').set('Authorization', `Bearer ${commissioner}`);
    expect(res.status).toBe(200);
    const report = JSON.parse(res.text) as MeasureReport;
    // 4 not-done CSV rows, the missed 6-in-1 (NA), and the batch's MMRV (NA) and rotavirus (RE); the catch-up dose was given.
    expect(report.group?.[0]?.population?.[0]?.count).toBe(7);
    const pops: MeasureReportGroupPopulation[] = (report.group?.[0]?.stratifier ?? []).flatMap((s) => (s.stratum ?? []).flatMap((st) => st.population ?? []));
    expect(pops.length).toBeGreaterThan(20);
    for (const p of pops) expect(p.count === undefined ? p._count?.extension?.[0]?.valueCode : p.count === 0 || p.count > 4).toSatisfy((v: unknown) => v === 'masked' || v === true);
    const csv = await t.http.get('/fhir/Measure/missed-doses/$evaluate-measure?periodStart=2026-01-01&periodEnd=2026-12-31&_format=csv').set('Authorization', `Bearer ${commissioner}`);
    for (const text of [res.text, csv.text]) {
      for (const nhs of new Set(sent.match(/999\d{7}/g) ?? [])) expect(text).not.toContain(nhs);
      expect(text).not.toMatch(/THOMPSON|AHMED|HOSSAIN|Patient\//i);
    }
  });
});
