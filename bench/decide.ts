import type { EpisodeOfCare, Patient } from 'fhir/r4.js';
import { decide } from '../src/decision/decide.js';
import type { ConsentFacts, Decision, RecordFacts, Requester } from '../src/decision/decision-types.js';
import { demoClients, demoOrganisations } from '../src/demo/world.js';
import { standingOf } from '../src/protocol/in-force.js';
import type { LoadedProtocol } from '../src/protocol/protocol-schema.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { othersShare, sampleCpu } from './support/cpu.js';
import { buildFamily, weighted, type ConsentKind, type DoseKind, type Family, type FamilyPlan, type Stage } from './support/families.js';
import { median, percentile } from './support/load.js';
import { loadDemoProtocols } from './support/protocols.js';
import { OTHERS_FLAG, share, table } from './support/report.js';
import { isEntryPoint, runAlone } from './support/runner.js';
import { nhsNumbers, seededRandom } from './support/synthetic.js';

// `npm run bench -- decide` (or `npx tsx bench/decide.ts`): what one call of
// the pure disclosure decision costs, against a Map lookup. The world is held
// in memory: 10,000 families, each with the mother's booking Consent (given,
// refused, rejected, withdrawn, or naming one centre only), a pregnancy
// episode, an EDD, and for most a baby (whose consents are the mother's,
// carried over the birth link) with, for some, a GP's record of a missed,
// refused or given dose. Consents are indexed by patient in a Map: the shell
// hands the decision only the subject's consents, as DisclosureService does.
// A sample of (requester, purpose, record) cases from the demo's children's
// centres and health visitors is decided in a tight loop.
//
// Scenario per case: look the subject and its consents up in the Maps and
// call decide(). Baseline per case: the same loop with consentsByPatient.get()
// and a check of the first consent's status. A call of ~µs cannot be timed
// alone with a ~50 ns timer: batches of BATCH calls are timed and divided
// (p50/p99 over the batches' means), and a smaller sample is timed call by
// call as well, for a p99 that averaging cannot hide. Pairs are interleaved
// (baseline first), each side after its own warm-up.

const FAMILIES = 10_000;
/** Decisions timed per run, in batches. */
const SAMPLE = 200_000;
const BATCH = 100;
/** Decisions timed one by one per run (the first of the sample). */
const PER_CALL = 20_000;
/** A fixed day inside the protocol's period, so the figures do not depend on the date of the run. */
const NOW = new Date('2026-11-22T10:00:00Z');
/** Issue 14's goal for one decision with 10,000 consents and the demo protocol (Cedar's published medians: 4–11 µs). */
const GOAL_P50_NS = 8_000;
const GOAL_P99_NS = 16_000;

const DISTRICTS: readonly (readonly [string, number])[] = [
  ['E1', 25],
  ['E1W', 10],
  ['E14', 25],
  ['E3', 15],
  ['E2', 15],
  ['E15', 10],
];
const CONSENTS: readonly (readonly [ConsentKind, number])[] = [
  ['permit', 70],
  ['permit-iod-only', 4],
  ['refused', 12],
  ['rejected', 4],
  ['withdrawn', 10],
];
const STAGES: readonly (readonly [Stage, number])[] = [
  ['pregnant', 40],
  ['born', 57],
  ['loss', 3],
];
/** Of born babies: a GP's record of the third 6-in-1 dose for 35 %. */
const DOSES: readonly (readonly [DoseKind | undefined, number])[] = [
  [undefined, 65],
  ['dna', 21],
  ['refusal', 7],
  ['given', 7],
];

interface Person {
  patient: Patient;
  pregnancies: readonly EpisodeOfCare[];
  records: readonly RecordFacts[];
}

interface World {
  people: Map<string, Person>;
  consentsByPatient: Map<string, ConsentFacts[]>;
  protocols: readonly LoadedProtocol[];
  now: Date;
}

interface Case {
  group: string;
  requester: Requester;
  record: RecordFacts;
  /** "Patient/<id>" of the record's subject. */
  subject: string;
}

interface Pools {
  families: Family[];
  mothers: { record: RecordFacts; subject: string }[];
  children: { record: RecordFacts; subject: string }[];
  /** Children a GP has written about, and their Immunizations. */
  gpChildren: { record: RecordFacts; subject: string }[];
  immunizations: { record: RecordFacts; subject: string }[];
  pregnancy: { record: RecordFacts; subject: string }[];
}

const NONE: readonly ConsentFacts[] = [];

