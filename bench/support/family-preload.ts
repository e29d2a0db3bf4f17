import type { Resource } from 'fhir/r4.js';
import type pg from 'pg';
import type { Patient } from 'fhir/r4.js';
import { carriedConsents, consentMayPermit, consentSubjects, patientFacts } from '../../src/decision/search-narrowing.js';
import { indexValues } from '../../src/fhir/resource-types.js';
import { buildFamily, weighted, type ConsentKind, type DoseKind, type Family, type FamilyPlan } from './families.js';
import { nhsNumbers, seededRandom } from './synthetic.js';

// Realistic volume for a children's centre's pull (BENCH.md rule 4): families
// written straight into the hub's tables as writeVersion writes a first
// version (resource, resource_history, resource_token, resource_reference),
// many rows per statement. What was written by maternity has source_org and
// source_orgs R9M; a GP's dose record Y90001.
//
// Who Ocean Children's Centre (catchment E1, E1W), asking for
// early-years-registration, may see: exactly `permitted` mothers, booked and
// pregnant in E1/E1W with their booking consent given (so that a pull can be
// checked exactly, no E1/E1W family with a born baby has a standing consent).
// Everyone else is denied (index rows come from the hub's own indexValues, so
// a search that narrows by catchment district leaves out those elsewhere
// before deciding):
//   - families with a born baby (one per preloaded child): elsewhere
//     (outside the catchment), or in E1/E1W having refused, had their
//     consent rejected, or withdrawn it (the baby inherits the mother's);
//   - booked mothers in E1/E1W whose consent is given but who are excluded
//     (a pregnancy loss, a restricted record) or whose consent names only
//     Isle of Dogs; booked mothers in E1/E1W who refused or withdrew;
//   - booked mothers elsewhere.

const FAMILIES_PER_BATCH = 500;
const YEAR_MS = 365 * 86_400_000;

const OCEAN = ['E1', 'E1W'] as const;
const ELSEWHERE: readonly (readonly [string, number])[] = [
  ['E14', 30],
  ['E3', 25],
  ['E2', 25],
  ['E15', 20],
];
const DISTRICTS_WITH_BABIES: readonly (readonly [string, number])[] = [['E1', 22], ['E1W', 8], ...ELSEWHERE.map(([d, w]) => [d, w * 0.7] as const)];
const NOT_GIVEN: readonly (readonly [ConsentKind, number])[] = [
  ['refused', 55],
  ['rejected', 10],
  ['withdrawn', 35],
];
const ANY_CONSENT: readonly (readonly [ConsentKind, number])[] = [
  ['permit', 78],
  ['permit-iod-only', 4],
  ['refused', 10],
  ['rejected', 2],
  ['withdrawn', 6],
];
/** Of born babies: a GP's record of the third 6-in-1 dose for 10 %. */
const DOSES: readonly (readonly [DoseKind | undefined, number])[] = [
  [undefined, 90],
  ['dna', 7],
  ['refusal', 1.5],
  ['given', 1.5],
];

/** Booked mothers besides the permitted ones, by kind. */
const DECOYS = { excludedOrIodOnly: 450, notGivenInOcean: 1_500, elsewhere: 8_000 };

export interface FamilyPreloadPlan {
  /** Born babies (each with a mother, her consent, episode and EDD). */
  children: number;
  /** Booked mothers Ocean may see. */
  permitted: number;
  now: Date;
  signal: AbortSignal;
  log: (line: string) => void;
}

export interface FamilyPreload {
  /** Ids of the mothers Ocean may see, with their lastUpdated (ms). */
  permitted: Map<string, number>;
  /** Every Patient: id → what they are, for diagnosing a wrong pull. */
  describe: Map<string, string>;
  patients: number;
  /** Patients with a home in E1 or E1W. */
  inOcean: number;
  resources: number;
  byType: Map<string, number>;
}

/** One resource's first version, as insertFirstVersions writes it. */
export interface PreloadRow {
  type: string;
  id: string;
  lastUpdated: Date;
  sourceOrg: string;
  content: Resource;
}

