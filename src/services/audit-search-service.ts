import type { Bundle } from 'fhir/r4.js';
import type { HubKeys } from '../auth/hub-keys.js';
import type { Principal } from '../auth/principal.js';
import {
  countAuditEvents,
  currentVersion,
  patientIdsByIdentifier,
  readAuditEvent,
  searchAuditEvents,
  type AuditEventFilter,
  type AuditPosition,
  type Containment,
} from '../db/audit-search-queries.js';
import type { Db, Tx } from '../db/database.js';
import { cursorCodec, type CursorCodec } from '../fhir/cursor-codec.js';
import { problem, type Problem } from '../fhir/operation-outcome.js';
import { checkParameterBounds } from '../fhir/search-bounds.js';
import { ID_PATTERN, parseDateBound, type ParamList } from '../fhir/search-request.js';
import { SYSTEMS } from '../fhir/systems.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { refuse } from './decision-audit.js';
import { toResult, type FhirResult } from './fhir-result.js';

// The IG lead's AuditEvent search and read. The events are returned exactly as
// stored; reading them is itself audited, in the transaction of the read.
// See: https://hl7.org/fhir/R4/auditevent.html#search

export const AUDIT_DEFAULT_COUNT = 50;
export const AUDIT_MAX_COUNT = 500;

export interface AuditSearchDeps {
  db: Db;
  keys: HubKeys;
  audit: AuditRecorder;
  baseUrl: string;
}

/** A criterion that needs the store to become containments: a patient by identifier, a record in any version. */
type Criterion =
  | { kind: 'contains'; alternatives: Containment[] }
  | { kind: 'patient-identifier'; alternatives: { system: string | undefined; value: string }[] }
  | { kind: 'entity'; alternatives: { reference: string; versioned: boolean }[] };

export interface AuditSearchRequest {
  /** AND of criteria, each an OR of alternatives. */
  criteria: Criterion[];
  recorded: AuditEventFilter['recorded'][number][];
  count: number;
  descending: boolean;
  total: boolean;
  cursor: AuditPosition | undefined;
}

type Parsed = { ok: true; request: AuditSearchRequest } | { ok: false; problem: Problem };

const ONCE = new Set(['_count', '_sort', '_cursor', '_total']);
const TEXT = /^[^|,]{1,200}$/;
const FLOW_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const OUTCOMES = new Set(['0', '4', '8', '12']);
const ACTIONS = new Set(['C', 'R', 'U', 'D', 'E']);

/**
 * Parses an AuditEvent search, naming the parameter at fault. Pure: the
 * patient identifiers and record versions are resolved in the transaction.
 */
