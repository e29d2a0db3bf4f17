import type { AuditEvent, Bundle, OperationOutcome, Resource } from 'fhir/r4.js';
import { Client, type FhirResource } from 'fhir-kit-client';
import { demoClients } from '../../src/demo/world.js';
import { decisionEventsFor } from './audit.js';
import type { TestHub } from './test-hub.js';

// Partners acting in the shared fixtures' story, each through a stock FHIR
// client (fhir-kit-client) against the listening hub, on the story's clock.

/** A clock that starts at `startIso` and runs with real time, so ordering and _lastUpdated still work. */
export function storyClock(startIso: string): () => Date {
  const anchor = Date.parse(startIso);
  const real = Date.now();
  return () => new Date(anchor + (Date.now() - real));
}

export interface CallOptions {
  /** X-Request-Id, to find the request's AuditEvents afterwards. */
  requestId?: string;
  /** X-Override-Reason: a safeguarding override. */
  overrideReason?: string;
}

/** What a refused call answered. */
export interface Refusal {
  status: number;
  /** issue[0].details.coding[0].code: a reason code, if the answer carried one (a denial must not). */
  reason: string | undefined;
  reasonSystem: string | undefined;
  outcome: OperationOutcome | undefined;
}

/** A refused read, beside what the same client was answered for an id the hub never held. */
export interface ReadRefusal extends Refusal {
  id: string;
  /** X-Request-Id of the refused read, to find its decisions in the audit log. */
  requestId: string;
  absentId: string;
  absent: Refusal;
}

let refusedReads = 0;

const TOKEN_REUSE_MS = 4 * 60_000;

/** fhir-kit-client has its own loose resource type; convert at the edge. */
export const asKit = (r: object): FhirResource => r as unknown as FhirResource;

/** One partner system with one purpose of use. A fresh token is requested when the last one is near its five minutes. */
export class Partner {
  private token: { value: string; at: number } | undefined;

  constructor(
    private readonly t: TestHub,
    private readonly clock: () => Date,
    readonly clientId: string,
    readonly purpose: string,
  ) {}

  /** A token from the hub's token endpoint (SMART backend services), signed at the story's time. */
  async bearer(): Promise<string> {
    const now = this.clock().getTime();
    if (this.token !== undefined && now - this.token.at < TOKEN_REUSE_MS) return this.token.value;
    const client = demoClients.find((c) => c.id === this.clientId);
    if (client === undefined) throw new Error(`${this.clientId} is not a demo client`);
    const res = await this.t.http
      .post('/auth/token')
      .type('form')
      .send({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await this.t.assertion(this.clientId, { now: this.clock() }),
        scope: client.scopes.join(' '),
        purpose_of_use: this.purpose,
      });
    if (res.status !== 200) throw new Error(`token for ${this.clientId} (${this.purpose}) refused: ${JSON.stringify(res.body)}`);
    this.token = { value: (res.body as { access_token: string }).access_token, at: now };
    return this.token.value;
  }

  async client(): Promise<Client> {
    return new Client({ baseUrl: `${this.t.baseUrl}/fhir`, bearerToken: await this.bearer() });
  }

  async read<T extends Resource>(type: T['resourceType'], id: string, o: CallOptions = {}): Promise<T> {
    const client = await this.client();
    return (await client.read({ resourceType: type, id, options: { headers: headers(o) } })) as unknown as T;
  }

  /**
   * A read the hub must refuse: what it answered (throws if it answered 2xx),
   * and what it answered the same client, for the same type, about an id it never held.
   */
  async readRefused(type: string, id: string, o: CallOptions = {}): Promise<ReadRefusal> {
    const client = await this.client();
    refusedReads += 1;
    const requestId = o.requestId ?? `story-refused-read-${refusedReads}`;
    const refusal = await refusalOf(client.read({ resourceType: type, id, options: { headers: headers({ ...o, requestId }) } }));
    const absentId = `00000000-0000-4000-8000-${String(refusedReads).padStart(12, '0')}`;
    const absent = await refusalOf(client.read({ resourceType: type, id: absentId, options: { headers: headers({ ...o, requestId: `${requestId}-absent` }) } }));
    return { ...refusal, id, requestId, absentId, absent };
  }

