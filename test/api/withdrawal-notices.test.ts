import type { Bundle, Communication, Consent, OperationOutcome, QuestionnaireResponse } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRows } from '../../src/db/database.js';
import { decisionCode, decisionEventsFor, restEventsFor, storedResources } from '../support/audit.js';
import { readFixture } from '../support/golden.js';
import { withSuperuser } from '../support/tamper.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Withdrawal notices (issue 5): withdrawing a consent sends one Communication
// to each organisation that received data under it, in the transaction of
// the withdrawal, readable by that organisation alone. The CAF fixture's
// family consents to health visiting, GPs and children's centres for early help.

const NOTICE_TYPE = 'https://eastside.example/fhir/CodeSystem/notice-type';
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const json = { 'Content-Type': 'application/fhir+json' };
const entries = <T>(body: unknown): T[] => ((body as Bundle).entry ?? []).map((e) => e.resource as T);
const recipientOf = (c: Communication): string | undefined => c.recipient?.[0]?.identifier?.value;
const notices = async (t: TestHub): Promise<Communication[]> => storedResources<Communication>(t.database.db, 'Communication');

async function sendCaf(t: TestHub, body: string): Promise<void> {
  const res = await t.http.post('/ingest/caf').set(bearer(await t.token('eastside-early-help', 'early-help'))).set('Content-Type', 'application/json').send(body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

/** The consent's writer changes its status through the API. */
async function setStatus(t: TestHub, client: string, purpose: string, consentId: string, status: Consent['status'], requestId: string): Promise<number> {
  const token = await t.token(client, purpose);
  const current = (await t.http.get(`/fhir/Consent/${consentId}`).set(bearer(token))).body as Consent;
  const res = await t.http.put(`/fhir/Consent/${consentId}`).set(bearer(token)).set(json).set('X-Request-Id', requestId).send(JSON.stringify({ ...current, status }));
  return res.status;
}

describe('withdrawing a consent through the API', () => {
  let t: TestHub;
  let consent: Consent & { id: string };
  let child: string;
  let qr: string;

  beforeAll(async () => {
    t = await startTestHub();
    await sendCaf(t, await readFixture('caf/born-three-agencies.json'));
    [consent] = (await storedResources<Consent>(t.database.db, 'Consent')) as [Consent & { id: string }];
    child = consent.patient?.reference ?? '';
    qr = (await storedResources<QuestionnaireResponse>(t.database.db, 'QuestionnaireResponse'))[0]?.id ?? '';

    // Two organisations receive the assessment under the family's consent; a third is refused.
    for (const client of ['eastside-hv', 'ocean-cc']) {
      const res = await t.http.get('/fhir/QuestionnaireResponse').query({ subject: child }).set(bearer(await t.token(client, 'early-help')));
      expect(entries(res.body).map((r) => (r as QuestionnaireResponse).id), client).toEqual([qr]);
    }
    const refused = await t.http.get(`/fhir/QuestionnaireResponse/${qr}`).set(bearer(await t.token('iod-cc', 'early-years-registration')));
    expect(refused.status).toBe(404);
    expect(await notices(t)).toEqual([]);
  });
  afterAll(async () => {
    await t.close();
  });

  it('sends exactly one notice to each organisation that received data under it, none to the refused one or the writer', async () => {
    expect(await setStatus(t, 'eastside-early-help', 'early-help', consent.id, 'inactive', 'withdraw-caf')).toBe(200);
    const sent = await notices(t);
    expect(sent.map(recipientOf).sort()).toEqual(['CC-OCEAN', 'R9H']);
    for (const notice of sent) {
      expect(notice).toMatchObject({
        status: 'completed',
        priority: 'urgent',
        category: [{ coding: [{ system: NOTICE_TYPE, code: 'consent-withdrawn' }] }],
        subject: { reference: child },
        sender: { display: 'Early Years Sharing Hub', identifier: { value: 'EYHUB' } },
      });
      expect(notice.about?.map((a) => a.reference)).toEqual([`Consent/${consent.id}/_history/2`, `QuestionnaireResponse/${qr}/_history/1`]);
      const text = notice.payload?.[0]?.contentString ?? '';
      expect(text).toContain(`Consent/${consent.id}/_history/2`);
      expect(text).toContain('was withdrawn on');
      expect(text).toContain('P6Y');
      expect(text).toContain('Eastside Early Years Information Sharing Protocol version 4');
    }
    const byRecipient = new Map(sent.map((n) => [recipientOf(n), n]));
    expect(byRecipient.get('R9H')?.payload?.[0]?.contentString).toMatch(/flow caf-to-health of/);
    expect(byRecipient.get('CC-OCEAN')?.payload?.[0]?.contentString).toMatch(/flow caf-to-childrens-centre of/);
    expect(byRecipient.get('CC-OCEAN')?.recipient?.[0]).toMatchObject({ identifier: { system: 'urn:eastside:org', value: 'CC-OCEAN' }, display: "Ocean Children's Centre" });

    // One AuditEvent of the withdrawal request names the notices it created.
    const created = (await restEventsFor(t.database.db, 'withdraw-caf')).filter((e) => e.subtype?.some((s) => s.code === 'create'));
    expect(created).toHaveLength(1);
    expect(created[0]?.entity?.filter((e) => e.role?.code === '4').map((e) => e.what?.reference).sort()).toEqual(
      sent.map((n) => `Communication/${n.id ?? ''}/_history/1`).sort(),
    );
  });

  it('lets each recipient read its own notice, audited as addressed, and no one else', async () => {
    const sent = await notices(t);
    const mine = (code: string): Communication => sent.find((n) => recipientOf(n) === code) as Communication;
    for (const [client, purpose, code, other] of [
      ['eastside-hv', 'direct-care', 'R9H', 'CC-OCEAN'],
      ['ocean-cc', 'early-years-registration', 'CC-OCEAN', 'R9H'],
    ] as const) {
      const token = await t.token(client, purpose);
      const search = await t.http.get('/fhir/Communication').set(bearer(token)).set('X-Request-Id', `notices-${client}`);
      expect(search.status).toBe(200);
      expect(entries<Communication>(search.body)).toEqual([mine(code)]);
      const decisions = await decisionEventsFor(t.database.db, `notices-${client}`);
      expect(decisions.map(decisionCode)).toEqual(['addressed']);
      expect((await t.http.get(`/fhir/Communication/${mine(code).id ?? ''}`).set(bearer(token))).status).toBe(200);
      expect((await t.http.get(`/fhir/Communication/${mine(other).id ?? ''}`).set(bearer(token))).status).toBe(404);
    }
    for (const [client, purpose] of [['iod-cc', 'early-help'], ['eastside-early-help', 'early-help'], ['limehouse-gp', 'direct-care'], ['test-a', 'direct-care']] as const) {
      const token = await t.token(client, purpose);
      expect(entries((await t.http.get('/fhir/Communication').set(bearer(token))).body), client).toEqual([]);
      expect((await t.http.get(`/fhir/Communication/${sent[0]?.id ?? ''}`).set(bearer(token))).status, client).toBe(404);
    }
    // Nobody changes a notice: only a writer may update, and the hub wrote it.
    const stranger = await t.token('test-a', 'direct-care');
    const notice = mine('CC-OCEAN');
    expect((await t.http.put(`/fhir/Communication/${notice.id ?? ''}`).set(bearer(stranger)).set(json).send(JSON.stringify(notice))).status).toBe(404);
  });

  it('sends again on each later withdrawal (made active, then withdrawn again)', async () => {
    expect(await setStatus(t, 'eastside-early-help', 'early-help', consent.id, 'active', 'reactivate-caf')).toBe(200);
    expect(await notices(t)).toHaveLength(2);
    expect(await setStatus(t, 'eastside-early-help', 'early-help', consent.id, 'inactive', 'withdraw-caf-again')).toBe(200);
    const again = (await notices(t)).filter((n) => n.about?.[0]?.reference === `Consent/${consent.id}/_history/4`);
    expect(again.map(recipientOf).sort()).toEqual(['CC-OCEAN', 'R9H']);
  });
});

describe('withdrawal through ingest, with nothing disclosed, and when a notice cannot be stored', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t.close();
  });

  it('a consent no one received data under is withdrawn with no notice', async () => {
    const res = await t.http
      .post('/fhir/$process-message')
      .set(bearer(await t.token('northgate-maternity', 'direct-care')))
      .set(json)
      .send(await readFixture('fhir-message/pregnancy-notification.json'));
    expect(res.status).toBe(200);
    const consentId = /Consent\/([0-9a-f-]{36})/.exec(String((res.body as OperationOutcome).issue[0]?.diagnostics))?.[1] ?? '';
    expect(await setStatus(t, 'northgate-maternity', 'direct-care', consentId, 'inactive', 'withdraw-unused')).toBe(200);
    expect(await notices(t)).toEqual([]);
    expect((await restEventsFor(t.database.db, 'withdraw-unused')).map((e) => e.subtype?.[0]?.code)).toEqual(['update']);
  });

  it('a CAF re-sent without consent notifies the organisations that received the assessment', async () => {
    const original = await readFixture('caf/born-three-agencies.json');
    await sendCaf(t, original);
    const child = (await storedResources<QuestionnaireResponse>(t.database.db, 'QuestionnaireResponse'))[0]?.subject?.reference ?? '';
    const hv = await t.http.get('/fhir/QuestionnaireResponse').query({ subject: child }).set(bearer(await t.token('eastside-hv', 'early-help')));
    expect(entries(hv.body)).toHaveLength(1);

    const revised = JSON.parse(original) as { assessment: { revision: number; consent: Record<string, unknown> } };
    revised.assessment.revision = 2;
    revised.assessment.consent = { given: false, date: '2026-11-02', shareWith: [], doNotShareWith: [] };
    await sendCaf(t, JSON.stringify(revised));
    const consent = (await storedResources<Consent>(t.database.db, 'Consent')).find((c) => c.patient?.reference === child);
    expect(consent?.status).toBe('rejected');
    const [notice, ...more] = await notices(t);
    expect(more).toEqual([]);
    expect(recipientOf(notice as Communication)).toBe('R9H');
    expect(notice?.about?.[0]?.reference).toBe(`Consent/${consent?.id ?? ''}/_history/2`);
    expect(notice?.payload?.[0]?.contentString).toContain('was refused on');
  });

  it('rolls the withdrawal back when its notices cannot be stored, and sends them with the next one', async () => {
    const consentId = (await storedResources<Consent>(t.database.db, 'Consent')).find((c) => c.status === 'inactive')?.id ?? '';
    expect(await setStatus(t, 'northgate-maternity', 'direct-care', consentId, 'active', 'reactivate-booking')).toBe(200);
    const ocean = await t.http.get('/fhir/Patient').set(bearer(await t.token('ocean-cc', 'early-years-registration')));
    expect(entries(ocean.body)).toHaveLength(1);
    const before = (await notices(t)).length;

    // A store that refuses notices, made as the tables' owner could (the hub's own role may not add triggers).
    await withSuperuser(t.database, async (db) => {
      await rawRows(db, sql.raw(`create function refuse_notice() returns trigger language plpgsql as $$
        begin if new.type = 'Communication' then raise exception 'notice store refused'; end if; return new; end $$`));
      await rawRows(db, sql.raw('create trigger refuse_notice before insert on resource for each row execute function refuse_notice()'));
    });
    try {
      expect(await setStatus(t, 'northgate-maternity', 'direct-care', consentId, 'inactive', 'withdraw-refused')).toBe(500);
    } finally {
      await withSuperuser(t.database, (db) => rawRows(db, sql.raw('drop trigger refuse_notice on resource')));
    }
    const kept = (await storedResources<Consent>(t.database.db, 'Consent')).find((c) => c.id === consentId);
    expect(kept).toMatchObject({ status: 'active', meta: { versionId: '3' } });
    expect(await notices(t)).toHaveLength(before);

    expect(await setStatus(t, 'northgate-maternity', 'direct-care', consentId, 'inactive', 'withdraw-booking')).toBe(200);
    const sent = (await notices(t)).filter((n) => n.about?.[0]?.reference === `Consent/${consentId}/_history/4`);
    expect(sent.map(recipientOf)).toEqual(['CC-OCEAN']);
    expect(sent[0]?.payload?.[0]?.contentString).toMatch(/flow booking-to-childrens-centre of/);
  });
});
