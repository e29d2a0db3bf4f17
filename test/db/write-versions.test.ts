import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction, rawRows, type Db } from '../../src/db/database.js';
import { findByIdentifier, findByIdentifiers } from '../../src/db/ingest-queries.js';
import { writeVersions, type StoredResource } from '../../src/db/resource-queries.js';
import { seal } from '../../src/db/undisclosed.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';

// writeVersions writes every version given in one statement: a stored
// resource's update and the removal of its old index rows run in the same
// statement as the insert of its new ones, against the snapshot the statement
// began with. These tests hold what that must leave, on either engine: the
// index of the current version only, every version in the history, the
// writers appended once each, and lookups by identifier that find the current
// version and only a writer's own records when asked.

let database: TestDatabase;
let db: Db;

beforeAll(async () => {
  database = await openTestDatabase();
  db = database.db;
});

afterAll(async () => {
  await database.close();
});

const SYSTEM = 'https://example.org/test-record-id';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

function immunization(id: string, identifier: string, patient: string): Record<string, unknown> {
  return {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    identifier: [{ system: SYSTEM, value: identifier }],
    vaccineCode: { text: 'synthetic' },
    patient: { reference: `Patient/${patient}` },
    occurrenceDateTime: '2026-01-01',
  };
}

function version(type: string, id: string, versionId: number, sourceOrg: string, content: Record<string, unknown>, at: string): StoredResource {
  return { type, id, versionId, lastUpdated: new Date(at), sourceOrg, content: seal(content as never) };
}

async function indexOf(type: string, id: string): Promise<{ tokens: string[]; references: string[] }> {
  const tokens = await rawRows<{ t: string }>(db, sql`select param || '|' || system || '|' || value as t from resource_token where type = ${type} and id = ${id} order by 1`);
  const references = await rawRows<{ r: string }>(db, sql`select param || '|' || target as r from resource_reference where type = ${type} and id = ${id} order by 1`);
  return { tokens: tokens.map((t) => t.t), references: references.map((r) => r.r) };
}