function buildWorld(protocols: readonly LoadedProtocol[]): { world: World; pools: Pools } {
  const random = seededRandom(20_261_122);
  const numbers = nhsNumbers();
  const nhs = (): string => {
    const next = numbers.next();
    if (next.done === true) throw new Error('ran out of 999-range NHS numbers');
    return next.value;
  };
  const people = new Map<string, Person>();
  const consentsByPatient = new Map<string, ConsentFacts[]>();
  const pools: Pools = { families: [], mothers: [], children: [], gpChildren: [], immunizations: [], pregnancy: [] };
  const maternity = (resource: RecordFacts['resource']): RecordFacts => ({ resource, writer: 'R9M', sourceTypes: ['maternity'] });
  for (let n = 0; n < FAMILIES; n += 1) {
    const plan: FamilyPlan = {
      n,
      district: weighted(random, DISTRICTS),
      consent: weighted(random, CONSENTS),
      stage: weighted(random, STAGES),
      restricted: random() < 0.02,
    };
    if (plan.stage === 'born') plan.dose = weighted(random, DOSES);
    const family = buildFamily(plan, nhs, random, NOW);
    pools.families.push(family);
    const motherRef = `Patient/${family.mother.id}`;
    const consent: ConsentFacts = { reference: `Consent/${family.consent.id}/_history/1`, consent: family.consent, recorder: { organisationCode: 'R9M', organisationType: 'maternity' } };
    consentsByPatient.set(motherRef, [consent]);
    people.set(motherRef, { patient: family.mother, pregnancies: [family.episode], records: [] });
    pools.mothers.push({ record: maternity(family.mother), subject: motherRef });
    pools.pregnancy.push({ record: maternity(family.episode), subject: motherRef }, { record: maternity(family.edd), subject: motherRef });
    if (family.child !== undefined) {
      const childRef = `Patient/${family.child.id}`;
      // The mother's booking consent carries to the baby after the birth link.
      consentsByPatient.set(childRef, [{ ...consent, carriedFrom: motherRef }]);
      const dose = family.immunization === undefined ? undefined : { resource: family.immunization, writer: 'Y90001', sourceTypes: ['gp'] };
      people.set(childRef, { patient: family.child, pregnancies: [family.episode], records: dose === undefined ? [] : [dose] });
      // A child the GP has written about has a GP among its record's sources.
      const child = { record: { resource: family.child, writer: 'R9M', sourceTypes: dose === undefined ? ['maternity'] : ['maternity', 'gp'] }, subject: childRef };
      pools.children.push(child);
      if (dose !== undefined) {
        pools.gpChildren.push(child);
        pools.immunizations.push({ record: dose, subject: childRef });
      }
    }
  }
  return { world: { people, consentsByPatient, protocols, now: NOW }, pools };
}

function requesterOf(code: string, purpose: string): Requester {
  const org = demoOrganisations.find((o) => o.code === code);
  const client = demoClients.find((c) => c.organisation === code);
  if (org === undefined || client === undefined) throw new Error(`no demo organisation or client for ${code}`);
  return { organisationCode: org.code, organisationType: org.type, catchment: org.catchment, clientId: client.id, purpose };
}

interface Group {
  name: string;
  weight: number;
  requester: Requester;
  pick: (random: () => number) => { record: RecordFacts; subject: string };
}

/** The sample: who asks, for what, about which record; drawn once, the same for every run. */
function drawCases(pools: Pools, count: number): Case[] {
  const random = seededRandom(7_031_994);
  const from = <T>(items: readonly T[]): T => {
    const item = items[Math.floor(random() * items.length)];
    if (item === undefined) throw new Error('an empty pool');
    return item;
  };
  const patient = (): { record: RecordFacts; subject: string } => (random() < 0.5 ? from(pools.mothers) : from(pools.children));
  const missed = (): { record: RecordFacts; subject: string } => (random() < 0.7 ? from(pools.immunizations) : from(pools.gpChildren));
  const any = (): { record: RecordFacts; subject: string } => {
    const r = random();
    return r < 0.5 ? patient() : r < 0.8 ? from(pools.pregnancy) : from(pools.immunizations);
  };
  const groups: Group[] = [
    { name: 'CC-OCEAN early-years-registration, Patient', weight: 30, requester: requesterOf('CC-OCEAN', 'early-years-registration'), pick: patient },
    { name: 'CC-OCEAN early-years-registration, episode/EDD', weight: 8, requester: requesterOf('CC-OCEAN', 'early-years-registration'), pick: () => from(pools.pregnancy) },
    { name: 'CC-IOD early-years-registration, Patient', weight: 15, requester: requesterOf('CC-IOD', 'early-years-registration'), pick: patient },
    { name: 'CC-OCEAN immunisation-follow-up, dose/child', weight: 12, requester: requesterOf('CC-OCEAN', 'immunisation-follow-up'), pick: missed },
    { name: 'CC-IOD immunisation-follow-up, dose/child', weight: 5, requester: requesterOf('CC-IOD', 'immunisation-follow-up'), pick: missed },
    { name: 'R9H direct-care, any record', weight: 25, requester: requesterOf('R9H', 'direct-care'), pick: any },
    { name: 'CC-OCEAN direct-care (no flow), Patient', weight: 5, requester: requesterOf('CC-OCEAN', 'direct-care'), pick: patient },
  ];
  const cases: Case[] = [];
  for (let i = 0; i < count; i += 1) {
    const group = weighted(random, groups.map((g) => [g, g.weight] as const));
    const { record, subject } = group.pick(random);
    cases.push({ group: group.name, requester: group.requester, record, subject });
  }
  return cases;
}

