import fc from 'fast-check';
import type { Consent, Patient, Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { CAF_QUESTIONNAIRE } from '../../src/adapters/caf-questionnaire.js';
import { ORGANISATION_TYPES as CAF_RECIPIENT_TYPES } from '../../src/adapters/caf-schema.js';
import { decide, type DecisionInput } from '../../src/decision/decide.js';
import type { ConsentFacts, RecordFacts, Requester, SubjectFacts } from '../../src/decision/decision-types.js';
import { candidateFlows } from '../../src/protocol/flow-index.js';
import { ORGANISATION_TYPES, PURPOSES, type LoadedProtocol } from '../../src/protocol/protocol-schema.js';
import { decideReference } from '../support/decide-reference.js';
import {
  BABY_ID,
  MOTHER_ID,
  NOW,
  ORG_CODES,
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
  followUpTask,
  immunization,
  loadedProtocol,
  mother,
  parent,
  pregnancy,
  record,
  recorderOf,
  requester,
  strangerRequester,
  type OrgCode,
} from '../support/decision-world.js';

// The decision looks flows up in an index built once per protocol version and
// works out each fact of the subject once per decision; the straightforward
// decision (test/support/decide-reference.ts) scans every flow and recomputes.
// Over generated worlds both must give the same Decision, field for field.

const RUNS = 1500;
const DOCUMENT = demoDocument();
const ISP = demoProtocol();
const OTHER = loadedProtocol({ ...DOCUMENT, id: 'another-isp' });
/** The demo flows in reverse, with every other one dropped: a flow list indexed on first use, not at load. */
const SHUFFLED: LoadedProtocol = { ...loadedProtocol({ ...DOCUMENT, id: 'shuffled-isp' }), flows: [...ISP.flows].reverse().filter((_, i) => i % 2 === 0) };

const purposeArb = fc.constantFrom<string>(...PURPOSES, 'marketing');

const requesterArb: fc.Arbitrary<Requester> = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(fc.constantFrom(...ORG_CODES), purposeArb, fc.constantFrom(undefined, '', 'Concern reported')).map(([code, purpose, reason]) => requester(code, purpose, reason)) },
  { weight: 1, arbitrary: purposeArb.map(strangerRequester) },
);

const consentArb: fc.Arbitrary<Consent> = fc.oneof(
  fc
    .record({
      status: fc.constantFrom<Consent['status']>('active', 'active', 'inactive', 'rejected', 'draft'),
      type: fc.constantFrom<'permit' | 'deny'>('permit', 'permit', 'deny'),
      actors: fc.subarray([{ type: 'childrens-centre' }, { type: 'health-visiting' }, { type: 'gp' }, { code: 'CC-OCEAN' }, { code: 'CC-IOD' }], { minLength: 1 }),
      purposes: fc.subarray(['early-years-registration', 'immunisation-follow-up', 'early-help', 'direct-care'], { minLength: 1 }),
      policy: fc.constantFrom(undefined, [], ['urn:isp:another-isp'], ['https://example.org/policy']),
      period: fc.constantFrom(undefined, { start: '2026-11-23', end: '2031-09-28' }, { start: '2026-01-01T00:00:00Z', end: '2026-11-22T23:00:00Z' }),
    })
    .map(({ policy, period, ...o }) => bookingConsent({ ...o, ...(policy === undefined ? {} : { policy }), ...(period === undefined ? {} : { period }) })),
  fc.tuple(fc.boolean(), fc.subarray([...CAF_RECIPIENT_TYPES]), fc.subarray([...CAF_RECIPIENT_TYPES])).map(([given, share, doNot]) => cafConsentOf(given, given ? share : [], doNot)),
);

const consentsArb: fc.Arbitrary<ConsentFacts[]> = fc
  .array(fc.tuple(consentArb, fc.constantFrom<OrgCode>('R9M', 'R9M', 'E09000999-EH', 'R9H', 'Y90001')), { maxLength: 3 })
  .map((list) => list.map(([consent, recorder], i) => consentFacts(consent, `c-${i}`, 1, undefined, recorderOf(recorder))));

