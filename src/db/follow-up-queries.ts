import { and, eq, inArray, sql } from 'drizzle-orm';
import { FOCUS_PARAM, indexValues, OWNER_PARAM } from '../fhir/resource-types.js';
import { rawRows, runStatement, type Db, type Statement, type Tx } from './database.js';
import { findReferringMany, readCurrentMany, RESOURCE_COLUMNS, storedOf, type RawResource } from './disclosure-queries.js';
import type { StoredResource } from './resource-queries.js';
import { contentForRules } from './undisclosed.js';
import { organisations, resources, resourceTokens } from './schema/index.js';

// The hub's follow-up Tasks, found by what they are about and who owns them;
// and what the follow-up job reads: the records its rules look over, the
// organisations that own follow-up work, and the one lock a run holds.

export interface TaskFilter {
  focus?: string | undefined;
  subject?: string | undefined;
  owner?: string | undefined;
}

// The Tasks with a token index row ($1 the parameter, $2 the value), each read on the primary key (lateral, with
// a limit, so that it stays a lookup per index row whatever the statistics say, as findReferringMany does).
const TASKS_BY_TOKEN: Statement = {
  name: 'task_by_token',
  text: `select ${RESOURCE_COLUMNS} from resource_token x
    cross join lateral (select * from resource y where y.type = 'Task' and y.id = x.id limit 1) r
    where x.type = 'Task' and x.param = $1::text and x.value = $2::text`,
};

/**
 * Current Task rows matching every given filter (at least one must be given).
 * Only the most selective filter given (focus, then subject, then owner) is
 * looked up in the index; the Tasks it finds are read and the other filters
 * checked on their content, with the same derivation that wrote the index. An
 * owner such as the health visitors holds thousands of Tasks: reading them all
 * for each Task raised made the follow-up job's cost grow with the square of
 * the work it raises, and a join leaves the order to statistics that a run
 * raising thousands of Tasks in one transaction makes stale.
 */
export async function findTasks(db: Db | Tx, filter: TaskFilter): Promise<StoredResource[]> {
  const filters: { param: string; value: string; kind: 'reference' | 'token' }[] = [];
  if (filter.focus !== undefined) filters.push({ param: FOCUS_PARAM, value: filter.focus, kind: 'reference' });
  if (filter.subject !== undefined) filters.push({ param: 'patient', value: filter.subject, kind: 'reference' });
  if (filter.owner !== undefined) filters.push({ param: OWNER_PARAM, value: filter.owner, kind: 'token' });
  const [first, ...rest] = filters;
  if (first === undefined) throw new Error('findTasks needs a filter');
  const found =
    first.kind === 'reference'
      ? (await findReferringMany(db, 'Task', first.param, [first.value])).map((f) => f.row)
      : (await runStatement<RawResource>(db, TASKS_BY_TOKEN, [first.param, first.value])).map(storedOf);
  // A Task found twice (two index rows with the value) is one Task.
  const rows = [...new Map(found.map((r) => [r.id, r])).values()];
  return rows.filter((row) => {
    const index = indexValues(contentForRules(row.content));
    return rest.every((f) =>
      f.kind === 'reference' ? index.references.some((r) => r.param === f.param && r.target === f.value) : index.tokens.some((t) => t.param === f.param && t.value === f.value),
    );
  });
}

/** Current Task rows with these ids. */
export async function readTasks(db: Db | Tx, ids: readonly string[]): Promise<StoredResource[]> {
  return ids.length === 0 ? [] : readCurrentMany(db, 'Task', ids);
}

/** Current resources of a type carrying an identifier of a system (index lookup, then primary key). */
export async function currentWithIdentifierSystem(db: Db | Tx, type: string, system: string): Promise<StoredResource[]> {
  // One statement: a list of ids as parameters breaks past 65,535 of them (an area of 100,000 children has more).
  const ids = db
    .selectDistinct({ id: resourceTokens.id })
    .from(resourceTokens)
    .where(and(eq(resourceTokens.type, type), eq(resourceTokens.param, 'identifier'), eq(resourceTokens.system, system)));
  return db.select().from(resources).where(and(eq(resources.type, type), inArray(resources.id, ids)));
}

/** Every current resource of a type (the pregnancy episodes, the follow-up Tasks): the job's rules decide which matter. */
export async function currentOfType(db: Db | Tx, type: string): Promise<StoredResource[]> {
  return db.select().from(resources).where(eq(resources.type, type)).orderBy(resources.id);
}

export interface OwnerOrganisation {
  code: string;
  system: string;
  type: string;
  name: string;
  catchment: string[];
}

/** Registered organisations of some types (the health visitors, the children's centres and their catchments). */
export async function organisationsOfTypes(db: Db | Tx, types: readonly string[]): Promise<OwnerOrganisation[]> {
  return db
    .select({ code: organisations.code, system: organisations.system, type: organisations.type, name: organisations.name, catchment: organisations.catchment })
    .from(organisations)
    .where(inArray(organisations.type, [...types]))
    .orderBy(organisations.code);
}

/**
 * One follow-up run at a time across every instance on the database: the
 * lock is the transaction's, so it is released by commit or rollback (and by
 * a crashed instance's dropped connection). False when another run holds it.
 */
export async function tryFollowUpRunLock(tx: Tx): Promise<boolean> {
  const [row] = await rawRows<{ locked: boolean }>(tx, sql`select pg_try_advisory_xact_lock(hashtext('follow-up-job')) as locked`);
  return row?.locked === true;
}

export interface ChildRecords {
  patients: Map<string, StoredResource>;
  /** By "Patient/<id>": the child's Immunizations, the Tasks for the child, the hub's recommendations for the child. */
  immunizations: Map<string, StoredResource[]>;
  tasks: Map<string, StoredResource[]>;
  recommendations: Map<string, StoredResource[]>;
}

/**
 * Everything the overdue scan reads about a batch of children ("Patient/<id>"),
 * a few queries for the whole batch rather than several per child: the
 * Patients, and the Immunizations, Tasks and ImmunizationRecommendations that
 * refer to them (index lookups, then primary keys).
 */
export async function childRecords(db: Db | Tx, children: readonly string[]): Promise<ChildRecords> {
  const grouped = async (type: string): Promise<Map<string, StoredResource[]>> => {
    const map = new Map<string, StoredResource[]>();
    for (const { target, row } of await findReferringMany(db, type, 'patient', children)) map.set(target, [...(map.get(target) ?? []), row]);
    return map;
  };
  const patients = await readCurrentMany(db, 'Patient', children.map((c) => c.slice('Patient/'.length)));
  return {
    patients: new Map(patients.map((row) => [`Patient/${row.id}`, row])),
    immunizations: await grouped('Immunization'),
    tasks: await grouped('Task'),
    recommendations: await grouped('ImmunizationRecommendation'),
  };
}
