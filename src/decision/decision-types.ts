import type { Consent, EpisodeOfCare, Patient, Resource } from 'fhir/r4.js';

// The inputs and the output of the disclosure decision. Everything here is
// data the shell has loaded; the decision itself does no IO and reads no clock.

/** Who asks, as the access token and the organisation registry establish it. */
export interface Requester {
  organisationCode: string;
  organisationType: string;
  /** Postcode districts the organisation serves (children's centres). */
  catchment: readonly string[];
  clientId: string;
  purpose: string;
  /** The reason stated for a safeguarding override (X-Override-Reason), if one was invoked. */
  overrideReason?: string | undefined;
}

/** A stored record: its current content and who has written it. */
export interface RecordFacts {
  resource: Resource;
  /** The organisation that wrote this version. */
  writer: string;
  /** Other organisations that have written a version of the record (one Patient per NHS number is shared). */
  alsoWrittenBy?: readonly string[] | undefined;
  /** The types of every organisation that has written a version of it. */
  sourceTypes: readonly string[];
  /**
   * For a record that names another as its focus (a Task): whether that record is disclosed to this
   * requester, for this purpose, today (the shell decides it first). A Task tells what it is about.
   */
  focusDisclosed?: boolean | undefined;
}

/** A Consent as stored, with its versioned reference for the audit trail. */
export interface ConsentFacts {
  /** "Consent/id/_history/n". */
  reference: string;
  consent: Consent;
  /** "Patient/id" of the mother when this is her consent carried to her baby after the birth link. */
  carriedFrom?: string | undefined;
  /**
   * The organisation that recorded this version (the stored row's writer, its type from the registry),
   * never the Consent's own performer or organization, which the sender writes. A permit counts for a
   * flow only when this organisation's type may record consent for it (DESIGN.md section 10).
   */
  recorder: { organisationCode: string; organisationType: string };
}

/** What the hub knows about the person a record is about. */
export interface SubjectFacts {
  /** The subject's current Patient record. */
  patient: Patient;
  /** Pregnancy episodes in which the subject is the mother, or the baby. */
  pregnancies: readonly EpisodeOfCare[];
  /** The subject's consents, and (for a baby after the birth link) the mother's. */
  consents: readonly ConsentFacts[];
  /** Other records about the subject (those a flow's `where` may need). */
  records: readonly RecordFacts[];
}

export interface FlowRef {
  protocol: string;
  version: number;
  flow: string;
}

export const EXCLUDED_PREFIX = 'excluded:';

/** The organisation code the hub writes its own resources under (definitions, notices to partners). */
export const HUB_ORGANISATION = 'EYHUB';

export type DenyReason =
  | 'no-flow'
  | 'protocol-not-in-force'
  | 'purpose-not-permitted'
  | 'no-subject'
  | 'override-reason-required'
  | 'excluded:pregnancy-loss'
  | 'excluded:restricted-record'
  | 'outside-catchment'
  | 'where-not-met'
  | 'no-consent'
  | 'consent-refused'
  | 'consent-withdrawn'
  | 'objection'
  | 'focus-not-disclosed';

export const DENY_REASONS: readonly DenyReason[] = [
  'no-flow',
  'protocol-not-in-force',
  'purpose-not-permitted',
  'no-subject',
  'override-reason-required',
  'excluded:pregnancy-loss',
  'excluded:restricted-record',
  'outside-catchment',
  'where-not-met',
  'no-consent',
  'consent-refused',
  'consent-withdrawn',
  'objection',
  'focus-not-disclosed',
];

export type Permit =
  /** A definitional resource with no personal data. */
  | { effect: 'permit'; basis: 'public' }
  /** The organisation reads back what it wrote itself: not a disclosure. */
  | { effect: 'permit'; basis: 'originator' }
  /** A notice the hub wrote to the requester's organisation (a Communication naming it as recipient): delivery, not a disclosure. */
  | { effect: 'permit'; basis: 'addressed' }
  | {
      effect: 'permit';
      basis: 'flow';
      flow: FlowRef;
      /** The Consent the permit rests on, when the flow needs or found one. */
      consent: string | undefined;
      /** The data items that cover this record, and their element paths (after the type name). */
      items: readonly string[];
      elements: readonly string[];
      /** The stated reason, when a safeguarding override was invoked. */
      override: string | undefined;
    };

export interface Deny {
  effect: 'deny';
  reason: DenyReason;
  /** For people: what was missing or what stopped it. */
  detail: string;
  flow?: FlowRef | undefined;
  consent?: string | undefined;
  /** Consents that would have permitted but were recorded by an organisation the flow does not take consent from. */
  ignored?: readonly string[] | undefined;
}

export type Decision = Permit | Deny;