const patientArb: fc.Arbitrary<Patient> = fc
  .record({
    kind: fc.constantFrom('mother', 'child', 'six-year-old', 'no-birth-date', 'partial-birth-date'),
    postcode: fc.constantFrom('E1 6AN', 'E1W 2AB', 'E14 3BD', 'N1 9GU', 'not a postcode', undefined),
    restricted: fc.boolean(),
  })
  .map(({ kind, postcode, restricted }) => {
    switch (kind) {
      case 'mother':
        return mother({ postcode, restricted });
      case 'no-birth-date':
        return mother({ postcode, restricted, birthDate: undefined });
      case 'partial-birth-date':
        return child({ postcode, restricted, birthDate: '2021' });
      case 'six-year-old':
        return child({ postcode, restricted, birthDate: '2020-11-22' });
      default:
        return child({ postcode, restricted });
    }
  });

const subjectArb: fc.Arbitrary<SubjectFacts | undefined> = fc.option(
  fc.record({
    patient: patientArb,
    pregnancies: fc.array(
      fc
        .record({
          motherId: fc.constantFrom(MOTHER_ID, 'mother-x'),
          outcome: fc.constantFrom('live-birth', 'stillbirth', 'miscarriage', undefined),
          baby: fc.constantFrom(BABY_ID, 'baby-x', undefined),
          start: fc.constantFrom('2025-01-01', '2026-03-02'),
        })
        .map(({ motherId, outcome, baby, start }) => pregnancy({ motherId, start, ...(outcome === undefined ? {} : { outcome }), ...(baby === undefined ? {} : { baby }) })),
      { maxLength: 2 },
    ),
    consents: consentsArb,
    records: fc.array(fc.tuple(fc.constantFrom('dna', 'dna-2', 'refusal', 'given', 'text-reason', 'dna-wrong-system'), fc.constantFrom<OrgCode>('Y90001', 'Y90002', 'R9M')).map(([kind, writer]) => record(immunization(kind, BABY_ID), writer)), { maxLength: 2 }),
  }),
  { nil: undefined, freq: 10 },
);

const KINDS = ['patient', 'episode', 'edd', 'birth-weight', 'blood-pressure', 'dna', 'dna-2', 'refusal', 'given', 'text-reason', 'caf-response', 'caf-plan', 'parent', 'questionnaire', 'consent', 'task'] as const;

/** Who would naturally have written a record of each kind. */
function writerOf(kind: (typeof KINDS)[number]): OrgCode {
  if (['dna', 'refusal', 'given', 'text-reason'].includes(kind)) return 'Y90001';
  if (kind === 'dna-2') return 'Y90002';
  if (['caf-response', 'caf-plan', 'parent'].includes(kind)) return 'E09000999-EH';
  if (kind === 'questionnaire' || kind === 'task') return 'EYHUB';
  return 'R9M';
}

function resourceOf(kind: (typeof KINDS)[number], about: Patient | undefined): Resource {
  const id = about?.id ?? 'nobody';
  switch (kind) {
    case 'patient':
      return about ?? mother({ id: 'nobody' });
    case 'episode':
      return pregnancy({ motherId: id });
    case 'edd':
      return eddObservation(id);
    case 'birth-weight':
      return birthWeight(id);
    case 'blood-pressure':
      return bloodPressure(id);
    case 'caf-response':
      return cafResponse(about?.id);
    case 'caf-plan':
      return cafCarePlan(id);
    case 'parent':
      return parent(id);
    case 'questionnaire':
      return CAF_QUESTIONNAIRE;
    case 'consent':
      return bookingConsent({}, id);
    case 'task':
      return followUpTask(id, 'CC-OCEAN');
    default:
      return immunization(kind, id);
  }
}

const recordArb = (about: Patient | undefined): fc.Arbitrary<RecordFacts> =>
  fc
    .record({
      kind: fc.constantFrom(...KINDS),
      writer: fc.option(fc.constantFrom<string>(...ORG_CODES, 'XX-UNKNOWN'), { nil: undefined, freq: 3 }),
      sources: fc.subarray<string>([...ORGANISATION_TYPES, 'pharmacy'], { maxLength: 3 }),
      alsoWrittenBy: fc.constantFrom(undefined, [], ['R9H']),
      focusDisclosed: fc.constantFrom(undefined, true, false),
    })
    .map(({ kind, writer, sources, alsoWrittenBy, focusDisclosed }) => {
      const facts = record(resourceOf(kind, about), writer ?? writerOf(kind));
      return { ...facts, sourceTypes: [...new Set([...facts.sourceTypes, ...sources])], alsoWrittenBy, focusDisclosed };
    });

function broken(protocol: LoadedProtocol, how: number): LoadedProtocol {
  if (how === 1) return { ...protocol, signatures: protocol.signatures.map((s, i) => (i === 0 ? { ...s, valid: false, problem: 'does not verify' } : s)) };
  if (how === 2) return { ...protocol, signatures: protocol.signatures.slice(1) };
  return protocol;
}

