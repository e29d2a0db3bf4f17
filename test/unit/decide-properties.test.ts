import fc from 'fast-check';
import type { Consent, ConsentProvision, Patient, Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { CAF_QUESTIONNAIRE } from '../../src/adapters/caf-questionnaire.js';
import { decide, type DecisionInput } from '../../src/decision/decide.js';
import { DENY_REASONS, type ConsentFacts, type Decision, type RecordFacts, type Requester, type SubjectFacts } from '../../src/decision/decision-types.js';
import { standingOf } from '../../src/protocol/in-force.js';
import { ORGANISATION_TYPES as CAF_RECIPIENT_TYPES } from '../../src/adapters/caf-schema.js';
import { ORGANISATION_TYPES, PURPOSES, type LoadedProtocol } from '../../src/protocol/protocol-schema.js';
import {
  BABY_ID,
  ISP_POLICY,
  MOTHER_ID,
  NOW,
  ORG_CODES,
  actor,
  birthWeight,
  bloodPressure,
  bookingConsent,
  cafCarePlan,
  cafConsentOf,
  cafResponse,
  child,
  consentFacts,
  demoDocument,
  demoProtocol,
  eddObservation,
  immunization,
  loadedProtocol,
  mother,
  parent,
  pregnancy,
  record,
  recorderOf,
  requester,
  input,
  strangerRequester,
  type Actor,
  type OrgCode,
} from '../support/decision-world.js';

// Properties of the disclosure decision over generated worlds: the demo
// organisations asking for every purpose, records of every kind the hub
// stores, subjects with random consents, and protocols in and out of force.
// The seed comes from test/support/fast-check-seed.ts (FC_SEED in CI).

const RUNS = 400;
const DOCUMENT = demoDocument();
const ISP = demoProtocol();
const OTHER = loadedProtocol({ ...DOCUMENT, id: 'another-isp' });
const PERIOD_START = new Date('2026-01-01T00:00:00Z');
const PERIOD_END = new Date('2028-12-31T23:59:59.999Z');

// ---------------------------------------------------------------- arbitraries

const purposeArb = fc.constantFrom<string>(...PURPOSES, 'marketing');

const requesterArb: fc.Arbitrary<Requester> = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(fc.constantFrom(...ORG_CODES), purposeArb, fc.constantFrom(undefined, undefined, '', '  ', 'Concern reported')).map(([code, purpose, reason]) => requester(code, purpose, reason)) },
  { weight: 1, arbitrary: purposeArb.map(strangerRequester) },
);

const actorArb: fc.Arbitrary<Actor> = fc.oneof(
  fc.constantFrom<string>(...ORGANISATION_TYPES, 'pharmacy').map((type) => ({ type })),
  fc.tuple(fc.constantFrom<string>(...ORG_CODES), fc.constantFrom('urn:eastside:org', 'https://fhir.nhs.uk/Id/ods-organization-code', 'urn:other')).map(([code, system]) => ({ code, system })),
);

const periodArb = fc.record(
  { start: fc.constantFrom('2026-01-01', '2026-11-22', '2026-11-23', '2027-06-01T00:00:00Z'), end: fc.constantFrom('2026-06-30', '2026-11-21', '2026-11-22', '2031-09-28') },
  { requiredKeys: [] },
);

const leafProvisionArb: fc.Arbitrary<ConsentProvision> = fc
  .record(
    {
      type: fc.constantFrom<'permit' | 'deny'>('permit', 'deny'),
      actor: fc.array(actorArb, { minLength: 1, maxLength: 2 }),
      purpose: fc.array(purposeArb, { minLength: 1, maxLength: 2 }),
      period: periodArb,
      class: fc.array(fc.constantFrom('Patient', 'Immunization', 'QuestionnaireResponse', 'Observation'), { minLength: 1, maxLength: 2 }),
    },
    { requiredKeys: [] },
  )
  .map(toProvision);

