import http from 'node:http';
import type { JWK } from 'jose';
import { HL7_MEDIA_TYPE } from '../../src/services/hl7-ingest.js';
import { requestAccessToken } from '../support/token.js';

// A partner system pushing HL7 v2 VXU messages, as one should: each message
// is sent until it is acknowledged (2xx), retried after a 503, a refused or a
// reset connection (the hub's exactly-once key makes a retry safe), across
// the instances given, round robin. Keep-alive connections, as real clients use.

export interface Sender {
  clientId: string;
  privateJwk: JWK;
  scope: string;
}

export interface LoadTally {
  sent: number;
  acknowledged: number;
  /** Message keys acknowledged. */
  ackedKeys: string[];
  /** Every key sent. */
  keys: string[];
  unavailable503: number;
  other5xx: number;
  refused: number;
  /** A request written on a connection the hub then reset or closed without an answer. */
  reset: number;
  /** Token requests that failed other than by a refused connection or a 5xx (first few). */
  tokenErrors: string[];
}

/** What one HTTP attempt came to: a status, or 0 and the socket error. */
export interface Reply {
  status: number;
  error?: string;
}

/** One request on a keep-alive agent; never rejects (a refused, reset or timed-out attempt is a Reply). */
export function send(agent: http.Agent, url: string, method: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve) => {
    const all = body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) };
    const req = http.request(url, { method, agent, headers: all }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0 });
      });
      res.on('error', () => {
        resolve({ status: 0, error: 'ECONNRESET' });
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ status: 0, error: err.code ?? err.message });
    });
    req.end(body);
  });
}

function post(agent: http.Agent, url: string, token: string, body: string): Promise<Reply> {
  return send(agent, url, 'POST', { Authorization: `Bearer ${token}`, 'Content-Type': HL7_MEDIA_TYPE }, body);
}

export interface LoadPlan {
  hubs: () => readonly string[];
  sender: Sender;
  next: () => { body: string; key: string };
  workers: number;
  /** Stop starting new messages after this. */
  durationMs: number;
  /** Give up retrying one message after this. */
  patienceMs: number;
}

export async function runLoad(plan: LoadPlan): Promise<LoadTally> {
  const tally: LoadTally = { sent: 0, acknowledged: 0, ackedKeys: [], keys: [], unavailable503: 0, other5xx: 0, refused: 0, reset: 0, tokenErrors: [] };
  const tokens = new Map<string, string>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.workers });
  const tokenFor = async (base: string): Promise<string> => {
    const held = tokens.get(base);
    if (held !== undefined) return held;
    const token = await requestAccessToken({ baseUrl: base, clientId: plan.sender.clientId, privateJwk: plan.sender.privateJwk, scope: plan.sender.scope, purpose: 'direct-care' });
    tokens.set(base, token);
    return token;
  };
  let turn = 0;
  const stopAt = Date.now() + plan.durationMs;
  const worker = async (): Promise<void> => {
    while (Date.now() < stopAt) {
      const { body, key } = plan.next();
      tally.sent += 1;
      tally.keys.push(key);
      const giveUp = Date.now() + plan.patienceMs;
      while (Date.now() < giveUp) {
        const hubs = plan.hubs();
        const base = hubs[turn++ % hubs.length] ?? '';
        let reply: Reply;
        try {
          reply = await post(agent, `${base}/ingest/hl7v2`, await tokenFor(base), body);
        } catch (err) {
          // No token: the instance is down (refused) or answered the token request with an error.
          const text = err instanceof Error ? `${err.message} ${(err.cause as { code?: string } | undefined)?.code ?? ''}` : String(err);
          reply = text.includes('ECONNREFUSED') ? { status: 0, error: 'ECONNREFUSED' } : /\((5\d\d)\)/.test(text) ? { status: 503 } : { status: 0, error: 'token' };
          if (reply.error === 'token') tally.tokenErrors.push(text.slice(0, 200));
        }
        if (reply.status >= 200 && reply.status < 300) {
          tally.acknowledged += 1;
          tally.ackedKeys.push(key);
          break;
        }
        if (reply.status === 503) tally.unavailable503 += 1;
        else if (reply.status >= 500) tally.other5xx += 1;
        else if (reply.error === 'ECONNREFUSED') tally.refused += 1;
        else if (reply.error === 'token') {
          if (tally.tokenErrors.length > 20) throw new Error(`no token: ${tally.tokenErrors[0] ?? ''}`);
        } else if (reply.error !== undefined) tally.reset += 1;
        else throw new Error(`message ${key} answered ${reply.status}`);
        if (reply.status === 401) tokens.delete(base);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  await Promise.all(Array.from({ length: plan.workers }, worker));
  agent.destroy();
  return tally;
}
