import type { AuditEvent } from 'fhir/r4.js';
import { decisionAuditEvent, type AuditRequester, type DecisionAuditDetails } from '../../src/audit/audit-event.js';
import type { DenyReason } from '../../src/decision/decision-types.js';
import { demoClients, demoOrganisations } from '../../src/demo/world.js';
import { weighted } from './families.js';
import { seededRandom } from './synthetic.js';

// Disclosure decision AuditEvents (BALP AuthZ-Consent) as the hub writes
// them, built with its own decisionAuditEvent: who asked (the demo's
// children's centres, health visitors and early help, each with one of its
// purposes), the outcome (a permit under a flow of the demo protocol, with
// or without a Consent, an originator's own record, a safeguarding override,
// or a denial for one of the decision's reasons), 1–3 patients drawn from a
// pool (so patients recur, as they do in a real log), 1–4 records of the
// types those flows carry, the Consent versions, the request id and the
// client's address. Deterministic from the seed, ids included, so every run
// writes the same bytes; times advance a few seconds per event.

export type StoredAuditEvent = AuditEvent & { id: string; recorded: string };

const HUB_BASE_URL = 'https://hub.eastside.example';
const PROTOCOL = { protocol: 'eastside-early-years-isp', version: 3 };
const PATIENT_POOL = 100_000;

interface Case {
  requester: AuditRequester;
  weight: number;
  /** Flows of the demo protocol that carry records to this requester for this purpose. */
  flows: readonly string[];
  /** Whether those flows rest on consent (a Consent is named in the decision). */
  consent: boolean;
  /** What a permit rests on: a flow, or the requester having written the record itself. */
  basis: 'flow' | 'originator';
  permitShare: number;
  denials: readonly (readonly [DenyReason, number])[];
  records: readonly string[];
}

function requesterOf(clientId: string, purpose: string): AuditRequester {
  const client = demoClients.find((c) => c.id === clientId);
  const org = demoOrganisations.find((o) => o.code === client?.organisation);
  if (client === undefined || org === undefined) throw new Error(`no demo client ${clientId}`);
  return { clientId, organisationCode: org.code, organisationSystem: org.system, organisationType: org.type, purposeOfUse: purpose };
}

const CASES: readonly Case[] = [
  {
    requester: requesterOf('ocean-cc', 'early-years-registration'),
    weight: 30,
    flows: ['booking-to-childrens-centre', 'birth-to-childrens-centre'],
    consent: true,
    basis: 'flow',
    permitShare: 0.6,
    denials: [['outside-catchment', 40], ['consent-refused', 20], ['consent-withdrawn', 15], ['no-consent', 15], ['excluded:pregnancy-loss', 5], ['excluded:restricted-record', 5]],
    records: ['Patient', 'EpisodeOfCare', 'Observation'],
  },
  {
    requester: requesterOf('iod-cc', 'early-years-registration'),
    weight: 15,
    flows: ['booking-to-childrens-centre', 'birth-to-childrens-centre'],
    consent: true,
    basis: 'flow',
    permitShare: 0.55,
    denials: [['outside-catchment', 50], ['consent-refused', 20], ['no-consent', 20], ['consent-withdrawn', 10]],
    records: ['Patient', 'EpisodeOfCare', 'Observation'],
  },
  {
    requester: requesterOf('ocean-cc', 'immunisation-follow-up'),
    weight: 12,
    flows: ['missed-imms-to-childrens-centre'],
    consent: false,
    basis: 'flow',
    permitShare: 0.5,
    denials: [['where-not-met', 50], ['outside-catchment', 35], ['objection', 15]],
    records: ['Immunization', 'Patient'],
  },
  {
    requester: requesterOf('eastside-hv', 'direct-care'),
    weight: 25,
    flows: ['booking-to-health-visiting', 'birth-to-health-visiting', 'missed-imms-to-health-visiting'],
    consent: false,
    basis: 'flow',
    permitShare: 0.95,
    denials: [['no-flow', 70], ['excluded:restricted-record', 30]],
    records: ['Patient', 'EpisodeOfCare', 'Observation', 'Immunization'],
  },
  {
    requester: requesterOf('eastside-early-help', 'early-help'),
    weight: 15,
    // Early help reads back the CAFs it wrote; a flow to it exists only for safeguarding.
    flows: ['caf-to-childrens-centre', 'caf-to-health'],
    consent: true,
    basis: 'originator',
    permitShare: 0.4,
    denials: [['no-flow', 60], ['purpose-not-permitted', 25], ['no-consent', 15]],
    records: ['Patient', 'QuestionnaireResponse', 'Consent'],
  },
  {
    requester: requesterOf('eastside-hv', 'safeguarding'),
    weight: 3,
    flows: ['safeguarding'],
    consent: false,
    basis: 'flow',
    permitShare: 0.9,
    denials: [['override-reason-required', 100]],
    records: ['Patient', 'Immunization', 'QuestionnaireResponse'],
  },
];

