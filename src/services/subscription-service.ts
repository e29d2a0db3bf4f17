import type { Bundle, Resource } from 'fhir/r4.js';
import { randomUUID } from 'node:crypto';
import type { RestInteraction } from '../audit/audit-event.js';
import type { Principal } from '../auth/principal.js';
import { allows, type Permission } from '../auth/scopes.js';
import type { Tx } from '../db/database.js';
import {
  allowedEndpoints,
  insertSubscription,
  listOwnSubscriptions,
  numberedEvents,
  readOwnSubscription,
  switchOff,
  type SubscriptionRow,
} from '../db/subscription-queries.js';
import { problem } from '../fhir/operation-outcome.js';
import { ID_PATTERN } from '../fhir/search-request.js';
import { notificationBundle, subscriptionStatus, type NotificationInput } from '../fhir/subscription-notification.js';
import { BACKPORT_PROFILE, endpointAllowed, parseSubscription, type PayloadContent } from '../fhir/subscription-request.js';
import { isTopicId, TOPIC_IDS, topicResource, type TopicId } from '../fhir/subscription-topics.js';
import { requesterOf, type RequestMeta } from './audit-recorder.js';
import { refuse } from './decision-audit.js';
import { toResult, type FhirResult } from './fhir-result.js';
import { decideFocuses, type SubscriptionDisclosureDeps } from './subscription-disclosure.js';

// The Subscription REST API: a partner creates, reads, lists and deletes its
// own Subscriptions; another organisation's answer as unknown ids. $status and
// $events of the R4 Subscriptions Backport IG. Every call is audited.
// See: https://hl7.org/fhir/uv/subscriptions-backport/

const TYPE = 'Subscription';
const MAX_EVENTS = 100;

export interface SubscriptionServiceDeps extends SubscriptionDisclosureDeps {
  fhirBase: string;
}

export class SubscriptionService {
  constructor(private readonly deps: SubscriptionServiceDeps) {}

  /** The hub's topics: static, no personal data. */
  topics(): FhirResult {
    const entry = TOPIC_IDS.map((t) => ({ fullUrl: `${this.deps.fhirBase}/SubscriptionTopic/${t}`, resource: topicResource(this.deps.fhirBase, t) as unknown as Resource }));
    return { status: 200, body: { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry } as Bundle };
  }

  topic(id: string): FhirResult {
    if (!isTopicId(id)) return toResult(problem(404, 'not-found', `SubscriptionTopic/${id} is not a topic of this hub`, 'id'));
    return { status: 200, body: topicResource(this.deps.fhirBase, id) as unknown as Resource };
  }