describe('writeVersions', () => {
  it('replaces a stored resource’s index rows with its new version’s, in the same call as a new resource, and keeps every version', async () => {
    await inTransaction(db, (tx) => writeVersions(tx, [version('Immunization', 'wv-imm-1', 1, 'WV-A', immunization('wv-imm-1', 'old-id', 'wv-child-1'), '2026-01-01T10:00:00Z')]));
    expect(await indexOf('Immunization', 'wv-imm-1')).toEqual({ tokens: ['identifier|https://example.org/test-record-id|old-id'], references: ['patient|Patient/wv-child-1'] });

    // A new version of the first (another identifier, another subject) and a new resource, in one call.
    await inTransaction(db, (tx) =>
      writeVersions(tx, [
        version('Immunization', 'wv-imm-1', 2, 'WV-A', immunization('wv-imm-1', 'new-id', 'wv-child-2'), '2026-01-02T10:00:00Z'),
        version('Immunization', 'wv-imm-2', 1, 'WV-A', immunization('wv-imm-2', 'other-id', 'wv-child-1'), '2026-01-02T10:00:00Z'),
      ]),
    );
    expect(await indexOf('Immunization', 'wv-imm-1')).toEqual({ tokens: ['identifier|https://example.org/test-record-id|new-id'], references: ['patient|Patient/wv-child-2'] });
    expect(await indexOf('Immunization', 'wv-imm-2')).toEqual({ tokens: ['identifier|https://example.org/test-record-id|other-id'], references: ['patient|Patient/wv-child-1'] });

    const history = await rawRows<{ version_id: number; identifier: string }>(
      db,
      sql`select version_id, content->'identifier'->0->>'value' as identifier from resource_history where type = 'Immunization' and id = 'wv-imm-1' order by version_id`,
    );
    expect(history).toEqual([
      { version_id: 1, identifier: 'old-id' },
      { version_id: 2, identifier: 'new-id' },
    ]);
    const [current] = await rawRows<{ version_id: number; last_updated: Date | string }>(db, sql`select version_id, last_updated from resource where type = 'Immunization' and id = 'wv-imm-1'`);
    expect(current?.version_id).toBe(2);
    expect(new Date(current?.last_updated ?? 0).toISOString()).toBe('2026-01-02T10:00:00.000Z');

    // The old identifier finds nothing any more; the new one finds the current version.
    await inTransaction(db, async (tx) => {
      expect(await findByIdentifier(tx, 'Immunization', SYSTEM, 'old-id')).toBeUndefined();
      const found = await findByIdentifier(tx, 'Immunization', SYSTEM, 'new-id');
      expect(found?.id).toBe('wv-imm-1');
      expect(found?.versionId).toBe(2);
      expect(found?.lastUpdated).toBeInstanceOf(Date);
      expect(found?.lastUpdated.toISOString()).toBe('2026-01-02T10:00:00.000Z');
    });
  });

  it('appends each new writer once to a resource’s writers, and a lookup for a writer finds only what it has written', async () => {
    const patient = (given: string) => ({ resourceType: 'Patient', id: 'wv-pat-1', identifier: [{ system: NHS, value: '9990000018' }], name: [{ given: [given] }] });
    await inTransaction(db, (tx) => writeVersions(tx, [version('Patient', 'wv-pat-1', 1, 'WV-A', patient('One'), '2026-02-01T10:00:00Z')]));
    await inTransaction(db, (tx) => writeVersions(tx, [version('Patient', 'wv-pat-1', 2, 'WV-B', patient('Two'), '2026-02-02T10:00:00Z')]));
    await inTransaction(db, (tx) => writeVersions(tx, [version('Patient', 'wv-pat-1', 3, 'WV-A', patient('Three'), '2026-02-03T10:00:00Z')]));
    const [row] = await rawRows<{ source_org: string; source_orgs: string[] }>(db, sql`select source_org, source_orgs from resource where type = 'Patient' and id = 'wv-pat-1'`);
    expect(row).toEqual({ source_org: 'WV-A', source_orgs: ['WV-A', 'WV-B'] });
    // The subject facts copy the writers the version's write left (subject-fact-queries.ts).
    const [facts] = await rawRows<{ source_orgs: string[] }>(db, sql`select source_orgs from subject_fact where patient_id = 'wv-pat-1'`);
    expect(facts?.source_orgs).toEqual(['WV-A', 'WV-B']);

    await inTransaction(db, (tx) =>
      writeVersions(tx, [version('Immunization', 'wv-imm-3', 1, 'WV-B', immunization('wv-imm-3', 'shared-id', 'wv-pat-1'), '2026-02-04T10:00:00Z')]),
    );
    await inTransaction(db, async (tx) => {
      const [mine, theirs, anyone, nobody] = await findByIdentifiers(tx, [
        { type: 'Immunization', system: SYSTEM, value: 'shared-id', writtenBy: 'WV-B' },
        { type: 'Immunization', system: SYSTEM, value: 'shared-id', writtenBy: 'WV-A' },
        { type: 'Patient', system: NHS, value: '9990000018' },
        { type: 'Patient', system: NHS, value: '9990000026' },
      ]);
      expect(mine?.id).toBe('wv-imm-3');
      expect(theirs).toBeUndefined();
      expect(anyone?.id).toBe('wv-pat-1');
      expect(anyone?.versionId).toBe(3);
      expect(anyone?.sourceOrgs).toEqual(['WV-A', 'WV-B']);
      expect(nobody).toBeUndefined();
    });
  });

  it('writes nothing when one version of the call cannot be written', async () => {
    await inTransaction(db, (tx) => writeVersions(tx, [version('Immunization', 'wv-imm-4', 1, 'WV-A', immunization('wv-imm-4', 'kept-id', 'wv-child-1'), '2026-03-01T10:00:00Z')]));
    // A second version 1 of a stored resource breaks the primary key: the update of the other must not land either.
    await expect(
      inTransaction(db, (tx) =>
        writeVersions(tx, [
          version('Immunization', 'wv-imm-4', 2, 'WV-A', immunization('wv-imm-4', 'changed-id', 'wv-child-2'), '2026-03-02T10:00:00Z'),
          version('Immunization', 'wv-imm-1', 1, 'WV-A', immunization('wv-imm-1', 'clash-id', 'wv-child-1'), '2026-03-02T10:00:00Z'),
        ]),
      ),
    ).rejects.toThrow();
    expect(await indexOf('Immunization', 'wv-imm-4')).toEqual({ tokens: ['identifier|https://example.org/test-record-id|kept-id'], references: ['patient|Patient/wv-child-1'] });
    const versions = await rawRows<{ version_id: number }>(db, sql`select version_id from resource_history where type = 'Immunization' and id = 'wv-imm-4'`);
    expect(versions).toEqual([{ version_id: 1 }]);
  });
});
