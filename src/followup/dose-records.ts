import type { Immunization } from 'fhir/r4.js';
import { SNOMED, VACCINATION_PROCEDURE_EXTENSION } from '../adapters/codes.js';
import type { DoseRecord } from './schedule.js';

// Stored Immunizations → the assessment's dose records. The adapters store the
// procedure in the UK Core VaccinationProcedure extension (vaccineCode is the
// product, often unknown), the dose number in protocolApplied.doseNumber
// (the CSV's DOSE_SEQUENCE; HL7 v2 and NEMS name the dose by the procedure code),
// and the day in occurrenceDateTime.
// See: https://simplifier.net/hl7fhirukcorer4/extension-ukcore-vaccinationprocedure

/** A dose record, or undefined for a record that is neither given nor not-done (entered in error). */
export function doseRecordFromImmunization(immunization: Immunization): DoseRecord | undefined {
  const status = immunization.status;
  if (status !== 'completed' && status !== 'not-done') return undefined;
  const procedure = immunization.extension
    ?.find((e) => e.url === VACCINATION_PROCEDURE_EXTENSION)
    ?.valueCodeableConcept?.coding?.find((c) => c.system === SNOMED && typeof c.code === 'string')?.code;
  const doseNumber = doseNumberOf(immunization.protocolApplied?.[0]);
  return {
    status,
    ...(immunization.id === undefined ? {} : { id: immunization.id }),
    ...(procedure === undefined ? {} : { procedureCode: procedure }),
    ...(doseNumber === undefined ? {} : { doseNumber }),
    ...(immunization.occurrenceDateTime === undefined ? {} : { date: immunization.occurrenceDateTime }),
  };
}

/** Every record that counts, in input order. */
export function doseRecordsFromImmunizations(immunizations: readonly Immunization[]): DoseRecord[] {
  const records: DoseRecord[] = [];
  for (const i of immunizations) {
    const record = doseRecordFromImmunization(i);
    if (record !== undefined) records.push(record);
  }
  return records;
}

function doseNumberOf(applied: NonNullable<Immunization['protocolApplied']>[number] | undefined): number | undefined {
  if (applied === undefined) return undefined;
  if (applied.doseNumberPositiveInt !== undefined) return applied.doseNumberPositiveInt;
  // doseNumberString: a number written as text ("2") counts; anything else ("booster") does not.
  const text = applied.doseNumberString?.trim();
  return text !== undefined && /^[1-9]\d{0,1}$/.test(text) ? Number(text) : undefined;
}
