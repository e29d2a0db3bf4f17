import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { OperationOutcome, QuestionnaireResponse } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adaptCaf } from '../../src/adapters/caf.js';
import { countRows } from '../support/audit.js';
import { expectGolden } from '../support/golden.js';
import { decisionOn, decisionsOf } from '../support/story.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';
import { haveSharedFixtures, sharedFixtures } from './shared-fixtures.js';

// Conformance, story step 12 over the shared fixture hv/caf-hv-noor-hussain.json:
// the health visitors (R9H, EMIS) send Noor Hussain's CAF-compliant two-year
// review; early help receives it in full under caf-from-health-visiting and her
// mother's consent; no children's centre and no GP sees it.

const FIXTURE = 'hv/caf-hv-noor-hussain.json';
const CAF_ASSESSMENT = 'https://eastside.example/fhir/Id/caf-assessment';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const flow = (id: string): string => `eastside-early-years-isp|4|${id}`;
const issues = (body: unknown) => (body as OperationOutcome).issue;

describe.skipIf(!haveSharedFixtures)('conformance: the health visitors\' CAF (story step 12)', () => {
  let t: TestHub;
  let fixture = '';
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    fixture = await readFile(path.join(sharedFixtures, FIXTURE), 'utf8');
    t = await startTestHub();
    tokens['hv'] = await t.token('eastside-hv', 'direct-care');
    tokens['earlyHelp'] = await t.token('eastside-early-help', 'early-help');
    for (const [who, client] of [['ocean', 'ocean-cc'], ['iod', 'iod-cc'], ['limehouse', 'limehouse-gp'], ['bowcommon', 'bowcommon-gp']] as const) {
      tokens[who] = await t.token(client, 'early-help');
    }
  });
  afterAll(async () => {
    await t.close();
  });

  const post = (who: string, body: string) =>
    t.http.post('/ingest/caf').set('Authorization', `Bearer ${tokens[who] ?? ''}`).set('Content-Type', 'application/json').send(body);
  const get = (who: string, url: string, requestId: string) => t.http.get(`/fhir/${url}`).set('Authorization', `Bearer ${tokens[who] ?? ''}`).set('X-Request-Id', requestId);
  const edited = (edit: (doc: { assessment: Record<string, unknown> & { child: Record<string, unknown> } }) => void): string => {
    const doc = JSON.parse(fixture) as { assessment: Record<string, unknown> & { child: Record<string, unknown> } };
    edit(doc);
    return JSON.stringify(doc);
  };
  let qrId = '';
  let consentId = '';

  it('the adapter\'s FHIR for the fixture is pinned (golden)', async () => {
    await expectGolden('conformance/hv/caf-hv-noor-hussain', adaptCaf(JSON.parse(fixture), { senderSystem: ODS }));
  });

  it('the health visitors send it; early help (E09000999-EH) reads it in full under caf-from-health-visiting and the mother\'s consent', async () => {
    const res = await post('hv', fixture);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const stored = issues(res.body)[0]?.diagnostics ?? '';
    qrId = /QuestionnaireResponse\/([0-9a-f-]+)/.exec(stored)?.[1] ?? '';
    consentId = /Consent\/([0-9a-f-]+)/.exec(stored)?.[1] ?? '';

    const search = await get('earlyHelp', `QuestionnaireResponse?identifier=${encodeURIComponent(`${CAF_ASSESSMENT}|HV-2026-00412`)}`, 'eh-noor');
    const found = ((search.body as { entry?: { resource: QuestionnaireResponse }[] }).entry ?? []).map((e) => e.resource);
    expect(found.map((q) => q.id)).toEqual([qrId]);
    const qr = found[0];
    expect(qr?.identifier).toEqual({ system: CAF_ASSESSMENT, value: 'HV-2026-00412' });
    expect(JSON.stringify(qr?.item)).toContain('Weight on 2nd centile');
    expect(JSON.stringify(qr?.item)).toContain('I do not want to explain everything again to another service.');
    expect(qr?.meta?.security?.map((s) => s.code)).not.toContain('REDACTED');
    expect(decisionOn(await decisionsOf(t, 'eh-noor'), `QuestionnaireResponse/${qrId}`)).toMatchObject({
      effect: 'permit',
      flow: flow('caf-from-health-visiting'),
      consent: `Consent/${consentId}/_history/1`,
    });
  });

  it.each(['ocean', 'iod', 'limehouse', 'bowcommon'])('%s gets the 404 of an unknown id; the denial is in the audit log only', async (who) => {
    const res = await get(who, `QuestionnaireResponse/${qrId}`, `${who}-noor`);
    const absent = await get(who, 'QuestionnaireResponse/00000000-0000-4000-8000-0000000000aa', `${who}-absent`);
    expect(res.status).toBe(404);
    expect(JSON.stringify(res.body).replaceAll(qrId, '<id>')).toBe(JSON.stringify(absent.body).replaceAll('00000000-0000-4000-8000-0000000000aa', '<id>'));
    expect(decisionOn(await decisionsOf(t, `${who}-noor`), `QuestionnaireResponse/${qrId}`)?.effect).toBe('deny');
  });

  it('a revision 2 replaces it: one record, version 2, read by early help', async () => {
    const second = edited((doc) => {
      doc.assessment['revision'] = 2;
      doc.assessment['parentViews'] = 'Revision 2: early help have been in touch.';
    });
    expect((await post('hv', second)).status).toBe(200);
    const res = await get('earlyHelp', `QuestionnaireResponse/${qrId}`, 'eh-noor-2');
    expect((res.body as QuestionnaireResponse).meta?.versionId).toBe('2');
    expect(JSON.stringify((res.body as QuestionnaireResponse).item)).toContain('Revision 2: early help have been in touch.');
  });

  it('a copy without the child\'s date of birth is refused 422 naming the field, storing nothing', async () => {
    const rows = await countRows(t.database.db, 'resource_history');
    const res = await post('hv', edited((doc) => {
      doc.assessment['reference'] = 'HV-2026-00413';
      delete doc.assessment.child['dateOfBirth'];
    }));
    expect(res.status).toBe(422);
    expect(issues(res.body)[0]).toMatchObject({ severity: 'error', expression: ['assessment.child.dateOfBirth'] });
    expect(await countRows(t.database.db, 'resource_history')).toBe(rows);
  });

  it('early help cannot send it in the health visitors\' name', async () => {
    const res = await post('earlyHelp', edited((doc) => (doc.assessment['reference'] = 'HV-2026-00414')));
    expect(res.status).toBe(403);
  });
});
