import type { Patient, Resource } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import { inTransaction, type Db } from '../../src/db/database.js';
import type { StoredResource } from '../../src/db/resource-queries.js';
import { contentForRules, seal } from '../../src/db/undisclosed.js';
import { resourceHistory, resourceReferences, resources, resourceTokens, subjectFacts } from '../../src/db/schema/index.js';
import { patientFacts } from '../../src/decision/search-narrowing.js';
import { indexValues } from '../../src/fhir/resource-types.js';
import { nhsNumbers, seededRandom, syntheticChild } from './synthetic.js';

// Realistic volume before measuring (BENCH.md rule 4): small warm datasets
// flatter every read. Rows are written as writeVersion writes a first version
// (current row, history row, search index rows) but many rows per statement,
// because a hundred thousand single-row transactions would take minutes.

const BATCH = 1_000;
const YEAR_MS = 365 * 86_400_000;

export interface PreloadPlan {
  count: number;
  sourceOrg: string;
  now: Date;
  signal: AbortSignal;
  log: (line: string) => void;
}

/** Loads count synthetic children and returns their ids. */
export async function preloadChildren(db: Db, plan: PreloadPlan): Promise<string[]> {
  const random = seededRandom(20_261_122);
  const numbers = nhsNumbers();
  const ids: string[] = [];
  const started = Date.now();
  for (let first = 0; first < plan.count; first += BATCH) {
    plan.signal.throwIfAborted();
    const rows: StoredResource[] = [];
    for (let n = first; n < Math.min(first + BATCH, plan.count); n += 1) {
      const nhs = numbers.next();
      if (nhs.done === true) throw new Error('ran out of 999-range NHS numbers');
      const id = randomUUID();
      // Spread over the past year so that the lastUpdated index has a realistic shape.
      const lastUpdated = new Date(plan.now.getTime() - Math.floor(random() * YEAR_MS));
      const content = {
        ...syntheticChild(n, nhs.value, random, plan.now),
        id,
        meta: { versionId: '1', lastUpdated: lastUpdated.toISOString() },
      } as Resource;
      rows.push({ type: 'Patient', id, versionId: 1, lastUpdated, sourceOrg: plan.sourceOrg, content: seal(content) });
      ids.push(id);
    }
    await insertFirstVersions(db, rows);
    if ((first + BATCH) % 20_000 === 0) plan.log(`  preloaded ${first + BATCH} children (${Math.round((Date.now() - started) / 1000)} s)`);
  }
  return ids;
}

async function insertFirstVersions(db: Db, rows: StoredResource[]): Promise<void> {
  const index = rows.map((row) => ({ row, values: indexValues(contentForRules(row.content)) }));
  const tokens = index.flatMap(({ row, values }) => values.tokens.map((t) => ({ type: row.type, id: row.id, ...t })));
  const references = index.flatMap(({ row, values }) => values.references.map((r) => ({ type: row.type, id: row.id, ...r })));
  await inTransaction(db, async (tx) => {
    await tx.insert(resources).values(rows.map((r) => ({ ...r, sourceOrgs: [r.sourceOrg] })));
    await tx.insert(resourceHistory).values(rows);
    if (tokens.length > 0) await tx.insert(resourceTokens).values(tokens);
    if (references.length > 0) await tx.insert(resourceReferences).values(references);
    // The subject facts writeVersion keeps; these children have no consents yet.
    const patients = rows.filter((r) => r.type === 'Patient');
    if (patients.length > 0) {
      await tx
        .insert(subjectFacts)
        .values(patients.map((r) => ({ patientId: r.id, lastUpdated: r.lastUpdated, ...patientFacts(contentForRules(r.content) as Patient), consentOpen: false, sourceOrgs: [r.sourceOrg] })));
    }
  });
}
