import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { inPgTransaction } from './pg-load.js';

// The raw limit of one ingest request: the rows the hub wrote for a real
// request of the same format, written again with nothing around them. A
// request the hub stored is read back from its tables (receipt, every
// resource version with its history and search index rows, the Provenance,
// the raw message as a Binary, the AuditEvent), and the baseline replays it
// per unit (message, CSV row) as one transaction of plain INSERTs from
// node-postgres, with fresh ids and fresh index values each time, into
// tables made LIKE the hub's (same columns, indexes and preloaded rows).

/** The baseline's own tables, each a copy of one of the hub's. */
const RAW_TABLES: readonly (readonly [raw: string, like: string])[] = [
  ['bench_raw_receipt', 'message_receipt'],
  ['bench_raw_resource', 'resource'],
  ['bench_raw_history', 'resource_history'],
  ['bench_raw_token', 'resource_token'],
  ['bench_raw_reference', 'resource_reference'],
];
const RAW_AUDIT = 'bench_raw_audit';
const RAW_TABLE_NAMES = [...RAW_TABLES.map(([raw]) => raw), RAW_AUDIT];

/**
 * Creates the baseline's tables LIKE the hub's (columns, defaults, indexes,
 * constraints) holding a copy of the hub's preloaded rows, so that both
 * sides insert into indexes of the same size. The audit table is the one
 * the read benchmark uses: a sequence and the event as jsonb.
 */
export async function createRawTables(control: pg.Client): Promise<void> {
  for (const [raw, like] of RAW_TABLES) {
    await control.query(`create table ${raw} (like ${like} including all)`);
    await control.query(`insert into ${raw} select * from ${like}`);
  }
  await control.query(`create table ${RAW_AUDIT} (seq bigserial primary key, event jsonb not null)`);
}

export function rawTableNames(): readonly string[] {
  return RAW_TABLE_NAMES;
}

/** Units the baseline has stored: its receipts. */
export async function rawReceiptCount(control: pg.Client): Promise<number> {
  const rows = await control.query<{ n: number }>('select count(*)::int as n from bench_raw_receipt');
  return rows.rows[0]?.n ?? 0;
}

// --- texts with the ids of a stored request cut out ---

/** A text in which ids sat at `slots`: parts[0] id parts[1] id … parts[n]. */
interface Cut {
  parts: string[];
  slots: number[];
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function cutter(ids: readonly string[]): (text: string) => Cut {
  const index = new Map(ids.map((id, i) => [id, i]));
  const pattern = new RegExp(ids.map(escape).join('|'), 'g');
  return (text) => {
    const parts: string[] = [];
    const slots: number[] = [];
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      parts.push(text.slice(last, match.index));
      slots.push(index.get(match[0]) ?? -1);
      last = match.index + match[0].length;
    }
    parts.push(text.slice(last));
    return { parts, slots };
  };
}

function render(cut: Cut, fresh: readonly string[]): string {
  let text = cut.parts[0] ?? '';
  for (let i = 0; i < cut.slots.length; i += 1) text += (fresh[cut.slots[i] ?? -1] ?? '') + (cut.parts[i + 1] ?? '');
  return text;
}

// --- a stored request, read back ---

interface TokenRow {
  param: string;
  system: string;
  value: string;
}

interface RawResource {
  type: string;
  idSlot: number;
  sourceOrg: string;
  content: Cut;
  bytes: number;
  tokens: TokenRow[];
  references: { param: string; target: Cut }[];
}

interface RawUnit {
  messageKey: string;
  event: string;
  clientId: string;
  outcome: Cut;
  resources: RawResource[];
  provenance: RawResource;
  audit: Cut;
  auditBytes: number;
}

/** What the hub wrote for one request: the baseline's payload. */
export interface RawRequest {
  units: RawUnit[];
  binary: { idSlot: number; sourceOrg: string; content: Cut; bytes: number };
  /** What each id slot is refilled with: a UUID, or a SHA-256 in hex (the Binary's id). */
  slots: ('uuid' | 'sha256')[];
}

interface StoredRow {
  type: string;
  id: string;
  version_id: number;
  source_org: string;
  content: unknown;
}

async function one<T extends pg.QueryResultRow>(control: pg.Client, what: string, text: string, values: unknown[]): Promise<T> {
  const rows = await control.query<T>(text, values);
  const [row] = rows.rows;
  if (row === undefined || rows.rows.length !== 1) throw new Error(`reading back ${what}: expected one row, found ${rows.rows.length}`);
  return row;
}

