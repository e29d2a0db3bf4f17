import type { Coding, Identifier, Meta, Patient } from 'fhir/r4.js';
import { isRestricted, subjectDistrict } from '../decision/subject.js';
import { DEMOGRAPHIC_ELEMENTS, type DemographicElement, type LoadedProtocol, type OrganisationType } from '../protocol/protocol-schema.js';

// A shared Patient (one per NHS number) is composed from what each source
// said, never overwritten by the last message (DESIGN.md §10, "Each source's
// word is kept" and "Labels are sticky"). Pure: the service loads each
// source's statement, calls these functions and stores what they return.
//
// The rules:
// - An element the protocol's `demographics` ranks: the first ranked
//   organisation type that has said something wins; among organisations of
//   that type, the one that spoke last. A type not ranked for the element
//   never changes what a ranked type said; when no ranked type has said
//   anything, the element is treated as unranked.
// - Any other element (multipleBirth, communication, generalPractitioner,
//   extensions…): the first source to record it keeps it; that source's own
//   later word updates it, nobody else's does.
// - Identifiers: the union of every source's.
// - Security labels (meta.security, e.g. v3-Confidentiality R or V): the union
//   of every source's. A source's label stays in its statement until that
//   source replaces its statement without it (a REST PUT) or the IG lead lifts
//   it (an audited action). See: https://hl7.org/fhir/R4/security-labels.html

/** What one organisation has said about a Patient. */
export interface PatientStatement {
  organisation: string;
  organisationType: string;
  /** The elements it stated, its identifiers, and its labels in meta.security. No id, no versionId. */
  content: Patient;
  /** When this organisation first spoke about the Patient, and last did: increasing numbers, per Patient. */
  firstSaid: number;
  lastSaid: number;
}

export type Demographics = Partial<Readonly<Record<DemographicElement, readonly OrganisationType[]>>>;

/** The JSON keys each ranked element occupies (a choice element has several; a primitive its `_` sibling). */
const ELEMENT_KEYS: Readonly<Record<DemographicElement, readonly string[]>> = {
  name: ['name'],
  birthDate: ['birthDate', '_birthDate'],
  gender: ['gender', '_gender'],
  address: ['address'],
  telecom: ['telecom'],
  deceased: ['deceasedBoolean', 'deceasedDateTime'],
};
const RANKED_KEYS: ReadonlySet<string> = new Set(Object.values(ELEMENT_KEYS).flat());
const OWN_KEYS: ReadonlySet<string> = new Set(['resourceType', 'id', 'meta', 'identifier']);

/** The protocols' precedence, element by element: the first protocol that ranks an element decides it. */
export function demographicsOf(protocols: readonly Pick<LoadedProtocol, 'demographics'>[]): Demographics {
  const out: Partial<Record<DemographicElement, readonly OrganisationType[]>> = {};
  for (const p of protocols) {
    for (const element of DEMOGRAPHIC_ELEMENTS) {
      const ranking = p.demographics?.[element];
      if (out[element] === undefined && ranking !== undefined) out[element] = ranking;
    }
  }
  return out;
}

/**
 * A source's new statement from its previous one and what it sends now.
 * `merge` (a message, a POST): the elements sent replace that source's earlier
 * word, the ones not sent stay; identifiers and labels accumulate.
 * `replace` (a PUT): the body is the source's whole statement, its labels included.
 */
export function restate(previous: Patient | undefined, incoming: Patient, mode: 'merge' | 'replace'): Patient {
  const sent = statementOf(incoming);
  if (mode === 'replace' || previous === undefined) return sent;
  // A choice element is one element: a deceasedDateTime replaces an earlier deceasedBoolean.
  const replaced = new Set(Object.values(ELEMENT_KEYS).filter((keys) => keys.some((k) => said(field(sent, k)))).flat());
  const kept: Record<string, unknown> = Object.fromEntries(Object.entries(statementOf(previous)).filter(([k]) => !replaced.has(k)));
  for (const [key, value] of Object.entries(sent)) if (!OWN_KEYS.has(key) && said(value)) kept[key] = value;
  const identifier = unionIdentifiers([previous.identifier, sent.identifier]);
  const meta = unionMeta([previous.meta, sent.meta]);
  return withLists(kept as unknown as Patient, identifier, meta);
}

