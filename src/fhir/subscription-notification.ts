import type { Bundle, BundleEntry, Parameters, ParametersParameter, Resource } from 'fhir/r4.js';
import { BACKPORT, type PayloadContent } from './subscription-request.js';
import { topicUrl, type TopicId } from './subscription-topics.js';

// Notification Bundles of the R4 Subscriptions Backport IG: a `history`
// Bundle whose first entry is the SubscriptionStatus (as Parameters), then one
// entry per event focus: its URL only (id-only) or the resource as decided and
// redacted for the subscriber (full-resource). Pure: ids and time passed in.
// See: https://hl7.org/fhir/uv/subscriptions-backport/notifications.html

export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

export interface NotificationEvent {
  /** eventsSinceSubscriptionStart of this event. */
  number: number;
  recorded: Date;
  /** "Type/id". */
  focus: string;
  /** What the decision lets out of the focus now: sent only with full-resource. */
  body: Resource | undefined;
}

export interface NotificationInput {
  fhirBase: string;
  subscriptionId: string;
  topic: TopicId;
  status: string;
  type: NotificationType;
  eventsSinceStart: number;
  events: readonly NotificationEvent[];
  content: PayloadContent;
  /** The id of the status entry and of the Bundle (fresh for each notification). */
  bundleId: string;
  now: Date;
  error?: string | undefined;
}

/** The SubscriptionStatus of the R4 backport. See: https://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition-backport-subscription-status-r4.html */
export function subscriptionStatus(input: NotificationInput): Parameters {
  const parameter: ParametersParameter[] = [
    { name: 'subscription', valueReference: { reference: `${input.fhirBase}/Subscription/${input.subscriptionId}` } },
    { name: 'topic', valueCanonical: topicUrl(input.fhirBase, input.topic) },
    { name: 'status', valueCode: input.status },
    { name: 'type', valueCode: input.type },
    // A string in R4: the count may exceed a 32-bit integer.
    { name: 'events-since-subscription-start', valueString: String(input.eventsSinceStart) },
  ];
  for (const e of input.events) {
    const part: ParametersParameter[] = [
      { name: 'event-number', valueString: String(e.number) },
      { name: 'timestamp', valueInstant: e.recorded.toISOString() },
    ];
    if (input.content !== 'empty') part.push({ name: 'focus', valueReference: { reference: `${input.fhirBase}/${e.focus}` } });
    parameter.push({ name: 'notification-event', part });
  }
  if (input.error !== undefined) parameter.push({ name: 'error', valueCodeableConcept: { text: input.error } });
  return { resourceType: 'Parameters', id: input.bundleId, meta: { profile: [`${BACKPORT}/backport-subscription-status-r4`] }, parameter };
}

export function notificationBundle(input: NotificationInput): Bundle {
  const statusEntry: BundleEntry = {
    fullUrl: `urn:uuid:${input.bundleId}`,
    resource: subscriptionStatus(input),
    request: { method: 'GET', url: `Subscription/${input.subscriptionId}/$status` },
    response: { status: '200' },
  };
  const focusEntries: BundleEntry[] =
    input.content === 'empty'
      ? []
      : input.events.map((e) => ({
          fullUrl: `${input.fhirBase}/${e.focus}`,
          ...(input.content === 'full-resource' && e.body !== undefined ? { resource: e.body } : {}),
          request: { method: 'PUT', url: e.focus },
          response: { status: '200' },
        }));
  return {
    resourceType: 'Bundle',
    id: input.bundleId,
    meta: { profile: [`${BACKPORT}/backport-subscription-notification-r4`] },
    type: 'history',
    timestamp: input.now.toISOString(),
    entry: [statusEntry, ...focusEntries],
  };
}
