import type { AuditEvent } from 'fhir/r4.js';
import { sql } from 'drizzle-orm';
import { rawRows, type Db } from '../../src/db/database.js';

/** The AuditEvents written for one X-Request-Id, read straight from the table. */
export async function auditEventsFor(db: Db, requestId: string): Promise<AuditEvent[]> {
  const rows = await rawRows<{ event: AuditEvent | string }>(
    db,
    sql`select event from audit_event where event @> ${JSON.stringify({ entity: [{ what: { identifier: { value: requestId } } }] })}::jsonb order by seq`,
  );
  return rows.map((r) => (typeof r.event === 'string' ? (JSON.parse(r.event) as AuditEvent) : r.event));
}

/** The AuditEvents that name a record ("Type/id/_history/n") among their entities. */
export async function auditEventsNaming(db: Db, reference: string): Promise<AuditEvent[]> {
  const rows = await rawRows<{ event: AuditEvent | string }>(
    db,
    sql`select event from audit_event where event @> ${JSON.stringify({ entity: [{ what: { reference } }] })}::jsonb order by seq`,
  );
  return rows.map((r) => (typeof r.event === 'string' ? (JSON.parse(r.event) as AuditEvent) : r.event));
}

/** The request's own event (a FHIR RESTful interaction), without its disclosure decisions. */
export async function restEventsFor(db: Db, requestId: string): Promise<AuditEvent[]> {
  return (await auditEventsFor(db, requestId)).filter((e) => e.type.code === 'rest');
}

/** The disclosure decisions (BALP AuthZ-Consent) a request made. */
export async function decisionEventsFor(db: Db, requestId: string): Promise<AuditEvent[]> {
  return (await auditEventsFor(db, requestId)).filter((e) => e.subtype?.some((s) => s.code === 'AuthZ-Consent') === true);
}

/** A decision event's reason (deny) or basis (permit). */
export function decisionCode(event: AuditEvent | undefined): string | undefined {
  const detail = event?.entity?.find((e) => e.type?.code === 'decision')?.detail ?? [];
  return detail.find((d) => d.type === 'reason' || d.type === 'basis')?.valueString;
}

export async function countRows(db: Db, table: 'resource' | 'resource_history' | 'audit_event' | 'resource_token' | 'message_receipt'): Promise<number> {
  const rows = await rawRows<{ n: number }>(db, sql`select count(*)::int as n from ${sql.identifier(table)}`);
  return rows[0]?.n ?? 0;
}

/** Every current resource of a type, read straight from the store. */
export async function storedResources<T = Record<string, unknown>>(db: Db, type: string): Promise<(T & { id: string; meta: { versionId: string } })[]> {
  const rows = await rawRows<{ content: unknown }>(db, sql`select content from resource where type = ${type} order by last_updated, id`);
  return rows.map((r) => (typeof r.content === 'string' ? JSON.parse(r.content) : r.content) as T & { id: string; meta: { versionId: string } });
}

export async function countByType(db: Db): Promise<Record<string, number>> {
  const rows = await rawRows<{ type: string; n: number }>(db, sql`select type, count(*)::int as n from resource group by type`);
  return Object.fromEntries(rows.map((r) => [r.type, r.n]));
}
