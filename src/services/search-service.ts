import type { Bundle, BundleEntry, Patient } from 'fhir/r4.js';
import { statementMatches, withinLastUpdated } from '../fhir/search-match.js';
import type { Principal } from '../auth/principal.js';
import type { Db, Tx } from '../db/database.js';
import { readCurrentMany, type OrganisationFacts } from '../db/disclosure-queries.js';
import { searchQuery, type SearchCandidates, type StoredResource } from '../db/resource-queries.js';
import { searchWithFacts } from '../db/request-queries.js';
import { contentForRules } from '../db/undisclosed.js';
import type { CursorCodec } from '../fhir/cursor-codec.js';
import { indexValues, isSupportedType } from '../fhir/resource-types.js';
import { namesItsRecords, parseSearch, type ParamList, type SearchRequest } from '../fhir/search-request.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { recordDecisions, refuse, versionedReference, type DenialBurst } from './decision-audit.js';
import type { DisclosureContext, DisclosureService, Judged, KnownSubjectFacts } from './disclosure-service.js';
import type { FhirResult } from './fhir-result.js';

// Type-level search through the disclosure decision. See: https://hl7.org/fhir/R4/search.html

export interface SearchDeps {
  db: Db;
  audit: AuditRecorder;
  clock: () => Date;
  baseUrl: string;
  disclosure: DisclosureService;
  cursors: CursorCodec;
  denialBurst?: DenialBurst | undefined;
}

/** Candidates read per query while filtering a search, and the most one request examines. */
const SEARCH_BATCH = 200;
const MAX_SCAN = 5000;

/**
 * A search is filtered record by record: candidates are read in keyset
 * order and each is decided; a page holds only what is disclosed. Whether
 * there is a next page is known only from a permitted record beyond the
 * page (or an unfinished scan), and the cursor is sealed, so neither the
 * links nor the total reveal a denied record.
 */
export async function searchDisclosed(
  deps: SearchDeps,
  principal: Principal,
  type: string,
  params: ParamList,
  lenient: boolean,
  meta: RequestMeta,
): Promise<FhirResult> {
  const query = new URLSearchParams(params.map(([k, v]): [string, string] => [k, v])).toString();
  const parsed = parseSearch(type, params, { lenient, cursor: deps.cursors });
  if (!parsed.ok) return refuse(deps, principal, meta, 'search-type', type, parsed.problem, query);
  const search = parsed.request;
  const work = async (tx: Tx): Promise<FhirResult> => {
    const { ctx, shown, considered, next } = await scanDisclosed(deps, tx, { principal, overrideReason: meta.overrideReason }, search);
    // _include: each referenced record is decided like any other; a denied one is simply not there.
    const withIncluded = await included(deps, tx, ctx, search, shown);
    await recordDecisions(deps, tx, principal, meta, [...considered, ...withIncluded]);
    const disclosed = [...shown, ...withIncluded.filter((j) => j.body !== undefined)];
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'search-type',
      outcome: 'success',
      query,
      resourceType: type,
      resources: disclosed.map((j) => versionedReference(j.row)),
      patients: [...new Set(disclosed.flatMap((j) => j.patients))],
    });
    return { status: 200, body: searchBundle(deps, type, params, search, shown, withIncluded, next) };
  };
  // Like a read by id, a search writes nothing but its audit. One whose criteria name the records reads a few, and
  // shares its transaction with the reads and such searches that came with it (shared-transactions.ts). Any other
  // has one of its own: it may scan thousands of candidates, and what shared its transaction would wait for the
  // whole scan.
  return readsFew(search) ? deps.audit.shared(deps.db, work) : deps.audit.transaction(deps.db, work);
}

/**
 * Whether a search's candidates are the few records its criteria name: by `_id`, or by an `identifier` criterion
 * whose every alternative gives a system. An identifier without a system matches its value in any system (a local
 * number, a reference number), and how many records hold it is known only once they are all read.
 */
function readsFew(search: SearchRequest): boolean {
  if (!namesItsRecords(search)) return false;
  return search.ids !== undefined || search.identifiers.some((alternatives) => alternatives.every((a) => a.system !== undefined));
}

/** Whose scan it is: a context already read in the transaction, or a caller whose context is read with the first batch. */
export type ScanRequester = { ctx: DisclosureContext } | { principal: Principal; overrideReason: string | undefined };

