// Rows of the complete-history CSV fixture's shape (test/fixtures/csv/immunisation-history.csv),
// for tests that send one more dose, a missed appointment or an address change for a child.

/** A CSV row of the history fixture's shape: one completed dose (or an address change carried by it), or a missed appointment. */
export function doseRow(nhs: string, dob: string, postcode: string, id: string, code: string, dose: number, given = '20261120T100000+00', missed = false): string {
  const header = 'NHS_NUMBER|PERSON_FORENAME|PERSON_SURNAME|PERSON_DOB|PERSON_GENDER_CODE|PERSON_POSTCODE|DATE_AND_TIME|SITE_CODE|SITE_CODE_TYPE_URI|UNIQUE_ID|UNIQUE_ID_URI|ACTION_FLAG|PERFORMING_PROFESSIONAL_FORENAME|PERFORMING_PROFESSIONAL_SURNAME|RECORDED_DATE|PRIMARY_SOURCE|VACCINATION_PROCEDURE_CODE|VACCINATION_PROCEDURE_TERM|DOSE_SEQUENCE|VACCINE_PRODUCT_CODE|VACCINE_PRODUCT_TERM|VACCINE_MANUFACTURER|BATCH_NUMBER|EXPIRY_DATE|SITE_OF_VACCINATION_CODE|SITE_OF_VACCINATION_TERM|ROUTE_OF_VACCINATION_CODE|ROUTE_OF_VACCINATION_TERM|DOSE_AMOUNT|DOSE_UNIT_CODE|DOSE_UNIT_TERM|INDICATION_CODE|LOCATION_CODE|LOCATION_CODE_TYPE_URI|STATUS|STATUS_REASON_CODE|STATUS_REASON_TERM|DUE_DATE';
  const cells = [nhs, 'Test', 'Testhistory', dob, '2', postcode, given, 'Y90001', 'https://fhir.nhs.uk/Id/ods-organization-code', id, 'https://eastside.example/fhir/Id/emis-imms', 'new', '', '', given.slice(0, 8), 'TRUE', code, '', String(dose), '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', ...(missed ? ['not-done', '201741000000102', 'Did not attend child immunisation', given.slice(0, 8)] : ['completed', '', '', ''])];
  return `${header}\n${cells.map((c) => `"${c}"`).join('|')}\n`;
}
