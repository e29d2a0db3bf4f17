import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { auditLeafHash, chainHash, EMPTY_CHAIN } from '../../src/audit/log-hash.js';
import { ChainVerifier, type LogRow } from '../../src/audit/verify-chain.js';

function buildLog(events: unknown[]): LogRow[] {
  let prev = EMPTY_CHAIN;
  return events.map((event, idx) => {
    const leaf = auditLeafHash(event);
    const row = { idx, leafHash: leaf, prevHash: prev, chainHash: chainHash(prev, leaf), event };
    prev = row.chainHash;
    return row;
  });
}

function verify(rows: LogRow[]) {
  const v = new ChainVerifier();
  for (const row of rows) if (!v.push(row)) break;
  return v.verdict();
}

const events = fc.array(fc.record({ id: fc.uuid(), outcome: fc.constantFrom('0', '4', '8'), n: fc.integer() }), { minLength: 2, maxLength: 30 });

describe('hash-chain verification (pure)', () => {
  it('accepts every untouched log and reports its size and head', () => {
    fc.assert(
      fc.property(events, (evs) => {
        const rows = buildLog(evs);
        expect(verify(rows)).toEqual({ ok: true, size: rows.length, head: rows.at(-1)?.chainHash });
      }),
    );
  });

  it('names the first changed row whatever is changed (property)', () => {
    fc.assert(
      fc.property(events, fc.nat(), fc.constantFrom('event', 'leaf', 'prev', 'chain', 'drop', 'swap'), (evs, at, how) => {
        const rows = buildLog(evs);
        const i = at % (rows.length - 1);
        const row = rows[i] as LogRow;
        switch (how) {
          case 'event':
            rows[i] = { ...row, event: { ...(row.event as object), n: 'changed' } };
            break;
          case 'leaf':
            rows[i] = { ...row, leafHash: auditLeafHash({ other: true }) };
            break;
          case 'prev':
            rows[i] = { ...row, prevHash: auditLeafHash({ other: true }) };
            break;
          case 'chain':
            rows[i] = { ...row, chainHash: auditLeafHash({ other: true }) };
            break;
          case 'drop':
            rows.splice(i, 1);
            break;
          case 'swap': {
            const next = rows[i + 1] as LogRow;
            rows[i] = { ...next, idx: i };
            rows[i + 1] = { ...row, idx: i + 1 };
            break;
          }
        }
        const verdict = verify(rows);
        expect(verdict.ok).toBe(false);
        if (!verdict.ok) expect(verdict.index).toBe(i);
      }),
    );
  });

  it('continues from a known head', () => {
    const rows = buildLog([{ a: 1 }, { a: 2 }, { a: 3 }]);
    const first = rows[0] as LogRow;
    const v = new ChainVerifier({ size: 1, head: first.chainHash });
    for (const row of rows.slice(1)) v.push(row);
    expect(v.verdict()).toMatchObject({ ok: true, size: 3 });
  });
});
