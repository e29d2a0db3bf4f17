// Systems and codes the adapters emit. See ../../shared fixtures README and UK Core.

export const SNOMED = 'http://snomed.info/sct';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
export const LOCAL_ORG_SYSTEM = 'urn:eastside:org';
export const HUB_CODES = 'https://eastside.example/fhir/CodeSystem';
export const HUB_IDS = 'https://eastside.example/fhir/Id';
export const HUB_EXTENSIONS = 'https://eastside.example/fhir/StructureDefinition';

/** UK Core extension carrying the SNOMED vaccination procedure. */
export const VACCINATION_PROCEDURE_EXTENSION = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure';
/** UK Core extension: NHS number verification status. */
export const NHS_NUMBER_VERIFICATION_EXTENSION = 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus';
export const NHS_NUMBER_VERIFICATION_SYSTEM = 'https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland';
/** The hub's extension for the date a missed dose was due. */
export const DUE_DATE_EXTENSION = `${HUB_EXTENSIONS}/immunisation-due-date`;

/** "Did not attend child immunisation". */
export const DID_NOT_ATTEND_IMMUNISATION = '201741000000102';
/** vaccineCode when the source names no product (Immunization.vaccineCode is 1..1 in R4). */
export const VACCINE_NOT_RECORDED = { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' } as const;

/** v3-Confidentiality R (restricted): kept from routine sharing. See: https://terminology.hl7.org/CodeSystem-v3-Confidentiality.html */
export const RESTRICTED_LABEL = { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' } as const;