  async create(principal: Principal, body: unknown, meta: RequestMeta): Promise<FhirResult> {
    const denied = await this.scope(principal, 'create', 'c', meta);
    if (denied !== undefined) return denied;
    const parsed = parseSubscription(body, this.deps.fhirBase);
    if (!parsed.ok) return refuse(this.deps, principal, meta, 'create', TYPE, parsed.problem);
    const request = parsed.value;
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      // Never an arbitrary URL: that would be a way out for data. The registry names each organisation's endpoints.
      if (!endpointAllowed(request.endpoint, await allowedEndpoints(tx, principal.organisationCode))) {
        return this.refused(tx, principal, meta, 'create', problem(422, 'business-rule', `the endpoint is not one the partner registry allows for ${principal.organisationCode}`, 'Subscription.channel.endpoint'));
      }
      const id = randomUUID();
      const now = this.deps.clock();
      const row: SubscriptionRow = {
        id,
        organisationCode: principal.organisationCode,
        clientId: principal.clientId,
        purpose: principal.purposeOfUse,
        topic: request.topic,
        status: 'requested',
        endpoint: request.endpoint,
        content: request.content,
        heartbeatSeconds: request.heartbeatSeconds ?? null,
        resource: request.resource,
        eventsSinceStart: 0,
        failures: 0,
        lastError: null,
        createdAt: now,
        nextAttemptAt: now,
        lastSentAt: null,
        leaseOwner: null,
        leaseUntil: null,
      };
      await insertSubscription(tx, row);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'create',
        outcome: 'success',
        outcomeDesc: `Subscription to ${request.topic} for ${principal.purposeOfUse}, notified at ${request.endpoint}`,
        resourceType: TYPE,
        resources: [`${TYPE}/${id}`],
      });
      return { status: 201, body: this.resourceOf(row), headers: { Location: `${this.deps.fhirBase}/${TYPE}/${id}` } };
    });
  }

  async read(principal: Principal, id: string, meta: RequestMeta): Promise<FhirResult> {
    return this.withOwn(principal, id, meta, 'read', 'r', async (tx, sub) => {
      await this.deps.audit.rest(tx, meta, requesterOf(principal), { interaction: 'read', outcome: 'success', resourceType: TYPE, resources: [`${TYPE}/${sub.id}`] });
      return { status: 200, body: this.resourceOf(sub) };
    });
  }

  async search(principal: Principal, meta: RequestMeta): Promise<FhirResult> {
    const denied = await this.scope(principal, 'search-type', 's', meta);
    if (denied !== undefined) return denied;
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      const own = await listOwnSubscriptions(tx, principal.organisationCode);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), { interaction: 'search-type', outcome: 'success', resourceType: TYPE, resources: own.map((s) => `${TYPE}/${s.id}`) });
      const entry = own.map((s) => ({ fullUrl: `${this.deps.fhirBase}/${TYPE}/${s.id}`, resource: this.resourceOf(s), search: { mode: 'match' as const } }));
      const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: entry.length, link: [{ relation: 'self', url: `${this.deps.fhirBase}/${TYPE}` }], entry };
      return { status: 200, body: bundle };
    });
  }

  /** Delete: the Subscription is switched off for good (its rows stay, as its notifications stay in the audit log). */
  async remove(principal: Principal, id: string, meta: RequestMeta): Promise<FhirResult> {
    return this.withOwn(principal, id, meta, 'operation', 'd', async (tx, sub) => {
      await switchOff(tx, sub.id);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), { interaction: 'operation', outcome: 'success', outcomeDesc: 'delete', resourceType: TYPE, resources: [`${TYPE}/${sub.id}`] });
      return { status: 204 };
    });
  }

  /** $status. See: https://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition-backport-subscription-status.html */
  async status(principal: Principal, id: string, meta: RequestMeta): Promise<FhirResult> {
    return this.withOwn(principal, id, meta, 'operation', 'r', async (tx, sub) => {
      await this.deps.audit.rest(tx, meta, requesterOf(principal), { interaction: 'operation', outcome: 'success', outcomeDesc: '$status', resourceType: TYPE, resources: [`${TYPE}/${sub.id}`] });
      const status = subscriptionStatus(this.notification(sub, 'query-status', []));
      const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: 1, entry: [{ fullUrl: `urn:uuid:${status.id ?? ''}`, resource: status, search: { mode: 'match' } }] };
      return { status: 200, body: bundle };
    });
  }

  /**
   * $events: the numbered events in a range, each decided again now (a
   * disclosure like any other); one the subscriber may no longer see is left
   * out. See: https://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition-backport-subscription-events.html
   */
  async events(principal: Principal, id: string, params: readonly [string, string][], meta: RequestMeta): Promise<FhirResult> {
    const query = new Map(params);
    const number = (name: string, fallback: number): number | undefined => {
      const v = query.get(name);
      return v === undefined ? fallback : /^\d{1,15}$/.test(v) ? Number(v) : undefined;
    };
    const since = number('eventsSinceNumber', 1);
    const until = number('eventsUntilNumber', Number.MAX_SAFE_INTEGER);
    const content = query.get('content');
    for (const [name, value] of [['eventsSinceNumber', since], ['eventsUntilNumber', until]] as const) {
      if (value === undefined) return refuse(this.deps, principal, meta, 'operation', TYPE, problem(400, 'invalid', `${name} must be a whole number`, name));
    }
    if (content !== undefined && content !== 'empty' && content !== 'id-only' && content !== 'full-resource') {
      return refuse(this.deps, principal, meta, 'operation', TYPE, problem(400, 'code-invalid', 'content is empty, id-only or full-resource', 'content'));
    }
    return this.withOwn(principal, id, meta, 'operation', 'r', async (tx, sub) => {
      const rows = await numberedEvents(tx, sub.id, since ?? 1, until ?? Number.MAX_SAFE_INTEGER, MAX_EVENTS);
      const permitted = await decideFocuses(this.deps, tx, sub, rows.map((r) => r.focus), meta);
      await this.deps.audit.rest(tx, meta, requesterOf(principal), { interaction: 'operation', outcome: 'success', outcomeDesc: '$events', resourceType: TYPE, resources: [`${TYPE}/${sub.id}`] });
      const events = rows.flatMap((r) => {
        const judged = permitted.get(r.focus);
        return judged === undefined || r.eventNumber === null ? [] : [{ number: r.eventNumber, recorded: r.recordedAt, focus: r.focus, body: judged.body }];
      });
      const asked = (content ?? sub.content) as PayloadContent;
      return { status: 200, body: notificationBundle({ ...this.notification(sub, 'query-event', events), content: asked }) };
    });
  }

  private notification(sub: SubscriptionRow, type: 'query-status' | 'query-event', events: NotificationInput['events']): NotificationInput {
    return {
      fhirBase: this.deps.fhirBase,
      subscriptionId: sub.id,
      topic: sub.topic as TopicId,
      status: sub.status,
      type,
      eventsSinceStart: sub.eventsSinceStart,
      events,
      content: sub.content as PayloadContent,
      bundleId: randomUUID(),
      now: this.deps.clock(),
      error: sub.lastError ?? undefined,
    };
  }

  /** The caller's own Subscription, or the answer an unknown id gets (another organisation's is unknown to it). */
  private async withOwn(
    principal: Principal,
    id: string,
    meta: RequestMeta,
    interaction: RestInteraction,
    permission: Permission,
    work: (tx: Tx, sub: SubscriptionRow) => Promise<FhirResult>,
  ): Promise<FhirResult> {
    const denied = await this.scope(principal, interaction, permission, meta);
    if (denied !== undefined) return denied;
    if (!ID_PATTERN.test(id)) return refuse(this.deps, principal, meta, interaction, TYPE, problem(400, 'invalid', 'id is not a valid resource id', 'id'));
    return this.deps.audit.transaction(this.deps.db, async (tx) => {
      const sub = await readOwnSubscription(tx, id, principal.organisationCode);
      if (sub === undefined) return this.refused(tx, principal, meta, interaction, problem(404, 'not-found', `${TYPE}/${id} is not known`, 'id'));
      return work(tx, sub);
    });
  }

  private async scope(principal: Principal, interaction: RestInteraction, permission: Permission, meta: RequestMeta): Promise<FhirResult | undefined> {
    if (allows(principal.scopes, TYPE, permission)) return undefined;
    const refusal = problem(403, 'forbidden', `the access token has no scope allowing ${permission} on ${TYPE} (e.g. system/${TYPE}.${permission})`, 'scope');
    return refuse(this.deps, principal, meta, interaction, TYPE, refusal);
  }

  private async refused(tx: Tx, principal: Principal, meta: RequestMeta, interaction: RestInteraction, refusal: ReturnType<typeof problem>): Promise<FhirResult> {
    await this.deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction,
      outcome: 'minor-failure',
      outcomeDesc: refusal.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; '),
      resourceType: TYPE,
    });
    return toResult(refusal);
  }

  /** The Subscription as R4 with the backport profile: the partner's fields, the hub's id, status and error. */
  private resourceOf(sub: SubscriptionRow): Resource {
    return {
      ...sub.resource,
      resourceType: 'Subscription',
      id: sub.id,
      meta: { profile: [BACKPORT_PROFILE] },
      status: sub.status as 'requested',
      ...(sub.lastError === null ? {} : { error: sub.lastError }),
    } as Resource;
  }
}
