import type { Communication, Consent, ConsentProvision, Resource } from 'fhir/r4.js';
import { organisationReference, type NoticeParty } from './withdrawal-notice.js';
import { SYSTEMS } from './systems.js';

// Narrowing by any party, pure (DESIGN.md section 10): a refusal, a
// withdrawal or a deny provision recorded by any organisation takes effect at
// once in the decision; the organisations whose consent it overrides (the
// flows' sources, who recorded the family's consent) are told with a
// Communication only they can read (decision basis `addressed`), so that they
// can review it with the family. See: https://hl7.org/fhir/R4/communication.html

/** Does this Consent version say "no" to anything: a refusal, a withdrawal, or a deny provision? */
export function narrows(consent: Consent): boolean {
  if (consent.status === 'rejected' || consent.status === 'inactive') return true;
  return consent.status === 'active' && consent.provision !== undefined && refusesAnything(consent.provision);
}

function refusesAnything(p: ConsentProvision): boolean {
  return p.type === 'deny' || (p.provision ?? []).some(refusesAnything);
}

/** A stored version that newly narrows: a new Consent that says "no", or one that did not and now does. */
export function isNewNarrowing(before: Resource | undefined, after: Resource): boolean {
  if (after.resourceType !== 'Consent' || !narrows(after as Consent)) return false;
  if (before === undefined || before.resourceType !== 'Consent') return true;
  const was = before as Consent;
  return !narrows(was) || was.status !== (after as Consent).status;
}

/** A Consent that permits something (the kind a narrowing overrides), in its stored version. */
export function permitsAnything(consent: Consent): boolean {
  return consent.status === 'active' && consent.provision?.type === 'permit';
}

export interface NarrowingNoticeInput {
  id: string;
  sent: Date;
  /** The narrowing Consent's stored version. */
  narrowing: { id: string; versionId: number; content: Consent };
  /** Who recorded it (from the registry). */
  recordedBy: NoticeParty & { type: string };
  /** The recipient's own Consents it overrides ("Consent/id/_history/n"). */
  overrides: readonly string[];
  recipient: NoticeParty;
  hub: NoticeParty | undefined;
}

/**
 * The notice to one organisation whose consent another party's refusal,
 * withdrawal or deny now overrides. Priority urgent, as for a withdrawal:
 * processing resting on consent must stop (UK GDPR Art. 7(3)).
 */
export function narrowingNotice(input: NarrowingNoticeInput): Communication {
  const { narrowing, recipient } = input;
  const ref = `Consent/${narrowing.id}/_history/${narrowing.versionId}`;
  const patient = narrowing.content.patient?.reference;
  return {
    resourceType: 'Communication',
    id: input.id,
    status: 'completed',
    category: [{ coding: [{ system: SYSTEMS.noticeType, code: 'consent-narrowed', display: 'Consent narrowed by another party' }] }],
    priority: 'urgent',
    ...(patient === undefined ? {} : { subject: { reference: patient } }),
    about: [{ reference: ref, type: 'Consent' }, ...input.overrides.map((o) => ({ reference: o, type: 'Consent' }))],
    sent: input.sent.toISOString(),
    recipient: [organisationReference(recipient)],
    sender: { ...organisationReference(input.hub), display: 'Early Years Sharing Hub' },
    payload: [{ contentString: text(input, ref) }],
  };
}

function text(input: NarrowingNoticeInput, ref: string): string {
  const { narrowing, recordedBy } = input;
  const status = narrowing.content.status;
  const what = status === 'rejected' ? 'a refusal' : status === 'inactive' ? 'a withdrawal' : 'a consent that refuses some sharing';
  const patient = narrowing.content.patient?.reference;
  return [
    `On ${input.sent.toISOString().slice(0, 10)}, ${recordedBy.name ?? recordedBy.code} (${recordedBy.type}) recorded ${what}, ${ref}${patient === undefined ? '' : `, for ${patient}`}.`,
    `It takes effect at once: the hub discloses nothing it refuses, under any flow, including those resting on the consent you recorded (${input.overrides.join(', ')}).`,
    'Review it with the family, and record any change in your own system.',
  ].join(' ');
}
