import { randomUUID } from 'node:crypto';
import type { DecisionAuditDetails, RestInteraction } from '../audit/audit-event.js';
import type { Principal } from '../auth/principal.js';
import { denialStatements, insertAlert } from '../db/alert-queries.js';
import type { Db, Tx } from '../db/database.js';
import type { FinalStatement } from '../db/pipelined-transaction.js';
import type { StoredResource } from '../db/resource-queries.js';
import { patientsOfStored } from '../db/undisclosed.js';
import { problem, type Problem } from '../fhir/operation-outcome.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import type { Judged } from './disclosure-service.js';
import { toResult, type FhirResult } from './fhir-result.js';

// How the FHIR services audit what they decide and what they refuse.

export interface DecisionAuditDeps {
  db: Db;
  audit: AuditRecorder;
  clock: () => Date;
  /** When denials to one client become an alert; DEFAULT_DENIAL_BURST if not given. */
  denialBurst?: DenialBurst | undefined;
}

/** `threshold` records denied to one client within one fixed window of `windowMs` raise one alert. */
export interface DenialBurst {
  threshold: number;
  windowMs: number;
}

export const DEFAULT_DENIAL_BURST: DenialBurst = { threshold: 20, windowMs: 10 * 60_000 };

/**
 * The request's decisions as BALP AuthZ-Consent AuditEvents: decisions alike
 * in effect, reason or basis, flow, Consent and override share one event,
 * which names each record and each patient (a search of many records denied
 * for one reason is one event, not thousands). Every safeguarding override
 * also raises an alert for the IG lead, and so does a burst of denials (see
 * countDenials).
 */
export async function recordDecisions(deps: DecisionAuditDeps, tx: Tx, principal: Principal, meta: RequestMeta, judged: readonly Judged[]): Promise<void> {
  const groups = new Map<
    string,
    { details: DecisionAuditDetails; resources: string[]; descriptions: Record<string, string>; patients: Set<string>; consents: Set<string>; notes: Set<string> }
  >();
  const denied = { records: new Set<string>(), patients: new Set<string>(), eventId: undefined as string | undefined };
  for (const j of judged) {
    const d = j.decision;
    if (d.effect === 'permit' && d.basis === 'public') continue;
    const details: DecisionAuditDetails = {
      effect: d.effect,
      code: d.effect === 'deny' ? d.reason : d.basis,
      patients: [],
      resources: [],
      flow: d.effect === 'deny' || d.basis === 'flow' ? d.flow : undefined,
      consents: [],
      override: d.effect === 'permit' && d.basis === 'flow' ? d.override : undefined,
    };
    // A permit is grouped with those resting on the same Consent; denials for one reason under one flow share an event naming every Consent involved.
    const consent = d.effect === 'deny' || d.basis === 'flow' ? d.consent : undefined;
    const key = JSON.stringify([details.effect, details.code, details.flow, details.effect === 'permit' ? consent : undefined, details.override]);
    const group = groups.get(key) ?? { details, resources: [], descriptions: {}, patients: new Set<string>(), consents: new Set<string>(), notes: new Set<string>() };
    const reference = versionedReference(j.row);
    group.resources.push(reference);
    group.descriptions[reference] = j.description;
    for (const p of j.patients) group.patients.add(p);
    if (consent !== undefined) group.consents.add(consent);
    if (d.effect === 'deny') {
      group.notes.add(d.detail);
      denied.records.add(`${j.row.type}/${j.row.id}`);
      for (const p of j.patients) denied.patients.add(p);
    }
    groups.set(key, group);
  }
  for (const { details, resources, descriptions, patients, consents, notes } of groups.values()) {
    const event = await deps.audit.decision(tx, meta, requesterOf(principal), {
      ...details,
      consents: [...consents],
      resources,
      descriptions,
      patients: [...patients],
      detail: notes.size === 0 ? undefined : [...notes].join('; '),
    });
    if (details.effect === 'deny') denied.eventId ??= event.id;
    if (details.override !== undefined) {
      await insertAlert(tx, {
        id: randomUUID(),
        raised: deps.clock(),
        kind: 'safeguarding-override',
        auditEventId: event.id ?? '',
        clientId: principal.clientId,
        organisationCode: principal.organisationCode,
        patients: [...patients],
        reason: details.override,
      });
    }
  }
  if (denied.eventId !== undefined) {
    await countDenials(deps, tx, principal, { records: denied.records.size, patients: [...denied.patients], auditEventId: denied.eventId });
  }
}

