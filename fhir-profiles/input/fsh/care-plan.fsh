// See: https://hl7.org/fhir/R4/careplan.html and UK Core CarePlan,
// https://fhir.hl7.org.uk/StructureDefinition/UKCore-CarePlan

Profile: EYHubCarePlan
Parent: CarePlan
Id: EYHub-CarePlan
Title: "Early Years Hub CarePlan"
Description: "The action plan of an Early Help Assessment. Modelled on UK Core CarePlan (https://fhir.hl7.org.uk/StructureDefinition/UKCore-CarePlan) but derived from base R4 because UK Core packages cannot be loaded where the hub is built; status, intent and subject are already required in R4."
* ^purpose = "Name the hub's CarePlan so the hub's own checks of its required codes (status, intent, activity.detail.status) apply to it. Canonical model: https://fhir.hl7.org.uk/StructureDefinition/UKCore-CarePlan"
* status MS
* intent MS
* subject MS
* activity MS
