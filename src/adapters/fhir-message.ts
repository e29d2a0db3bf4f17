import type { Bundle, BundleEntry, Consent, EpisodeOfCare, FhirResource, Observation, Reference } from 'fhir/r4.js';
import { HUB_EXTENSIONS, HUB_IDS, ODS_SYSTEM } from './codes.js';
import { invalid, ok, unparsable, type AdapterIssue, type AdapterResult, type IngestUnit, type UnitEntry } from './ingest-unit.js';
import { validateFhir } from '../fhir/validator.js';
import { messageEnvelope, stu3Resources, zodIssues } from './fhir-message-schema.js';
import { adaptNemsStu3 } from './nems-stu3.js';
import { NHS_NUMBER_SYSTEM, validNhsNumber } from './nhs-number.js';

// FHIR message Bundles posted to $process-message. R4 messages carry the
// hub's own events; STU3 messages are NHS NEMS events, converted to R4.
// See: https://hl7.org/fhir/R4/messaging.html and https://hl7.org/fhir/R4/messageheader-operation-process-message.html

export const HUB_EVENT_SYSTEM = 'https://eastside.example/fhir/CodeSystem/event-type';
const R4_MESSAGE_EVENT_TYPE = 'https://fhir.nhs.uk/StructureDefinition/Extension-MessageEventType';

/** The R4 events the hub accepts, and the resource types each may carry. */
const R4_EVENTS: Record<string, readonly string[]> = {
  'pregnancy-notification-1': ['Patient', 'EpisodeOfCare', 'Observation', 'Consent', 'Practitioner', 'Organization'],
};

export function adaptFhirMessage(body: unknown): AdapterResult<IngestUnit> {
  if (!isRecord(body) || body['resourceType'] !== 'Bundle') {
    return unparsable({ code: 'structure', diagnostics: 'the body must be a FHIR Bundle', location: 'Bundle.resourceType' });
  }
  if (body['type'] !== 'message') {
    return invalid({ code: 'invalid', diagnostics: 'the Bundle must be of type message', location: 'Bundle.type' });
  }
  const envelope = messageEnvelope.safeParse(body);
  if (!envelope.success) return invalid(...zodIssues(envelope.error, 'Bundle'));
  const header = envelope.data.entry[0]?.resource;
  if (header?.resourceType !== 'MessageHeader') {
    return invalid({ code: 'required', diagnostics: 'the first entry of a message must be its MessageHeader', location: 'Bundle.entry[0].resource' });
  }
  // STU3 MessageHeader has `event` (a Coding); R4 has `eventCoding` or `eventUri`.
  if ('event' in header && !('eventCoding' in header)) {
    const issues = envelope.data.entry.flatMap((entry, i) => {
      const schema = entry.resource === undefined ? undefined : stu3Resources[entry.resource.resourceType];
      const parsed = schema?.safeParse(entry.resource);
      return parsed === undefined || parsed.success ? [] : zodIssues(parsed.error, `Bundle.entry[${i}].resource`);
    });
    if (issues.length > 0) return invalid(...issues);
    return adaptNemsStu3(body as unknown as Bundle<FhirResource>);
  }
  const eventCoding = (header as { eventCoding?: { system?: unknown; code?: unknown } }).eventCoding;
  if (eventCoding?.system !== HUB_EVENT_SYSTEM || typeof eventCoding.code !== 'string' || R4_EVENTS[eventCoding.code] === undefined) {
    return invalid(unsupportedEvent(eventCoding));
  }
  // R4: the whole message must be valid R4 before anything is read from it.
  const valid = validateFhir(body as unknown as Bundle<FhirResource>);
  if (!valid.ok) {
    return invalid(
      ...valid.problem.outcome.issue.map((i): AdapterIssue => ({
        code: 'structure',
        diagnostics: i.diagnostics ?? 'invalid',
        location: (i.expression ?? ['Bundle']).join(', '),
      })),
    );
  }
  return adaptR4Message(body as unknown as Bundle<FhirResource>);
}

