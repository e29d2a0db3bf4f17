// See: https://hl7.org/fhir/R4/relatedperson.html and UK Core RelatedPerson,
// https://fhir.hl7.org.uk/StructureDefinition/UKCore-RelatedPerson

Profile: EYHubRelatedPerson
Parent: RelatedPerson
Id: EYHub-RelatedPerson
Title: "Early Years Hub RelatedPerson"
Description: "A parent, carer or next of kin of a child (or, for an unborn child, of the mother), always with how they are related. Modelled on UK Core RelatedPerson (https://fhir.hl7.org.uk/StructureDefinition/UKCore-RelatedPerson) but derived from base R4 because UK Core packages cannot be loaded where the hub is built."
* ^purpose = "The hub matches a related person on who they relate to and how; a RelatedPerson without a relationship could be neither matched nor read. Canonical model: https://fhir.hl7.org.uk/StructureDefinition/UKCore-RelatedPerson"
* patient 1..1 MS
* relationship 1..* MS
* name MS
* extension contains ParentalResponsibility named parentalResponsibility 0..1 MS
