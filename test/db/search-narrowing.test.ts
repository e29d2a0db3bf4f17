import type { Consent, EpisodeOfCare, Patient, Resource } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction, rawRows } from '../../src/db/database.js';
import { FIND_REFERRING } from '../../src/db/disclosure-queries.js';
import { upsertOrganisation } from '../../src/db/registry-queries.js';
import { searchQuery, writeVersion, type StoredResource } from '../../src/db/resource-queries.js';
import { resources } from '../../src/db/schema/index.js';
import { seal } from '../../src/db/undisclosed.js';
import { demoOrganisations } from '../../src/demo/world.js';
import type { SearchRequest } from '../../src/fhir/search-request.js';
import { DisclosureService, type DisclosureContext } from '../../src/services/disclosure-service.js';
import { eq, sql } from 'drizzle-orm';
import { readFile } from 'node:fs/promises';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { bookingConsent, child, demoProtocol, mother, NOW, pregnancy, type Actor, type OrgCode, type PregnancyOutcome } from '../support/decision-world.js';

// A narrowed Patient search (subject facts: district, consent, restriction;
// decision/search-narrowing.ts) never leaves out a Patient the decision would
// disclose: over a synthetic population written through writeVersion in a
// random order, then changed (consents withdrawn and given again, families
// moving, records restricted), every Patient the decision permits when all
// Patients are judged is among the rows the narrowed search reads, for every
// partner and purpose.

let t: TestDatabase;
const disclosure = new DisclosureService({ protocols: [demoProtocol()], clock: () => NOW });

/** A small seeded generator (mulberry32): the population is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const random = seeded(14_2026);
const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
const POSTCODES = ['E1 6AN', 'E1W 2AA', 'E14 3BB', 'E2 7CC', undefined, 'NOT A POSTCODE'] as const;
const STATUSES: Consent['status'][] = ['active', 'active', 'active', 'inactive', 'rejected', 'draft'];
const ACTORS: (readonly Actor[])[] = [[{ type: 'childrens-centre' }], [{ code: 'CC-IOD' }], [{ code: 'CC-OCEAN' }], [{ type: 'health-visiting' }, { type: 'early-help' }]];
const PURPOSES: (readonly string[])[] = [['early-years-registration'], ['direct-care'], ['early-help'], ['immunisation-follow-up', 'early-years-registration']];
const PATIENT_WRITERS: OrgCode[] = ['R9M', 'R9M', 'R9M', 'Y90001', 'CC-OCEAN', 'E09000999-EH'];

let clock = Date.parse('2026-01-01T00:00:00Z');
const versions = new Map<string, number>();
function stored(resource: Resource & { id: string }, sourceOrg: string): StoredResource {
  const key = `${resource.resourceType}/${resource.id}`;
  const versionId = (versions.get(key) ?? 0) + 1;
  versions.set(key, versionId);
  clock += 1000 + Math.floor(random() * 5000);
  const lastUpdated = new Date(clock);
  return { type: resource.resourceType, id: resource.id, versionId, lastUpdated, sourceOrg, content: seal({ ...resource, meta: { ...resource.meta, versionId: String(versionId), lastUpdated: lastUpdated.toISOString() } }) };
}

function withPostcode(p: Patient, postcode: string | undefined): Patient {
  return { ...p, address: postcode === undefined ? [] : [{ use: 'home', postalCode: postcode }, ...(random() < 0.2 ? [{ use: 'old' as const, postalCode: 'E1 1AA' }] : [])] };
}

/** Families written in a shuffled order, then a round of changes to their consents, homes, labels and episodes. */
function population(families: number): StoredResource[][] {
  const first: [Resource & { id: string }, string][] = [];
  const later: [Resource & { id: string }, string][] = [];
  for (let n = 0; n < families; n += 1) {
    const motherId = `m${n}`;
    const babyId = random() < 0.6 ? `b${n}` : undefined;
    const m = withPostcode(mother({ id: motherId, restricted: random() < 0.1 }), pick(POSTCODES));
    first.push([m as Patient & { id: string }, pick(PATIENT_WRITERS)]);
    if (babyId !== undefined) first.push([withPostcode(child({ id: babyId, restricted: random() < 0.05 }), random() < 0.8 ? m.address?.[0]?.postalCode : pick(POSTCODES)) as Patient & { id: string }, pick(PATIENT_WRITERS)]);
    const outcome = pick<PregnancyOutcome | undefined>([undefined, 'live-birth', 'live-birth', 'stillbirth']);
    const episode = pregnancy({ id: `e${n}`, motherId, ...(babyId === undefined || outcome === undefined ? {} : { baby: babyId }), ...(outcome === undefined ? {} : { outcome }) });
    first.push([episode as EpisodeOfCare & { id: string }, pick(['R9M', 'R9M', 'Y90001'])]);
    const consents = Math.floor(random() * 3);
    for (let c = 0; c < consents; c += 1) {
      const subject = babyId !== undefined && random() < 0.3 ? babyId : motherId;
      const consent = { ...bookingConsent({ status: pick(STATUSES), type: random() < 0.85 ? 'permit' : 'deny', actors: pick(ACTORS), purposes: pick(PURPOSES) }, subject), id: `c${n}-${c}` };
      first.push([consent, pick(['R9M', 'R9M', 'E09000999-EH', 'R9H'])]);
      // Withdrawn, given again, or refused after all.
      if (random() < 0.4) later.push([{ ...consent, status: pick(STATUSES) } as Consent & { id: string }, pick(['R9M', 'E09000999-EH'])]);
    }
    if (random() < 0.2) later.push([withPostcode({ ...m, meta: random() < 0.3 ? { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } : {} }, pick(POSTCODES)) as Patient & { id: string }, 'R9M']);
    // An episode naming the baby only later (the birth), or naming another family's baby.
    if (random() < 0.15) later.push([pregnancy({ id: `e${n}`, motherId, baby: babyId ?? `b${Math.floor(random() * families)}`, outcome: 'live-birth' }) as EpisodeOfCare & { id: string }, 'R9M']);
  }
  for (let i = first.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [first[i], first[j]] = [first[j] as [Resource & { id: string }, string], first[i] as [Resource & { id: string }, string]];
  }
  return [first.map(([r, o]) => stored(r, o)), later.map(([r, o]) => stored(r, o))];
}

