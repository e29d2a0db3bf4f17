import type { Principal } from '../auth/principal.js';
import type { Db, Tx } from '../db/database.js';
import { readCurrentMany } from '../db/disclosure-queries.js';
import { organisationsByCode } from '../db/notice-queries.js';
import type { SubscriptionRow } from '../db/subscription-queries.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';
import { recordDecisions, versionedReference } from './decision-audit.js';
import type { DisclosureService, Judged } from './disclosure-service.js';

// A notification is a disclosure: each event's focus is decided for the
// subscriber (its organisation, its client, the purpose it subscribed for)
// when the notification is sent or asked for again ($events), never when the
// event happened, and audited in the transaction that lets it out. The id
// itself says something happened to a record: a focus the decision denies is
// left out entirely, whatever the payload.

export interface SubscriptionDisclosureDeps {
  db: Db;
  audit: AuditRecorder;
  clock: () => Date;
  disclosure: DisclosureService;
}

/** The subscriber as a principal of the audit trail (it holds no token while the hub sends). */
export async function subscriberOf(tx: Db | Tx, sub: SubscriptionRow): Promise<Principal | undefined> {
  const org = (await organisationsByCode(tx, [sub.organisationCode])).get(sub.organisationCode);
  if (org === undefined) return undefined;
  return {
    clientId: sub.clientId,
    organisationCode: org.code,
    organisationSystem: org.system,
    organisationType: org.type,
    purposeOfUse: sub.purpose,
    scopes: [],
    tokenId: `subscription:${sub.id}`,
  };
}

/**
 * Decides the current version of each focus ("Type/id") for the subscriber,
 * audits every decision (permits as disclosures, denials without counting
 * toward the requester's denial alerts: the subscriber asked for nothing) and
 * answers the permitted ones by focus.
 */
export async function decideFocuses(
  deps: SubscriptionDisclosureDeps,
  tx: Tx,
  sub: SubscriptionRow,
  focuses: readonly string[],
  meta: RequestMeta,
): Promise<Map<string, Judged>> {
  const permitted = new Map<string, Judged>();
  const principal = await subscriberOf(tx, sub);
  if (principal === undefined || focuses.length === 0) return permitted;
  const ctx = await deps.disclosure.contextFor(tx, sub.organisationCode, sub.purpose, undefined);
  if (ctx === undefined) return permitted;
  const byType = new Map<string, string[]>();
  for (const focus of new Set(focuses)) {
    const [type = '', id = ''] = focus.split('/');
    byType.set(type, [...(byType.get(type) ?? []), id]);
  }
  const rows = (await Promise.all([...byType].map(([type, ids]) => readCurrentMany(tx, type, ids)))).flat();
  if (rows.length === 0) return permitted;
  const judged = await deps.disclosure.judge(tx, { ...ctx, requester: { ...ctx.requester, clientId: sub.clientId } }, rows);
  const allowed = judged.filter((j) => j.decision.effect === 'permit' && j.body !== undefined);
  await recordDecisions(deps, tx, principal, meta, allowed);
  for (const j of judged) {
    const d = j.decision;
    if (d.effect === 'permit') continue;
    await deps.audit.decision(tx, meta, requesterOf(principal), {
      effect: 'deny',
      code: d.reason,
      detail: `notification withheld: ${d.detail}`,
      flow: d.flow,
      consents: d.consent === undefined ? [] : [d.consent],
      resources: [versionedReference(j.row)],
      descriptions: { [versionedReference(j.row)]: j.description },
      patients: j.patients,
    });
  }
  if (allowed.length > 0) {
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'operation',
      outcome: 'success',
      outcomeDesc: `subscription notification: Subscription/${sub.id} to ${sub.endpoint}`,
      resources: allowed.map((j) => versionedReference(j.row)),
      patients: [...new Set(allowed.flatMap((j) => j.patients))],
    });
  }
  for (const j of allowed) permitted.set(`${j.row.type}/${j.row.id}`, j);
  return permitted;
}
