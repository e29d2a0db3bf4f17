import type { CarePlan, Consent, OperationOutcome, QuestionnaireResponse } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClientKeyPair } from '../../src/auth/client-assertion.js';
import { inTransaction } from '../../src/db/database.js';
import { upsertClient, upsertOrganisation } from '../../src/db/registry-queries.js';
import { auditEventsFor, countRows, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { decisionOn, decisionsOf } from '../support/story.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// CAF typed once (issue 11, story step 12 on the repo's own synthetic export):
// the health visitors send their CAF-compliant assessment from their own
// system; early help receives it in full under caf-from-health-visiting and
// the mother's consent, recorded by the health visitors; no children's centre
// and no GP sees it. A later revision replaces it; an older one never does.
// Who may send it is the protocol's `sources`, and the sender is the client.

const CAF_ASSESSMENT = 'https://eastside.example/fhir/Id/caf-assessment';
const REVISION = 'https://eastside.example/fhir/CodeSystem/source-revision';
const flow = (id: string): string => `eastside-early-years-isp|4|${id}`;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const issues = (body: unknown) => (body as OperationOutcome).issue;

interface Export {
  organisation: string;
  assessment: {
    reference: string;
    revision: number;
    child: Record<string, unknown>;
    parentsCarers: { nhsNumber?: string }[];
    domains: Record<string, { element: string; needs?: string }[]>;
    consent: { shareWith: string[]; doNotShareWith: string[] };
  };
}
const fixture = async (name: string): Promise<Export> => JSON.parse(await readFixture(`caf/${name}.json`)) as Export;

let t: TestHub;
const tokens: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestHub();
  tokens['hv'] = await t.token('eastside-hv', 'direct-care');
  tokens['earlyHelp'] = await t.token('eastside-early-help', 'early-help');
  tokens['ocean'] = await t.token('ocean-cc', 'early-help');
  tokens['iod'] = await t.token('iod-cc', 'early-help');
  tokens['limehouse'] = await t.token('limehouse-gp', 'early-help');
  // A children's centre whose client was (wrongly) given the create scope: only the protocol's sources stop it.
  const pair = await generateClientKeyPair('ES384');
  t.keys.set('test-cc', pair);
  await inTransaction(t.database.db, async (tx) => {
    await upsertOrganisation(tx, { code: 'CC-TEST', system: 'urn:eastside:org', type: 'childrens-centre', name: "Test children's centre", catchment: ['E1'] });
    await upsertClient(tx, { id: 'test-cc', organisationCode: 'CC-TEST', scopes: ['system/*.cruds'], purposes: ['early-help'], jwks: { keys: [pair.publicJwk] } });
  });
  tokens['cc'] = await t.token('test-cc', 'early-help', 'system/*.cruds');
  tokens['gp'] = await t.token('test-a', 'direct-care');
});
afterAll(async () => {
  await t.close();
});

const postCaf = (who: string, body: unknown, requestId?: string) =>
  t.http
    .post('/ingest/caf')
    .set(bearer(tokens[who] ?? ''))
    .set('Content-Type', 'application/json')
    .set(requestId === undefined ? {} : { 'X-Request-Id': requestId })
    .send(typeof body === 'string' ? body : JSON.stringify(body));
const read = (who: string, path: string, requestId: string) => t.http.get(`/fhir/${path}`).set(bearer(tokens[who] ?? '')).set('X-Request-Id', requestId);
const search = async <T>(who: string, type: string, query: Record<string, string>, requestId: string): Promise<T[]> => {
  const res = await t.http.get(`/fhir/${type}`).query(query).set(bearer(tokens[who] ?? '')).set('X-Request-Id', requestId);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return ((res.body as { entry?: { resource: T; search?: { mode?: string } }[] }).entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource);
};
const assessment = async (reference: string): Promise<(QuestionnaireResponse & { id: string; meta: { versionId: string } })[]> =>
  (await storedResources<QuestionnaireResponse>(t.database.db, 'QuestionnaireResponse')).filter((q) => q.identifier?.value === reference);
/** What the hub answered a client for an id it never held, with that id taken out. */
const unknownAnswer = async (who: string, type: string): Promise<{ status: number; body: string }> => {
  const absent = '00000000-0000-4000-8000-00000000abcd';
  const res = await read(who, `${type}/${absent}`, `absent-${who}-${type}`);
  return { status: res.status, body: JSON.stringify(res.body).replaceAll(absent, '<id>') };
};