export function parseAuditSearch(params: ParamList, options: { lenient: boolean; cursors: CursorCodec }): Parsed {
  const request: AuditSearchRequest = { criteria: [], recorded: [], count: AUDIT_DEFAULT_COUNT, descending: true, total: false, cursor: undefined };
  const fail = (diagnostics: string, param: string): Parsed => ({ ok: false, problem: problem(400, 'invalid', diagnostics, param) });
  const tooCostly = checkParameterBounds(params);
  if (tooCostly !== undefined) return { ok: false, problem: tooCostly };
  const seen = new Set<string>();
  const contains = (alternatives: (Containment | undefined)[], param: string, expected: string): Parsed | undefined => {
    if (alternatives.some((a) => a === undefined)) return fail(`${param} must be ${expected} (comma = OR)`, param);
    request.criteria.push({ kind: 'contains', alternatives: alternatives.filter((a) => a !== undefined) });
    return undefined;
  };

  for (const [name, raw] of params) {
    const value = raw.trim();
    const printable = name.replace(/[^\x20-\x7e]/g, '?');
    // eslint-disable-next-line no-control-regex -- control characters are never part of a search value
    if (/[\u0000-\u001f\u007f]/.test(value) || /[\u0000-\u001f\u007f]/.test(name)) return fail(`search parameter ${printable} contains control characters`, printable);
    if (name === '_pretty') continue;
    if (name === '_format') {
      if (!/^(json|application\/(fhir\+)?json)$/.test(value)) return { ok: false, problem: problem(406, 'not-supported', 'only JSON is supported', '_format') };
      continue;
    }
    if (ONCE.has(name)) {
      if (seen.has(name)) return fail(`${name} may appear only once`, name);
      seen.add(name);
    }
    if (value.length === 0) return fail(`search parameter ${name} has no value`, name);
    const list = value.split(',');
    let failed: Parsed | undefined;
    switch (name) {
      case 'patient': {
        const refs = list.map(patientReference);
        if (refs.some((r) => r === undefined)) return fail('patient must be Patient/[id] (comma = OR)', name);
        failed = contains(refs.map((r) => ({ entity: [{ what: { reference: r } }] })), name, 'Patient/[id]');
        break;
      }
      case 'patient:identifier': {
        const tokens = list.map(token);
        if (tokens.some((t) => t === undefined)) return fail('patient:identifier must be [system|]value, e.g. https://fhir.nhs.uk/Id/nhs-number|9990000018 (comma = OR)', name);
        request.criteria.push({ kind: 'patient-identifier', alternatives: tokens.filter((t) => t !== undefined) });
        break;
      }
      case 'agent':
        failed = contains(
          list.map(token).map((t) => (t === undefined ? undefined : { agent: [{ who: { identifier: withSystem({ value: t.value }, t.system) } }] })),
          name,
          'a client id or organisation code, or system|value',
        );
        break;
      case 'entity': {
        const refs = list.map(entityReference);
        if (refs.some((r) => r === undefined)) return fail('entity must be [type]/[id] or [type]/[id]/_history/[vid] (comma = OR)', name);
        request.criteria.push({ kind: 'entity', alternatives: refs.filter((r) => r !== undefined) });
        break;
      }
      case 'date': {
        const bound = parseDateBound(value);
        if (bound === undefined) return fail('date must be [eq|ge|gt|le|lt]YYYY[-MM[-DD[Thh:mm[:ss[.sss]](Z|+hh:mm)]]]', name);
        // See: https://hl7.org/fhir/R4/search.html#prefix (the range of the value against the instant recorded)
        switch (bound.comparator) {
          case 'eq':
            request.recorded.push({ op: 'ge', at: bound.start }, { op: 'lt', at: bound.end });
            break;
          case 'ge':
            request.recorded.push({ op: 'ge', at: bound.start });
            break;
          case 'gt':
            request.recorded.push({ op: 'ge', at: bound.end });
            break;
          case 'le':
            request.recorded.push({ op: 'lt', at: bound.end });
            break;
          case 'lt':
            request.recorded.push({ op: 'lt', at: bound.start });
            break;
        }
        break;
      }
      case 'outcome':
        failed = contains(list.map((v) => (OUTCOMES.has(v) ? { outcome: v } : undefined)), name, '0, 4, 8 or 12');
        break;
      case 'action':
        failed = contains(list.map((v) => (ACTIONS.has(v) ? { action: v } : undefined)), name, 'C, R, U, D or E');
        break;
      case 'type':
        failed = contains(list.map(token).map((t) => (t === undefined ? undefined : { type: withSystem({ code: t.value }, t.system) })), name, '[system|]code');
        break;
      case 'subtype':
        failed = contains(list.map(token).map((t) => (t === undefined ? undefined : { subtype: [withSystem({ code: t.value }, t.system)] })), name, '[system|]code');
        break;
      case 'purpose':
        failed = contains(
          list.map(token).map((t) => (t === undefined ? undefined : { purposeOfEvent: [{ coding: [withSystem({ code: t.value }, t.system)] }] })),
          name,
          '[system|]code',
        );
        break;
      case 'flow':
        failed = contains(list.map(flowContainment), name, 'a flow name, or protocol|version|flow');
        break;
      case '_count':
        if (!/^\d{1,6}$/.test(value)) return fail('_count must be a whole number (0: the total only)', name);
        request.count = Math.min(Number(value), AUDIT_MAX_COUNT);
        break;
      case '_sort':
        if (value !== 'date' && value !== '-date') return fail('_sort supports only date or -date', name);
        request.descending = value === '-date';
        break;
      case '_total':
        if (!['none', 'estimate', 'accurate'].includes(value)) return fail('_total must be none, estimate or accurate', name);
        request.total = value === 'accurate';
        break;
      case '_cursor': {
        const decoded = options.cursors.decode(value);
        if (decoded === undefined || !/^\d{1,15}$/.test(decoded.id)) return fail('_cursor is not a cursor this server issued', name);
        request.cursor = { recorded: decoded.lastUpdated, seq: Number(decoded.id) };
        break;
      }
      default:
        if (!options.lenient) return { ok: false, problem: problem(400, 'not-supported', `search parameter ${printable} is not supported for AuditEvent`, printable) };
    }
    if (failed !== undefined) return failed;
  }
  return { ok: true, request };
}