const provisionArb: fc.Arbitrary<ConsentProvision> = fc
  .tuple(leafProvisionArb, fc.array(leafProvisionArb, { maxLength: 2 }))
  .map(([root, nested]) => (nested.length === 0 ? root : { ...root, provision: nested }));

function toProvision(p: { type?: 'permit' | 'deny'; actor?: Actor[]; purpose?: string[]; period?: { start?: string; end?: string }; class?: string[] }): ConsentProvision {
  return {
    ...(p.type === undefined ? {} : { type: p.type }),
    ...(p.actor === undefined ? {} : { actor: p.actor.map(actor) }),
    ...(p.purpose === undefined ? {} : { purpose: p.purpose.map((code) => ({ system: 'https://eastside.example/fhir/CodeSystem/purpose-of-use', code })) }),
    ...(p.period === undefined ? {} : { period: p.period }),
    ...(p.class === undefined ? {} : { class: p.class.map((code) => ({ system: 'http://hl7.org/fhir/resource-types', code })) }),
  };
}

const statusArb = fc.constantFrom<Consent['status']>('active', 'active', 'active', 'inactive', 'rejected', 'draft', 'proposed', 'entered-in-error');

/** Consents close to what the consent-based flows ask about, in any status. */
const relevantConsentArb: fc.Arbitrary<Consent> = fc
  .record({
    status: fc.constantFrom<Consent['status']>('active', 'inactive', 'rejected', 'draft', 'proposed', 'entered-in-error'),
    type: fc.constantFrom<'permit' | 'deny'>('permit', 'permit', 'deny'),
    actors: fc.subarray<Actor>([{ type: 'childrens-centre' }, { type: 'health-visiting' }, { type: 'gp' }, { code: 'CC-OCEAN' }, { code: 'CC-IOD' }], { minLength: 1 }),
    purposes: fc.subarray(['early-years-registration', 'immunisation-follow-up', 'early-help'], { minLength: 1 }),
  })
  .map((o) => bookingConsent(o));

/** Any Consent: the hub's own shapes (booking, CAF) with random changes, and free-form ones. */
const consentArb: fc.Arbitrary<Consent> = fc.oneof(
  relevantConsentArb,
  fc
    .record({
      status: statusArb,
      type: fc.constantFrom<'permit' | 'deny'>('permit', 'deny'),
      actors: fc.array(actorArb, { minLength: 1, maxLength: 3 }),
      purposes: fc.array(purposeArb, { minLength: 1, maxLength: 2 }),
      period: periodArb,
      policy: fc.constantFrom([ISP_POLICY], [ISP_POLICY], [], ['urn:isp:another-isp'], [ISP_POLICY, 'urn:isp:another-isp'], ['https://example.org/policy']),
      scope: fc.constantFrom('patient-privacy', 'patient-privacy', 'research'),
      nested: fc.array(leafProvisionArb, { maxLength: 2 }),
    })
    .map((o) => bookingConsent({ ...o, nested: o.nested.length === 0 ? undefined : o.nested })),
  fc
    .tuple(fc.boolean(), fc.subarray([...CAF_RECIPIENT_TYPES]), fc.subarray([...CAF_RECIPIENT_TYPES]), statusArb)
    .map(([given, share, doNot, status]) => ({ ...cafConsentOf(given, given ? share : [], doNot), ...(status === 'active' ? {} : { status }) })),
  fc.record({ status: statusArb, provision: fc.option(provisionArb, { nil: undefined }) }).map(
    ({ status, provision }): Consent => ({
      resourceType: 'Consent',
      status,
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      policy: [{ uri: ISP_POLICY }],
      ...(provision === undefined ? {} : { provision }),
    }),
  ),
);

const consentsArb: fc.Arbitrary<ConsentFacts[]> = fc
  .array(fc.tuple(consentArb, fc.boolean()), { maxLength: 4 })
  .map((list) => list.map(([consent, carried], i) => consentFacts(consent, `c-${i}`, 1, carried ? `Patient/${MOTHER_ID}` : undefined)));

