import type { LoadedProtocol } from './protocol-schema.js';

// A protocol is enforced only while every party's signature verifies and the
// day is inside its period (DESIGN.md section 5). Pure: `now` is passed in.

export type Standing = { inForce: true } | { inForce: false; reason: string };

const IN_FORCE: Standing = Object.freeze({ inForce: true });

// The last instant dayOf was asked about, and its day: a request decides many
// records at one `now`, and Date#toISOString is the dearest step of a decision.
let lastTime = Number.NaN;
let lastDay = '';

/** The calendar day of an instant, in UTC, as YYYY-MM-DD. */
export function dayOf(now: Date): string {
  const time = now.getTime();
  if (time !== lastTime) {
    lastDay = now.toISOString().slice(0, 10);
    lastTime = time;
  }
  return lastDay;
}

export function standingOf(protocol: LoadedProtocol, now: Date): Standing {
  return standingOnDay(protocol, dayOf(now));
}

/** The standing on a day (YYYY-MM-DD, UTC); allocates nothing when the protocol is in force. */
export function standingOnDay(protocol: LoadedProtocol, day: string): Standing {
  if (!signaturesHold(protocol)) {
    const bad = protocol.signatures.filter((s) => !s.valid);
    if (bad.length > 0) {
      return { inForce: false, reason: bad.map((s) => `signature of ${s.party}: ${s.problem ?? 'does not verify'}`).join('; ') };
    }
    const signed = new Set(protocol.signatures.map((s) => s.party));
    const unsigned = protocol.parties.filter((p) => !signed.has(p));
    return { inForce: false, reason: unsigned.map((p) => `signature of ${p}: missing`).join('; ') };
  }
  if (day < protocol.period.start) return { inForce: false, reason: `its period starts on ${protocol.period.start}` };
  if (day > protocol.period.end) return { inForce: false, reason: `its period ended on ${protocol.period.end}` };
  return IN_FORCE;
}

/** Every signature verifies and every party has one. */
function signaturesHold(protocol: LoadedProtocol): boolean {
  const signatures = protocol.signatures;
  for (const s of signatures) if (!s.valid) return false;
  for (const party of protocol.parties) {
    let signed = false;
    for (const s of signatures) {
      if (s.party === party) {
        signed = true;
        break;
      }
    }
    if (!signed) return false;
  }
  return true;
}