const DETAILS: Partial<Record<DenyReason, string>> = {
  'outside-catchment': "the subject's postcode district is outside the requester's catchment",
  'where-not-met': 'the record does not meet the flow condition (statusReason is not a missed appointment)',
  'consent-refused': 'the booking Consent is an active deny',
  'consent-withdrawn': 'the booking Consent is inactive',
};

/** A UUID (version 4 layout) drawn from the seeded source. */
function uuidFrom(random: () => number): string {
  const hex = (n: number): string => Math.floor(random() * 16 ** n).toString(16).padStart(n, '0');
  const variant = (8 + Math.floor(random() * 4)).toString(16);
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${variant}${hex(3)}-${hex(12)}`;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('an empty list');
  return item;
}

/**
 * A deterministic source of decision AuditEvents, starting at `start` and
 * advancing 0–10 s per event (about 5 s on average).
 */
export function decisionEventSource(seed: number, start: Date): () => StoredAuditEvent {
  const random = seededRandom(seed);
  const patients = Array.from({ length: PATIENT_POOL }, () => uuidFrom(random));
  const cases = CASES.map((c) => [c, c.weight] as const);
  let at = start.getTime();
  return () => {
    at += Math.floor(random() * 10_000);
    const c = weighted(random, cases);
    const permit = random() < c.permitShare;
    const subjects = weighted(random, [[1, 70], [2, 20], [3, 10]] as const);
    const patientRefs = Array.from({ length: subjects }, () => `Patient/${pick(random, patients)}`);
    const recordCount = 1 + Math.floor(random() * 4);
    const resources = Array.from({ length: recordCount }, () => `${pick(random, c.records)}/${uuidFrom(random)}/_history/${1 + Math.floor(random() * 3)}`);
    const flow = { ...PROTOCOL, flow: pick(random, c.flows) };
    const consents = c.consent ? [`Consent/${uuidFrom(random)}/_history/${1 + Math.floor(random() * 2)}`] : [];
    let details: DecisionAuditDetails;
    if (permit) {
      const override = c.flows[0] === 'safeguarding' ? 'concern raised at a home visit; the family could not be reached' : undefined;
      details =
        c.basis === 'flow'
          ? { effect: 'permit', code: 'flow', patients: patientRefs, resources, flow, consents, override }
          : { effect: 'permit', code: 'originator', patients: patientRefs, resources, consents: [] };
    } else {
      const reason = weighted(random, c.denials);
      details = { effect: 'deny', code: reason, detail: DETAILS[reason], patients: patientRefs, resources, flow: reason === 'no-flow' ? undefined : flow, consents };
    }
    const event = decisionAuditEvent(
      {
        id: uuidFrom(random),
        recorded: new Date(at),
        requestId: uuidFrom(random),
        hubBaseUrl: HUB_BASE_URL,
        clientAddress: `10.20.${Math.floor(random() * 256)}.${1 + Math.floor(random() * 254)}`,
        requester: c.requester,
      },
      details,
    );
    if (event.id === undefined) throw new Error('a decision event without an id');
    return { ...event, id: event.id, recorded: event.recorded };
  };
}