type PatientKind = 'mother' | 'child' | 'six-year-old' | 'no-birth-date';

const patientArb: fc.Arbitrary<Patient> = fc
  .record({
    kind: fc.constantFrom<PatientKind>('mother', 'child', 'child', 'six-year-old', 'no-birth-date'),
    postcode: fc.constantFrom('E1 6AN', 'E1W 2AB', 'E14 3BD', 'N1 9GU', undefined),
    restricted: fc.boolean(),
  })
  .map(({ kind, postcode, restricted }) => {
    switch (kind) {
      case 'mother':
        return mother({ postcode, restricted });
      case 'no-birth-date':
        return mother({ postcode, restricted, birthDate: undefined });
      case 'child':
        return child({ postcode, restricted });
      case 'six-year-old':
        return child({ postcode, restricted, birthDate: '2020-11-22' });
    }
  });

const pregnancyArb = fc
  .record({
    motherId: fc.constantFrom(MOTHER_ID, 'mother-x'),
    outcome: fc.constantFrom<'live-birth' | 'stillbirth' | 'miscarriage' | undefined>('live-birth', 'stillbirth', 'miscarriage', undefined),
    baby: fc.constantFrom(BABY_ID, 'baby-x', undefined),
    start: fc.constantFrom('2025-01-01', '2026-03-02', '2027-01-01'),
  })
  .map(({ motherId, outcome, baby, start }) => pregnancy({ motherId, start, ...(outcome === undefined ? {} : { outcome }), ...(baby === undefined ? {} : { baby }) }));

const otherRecordArb: fc.Arbitrary<RecordFacts> = fc
  .tuple(fc.constantFrom<'dna' | 'dna-2' | 'refusal' | 'given'>('dna', 'dna-2', 'refusal', 'given'), fc.constantFrom<string>(...ORG_CODES))
  .map(([kind, writer]) => record(immunization(kind), writer));

const subjectArb: fc.Arbitrary<SubjectFacts | undefined> = fc.option(
  fc.record({
    patient: patientArb,
    pregnancies: fc.array(pregnancyArb, { maxLength: 2 }),
    consents: consentsArb,
    records: fc.array(otherRecordArb, { maxLength: 3 }),
  }),
  { nil: undefined, freq: 10 },
);

const RECORD_KINDS = [
  'patient',
  'episode',
  'edd',
  'birth-weight',
  'blood-pressure',
  'imm-dna',
  'imm-dna-2',
  'imm-refusal',
  'imm-given',
  'caf-response',
  'caf-plan',
  'parent',
  'questionnaire',
  'consent',
] as const;
type RecordKind = (typeof RECORD_KINDS)[number];

/** The record of a kind about the subject, and who would naturally have written it. */
function recordOf(kind: RecordKind, about: Patient | undefined): { resource: Resource; writer: OrgCode } {
  const id = about?.id ?? 'nobody';
  switch (kind) {
    case 'patient':
      return { resource: about ?? mother({ id: 'nobody' }), writer: 'R9M' };
    case 'episode':
      return { resource: pregnancy({ motherId: id }), writer: 'R9M' };
    case 'edd':
      return { resource: eddObservation(id), writer: 'R9M' };
    case 'birth-weight':
      return { resource: birthWeight(id), writer: 'R9M' };
    case 'blood-pressure':
      return { resource: bloodPressure(id), writer: 'R9M' };
    case 'imm-dna':
      return { resource: immunization('dna', id), writer: 'Y90001' };
    case 'imm-dna-2':
      return { resource: immunization('dna-2', id), writer: 'Y90002' };
    case 'imm-refusal':
      return { resource: immunization('refusal', id), writer: 'Y90001' };
    case 'imm-given':
      return { resource: immunization('given', id), writer: 'Y90001' };
    case 'caf-response':
      return { resource: cafResponse(about?.id), writer: 'E09000999-EH' };
    case 'caf-plan':
      return { resource: cafCarePlan(id), writer: 'E09000999-EH' };
    case 'parent':
      return { resource: parent(id), writer: 'E09000999-EH' };
    case 'questionnaire':
      return { resource: CAF_QUESTIONNAIRE, writer: 'EYHUB' };
    case 'consent':
      return { resource: bookingConsent({}, id), writer: 'R9M' };
  }
}

