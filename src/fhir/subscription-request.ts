import { z } from 'zod';
import { problems, type Problem } from './operation-outcome.js';
import { topicOfUrl, type TopicId } from './subscription-topics.js';

// A partner's Subscription, parsed once at the boundary: the R4 resource with
// the Backport IG's profile and extensions, rest-hook only.
// See: https://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition-backport-subscription.html

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
export const BACKPORT_PROFILE = `${BACKPORT}/backport-subscription`;
const PAYLOAD_CONTENT = `${BACKPORT}/backport-payload-content`;
const HEARTBEAT = `${BACKPORT}/backport-heartbeat-period`;
const TIMEOUT = `${BACKPORT}/backport-timeout`;
const MAX_COUNT = `${BACKPORT}/backport-max-count`;
const FILTER = `${BACKPORT}/backport-filter-criteria`;

export type PayloadContent = 'empty' | 'id-only' | 'full-resource';

const extension = z.object({ url: z.string() }).loose();
const HEADER = /^[A-Za-z0-9-]{1,64}: [\x20-\x7e]{1,1024}$/;

const subscriptionBody = z
  .object({
    resourceType: z.literal('Subscription'),
    id: z.string().optional(),
    meta: z.object({ profile: z.array(z.string()).refine((p) => p.includes(BACKPORT_PROFILE), `must include ${BACKPORT_PROFILE}`) }).loose(),
    status: z.literal('requested', { message: 'a new Subscription is requested (the hub activates it after the handshake)' }).optional(),
    reason: z.string().trim().min(1).max(1000),
    end: z.iso.datetime({ offset: true }).optional(),
    criteria: z.string().min(1).max(2000),
    _criteria: z.object({ extension: z.array(extension).refine((e) => !e.some((x) => x.url === FILTER), 'filter criteria are not supported') }).loose().optional(),
    channel: z
      .object({
        type: z.literal('rest-hook', { message: 'only rest-hook channels are supported' }),
        endpoint: z.url({ protocol: /^https?$/ }).max(2000),
        payload: z.literal('application/fhir+json', { message: 'notifications are sent as application/fhir+json' }).optional(),
        _payload: z.object({ extension: z.array(extension) }).loose().optional(),
        header: z.array(z.string().regex(HEADER, 'each header is "Name: value"')).max(5).optional(),
        extension: z.array(extension).optional(),
      })
      .loose(),
  })
  .loose();

/** What the hub keeps of an accepted Subscription. */
export interface SubscriptionRequest {
  topic: TopicId;
  endpoint: string;
  content: PayloadContent;
  heartbeatSeconds: number | undefined;
  timeoutSeconds: number | undefined;
  maxCount: number | undefined;
  headers: string[];
  /** The Subscription as accepted, for reads: without id, status or meta (the hub's). */
  resource: Record<string, unknown>;
}

/** Parses a Subscription body: a 4xx naming the field, or what to store. */
export function parseSubscription(body: unknown, fhirBase: string): { ok: true; value: SubscriptionRequest } | { ok: false; problem: Problem } {
  const parsed = subscriptionBody.safeParse(body);
  if (!parsed.success) {
    return { ok: false, problem: problems(400, parsed.error.issues.map((i) => ({ code: 'invalid', diagnostics: i.message, expression: fieldOf(i.path) }))) };
  }
  const s = parsed.data;
  const topic = topicOfUrl(fhirBase, s.criteria);
  if (topic === undefined) {
    return { ok: false, problem: problems(422, [{ code: 'not-supported', diagnostics: `criteria must be the canonical URL of one of the hub's topics (${fhirBase}/SubscriptionTopic)`, expression: 'Subscription.criteria' }]) };
  }
  const endpoint = new URL(s.channel.endpoint);
  if (endpoint.username !== '' || endpoint.password !== '' || endpoint.hash !== '') {
    return { ok: false, problem: problems(400, [{ code: 'invalid', diagnostics: 'the endpoint may carry neither credentials nor a fragment', expression: 'Subscription.channel.endpoint' }]) };
  }
  const content = valueOf(s.channel._payload?.extension, PAYLOAD_CONTENT, 'valueCode');
  if (content !== undefined && content !== 'empty' && content !== 'id-only' && content !== 'full-resource') {
    return { ok: false, problem: problems(400, [{ code: 'code-invalid', diagnostics: 'payload content is empty, id-only or full-resource', expression: 'Subscription.channel.payload.extension' }]) };
  }
  const numbers: [string, string, number, number][] = [
    [HEARTBEAT, 'valueUnsignedInt', 1, 86_400],
    [TIMEOUT, 'valueUnsignedInt', 1, 60],
    [MAX_COUNT, 'valuePositiveInt', 1, 100],
  ];
  const [heartbeat, timeout, maxCount] = numbers.map(([url, key, min, max]) => {
    const v = valueOf(s.channel.extension, url, key);
    return v === undefined ? undefined : typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : Number.NaN;
  });
  for (const [i, v] of [heartbeat, timeout, maxCount].entries()) {
    if (v !== undefined && Number.isNaN(v)) {
      const [url, , min, max] = numbers[i] ?? ['', '', 0, 0];
      return { ok: false, problem: problems(400, [{ code: 'value', diagnostics: `${url.split('/').pop() ?? url} must be an integer from ${min} to ${max}`, expression: 'Subscription.channel.extension' }]) };
    }
  }
  const { id: _id, status: _status, meta: _meta, ...resource } = s;
  return {
    ok: true,
    value: {
      topic,
      endpoint: endpoint.href,
      content: content ?? 'id-only',
      heartbeatSeconds: heartbeat,
      timeoutSeconds: timeout,
      maxCount,
      headers: s.channel.header ?? [],
      resource,
    },
  };
}

/**
 * Whether the endpoint lies under one of the prefixes the registry allows the
 * organisation: the same scheme, host and port, and a path under the prefix's.
 */
export function endpointAllowed(endpoint: string, prefixes: readonly string[]): boolean {
  const url = new URL(endpoint);
  return prefixes.some((p) => {
    const allowed = URL.canParse(p) ? new URL(p) : undefined;
    if (allowed === undefined || allowed.origin !== url.origin) return false;
    const base = allowed.pathname.endsWith('/') ? allowed.pathname : `${allowed.pathname}/`;
    return url.pathname === allowed.pathname || url.pathname.startsWith(base);
  });
}

function valueOf(extensions: readonly { url: string }[] | undefined, url: string, key: string): unknown {
  const found = (extensions ?? []).find((e) => e.url === url) as Record<string, unknown> | undefined;
  return found?.[key];
}

function fieldOf(path: readonly PropertyKey[]): string {
  const parts = path.filter((p) => typeof p === 'string');
  if (parts[0] === '_criteria') return 'Subscription.criteria';
  return ['Subscription', ...parts.map((p) => (p === '_payload' ? 'payload' : p))].join('.');
}