const protocolsArb: fc.Arbitrary<LoadedProtocol[]> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 0, 0, 1, 2).map((how) => [broken(ISP, how)]) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0, 1), fc.constantFrom(0, 2)).map(([a, b]) => [broken(OTHER, a), broken(ISP, b)]) },
  { weight: 1, arbitrary: fc.constantFrom<LoadedProtocol[]>([SHUFFLED], [SHUFFLED, ISP], []) },
);

const anyWorldArb: fc.Arbitrary<DecisionInput> = subjectArb.chain((about) =>
  fc.record({
    requester: requesterArb,
    record: recordArb(about?.patient),
    subject: fc.constant(about),
    protocols: protocolsArb,
    now: fc.oneof(fc.constant(NOW), fc.date({ min: new Date('2025-06-01T00:00:00Z'), max: new Date('2029-06-30T00:00:00Z'), noInvalidDate: true })),
  }),
);

/** A children's centre asking after a child's doses: where `where`, catchment and objections decide. */
const missedDoseWorldArb: fc.Arbitrary<DecisionInput> = fc
  .record({
    who: fc.constantFrom<OrgCode>('CC-OCEAN', 'CC-IOD'),
    purpose: fc.constantFrom('immunisation-follow-up', 'early-years-registration'),
    kind: fc.constantFrom('dna', 'dna-2', 'refusal', 'given', 'text-reason', 'dna-wrong-system', 'patient'),
    subject: subjectArb.filter((s) => s !== undefined),
  })
  .map(({ who, purpose, kind, subject: about }) => {
    const resource = kind === 'patient' ? about.patient : immunization(kind, about.patient.id);
    return { requester: requester(who, purpose), record: record(resource, kind === 'patient' ? 'R9M' : 'Y90001', kind === 'patient' ? ['maternity', 'gp'] : undefined), subject: about, protocols: [ISP], now: NOW };
  });

const worldArb: fc.Arbitrary<DecisionInput> = fc.oneof({ weight: 4, arbitrary: anyWorldArb }, { weight: 1, arbitrary: missedDoseWorldArb });

describe('the indexed decision', () => {
  it('gives the same Decision as the straightforward scan of every flow, over generated worlds', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(worldArb, (world) => {
        const fast = decide(world);
        expect(fast).toEqual(decideReference(world));
        seen.add(fast.effect === 'deny' ? fast.reason : fast.basis);
      }),
      { numRuns: RUNS },
    );
    // The generator reaches permits under flows and the reasons the index could get wrong.
    for (const outcome of ['flow', 'no-flow', 'purpose-not-permitted', 'protocol-not-in-force', 'outside-catchment', 'where-not-met']) expect(seen).toContain(outcome);
  });
});

describe('candidateFlows', () => {
  const ids = (protocol: LoadedProtocol, to: string, type: string): string[] => candidateFlows(protocol.flows, to, type).map((c) => c.flow.id);
  it.each([
    { to: 'childrens-centre', type: 'Patient', flows: ['booking-to-childrens-centre', 'birth-to-childrens-centre', 'missed-imms-to-childrens-centre', 'caf-to-childrens-centre', 'follow-up-to-childrens-centre'] },
    { to: 'childrens-centre', type: 'Immunization', flows: ['missed-imms-to-childrens-centre', 'follow-up-to-childrens-centre'] },
    { to: 'health-visiting', type: 'Observation', flows: ['booking-to-health-visiting', 'birth-to-health-visiting', 'follow-up-to-health-visiting', 'safeguarding'] },
    { to: 'pharmacy', type: 'Patient', flows: [] },
    { to: 'childrens-centre', type: 'Basic', flows: [] },
  ])('to $to, $type records: $flows', ({ to, type, flows }) => {
    expect(ids(ISP, to, type)).toEqual(flows);
  });

  it('indexes a flow list it has not seen, keeping its order', () => {
    expect(ids(SHUFFLED, 'childrens-centre', 'Patient')).toEqual(SHUFFLED.flows.filter((f) => f.to.includes('childrens-centre') && f.items.some((i) => i.elements.has('Patient'))).map((f) => f.id));
  });

  it('shares one covered-items answer per subset of a flow’s items', () => {
    const [first] = candidateFlows(ISP.flows, 'health-visiting', 'Observation');
    expect(first?.covered).toHaveLength(2 ** (first?.items.length ?? 0));
    expect(first?.covered[0]).toEqual({ items: [], elements: [] });
  });
});