async function indexRows(control: pg.Client, type: string, id: string): Promise<{ tokens: TokenRow[]; references: { param: string; target: string }[] }> {
  const tokens = await control.query<TokenRow>('select param, system, value from resource_token where type = $1 and id = $2', [type, id]);
  const references = await control.query<{ param: string; target: string }>('select param, target from resource_reference where type = $1 and id = $2', [type, id]);
  return { tokens: tokens.rows, references: references.rows };
}

/**
 * Reads back everything the hub wrote for the units of one request (their
 * exactly-once keys, in order). Every unit must have been stored, as first
 * versions only: the baseline replays inserts, not updates.
 */
export async function readStoredRequest(control: pg.Client, messageKeys: readonly string[]): Promise<RawRequest> {
  interface Read {
    key: string;
    event: string;
    clientId: string;
    outcome: string;
    resources: { row: StoredRow; tokens: TokenRow[]; references: { param: string; target: string }[] }[];
    provenance: { row: StoredRow; tokens: TokenRow[]; references: { param: string; target: string }[] };
    audit: { id: string; text: string };
  }
  const read: Read[] = [];
  let binaryRef: string | undefined;
  for (const key of messageKeys) {
    const receipt = await one<{ event: string; client_id: string; outcome: { status?: string; resources?: string[] } | null }>(
      control,
      `the receipt of ${key}`,
      // The hub claims a message's key in its sender's name: "<organisation>|<message key>" (services/ingest-service.ts).
      `select event, client_id, outcome from message_receipt where message_key = $1 or right(message_key, length($1) + 1) = '|' || $1`,
      [key],
    );
    if (receipt.outcome?.status !== 'stored') throw new Error(`${key} was not stored (outcome ${JSON.stringify(receipt.outcome)})`);
    const resources: Read['resources'] = [];
    for (const written of receipt.outcome.resources ?? []) {
      const [type = '', id = '', , named = ''] = written.split('/');
      // A Patient is named by id alone (services/ingest-service.ts, UnitOutcome.resources); a new child's is version 1.
      const version = type === 'Patient' && named === '' ? '1' : named;
      if (version !== '1') throw new Error(`${key} wrote ${written}: the baseline replays first versions only, so every message must be new`);
      const row = await one<StoredRow>(control, written, 'select type, id, version_id, source_org, content from resource_history where type = $1 and id = $2 and version_id = 1', [type, id]);
      resources.push({ row, ...(await indexRows(control, type, id)) });
    }
    const provenanceRow = await one<StoredRow>(
      control,
      `the Provenance of ${key}`,
      `select type, id, version_id, source_org, content from resource where type = 'Provenance' and content->'entity'->0->'what'->'identifier'->>'value' = $1`,
      [key],
    );
    const entity = (provenanceRow.content as { entity?: { what?: { reference?: string } }[] }).entity?.[0]?.what?.reference;
    if (entity === undefined || !entity.startsWith('Binary/')) throw new Error(`the Provenance of ${key} names no Binary`);
    if (binaryRef !== undefined && binaryRef !== entity) throw new Error(`the units of one request name different raw messages (${binaryRef}, ${entity})`);
    binaryRef = entity;
    const audit = await one<{ event: { id: string } }>(
      control,
      `the AuditEvent of ${key}`,
      `select event from audit_event where event->>'outcome' = '0' and position($1 in event->>'outcomeDesc') > 0`,
      [key],
    );
    read.push({
      key,
      event: receipt.event,
      clientId: receipt.client_id,
      outcome: JSON.stringify(receipt.outcome),
      resources,
      provenance: { row: provenanceRow, ...(await indexRows(control, 'Provenance', provenanceRow.id)) },
      audit: { id: audit.event.id, text: JSON.stringify(audit.event) },
    });
  }
  if (binaryRef === undefined) throw new Error('no units to read back');
  const binaryId = binaryRef.slice('Binary/'.length);
  const binary = await one<StoredRow>(control, binaryRef, `select type, id, version_id, source_org, content from resource where type = 'Binary' and id = $1`, [binaryId]);

  // Every id this request minted, so that each replay mints its own.
  const ids: string[] = [binaryId];
  const slots: RawRequest['slots'] = ['sha256'];
  for (const unit of read) {
    for (const id of [...unit.resources.map((r) => r.row.id), unit.provenance.row.id, unit.audit.id]) {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw new Error(`unexpected id ${id}: the baseline refills UUIDs`);
      ids.push(id);
      slots.push('uuid');
    }
  }
  const cut = cutter(ids);
  const slotOf = (id: string): number => ids.indexOf(id);
  const resource = (r: Read['provenance']): RawResource => {
    const text = JSON.stringify(r.row.content);
    return {
      type: r.row.type,
      idSlot: slotOf(r.row.id),
      sourceOrg: r.row.source_org,
      content: cut(text),
      bytes: Buffer.byteLength(text),
      tokens: r.tokens,
      references: r.references.map((ref) => ({ param: ref.param, target: cut(ref.target) })),
    };
  };
  const binaryText = JSON.stringify(binary.content);
  return {
    units: read.map((unit) => ({
      messageKey: unit.key,
      event: unit.event,
      clientId: unit.clientId,
      outcome: cut(unit.outcome),
      resources: unit.resources.map(resource),
      provenance: resource(unit.provenance),
      audit: cut(unit.audit.text),
      auditBytes: Buffer.byteLength(unit.audit.text),
    })),
    binary: { idSlot: 0, sourceOrg: binary.source_org, content: cut(binaryText), bytes: Buffer.byteLength(binaryText) },
    slots,
  };
}

