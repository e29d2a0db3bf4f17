import { and, eq } from 'drizzle-orm';
import { FOCUS_PARAM, OWNER_PARAM } from '../fhir/resource-types.js';
import type { Db, Tx } from './database.js';
import { readCurrentMany } from './disclosure-queries.js';
import type { StoredResource } from './resource-queries.js';
import { resourceReferences, resourceTokens } from './schema/index.js';

// The hub's follow-up Tasks, found by what they are about and who owns them.

export interface TaskFilter {
  focus?: string | undefined;
  subject?: string | undefined;
  owner?: string | undefined;
}

/** Current Task rows matching every given filter (at least one must be given). */
export async function findTasks(db: Db | Tx, filter: TaskFilter): Promise<StoredResource[]> {
  const sets: string[][] = [];
  const byReference = async (param: string, target: string): Promise<string[]> =>
    (
      await db
        .select({ id: resourceReferences.id })
        .from(resourceReferences)
        .where(and(eq(resourceReferences.type, 'Task'), eq(resourceReferences.param, param), eq(resourceReferences.target, target)))
    ).map((r) => r.id);
  if (filter.focus !== undefined) sets.push(await byReference(FOCUS_PARAM, filter.focus));
  if (filter.subject !== undefined) sets.push(await byReference('patient', filter.subject));
  if (filter.owner !== undefined) {
    const rows = await db
      .select({ id: resourceTokens.id })
      .from(resourceTokens)
      .where(and(eq(resourceTokens.type, 'Task'), eq(resourceTokens.param, OWNER_PARAM), eq(resourceTokens.value, filter.owner)));
    sets.push(rows.map((r) => r.id));
  }
  if (sets.length === 0) throw new Error('findTasks needs a filter');
  const [first = [], ...rest] = sets;
  const ids = first.filter((id) => rest.every((s) => s.includes(id)));
  return ids.length === 0 ? [] : readCurrentMany(db, 'Task', ids);
}

/** Current Task rows with these ids. */
export async function readTasks(db: Db | Tx, ids: readonly string[]): Promise<StoredResource[]> {
  return ids.length === 0 ? [] : readCurrentMany(db, 'Task', ids);
}

