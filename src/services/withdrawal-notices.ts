import type { Consent } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { Tx } from '../db/database.js';
import { organisationsByCode, permitsUnderConsent } from '../db/notice-queries.js';
import { writeVersion, type StoredResource } from '../db/resource-queries.js';
import { contentForRules, patientsOfStored, seal } from '../db/undisclosed.js';
import { HUB_ORGANISATION } from '../decision/decision-types.js';
import { validateAgainstProfile } from '../fhir/profiles.js';
import { isWithdrawal, receiptsOf, withdrawalNotice, type NoticeParty } from '../fhir/withdrawal-notice.js';
import type { LoadedProtocol } from '../protocol/protocol-schema.js';
import type { AuditRecorder, RequestMeta } from './audit-recorder.js';

// When a consent is withdrawn, every organisation that received data under it
// is told, in the transaction of the withdrawal: one Communication each, which
// only that organisation can read (decision basis `addressed`).

export interface WithdrawalNoticeDeps {
  audit: AuditRecorder;
  clock: () => Date;
  protocols: readonly LoadedProtocol[];
}

/**
 * Called by every write path after it stored a new version of a record. When
 * that version withdraws a Consent (active → inactive, rejected or
 * entered-in-error), writes one notice per organisation that received data
 * under any earlier version of it (its permit decisions in the audit log),
 * except the consent's writers (they know) and the hub itself, and one
 * AuditEvent naming the notices. Each withdrawal sends its own notices: a
 * consent made active again and withdrawn again notifies every recipient
 * again, naming everything it ever received under that consent.
 * Returns the notices written.
 */
export async function noticeWithdrawal(
  deps: WithdrawalNoticeDeps,
  tx: Tx,
  meta: RequestMeta,
  before: StoredResource,
  after: StoredResource,
): Promise<StoredResource[]> {
  // The notice rules read the consent as stored; the notices leave only through the decision (basis addressed).
  if (!isWithdrawal(contentForRules(before.content), contentForRules(after.content))) return [];
  const receipts = receiptsOf(await permitsUnderConsent(tx, after.id, before.versionId));
  if (receipts.length === 0) return [];
  const writers = new Set([...(before.sourceOrgs ?? [before.sourceOrg]), after.sourceOrg]);
  const registry = await organisationsByCode(tx, [HUB_ORGANISATION, ...receipts.map((r) => r.organisation.code)]);
  const recipients = receipts.filter((r) => {
    const code = r.organisation.code;
    return !writers.has(code) && code !== HUB_ORGANISATION && registry.get(code)?.type !== 'hub-operator';
  });
  if (recipients.length === 0) return [];

  const now = deps.clock();
  const hubOrg = registry.get(HUB_ORGANISATION);
  const hub: NoticeParty | undefined = hubOrg === undefined ? undefined : { system: hubOrg.system, code: hubOrg.code, name: hubOrg.name };
  const notices = recipients.map((receipt): StoredResource => {
    const org = registry.get(receipt.organisation.code);
    const id = randomUUID();
    const content = withdrawalNotice({
      id,
      sent: now,
      consent: { id: after.id, versionId: after.versionId, content: contentForRules(after.content) as Consent },
      recipient: { system: org?.system ?? receipt.organisation.system, code: receipt.organisation.code, name: org?.name },
      hub,
      receipt,
      protocols: deps.protocols,
    });
    const stored = { ...content, meta: { versionId: '1', lastUpdated: now.toISOString() } };
    // What the hub writes itself must meet the profiles too: a failure here is a bug, and fails the withdrawal.
    const valid = validateAgainstProfile(stored);
    if (!valid.ok) throw new Error(`withdrawal notice fails validation: ${valid.problem.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; ')}`);
    return { type: 'Communication', id, versionId: 1, lastUpdated: now, sourceOrg: HUB_ORGANISATION, content: seal(stored) };
  });
  for (const row of notices) await writeVersion(tx, row);
  await deps.audit.rest(tx, { requestId: meta.requestId }, { organisationCode: HUB_ORGANISATION, organisationSystem: hubOrg?.system, organisationType: hubOrg?.type }, {
    interaction: 'create',
    outcome: 'success',
    outcomeDesc: `withdrawal notices for Consent/${after.id}/_history/${after.versionId} to ${recipients.map((r) => r.organisation.code).join(', ')}`,
    resourceType: 'Communication',
    resources: notices.map((r) => `Communication/${r.id}/_history/1`),
    patients: patientsOfStored(after),
  });
  return notices;
}
