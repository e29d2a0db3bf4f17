import type { Bundle, BundleEntry, Patient, Resource } from 'fhir/r4.js';
import { z } from 'zod';
import { nhsNumbers, seededRandom, syntheticChild } from './synthetic.js';
import { SYSTEMS } from '../../src/fhir/systems.js';

// The peer: any FHIR R4 server already running (Medplum, HAPI …), driven over
// HTTP exactly as the hub is. The benchmark never starts, builds or configures
// it: its address, a bearer token and, for the CPU accounting, its process ids
// and database name come from the environment.

const peerEnvSchema = z.object({
  PEER_URL: z.url({ protocol: /^https?$/ }),
  PEER_TOKEN: z.string().min(1),
  PEER_NAME: z.string().min(1).default('peer'),
  /** The peer's server processes (comma-separated): their CPU is the peer's, not "other processes'". */
  PEER_PIDS: z
    .string()
    .default('')
    .transform((s) => s.split(',').filter((p) => p.trim() !== '').map(Number))
    .pipe(z.array(z.number().int().positive())),
  /** The peer's database on the same PostgreSQL server, if it has one: its backends count as the peer's. */
  PEER_DATABASE: z.string().min(1).optional(),
  /** Which operations to measure (comma-separated); all by default. */
  PEER_OPERATIONS: z.string().default('create,read,search,ingest'),
});

export type PeerOperation = 'create' | 'read' | 'search' | 'ingest';
const OPERATIONS: readonly PeerOperation[] = ['create', 'read', 'search', 'ingest'];

export interface PeerServer {
  name: string;
  /** Origin, e.g. http://127.0.0.1:8103 */
  origin: string;
  /** The FHIR base path on it, without a trailing slash, e.g. /fhir/R4 */
  basePath: string;
  token: string;
  pids: readonly number[];
  database: string | undefined;
  operations: readonly PeerOperation[];
}

export type PeerEnvResult = { ok: true; peer: PeerServer } | { ok: false; message: string };

export function peerFromEnv(env: Record<string, string | undefined>): PeerEnvResult {
  const parsed = peerEnvSchema.safeParse(env);
  if (!parsed.success) {
    return { ok: false, message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  }
  const url = new URL(parsed.data.PEER_URL);
  const operations = parsed.data.PEER_OPERATIONS.split(',').map((s) => s.trim());
  const unknown = operations.filter((o) => !(OPERATIONS as readonly string[]).includes(o));
  if (unknown.length > 0) return { ok: false, message: `PEER_OPERATIONS: unknown ${unknown.join(', ')} (known: ${OPERATIONS.join(', ')})` };
  return {
    ok: true,
    peer: {
      name: parsed.data.PEER_NAME,
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, ''),
      token: parsed.data.PEER_TOKEN,
      pids: parsed.data.PEER_PIDS,
      database: parsed.data.PEER_DATABASE,
      operations: OPERATIONS.filter((o) => operations.includes(o)),
    },
  };
}

export function peerHeaders(peer: PeerServer, contentType?: string): Record<string, string> {
  return { authorization: `Bearer ${peer.token}`, accept: 'application/fhir+json', ...(contentType === undefined ? {} : { 'content-type': contentType }) };
}

