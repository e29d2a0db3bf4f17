import type { FhirResource, Identifier, Immunization } from 'fhir/r4.js';
import { canonicalJson } from '../audit/canonical-json.js';

// Pure edits the ingest service makes to resources before storing them.

/** Replaces every `reference` that names a key of `map` (urn:uuid full URLs) with its value ("Type/id"). */
export function rewriteReferences<T>(value: T, map: ReadonlyMap<string, string>): T {
  if (Array.isArray(value)) return value.map((v: unknown) => rewriteReferences(v, map)) as T;
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = key === 'reference' && typeof v === 'string' && map.has(v) ? map.get(v) : rewriteReferences(v, map);
  }
  return out as T;
}

const STATUS_TYPES = new Set(['Immunization', 'Observation', 'Consent', 'EpisodeOfCare', 'QuestionnaireResponse', 'CarePlan', 'Task', 'Communication']);

/** What a delete from a partner means here: the record stays, marked entered-in-error (or inactive). */
export function markEnteredInError(resource: FhirResource): FhirResource {
  if (STATUS_TYPES.has(resource.resourceType)) return { ...resource, status: 'entered-in-error' } as FhirResource;
  return { ...resource, active: false } as FhirResource;
}

/**
 * Same content, ignoring id and the store's meta (a re-sent fact is not a new
 * version); a change of security labels or tags (a sender's revision) is a change.
 */
export function sameContent(a: FhirResource, b: FhirResource): boolean {
  const strip = (r: FhirResource): unknown => {
    const { id: _id, meta, ...rest } = r;
    return { ...rest, security: meta?.security ?? [], tag: meta?.tag ?? [] };
  };
  return canonicalJson(strip(a)) === canonicalJson(strip(b));
}

/**
 * A business identity the hub matches on must be findable next time: it is
 * added to the resource's identifiers if the message did not carry it.
 */
export function withIdentifier(resource: FhirResource, match: { system: string; value: string } | undefined): FhirResource {
  if (match === undefined || !('identifier' in resource || IDENTIFIER_ARRAY_TYPES.has(resource.resourceType) || resource.resourceType === 'QuestionnaireResponse')) return resource;
  const current = (resource as { identifier?: Identifier | Identifier[] }).identifier;
  const list = current === undefined ? [] : Array.isArray(current) ? current : [current];
  if (list.some((i) => i.system === match.system && i.value === match.value)) return resource;
  if (resource.resourceType === 'QuestionnaireResponse') {
    return current === undefined ? { ...resource, identifier: { ...match } } : resource;
  }
  return { ...resource, identifier: [...list, { ...match }] } as FhirResource;
}

const IDENTIFIER_ARRAY_TYPES = new Set([
  'Patient', 'RelatedPerson', 'Practitioner', 'Organization', 'EpisodeOfCare', 'Observation', 'Consent', 'Immunization', 'CarePlan', 'Task', 'Communication',
]);

const HUB_OWNED_PREGNANCY_EXTENSIONS = new Set([
  'https://eastside.example/fhir/StructureDefinition/pregnancy-outcome',
  'https://eastside.example/fhir/StructureDefinition/pregnancy-baby',
]);

/**
 * A pregnancy the hub has ended on a birth notification stays ended: a later
 * or re-sent booking update may change its details, but not reopen it or
 * drop the recorded outcome (no welcome pack after a stillbirth).
 */
export function keepPregnancyOutcome(existing: FhirResource, incoming: FhirResource): FhirResource {
  if (existing.resourceType !== 'EpisodeOfCare' || incoming.resourceType !== 'EpisodeOfCare') return incoming;
  const owned = (existing.extension ?? []).filter((e) => HUB_OWNED_PREGNANCY_EXTENSIONS.has(e.url));
  if (owned.length === 0) return incoming;
  return {
    ...incoming,
    status: existing.status,
    period: { ...incoming.period, ...(existing.period?.end === undefined ? {} : { end: existing.period.end }) },
    extension: [...(incoming.extension ?? []).filter((e) => !HUB_OWNED_PREGNANCY_EXTENSIONS.has(e.url)), ...owned],
  };
}

export const CAUGHT_UP_EXTENSION = 'https://eastside.example/fhir/StructureDefinition/missed-dose-caught-up';
const VACCINATION_PROCEDURE = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure';

function procedureCodes(imm: Immunization): string[] {
  return (imm.extension ?? [])
    .filter((e) => e.url === VACCINATION_PROCEDURE)
    .flatMap((e) => e.valueCodeableConcept?.coding ?? [])
    .map((c) => `${c.system ?? ''}|${c.code ?? ''}`);
}

/**
 * A missed dose stops being outstanding when the same vaccination is given
 * later: the missed record keeps its status (it was missed) and gains the date
 * it was caught up, so a children's centre's follow-up list can close it.
 * Returns the new content, or undefined when `given` does not catch it up.
 */
export function caughtUp(missed: Immunization, given: Immunization): Immunization | undefined {
  if (missed.status !== 'not-done' || given.status !== 'completed') return undefined;
  if (missed.patient.reference === undefined || missed.patient.reference !== given.patient.reference) return undefined;
  if ((missed.extension ?? []).some((e) => e.url === CAUGHT_UP_EXTENSION)) return undefined;
  const codes = procedureCodes(given);
  if (codes.length === 0 || !procedureCodes(missed).some((c) => codes.includes(c))) return undefined;
  const givenOn = given.occurrenceDateTime;
  if (givenOn === undefined || (missed.occurrenceDateTime !== undefined && givenOn.slice(0, 10) < missed.occurrenceDateTime.slice(0, 10))) return undefined;
  return { ...missed, extension: [...(missed.extension ?? []), { url: CAUGHT_UP_EXTENSION, valueDateTime: givenOn }] };
}

/** A source's later update of a missed dose does not reopen it once the dose was given. */
export function keepCaughtUp(existing: FhirResource, incoming: FhirResource): FhirResource {
  if (existing.resourceType !== 'Immunization' || incoming.resourceType !== 'Immunization' || incoming.status !== 'not-done') return incoming;
  const marker = (existing.extension ?? []).find((e) => e.url === CAUGHT_UP_EXTENSION);
  if (marker === undefined || (incoming.extension ?? []).some((e) => e.url === CAUGHT_UP_EXTENSION)) return incoming;
  return { ...incoming, extension: [...(incoming.extension ?? []), marker] };
}