/**
 * Reads candidates in keyset order and decides each, until a page of
 * `search.count` disclosed records (and one more, to know there is a next
 * page: `more`), the end, or MAX_SCAN. Denied records are only in `considered` (for
 * the audit); `next` is known only from a permitted record beyond the page
 * or an unfinished scan, never from a denied one. Each batch is read with the
 * facts its decisions need, in one statement (searchWithFacts).
 */
export async function scanDisclosed(
  deps: Pick<SearchDeps, 'disclosure'>,
  tx: Tx,
  requester: ScanRequester,
  search: SearchRequest,
): Promise<{ ctx: DisclosureContext; shown: Judged[]; considered: Judged[]; next: { lastUpdated: Date; id: string } | undefined; more: boolean }> {
  const considered: Judged[] = [];
  const page: Judged[] = [];
  let cursor = search.cursor;
  let exhausted: boolean;
  let scanned = 0;
  let from = requester;
  let ctx: DisclosureContext;
  do {
    const batchSize = nextBatch(search.count + 1 - page.length, scanned, page.length);
    const read = await readBatch(deps.disclosure, tx, from, { ...search, cursor, count: batchSize });
    ctx = read.ctx;
    from = { ctx };
    const batch = read.rows.slice(0, batchSize);
    exhausted = read.rows.length <= batchSize;
    for (const judged of await deps.disclosure.judgeKnowing(tx, ctx, batch, read.known)) {
      scanned += 1;
      cursor = { lastUpdated: judged.row.lastUpdated, id: judged.row.id };
      if (judged.body !== undefined && meetsCriteria(search, judged)) {
        page.push(judged);
        if (page.length > search.count) break;
      }
      considered.push(judged);
    }
    if (page.length > search.count) exhausted = false;
  } while (page.length <= search.count && !exhausted && scanned < MAX_SCAN);
  const shown = page.slice(0, search.count);
  const last = shown.at(-1);
  const next =
    page.length > search.count && last !== undefined
      ? { lastUpdated: last.row.lastUpdated, id: last.row.id }
      : !exhausted && cursor !== undefined
        ? cursor
        : undefined;
  return { ctx, shown, considered, next, more: page.length > search.count };
}

/**
 * One batch, narrowed by the requester's candidate sources, with its
 * subjects' facts. Without a context yet, the registry is read in the same
 * statement, and the batch is narrowed by what the registry last read by
 * this process says (DisclosureService.predictedContext); when the registry
 * read now narrows differently, the batch is read again, narrowed by it. A
 * registry change then costs a statement, once, and applies to this request.
 */
async function readBatch(
  disclosure: DisclosureService,
  tx: Tx,
  requester: ScanRequester,
  search: SearchRequest,
): Promise<{ ctx: DisclosureContext; rows: StoredResource[]; known: KnownSubjectFacts }> {
  const narrowing = (ctx: DisclosureContext): SearchCandidates => disclosure.candidateSources(ctx, search.resourceType);
  if ('ctx' in requester) return { ctx: requester.ctx, ...(await batchWithFacts(disclosure, tx, requester.ctx.requester.organisationCode, search, narrowing(requester.ctx), false)) };
  const guessed = narrowing(disclosure.predictedContext(requester.principal, requester.overrideReason));
  const read = await batchWithFacts(disclosure, tx, requester.principal.organisationCode, search, guessed, true);
  if (read.organisations === undefined) throw new Error('the search statement read no organisations');
  const ctx = disclosure.contextOf(requester.principal, requester.overrideReason, read.organisations);
  const candidates = narrowing(ctx);
  if (sameCandidates(candidates, guessed)) return { ctx, ...read };
  return { ctx, ...(await batchWithFacts(disclosure, tx, ctx.requester.organisationCode, search, candidates, false)) };
}

async function batchWithFacts(
  disclosure: DisclosureService,
  tx: Tx,
  /** The requester's organisation code (whose own statements are read). */
  requester: string,
  search: SearchRequest,
  candidates: SearchCandidates,
  organisations: boolean,
): Promise<{ rows: StoredResource[]; known: KnownSubjectFacts; organisations: Map<string, OrganisationFacts> | undefined }> {
  const patients = search.resourceType === 'Patient';
  const query = searchQuery(tx, search, candidates);
  const read = await searchWithFacts(
    tx,
    { type: search.resourceType, descending: search.descending, query },
    { lookups: disclosure.subjectLookups(patients), requester, organisations },
  );
  const own = read.said === undefined ? undefined : { ids: new Set(read.rows.map((r) => r.id)), said: read.said };
  return {
    rows: read.rows,
    known: { subjects: read.subjects, patients: read.patients, referring: read.referring, withRecords: patients, own },
    organisations: read.organisations,
  };
}