const recordSpecArb = fc.record({
  kind: fc.constantFrom(...RECORD_KINDS),
  writer: fc.option(fc.constantFrom<string>(...ORG_CODES, 'XX-UNKNOWN'), { nil: undefined, freq: 3 }),
  extraSources: fc.subarray<string>([...ORGANISATION_TYPES, 'pharmacy'], { maxLength: 2 }),
});

type Standing = 'in-force' | 'bad-signature' | 'missing-signature';

function withStanding(protocol: LoadedProtocol, standing: Standing, party: string): LoadedProtocol {
  switch (standing) {
    case 'in-force':
      return protocol;
    case 'bad-signature':
      return { ...protocol, signatures: protocol.signatures.map((s) => (s.party === party ? { party, valid: false, problem: 'does not verify' } : s)) };
    case 'missing-signature':
      return { ...protocol, signatures: protocol.signatures.filter((s) => s.party !== party) };
  }
}

const standingArb = fc.constantFrom<Standing>('in-force', 'in-force', 'in-force', 'bad-signature', 'missing-signature');
const partyArb = fc.constantFrom(...ISP.parties);

const protocolsArb: fc.Arbitrary<LoadedProtocol[]> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(standingArb, partyArb).map(([s, party]) => [withStanding(ISP, s, party)]) },
  { weight: 1, arbitrary: fc.tuple(standingArb, partyArb, standingArb, partyArb).map(([s1, p1, s2, p2]) => [withStanding(OTHER, s1, p1), withStanding(ISP, s2, p2)]) },
  { weight: 1, arbitrary: fc.constant<LoadedProtocol[]>([]) },
);

const nowArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(NOW) },
  { weight: 1, arbitrary: fc.date({ min: new Date('2025-06-01T00:00:00Z'), max: new Date('2029-06-30T00:00:00Z'), noInvalidDate: true }) },
);

const worldArb: fc.Arbitrary<DecisionInput> = fc
  .record({ requester: requesterArb, subject: subjectArb, spec: recordSpecArb, protocols: protocolsArb, now: nowArb })
  .map(({ requester: who, subject: about, spec, protocols, now }) => {
    const natural = recordOf(spec.kind, about?.patient);
    const facts = record(natural.resource, spec.writer ?? natural.writer);
    return { requester: who, record: { ...facts, sourceTypes: [...new Set([...facts.sourceTypes, ...spec.extraSources])] }, subject: about, protocols, now };
  });

/** Worlds where a consent decides: consent-based flows, with at least one consent. */
const consentWorldArb: fc.Arbitrary<DecisionInput> = fc
  .record({
    scenario: fc.constantFrom(
      { who: ['CC-OCEAN', 'CC-IOD'] as OrgCode[], purpose: 'early-years-registration', kinds: ['patient', 'episode', 'edd', 'parent'] as RecordKind[], patient: 'any' },
      { who: ['CC-OCEAN', 'CC-IOD'] as OrgCode[], purpose: 'immunisation-follow-up', kinds: ['imm-dna', 'imm-dna-2'] as RecordKind[], patient: 'child' },
      { who: ['R9H', 'Y90001', 'Y90002', 'CC-OCEAN', 'CC-IOD'] as OrgCode[], purpose: 'early-help', kinds: ['caf-response', 'caf-plan', 'parent'] as RecordKind[], patient: 'any' },
    ),
    pick: fc.nat(),
    pick2: fc.nat(),
    postcode: fc.constantFrom('E1 6AN', 'E1W 2AB', 'E14 3BD'),
    isChild: fc.boolean(),
    consents: consentsArb.filter((c) => c.length > 0),
    pregnancies: fc.array(pregnancyArb, { maxLength: 1 }),
  })
  .map(({ scenario, pick, pick2, postcode, isChild, consents, pregnancies }) => {
    const who = scenario.who[pick % scenario.who.length] ?? 'CC-OCEAN';
    const kind = scenario.kinds[pick2 % scenario.kinds.length] ?? 'patient';
    const patient = scenario.patient === 'child' || isChild ? child({ postcode }) : mother({ postcode });
    const natural = recordOf(kind, patient);
    return {
      requester: requester(who, scenario.purpose),
      record: record(natural.resource, natural.writer),
      subject: { patient, pregnancies, consents, records: [] },
      protocols: [ISP],
      now: NOW,
    };
  });

