import type { Response } from 'supertest';
import { expect } from 'vitest';
import { nhsNumber } from './resources.js';

// The oracle check: to a requester, a record it may not see must answer
// exactly as an id the hub has never held (DESIGN.md §10, "Denials say
// nothing"). Two answers are compared with the ids themselves masked.

/** Headers that differ between any two requests (their time, their request id), or follow the body. */
const PER_REQUEST_HEADERS = new Set(['date', 'x-request-id', 'content-length']);

/**
 * The caller's own rate-limit counter (draft-ietf-httpapi-ratelimit-headers):
 * its remaining quota `r` and reset `t` move with every request the caller
 * makes, whatever it asks about, so they are compared as placeholders.
 */
function counterMasked(name: string, value: string): string {
  return name === 'ratelimit' ? value.replace(/;r=\d+/g, ';r={n}').replace(/;t=\d+/g, ';t={n}') : value;
}

/** An id the hub has never held, shaped like the ids it hands out. */
export function unknownId(seed: number): string {
  return `00000000-0000-4000-8000-${String(seed).padStart(12, '0')}`;
}

/** What an answer looks like once its ids are masked: status, headers that do not vary per request, body text. */
export interface MaskedAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The answer with each of `values` (longest first) replaced by its placeholder `{vN}`, N its index. */
export function masked(res: Response, values: readonly string[]): MaskedAnswer {
  const order = values.map((v, i) => [v, `{v${i}}`] as const).sort((a, b) => b[0].length - a[0].length);
  const mask = (text: string): string => order.reduce((acc, [v, placeholder]) => (v.length === 0 ? acc : acc.split(v).join(placeholder)), text);
  const body = mask(typeof res.text === 'string' ? res.text : JSON.stringify(res.body ?? ''));
  const headers = Object.fromEntries(
    Object.entries(res.headers as Record<string, string>)
      .filter(([name]) => !PER_REQUEST_HEADERS.has(name.toLowerCase()))
      .map(([name, value]): [string, string] => [name.toLowerCase(), counterMasked(name.toLowerCase(), mask(value))]),
  );
  return { status: res.status, headers, body };
}

/**
 * A stand-in the hub has never held for a stored id or identifier value, of
 * the same length and kind: an id of the hub's shape, an NHS number that
 * passes its check, or letters and digits. `n` keeps stand-ins distinct.
 */
export function standIn(value: string, n: number): string {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) return unknownId(n);
  if (/^\d{10}$/.test(value)) return nhsNumber(700_000 + n * 10);
  const tag = String(n).padStart(4, '0');
  return value.length <= tag.length ? tag.slice(-value.length) : `${value.slice(0, value.length - tag.length).replace(/[A-Za-z]/g, 'Q').replace(/\d/g, '7')}${tag}`;
}

/** `text` with each original (longest first) replaced by its stand-in. */
export function substituted(text: string, pairs: readonly (readonly [string, string])[]): string {
  return [...pairs].sort((a, b) => b[0].length - a[0].length).reduce((acc, [from, to]) => acc.split(from).join(to), text);
}

/**
 * Asserts that the answer about a denied record equals the answer about an
 * unknown id, apart from the ids, the request id and the date. The content
 * length is compared too when the two ids have the same length.
 */
export function expectSameAsAbsent(denied: Response, deniedId: string, absent: Response, absentId: string, where = ''): void {
  const a = masked(denied, [deniedId]);
  const b = masked(absent, [absentId]);
  expect(a, `${where}: a denied record must answer like an unknown id`).toEqual(b);
  if (deniedId.length === absentId.length) {
    expect(denied.headers['content-length'], `${where}: content-length`).toBe(absent.headers['content-length']);
  }
}