function withSystem<T extends object>(doc: T, system: string | undefined): T & { system?: string } {
  return system === undefined ? doc : { ...doc, system };
}

/** [system|]value; a bare value matches any system. */
function token(text: string): { system: string | undefined; value: string } | undefined {
  const bar = text.indexOf('|');
  if (bar < 0) return TEXT.test(text) ? { system: undefined, value: text } : undefined;
  const system = text.slice(0, bar);
  const value = text.slice(bar + 1);
  return TEXT.test(value) && (system === '' || TEXT.test(system)) ? { system, value } : undefined;
}

/** "Patient/123", an absolute URL ending so, or a bare id. */
function patientReference(text: string): string | undefined {
  const m = /^(?:https?:\/\/\S+\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(text);
  if (m?.[1] !== undefined) return `Patient/${m[1]}`;
  return ID_PATTERN.test(text) ? `Patient/${text}` : undefined;
}

function entityReference(text: string): { reference: string; versioned: boolean } | undefined {
  const m = /^([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([1-9]\d{0,8}))?$/.exec(text);
  if (m === null) return undefined;
  return { reference: text, versioned: m[3] !== undefined };
}

function flowContainment(text: string): Containment | undefined {
  const parts = text.split('|');
  if (parts.length === 1 && FLOW_NAME.test(text)) {
    return { entity: [{ type: { system: SYSTEMS.auditEntityKind, code: 'protocol-flow' }, detail: [{ type: 'flow', valueString: text }] }] };
  }
  const [protocol = '', version = '', flow = ''] = parts;
  if (parts.length !== 3 || !FLOW_NAME.test(protocol) || !/^\d{1,9}$/.test(version) || !FLOW_NAME.test(flow)) return undefined;
  return { entity: [{ what: { identifier: { system: SYSTEMS.protocolFlow, value: text } } }] };
}

/** Most versions of one record an entity search names one by one. */
const MAX_VERSIONS = 1000;

/** The criteria as containments: identifiers become the Patients carrying them, a record every version of it. */
async function filterOf(tx: Db | Tx, request: AuditSearchRequest): Promise<AuditEventFilter> {
  const contains: Containment[][] = [];
  for (const c of request.criteria) {
    switch (c.kind) {
      case 'contains':
        contains.push(c.alternatives);
        break;
      case 'patient-identifier': {
        const ids = new Set<string>();
        for (const t of c.alternatives) for (const id of await patientIdsByIdentifier(tx, t.system, t.value)) ids.add(id);
        contains.push([...ids].map((id) => ({ entity: [{ what: { reference: `Patient/${id}` } }] })));
        break;
      }
      case 'entity': {
        const references: string[] = [];
        for (const e of c.alternatives) {
          references.push(e.reference);
          if (e.versioned) continue;
          const [type = '', id = ''] = e.reference.split('/');
          const latest = Math.min((await currentVersion(tx, type, id)) ?? 0, MAX_VERSIONS);
          for (let v = 1; v <= latest; v += 1) references.push(`${e.reference}/_history/${v}`);
        }
        contains.push(references.map((reference) => ({ entity: [{ what: { reference } }] })));
        break;
      }
    }
  }
  return { contains, recorded: request.recorded };
}

export class AuditSearchService {
  /** Audit-search cursors: sealed like the hub's search cursors, with keys of their own derived from the signing keys. */
  private readonly cursors: CursorCodec;

  constructor(private readonly deps: AuditSearchDeps) {
    this.cursors = cursorCodec(() => deps.keys.cursorSecrets('audit-cursor'));
  }

  /** GET /fhir/AuditEvent: a searchset of the stored events, newest first unless asked otherwise. */
  async search(principal: Principal, params: ParamList, lenient: boolean, meta: RequestMeta): Promise<FhirResult> {
    const query = new URLSearchParams(params.map(([k, v]): [string, string] => [k, v])).toString();
    const cursors = this.cursors;
    const parsed = parseAuditSearch(params, { lenient, cursors });
    if (!parsed.ok) return refuse(this.deps, principal, meta, 'search-type', 'AuditEvent', parsed.problem, query);
    const search = parsed.request;
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      const filter = await filterOf(tx, search);
      const rows = search.count === 0 ? [] : await searchAuditEvents(tx, filter, { limit: search.count, descending: search.descending, after: search.cursor });
      const shown = rows.slice(0, search.count);
      const last = shown.at(-1);
      const next = rows.length > search.count && last !== undefined ? { lastUpdated: last.recorded, id: String(last.seq) } : undefined;
      const total =
        search.total || search.count === 0 ? await countAuditEvents(tx, filter) : next === undefined && search.cursor === undefined ? shown.length : undefined;
      // Written after the read: the search does not find itself.
      await this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'search-type',
        outcome: 'success',
        outcomeDesc: `${shown.length} AuditEvent(s) returned`,
        query,
        resourceType: 'AuditEvent',
      });
      const kept = params.filter(([k]) => k !== '_cursor');
      const url = (extra: [string, string][]): string => {
        const qs = new URLSearchParams([...kept, ...extra].map(([k, v]): [string, string] => [k, v])).toString();
        return `${this.deps.baseUrl}/fhir/AuditEvent${qs.length > 0 ? `?${qs}` : ''}`;
      };
      const self = params.find(([k]) => k === '_cursor');
      const link: NonNullable<Bundle['link']> = [{ relation: 'self', url: url(self === undefined ? [] : [['_cursor', self[1]]]) }];
      if (next !== undefined) link.push({ relation: 'next', url: url([['_cursor', cursors.encode(next)]]) });
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        ...(total === undefined ? {} : { total }),
        link,
        entry: shown.map((r) => ({ fullUrl: `${this.deps.baseUrl}/fhir/AuditEvent/${r.event.id ?? ''}`, resource: r.event, search: { mode: 'match' as const } })),
      };
      return { status: 200, body: bundle };
    });
  }

  /** GET /fhir/AuditEvent/:id: one event, as stored. */
  async read(principal: Principal, id: string, meta: RequestMeta): Promise<FhirResult> {
    if (!ID_PATTERN.test(id)) return refuse(this.deps, principal, meta, 'read', 'AuditEvent', problem(400, 'invalid', 'id is not a valid resource id', 'id'));
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      const event = await readAuditEvent(tx, id);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'read',
        outcome: event === undefined ? 'minor-failure' : 'success',
        ...(event === undefined ? { outcomeDesc: 'not found', resourceType: 'AuditEvent' } : { resources: [`AuditEvent/${id}`] }),
      });
      return event === undefined ? toResult(problem(404, 'not-found', `AuditEvent/${id} is not known`)) : { status: 200, body: event };
    });
  }
}