/** Resource rows per request by type (the Binary included), as the hub writes them: what a run's counts are checked against. */
export function rowsPerRequest(request: RawRequest): Map<string, number> {
  const counts = new Map<string, number>([['Binary', 1]]);
  for (const unit of request.units) {
    for (const r of [...unit.resources, unit.provenance]) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
  }
  return counts;
}

/** One line per unit shape, for the report. */
export function describeRequest(request: RawRequest): string[] {
  const lines: string[] = [];
  for (const [i, unit] of request.units.entries()) {
    const all = [...unit.resources, unit.provenance];
    const types = new Map<string, number>();
    for (const r of unit.resources) types.set(r.type, (types.get(r.type) ?? 0) + 1);
    const list = [...types].map(([type, n]) => (n > 1 ? `${n} ${type}` : type)).join(', ');
    const bytes = all.reduce((sum, r) => sum + r.bytes, 0);
    const tokens = all.reduce((sum, r) => sum + r.tokens.length, 0);
    const references = all.reduce((sum, r) => sum + r.references.length, 0);
    lines.push(
      `unit ${i + 1}: ${unit.resources.length} resources (${list}) + Provenance, ${bytes} bytes of JSON, each as resource + history rows; ` +
        `${tokens} token + ${references} reference index rows; ${unit.auditBytes}-byte audit row`,
    );
  }
  lines.push(`raw message: one ${request.binary.bytes}-byte Binary per request (insert ON CONFLICT DO NOTHING by every unit, history row by the first)`);
  return lines;
}

// --- earlier messages, in bulk ---

/** PostgreSQL takes at most 65535 parameters per statement. */
const MAX_PARAMS = 60_000;

async function insertMany(client: pg.Client, table: string, columns: readonly string[], rows: readonly unknown[][]): Promise<void> {
  const per = Math.floor(MAX_PARAMS / columns.length);
  for (let first = 0; first < rows.length; first += per) {
    const chunk = rows.slice(first, first + per);
    await client.query(multiInsert(table, columns, chunk.length), chunk.flat());
  }
}

/**
 * Writes `requests` earlier copies of a stored request straight into the
 * hub's own tables (receipts, resources, history, index rows, Binaries; no
 * AuditEvents), many rows per statement, with fresh ids and index values:
 * a database that has already received messages of every type, so that its
 * statistics and indexes are those of a hub in use, not of one that has
 * only ever seen Patients.
 */
export async function seedHubTables(client: pg.Client, request: RawRequest, requests: number, values: FreshValues, signal: AbortSignal): Promise<void> {
  const BATCH = 500;
  for (let first = 0; first < requests; first += BATCH) {
    signal.throwIfAborted();
    const now = new Date();
    const receipts: unknown[][] = [];
    const resources: unknown[][] = [];
    const tokens: unknown[][] = [];
    const references: unknown[][] = [];
    for (let n = first; n < Math.min(first + BATCH, requests); n += 1) {
      const ids = freshIds(request);
      resources.push(['Binary', ids[request.binary.idSlot] ?? '', 1, now, request.binary.sourceOrg, render(request.binary.content, ids)]);
      for (const unit of request.units) {
        receipts.push([values.next(unit.messageKey), unit.event, unit.clientId, now, render(unit.outcome, ids)]);
        for (const r of [...unit.resources, unit.provenance]) {
          const id = ids[r.idSlot] ?? '';
          resources.push([r.type, id, 1, now, r.sourceOrg, render(r.content, ids)]);
          for (const t of r.tokens) tokens.push([r.type, id, t.param, t.system, values.next(t.value)]);
          for (const ref of r.references) references.push([r.type, id, ref.param, render(ref.target, ids)]);
        }
      }
    }
    const columns = ['type', 'id', 'version_id', 'last_updated', 'source_org', 'content'];
    await inPgTransaction(client, async () => {
      // Setup, not measurement: these rows need not survive a crash.
      await client.query('set local synchronous_commit = off');
      await insertMany(client, 'message_receipt', ['message_key', 'event', 'client_id', 'received_at', 'outcome'], receipts);
      await insertMany(client, 'resource', columns, resources);
      await insertMany(client, 'resource_history', columns, resources);
      await insertMany(client, 'resource_token', ['type', 'id', 'param', 'system', 'value'], tokens);
      await insertMany(client, 'resource_reference', ['type', 'id', 'param', 'target'], references);
    });
  }
}

