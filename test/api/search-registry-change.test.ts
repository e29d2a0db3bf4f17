import type { Bundle } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertOrganisation } from '../../src/db/registry-queries.js';
import { demoOrganisations } from '../../src/demo/world.js';
import { bookFixtureMother } from '../support/booking.js';
import { recordStatements } from '../support/statement-log.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// A search reads the registry in the same statement as its first batch,
// narrowed by the registry as this process last read it (search-service.ts
// readBatch). A registry change must still apply to the very next search: a
// centre whose catchment now takes in a family finds it at once, and one whose
// catchment no longer does stops finding it at once. The fixture mother lives
// in E1 0AA, Ocean's catchment, not the Isle of Dogs's (E14), and consents to
// children's centres.

let t: TestHub;
let mother: string;
const iod = demoOrganisations.find((o) => o.code === 'CC-IOD');

beforeAll(async () => {
  t = await startTestHub();
  ({ mother } = await bookFixtureMother(t));
});

afterAll(async () => {
  await t.close();
});

async function pull(): Promise<{ ids: string[]; batchReads: number }> {
  const log = recordStatements(t.database);
  try {
    const res = await t.http.get('/fhir/Patient').set('authorization', `Bearer ${await t.token('iod-cc', 'early-years-registration')}`);
    expect(res.status).toBe(200);
    const ids = ((res.body as Bundle).entry ?? []).map((e) => e.resource?.id ?? '');
    // Each batch is one statement that reads candidates from the resource table with their facts.
    return { ids, batchReads: log.statements().filter((s) => /^with cand as/.test(s)).length };
  } finally {
    log.stop();
  }
}

async function catchment(districts: string[]): Promise<void> {
  if (iod === undefined) throw new Error('no demo organisation CC-IOD');
  await upsertOrganisation(t.database.db, { ...iod, catchment: districts });
}

describe('a search after the registry changes', () => {
  it('narrows by the registry read in the same request, reading the batch again only when the registry changed', async () => {
    const before = await pull();
    expect(before.ids).not.toContain(mother);

    await catchment(['E14', 'E1']);
    const widened = await pull();
    expect(widened.ids).toContain(mother);
    // Narrowed first by the catchment last read (E14 alone), then again by the one read with that batch.
    expect(widened.batchReads).toBe(2);

    const again = await pull();
    expect(again.ids).toContain(mother);
    expect(again.batchReads).toBe(1);

    await catchment(['E14']);
    const narrowed = await pull();
    expect(narrowed.ids).not.toContain(mother);
    expect(narrowed.batchReads).toBe(2);
  });
});