describe('story step 12: the health visitors send a CAF-compliant review; early help receives it typed once', () => {
  let qrId = '';
  let consentId = '';
  let planId = '';

  it('stores the review as the health visitors recorded it, with the mother\'s consent recorded by them', async () => {
    const res = await postCaf('hv', await readFixture('caf/hv-two-year-review.json'), 'hv-sends');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const stored = issues(res.body)[0]?.diagnostics ?? '';
    qrId = /QuestionnaireResponse\/([0-9a-f-]+)\/_history\/1/.exec(stored)?.[1] ?? '';
    consentId = /Consent\/([0-9a-f-]+)\/_history\/1/.exec(stored)?.[1] ?? '';
    planId = /CarePlan\/([0-9a-f-]+)\/_history\/1/.exec(stored)?.[1] ?? '';
    expect([qrId, consentId, planId].every((id) => id !== '')).toBe(true);

    const [consent] = (await storedResources<Consent>(t.database.db, 'Consent')).filter((c) => c.id === consentId);
    expect(consent).toMatchObject({ status: 'active', organization: [{ identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'R9H' } }] });
    expect(consent?.provision?.actor?.map((a) => a.reference.identifier?.value)).toEqual(['early-help']);
    expect(consent?.provision?.provision?.[0]).toMatchObject({ type: 'deny', actor: [{ reference: { identifier: { value: 'childrens-centre' } } }] });
    expect(consent?.sourceAttachment?.title).toMatch(/^I agree that this assessment may be shared with the council's early help service/);
  });

  it('early help (E09000999-EH) reads it in full, under caf-from-health-visiting and that consent', async () => {
    const [qr, ...more] = await search<QuestionnaireResponse>('earlyHelp', 'QuestionnaireResponse', { identifier: `${CAF_ASSESSMENT}|HV-TEST-0001` }, 'eh-search');
    expect(more).toEqual([]);
    expect(qr?.id).toBe(qrId);
    const decision = decisionOn(await decisionsOf(t, 'eh-search'), `QuestionnaireResponse/${qrId}`);
    expect(decision).toMatchObject({ effect: 'permit', code: 'flow', flow: flow('caf-from-health-visiting'), consent: `Consent/${consentId}/_history/1` });

    // In full (caf-full): every answer the health visitor typed, the identifier, the revision; nothing redacted.
    const own = (await assessment('HV-TEST-0001'))[0];
    expect(qr?.item).toEqual(own?.item);
    expect(qr?.identifier).toEqual({ system: CAF_ASSESSMENT, value: 'HV-TEST-0001' });
    expect(JSON.stringify(qr?.item)).toContain('Bright and curious.');
    expect(qr?.meta?.tag).toContainEqual(expect.objectContaining({ system: REVISION, code: '1' }));
    expect(qr?.meta?.security?.map((s) => s.code)).not.toContain('REDACTED');

    const planRead = await read('earlyHelp', `CarePlan/${planId}`, 'eh-plan');
    expect(planRead.status).toBe(200);
    expect((planRead.body as CarePlan).activity?.map((a) => a.detail?.description)).toEqual(['Refer to early help family support for the benefits claim', 'Review diet and weight']);
    expect(decisionOn(await decisionsOf(t, 'eh-plan'), `CarePlan/${planId}`)).toMatchObject({ effect: 'permit', flow: flow('caf-from-health-visiting') });
  });

  it.each([
    ['ocean', "Ocean Children's Centre, whose catchment holds the child"],
    ['iod', "Isle of Dogs Children's Centre"],
    ['limehouse', 'a GP practice (no flow takes a health visitor\'s CAF to a GP)'],
  ])('%s (%s) gets the same 404 as for an unknown id; the denial is in the audit log only', async (who) => {
    for (const [type, id] of [['QuestionnaireResponse', qrId], ['CarePlan', planId]] as const) {
      const requestId = `${who}-reads-${type}`;
      const res = await read(who, `${type}/${id}`, requestId);
      expect({ status: res.status, body: JSON.stringify(res.body).replaceAll(id, '<id>') }).toEqual(await unknownAnswer(who, type));
      const decision = decisionOn(await decisionsOf(t, requestId), `${type}/${id}`);
      expect(decision?.effect).toBe('deny');
      expect(decision?.outcome).not.toBe('0');
      expect(JSON.stringify(res.body)).not.toContain(decision?.code ?? 'no-flow');
    }
    expect(await search(who, 'QuestionnaireResponse', { identifier: `${CAF_ASSESSMENT}|HV-TEST-0001` }, `${who}-search`)).toEqual([]);
    expect(await search(who, 'CarePlan', { _lastUpdated: 'gt2000-01-01' }, `${who}-pull`)).toEqual([]);
  });

  it('a revision 2 replaces revision 1: one record, version 2, and early help reads the new content', async () => {
    const res = await postCaf('hv', await readFixture('caf/hv-two-year-review-revision-2.json'));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const held = await assessment('HV-TEST-0001');
    expect(held.map((q) => [q.id, q.meta.versionId])).toEqual([[qrId, '2']]);
    const plans = (await storedResources<CarePlan>(t.database.db, 'CarePlan')).filter((p) => p.identifier?.some((i) => i.value === 'HV-TEST-0001'));
    expect(plans.map((p) => [p.id, p.meta.versionId, p.activity?.length])).toEqual([[planId, '2', 3]]);

    const qr = await read('earlyHelp', `QuestionnaireResponse/${qrId}`, 'eh-reads-revision-2');
    expect(qr.status).toBe(200);
    expect((qr.body as QuestionnaireResponse).meta?.versionId).toBe('2');
    expect((qr.body as QuestionnaireResponse).meta?.tag).toContainEqual(expect.objectContaining({ system: REVISION, code: '2' }));
    expect(JSON.stringify((qr.body as QuestionnaireResponse).item)).toContain('25th centile');
    expect(JSON.stringify((qr.body as QuestionnaireResponse).item)).not.toContain('9th centile');
  });

  it('revision 1 sent again is recognised and changes nothing', async () => {
    const rows = await countRows(t.database.db, 'resource_history');
    const res = await postCaf('hv', await readFixture('caf/hv-two-year-review.json'));
    expect(res.status).toBe(200);
    expect(issues(res.body)[0]?.code).toBe('duplicate');
    expect(await countRows(t.database.db, 'resource_history')).toBe(rows);
    expect((await assessment('HV-TEST-0001'))[0]?.meta.versionId).toBe('2');
  });
});