function adaptR4Message(bundle: Bundle<FhirResource>): AdapterResult<IngestUnit> {
  const entries = bundle.entry ?? [];
  const header = entries[0]?.resource;
  if (header?.resourceType !== 'MessageHeader') throw new Error('checked by the caller');
  const event = header.eventCoding;
  const allowed = event?.system === HUB_EVENT_SYSTEM && event.code !== undefined ? R4_EVENTS[event.code] : undefined;
  if (event?.code === undefined || allowed === undefined) return invalid(unsupportedEvent(event));
  if (header.id === undefined || header.id.length === 0) {
    return invalid({ code: 'required', diagnostics: 'MessageHeader.id identifies the message and is required', location: 'Bundle.entry[0].resource.id' });
  }
  const messageKey = `fhir-message:${header.id}`;
  const action = messageAction(header.extension);
  if (action === undefined) {
    return invalid({ code: 'code-invalid', diagnostics: 'the message event type must be new, update or delete', location: 'Bundle.entry[0].resource.extension' });
  }

  const issues: AdapterIssue[] = [];
  const resources = entries.slice(1).map((entry, i) => ({ entry, path: `Bundle.entry[${i + 1}]` }));
  for (const { entry, path } of resources) {
    if (entry.fullUrl === undefined || !entry.fullUrl.startsWith('urn:uuid:')) {
      issues.push({ code: 'required', diagnostics: 'each entry needs a urn:uuid fullUrl', location: `${path}.fullUrl` });
    }
    const type = entry.resource?.resourceType;
    if (type === undefined || !allowed.includes(type)) {
      issues.push({ code: 'not-supported', diagnostics: `${type ?? 'an entry without a resource'} is not part of ${event.code}`, location: `${path}.resource` });
    }
  }
  // The sender is who the hub holds to account for the message (and whom the protocol's sources
  // are checked against): a message that names no sending Organization is refused, not guessed at.
  // See: https://hl7.org/fhir/R4/messageheader-definitions.html#MessageHeader.sender
  const sender = findOrganisationCode(entries, header.sender?.reference);
  if (sender === undefined) {
    issues.push({
      code: 'required',
      diagnostics: 'MessageHeader.sender must reference the sending Organization, an entry of the message with its ODS code',
      location: 'Bundle.entry[0].resource.sender',
    });
  }
  const patients = resources.filter(({ entry }) => entry.resource?.resourceType === 'Patient');
  if (patients.length !== 1) {
    issues.push({ code: 'required', diagnostics: `${event.code} carries exactly one Patient (the mother)`, location: 'Bundle.entry' });
  }
  const episode = resources.find(({ entry }) => entry.resource?.resourceType === 'EpisodeOfCare');
  const episodeId = (episode?.entry.resource as EpisodeOfCare | undefined)?.identifier?.[0];
  if (episode === undefined || typeof episodeId?.system !== 'string' || typeof episodeId.value !== 'string') {
    issues.push({ code: 'required', diagnostics: 'the pregnancy EpisodeOfCare needs an identifier', location: `${episode?.path ?? 'Bundle.entry'}.resource.identifier` });
  }
  // Organizations are the hub's registry data, not the message's: references to
  // them become identifier references (ODS code) and they are not stored again
  // with every message (which would also make every booking wait on one lock).
  const organisations = new Map<string, Reference>();
  for (const { entry } of resources) {
    const org = entry.resource;
    const id = org?.resourceType === 'Organization' ? org.identifier?.[0] : undefined;
    if (entry.fullUrl !== undefined && id?.system !== undefined && id.value !== undefined) {
      organisations.set(entry.fullUrl, { type: 'Organization', identifier: { system: id.system, value: id.value }, ...(org?.resourceType === 'Organization' && org.name !== undefined ? { display: org.name } : {}) });
    }
  }
  const unitEntries: UnitEntry[] = [];
  for (const { entry, path } of resources) {
    const stripped = stripServerFields(entry.resource);
    if (stripped === undefined || entry.fullUrl === undefined || organisations.has(entry.fullUrl)) continue;
    const resource = toIdentifierReferences(stripped, organisations);
    const identity = matchOf(resource, path, episodeId?.value ?? '', issues);
    unitEntries.push({
      fullUrl: entry.fullUrl,
      resource: linkConsentToEpisode(resource, episode?.entry.fullUrl),
      ...(identity === undefined ? {} : { match: identity }),
      action: action === 'delete' && resource.resourceType !== 'Patient' && resource.resourceType !== 'Organization' && resource.resourceType !== 'Practitioner' ? 'delete' : 'upsert',
    });
  }
  if (issues.length > 0) return invalid(...issues);
  return ok({ messageKey, event: event.code, senderCode: sender, entries: unitEntries, effects: [] });
}

/** Replaces each Reference whose `reference` names an entry in `targets` with that entry's identifier reference. */
function toIdentifierReferences<T>(value: T, targets: ReadonlyMap<string, Reference>): T {
  if (Array.isArray(value)) return value.map((v: unknown) => toIdentifierReferences(v, targets)) as T;
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  const target = typeof record['reference'] === 'string' ? targets.get(record['reference']) : undefined;
  if (target !== undefined) return target as T;
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, toIdentifierReferences(v, targets)])) as T;
}

