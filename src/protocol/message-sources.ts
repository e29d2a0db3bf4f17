import type { LoadedProtocol, MessageKind, OrganisationType } from './protocol-schema.js';

// Who may send what, and so who may act on records other organisations wrote
// (DESIGN.md section 10, "Who may send what"). Pure: the shell loads the
// sender's organisation type from the registry (never from the token or the
// message) and asks these questions before it writes anything.
//
// Sources are read from every protocol the hub has loaded, in force or not:
// a lapsed or badly signed protocol stops every disclosure (decide.ts), but
// partners' systems keep recording care, and what a message may carry does
// not widen when a protocol lapses. A sender is allowed when any loaded
// protocol lists its type for the kind; a protocol without `sources` (built
// before version 4) allows no one.

/** The ingest event each adapter reports (IngestUnit.event), by message kind. Anything else is refused. */
const EVENT_KINDS: Readonly<Record<string, MessageKind>> = {
  // FHIR R4 messaging, the maternity booking (fhir-message.ts).
  'pregnancy-notification-1': 'pregnancy-notification',
  // NEMS STU3 PDS birth notification (nems-stu3.ts).
  'pds-birth-notification-1': 'birth-notification',
  // NEMS STU3 vaccination event, HL7 v2.5.1 VXU^V04, and the immunisation CSV row.
  'vaccinations-1': 'immunisation-event',
  'vxu-v04': 'immunisation-event',
  'immunisation-csv-row': 'immunisation-event',
  // The immunisation CSV sent with history=complete: the practice's statement that a child's history is whole.
  'immunisation-history': 'immunisation-event',
  // The CAF assessment (caf.ts).
  'early-help-assessment': 'early-help-assessment',
};

/** The message kind of an ingest event, or undefined for an event no kind covers (refused). */
export function messageKindOf(event: string): MessageKind | undefined {
  return Object.hasOwn(EVENT_KINDS, event) ? EVENT_KINDS[event] : undefined;
}

/** The organisation types any loaded protocol lists as sources of a kind. */
export function sourcesOf(protocols: readonly LoadedProtocol[], kind: MessageKind): OrganisationType[] {
  return [...new Set(protocols.flatMap((p) => p.sources?.[kind] ?? []))];
}

export function maySend(protocols: readonly LoadedProtocol[], kind: MessageKind, senderType: string): boolean {
  return protocols.some((p) => (p.sources?.[kind] ?? []).includes(senderType as OrganisationType));
}

export type SendCheck = { ok: true; kind: MessageKind } | { ok: false; reason: string };

/** May an organisation of this type send this event? The reason names the event, the kind and who may send it. */
export function checkSender(protocols: readonly LoadedProtocol[], event: string, senderType: string | undefined): SendCheck {
  const kind = messageKindOf(event);
  if (kind === undefined) return { ok: false, reason: `${event} is not a kind of message any protocol names a source for` };
  if (senderType !== undefined && maySend(protocols, kind, senderType)) return { ok: true, kind };
  const who = sourcesOf(protocols, kind);
  return {
    ok: false,
    reason: `${event} is a ${kind} message, which only ${who.length === 0 ? 'no organisation' : who.join(' or ')} may send under the protocol; the sender is ${senderType === undefined ? 'not a registered organisation' : `a ${senderType} organisation`}`,
  };
}

/** An act on a stored record that the sender may not have written. */
export type RecordEffect =
  /** A birth notification ends the mother's pregnancy episode (and records its outcome). */
  | { kind: 'end-pregnancy' }
  /** A dose given closes the child's earlier missed doses (caught-up). */
  | { kind: 'close-missed-dose' }
  /** A delete marks a stored record entered-in-error. */
  | { kind: 'entered-in-error'; recordType: string; writers: readonly string[]; messageKind: MessageKind };

export interface Sender {
  organisationCode: string;
  organisationType: string;
}

/**
 * Whether the sender may cause an effect: ending a pregnancy only from a
 * birth-notification source; closing a missed dose only from an
 * immunisation-event source; entered-in-error on the sender's own record, or
 * on a record it has written to and is a source of the message kind for
 * (a GP's missed dose that another GP's catch-up touched). A shared Patient
 * (one per NHS number) is never voided by a message.
 */
export function mayCause(protocols: readonly LoadedProtocol[], sender: Sender, effect: RecordEffect): boolean {
  switch (effect.kind) {
    case 'end-pregnancy':
      return maySend(protocols, 'birth-notification', sender.organisationType);
    case 'close-missed-dose':
      return maySend(protocols, 'immunisation-event', sender.organisationType);
    case 'entered-in-error': {
      if (effect.writers.every((w) => w === sender.organisationCode)) return true;
      return effect.recordType !== 'Patient' && effect.writers.includes(sender.organisationCode) && maySend(protocols, effect.messageKind, sender.organisationType);
    }
  }
}

/**
 * A pregnancy episode counts for the decision (a loss excludes, a baby link
 * carries the mother's consent) only when every organisation that wrote it
 * is of a type that may send pregnancy or birth notifications: an episode
 * anyone else created or ended through the REST API cannot declare a loss or
 * link a baby.
 */
export function countsAsPregnancyRecord(protocols: readonly LoadedProtocol[], writerTypes: readonly string[]): boolean {
  return (
    writerTypes.length > 0 &&
    writerTypes.every((t) => maySend(protocols, 'pregnancy-notification', t) || maySend(protocols, 'birth-notification', t))
  );
}

/**
 * A dose record counts for the schedule (overdue work raised or completed)
 * only when every organisation that wrote it may send immunisation events: a
 * dose another partner posts through the REST API is its record, but cannot
 * close a child's overdue work or hide a missed dose.
 */
export function countsAsImmunisationRecord(protocols: readonly LoadedProtocol[], writerTypes: readonly string[]): boolean {
  return writerTypes.length > 0 && writerTypes.every((t) => maySend(protocols, 'immunisation-event', t));
}