describe('an older revision than the one held is refused (409) and overwrites nothing', () => {
  it('revision 2 arrives before revision 1: revision 1 is refused naming assessment.revision', async () => {
    const second = await fixture('hv-two-year-review-revision-2');
    second.assessment.reference = 'HV-TEST-0002';
    expect((await postCaf('hv', second)).status).toBe(200);
    const first = await fixture('hv-two-year-review');
    first.assessment.reference = 'HV-TEST-0002';
    const rows = await countRows(t.database.db, 'resource_history');
    const receipts = await countRows(t.database.db, 'message_receipt');

    const res = await postCaf('hv', first, 'stale-revision');
    expect(res.status).toBe(409);
    expect(issues(res.body)).toEqual([
      expect.objectContaining({ severity: 'error', code: 'conflict', expression: ['assessment.revision'], diagnostics: expect.stringMatching(/revision 1 is older than revision 2/) }),
    ]);
    expect(await countRows(t.database.db, 'resource_history')).toBe(rows);
    // The receipt is not kept either: nothing of the stale message stays.
    expect(await countRows(t.database.db, 'message_receipt')).toBe(receipts);
    const [held] = await assessment('HV-TEST-0002');
    expect(held?.meta.tag).toContainEqual(expect.objectContaining({ code: '2' }));
    expect(JSON.stringify(held?.item)).toContain('25th centile');
    const [event] = await auditEventsFor(t.database.db, 'stale-revision');
    expect(event?.outcomeDesc).toMatch(/older than revision 2/);
  });
});

describe('who may send a health visitors\' CAF', () => {
  const nothingStored = async (send: () => Promise<{ status: number; body: unknown }>, status: number, pattern: RegExp) => {
    const before = { rows: await countRows(t.database.db, 'resource_history'), receipts: await countRows(t.database.db, 'message_receipt') };
    const res = await send();
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(issues(res.body)[0]?.diagnostics).toMatch(pattern);
    expect({ rows: await countRows(t.database.db, 'resource_history'), receipts: await countRows(t.database.db, 'message_receipt') }).toEqual(before);
  };

  it('a children\'s centre is no source of assessments: refused 403 by the protocol\'s sources, even with the create scope', async () => {
    const doc = await fixture('hv-two-year-review');
    doc.organisation = 'CC-TEST';
    doc.assessment.reference = 'CC-TEST-0001';
    await nothingStored(() => postCaf('cc', doc), 403, /early-help-assessment message, which only early-help or health-visiting may send .* a childrens-centre organisation/);
    // The demo centres' clients have no create scope at all.
    await nothingStored(() => postCaf('ocean', { ...doc, organisation: 'CC-OCEAN' }), 403, /no scope allowing c on QuestionnaireResponse/);
  });

  it('a GP practice is no source either', async () => {
    const doc = await fixture('hv-two-year-review');
    doc.organisation = 'TEST-A';
    doc.assessment.reference = 'GP-TEST-0001';
    await nothingStored(() => postCaf('gp', doc), 403, /only early-help or health-visiting may send .* a gp organisation/);
    await nothingStored(() => postCaf('limehouse', { ...doc, organisation: 'Y90001' }), 403, /no scope allowing c on QuestionnaireResponse/);
  });

  it('early help cannot send a CAF in the health visitors\' name (R9H)', async () => {
    const doc = await fixture('hv-two-year-review');
    doc.assessment.reference = 'HV-TEST-FORGED';
    await nothingStored(() => postCaf('earlyHelp', doc), 403, /says it was sent by R9H, but the client eastside-early-help acts for E09000999-EH/);
  });
});