// ---------------------------------------------------------------- the two loops
// Written out twice, not as one loop over a callback: each call site stays
// monomorphic, and the baseline does not pay for an indirection the scenario hides.

function decideOne(world: World, c: Case): Decision {
  const person = world.people.get(c.subject);
  const consents = world.consentsByPatient.get(c.subject) ?? NONE;
  return decide({
    requester: c.requester,
    record: c.record,
    subject: person === undefined ? undefined : { patient: person.patient, pregnancies: person.pregnancies, records: person.records, consents },
    protocols: world.protocols,
    now: world.now,
  });
}

function lookupOne(world: World, c: Case): boolean {
  const consents = world.consentsByPatient.get(c.subject);
  return consents !== undefined && consents[0]?.consent.status === 'active';
}

/** Times batches of `batch` decisions; writes each batch's mean (ns per call) to out; returns the permits. */
function decideBatches(world: World, cases: readonly Case[], batch: number, out: Float64Array): number {
  let permits = 0;
  for (let b = 0; b < out.length; b += 1) {
    const first = b * batch;
    const started = process.hrtime.bigint();
    for (let i = first; i < first + batch; i += 1) {
      if (decideOne(world, cases[i] as Case).effect === 'permit') permits += 1;
    }
    out[b] = Number(process.hrtime.bigint() - started) / batch;
  }
  return permits;
}

function lookupBatches(world: World, cases: readonly Case[], batch: number, out: Float64Array): number {
  let active = 0;
  for (let b = 0; b < out.length; b += 1) {
    const first = b * batch;
    const started = process.hrtime.bigint();
    for (let i = first; i < first + batch; i += 1) {
      if (lookupOne(world, cases[i] as Case)) active += 1;
    }
    out[b] = Number(process.hrtime.bigint() - started) / batch;
  }
  return active;
}

function decideCalls(world: World, cases: readonly Case[], out: Float64Array): number {
  let permits = 0;
  for (let i = 0; i < out.length; i += 1) {
    const c = cases[i] as Case;
    const started = process.hrtime.bigint();
    const decision = decideOne(world, c);
    out[i] = Number(process.hrtime.bigint() - started);
    if (decision.effect === 'permit') permits += 1;
  }
  return permits;
}

function lookupCalls(world: World, cases: readonly Case[], out: Float64Array): number {
  let active = 0;
  for (let i = 0; i < out.length; i += 1) {
    const c = cases[i] as Case;
    const started = process.hrtime.bigint();
    const found = lookupOne(world, c);
    out[i] = Number(process.hrtime.bigint() - started);
    if (found) active += 1;
  }
  return active;
}

/** The cost of the timer itself: two hrtime.bigint() calls around nothing, per-call timing's floor. */
function timerFloor(count: number): number {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 1) {
    const started = process.hrtime.bigint();
    out[i] = Number(process.hrtime.bigint() - started);
  }
  return percentiles(out).p50;
}