// ---------------------------------------------------------------- edits

/** True when a provision tree refuses anything: such a Consent is a refusal, and withdrawing it lifts the refusal. */
function refusesAnything(p: ConsentProvision | undefined): boolean {
  return p !== undefined && (p.type === 'deny' || (p.provision ?? []).some(refusesAnything));
}

/** A consent that grants and never refuses: withdrawing it can only take permission away. */
const isGrant = (c: Consent): boolean => c.status !== 'rejected' && !refusesAnything(c.provision);

function editConsent(input: DecisionInput, index: number, edit: (c: Consent) => Consent): DecisionInput {
  const about = input.subject;
  if (about === undefined) return input;
  return { ...input, subject: { ...about, consents: about.consents.map((f, i) => (i === index ? { ...f, consent: edit(f.consent) } : f)) } };
}

const withdraw = (c: Consent): Consent => ({ ...c, status: 'inactive' });
const reject = (c: Consent): Consent => ({ ...c, status: 'rejected' });
const denyRoot = (c: Consent): Consent => (c.provision === undefined ? c : { ...c, provision: { ...c.provision, type: 'deny' } });

const isPermit = (d: Decision): boolean => d.effect === 'permit';

function neverLoosens(before: DecisionInput, after: DecisionInput): void {
  const was = decide(before);
  if (was.effect === 'deny') expect(decide(after), `was ${was.reason}: ${was.detail}`).toMatchObject({ effect: 'deny' });
}

// ---------------------------------------------------------------- properties

describe('decide: refusing or withdrawing consent never grants anything', () => {
  const consentEdits = fc.tuple(fc.oneof(worldArb, consentWorldArb), fc.nat(), fc.constantFrom('withdraw', 'reject', 'deny-root'));

  it('withdrawing a consent that grants, rejecting any consent, or turning its provision into a deny keeps a deny a deny', () => {
    let edited = 0;
    fc.assert(
      fc.property(consentEdits, ([world, n, how]) => {
        const consents = world.subject?.consents ?? [];
        if (consents.length === 0) return;
        const index = n % consents.length;
        const target = consents[index]!.consent;
        if (how === 'withdraw' && !isGrant(target)) return;
        edited += 1;
        neverLoosens(world, editConsent(world, index, how === 'withdraw' ? withdraw : how === 'reject' ? reject : denyRoot));
      }),
      { numRuns: 800 },
    );
    expect(edited).toBeGreaterThan(200);
  });

  it('on consent-based flows, every consent withdrawn or refused at once leaves nothing permitted that was not', () => {
    let permits = 0;
    fc.assert(
      fc.property(consentWorldArb, fc.constantFrom('withdraw', 'reject', 'deny-root'), (world, how) => {
        if (isPermit(decide(world))) permits += 1;
        let after = world;
        world.subject!.consents.forEach((f, i) => {
          if (how !== 'withdraw' || isGrant(f.consent)) after = editConsent(after, i, how === 'withdraw' ? withdraw : how === 'reject' ? reject : denyRoot);
        });
        neverLoosens(world, after);
        // Refusing every consent leaves no consent-based flow permitted (objection-stops flows may go on without one).
        const refused = decide(world.subject!.consents.reduce((w, _f, i) => editConsent(w, i, reject), world));
        if (refused.effect === 'permit' && refused.basis === 'flow') expect(ISP.flows.find((f) => f.id === refused.flow.flow)?.consent).not.toBe('required');
      }),
      { numRuns: RUNS },
    );
    // The generator reaches permits, so the property says something.
    expect(permits).toBeGreaterThan(10);
  });
});

