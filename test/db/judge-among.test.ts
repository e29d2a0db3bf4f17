import type { Consent, Immunization, Resource, Task } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../src/db/database.js';
import { listOrganisationFacts } from '../../src/db/disclosure-queries.js';
import { upsertOrganisation } from '../../src/db/registry-queries.js';
import { writeVersion, type StoredResource } from '../../src/db/resource-queries.js';
import { seal } from '../../src/db/undisclosed.js';
import { demoOrganisations } from '../../src/demo/world.js';
import { writtenIn } from '../../src/db/written-rows.js';
import { DisclosureService, type Ask, type DisclosureContext, type Judged } from '../../src/services/disclosure-service.js';
import { mintedSubjectFacts } from '../../src/services/subject-facts.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { bookingConsent, child, demoProtocol, followUpTask, immunization, mother, NOW, pregnancy, type OrgCode } from '../support/decision-world.js';
import { recordStatements } from '../support/statement-log.js';

// judgeAmong decides several requesters' rows from one read of the facts (the
// owners a missed dose's follow-up could go to, each asked about its own copy
// of the Task). Each requester's answers must be exactly those judge gives it
// alone: over families in and out of the centres' catchments, with and
// without consent, restricted or not, and Tasks whose focus is a missed dose,
// another Task, or a record the hub does not hold.

let t: TestDatabase;
const disclosure = new DisclosureService({ protocols: [demoProtocol()], clock: () => NOW });

const REQUESTERS: [OrgCode, string][] = [
  ['R9H', 'direct-care'],
  ['CC-OCEAN', 'immunisation-follow-up'],
  ['CC-IOD', 'immunisation-follow-up'],
  ['CC-OCEAN', 'early-years-registration'],
  ['E09000999-EH', 'early-help'],
  ['Y90001', 'direct-care'],
];

interface Family {
  postcode: string;
  consent: 'permit' | 'deny' | 'none';
  restricted: boolean;
}

// Ocean's and Isle of Dogs' catchments, another district, with and without consent, restricted.
const FAMILIES: readonly Family[] = [
  { postcode: 'E1 6AN', consent: 'permit', restricted: false },
  { postcode: 'E14 3BB', consent: 'permit', restricted: false },
  { postcode: 'E1 6AN', consent: 'none', restricted: false },
  { postcode: 'E1 6AN', consent: 'deny', restricted: false },
  { postcode: 'E2 7CC', consent: 'permit', restricted: false },
  { postcode: 'E1 6AN', consent: 'permit', restricted: true },
];

function stored(resource: Resource & { id: string }, sourceOrg: string): StoredResource {
  return { type: resource.resourceType, id: resource.id, versionId: 1, lastUpdated: NOW, sourceOrg, content: seal({ ...resource, meta: { versionId: '1', lastUpdated: NOW.toISOString() } }) };
}

/** The records of each family, and for each the Tasks a missed dose's follow-up could make (focus: the dose, another Task, an unknown id). */
function world(): { written: StoredResource[]; tasks: StoredResource[][] } {
  const written: StoredResource[] = [];
  const tasks: StoredResource[][] = [];
  FAMILIES.forEach((f, n) => {
    const motherId = `jm${n}`;
    const babyId = `jb${n}`;
    written.push(stored({ ...mother({ id: motherId, postcode: f.postcode }), id: motherId }, 'R9M'));
    written.push(stored({ ...child({ id: babyId, postcode: f.postcode, restricted: f.restricted }), id: babyId }, 'Y90001'));
    written.push(stored({ ...pregnancy({ id: `je${n}`, motherId, baby: babyId, outcome: 'live-birth' }), id: `je${n}` }, 'R9M'));
    if (f.consent !== 'none') {
      const consent: Consent = bookingConsent({ type: f.consent, actors: [{ type: 'childrens-centre' }, { type: 'health-visiting' }], purposes: ['immunisation-follow-up', 'early-years-registration', 'direct-care'] }, motherId);
      written.push(stored({ ...consent, id: `jc${n}` }, 'R9M'));
    }
    const dose: Immunization & { id: string } = { ...immunization('dna', babyId), id: `ji${n}`, identifier: [{ system: 'https://eastside.example/fhir/Id/hl7v2-order/Y90001', value: `ORD-J${n}` }] };
    written.push(stored(dose, 'Y90001'));
    const task = (id: string, owner: string, focus: string): StoredResource =>
      stored({ ...followUpTask(babyId, owner), id, focus: { reference: focus } } as Task & { id: string }, 'EYHUB');
    tasks.push(
      REQUESTERS.map(([owner], k) => task(`jt${n}-${k}`, owner, `Immunization/ji${n}`)),
      REQUESTERS.map(([owner], k) => task(`ju${n}-${k}`, owner, `Task/jt${n}-0`)),
      REQUESTERS.map(([owner], k) => task(`jv${n}-${k}`, owner, `Immunization/not-held-${n}`)),
    );
  });
  return { written, tasks };
}