const REQUESTERS: [OrgCode, string, string | undefined][] = [
  ['CC-OCEAN', 'early-years-registration', undefined],
  ['CC-IOD', 'early-years-registration', undefined],
  ['CC-OCEAN', 'immunisation-follow-up', undefined],
  ['CC-OCEAN', 'early-help', undefined],
  ['R9H', 'direct-care', undefined],
  ['E09000999-EH', 'early-help', undefined],
  ['R9H', 'safeguarding', 'a named concern'],
];

function search(count: number, cursor: SearchRequest['cursor']): SearchRequest {
  return { resourceType: 'Patient', ids: undefined, identifiers: [], references: [], tokens: [], lastUpdated: [], count, descending: false, cursor, includes: [] };
}

/** Every row a narrowed search reads, page by page in keyset order. */
async function narrowedIds(ctx: DisclosureContext): Promise<string[]> {
  const ids: string[] = [];
  let cursor: SearchRequest['cursor'];
  for (;;) {
    const rows = await searchQuery(t.db, search(7, cursor), disclosure.candidateSources(ctx, 'Patient'));
    const batch = rows.slice(0, 7);
    ids.push(...batch.map((r) => r.id));
    const last = batch.at(-1);
    if (rows.length <= 7 || last === undefined) return ids;
    cursor = { lastUpdated: last.lastUpdated, id: last.id };
  }
}

beforeAll(async () => {
  t = await openTestDatabase();
  await inTransaction(t.db, async (tx) => {
    for (const org of demoOrganisations) await upsertOrganisation(tx, org);
  });
  for (const round of population(160)) {
    for (const row of round) await inTransaction(t.db, (tx) => writeVersion(tx, row));
  }
}, 600_000);

afterAll(async () => {
  await t?.close();
});