function unsupportedEvent(event: { system?: unknown; code?: unknown } | undefined): AdapterIssue {
  return {
    code: 'not-supported',
    diagnostics: `event ${typeof event?.system === 'string' ? event.system : ''}#${typeof event?.code === 'string' ? event.code : ''} is not one the hub processes (R4: ${Object.keys(R4_EVENTS).join(', ')}; STU3 NEMS: pds-birth-notification-1, vaccinations-1)`,
    location: 'Bundle.entry[0].resource.eventCoding',
  };
}

/** How each resource of a pregnancy notification is found again when the message is updated or re-sent. */
function matchOf(resource: FhirResource, path: string, episodeValue: string, issues: AdapterIssue[]): UnitEntry['match'] {
  switch (resource.resourceType) {
    case 'Patient': {
      const nhs = resource.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM);
      const index = resource.identifier?.findIndex((i) => i.system === NHS_NUMBER_SYSTEM) ?? -1;
      const valid = nhs?.value === undefined ? undefined : validNhsNumber(nhs.value);
      if (valid === undefined) {
        issues.push({
          code: nhs === undefined ? 'required' : 'value',
          diagnostics: nhs === undefined ? 'the Patient has no NHS number' : `${nhs.value ?? ''} is not a valid NHS number (modulus 11 check)`,
          location: nhs === undefined ? `${path}.resource.identifier` : `${path}.resource.identifier[${index}].value`,
        });
        return undefined;
      }
      return { system: NHS_NUMBER_SYSTEM, value: valid };
    }
    case 'EpisodeOfCare':
    case 'Practitioner':
    case 'Organization': {
      const id = resource.identifier?.[0];
      return typeof id?.system === 'string' && typeof id.value === 'string' ? { system: id.system, value: id.value } : undefined;
    }
    case 'Observation':
      return { system: `${HUB_IDS}/pregnancy-observation`, value: `${episodeValue}:${codeKey(resource)}` };
    case 'Consent':
      return { system: `${HUB_IDS}/booking-consent`, value: episodeValue };
    // Other types carry no business identity: each message's copy is its own.
    default:
      return undefined;
  }
}

function codeKey(observation: Observation): string {
  const c = observation.code.coding?.[0];
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return `${text(c?.system)}|${text(c?.code)}`;
}

/** The booking Consent is stored as sent, plus a link to the pregnancy it was given in. */
function linkConsentToEpisode(resource: FhirResource, episodeUrl: string | undefined): FhirResource {
  if (resource.resourceType !== 'Consent' || episodeUrl === undefined) return resource;
  const consent: Consent = {
    ...resource,
    extension: [...(resource.extension ?? []), { url: `${HUB_EXTENSIONS}/consent-pregnancy`, valueReference: { reference: episodeUrl } }],
  };
  return consent;
}

export function messageAction(extensions: { url: string; valueCodeableConcept?: { coding?: { code?: string }[] } }[] | undefined): 'upsert' | 'delete' | undefined {
  const ext = extensions?.find((e) => e.url === R4_MESSAGE_EVENT_TYPE || e.url.endsWith('/Extension-MessageEventType-1'));
  const code = ext?.valueCodeableConcept?.coding?.[0]?.code ?? 'new';
  switch (code) {
    case 'new':
    case 'update':
      return 'upsert';
    case 'delete':
      return 'delete';
    default:
      return undefined;
  }
}

/** The ODS code of the Organization entry a reference points at. */
export function findOrganisationCode(entries: readonly BundleEntry<FhirResource>[], reference: string | undefined): string | undefined {
  const org = entries.find((e) => e.fullUrl !== undefined && e.fullUrl === reference)?.resource;
  if (org?.resourceType !== 'Organization') return undefined;
  return org.identifier?.find((i) => i.system === ODS_SYSTEM)?.value ?? org.identifier?.[0]?.value;
}

/** The store owns id and meta.versionId/lastUpdated. */
export function stripServerFields<T extends FhirResource>(resource: T | undefined): T | undefined {
  if (resource === undefined) return undefined;
  const { id: _id, meta, ...rest } = resource as T & { meta?: Record<string, unknown> };
  // meta may be anything in an STU3 message (only the elements the conversion reads are checked).
  const kept = typeof meta !== 'object' || meta === null || Array.isArray(meta) ? undefined : Object.fromEntries(Object.entries(meta).filter(([k]) => k !== 'versionId' && k !== 'lastUpdated'));
  return { ...rest, ...(kept === undefined || Object.keys(kept).length === 0 ? {} : { meta: kept }) } as unknown as T;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