/**
 * Counts a request's denials against its client in the fixed window holding
 * now (window_start = floor(now / windowMs) * windowMs). What is counted is
 * records denied: each record (Type/id) denied in the request counts once,
 * whatever its versions and however many deny events name it. The request
 * that brings the window to the threshold raises the window's one
 * denial-burst alert, pointing at the request's first deny AuditEvent (the
 * others carry the same X-Request-Id) and naming the patients it denied.
 */
async function countDenials(
  deps: DecisionAuditDeps,
  tx: Tx,
  principal: Principal,
  denied: { records: number; patients: string[]; auditEventId: string },
): Promise<void> {
  const { threshold, windowMs } = deps.denialBurst ?? DEFAULT_DENIAL_BURST;
  const now = deps.clock();
  const windowStart = windowHolding(now, windowMs);
  const alert = {
    id: randomUUID(),
    raised: now,
    auditEventId: denied.auditEventId,
    organisationCode: principal.organisationCode,
    patients: denied.patients,
    reasonAfterCount: ` records denied to ${principal.clientId} within ${minutes(windowMs)} (threshold ${threshold}; window from ${windowStart.toISOString()})`,
  };
  await countAtClose(deps, tx, denialStatements(principal.clientId, windowStart, denied.records, threshold, alert));
}

/**
 * What an unknown id costs where a denied one would count its denial: the
 * same statements, adding nothing and raising nothing. An answer of "not
 * found" then runs the statements a denial does, so its timing does not tell
 * the two apart (DESIGN.md §10); the count and the alerts are those of
 * countDenials.
 */
export async function countNoDenial(deps: Pick<DecisionAuditDeps, 'audit' | 'clock' | 'denialBurst'>, tx: Tx, principal: Principal): Promise<void> {
  const { threshold, windowMs } = deps.denialBurst ?? DEFAULT_DENIAL_BURST;
  await countAtClose(deps, tx, denialStatements(principal.clientId, windowHolding(deps.clock(), windowMs), 0, threshold, undefined));
}

/** The start of the fixed window of `windowMs` that holds `now`. */
function windowHolding(now: Date, windowMs: number): Date {
  return new Date(Math.floor(now.getTime() / windowMs) * windowMs);
}

/** The count's statements, held for the transaction's close: the window's row lock is then held for the commit alone (alert-queries.ts). */
async function countAtClose(deps: Pick<DecisionAuditDeps, 'audit'>, tx: Tx, statements: readonly FinalStatement[]): Promise<void> {
  for (const statement of statements) await deps.audit.atClose(tx, statement);
}

function minutes(ms: number): string {
  const n = ms / 60_000;
  return n === 1 ? '1 minute' : `${Number.isInteger(n) ? n : n.toFixed(2)} minutes`;
}

/** A refusal before any data was touched: still audited, in its own transaction. */
export async function refuse(
  deps: Pick<DecisionAuditDeps, 'db' | 'audit'>,
  principal: Principal,
  meta: RequestMeta,
  interaction: RestInteraction,
  type: string,
  refusal: Problem,
  query?: string,
): Promise<FhirResult> {
  await deps.audit.transaction(deps.db, async (tx) => {
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction,
      outcome: 'minor-failure',
      outcomeDesc: refusal.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; '),
      resourceType: type,
      query,
    });
  });
  return toResult(refusal);
}

/**
 * An update whose If-Match names another version than the current one: 412, audited in the update's transaction.
 * Undefined when the update may go on. See: https://hl7.org/fhir/R4/http.html#concurrency
 */
export async function versionConflict(
  audit: AuditRecorder,
  tx: Tx,
  principal: Principal,
  meta: RequestMeta,
  current: StoredResource,
  expectedVersion: number | undefined,
): Promise<FhirResult | undefined> {
  if (expectedVersion === undefined || expectedVersion === current.versionId) return undefined;
  await audit.rest(tx, meta, requesterOf(principal), {
    interaction: 'update',
    outcome: 'minor-failure',
    outcomeDesc: `version conflict: If-Match ${expectedVersion}, current ${current.versionId}`,
    resources: [versionedReference(current)],
    patients: patientsOfStored(current),
  });
  return toResult(problem(412, 'conflict', `If-Match names version ${expectedVersion} but the current version is ${current.versionId}`, 'If-Match'));
}

export function versionedReference(row: StoredResource): string {
  return `${row.type}/${row.id}/_history/${row.versionId}`;
}