// --- the replay ---

/** Insert statements for n rows of a table's columns, built once per shape. */
const valuesSql = new Map<string, string>();
function multiInsert(table: string, columns: readonly string[], rows: number): string {
  const key = `${table}:${rows}`;
  let text = valuesSql.get(key);
  if (text === undefined) {
    const tuples = Array.from({ length: rows }, (_, r) => `(${columns.map((_c, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
    text = `insert into ${table} (${columns.join(', ')}) values ${tuples.join(', ')}`;
    valuesSql.set(key, text);
  }
  return text;
}

const RESOURCE_COLUMNS = '(type, id, version_id, last_updated, source_org, content) values ($1, $2, 1, $3, $4, $5)';

/**
 * Distinct index values of the same lengths as the hub's: the tail of each
 * is replaced by "~" and a counter, so that the inserts spread over the index
 * as the hub's (every message is about someone new) do, and no value can
 * equal an identifier a generated message carries (none holds a "~").
 */
export class FreshValues {
  private counter = 0;

  next(template: string): string {
    this.counter += 1;
    const width = Math.min(template.length, 9);
    if (width < 2) return template;
    return `${template.slice(0, template.length - width)}~${this.counter.toString(36).padStart(width - 1, '0').slice(1 - width)}`;
  }
}

function freshIds(request: RawRequest): string[] {
  return request.slots.map((kind) => (kind === 'uuid' ? randomUUID() : randomBytes(32).toString('hex')));
}

async function insertResource(client: pg.Client, r: RawResource, ids: readonly string[], values: FreshValues, now: Date): Promise<void> {
  const id = ids[r.idSlot] ?? '';
  const content = render(r.content, ids);
  await client.query(`insert into bench_raw_resource ${RESOURCE_COLUMNS}`, [r.type, id, now, r.sourceOrg, content]);
  await client.query(`insert into bench_raw_history ${RESOURCE_COLUMNS}`, [r.type, id, now, r.sourceOrg, content]);
  if (r.tokens.length > 0) {
    await client.query(
      multiInsert('bench_raw_token', ['type', 'id', 'param', 'system', 'value'], r.tokens.length),
      r.tokens.flatMap((t) => [r.type, id, t.param, t.system, values.next(t.value)]),
    );
  }
  if (r.references.length > 0) {
    await client.query(
      multiInsert('bench_raw_reference', ['type', 'id', 'param', 'target'], r.references.length),
      r.references.flatMap((ref) => [r.type, id, ref.param, render(ref.target, ids)]),
    );
  }
}

/**
 * Replays one request: per unit one transaction of the receipt (ON CONFLICT
 * DO NOTHING), each resource version (resource, history, index rows), the
 * raw message's Binary, the Provenance and one audit row. Returns the number
 * of units (transactions) written.
 */
export async function replayRequest(client: pg.Client, request: RawRequest, values: FreshValues): Promise<number> {
  const ids = freshIds(request);
  const binaryId = ids[request.binary.idSlot] ?? '';
  const binary = render(request.binary.content, ids);
  for (const unit of request.units) {
    await inPgTransaction(client, async () => {
      const now = new Date();
      const claimed = await client.query(
        'insert into bench_raw_receipt (message_key, event, client_id, received_at, outcome) values ($1, $2, $3, $4, $5) on conflict do nothing',
        [values.next(unit.messageKey), unit.event, unit.clientId, now, render(unit.outcome, ids)],
      );
      if (claimed.rowCount !== 1) throw new Error('a baseline receipt key was taken: the fresh keys are not fresh');
      for (const r of unit.resources) await insertResource(client, r, ids, values, now);
      const raw = await client.query(`insert into bench_raw_resource ${RESOURCE_COLUMNS} on conflict do nothing returning id`, [
        'Binary',
        binaryId,
        now,
        request.binary.sourceOrg,
        binary,
      ]);
      if (raw.rowCount === 1) await client.query(`insert into bench_raw_history ${RESOURCE_COLUMNS}`, ['Binary', binaryId, now, request.binary.sourceOrg, binary]);
      await insertResource(client, unit.provenance, ids, values, now);
      await client.query(`insert into ${RAW_AUDIT} (event) values ($1)`, [render(unit.audit, ids)]);
    });
  }
  return request.units.length;
}