describe('decide: a protocol out of force grants nothing', () => {
  /** The protocol a flow permit rests on. */
  const citedProtocol = (d: Decision): string | undefined => (d.effect === 'permit' && d.basis === 'flow' ? d.flow.protocol : undefined);

  it('making one signature invalid keeps a deny a deny, and nothing is permitted under that protocol', () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), fc.nat(), (world, p, s) => {
        if (world.protocols.length === 0) return;
        const pi = p % world.protocols.length;
        const target = world.protocols[pi]!;
        if (target.signatures.length === 0) return;
        const party = target.signatures[s % target.signatures.length]!.party;
        const protocols = world.protocols.map((x, i) => (i === pi ? withStanding(x, 'bad-signature', party) : x));
        neverLoosens(world, { ...world, protocols });
        expect(citedProtocol(decide({ ...world, protocols }))).not.toBe(target.id);
      }),
      { numRuns: RUNS },
    );
  });

  it('removing a party’s signature keeps a deny a deny, and nothing is permitted under that protocol', () => {
    fc.assert(
      fc.property(worldArb, fc.nat(), fc.nat(), (world, p, s) => {
        if (world.protocols.length === 0) return;
        const pi = p % world.protocols.length;
        const target = world.protocols[pi]!;
        const party = target.parties[s % target.parties.length]!;
        const protocols = world.protocols.map((x, i) => (i === pi ? withStanding(x, 'missing-signature', party) : x));
        neverLoosens(world, { ...world, protocols });
        expect(citedProtocol(decide({ ...world, protocols }))).not.toBe(target.id);
      }),
      { numRuns: RUNS },
    );
  });

  it('moving `now` outside the period keeps a deny a deny, and permits only what is public or its own', () => {
    const outside = fc.oneof(
      fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date(PERIOD_START.getTime() - 1), noInvalidDate: true }),
      fc.date({ min: new Date(PERIOD_END.getTime() + 1), max: new Date('2035-01-01T00:00:00Z'), noInvalidDate: true }),
    );
    fc.assert(
      fc.property(worldArb, outside, (world, now) => {
        const moved = { ...world, now };
        neverLoosens(world, moved);
        const decision = decide(moved);
        if (decision.effect === 'permit') expect(decision.basis).not.toBe('flow');
      }),
      { numRuns: RUNS },
    );
  });
});

describe('decide: what a permit says is what the protocol says', () => {
  const dataItems = DOCUMENT.dataItems;

  it('names an in-force flow to the requester’s type and purpose, and exactly its items’ elements for the record', () => {
    let flowPermits = 0;
    fc.assert(
      fc.property(fc.oneof(worldArb, consentWorldArb), (world) => {
        const decision = decide(world);
        if (decision.effect !== 'permit' || decision.basis !== 'flow') return;
        flowPermits += 1;
        const protocol = world.protocols.find((p) => p.id === decision.flow.protocol && p.version === decision.flow.version);
        expect(protocol).toBeDefined();
        expect(standingOf(protocol!, world.now)).toEqual({ inForce: true });
        const flow = protocol!.flows.find((f) => f.id === decision.flow.flow);
        expect(flow).toBeDefined();
        expect(flow!.to).toContain(world.requester.organisationType);
        expect(flow!.purposes).toContain(world.requester.purpose);
        expect(world.record.sourceTypes.some((t) => (flow!.from as readonly string[]).includes(t))).toBe(true);
        expect(decision.items.length).toBeGreaterThan(0);
        for (const item of decision.items) expect(flow!.data).toContain(item);
        const type = world.record.resource.resourceType;
        const expected = new Set(decision.items.flatMap((name) => (dataItems[name]?.elements ?? []).filter((e) => e.startsWith(`${type}.`)).map((e) => e.slice(type.length + 1))));
        expect(new Set(decision.elements)).toEqual(expected);
        expect(decision.elements).toHaveLength(expected.size);
        if (flow!.consent === 'required') expect(world.subject?.consents.map((c) => c.reference)).toContain(decision.consent);
        expect(decision.override !== undefined).toBe(flow!.override === 'safeguarding');
      }),
      { numRuns: 800 },
    );
    expect(flowPermits).toBeGreaterThan(10);
  });
});

