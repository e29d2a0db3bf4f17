// See: https://hl7.org/fhir/R4/observation.html and UK Core Observation,
// https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation

Profile: EYHubObservation
Parent: Observation
Id: EYHub-Observation
Title: "Early Years Hub Observation"
Description: "A fact about a mother or baby from a maternity or birth notification (estimated delivery date, birth weight, gestation, births at delivery, stillbirth indicator). Modelled on UK Core Observation (https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation) but derived from base R4 because UK Core packages cannot be loaded where the hub is built."
* ^purpose = "Every observation the hub keeps is about someone: shared and audited per patient. Canonical model: https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation"
* status MS
* code MS
* subject 1..1 MS
* value[x] MS
