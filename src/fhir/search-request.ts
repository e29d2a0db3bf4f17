import type { CursorCodec } from './cursor-codec.js';
import type { Problem } from './operation-outcome.js';
import { problem } from './operation-outcome.js';
import { checkParameterBounds } from './search-bounds.js';
import { searchParamsOf, type ReferenceParam } from './resource-types.js';

// Parses a type-level search into a typed request, naming the parameter at fault.
// See: https://hl7.org/fhir/R4/search.html

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 100;
export const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

export type Comparator = 'gt' | 'ge' | 'lt' | 'le' | 'eq';

export interface DateBound {
  comparator: Comparator;
  /** The instant range the value denotes: [start, end). */
  start: Date;
  end: Date;
}

export interface SearchRequest {
  resourceType: string;
  ids: string[] | undefined;
  /** Each inner array is an OR of alternatives; the outer array is an AND. */
  identifiers: { system: string | undefined; value: string }[][];
  references: { param: string; targets: string[] }[];
  /** Token parameters other than identifier, by the index param they read; each inner array an OR. */
  tokens: { param: string; alternatives: { system: string | undefined; value: string }[] }[];
  lastUpdated: DateBound[];
  count: number;
  descending: boolean;
  cursor: { lastUpdated: Date; id: string } | undefined;
  /** _include: the reference parameters whose targets join the page (each decided like any record). */
  includes: ReferenceParam[];
}

/**
 * Whether a search's criteria name the records it can match: an `_id` or an
 * `identifier` criterion, each alternative an exact value. Its candidates are
 * then those few records, not a scan of the type.
 */
export function namesItsRecords(search: SearchRequest): boolean {
  return search.ids !== undefined || search.identifiers.length > 0;
}

/** Parameters that never filter: the result format. */
const FORMAT_PARAMS = new Set(['_format', '_pretty']);

export type ParamList = readonly (readonly [string, string])[];

export function parseSearch(
  resourceType: string,
  params: ParamList,
  options: { lenient: boolean; cursor?: CursorCodec | undefined } = { lenient: false },
): { ok: true; request: SearchRequest } | { ok: false; problem: Problem } {
  const supported = searchParamsOf(resourceType);
  const request: SearchRequest = {
    resourceType,
    ids: undefined,
    identifiers: [],
    references: [],
    tokens: [],
    lastUpdated: [],
    count: DEFAULT_COUNT,
    descending: false,
    cursor: undefined,
    includes: [],
  };
  const fail = (diagnostics: string, param: string) => ({ ok: false as const, problem: problem(400, 'invalid', diagnostics, param) });
  const tooCostly = checkParameterBounds(params);
  if (tooCostly !== undefined) return { ok: false, problem: tooCostly };
  const seen = new Set<string>();

  for (const [name, raw] of params) {
    const value = raw.trim();
    // eslint-disable-next-line no-control-regex -- control characters are never part of a search value
    if (/[\u0000-\u001f\u007f]/.test(value) || /[\u0000-\u001f]/.test(name)) {
      return fail(`search parameter ${name.replace(/[^\x20-\x7e]/g, '?')} contains control characters`, name.replace(/[^\x20-\x7e]/g, '?'));
    }
    if (FORMAT_PARAMS.has(name)) {
      if (name === '_format' && !/^(json|application\/(fhir\+)?json)$/.test(value)) {
        return { ok: false, problem: problem(406, 'not-supported', 'only JSON is supported', '_format') };
      }
      continue;
    }
    if (['_count', '_sort', '_cursor'].includes(name)) {
      if (seen.has(name)) return fail(`${name} may appear only once`, name);
      seen.add(name);
    }
    if (value.length === 0) return fail(`search parameter ${name} has no value`, name);
    switch (name) {
      case '_id': {
        const ids = value.split(',');
        if (!ids.every((id) => ID_PATTERN.test(id))) return fail('_id must be one or more resource ids', '_id');
        request.ids = request.ids === undefined ? ids : request.ids.filter((id) => ids.includes(id));
        break;
      }
      case 'identifier': {
        if (!supported.identifier) return fail(`${resourceType} has no identifier search parameter`, name);
        const alternatives = value.split(',').map(parseToken);
        if (alternatives.some((a) => a === undefined)) return fail('identifier must be [system|]value', name);
        request.identifiers.push(alternatives.filter((a) => a !== undefined));
        break;
      }
      case 'patient':
      case 'subject': {
        if (!supported.references.includes(name)) return fail(`${resourceType} has no ${name} search parameter`, name);
        const targets = value.split(',').map((v) => parseReference(v, name));
        if (targets.some((t) => t === undefined)) return fail(`${name} must be a reference such as Patient/123`, name);
        request.references.push({ param: name, targets: targets.filter((t) => t !== undefined) });
        break;
      }
      case '_include': {
        // See: https://hl7.org/fhir/R4/search.html#include (iterate and wildcards are not supported).
        const [source, param, target, ...rest] = value.split(':');
        const ref = param as ReferenceParam;
        if (source !== resourceType || !supported.references.includes(ref) || rest.length > 0 || (target !== undefined && target !== 'Patient')) {
          return fail(`_include must be ${resourceType}:<reference parameter> (${supported.references.map((r) => `${resourceType}:${r}`).join(', ') || 'none for this type'})`, name);
        }
        if (!request.includes.includes(ref)) request.includes.push(ref);
        break;
      }
      case '_lastUpdated': {
        const bound = parseDateBound(value);
        if (bound === undefined) {
          return fail('_lastUpdated must be [gt|ge|lt|le|eq]YYYY[-MM[-DD[Thh:mm:ss[.sss](Z|+hh:mm)]]]', name);
        }
        request.lastUpdated.push(bound);
        break;
      }
      case '_count': {
        if (!/^\d{1,6}$/.test(value) || Number(value) < 1) return fail('_count must be a positive integer', name);
        request.count = Math.min(Number(value), MAX_COUNT);
        break;
      }
      case '_sort': {
        if (value !== '_lastUpdated' && value !== '-_lastUpdated') return fail('_sort supports only _lastUpdated or -_lastUpdated', name);
        request.descending = value.startsWith('-');
        break;
      }
      case '_cursor': {
        const cursor = options.cursor?.decode(value);
        if (cursor === undefined) return fail('_cursor is not a cursor this server issued', name);
        request.cursor = cursor;
        break;
      }
      default:
        if (Object.hasOwn(supported.tokens, name)) {
          const alternatives = value.split(',').map(parseToken);
          if (alternatives.some((a) => a === undefined)) return fail(`${name} must be [system|]code`, name);
          request.tokens.push({ param: supported.tokens[name] ?? name, alternatives: alternatives.filter((a) => a !== undefined) });
          break;
        }
        if (Object.hasOwn(supported.moreReferences, name)) {
          const targets = value.split(',').map((v) => parseReference(v, 'subject'));
          if (targets.some((t) => t === undefined)) return fail(`${name} must be a reference such as Immunization/123`, name);
          request.references.push({ param: supported.moreReferences[name] ?? name, targets: targets.filter((t) => t !== undefined) });
          break;
        }
        if (!options.lenient) {
          return { ok: false, problem: problem(400, 'not-supported', `search parameter ${name} is not supported for ${resourceType}`, name) };
        }
    }
  }
  return { ok: true, request };
}