/** The plans of every family, in a shuffled order so no kind of family clusters in time. */
function plans(plan: FamilyPreloadPlan, random: () => number): FamilyPlan[] {
  const all: FamilyPlan[] = [];
  let n = 0;
  const ocean = (): string => (random() < 0.7 ? OCEAN[0] : OCEAN[1]);
  for (let i = 0; i < plan.children; i += 1) {
    const district = weighted(random, DISTRICTS_WITH_BABIES);
    const inOcean = (OCEAN as readonly string[]).includes(district);
    all.push({ n: n++, district, consent: weighted(random, inOcean ? NOT_GIVEN : ANY_CONSENT), stage: 'born', restricted: random() < 0.01, dose: weighted(random, DOSES) });
  }
  for (let i = 0; i < plan.permitted; i += 1) all.push({ n: n++, district: ocean(), consent: 'permit', stage: 'pregnant', restricted: false });
  for (let i = 0; i < DECOYS.excludedOrIodOnly; i += 1) {
    const kind = i % 3;
    all.push({ n: n++, district: ocean(), consent: kind === 2 ? 'permit-iod-only' : 'permit', stage: kind === 0 ? 'loss' : 'pregnant', restricted: kind === 1 });
  }
  for (let i = 0; i < DECOYS.notGivenInOcean; i += 1) all.push({ n: n++, district: ocean(), consent: weighted(random, NOT_GIVEN), stage: 'pregnant', restricted: false });
  for (let i = 0; i < DECOYS.elsewhere; i += 1) {
    all.push({ n: n++, district: weighted(random, ELSEWHERE), consent: weighted(random, ANY_CONSENT), stage: random() < 0.03 ? 'loss' : 'pregnant', restricted: random() < 0.01 });
  }
  for (let i = all.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    const a = all[i];
    const b = all[j];
    if (a === undefined || b === undefined) throw new Error('shuffle out of range');
    all[i] = b;
    all[j] = a;
  }
  return all;
}

function isPermitted(p: FamilyPlan): boolean {
  return (OCEAN as readonly string[]).includes(p.district) && p.consent === 'permit' && p.stage === 'pregnant' && !p.restricted;
}

function describePlan(p: FamilyPlan): string {
  return `${p.district}, consent ${p.consent}, ${p.stage}${p.restricted ? ', restricted' : ''}`;
}

/** Writes the families; returns who Ocean may see. The client must be connected to the bench database. */
export async function preloadFamilies(client: pg.Client, plan: FamilyPreloadPlan): Promise<FamilyPreload> {
  const random = seededRandom(29_112_026);
  const numbers = nhsNumbers();
  const nhs = (): string => {
    const next = numbers.next();
    if (next.done === true) throw new Error('ran out of 999-range NHS numbers');
    return next.value;
  };
  const families = plans(plan, random);
  const result: FamilyPreload = { permitted: new Map(), describe: new Map(), patients: 0, inOcean: 0, resources: 0, byType: new Map() };
  const started = Date.now();
  // Versions spread over the past year, so that the search's keyset index has a realistic shape.
  const stamp = (): Date => new Date(plan.now.getTime() - 60_000 - Math.floor(random() * YEAR_MS));
  for (let first = 0; first < families.length; first += FAMILIES_PER_BATCH) {
    plan.signal.throwIfAborted();
    const rows: PreloadRow[] = [];
    const add = (resource: Resource & { id: string }, sourceOrg: string): PreloadRow => {
      const lastUpdated = stamp();
      const content = { ...resource, meta: { ...(resource.meta ?? {}), versionId: '1', lastUpdated: lastUpdated.toISOString() } } as Resource;
      const row = { type: resource.resourceType, id: resource.id, lastUpdated, sourceOrg, content };
      rows.push(row);
      return row;
    };
    for (const p of families.slice(first, first + FAMILIES_PER_BATCH)) {
      const f: Family = buildFamily(p, nhs, random, plan.now);
      const mother = add(f.mother, 'R9M');
      add(f.episode, 'R9M');
      add(f.edd, 'R9M');
      add(f.consent, 'R9M');
      result.describe.set(f.mother.id, `mother: ${describePlan(p)}`);
      if (isPermitted(p)) result.permitted.set(f.mother.id, mother.lastUpdated.getTime());
      const inOcean = (OCEAN as readonly string[]).includes(p.district);
      if (f.child !== undefined) {
        add(f.child, 'R9M');
        result.describe.set(f.child.id, `baby: ${describePlan(p)}`);
      }
      if (inOcean) result.inOcean += f.child === undefined ? 1 : 2;
      if (f.immunization !== undefined) add(f.immunization, 'Y90001');
    }
    await insertFirstVersions(client, rows);
    for (const r of rows) result.byType.set(r.type, (result.byType.get(r.type) ?? 0) + 1);
    result.resources += rows.length;
    const done = Math.min(first + FAMILIES_PER_BATCH, families.length);
    // Statistics as the tables grow (a server may run without autovacuum): on stale ones the planner scanned
    // the fact tables for every Patient of a batch, and the preload slowed with the square of its size.
    if (done % 10_000 === 0) await client.query('analyze consent_fact, carry_fact, subject_fact, resource, resource_reference, resource_token');
    if (done % 20_000 === 0 || done === families.length) plan.log(`  preloaded ${done} of ${families.length} families (${Math.round((Date.now() - started) / 1000)} s)`);
  }
  result.patients = result.byType.get('Patient') ?? 0;
  if (result.permitted.size !== plan.permitted) throw new Error(`planned ${plan.permitted} permitted mothers but built ${result.permitted.size}`);
  return result;
}

