// See: https://hl7.org/fhir/R4/consent.html and UK Core Consent,
// https://fhir.hl7.org.uk/StructureDefinition/UKCore-Consent

Profile: EYHubConsent
Parent: Consent
Id: EYHub-Consent
Title: "Early Years Hub Consent"
Description: "A family's decision about sharing under the Early Years information sharing protocol, as the maternity booking and the Early Help Assessment record it: whose (patient), what kind (scope, category) and the rule (provision). Modelled on UK Core Consent (https://fhir.hl7.org.uk/StructureDefinition/UKCore-Consent) but derived from base R4 because UK Core packages cannot be loaded where the hub is built."
* ^purpose = "The hub's sharing decisions read Consent.provision; a Consent without a patient or a provision could not be applied. Canonical model: https://fhir.hl7.org.uk/StructureDefinition/UKCore-Consent"
* scope MS
* category MS
* patient 1..1 MS
* provision 1..1 MS
* extension contains ConsentPregnancy named pregnancy 0..1 MS