/** The Patient as the hub shows it: composed from every source's statement (no id; the caller sets it). */
export function composePatient(statements: readonly PatientStatement[], demographics: Demographics): Patient {
  const byFirst = [...statements].sort((a, b) => a.firstSaid - b.firstSaid || a.organisation.localeCompare(b.organisation));
  const out: Record<string, unknown> = { resourceType: 'Patient' };
  const keys = [...new Set(byFirst.flatMap((s) => Object.keys(s.content)))].sort();
  for (const key of keys) {
    if (OWN_KEYS.has(key) || RANKED_KEYS.has(key)) continue;
    const first = byFirst.find((s) => said(field(s.content, key)));
    if (first !== undefined) out[key] = field(first.content, key);
  }
  for (const element of DEMOGRAPHIC_ELEMENTS) {
    const source = winner(byFirst, element, demographics[element]);
    if (source === undefined) continue;
    for (const key of ELEMENT_KEYS[element]) {
      const value = field(source.content, key);
      if (value !== undefined) out[key] = value;
    }
  }
  return withLists(out as unknown as Patient, unionIdentifiers(byFirst.map((s) => s.content.identifier)), unionMeta(byFirst.map((s) => s.content.meta)));
}

/**
 * One organisation's statement as the answer to it about the Patient: what it
 * said, composed as if it were the only source, under the Patient's id. No
 * version: the Patient's versions count every source's writes, and would show
 * whether others hold the record. Its time is when the organisation last said
 * it. Keys in one order, whether the statement was just sent or read back.
 */
export function statementResource(statement: Patient, id: string, saidAt: Date): Patient {
  const { versionId: _versionId, lastUpdated: _lastUpdated, ...meta } = statement.meta ?? {};
  const { id: _id, ...said } = statement;
  const { resourceType: _type, ...rest } = inKeyOrder({ ...said, id, meta: { ...meta, lastUpdated: saidAt.toISOString() } }) as Patient;
  return { resourceType: 'Patient', ...rest };
}

function inKeyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(inKeyOrder);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, inKeyOrder((value as Record<string, unknown>)[k])]));
}

/** Whose word an element takes (see the rules above). */
function winner(byFirst: readonly PatientStatement[], element: DemographicElement, ranking: readonly string[] | undefined): PatientStatement | undefined {
  const saying = byFirst.filter((s) => ELEMENT_KEYS[element].some((k) => said(field(s.content, k))));
  for (const type of ranking ?? []) {
    const ofType = saying.filter((s) => s.organisationType === type);
    if (ofType.length > 0) return ofType.reduce((a, b) => (b.lastSaid > a.lastSaid ? b : a));
  }
  return saying[0];
}

/** Removes one label from every statement that carries it; answers the organisations that had set it. */
export function liftLabel(statements: readonly PatientStatement[], label: { system: string; code: string }): { statements: PatientStatement[]; setBy: string[] } {
  const setBy: string[] = [];
  const lifted = statements.map((s) => {
    const security = s.content.meta?.security ?? [];
    const rest = security.filter((c) => !(c.system === label.system && c.code === label.code));
    if (rest.length === security.length) return s;
    setBy.push(s.organisation);
    const { security: _security, ...meta } = s.content.meta ?? {};
    const content: Patient = { ...s.content, meta: { ...meta, ...(rest.length === 0 ? {} : { security: rest }) } };
    if (Object.keys(content.meta ?? {}).length === 0) delete content.meta;
    return { ...s, content };
  });
  return { statements: lifted, setBy };
}

/** What decides who may see a Patient, beyond consent: where they live, whether they are alive, whether the record is restricted. */
export type VisibilityAspect = 'postcode-district' | 'deceased' | 'restriction';

export interface Disagreement {
  aspect: VisibilityAspect;
  /** For the IG lead: who said what (never the full address). */
  detail: string;
}

/**
 * The disagreements between sources a statement by `sender` brings about,
 * that would change who may see the record: the sender states a postcode
 * district or a death that another organisation states otherwise (newly, or
 * with a value it did not state before), or the record's restriction changes
 * while other organisations have spoken about it too.
 */