const { written, tasks } = world();

async function contexts(): Promise<DisclosureContext[]> {
  const organisations = await listOrganisationFacts(t.db);
  return REQUESTERS.map(([code, purpose]) => {
    const ctx = disclosure.contextAmong(organisations, code, purpose, undefined);
    if (ctx === undefined) throw new Error(`no organisation ${code}`);
    return ctx;
  });
}

/** What a requester is told and what the audit log records of each decision. */
function answers(judged: readonly Judged[]): unknown[] {
  return judged.map((j) => ({ id: j.row.id, decision: j.decision, body: j.body, patients: j.patients, description: j.description }));
}

beforeAll(async () => {
  t = await openTestDatabase();
  await inTransaction(t.db, async (tx) => {
    for (const org of demoOrganisations) await upsertOrganisation(tx, org);
    for (const row of written) await writeVersion(tx, row);
  });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('decisions for several requesters from one read', () => {
  it('give each requester, asked about the same records, what judge gives it alone', async () => {
    const ctxs = await contexts();
    const rows = [...written, ...tasks.flat()];
    const together = await disclosure.judgeAmong(t.db, ctxs.map((ctx) => ({ ctx, rows })));
    expect(together).toHaveLength(ctxs.length);
    for (const [i, ctx] of ctxs.entries()) expect(answers(together[i] ?? [])).toEqual(answers(await disclosure.judge(t.db, ctx, rows)));
    // Not a vacuous comparison: most requesters are disclosed some records and denied others, and they differ.
    const mixed = together.filter((judged) => judged.some((j) => j.decision.effect === 'permit') && judged.some((j) => j.decision.effect === 'deny'));
    expect(mixed.length).toBeGreaterThanOrEqual(ctxs.length - 1);
    expect(new Set(together.map((j) => JSON.stringify(j.map((x) => x.decision.effect)))).size).toBeGreaterThan(1);
  });

  it("give each owner, asked about its own copy of a Task, what judge gives it alone, in as many statements as one owner's", async () => {
    const ctxs = await contexts();
    for (const copies of tasks) {
      const asks: Ask[] = ctxs.map((ctx, k) => ({ ctx, rows: [copies[k] as StoredResource] }));
      const log = recordStatements(t);
      const together = await disclosure.judgeAmong(t.db, asks);
      log.stop();
      const alone: Judged[][] = [];
      const one = recordStatements(t);
      alone.push(await disclosure.judge(t.db, asks[0]?.ctx as DisclosureContext, asks[0]?.rows ?? []));
      one.stop();
      for (const ask of asks.slice(1)) alone.push(await disclosure.judge(t.db, ask.ctx, ask.rows));
      expect(together.map(answers)).toEqual(alone.map(answers));
      expect(log.statements().length).toBe(one.statements().length);
    }
    // The owners of a missed dose's Task are told apart: its health visitors and one centre see it, another centre does not.
    const [doses] = tasks;
    const decided = await disclosure.judgeAmong(t.db, ctxs.map((ctx, k) => ({ ctx, rows: [doses?.[k] as StoredResource] })));
    expect(decided.map((j) => j[0]?.decision.effect)).toContain('permit');
    expect(decided.map((j) => j[0]?.decision.effect)).toContain('deny');
  });

  it('takes a focus in hand as the store holds it: the same answers, and the focus is not read', async () => {
    const ctxs = await contexts();
    for (const [n, copies] of tasks.entries()) {
      const dose = written.find((r) => r.type === 'Immunization' && r.id === `ji${Math.floor(n / 3)}`) as StoredResource;
      const asks: Ask[] = ctxs.map((ctx, k) => ({ ctx, rows: [copies[k] as StoredResource] }));
      const read = recordStatements(t);
      const fromStore = await disclosure.judgeAmong(t.db, asks);
      read.stop();
      const held = recordStatements(t);
      const inHand = await disclosure.judgeAmong(t.db, asks, [dose]);
      held.stop();
      expect(inHand.map(answers)).toEqual(fromStore.map(answers));
      // Each family has three sets of copies (focus: its dose, another Task, an unknown id): only the first reads the dose.
      const focusOnDose = n % 3 === 0;
      expect(held.statements().length).toBe(read.statements().length - (focusOnDose ? 1 : 0));
    }
  });

  it('refuses requesters from different reads of the registry', async () => {
    const [a] = await contexts();
    const [b] = await contexts();
    await expect(
      disclosure.judgeAmong(t.db, [
        { ctx: a as DisclosureContext, rows: written },
        { ctx: b as DisclosureContext, rows: written },
      ]),
    ).rejects.toThrow(/one registry read/);
  });
});

// A child first seen in a transaction (an id it minted) can be referred to by
// nothing stored before it: what the decision needs to know about it is what
// the transaction wrote. The facts taken from there must decide exactly as the
// facts read back from the database in the same transaction, over the same
// kinds of family as above (here the consent is the child's own).

/** A new child's records as one transaction writes them: the child, its own Consent (if any) and a missed dose; the owners' Tasks about the dose. */
function newChild(c: Family, n: number, run: string): { rows: StoredResource[]; dose: StoredResource; tasks: StoredResource[] } {
  const id = `mk${run}-${n}`;
  const rows = [stored({ ...child({ id, postcode: c.postcode, restricted: c.restricted }), id }, 'Y90001')];
  if (c.consent !== 'none') {
    const consent: Consent = bookingConsent({ type: c.consent, actors: [{ type: 'childrens-centre' }, { type: 'health-visiting' }], purposes: ['immunisation-follow-up', 'direct-care'] }, id);
    rows.push(stored({ ...consent, id: `${id}-c` }, 'Y90001'));
  }
  const dose = stored({ ...immunization('dna', id), id: `${id}-i` }, 'Y90001');
  rows.push(dose);
  const tasks = REQUESTERS.map(([owner], k) => stored({ ...followUpTask(id, owner), id: `${id}-t${k}`, focus: { reference: `Immunization/${id}-i` } } as Task & { id: string }, 'EYHUB'));
  return { rows, dose, tasks };
}

describe("facts about a child the transaction minted, from what it wrote", () => {
  it('decide as the facts read back from the database do, without reading them', async () => {
    const ctxs = await contexts();
    const run = String(Date.now());
    const effects: string[] = [];
    for (const [n, c] of FAMILIES.entries()) {
      const { rows, dose, tasks: copies } = newChild(c, n, run);
      const subject = `Patient/mk${run}-${n}`;
      // The log watches the transaction's connection from before it starts (test/support/driver-queries.ts).
      const log = recordStatements(t);
      const since = (from: number): string[] => log.statements().slice(from);
      await inTransaction(t.db, async (tx) => {
        for (const row of rows) await writeVersion(tx, row);
        const known = mintedSubjectFacts(disclosure.protocols, writtenIn(tx), new Set([subject]), [subject]);
        expect(known?.patients.map((p) => p.id)).toEqual([`mk${run}-${n}`]);
        const asks: Ask[] = ctxs.map((ctx, k) => ({ ctx, rows: [copies[k] as StoredResource] }));
        const beforeRead = log.statements().length;
        const fromStore = await disclosure.judgeAmong(tx, asks, [dose]);
        const read = since(beforeRead);
        const beforeHeld = log.statements().length;
        const fromWrites = await disclosure.judgeAmong(tx, asks, [dose], known);
        const held = since(beforeHeld);
        expect(fromWrites.map(answers)).toEqual(fromStore.map(answers));
        // The child's current version and the records about it: two statements the database no longer answers.
        expect(held).toEqual([]);
        expect(read).toHaveLength(2);
        effects.push(...fromWrites.map((j) => j[0]?.decision.effect ?? 'none'));
      });
      log.stop();
    }
    // Not a vacuous comparison: some owners are given the work and some are not.
    expect(effects).toContain('permit');
    expect(effects).toContain('deny');
  });

  it('are not taken from the writes where those could differ from what a read gives', async () => {
    const run = `${Date.now()}x`;
    const { rows, dose } = newChild(FAMILIES[0] as Family, 0, run);
    const subject = `Patient/mk${run}-0`;
    await inTransaction(t.db, async (tx) => {
      for (const row of rows) await writeVersion(tx, row);
      const facts = (minted: readonly string[]) => mintedSubjectFacts(disclosure.protocols, writtenIn(tx), new Set(minted), [subject]);
      expect(facts([subject])).toBeDefined();
      // Not minted by this transaction: others may have written about it.
      expect(facts([])).toBeUndefined();
      // A record about the child at a later version: the store lists more writers than the row in memory.
      await writeVersion(tx, { ...dose, versionId: 2 });
      expect(facts([subject])).toBeUndefined();
    });
    await inTransaction(t.db, async (tx) => {
      const babyRun = `${run}b`;
      const born = newChild(FAMILIES[0] as Family, 0, babyRun);
      for (const row of born.rows) await writeVersion(tx, row);
      // A pregnancy naming the child as its baby: the mother's Consents, stored before, count for it.
      await writeVersion(tx, stored({ ...pregnancy({ id: `mk${babyRun}-e`, motherId: 'jm0', baby: `mk${babyRun}-0`, outcome: 'live-birth' }), id: `mk${babyRun}-e` }, 'R9M'));
      expect(mintedSubjectFacts(disclosure.protocols, writtenIn(tx), new Set([`Patient/mk${babyRun}-0`]), [`Patient/mk${babyRun}-0`])).toBeUndefined();
    });
    // Outside a transaction there is no list of what it wrote.
    expect(writtenIn(t.db as never)).toBeUndefined();
  });
});