async function peerPost(peer: PeerServer, path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
  const res = await fetch(`${peer.origin}${peer.basePath}${path}`, {
    method: 'POST',
    headers: peerHeaders(peer, 'application/fhir+json'),
    body: JSON.stringify(body),
    signal: AbortSignal.any([signal, AbortSignal.timeout(120_000)]),
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) throw new Error(`${peer.name} answered ${res.status} to POST ${path}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

/**
 * A peer that already held these children (an earlier run preloaded the same NHS numbers) answers each
 * search with every copy, the hub with one: the search ratio would flatter the hub. Refused here.
 */
async function requireOneMatch(peer: PeerServer, nhsNumber: string, signal: AbortSignal): Promise<void> {
  const query = `identifier=${encodeURIComponent(`${SYSTEMS.nhsNumber}|${nhsNumber}`)}&_summary=count`;
  const res = await fetch(`${peer.origin}${peer.basePath}/Patient?${query}`, { headers: peerHeaders(peer), signal: AbortSignal.any([signal, AbortSignal.timeout(60_000)]) });
  const total = z.object({ total: z.number() }).parse(await res.json()).total;
  if (total !== 1) {
    throw new Error(
      `${peer.name} holds ${total} Patients with the first preloaded NHS number: it held these children before this run, so its searches would return every copy. ` +
        'Give it a database without them (delete its Patients) and run again.',
    );
  }
}

/** The children preloaded into the peer: synthetic Patients of the hub preload's shape and NHS numbers. */
export interface PeerPreload {
  ids: string[];
  nhsNumbers: string[];
}

const responseBundle = z.object({
  entry: z.array(z.object({ response: z.object({ status: z.string(), location: z.string().optional() }) })),
});

/**
 * Loads count children into the peer in transactions of 200, four at a time:
 * the NHS numbers of the hub's own preload (bench/support/preload.ts) and
 * Patients of the same shape, so that both servers hold the same volume and
 * are searched for the same identifiers.
 */
export async function preloadPeer(peer: PeerServer, count: number, signal: AbortSignal, log: (line: string) => void): Promise<PeerPreload> {
  const batch = 200;
  const parallel = 4;
  const random = seededRandom(20_261_122);
  const numbers = nhsNumbers();
  const now = new Date();
  const patients: Patient[] = [];
  for (let n = 0; n < count; n += 1) {
    const nhs = numbers.next();
    if (nhs.done === true) throw new Error('ran out of 999-range NHS numbers');
    patients.push(syntheticChild(n, nhs.value, random, now));
  }
  const ids: string[] = new Array<string>(count);
  const started = Date.now();
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const first = next;
      next += batch;
      const slice = patients.slice(first, first + batch);
      const answer = responseBundle.parse(await peerPost(peer, '', transactionOf(slice), signal));
      answer.entry.forEach((entry, i) => {
        const id = entry.response.location?.split('/')[1];
        if (id === undefined) throw new Error(`${peer.name} gave no location for a created Patient`);
        ids[first + i] = id;
      });
      done += slice.length;
      if (done % 10_000 < batch) log(`  ${peer.name}: preloaded ${done} children (${Math.round((Date.now() - started) / 1000)} s)`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const preloaded = patients.map((p) => p.identifier?.[0]?.value ?? '');
  await requireOneMatch(peer, preloaded[0] ?? '', signal);
  return { ids, nhsNumbers: preloaded };
}

/** A transaction Bundle creating each resource (entries keep their fullUrl, so urn:uuid references resolve). */
export function transactionOf(resources: readonly Resource[], fullUrls?: readonly (string | undefined)[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((resource, i): BundleEntry => {
      const fullUrl = fullUrls?.[i];
      return { ...(fullUrl === undefined ? {} : { fullUrl }), resource, request: { method: 'POST', url: resource.resourceType } };
    }),
  };
}

/**
 * The peer's side of an inbound message: the resources of the same FHIR
 * message (every entry but its MessageHeader) created in one transaction, the
 * closest a stock FHIR server comes to $process-message.
 */
export function messageAsTransaction(messageJson: string): { body: string; resources: number } {
  const message = JSON.parse(messageJson) as Bundle;
  const entries = (message.entry ?? []).filter((e) => e.resource !== undefined && e.resource.resourceType !== 'MessageHeader');
  const resources = entries.map((e) => {
    const resource = { ...(e.resource as Resource) };
    delete resource.id;
    return resource;
  });
  return { body: JSON.stringify(transactionOf(resources, entries.map((e) => e.fullUrl))), resources: resources.length };
}