function percentiles(values: Float64Array): { p50: number; p99: number } {
  const sorted = Array.from(values).sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

// ---------------------------------------------------------------- runs and pairs

type Side = 'baseline' | 'scenario';

interface SideRun {
  /** ns per call: p50/p99 over batch means, and over calls timed one by one. */
  batchP50: number;
  batchP99: number;
  callP50: number;
  callP99: number;
  /** Permits (scenario) or active first consents (baseline) counted in the batched loop. */
  count: number;
  seconds: number;
  othersShare: number | undefined;
}

interface Pair {
  pair: number;
  baseline: SideRun;
  scenario: SideRun;
}

function warmUp(world: World, cases: readonly Case[], side: Side, seconds: number, signal: AbortSignal): void {
  const deadline = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let sink = 0;
  for (let i = 0; process.hrtime.bigint() < deadline; i = (i + 1000) % (cases.length - 1000)) {
    signal.throwIfAborted();
    for (let j = i; j < i + 1000; j += 1) {
      const c = cases[j] as Case;
      if (side === 'scenario' ? decideOne(world, c).effect === 'permit' : lookupOne(world, c)) sink += 1;
    }
  }
  if (sink < 0) throw new Error('unreachable');
}

/** Lets timers, signals and log output through between runs (the loops themselves never yield). */
function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function measureSide(world: World, cases: readonly Case[], side: Side, context: BenchContext, pair: number): Promise<SideRun> {
  const { options, signal, log } = context;
  await breathe();
  signal.throwIfAborted();
  warmUp(world, cases, side, options.warmupSeconds, signal);
  await breathe();
  signal.throwIfAborted();
  const batches = new Float64Array(Math.floor(cases.length / BATCH));
  const calls = new Float64Array(Math.min(PER_CALL, cases.length));
  const before = sampleCpu();
  const started = process.hrtime.bigint();
  const count = side === 'scenario' ? decideBatches(world, cases, BATCH, batches) : lookupBatches(world, cases, BATCH, batches);
  const callCount = side === 'scenario' ? decideCalls(world, cases, calls) : lookupCalls(world, cases, calls);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = sampleCpu();
  if (callCount < 0) throw new Error('unreachable');
  const batched = percentiles(batches);
  const single = percentiles(calls);
  const run: SideRun = {
    batchP50: batched.p50,
    batchP99: batched.p99,
    callP50: single.p50,
    callP99: single.p99,
    count,
    seconds,
    othersShare: othersShare(before, after, [process.pid]),
  };
  const other = run.othersShare === undefined ? 'n/a' : `${(run.othersShare * 100).toFixed(1)} %`;
  log(
    `  pair ${pair} ${side} (${side === 'scenario' ? 'decide' : 'Map lookup'}): batched p50 ${us(run.batchP50)} µs, p99 ${us(run.batchP99)} µs; ` +
      `per call p50 ${us(run.callP50)} µs, p99 ${us(run.callP99)} µs; ${seconds.toFixed(1)} s, other CPU ${other}`,
  );
  return run;
}

function us(ns: number): string {
  return (ns / 1000).toFixed(3);
}

/** The goal's figures: decide's p50 and p99, median and min–max over the pairs, batched and call by call. */
function goalLines(pairs: readonly Pair[]): string[] {
  const figure = (pick: (r: SideRun) => number, goal: number): string => {
    const values = pairs.map((p) => pick(p.scenario));
    const mid = median(values);
    return `${us(mid)} µs (min–max ${us(Math.min(...values))}–${us(Math.max(...values))}, ${values.length} pairs; ${mid <= goal ? 'met' : 'not met'})`;
  };
  return [
    `goal: one decision ≤ ${us(GOAL_P50_NS)} µs at p50 and ≤ ${us(GOAL_P99_NS)} µs at p99, ${FAMILIES} consents, the demo protocol:`,
    `  batched  p50 ${figure((r) => r.batchP50, GOAL_P50_NS)}, p99 ${figure((r) => r.batchP99, GOAL_P99_NS)}`,
    `  per call p50 ${figure((r) => r.callP50, GOAL_P50_NS)}, p99 ${figure((r) => r.callP99, GOAL_P99_NS)}`,
  ];
}

function ratioLine(name: string, ratios: readonly number[]): string {
  return `  ${name.padEnd(22)} median ${median(ratios).toFixed(1)}×  (min–max ${Math.min(...ratios).toFixed(1)}–${Math.max(...ratios).toFixed(1)}, ${ratios.length} pairs)`;
}

/** How the sample decides: the share of each outcome, overall and per requester group. */
function describeMix(world: World, cases: readonly Case[]): { lines: string[]; permits: number } {
  const outcomes = new Map<string, number>();
  const groups = new Map<string, { n: number; permits: number; reasons: Map<string, number> }>();
  let permits = 0;
  for (const c of cases) {
    const d = decideOne(world, c);
    const label = d.effect === 'deny' ? `deny: ${d.reason}` : d.basis === 'flow' ? `permit: ${d.flow.flow}` : `permit: ${d.basis}`;
    outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
    const g = groups.get(c.group) ?? { n: 0, permits: 0, reasons: new Map<string, number>() };
    g.n += 1;
    if (d.effect === 'permit') {
      g.permits += 1;
      permits += 1;
    } else {
      g.reasons.set(d.reason, (g.reasons.get(d.reason) ?? 0) + 1);
    }
    groups.set(c.group, g);
  }
  const pct = (n: number, of: number): string => `${((100 * n) / of).toFixed(1)} %`;
  const byOutcome = [...outcomes].sort((a, b) => (a[0].startsWith('permit') === b[0].startsWith('permit') ? b[1] - a[1] : a[0].startsWith('permit') ? -1 : 1));
  const byGroup = [...groups].sort((a, b) => b[1].n - a[1].n);
  return {
    permits,
    lines: [
      `how the ${cases.length} sampled decisions came out (permit ${pct(permits, cases.length)}, deny ${pct(cases.length - permits, cases.length)}):`,
      ...table(
        ['outcome', 'decisions', 'share'],
        byOutcome.map(([label, n]) => [label, String(n), pct(n, cases.length)]),
      ).map((l) => `  ${l}`),
      '',
      ...table(
        ['requester, purpose, record', 'decisions', 'permit', 'most frequent denial'],
        byGroup.map(([name, g]) => {
          const top = [...g.reasons].sort((a, b) => b[1] - a[1])[0];
          return [name, String(g.n), pct(g.permits, g.n), top === undefined ? '-' : `${top[0]} (${pct(top[1], g.n)})`];
        }),
      ).map((l) => `  ${l}`),
    ],
  };
}

export async function benchDecide(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  log('decide: loading the demo protocol, signed with throwaway party keys');
  const protocols = await loadDemoProtocols();
  const notInForce = protocols.map((p) => ({ p, standing: standingOf(p, NOW) })).filter((s) => !s.standing.inForce);
  if (protocols.length === 0 || notInForce.length > 0) {
    throw new Error(`the demo protocol is not in force on ${NOW.toISOString()}: ${notInForce.map((s) => `${s.p.id} ${s.standing.inForce ? '' : s.standing.reason}`).join('; ') || 'none loaded'}`);
  }
  log(`decide: building ${FAMILIES} synthetic families and drawing ${SAMPLE} cases`);
  const { world, pools } = buildWorld(protocols);
  const cases = drawCases(pools, SAMPLE);
  // Also the first warm-up of decide(): every case decided once.
  const mix = describeMix(world, cases);
  const consentKinds = new Map<string, number>();
  for (const f of pools.families) consentKinds.set(f.plan.consent, (consentKinds.get(f.plan.consent) ?? 0) + 1);
  const floor = timerFloor(PER_CALL);

  log(`decide: ${options.pairs} pairs, each side ${options.warmupSeconds} s warm-up then ${SAMPLE} decisions in batches of ${BATCH} and ${PER_CALL} timed one by one`);
  const pairs: Pair[] = [];
  let baselineCount: number | undefined;
  for (let pair = 1; pair <= options.pairs; pair += 1) {
    const baseline = await measureSide(world, cases, 'baseline', context, pair);
    const scenario = await measureSide(world, cases, 'scenario', context, pair);
    // The loops' results are used: a loop the compiler dropped would count differently.
    if (scenario.count !== mix.permits) throw new Error(`the timed loop counted ${scenario.count} permits, the untimed pass ${mix.permits}`);
    baselineCount ??= baseline.count;
    if (baseline.count !== baselineCount) throw new Error(`the baseline loop counted ${baseline.count} active consents, before ${baselineCount}`);
    pairs.push({ pair, baseline, scenario });
  }
  signal.throwIfAborted();

  const flagged = pairs.filter((p) => [p.baseline.othersShare, p.scenario.othersShare].some((v) => v !== undefined && v > OTHERS_FLAG));
  const ratios = (pick: (r: SideRun) => number): number[] => pairs.map((p) => pick(p.scenario) / pick(p.baseline));
  const motherCount = pools.mothers.length;
  const childCount = pools.children.length;
  const lines = [
    '',
    'decide: one call of the pure disclosure decision (decide) against a Map lookup, in process',
    `  world: ${FAMILIES} families in memory: ${motherCount} mothers and ${childCount} babies (${motherCount + childCount} Patients), ${pools.families.length} pregnancy episodes and EDDs, ` +
      `${pools.immunizations.length} GP dose records; ${FAMILIES} booking Consents (${[...consentKinds].map(([k, n]) => `${k} ${n}`).join(', ')}), ` +
      `indexed by patient in a Map (a baby's entry holds the mother's consent, carried over the birth link)`,
    `  postcodes: ${DISTRICTS.map(([d, w]) => `${d} ${w} %`).join(', ')}; requesters: CC-OCEAN (E1, E1W), CC-IOD (E14), R9H health visiting`,
    `  protocols: ${protocols.map((p) => `${p.id} v${p.version} (${p.flows.length} flows, ${p.signatures.length} signatures by throwaway party keys, all valid)`).join('; ')}; decided on ${NOW.toISOString().slice(0, 10)}`,
    `  scenario: per case, the subject and its consents looked up in Maps, then decide({ requester, record, subject, protocols, now })`,
    `  baseline: per case, consentsByPatient.get(subject) and a check of the first consent's status`,
    `  timing: ${SAMPLE} cases per run, batches of ${BATCH} timed with process.hrtime.bigint() (p50/p99 over the ${SAMPLE / BATCH} batch means); ` +
      `the first ${PER_CALL} also timed call by call (timer floor ${us(floor)} µs, included in per-call figures)`,
    `  runs: ${options.pairs} pairs (baseline first), each side after ${options.warmupSeconds} s of warm-up; other CPU = other processes' share of the machine (${process.pid} is ours)`,
    `  node ${process.version}, started ${new Date().toISOString()}`,
    '',
    ...table(
      ['pair', 'lookup p50 µs', 'p99', 'per-call p50', 'p99', 'other CPU', 'decide p50 µs', 'p99', 'per-call p50', 'p99', 'other CPU', 'ratio p50', 'ratio p99'],
      pairs.map((p) => [
        String(p.pair),
        us(p.baseline.batchP50),
        us(p.baseline.batchP99),
        us(p.baseline.callP50),
        us(p.baseline.callP99),
        share(p.baseline.othersShare),
        us(p.scenario.batchP50),
        us(p.scenario.batchP99),
        us(p.scenario.callP50),
        us(p.scenario.callP99),
        share(p.scenario.othersShare),
        (p.scenario.batchP50 / p.baseline.batchP50).toFixed(1),
        (p.scenario.batchP99 / p.baseline.batchP99).toFixed(1),
      ]),
    ),
    '',
    `decide: batched p50 ${us(median(pairs.map((p) => p.scenario.batchP50)))} µs, p99 ${us(median(pairs.map((p) => p.scenario.batchP99)))} µs; ` +
      `per call p50 ${us(median(pairs.map((p) => p.scenario.callP50)))} µs, p99 ${us(median(pairs.map((p) => p.scenario.callP99)))} µs (medians of the pairs)`,
    `Map lookup: batched p50 ${us(median(pairs.map((p) => p.baseline.batchP50)))} µs, p99 ${us(median(pairs.map((p) => p.baseline.batchP99)))} µs; ` +
      `per call p50 ${us(median(pairs.map((p) => p.baseline.callP50)))} µs, p99 ${us(median(pairs.map((p) => p.baseline.callP99)))} µs`,
    ...goalLines(pairs),
    'ratio = decide latency ÷ Map lookup latency, per pair (how many lookups one decision costs):',
    ratioLine('batched p50', ratios((r) => r.batchP50)),
    ratioLine('batched p99', ratios((r) => r.batchP99)),
    ratioLine('per-call p50', ratios((r) => r.callP50)),
    ratioLine('per-call p99', ratios((r) => r.callP99)),
    `  throughput: ${(1e9 / median(pairs.map((p) => p.scenario.batchP50))).toFixed(0)} decisions/s on one core at the batched p50`,
    flagged.length === 0
      ? `other processes' CPU ≤ ${OTHERS_FLAG * 100} % in every run`
      : `! other processes' CPU > ${OTHERS_FLAG * 100} % in pair(s) ${flagged.map((p) => p.pair).join(', ')}: treat those ratios with care`,
    '',
    ...mix.lines,
  ];
  for (const line of lines) out(line);
}

export const decideBenchmark: Benchmark = {
  summary: 'one call of the pure disclosure decision (p50/p99) against a Map lookup, in memory, no database',
  // Loading the protocol and building the world: a few seconds.
  setupSeconds: 120,
  run: benchDecide,
};

if (isEntryPoint(import.meta.url)) await runAlone('decide', decideBenchmark);
