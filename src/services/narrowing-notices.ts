import type { Consent } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { Tx } from '../db/database.js';
import { findReferring } from '../db/ingest-queries.js';
import { organisationsByCode } from '../db/notice-queries.js';
import { writeVersion, type StoredResource } from '../db/resource-queries.js';
import { contentForRules, patientsOfStored, seal } from '../db/undisclosed.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { isNewNarrowing, narrowingNotice, permitsAnything } from '../fhir/narrowing-notice.js';
import { validateAgainstProfile } from '../fhir/profiles.js';
import type { NoticeParty } from '../fhir/withdrawal-notice.js';
import type { AuditRecorder, RequestMeta } from './audit-recorder.js';

// When any party narrows (a refusal, a withdrawal, a deny provision), the
// organisations whose consent for the same person it overrides are told, in
// the transaction of the narrowing: one Communication each (decision basis
// `addressed`). "Whose consent it overrides" is decided simply and
// conservatively: every other organisation that recorded a Consent permitting
// something for the same person (its current version's writer), since those
// recorders are the sources of the flows resting on them (consentRecordedBy).

export interface NarrowingNoticeDeps {
  audit: AuditRecorder;
  clock: () => Date;
}

/** Called by every write path after it stored a Consent version; returns the notices written. */
export async function noticeNarrowing(
  deps: NarrowingNoticeDeps,
  tx: Tx,
  meta: RequestMeta,
  before: StoredResource | undefined,
  after: StoredResource,
): Promise<StoredResource[]> {
  // Rules over stored Consents (who recorded what), never an answer: the notices leave only through the decision.
  const consent = contentForRules(after.content) as Consent;
  if (!isNewNarrowing(before === undefined ? undefined : contentForRules(before.content), consent)) return [];
  const patient = consent.patient?.reference;
  if (patient === undefined) return [];
  const overridden = new Map<string, string[]>();
  for (const other of await findReferring(tx, 'Consent', 'patient', patient)) {
    if (other.id === after.id || other.sourceOrg === after.sourceOrg || other.sourceOrg === HUB_ORGANISATION) continue;
    if (!permitsAnything(contentForRules(other.content) as Consent)) continue;
    overridden.set(other.sourceOrg, [...(overridden.get(other.sourceOrg) ?? []), `Consent/${other.id}/_history/${other.versionId}`]);
  }
  if (overridden.size === 0) return [];

  const registry = await organisationsByCode(tx, [HUB_ORGANISATION, after.sourceOrg, ...overridden.keys()]);
  const party = (code: string): NoticeParty => {
    const org = registry.get(code);
    return { system: org?.system ?? 'urn:eastside:org', code, name: org?.name };
  };
  const hubOrg = registry.get(HUB_ORGANISATION);
  const now = deps.clock();
  const notices = [...overridden].map(([code, overrides]): StoredResource => {
    const id = randomUUID();
    const content = narrowingNotice({
      id,
      sent: now,
      narrowing: { id: after.id, versionId: after.versionId, content: consent },
      recordedBy: { ...party(after.sourceOrg), type: registry.get(after.sourceOrg)?.type ?? 'unknown' },
      overrides,
      recipient: party(code),
      hub: hubOrg === undefined ? undefined : party(HUB_ORGANISATION),
    });
    const stored = { ...content, meta: { versionId: '1', lastUpdated: now.toISOString() } };
    // What the hub writes itself must meet the profiles too: a failure here is a bug, and fails the narrowing.
    const valid = validateAgainstProfile(stored);
    if (!valid.ok) throw new Error(`narrowing notice fails validation: ${valid.problem.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; ')}`);
    return { type: 'Communication', id, versionId: 1, lastUpdated: now, sourceOrg: HUB_ORGANISATION, content: seal(stored) };
  });
  for (const row of notices) await writeVersion(tx, row);
  await deps.audit.rest(tx, { requestId: meta.requestId }, { organisationCode: HUB_ORGANISATION, organisationSystem: hubOrg?.system, organisationType: hubOrg?.type }, {
    interaction: 'create',
    outcome: 'success',
    outcomeDesc: `narrowing notices for Consent/${after.id}/_history/${after.versionId} to ${[...overridden.keys()].join(', ')}`,
    resourceType: 'Communication',
    resources: notices.map((r) => `Communication/${r.id}/_history/1`),
    patients: patientsOfStored(after),
  });
  return notices;
}
