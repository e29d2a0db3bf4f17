import type { Patient } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import { insertAlert } from '../db/alert-queries.js';
import type { Tx } from '../db/database.js';
import { readStatements, writeStatement } from '../db/patient-source-queries.js';
import type { StoredResource } from '../db/resource-queries.js';
import { composePatient, demographicsOf, restate, visibilityDisagreements, type Disagreement, type PatientStatement } from '../fhir/patient-sources.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { contentForRules } from '../db/undisclosed.js';
import { sameContent } from '../fhir/resource-edits.js';

// The shell around src/fhir/patient-sources.ts: loads every source's
// statement about a shared Patient, records the sender's new one, composes the
// Patient by the protocol's precedence, and raises a data-quality alert for the
// IG lead when sources disagree on what decides who may see the record. The
// caller holds the Patient's identity lock (see lockIdentity) and stores the
// composed Patient as a new version when it changed.

export interface PatientStatementDeps {
  audit: AuditRecorder;
  clock: () => Date;
  protocols: readonly LoadedProtocol[];
}

/** The alert kind for sources that disagree on a Patient's district, death or restriction. */
export const DATA_QUALITY_ALERT = 'data-quality';

export interface StatedPatient {
  /** The Patient as composed from every statement, with its id (the store adds versionId and lastUpdated). */
  composed: Patient;
  /** The sender's own statement, as it stands now. */
  statement: Patient;
  /** When the sender said it (the statement's time, never the Patient's version). */
  saidAt: Date;
  /** Whether the sender's statement differs from what it had said before (or is its first). */
  changed: boolean;
}

/**
 * Records what `principal`'s organisation says about Patient `id` (stored as
 * `found`, or new) and answers the composed Patient. `merge` for messages and
 * POST (what is not sent stays as the sender said it before); `replace` for PUT.
 */
export async function statePatient(
  deps: PatientStatementDeps,
  tx: Tx,
  principal: Principal,
  meta: RequestMeta,
  patient: { id: string; found: StoredResource | undefined },
  incoming: Patient,
  mode: 'merge' | 'replace',
): Promise<StatedPatient> {
  const before = patient.found === undefined ? [] : await statementsOf(tx, patient.id, patient.found);
  const order = Math.max(0, ...before.map((s) => s.lastSaid)) + 1;
  const previous = before.find((s) => s.organisation === principal.organisationCode);
  const mine: PatientStatement = {
    organisation: principal.organisationCode,
    organisationType: principal.organisationType,
    content: restate(previous?.content, incoming, mode),
    firstSaid: previous?.firstSaid ?? order,
    lastSaid: order,
  };
  const after = [...before.filter((s) => s !== previous), mine];
  const saidAt = deps.clock();
  await writeStatement(tx, patient.id, mine, saidAt);
  const demographics = demographicsOf(deps.protocols);
  const disagreements = visibilityDisagreements(before, after, principal.organisationCode, demographics);
  if (disagreements.length > 0) await raiseDataQualityAlert(deps, tx, principal, meta, patient.id, disagreements);
  return {
    composed: { ...composePatient(after, demographics), id: patient.id },
    statement: { ...mine.content, id: patient.id },
    saidAt,
    changed: previous === undefined || !sameContent(previous.content, mine.content),
  };
}

/**
 * The statements about a stored Patient. One written before statements were
 * kept (or by a path that keeps none) stands as the word of its last writer,
 * and is recorded as such so that it keeps its place.
 */
export async function statementsOf(tx: Tx, id: string, found: StoredResource): Promise<PatientStatement[]> {
  const stored = await readStatements(tx, id);
  if (stored.length > 0) return stored;
  const { id: _id, ...content } = contentForRules(found.content) as Patient;
  const legacy: PatientStatement = { organisation: found.sourceOrg, organisationType: 'unknown', content: restate(undefined, content, 'replace'), firstSaid: 1, lastSaid: 1 };
  await writeStatement(tx, id, legacy, found.lastUpdated);
  return [legacy];
}

/** A data-quality alert for the IG lead, pointing at an AuditEvent that records what the sender said; the message is not held up. */
async function raiseDataQualityAlert(deps: PatientStatementDeps, tx: Tx, principal: Principal, meta: RequestMeta, id: string, found: readonly Disagreement[]): Promise<void> {
  const reason = `sources disagree on who may see Patient/${id}: ${found.map((d) => d.detail).join(' | ')}`;
  const event = await deps.audit.rest(tx, meta, requesterOf(principal), {
    interaction: 'operation',
    outcome: 'success',
    outcomeDesc: `data-quality: ${found.map((d) => d.aspect).join(', ')}`,
    patients: [`Patient/${id}`],
  });
  await insertAlert(tx, {
    id: randomUUID(),
    raised: deps.clock(),
    kind: DATA_QUALITY_ALERT,
    auditEventId: event.id ?? '',
    clientId: principal.clientId,
    organisationCode: principal.organisationCode,
    patients: [`Patient/${id}`],
    reason,
  });
}
