import type { Resource } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction, rawRows, type Db } from '../../src/db/database.js';
import { writeVersions, type StoredResource } from '../../src/db/resource-queries.js';
import { seal } from '../../src/db/undisclosed.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { bookingConsent, child, mother, pregnancy } from '../support/decision-world.js';

// consent_open (whether some Consent that may permit is about a Patient, or
// about the mother a pregnancy episode carries them from) follows a Consent or
// an episode whose subjects change: the Patients it named before are
// recomputed without it, those it names now with it, whether the versions
// come one per transaction or together. Each case is checked against the
// facts recomputed from scratch (the migrations' backfill rule). On either
// engine.

let database: TestDatabase;
let db: Db;
const versions = new Map<string, number>();
let clock = Date.parse('2026-03-01T09:00:00Z');

beforeAll(async () => {
  database = await openTestDatabase();
  db = database.db;
});

afterAll(async () => {
  await database.close();
});

function stored(resource: Resource & { id?: string }): StoredResource {
  const id = resource.id ?? '';
  const key = `${resource.resourceType}/${id}`;
  const versionId = (versions.get(key) ?? 0) + 1;
  versions.set(key, versionId);
  clock += 1000;
  const lastUpdated = new Date(clock);
  return {
    type: resource.resourceType,
    id,
    versionId,
    lastUpdated,
    sourceOrg: 'R9M',
    content: seal({ ...resource, meta: { versionId: String(versionId), lastUpdated: lastUpdated.toISOString() } }),
  };
}

async function write(...resources: (Resource & { id?: string })[]): Promise<void> {
  await inTransaction(db, (tx) => writeVersions(tx, resources.map(stored)));
}

async function open(ids: readonly string[]): Promise<Record<string, boolean>> {
  const rows = await rawRows<{ patient_id: string; consent_open: boolean }>(
    db,
    sql`select patient_id, consent_open from subject_fact where patient_id in ${ids} order by patient_id`,
  );
  return Object.fromEntries(rows.map((r) => [r.patient_id, r.consent_open]));
}

/** consent_open as the facts say from scratch, for every Patient with a subject fact, where it differs from the stored one. */
async function drift(): Promise<unknown[]> {
  return rawRows(
    db,
    sql`select f.patient_id, f.consent_open from subject_fact f
      where f.consent_open <> (exists (select 1 from consent_fact c where c.patient_ref = 'Patient/' || f.patient_id and c.may_permit)
        or exists (select 1 from carry_fact k join consent_fact c on c.patient_ref = k.mother_ref and c.may_permit where k.baby_ref = 'Patient/' || f.patient_id))`,
  );
}

describe('consent_open', () => {
  it('leaves the Patients a Consent named before, and their carried babies, when it is rewritten about another Patient', async () => {
    await write(mother({ id: 'sf-m1' }), child({ id: 'sf-b1' }), mother({ id: 'sf-x1' }));
    await write(pregnancy({ id: 'sf-e1', motherId: 'sf-m1', baby: 'sf-b1', outcome: 'live-birth' }));
    await write({ ...bookingConsent({}, 'sf-m1'), id: 'sf-c1' });
    expect(await open(['sf-m1', 'sf-b1', 'sf-x1'])).toEqual({ 'sf-m1': true, 'sf-b1': true, 'sf-x1': false });

    await write({ ...bookingConsent({}, 'sf-x1'), id: 'sf-c1' });
    expect(await open(['sf-m1', 'sf-b1', 'sf-x1'])).toEqual({ 'sf-m1': false, 'sf-b1': false, 'sf-x1': true });
    expect(await drift()).toEqual([]);
  });

  it('keeps a Patient open through another Consent when one of two is rewritten away from them', async () => {
    await write(mother({ id: 'sf-m2' }), mother({ id: 'sf-x2' }));
    await write({ ...bookingConsent({}, 'sf-m2'), id: 'sf-c2a' }, { ...bookingConsent({}, 'sf-m2'), id: 'sf-c2b' });
    await write({ ...bookingConsent({}, 'sf-x2'), id: 'sf-c2a' });
    expect(await open(['sf-m2', 'sf-x2'])).toEqual({ 'sf-m2': true, 'sf-x2': true });
    expect(await drift()).toEqual([]);
  });

  it('closes the baby an episode carried to before, and opens the one it carries to now', async () => {
    await write(mother({ id: 'sf-m3' }), child({ id: 'sf-b3' }), child({ id: 'sf-y3' }));
    await write({ ...bookingConsent({}, 'sf-m3'), id: 'sf-c3' }, pregnancy({ id: 'sf-e3', motherId: 'sf-m3', baby: 'sf-b3', outcome: 'live-birth' }));
    expect(await open(['sf-m3', 'sf-b3', 'sf-y3'])).toEqual({ 'sf-m3': true, 'sf-b3': true, 'sf-y3': false });

    await write(pregnancy({ id: 'sf-e3', motherId: 'sf-m3', baby: 'sf-y3', outcome: 'live-birth' }));
    expect(await open(['sf-m3', 'sf-b3', 'sf-y3'])).toEqual({ 'sf-m3': true, 'sf-b3': false, 'sf-y3': true });
    expect(await drift()).toEqual([]);
  });

  it('keeps a baby open through a second episode when the first stops carrying to them', async () => {
    await write(mother({ id: 'sf-m4' }), child({ id: 'sf-b4' }), child({ id: 'sf-y4' }));
    await write(
      { ...bookingConsent({}, 'sf-m4'), id: 'sf-c4' },
      pregnancy({ id: 'sf-e4a', motherId: 'sf-m4', baby: 'sf-b4', outcome: 'live-birth' }),
      pregnancy({ id: 'sf-e4b', motherId: 'sf-m4', baby: 'sf-b4', outcome: 'live-birth' }),
    );
    await write(pregnancy({ id: 'sf-e4a', motherId: 'sf-m4', baby: 'sf-y4', outcome: 'live-birth' }));
    expect(await open(['sf-b4', 'sf-y4'])).toEqual({ 'sf-b4': true, 'sf-y4': true });
    expect(await drift()).toEqual([]);
  });

  it('follows a Consent withdrawn and its episode moved to another baby in one transaction', async () => {
    await write(mother({ id: 'sf-m5' }), child({ id: 'sf-b5' }), child({ id: 'sf-y5' }));
    await write({ ...bookingConsent({}, 'sf-m5'), id: 'sf-c5' }, pregnancy({ id: 'sf-e5', motherId: 'sf-m5', baby: 'sf-b5', outcome: 'live-birth' }));
    await write({ ...bookingConsent({ status: 'inactive' }, 'sf-m5'), id: 'sf-c5' }, pregnancy({ id: 'sf-e5', motherId: 'sf-m5', baby: 'sf-y5', outcome: 'live-birth' }));
    expect(await open(['sf-m5', 'sf-b5', 'sf-y5'])).toEqual({ 'sf-m5': false, 'sf-b5': false, 'sf-y5': false });
    // Given again, about the mother: the baby the episode carries to now opens with her.
    await write({ ...bookingConsent({}, 'sf-m5'), id: 'sf-c5' });
    expect(await open(['sf-m5', 'sf-b5', 'sf-y5'])).toEqual({ 'sf-m5': true, 'sf-b5': false, 'sf-y5': true });
    expect(await drift()).toEqual([]);
  });
});