export function visibilityDisagreements(
  before: readonly PatientStatement[],
  after: readonly PatientStatement[],
  sender: string,
  demographics: Demographics,
): Disagreement[] {
  const out: Disagreement[] = [];
  const mine = after.find((s) => s.organisation === sender);
  const mineBefore = before.find((s) => s.organisation === sender);
  const others = after.filter((s) => s.organisation !== sender);
  for (const [aspect, read] of [['postcode-district', districtOf], ['deceased', deceasedOf]] as const) {
    const said = mine === undefined ? undefined : read(mine.content);
    if (said === undefined || (mineBefore !== undefined && read(mineBefore.content) === said)) continue;
    const differing = others.flatMap((s) => {
      const theirs = read(s.content);
      return theirs === undefined || theirs === said ? [] : [`${s.organisation} (${s.organisationType}) says ${theirs}`];
    });
    if (differing.length > 0) out.push({ aspect, detail: `${aspect}: ${sender} says ${said}; ${differing.join('; ')}` });
  }
  const restrictedBefore = before.length > 0 && isRestricted(composePatient(before, demographics));
  const restrictedAfter = isRestricted(composePatient(after, demographics));
  if (restrictedBefore !== restrictedAfter && others.length > 0) {
    out.push({ aspect: 'restriction', detail: `restriction: ${sender} ${restrictedAfter ? 'restricted' : 'lifted the restriction on'} a record ${others.map((s) => s.organisation).join(', ')} also wrote` });
  }
  return out;
}

function districtOf(p: Patient): string | undefined {
  return subjectDistrict(p);
}

function deceasedOf(p: Patient): string | undefined {
  if (p.deceasedDateTime !== undefined) return 'deceased';
  return p.deceasedBoolean === undefined ? undefined : p.deceasedBoolean ? 'deceased' : 'alive';
}

/** A statement keeps the elements, identifiers and labels (meta.security, tag, profile); never id or version. */
function statementOf(p: Patient): Patient {
  const { id: _id, meta, ...rest } = p;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) if (said(value)) kept[key] = value;
  return withLists({ ...(kept as unknown as Patient), resourceType: 'Patient' }, unionIdentifiers([p.identifier]), unionMeta([meta]));
}

function withLists(p: Patient, identifier: Identifier[], meta: Meta | undefined): Patient {
  const { identifier: _i, meta: _m, ...rest } = p;
  return { ...rest, resourceType: 'Patient', ...(identifier.length === 0 ? {} : { identifier }), ...(meta === undefined ? {} : { meta }) };
}

function unionIdentifiers(lists: readonly (Identifier[] | undefined)[]): Identifier[] {
  const out = new Map<string, Identifier>();
  for (const i of lists.flatMap((l) => l ?? [])) {
    const key = `${i.system ?? ''}|${i.value ?? ''}`;
    if (!out.has(key)) out.set(key, i);
  }
  return [...out.values()];
}

/** Labels, tags and profiles of every statement, each once; nothing else of meta (the store owns versionId and lastUpdated). */
function unionMeta(metas: readonly (Meta | undefined)[]): Meta | undefined {
  const codings = (pick: (m: Meta) => Coding[] | undefined): Coding[] => {
    const out = new Map<string, Coding>();
    for (const c of metas.flatMap((m) => (m === undefined ? [] : (pick(m) ?? [])))) {
      const key = `${c.system ?? ''}|${c.code ?? ''}`;
      if (!out.has(key)) out.set(key, c);
    }
    return [...out.values()];
  };
  const security = codings((m) => m.security);
  const tag = codings((m) => m.tag);
  const profile = [...new Set(metas.flatMap((m) => m?.profile ?? []))];
  const meta: Meta = {
    ...(profile.length === 0 ? {} : { profile }),
    ...(security.length === 0 ? {} : { security }),
    ...(tag.length === 0 ? {} : { tag }),
  };
  return Object.keys(meta).length === 0 ? undefined : meta;
}

function field(p: Patient, key: string): unknown {
  return (p as unknown as Record<string, unknown>)[key];
}

/** Has a source said something here? (An empty list or string says nothing.) */
function said(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return false;
  return !(Array.isArray(value) && value.length === 0);
}