describe('a narrowed Patient search', () => {
  it.each(REQUESTERS)('leaves out no Patient the decision discloses to %s for %s', async (code, purpose, override) => {
    const ctx = await disclosure.contextFor(t.db, code, purpose, override);
    if (ctx === undefined) throw new Error(`no organisation ${code}`);
    const all = await t.db.select().from(resources).where(eq(resources.type, 'Patient'));
    const disclosed = (await disclosure.judge(t.db, ctx, all)).filter((j) => j.body !== undefined).map((j) => j.row.id);
    const read = await narrowedIds(ctx);
    expect(new Set(read).size).toBe(read.length);
    expect(read.filter((id) => !disclosed.includes(id)).length + disclosed.length).toBe(read.length);
    expect(disclosed.filter((id) => !read.includes(id))).toEqual([]);
    // The keyset order holds across the parts the narrowed search unions.
    const byId = new Map(all.map((r) => [r.id, r]));
    const times = read.map((id) => byId.get(id)?.lastUpdated.getTime() ?? 0);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('derives the same facts when migrations 0014 and 0015 backfill them from stored records as when each version was written', async () => {
    const facts = async (): Promise<unknown[][]> => [
      await rawRows<unknown>(t.db, sql`select patient_id, last_updated, district, restricted, consent_open, source_orgs from subject_fact order by patient_id`),
      await rawRows<unknown>(t.db, sql`select consent_id, patient_ref, may_permit from consent_fact order by consent_id, patient_ref`),
      await rawRows<unknown>(t.db, sql`select episode_id, baby_ref, mother_ref from carry_fact order by episode_id, baby_ref`),
    ];
    const written = await facts();
    const migration = await readFile(new URL('../../migrations/0014_subject_facts.sql', import.meta.url), 'utf8');
    const backfill = migration.split('--> statement-breakpoint').map((s) => s.trim()).filter((s) => /^(--[^\n]*\n)*INSERT/.test(s));
    expect(backfill).toHaveLength(3);
    const sources = (await readFile(new URL('../../migrations/0015_subject_fact_sources.sql', import.meta.url), 'utf8'))
      .split('--> statement-breakpoint')
      .map((s) => s.trim())
      .filter((s) => /^(--[^\n]*\n)*UPDATE/.test(s));
    expect(sources).toHaveLength(1);
    // Some Patient was written by more than one organisation: the backfill must carry every writer.
    expect(written[0]?.some((f) => (f as { source_orgs: string[] }).source_orgs.length > 1)).toBe(true);
    await inTransaction(t.db, async (tx) => {
      await tx.execute(sql`delete from subject_fact`);
      await tx.execute(sql`delete from consent_fact`);
      await tx.execute(sql`delete from carry_fact`);
      for (const statement of backfill) await tx.execute(sql.raw(statement));
      for (const statement of sources) await tx.execute(sql.raw(statement));
    });
    expect(await facts()).toEqual(written);
  });

  it("reads the requester's own Patients from their own index under a generic plan, not every Patient of the stretch", async () => {
    // The search is prepared by name, so PostgreSQL may run it with a generic plan: one made without the values.
    const ctx = await disclosure.contextFor(t.db, 'CC-OCEAN', 'early-years-registration', undefined);
    if (ctx === undefined) throw new Error('no Ocean');
    const query = searchQuery(t.db, search(100, undefined), disclosure.candidateSources(ctx, 'Patient')).toSQL();
    const literal = (v: unknown): string => {
      const text = Array.isArray(v) ? `{${v.map((x) => `"${String(x)}"`).join(',')}}` : v instanceof Date ? v.toISOString() : String(v);
      return `'${text.replace(/'/g, "''")}'`;
    };
    const plan = await inTransaction(t.db, async (tx) => {
      await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
      await tx.execute(sql`set local enable_seqscan = off`);
      await tx.execute(sql.raw(`prepare narrowed_search as ${query.sql}`));
      const [explained] = await rawRows<Record<string, unknown>>(tx, sql.raw(`explain (format json) execute narrowed_search(${query.params.map(literal).join(', ')})`));
      await tx.execute(sql`deallocate narrowed_search`);
      return JSON.stringify(explained);
    });
    expect(plan).toMatch(/"Plan Rows"/);
    expect(plan).toContain('resource_patient_source_idx');
  });

  it("looks a page's subjects' references up by what they point at, from the index alone, under a generic plan", async () => {
    const subjects = (await rawRows<{ id: string }>(t.db, sql`select patient_id as id from subject_fact order by last_updated limit 20`)).map((r) => `'Patient/${r.id}'`);
    const plan = await inTransaction(t.db, async (tx) => {
      await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
      await tx.execute(sql`set local enable_seqscan = off`);
      await tx.execute(sql`set local enable_bitmapscan = off`);
      await tx.execute(sql.raw(`prepare referring as ${FIND_REFERRING.text}`));
      const args = `array['EpisodeOfCare','EpisodeOfCare','Consent'], array['patient','pregnancy-baby','patient'], array[${subjects.join(',')}], 'pregnancy-baby'`;
      const [explained] = await rawRows<Record<string, unknown>>(tx, sql.raw(`explain (format json) execute referring(${args})`));
      await tx.execute(sql`deallocate referring`);
      return JSON.stringify(explained);
    });
    expect(plan).toMatch(/"Index Only Scan"[^}]*"Index Name":"resource_reference_target_idx"/);
  });

  it("reads fewer than all Patients for a children's centre's registrations (consent and catchment narrow it)", async () => {
    const ctx = await disclosure.contextFor(t.db, 'CC-OCEAN', 'early-years-registration', undefined);
    if (ctx === undefined) throw new Error('no Ocean');
    expect(disclosure.candidateSources(ctx, 'Patient').subject).toEqual({ consent: true, unrestricted: true });
    const all = await t.db.select().from(resources).where(eq(resources.type, 'Patient'));
    const disclosed = (await disclosure.judge(t.db, ctx, all)).filter((j) => j.body !== undefined).length;
    const read = (await narrowedIds(ctx)).length;
    expect(disclosed).toBeGreaterThan(0);
    expect(read).toBeLessThan(all.length / 3);
  });
});
