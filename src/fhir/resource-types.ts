import type { Identifier, Reference, Resource } from 'fhir/r4.js';

// The resource types the hub stores, with the search parameters it indexes.
// Paths follow the R4 search parameter definitions:
// See: https://hl7.org/fhir/R4/searchparameter-registry.html

export type ReferenceParam = 'patient' | 'subject';

interface TypeDefinition {
  /** Element holding identifier(s), if the type has the identifier search parameter. */
  identifier?: string;
  /** Elements behind each reference search parameter. patient keeps only Patient targets. */
  references: Partial<Record<ReferenceParam, string>>;
  /** Further token search parameters: the search name → the index param it reads (indexValues writes them). */
  tokens?: Readonly<Record<string, string>>;
  /** Further reference search parameters (not for _include): the search name → the index param. */
  moreReferences?: Readonly<Record<string, string>>;
}

const typeDefinitions: Record<string, TypeDefinition> = {
  Patient: { identifier: 'identifier', references: {} },
  RelatedPerson: { identifier: 'identifier', references: { patient: 'patient' } },
  EpisodeOfCare: { identifier: 'identifier', references: { patient: 'patient' } },
  Observation: { identifier: 'identifier', references: { patient: 'subject', subject: 'subject' } },
  Consent: { identifier: 'identifier', references: { patient: 'patient' } },
  Immunization: { identifier: 'identifier', references: { patient: 'patient' } },
  QuestionnaireResponse: { identifier: 'identifier', references: { patient: 'subject', subject: 'subject' } },
  CarePlan: { identifier: 'identifier', references: { patient: 'subject', subject: 'subject' } },
  // A partner finds its own work: Task?owner:identifier=CC-OCEAN&status=requested (owner by identifier: the hub names organisations so).
  Task: {
    identifier: 'identifier',
    references: { patient: 'for', subject: 'for' },
    tokens: { status: 'status', code: 'code', 'owner:identifier': 'owner-organisation' },
    moreReferences: { focus: 'focus' },
  },
  Communication: { identifier: 'identifier', references: { patient: 'subject', subject: 'subject' } },
  // A practice's complete immunisation history of a child (snapshot). See: https://hl7.org/fhir/R4/list.html#search
  List: { identifier: 'identifier', references: { patient: 'subject', subject: 'subject' } },
  // The hub's statement that a child's dose is overdue (the focus of its overdue-dose Task).
  ImmunizationRecommendation: { identifier: 'identifier', references: { patient: 'patient' } },
  Provenance: { references: { patient: 'target' } },
  Organization: { identifier: 'identifier', references: {} },
  Practitioner: { identifier: 'identifier', references: {} },
  Questionnaire: { identifier: 'identifier', references: {} },
  Measure: { identifier: 'identifier', references: {} },
};

/** Definitional resources the hub ships (no personal data): readable by every authenticated client. */
const PUBLIC_TYPES = new Set(['Questionnaire', 'Measure']);

export function isPublicType(type: string): boolean {
  return PUBLIC_TYPES.has(type);
}

export const supportedTypes: readonly string[] = Object.keys(typeDefinitions).sort();

export function isSupportedType(type: string): boolean {
  return Object.hasOwn(typeDefinitions, type);
}

export function searchParamsOf(type: string): { identifier: boolean; references: ReferenceParam[]; tokens: Readonly<Record<string, string>>; moreReferences: Readonly<Record<string, string>> } {
  const def = typeDefinitions[type];
  if (def === undefined) return { identifier: false, references: [], tokens: {}, moreReferences: {} };
  return { identifier: def.identifier !== undefined, references: Object.keys(def.references) as ReferenceParam[], tokens: def.tokens ?? {}, moreReferences: def.moreReferences ?? {} };
}

/** Indexed but not a search parameter: the baby a pregnancy episode ended with (hub extension). */
export const PREGNANCY_BABY_PARAM = 'pregnancy-baby';
const PREGNANCY_BABY_EXTENSION = 'https://eastside.example/fhir/StructureDefinition/pregnancy-baby';

/** Indexed but not a search parameter: every postcode district in a Patient's addresses (narrows catchment searches). */
export const DISTRICT_PARAM = 'address-district';

/** Indexed but not a search parameter: the organisations (by identifier) a Communication is addressed to (finds a partner's notices). */
export const RECIPIENT_PARAM = 'recipient-organisation';

/** Indexed but not a search parameter: the record a Task is about (finds the follow-up work on a record). */
export const FOCUS_PARAM = 'focus';

/** Indexed but not a search parameter: the organisation (by identifier) that owns a Task. */
export const OWNER_PARAM = 'owner-organisation';

/** Types whose records may be addressed to an organisation (see addressees). */
export const ADDRESSED_TYPES: ReadonlySet<string> = new Set(['Communication']);

