import http from 'node:http';
import type { JWK } from 'jose';
import { requestAccessToken } from '../support/token.js';
import { send, type Reply } from '../faults/load.js';

// Mixed partner traffic at a fixed rate (open loop: a new request starts every
// 1/rate s whatever the answers do), all through one address, the balancer.
// A write is re-sent until acknowledged (2xx) — after a 503, a 5xx, a refused
// or reset connection — with the same body and so the same exactly-once key;
// a read is re-sent until answered. Every attempt is recorded with its time.

export interface Partner {
  clientId: string;
  privateJwk: JWK;
  scope: string;
  purpose: string;
}

export interface Kind {
  name: string;
  partner: Partner;
  method: 'GET' | 'POST';
  /** A path, or for a write a fresh body with its message keys. */
  next: () => { path: string; contentType?: string; body?: string; keys: string[] };
}

export type Outcome = 'ok' | '503' | '5xx' | '4xx' | 'refused' | 'reset' | 'token';

export interface Attempt {
  at: number;
  outcome: Outcome;
}

export interface Operation {
  kind: string;
  write: boolean;
  keys: string[];
  start: number;
  end: number;
  acknowledged: boolean;
  attempts: Attempt[];
}

export interface TrafficPlan {
  baseUrl: string;
  /** Request kinds, taken in turn. */
  cycle: readonly Kind[];
  ratePerSecond: number;
  durationMs: number;
  /** Give up one operation after this. */
  patienceMs: number;
}


function outcomeOf(reply: Reply): Outcome {
  if (reply.status >= 200 && reply.status < 300) return 'ok';
  if (reply.status === 503) return '503';
  if (reply.status >= 500) return '5xx';
  if (reply.status >= 400) return '4xx';
  return reply.error === 'ECONNREFUSED' ? 'refused' : 'reset';
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runTraffic(plan: TrafficPlan): Promise<Operation[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const tokens = new Map<string, Promise<string>>();
  const tokenFor = (partner: Partner): Promise<string> => {
    const held = tokens.get(partner.clientId);
    if (held !== undefined) return held;
    const asked = requestAccessToken({ baseUrl: plan.baseUrl, ...partner });
    tokens.set(partner.clientId, asked);
    asked.catch(() => tokens.delete(partner.clientId));
    return asked;
  };
  const operations: Operation[] = [];
  const perform = async (kind: Kind): Promise<void> => {
    const request = kind.next();
    const op: Operation = { kind: kind.name, write: kind.method === 'POST', keys: request.keys, start: Date.now(), end: 0, acknowledged: false, attempts: [] };
    operations.push(op);
    const giveUp = op.start + plan.patienceMs;
    while (Date.now() < giveUp) {
      let token: string;
      try {
        token = await tokenFor(kind.partner);
      } catch {
        // The token endpoint is behind the same balancer: a 503 or a refused connection there is an attempt too.
        op.attempts.push({ at: Date.now(), outcome: 'token' });
        await sleep(250);
        continue;
      }
      const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' };
      if (request.contentType !== undefined) headers['Content-Type'] = request.contentType;
      const outcome = outcomeOf(await send(agent, `${plan.baseUrl}${request.path}`, kind.method, headers, request.body));
      op.attempts.push({ at: Date.now(), outcome });
      if (outcome === 'ok') {
        op.acknowledged = true;
        break;
      }
      if (outcome === '4xx') {
        // A refused token (a restarted hub keeps its keys, so this is rare) is fetched again; any other 4xx is final.
        tokens.delete(kind.partner.clientId);
        if (op.attempts.filter((a) => a.outcome === '4xx').length > 2) break;
      }
      await sleep(200);
    }
    op.end = Date.now();
  };
  const started = Date.now();
  const interval = 1_000 / plan.ratePerSecond;
  const running: Promise<void>[] = [];
  for (let n = 0; ; n += 1) {
    const due = started + n * interval;
    if (due >= started + plan.durationMs) break;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    const kind = plan.cycle[n % plan.cycle.length];
    if (kind !== undefined) running.push(perform(kind));
  }
  await Promise.all(running);
  agent.destroy();
  return operations;
}
