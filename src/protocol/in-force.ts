import type { LoadedProtocol } from './protocol-schema.js';

// A protocol is enforced only while every party's signature verifies and the
// day is inside its period (DESIGN.md section 5). Pure: `now` is passed in.

export type Standing = { inForce: true } | { inForce: false; reason: string };

/** The calendar day of an instant, in UTC, as YYYY-MM-DD. */
export function dayOf(now: Date): string {
  return now.toISOString().slice(0, 10);
}

export function standingOf(protocol: LoadedProtocol, now: Date): Standing {
  const bad = protocol.signatures.filter((s) => !s.valid);
  if (bad.length > 0) {
    return { inForce: false, reason: bad.map((s) => `signature of ${s.party}: ${s.problem ?? 'does not verify'}`).join('; ') };
  }
  const signed = new Set(protocol.signatures.map((s) => s.party));
  const unsigned = protocol.parties.filter((p) => !signed.has(p));
  if (unsigned.length > 0) return { inForce: false, reason: unsigned.map((p) => `signature of ${p}: missing`).join('; ') };
  const day = dayOf(now);
  if (day < protocol.period.start) return { inForce: false, reason: `its period starts on ${protocol.period.start}` };
  if (day > protocol.period.end) return { inForce: false, reason: `its period ended on ${protocol.period.end}` };
  return { inForce: true };
}