/** Whether two narrowings read the same candidates: the same fields, lists compared as sets. */
function sameCandidates(a: SearchCandidates, b: SearchCandidates): boolean {
  const normal = (c: SearchCandidates): string =>
    JSON.stringify([c.own, [...c.sourceOrgs].sort(), c.districts === undefined ? null : [...new Set(c.districts)].sort(), c.addressed ?? null, c.subject ?? null]);
  return normal(a) === normal(b);
}

/**
 * How many candidates to read next for `wanted` more disclosed records: as
 * many as the scan's yield so far says it takes (a narrowed search discloses
 * most of what it reads, so a page reads little more than itself), a quarter
 * more, between what is wanted and SEARCH_BATCH (or the page, if larger).
 */
function nextBatch(wanted: number, scanned: number, kept: number): number {
  const perKept = kept === 0 ? (scanned === 0 ? 1 : SEARCH_BATCH) : scanned / kept;
  return Math.min(Math.max(SEARCH_BATCH, wanted), Math.max(wanted, Math.ceil(wanted * perKept * 1.25)));
}

/**
 * A Patient answered with the requester's own statement matches only on what
 * the requester said, and when (search-match.ts); any other Patient on the
 * stored version's time (the SQL admits a Patient with the requester's
 * statement whatever its time). Other records are matched by the SQL alone.
 */
function meetsCriteria(search: SearchRequest, judged: Judged): boolean {
  if (judged.row.type !== 'Patient') return true;
  if (judged.statement !== undefined) return statementMatches(search, judged.body as Patient, judged.statement.saidAt);
  return withinLastUpdated(search.lastUpdated, judged.row.lastUpdated);
}

async function included(deps: SearchDeps, tx: Tx, ctx: DisclosureContext, search: SearchRequest, shown: readonly Judged[]): Promise<Judged[]> {
  if (search.includes.length === 0) return [];
  // The references to follow are read from the stored matches; what they lead to is decided like any record.
  const have = new Set(shown.map((j) => `${j.row.type}/${j.row.id}`));
  const targets = new Set(
    shown.flatMap((j) => indexValues(contentForRules(j.row.content)).references.filter((r) => (search.includes as string[]).includes(r.param)).map((r) => r.target)),
  );
  const byType = new Map<string, string[]>();
  for (const target of targets) {
    if (have.has(target)) continue;
    const [targetType = '', id = ''] = target.split('/');
    if (!isSupportedType(targetType)) continue;
    byType.set(targetType, [...(byType.get(targetType) ?? []), id]);
  }
  const rows = (await Promise.all([...byType].map(([t, ids]) => readCurrentMany(tx, t, ids)))).flat();
  return deps.disclosure.judge(tx, ctx, rows);
}

function searchBundle(
  deps: SearchDeps,
  type: string,
  params: ParamList,
  search: SearchRequest,
  shown: readonly Judged[],
  included: readonly Judged[],
  next: { lastUpdated: Date; id: string } | undefined,
): Bundle {
  const kept = params.filter(([k]) => k !== '_cursor');
  const url = (extra: [string, string][]): string => {
    const qs = new URLSearchParams([...kept, ...extra].map(([k, v]): [string, string] => [k, v])).toString();
    return `${deps.baseUrl}/fhir/${type}${qs.length > 0 ? `?${qs}` : ''}`;
  };
  const self = params.find(([k]) => k === '_cursor');
  const link: NonNullable<Bundle['link']> = [{ relation: 'self', url: url(self === undefined ? [] : [['_cursor', self[1]]]) }];
  if (next !== undefined) link.push({ relation: 'next', url: url([['_cursor', deps.cursors.encode(next)]]) });
  const entry: BundleEntry[] = [
    ...shown.map((j) => ({ fullUrl: `${deps.baseUrl}/fhir/${j.row.type}/${j.row.id}`, resource: j.body, search: { mode: 'match' as const } })),
    ...included
      .filter((j) => j.body !== undefined)
      .map((j) => ({ fullUrl: `${deps.baseUrl}/fhir/${j.row.type}/${j.row.id}`, resource: j.body, search: { mode: 'include' as const } })),
  ];
  // The total is given only when it is known after filtering: a first page that is also the last.
  const total = next === undefined && search.cursor === undefined ? { total: shown.length } : {};
  return { resourceType: 'Bundle', type: 'searchset', ...total, link, entry };
}