describe('the health visitors\' consent counts only for the flow that takes consent from them', () => {
  // Another child: the health visitors record a consent naming every agency; early help, assessing
  // the same child, records one naming the health visitors only.
  const CHILD = '9990081034';
  let ehQr = '';
  let hvQr = '';
  let hvConsent = '';

  beforeAll(async () => {
    const hv = await fixture('hv-two-year-review');
    hv.assessment.reference = 'HV-TEST-0003';
    hv.assessment.child['nhsNumber'] = CHILD;
    hv.assessment.parentsCarers = [];
    hv.assessment.consent = { ...hv.assessment.consent, shareWith: ['early-help', 'childrens-centre', 'gp'], doNotShareWith: [] };
    (hv.assessment.consent as Record<string, unknown>)['givenBy'] = { name: 'A parent' };
    const sent = await postCaf('hv', hv);
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    hvQr = /QuestionnaireResponse\/([0-9a-f-]+)/.exec(issues(sent.body)[0]?.diagnostics ?? '')?.[1] ?? '';
    hvConsent = /Consent\/([0-9a-f-]+)/.exec(issues(sent.body)[0]?.diagnostics ?? '')?.[1] ?? '';

    const eh = await fixture('born-three-agencies');
    eh.assessment.reference = 'EH-TEST-0003';
    eh.assessment.child['nhsNumber'] = CHILD;
    eh.assessment.child['address'] = { lines: ['1 Fixture Row'], town: 'London', postcode: 'E1 3AA' };
    eh.assessment.consent = { ...eh.assessment.consent, shareWith: ['health-visiting'], doNotShareWith: [] };
    const own = await postCaf('earlyHelp', eh);
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    ehQr = /QuestionnaireResponse\/([0-9a-f-]+)/.exec(issues(own.body)[0]?.diagnostics ?? '')?.[1] ?? '';
  });

  it.each([
    ['ocean', 'caf-to-childrens-centre'],
    ['limehouse', 'caf-to-health'],
  ])('%s cannot read early help\'s CAF on the strength of the health visitors\' consent (%s takes consent recorded by early help)', async (who, flowId) => {
    const requestId = `${who}-reads-eh-caf`;
    const res = await read(who, `QuestionnaireResponse/${ehQr}`, requestId);
    expect({ status: res.status, body: JSON.stringify(res.body).replaceAll(ehQr, '<id>') }).toEqual(await unknownAnswer(who, 'QuestionnaireResponse'));
    const decision = decisionOn(await decisionsOf(t, requestId), `QuestionnaireResponse/${ehQr}`);
    expect(decision).toMatchObject({ effect: 'deny', code: 'no-consent', flow: flow(flowId) });
    expect(JSON.stringify(decision?.event)).toContain(`Consent/${hvConsent}/_history/1 ignored: recorded by health-visiting`);
  });

  it('and no flow carries the health visitors\' CAF itself to a children\'s centre, whatever the consent says', async () => {
    const res = await read('ocean', `QuestionnaireResponse/${hvQr}`, 'ocean-reads-hv-caf');
    expect(res.status).toBe(404);
    expect(decisionOn(await decisionsOf(t, 'ocean-reads-hv-caf'), `QuestionnaireResponse/${hvQr}`)).toMatchObject({ effect: 'deny', code: 'no-flow' });
  });
});

