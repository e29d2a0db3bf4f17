import type { FhirResource, Reference } from 'fhir/r4.js';
import { createHash } from 'node:crypto';

// The contract between the pure adapters (raw message → FHIR) and the ingest
// service (validation, matching, storage, exactly-once). Adapters never see a
// database, a clock or a request: what they produce is a value, and the same
// input always produces the same value (golden files pin it).

/** Where a fault is: a FHIRPath ("Bundle.entry[1].resource.birthDate"), an HL7 field ("PID-3", "RXA-20"), or a CSV cell ("row 3 column PERSON_DOB"). */
export interface AdapterIssue {
  code: 'structure' | 'invalid' | 'required' | 'value' | 'code-invalid' | 'not-supported' | 'business-rule' | 'forbidden' | 'conflict';
  diagnostics: string;
  location: string;
}

/**
 * unparsable: not the format at all, or truncated (answered 400);
 * invalid: parsed, but breaks a rule (answered 422).
 */
export type AdapterResult<T> = { ok: true; value: T } | { ok: false; kind: 'unparsable' | 'invalid'; issues: AdapterIssue[] };

export const ok = <T>(value: T): AdapterResult<T> => ({ ok: true, value });
export const invalid = (...issues: AdapterIssue[]): AdapterResult<never> => ({ ok: false, kind: 'invalid', issues });
export const unparsable = (...issues: AdapterIssue[]): AdapterResult<never> => ({ ok: false, kind: 'unparsable', issues });

/** One resource a message yields. */
export interface UnitEntry {
  /** "urn:uuid:…", stable for the same input (see entryUrl). Other entries reference this entry by it. */
  fullUrl: string;
  /** No id and no meta: the store assigns them. References to other entries use their fullUrl. */
  resource: FhirResource;
  /**
   * Business identity. If a stored resource of the same type carries this
   * identifier, this entry becomes a new version of it instead of a new
   * resource (one Patient per NHS number; one Immunization per source record).
   */
  match?: { system: string; value: string };
  /** delete: a NEMS "delete" or CSV ACTION_FLAG "delete": the matched resource is marked entered-in-error. */
  action: 'upsert' | 'delete';
  /**
   * The sender's revision of this record (also in the resource's meta.tag, see
   * fhir/source-revision.ts) and where the message states it: a matched record
   * holding a later revision is not overwritten, and the unit is refused.
   */
  revision?: { number: number; location: string };
}

/**
 * Follow-up facts the service acts on with what is already stored (the
 * adapter cannot see it): a birth ends the mother's pregnancy episode and
 * links mother and baby; an unborn child is recorded against the mother.
 */
export type UnitEffect =
  | { kind: 'birth'; motherNhsNumber: string; babyFullUrl: string; date: string; outcome: 'live-birth' | 'stillbirth' | 'neonatal-death' }
  | { kind: 'unborn'; motherNhsNumber: string; expectedDeliveryDate: string | undefined }
  /** The sender says these are every dose it has given the child (see followup/complete-history.ts). */
  | { kind: 'complete-history'; nhsNumber: string; immunizations: { system: string; value: string }[] };

/** Everything one inbound message (or one CSV row) yields: stored all together or not at all. */
export interface IngestUnit {
  /**
   * Exactly-once key: a re-sent message with the same key returns the first
   * outcome and changes nothing. e.g. "fhir-message:<MessageHeader.id>",
   * "hl7v2:<MSH-4>:<MSH-10>", "immunisation-csv:<UNIQUE_ID_URI>|<UNIQUE_ID>|<ACTION_FLAG>", "caf:<reference>:<revision>".
   */
  messageKey: string;
  /** What kind of message it was, e.g. "pregnancy-notification-1", "vxu-v04", "immunisation-csv-row", "early-help-assessment". */
  event: string;
  /** The organisation the message says sent it (ODS or local code): must be the authenticated client's. */
  senderCode: string | undefined;
  entries: UnitEntry[];
  effects: UnitEffect[];
}

/**
 * A stable "urn:uuid:" for an entry, from the message key and the entry's role
 * in the message: the same message always yields the same URLs.
 */
export function entryUrl(messageKey: string, role: string): string {
  const h = createHash('sha256').update(messageKey).update('\u0000').update(role).digest('hex');
  // Shape it as an RFC 9562 version-8 (custom) UUID.
  const variant = ((parseInt(h.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A reference to another entry of the same unit. */
export function entryReference(fullUrl: string): Reference {
  return { reference: fullUrl };
}
