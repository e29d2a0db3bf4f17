// See: https://hl7.org/fhir/R4/immunization.html and UK Core Immunization,
// https://fhir.hl7.org.uk/StructureDefinition/UKCore-Immunization

Profile: EYHubImmunization
Parent: Immunization
Id: EYHub-Immunization
Title: "Early Years Hub Immunization"
Description: "A vaccination given, or due and not given, to a child. Modelled on UK Core Immunization (https://fhir.hl7.org.uk/StructureDefinition/UKCore-Immunization), with its VaccinationProcedure extension, but derived from base R4 because UK Core packages cannot be loaded where the hub is built."
* ^purpose = "Health visitors and GP practices see which doses a child has had and which were missed, and why. Canonical model: https://fhir.hl7.org.uk/StructureDefinition/UKCore-Immunization"
* obeys eyhub-imm-1
* extension contains
    ExtensionUKCoreVaccinationProcedure named vaccinationProcedure 0..1 MS and
    ImmunisationDueDate named dueDate 0..1 MS and
    MissedDoseCaughtUp named caughtUp 0..1 MS
* status MS
* statusReason MS
* vaccineCode MS
* patient 1..1 MS
// Every adapter sends a date and time; a free-text occurrenceString is never emitted.
* occurrence[x] only dateTime
* occurrence[x] MS

Invariant: eyhub-imm-1
Description: "statusReason is required when the vaccination was not done (status not-done): a missed dose says why."
Expression: "status = 'not-done' implies statusReason.exists()"
Severity: #error
