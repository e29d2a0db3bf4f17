import type { FhirResource, Identifier } from 'fhir/r4.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOfCsv } from '../../bench/support/history-preload.js';
import { storedResources } from '../support/audit.js';
import { loadedTestProtocols } from '../support/protocols.js';
import { storyClock } from '../support/story.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// The follow-up job benchmark writes its children straight into the tables
// (bench/support/history-preload.ts). Its figures mean something only if
// those rows are what `POST /ingest/immunisations-csv?history=complete`
// stores: the same file through both must give the same Patients,
// Immunizations and complete-history Lists, up to ids and timestamps.

const HISTORY = path.resolve(import.meta.dirname, '../fixtures/csv/immunisation-history.csv');
const SENT_AT = '2026-11-22T09:00:00.000Z';

let t: TestHub;
beforeAll(async () => {
  t = await startTestHub({ clock: storyClock(SENT_AT) });
});
afterAll(async () => {
  await t.close();
});

type Keyed = FhirResource & { id?: string; identifier?: Identifier[] };

/** Each resource under its first identifier, with references to the others written as their identifiers, ids and times left out. */
function byIdentifier(resources: readonly Keyed[]): Map<string, unknown> {
  const keys = new Map(resources.map((r) => [`${r.resourceType}/${r.id ?? ''}`, `${r.identifier?.[0]?.system ?? ''}|${r.identifier?.[0]?.value ?? ''}`]));
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (typeof value !== 'object' || value === null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'id' || k === 'meta' || (k === 'date' && typeof v === 'string' && v.includes('T'))) continue;
      out[k] = k === 'reference' && typeof v === 'string' ? (keys.get(v) ?? `unknown ${v}`) : rewrite(v);
      // A List's entries are in the order of the (random) ids they name.
      if (k === 'entry' && Array.isArray(out[k])) out[k] = (out[k] as unknown[]).map((e) => JSON.stringify(e)).sort();
    }
    return out;
  };
  return new Map(resources.map((r) => [keys.get(`${r.resourceType}/${r.id ?? ''}`) ?? '', rewrite(r)]));
}

describe('the follow-up benchmark preload', () => {
  it('stores what CSV ingest with history=complete stores', async () => {
    const text = readFileSync(HISTORY, 'utf8');
    const token = await t.token('limehouse-gp', 'direct-care');
    const res = await t.http.post('/ingest/immunisations-csv?history=complete').set('Authorization', `Bearer ${token}`).set('Content-Type', 'text/csv').send(text);
    expect(res.status).toBe(200);
    const preloaded = rowsOfCsv(text, { protocols: await loadedTestProtocols(), sentAt: new Date(SENT_AT) });
    const ingested: Keyed[] = [];
    for (const type of ['Patient', 'Immunization', 'List']) ingested.push(...(await storedResources<Keyed>(t.database.db, type)));
    const ours = preloaded.map((r) => r.content as Keyed);
    expect(ours.map((r) => r.resourceType).sort()).toEqual(ingested.map((r) => r.resourceType).sort());
    expect(ours.filter((r) => r.resourceType === 'List')).toHaveLength(3);
    const expected = byIdentifier(ingested);
    const actual = byIdentifier(ours);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, resource] of expected) expect(actual.get(key), key).toEqual(resource);
    // Every preloaded row carries a first version's meta, and the practice as its writer.
    for (const row of preloaded) {
      expect((row.content as Keyed).meta).toEqual({ versionId: '1', lastUpdated: SENT_AT });
      expect(row.sourceOrg).toBe('Y90001');
    }
  });
});