export interface IndexValues {
  tokens: { param: string; system: string; value: string }[];
  references: { param: string; target: string }[];
}

/** Extracts the values the hub indexes for search from one resource. */
export function indexValues(resource: Resource): IndexValues {
  const def = typeDefinitions[resource.resourceType] ?? { references: {} };
  const record = resource as unknown as Record<string, unknown>;
  // Identifiers are indexed for every type, served or not: they are how ingest finds a record again.
  const tokens = asArray<Identifier>(record['identifier'])
    .filter((i) => typeof i.value === 'string' && i.value.length > 0)
    .map((i): IndexValues['tokens'][number] => ({ param: 'identifier', system: i.system ?? '', value: i.value ?? '' }));
  const references: IndexValues['references'] = [];
  for (const [param, element] of Object.entries(def.references) as [ReferenceParam, string][]) {
    for (const ref of asArray<Reference>(record[element])) {
      const target = localReference(ref.reference);
      if (target === undefined) continue;
      if (param === 'patient' && !target.startsWith('Patient/')) continue;
      references.push({ param, target });
    }
  }
  if (resource.resourceType === 'Patient') {
    const districts = new Set(asArray<{ postalCode?: unknown }>(record['address']).map((a) => (typeof a.postalCode === 'string' ? postcodeDistrict(a.postalCode) : undefined)));
    for (const value of districts) if (value !== undefined) tokens.push({ param: DISTRICT_PARAM, system: '', value });
  }
  for (const a of addressees(resource)) tokens.push({ param: RECIPIENT_PARAM, system: a.system, value: a.value });
  if (resource.resourceType === 'Task') {
    const focus = localReference((record['focus'] as Reference | undefined)?.reference);
    if (focus !== undefined) references.push({ param: FOCUS_PARAM, target: focus });
    const owner = (record['owner'] as Reference | undefined)?.identifier;
    if (typeof owner?.value === 'string' && owner.value.length > 0) tokens.push({ param: OWNER_PARAM, system: owner.system ?? '', value: owner.value });
    if (typeof record['status'] === 'string') tokens.push({ param: 'status', system: 'http://hl7.org/fhir/task-status', value: record['status'] });
    for (const c of asArray<{ system?: unknown; code?: unknown }>((record['code'] as { coding?: unknown } | undefined)?.coding)) {
      if (typeof c.code === 'string' && c.code.length > 0) tokens.push({ param: 'code', system: typeof c.system === 'string' ? c.system : '', value: c.code });
    }
  }
  if (resource.resourceType === 'EpisodeOfCare') {
    for (const ext of asArray<{ url?: string; valueReference?: Reference }>(record['extension'])) {
      const target = ext.url === PREGNANCY_BABY_EXTENSION ? localReference(ext.valueReference?.reference) : undefined;
      if (target?.startsWith('Patient/') === true) references.push({ param: PREGNANCY_BABY_PARAM, target });
    }
  }
  return { tokens, references };
}

/** The organisations a Communication is addressed to, by identifier (Communication.recipient). See: https://hl7.org/fhir/R4/communication.html */
export function addressees(resource: Resource): { system: string; value: string }[] {
  if (!ADDRESSED_TYPES.has(resource.resourceType)) return [];
  return asArray<Reference>((resource as unknown as Record<string, unknown>)['recipient'])
    .map((r) => (typeof r === 'object' && r !== null ? r.identifier : undefined))
    .filter((i): i is Identifier & { value: string } => typeof i?.value === 'string' && i.value.length > 0)
    .map((i) => ({ system: i.system ?? '', value: i.value }));
}

/** UK postcode → outward code ("E1", "E1W", "E14"): the inward code is always the last three characters. */
export function postcodeDistrict(postcode: string): string | undefined {
  const compact = postcode.toUpperCase().replace(/\s+/g, '');
  if (/^[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}$/.test(compact)) return compact.slice(0, -3);
  if (/^[A-Z]{1,2}\d[A-Z\d]?$/.test(compact)) return compact;
  return undefined;
}

/** "Patient/x" for each patient a resource is about (itself, for a Patient). */
export function patientsOf(resource: Resource): string[] {
  if (resource.resourceType === 'Patient') return resource.id === undefined ? [] : [`Patient/${resource.id}`];
  return [...new Set(indexValues(resource).references.filter((r) => r.param === 'patient').map((r) => r.target))];
}

/**
 * "Type/id" from a relative or absolute reference, without any _history part.
 * Returns undefined for contained (#) or unparsable references.
 */
export function localReference(reference: string | undefined): string | undefined {
  if (reference === undefined) return undefined;
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(reference);
  if (m === null) return undefined;
  return `${m[1] ?? ''}/${m[2] ?? ''}`;
}

function asArray<T>(value: unknown): T[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]) as T[];
}