function parseToken(text: string): { system: string | undefined; value: string } | undefined {
  const bar = text.indexOf('|');
  if (bar < 0) return text.length > 0 ? { system: undefined, value: text } : undefined;
  const system = text.slice(0, bar);
  const value = text.slice(bar + 1);
  if (value.length === 0 || value.includes('|')) return undefined;
  return { system, value };
}

/** "Patient/123", an absolute URL ending so, or a bare id (Patient for patient, any type for subject). */
function parseReference(text: string, param: ReferenceParam): string | undefined {
  const typed = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(text);
  if (typed !== null) {
    if (param === 'patient' && typed[1] !== 'Patient') return undefined;
    return `${typed[1] ?? ''}/${typed[2] ?? ''}`;
  }
  if (!ID_PATTERN.test(text)) return undefined;
  return param === 'patient' ? `Patient/${text}` : `*/${text}`;
}

const DATE_RE =
  /^(gt|ge|lt|le|eq)?(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/** A FHIR date/dateTime search value as the range of instants it denotes (dates without a time are UTC). */
export function parseDateBound(text: string): DateBound | undefined {
  const m = DATE_RE.exec(text);
  if (m === null) return undefined;
  const [, prefix, y, mo, d, h, mi, s, frac, tz] = m;
  const comparator = (prefix ?? 'eq') as Comparator;
  const year = Number(y);
  if (mo === undefined) return range(comparator, Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1));
  const month = Number(mo) - 1;
  if (month > 11) return undefined;
  if (d === undefined) return range(comparator, Date.UTC(year, month, 1), Date.UTC(year, month + 1, 1));
  const day = Number(d);
  const dayStart = Date.UTC(year, month, day);
  if (new Date(dayStart).getUTCDate() !== day) return undefined;
  if (h === undefined) return range(comparator, dayStart, Date.UTC(year, month, day + 1));
  if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) return undefined;
  const iso = `${y ?? ''}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${frac === undefined ? '' : `.${frac.slice(0, 3).padEnd(3, '0')}`}${tz ?? 'Z'}`;
  const start = Date.parse(iso);
  if (Number.isNaN(start)) return undefined;
  const width = s === undefined ? 60_000 : frac === undefined ? 1000 : 10 ** (3 - Math.min(frac.length, 3));
  return range(comparator, start, start + width);
}

function range(comparator: Comparator, start: number, end: number): DateBound {
  return { comparator, start: new Date(start), end: new Date(end) };
}
