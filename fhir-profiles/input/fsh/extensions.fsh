// Extensions the hub's resources carry.
// See: https://hl7.org/fhir/R4/extensibility.html#Extension
//
// Two are UK Core's. UK Core packages cannot be loaded where the hub is built,
// so they are defined here as local stand-ins under UK Core's own canonical
// URLs, with the same context and value type as UK Core's definitions
// (https://github.com/NHSDigital/FHIR-R4-UKCORE-STAGING-MAIN); their value set
// bindings are left out (UK Core's value sets cannot be loaded either). Were UK
// Core ever loadable, these two definitions should be deleted in its favour.

Extension: ExtensionUKCoreVaccinationProcedure
Id: Extension-UKCore-VaccinationProcedure
Title: "Vaccination Procedure (UK Core, local stand-in)"
Description: "The SNOMED CT procedure of a vaccination (e.g. 'Administration of first dose of rotavirus vaccine'), which is how NHS England systems say which vaccination in the schedule it was. Local stand-in for https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure (UK Core, which cannot be loaded here): same URL, context and value type; UK Core's preferred binding to https://fhir.hl7.org.uk/ValueSet/UKCore-VaccinationProcedure is left out."
Context: Immunization
* ^url = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-VaccinationProcedure"
* ^purpose = "Carry NHS England immunisation records without losing the vaccination procedure, as UK Core does."
* extension 0..0
* value[x] 1..1
* value[x] only CodeableConcept

Extension: ExtensionUKCoreNHSNumberVerificationStatus
Id: Extension-UKCore-NHSNumberVerificationStatus
Title: "NHS Number Verification Status (UK Core, local stand-in)"
Description: "How far an NHS number has been traced and verified (e.g. '01' Number present and verified), on the patient's NHS number identifier. Local stand-in for https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus (UK Core, which cannot be loaded here): same URL, context and value type; UK Core's required binding to https://fhir.hl7.org.uk/ValueSet/UKCore-NHSNumberVerificationStatus is left out."
Context: Patient.identifier
* ^url = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
* ^purpose = "Keep the verification status PDS and NEMS messages send with an NHS number, as UK Core does."
* extension 0..0
* value[x] 1..1
* value[x] only CodeableConcept

Extension: ImmunisationDueDate
Id: immunisation-due-date
Title: "Immunisation due date"
Description: "The date a dose was due, on an Immunization that records it as missed (status not-done). R4 Immunization has no element for it."
Context: Immunization
* ^purpose = "Health visitors follow up missed doses by how overdue they are."
* extension 0..0
* value[x] 1..1
* value[x] only date

Extension: PregnancyOutcome
Id: pregnancy-outcome
Title: "Pregnancy outcome"
Description: "How a pregnancy ended, on the pregnancy EpisodeOfCare the hub finishes when a birth is notified: live-birth, stillbirth or neonatal-death (the hub's codes; the ingest service writes exactly these). One per baby, in the same order as pregnancy-baby."
Context: EpisodeOfCare
* ^purpose = "R4 EpisodeOfCare has no outcome element; the birth notification is what ends the pregnancy episode."
* extension 0..0
* value[x] 1..1
* value[x] only code

Extension: PregnancyBaby
Id: pregnancy-baby
Title: "Baby of the pregnancy"
Description: "The baby born of the pregnancy this EpisodeOfCare records, written when a birth notification is ingested."
Context: EpisodeOfCare
* ^purpose = "Link mother's pregnancy and baby's record, which R4 EpisodeOfCare cannot express."
* extension 0..0
* value[x] 1..1
* value[x] only Reference(Patient)

Extension: ConsentPregnancy
Id: consent-pregnancy
Title: "Pregnancy the consent was given for"
Description: "The pregnancy EpisodeOfCare a maternity booking consent was recorded in, so the consent can be read with the episode it belongs to."
Context: Consent
* ^purpose = "The booking consent covers sharing about this pregnancy and the baby born of it."
* extension 0..0
* value[x] 1..1
* value[x] only Reference(EpisodeOfCare)

Extension: ParentalResponsibility
Id: parental-responsibility
Title: "Parental responsibility"
Description: "Whether this person holds parental responsibility for the child (Children Act 1989 s.3), as the Early Help Assessment records it. R4 RelatedPerson has no element for it."
Context: RelatedPerson
* ^purpose = "Who may consent for a child depends on parental responsibility, not on the relationship alone."
* extension 0..0
* value[x] 1..1
* value[x] only boolean

Extension: MissedDoseCaughtUp
Id: missed-dose-caught-up
Title: "Missed dose caught up"
Description: "On a missed dose (Immunization status not-done): when the same vaccination was later given. The hub adds it, as a new version, when a completed dose of the same vaccination procedure arrives for the same child; the missed record keeps its status and reason."
Context: Immunization
* ^purpose = "A children's centre's follow-up list of missed doses must see when one stops being outstanding, through an incremental pull."
* extension 0..0
* value[x] 1..1
* value[x] only dateTime