  /** The matches of a search, every page followed. */
  async search<T extends Resource>(type: T['resourceType'], searchParams: Record<string, string>, o: CallOptions = {}): Promise<T[]> {
    const client = await this.client();
    let bundle = (await client.search({ resourceType: type, searchParams, options: { headers: headers(o) } })) as unknown as Bundle;
    const found: T[] = [];
    for (;;) {
      if (bundle.resourceType !== 'Bundle' || bundle.type !== 'searchset') throw new Error(`a search answered ${bundle.resourceType}`);
      found.push(...(bundle.entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource as T));
      const next = client.nextPage({ bundle: asKit(bundle) as FhirResource & { link: { relation: string; url: string }[] } });
      if (next === undefined) return found;
      bundle = (await next) as unknown as Bundle;
    }
  }

  async update<T extends Resource>(resource: T & { id: string }, o: CallOptions = {}): Promise<T> {
    const client = await this.client();
    return (await client.update({ resourceType: resource.resourceType, id: resource.id, body: asKit(resource), options: { headers: headers(o) } })) as unknown as T;
  }

  /** GET [type]/[id]/$name?input. */
  async operation(type: string, id: string, name: string, input: Record<string, string>, o: CallOptions = {}): Promise<Resource> {
    const client = await this.client();
    return client.operation({ resourceType: type, id, name, method: 'GET', input, options: { headers: headers(o) } });
  }

  async operationRefused(type: string, id: string, name: string, input: Record<string, string>, o: CallOptions = {}): Promise<Refusal> {
    const client = await this.client();
    return refusalOf(client.operation({ resourceType: type, id, name, method: 'GET', input, options: { headers: headers(o) } }));
  }
}

function headers(o: CallOptions): Record<string, string> {
  return {
    ...(o.requestId === undefined ? {} : { 'X-Request-Id': o.requestId }),
    ...(o.overrideReason === undefined ? {} : { 'X-Override-Reason': o.overrideReason }),
  };
}

async function refusalOf(call: Promise<unknown>): Promise<Refusal> {
  const outcome = await call.then(
    (body) => {
      throw new Error(`expected a refusal, the hub answered ${JSON.stringify(body).slice(0, 300)}`);
    },
    (err: unknown) => err as { response?: { status?: number; data?: unknown } },
  );
  const data = outcome.response?.data as OperationOutcome | undefined;
  const coding = data?.issue[0]?.details?.coding?.[0];
  return { status: outcome.response?.status ?? 0, reason: coding?.code, reasonSystem: coding?.system, outcome: data };
}

/** One disclosure decision (a BALP AuthZ-Consent AuditEvent), as the fields the story speaks of. */
export interface DecisionSummary {
  outcome: string | undefined;
  effect: string | undefined;
  /** The deny reason, or the permit basis. */
  code: string | undefined;
  patients: string[];
  /** "Type/id/_history/n" of the record decided. */
  record: string | undefined;
  consent: string | undefined;
  /** protocol|version|flow */
  flow: string | undefined;
  overrideReason: string | undefined;
  tags: string[];
  event: AuditEvent;
}

const FLOW_SYSTEM = 'https://eastside.example/fhir/Id/isp-flow';

export function summarise(event: AuditEvent): DecisionSummary {
  const entities = event.entity ?? [];
  const decision = entities.find((e) => e.type?.code === 'decision')?.detail ?? [];
  const detail = (type: string): string | undefined => decision.find((d) => d.type === type)?.valueString;
  return {
    outcome: event.outcome,
    effect: detail('effect'),
    code: detail('reason') ?? detail('basis'),
    patients: entities.filter((e) => e.role?.code === '1').flatMap((e) => (e.what?.reference === undefined ? [] : [e.what.reference])),
    record: entities.find((e) => e.type?.code === '2' && e.role?.code === '4')?.what?.reference,
    consent: entities.find((e) => e.type?.code === 'Consent')?.what?.reference,
    flow: entities.find((e) => e.what?.identifier?.system === FLOW_SYSTEM)?.what?.identifier?.value,
    overrideReason: detail('override-reason'),
    tags: (event.meta?.tag ?? []).flatMap((t) => (t.code === undefined ? [] : [t.code])),
    event,
  };
}

/** The disclosure decisions one request made, summarised. */
export async function decisionsOf(t: TestHub, requestId: string): Promise<DecisionSummary[]> {
  return (await decisionEventsFor(t.database.db, requestId)).map(summarise);
}

/** The decision a request made about one record ("Type/id"), whatever its version. */
export function decisionOn(decisions: readonly DecisionSummary[], record: string): DecisionSummary | undefined {
  return decisions.find((d) => d.record?.startsWith(`${record}/_history/`) === true || d.record === record);
}
