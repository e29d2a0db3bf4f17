import type { AuditEvent } from 'fhir/r4.js';
import { asc, or, sql } from 'drizzle-orm';
import { SYSTEMS } from '../fhir/systems.js';
import { runStatement, type Db, type Statement, type Tx } from './database.js';
import type { OrganisationFacts } from './disclosure-queries.js';
import { auditEvents } from './schema/index.js';

// What withdrawal notices read: the permit decisions that rested on a consent,
// and the organisations to address.

/**
 * Every permit decision (BALP AuthZ-Consent, outcome 0) that names one of
 * the consent's versions 1..`versions` as an entity, oldest first. One
 * containment test per version, so each is a lookup on the jsonb_path_ops
 * GIN index (a reference carries its version; a prefix match could not use it).
 */
export async function permitsUnderConsent(db: Db | Tx, consentId: string, versions: number): Promise<AuditEvent[]> {
  if (versions < 1) return [];
  const patterns = Array.from({ length: versions }, (_, i) =>
    JSON.stringify({
      outcome: '0',
      subtype: [{ system: SYSTEMS.balpAuthZSubType, code: 'AuthZ-Consent' }],
      entity: [{ what: { reference: `Consent/${consentId}/_history/${i + 1}` } }],
    }),
  );
  const rows = await db
    .select({ event: auditEvents.event })
    .from(auditEvents)
    .where(or(...patterns.map((p) => sql`${auditEvents.event} @> ${p}::jsonb`)))
    .orderBy(asc(auditEvents.seq));
  return rows.map((r) => r.event);
}

export interface OrganisationEntry {
  code: string;
  system: string;
  type: string;
  name: string;
}

const ORGANISATIONS_BY_CODE: Statement = { name: 'notice_organisations_by_code', text: 'select code, system, type, name from organisation where code = any($1::text[])' };

export async function organisationsByCode(db: Db | Tx, codes: readonly string[]): Promise<Map<string, OrganisationEntry>> {
  if (codes.length === 0) return new Map();
  const rows = await runStatement<OrganisationEntry>(db, ORGANISATIONS_BY_CODE, [[...new Set(codes)]]);
  return new Map(rows.map((r) => [r.code, r]));
}

const REGISTRY: Statement = { name: 'organisation_registry', text: 'select code, system, type, name, catchment from organisation' };

/** Every registered organisation, both as the decision reads it (type, catchment) and as work is addressed to it: one statement. */
export async function readRegistry(db: Db | Tx): Promise<{ facts: Map<string, OrganisationFacts>; entries: Map<string, OrganisationEntry> }> {
  const rows = await runStatement<OrganisationEntry & { catchment: string[] }>(db, REGISTRY, []);
  return {
    facts: new Map(rows.map((r) => [r.code, { type: r.type, catchment: r.catchment }])),
    entries: new Map(rows.map(({ code, system, type, name }) => [code, { code, system, type, name }])),
  };
}
