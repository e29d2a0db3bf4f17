import type { Response } from 'supertest';
import { expect } from 'vitest';

// The oracle check: to a requester, a record it may not see must answer
// exactly as an id the hub has never held (DESIGN.md §10, "Denials say
// nothing"). Two answers are compared with the ids themselves masked.

/** Headers that differ between any two requests (their time, their request id), or follow the body. */
const PER_REQUEST_HEADERS = new Set(['date', 'x-request-id', 'content-length']);

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

export function masked(res: Response, ids: readonly string[]): MaskedAnswer {
  let body = typeof res.text === 'string' ? res.text : JSON.stringify(res.body);
  for (const id of ids) body = body.split(id).join('{id}');
  const headers = Object.fromEntries(
    Object.entries(res.headers as Record<string, string>)
      .filter(([name]) => !PER_REQUEST_HEADERS.has(name.toLowerCase()))
      .map(([name, value]): [string, string] => {
        let v = value;
        for (const id of ids) v = v.split(id).join('{id}');
        return [name.toLowerCase(), v];
      }),
  );
  return { status: res.status, headers, body };
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
