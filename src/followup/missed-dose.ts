import type { Immunization } from 'fhir/r4.js';
import { CAUGHT_UP_EXTENSION } from '../fhir/resource-edits.js';

// What a stored Immunization means for follow-up work. Pure.
// HL7 v2 RXA-20 NA/RE and the CSV's not-done rows arrive as status not-done with a statusReason
// (../shared/DESIGN.md section 11); a later dose given marks the missed one caught up (resource-edits.ts).

const SNOMED = 'http://snomed.info/sct';
/** "Did not attend child immunisation" and "did not attend": the reasons children's centres act on. */
export const MISSED_APPOINTMENT_CODES: ReadonlySet<string> = new Set(['201741000000102', '281399006']);

export type MissedDoseState = 'outstanding' | 'caught-up' | 'not-missed' | 'withdrawn';

export function missedDoseState(immunization: Immunization): MissedDoseState {
  switch (immunization.status) {
    case 'entered-in-error':
      return 'withdrawn';
    case 'completed':
      return 'not-missed';
    case 'not-done':
      return (immunization.extension ?? []).some((e) => e.url === CAUGHT_UP_EXTENSION) ? 'caught-up' : 'outstanding';
  }
}

/** A missed appointment (did not attend), as opposed to a refusal or a contraindication. */
export function isMissedAppointment(immunization: Immunization): boolean {
  return (immunization.statusReason?.coding ?? []).some((c) => c.system === SNOMED && c.code !== undefined && MISSED_APPOINTMENT_CODES.has(c.code));
}
