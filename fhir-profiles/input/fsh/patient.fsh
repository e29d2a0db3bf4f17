// See: https://hl7.org/fhir/R4/patient.html and UK Core Patient,
// https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient

Profile: EYHubPatient
Parent: Patient
Id: EYHub-Patient
Title: "Early Years Hub Patient"
Description: "A child, or a parent or carer with an NHS number, as the hub records them: always identified by NHS number. Modelled on UK Core Patient (https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient), whose identifier slice nhsNumber it follows, but derived from base R4 because UK Core packages cannot be loaded where the hub is built."
* ^purpose = "The hub keeps one Patient per NHS number and matches every inbound record on it. Canonical model: https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
* obeys eyhub-pat-1
* identifier 1..* MS
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier ^slicing.description = "Sliced by system, as UK Core Patient is: the NHS number is required, other identifiers may follow."
* identifier contains nhsNumber 1..1 MS
* identifier[nhsNumber] ^short = "The patient's NHS number"
* identifier[nhsNumber].system 1..1 MS
* identifier[nhsNumber].system = $NHSNumber (exactly)
* identifier[nhsNumber].value 1..1 MS
// UK Core also slices Extension-UKCore-NHSNumberVerificationStatus inside
// identifier:nhsNumber. Not here: @medplum/core 4.5.2 reads a slice nested in a
// slice as a sibling of it, and would then never match the NHS number. The
// extension's own context (Patient.identifier) allows it there, and
// src/fhir/profiles.ts checks its context and value type.
* name MS
* gender MS
* birthDate MS

Invariant: eyhub-pat-1
Description: "An NHS number is ten digits."
Expression: "identifier.where(system = 'https://fhir.nhs.uk/Id/nhs-number').all(value.matches('^[0-9]{10}$'))"
Severity: #error