describe('the same kind of review as a QuestionnaireResponse answering the hub\'s CAF Questionnaire', () => {
  type Obj = Record<string, unknown>;
  const response = async (reference: string): Promise<Obj & { item: Obj[]; contained: Obj[] }> => {
    const qr = JSON.parse(await readFixture('caf/hv-two-year-review-response.json')) as Obj & { item: Obj[]; contained: Obj[] };
    qr['identifier'] = { system: CAF_ASSESSMENT, value: reference };
    return qr;
  };
  const postResponse = (who: string, body: unknown, requestId?: string) =>
    t.http
      .post('/ingest/caf')
      .set(bearer(tokens[who] ?? ''))
      .set('Content-Type', 'application/fhir+json')
      .set(requestId === undefined ? {} : { 'X-Request-Id': requestId })
      .send(JSON.stringify(body));

  it('is stored like the JSON shape and reaches early help in full, and no children\'s centre', async () => {
    const res = await postResponse('hv', await response('HV-TEST-0010'));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const qrId = /QuestionnaireResponse\/([0-9a-f-]+)\/_history\/1/.exec(issues(res.body)[0]?.diagnostics ?? '')?.[1] ?? '';
    const consentId = /Consent\/([0-9a-f-]+)\/_history\/1/.exec(issues(res.body)[0]?.diagnostics ?? '')?.[1] ?? '';
    const [consent] = (await storedResources<Consent>(t.database.db, 'Consent')).filter((c) => c.id === consentId);
    expect(consent).toMatchObject({ identifier: [{ value: 'HV-TEST-0010' }], status: 'active', organization: [{ identifier: { value: 'R9H' } }] });

    const [qr] = await search<QuestionnaireResponse>('earlyHelp', 'QuestionnaireResponse', { identifier: `${CAF_ASSESSMENT}|HV-TEST-0010` }, 'eh-search-response');
    expect(qr?.id).toBe(qrId);
    expect(JSON.stringify(qr?.item)).toContain('Bright and curious.');
    expect(decisionOn(await decisionsOf(t, 'eh-search-response'), `QuestionnaireResponse/${qrId}`)).toMatchObject({ effect: 'permit', flow: flow('caf-from-health-visiting') });
    const centre = await read('ocean', `QuestionnaireResponse/${qrId}`, 'ocean-reads-response');
    expect({ status: centre.status, body: JSON.stringify(centre.body).replaceAll(qrId, '<id>') }).toEqual(await unknownAnswer('ocean', 'QuestionnaireResponse'));
  });

  it('the revision already received in the JSON shape is the same message: nothing changes', async () => {
    const rows = await countRows(t.database.db, 'resource_history');
    const res = await postResponse('hv', await response('HV-TEST-0001'));
    expect(res.status).toBe(200);
    expect(issues(res.body)[0]?.code).toBe('duplicate');
    expect(await countRows(t.database.db, 'resource_history')).toBe(rows);
  });

  it.each<[string, (qr: Obj & { item: Obj[]; contained: Obj[] }) => void, string]>([
    ['an unknown linkId', (qr) => qr.item.push({ linkId: 'favourite-colour', answer: [{ valueString: 'blue' }] }), 'QuestionnaireResponse.item[12].linkId'],
    ['a child without a date of birth', (qr) => delete qr.contained[0]!['birthDate'], 'QuestionnaireResponse.contained[0].birthDate'],
  ])('with %s is refused 422 naming the item, storing nothing', async (_name, edit, expression) => {
    const qr = await response('HV-TEST-0011');
    edit(qr);
    const before = { rows: await countRows(t.database.db, 'resource_history'), receipts: await countRows(t.database.db, 'message_receipt') };
    const res = await postResponse('hv', qr);
    expect(res.status).toBe(422);
    expect(issues(res.body)).toContainEqual(expect.objectContaining({ severity: 'error', expression: [expression] }));
    expect({ rows: await countRows(t.database.db, 'resource_history'), receipts: await countRows(t.database.db, 'message_receipt') }).toEqual(before);
  });

  it('early help cannot send one whose assessor\'s organisation is the health visitors\'', async () => {
    const rows = await countRows(t.database.db, 'resource_history');
    const res = await postResponse('earlyHelp', await response('HV-TEST-0012'));
    expect(res.status).toBe(403);
    expect(issues(res.body)[0]?.diagnostics).toMatch(/says it was sent by R9H/);
    expect(await countRows(t.database.db, 'resource_history')).toBe(rows);
  });
});

describe('bad input from the health visitors', () => {
  it('a CAF whose child has no date of birth is refused 422 naming the field, storing nothing', async () => {
    const doc = await fixture('hv-two-year-review');
    doc.assessment.reference = 'HV-TEST-NODOB';
    delete doc.assessment.child['dateOfBirth'];
    const rows = await countRows(t.database.db, 'resource_history');
    const res = await postCaf('hv', doc);
    expect(res.status).toBe(422);
    expect(issues(res.body)).toEqual([expect.objectContaining({ severity: 'error', code: 'required', expression: ['assessment.child.dateOfBirth'] })]);
    expect(await countRows(t.database.db, 'resource_history')).toBe(rows);
  });
});