/** One transaction per batch: current rows and their history from one statement, then the index rows. */
export async function insertFirstVersions(client: pg.Client, rows: readonly PreloadRow[]): Promise<void> {
  const tokens: string[][] = [[], [], [], [], []];
  const references: string[][] = [[], [], [], []];
  for (const row of rows) {
    const values = indexValues(row.content);
    for (const t of values.tokens) {
      tokens[0]?.push(row.type);
      tokens[1]?.push(row.id);
      tokens[2]?.push(t.param);
      tokens[3]?.push(t.system);
      tokens[4]?.push(t.value);
    }
    for (const r of values.references) {
      references[0]?.push(row.type);
      references[1]?.push(row.id);
      references[2]?.push(r.param);
      references[3]?.push(r.target);
    }
  }
  await client.query('begin');
  try {
    await client.query(
      `with x as (
         select t, i, u, s, c::jsonb as c from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[]) as x(t, i, u, s, c)
       ), current as (
         insert into resource (type, id, version_id, last_updated, source_org, source_orgs, content)
         select t, i, 1, u, s, array[s], c from x
       )
       insert into resource_history (type, id, version_id, last_updated, source_org, content) select t, i, 1, u, s, c from x`,
      [rows.map((r) => r.type), rows.map((r) => r.id), rows.map((r) => r.lastUpdated.toISOString()), rows.map((r) => r.sourceOrg), rows.map((r) => JSON.stringify(r.content))],
    );
    if ((tokens[0]?.length ?? 0) > 0) {
      await client.query('insert into resource_token (type, id, param, system, value) select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])', tokens);
    }
    if ((references[0]?.length ?? 0) > 0) {
      await client.query('insert into resource_reference (type, id, param, target) select * from unnest($1::text[], $2::text[], $3::text[], $4::text[])', references);
    }
    await insertSubjectFacts(client, rows);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

/**
 * The subject facts writeVersion keeps (src/db/subject-fact-queries.ts), from
 * the same pure derivations: consents and pregnancy episodes first, then each
 * Patient with whether a consent that may permit is about it or carried to it. A
 * family is written in one batch, so its consents are there before its Patients.
 */
async function insertSubjectFacts(client: pg.Client, rows: readonly PreloadRow[]): Promise<void> {
  const consents: [string[], string[], boolean[]] = [[], [], []];
  const carries: [string[], string[], string[]] = [[], [], []];
  const patients: [string[], string[], (string | null)[], boolean[], string[]] = [[], [], [], [], []];
  for (const row of rows) {
    if (row.type === 'Consent') {
      for (const ref of consentSubjects(row.content)) {
        consents[0].push(row.id);
        consents[1].push(ref);
        consents[2].push(consentMayPermit(row.content));
      }
    } else if (row.type === 'EpisodeOfCare') {
      const carried = carriedConsents(row.content);
      for (const baby of carried?.babies ?? []) {
        carries[0].push(row.id);
        carries[1].push(baby);
        carries[2].push(carried?.mother ?? '');
      }
    } else if (row.type === 'Patient') {
      const facts = patientFacts(row.content as Patient);
      patients[0].push(row.id);
      patients[1].push(row.lastUpdated.toISOString());
      patients[2].push(facts.district);
      patients[3].push(facts.restricted);
      patients[4].push(row.sourceOrg);
    }
  }
  await client.query('insert into consent_fact (consent_id, patient_ref, may_permit) select * from unnest($1::text[], $2::text[], $3::boolean[])', consents);
  await client.query('insert into carry_fact (episode_id, baby_ref, mother_ref) select * from unnest($1::text[], $2::text[], $3::text[])', carries);
  await client.query(
    `insert into subject_fact (patient_id, last_updated, district, restricted, consent_open, source_orgs)
     select p.id, p.u, p.d, p.r,
            exists (select 1 from consent_fact c where c.patient_ref = 'Patient/' || p.id and c.may_permit)
            or exists (select 1 from carry_fact k join consent_fact c on c.patient_ref = k.mother_ref and c.may_permit where k.baby_ref = 'Patient/' || p.id),
            array[p.s]
       from unnest($1::text[], $2::timestamptz[], $3::text[], $4::boolean[], $5::text[]) as p(id, u, d, r, s)`,
    patients,
  );
}