describe('decide is total and deterministic', () => {
  /** Records of any type with arbitrary JSON in them: FHIRPath and the predicates must cope. */
  const junkRecordArb: fc.Arbitrary<RecordFacts> = fc
    .record({
      resourceType: fc.constantFrom('Patient', 'Immunization', 'Observation', 'EpisodeOfCare', 'QuestionnaireResponse', 'CarePlan', 'RelatedPerson', 'Basic', 'Questionnaire'),
      fields: fc.dictionary(fc.constantFrom('status', 'statusReason', 'code', 'type', 'item', 'subject', 'patient', 'extension', 'valueString', 'birthDate'), fc.jsonValue({ maxDepth: 3 })),
      writer: fc.constantFrom<string>(...ORG_CODES),
      sources: fc.subarray<string>([...ORGANISATION_TYPES]),
    })
    .map(({ resourceType, fields, writer, sources }) => ({ resource: { ...fields, resourceType }, writer, sourceTypes: sources }));

  const anyWorldArb = fc.oneof(worldArb, consentWorldArb, fc.tuple(worldArb, junkRecordArb).map(([w, r]) => ({ ...w, record: r })));

  it('never throws, and every deny gives a known reason and a detail', () => {
    fc.assert(
      fc.property(anyWorldArb, (world) => {
        const decision = decide(world);
        if (decision.effect === 'deny') {
          expect(DENY_REASONS).toContain(decision.reason);
          expect(decision.detail).not.toBe('');
        } else {
          expect(['public', 'originator', 'addressed', 'flow']).toContain(decision.basis);
        }
      }),
      { numRuns: 600 },
    );
  });

  it('gives the same decision for the same input, and changes nothing it is given', () => {
    fc.assert(
      fc.property(anyWorldArb, (world) => {
        const facts = JSON.stringify([world.requester, world.record, world.subject, world.now]);
        const first = decide(world);
        const copy: DecisionInput = {
          ...(JSON.parse(JSON.stringify({ requester: world.requester, record: world.record, subject: world.subject })) as Pick<DecisionInput, 'requester' | 'record' | 'subject'>),
          protocols: world.protocols,
          now: new Date(world.now.getTime()),
        };
        expect(decide(world)).toEqual(first);
        expect(decide(copy)).toEqual(first);
        expect(JSON.stringify([world.requester, world.record, world.subject, world.now])).toBe(facts);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('decide: consents from organisations other than the source never open what the source keeps closed', () => {
  // DESIGN.md section 10: a Consent counts for a flow only if an organisation the flow takes consent from
  // (`consentRecordedBy`, default `from`) recorded it. So for a record only A wrote, no Consent recorded by
  // anyone else (of any shape, status, policy or provision, carried to a baby or not, in any order) turns
  // one of A's denials into a permit: not its refusal, not the absence of its consent, not an objection.

  /** Organisation types whose recorded consent counts for some flow carrying records from these types. */
  function entitledRecorders(protocols: readonly LoadedProtocol[], sourceTypes: readonly string[]): Set<string> {
    const types = new Set<string>();
    for (const p of protocols) {
      for (const f of p.flows) if (f.from.some((t) => sourceTypes.includes(t))) for (const t of f.consentRecordedBy ?? f.from) types.add(t);
    }
    return types;
  }

  const organisationType = (code: OrgCode): string => requester(code, 'direct-care').organisationType;

  const othersArb = fc.array(fc.tuple(consentArb, fc.nat(), fc.boolean(), fc.nat()), { minLength: 1, maxLength: 5 });

  /** A = maternity with no consent, a refusal, or a withdrawal; the record and subject are maternity's booking. */
  const maternityDenialArb: fc.Arbitrary<DecisionInput> = fc
    .record({
      who: fc.constantFrom<OrgCode>('CC-OCEAN', 'CC-IOD', 'R9H', 'Y90001', 'E09000999-EH'),
      purpose: purposeArb,
      kind: fc.constantFrom<RecordKind>('patient', 'episode', 'edd', 'consent'),
      isChild: fc.boolean(),
      postcode: fc.constantFrom('E1 6AN', 'E1W 2AB', 'E14 3BD'),
      own: fc.constantFrom<'none' | 'refused' | 'withdrawn' | 'deny'>('none', 'refused', 'withdrawn', 'deny'),
    })
    .map(({ who, purpose, kind, isChild, postcode, own }) => {
      const patient = isChild ? child({ postcode }) : mother({ postcode });
      const natural = recordOf(kind, patient);
      const consents =
        own === 'none'
          ? []
          : [consentFacts(bookingConsent(own === 'refused' ? { status: 'rejected' } : own === 'withdrawn' ? { status: 'inactive' } : { type: 'deny' }, patient.id), 'maternity-own')];
      return { requester: requester(who, purpose), record: record(natural.resource, 'R9M'), subject: { patient, pregnancies: [], consents, records: [] }, protocols: [ISP], now: NOW };
    });

  it('adding Consents recorded by organisations the flows do not take consent from keeps a deny a deny', () => {
    let consentDenials = 0;
    fc.assert(
      fc.property(fc.oneof(maternityDenialArb, consentWorldArb, worldArb), othersArb, (world, extra) => {
        const about = world.subject;
        if (about === undefined) return;
        const before = decide(world);
        if (before.effect !== 'deny') return;
        const entitled = entitledRecorders(world.protocols, world.record.sourceTypes);
        const others = ORG_CODES.filter((code) => !entitled.has(organisationType(code)));
        if (others.length === 0) return;
        if (['no-consent', 'consent-refused', 'consent-withdrawn', 'objection'].includes(before.reason)) consentDenials += 1;
        let consents = [...about.consents];
        extra.forEach(([consent, pick, carried, at], i) => {
          const recorder = others[pick % others.length] ?? 'CC-OCEAN';
          const facts = consentFacts(consent, `other-${i}`, 1, carried ? `Patient/${MOTHER_ID}` : undefined, recorderOf(recorder));
          const position = at % (consents.length + 1);
          consents = [...consents.slice(0, position), facts, ...consents.slice(position)];
        });
        const after = decide({ ...world, subject: { ...about, consents } });
        expect(after, `was ${before.reason}: ${before.detail}`).toMatchObject({ effect: 'deny' });
      }),
      { numRuns: 1200 },
    );
    // The generator reaches denials that consent decides, so the property says something.
    expect(consentDenials).toBeGreaterThan(100);
  });

  it('a permit the flow’s own recorder gave still permits beside anything others recorded that permits', () => {
    // The other side: others' permits are ignored, not held against the family (only a "no" narrows).
    fc.assert(
      fc.property(othersArb.map((list) => list.map(([c]) => c).filter((c) => c.status === 'active' && !refusesAnything(c.provision))), (permits) => {
        const amina = mother();
        const own = consentFacts(bookingConsent());
        const others = permits.map((c, i) => consentFacts(c, `other-${i}`, 1, undefined, recorderOf('E09000999-EH')));
        const world = input(requester('CC-OCEAN', 'early-years-registration'), record(amina), { patient: amina, pregnancies: [], consents: [...others, own], records: [] });
        expect(decide(world)).toMatchObject({ effect: 'permit', basis: 'flow', consent: 'Consent/booking-a/_history/1' });
      }),
      { numRuns: RUNS },
    );
  });
});
