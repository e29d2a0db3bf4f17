// See: https://hl7.org/fhir/R4/provenance.html and UK Core Provenance,
// https://fhir.hl7.org.uk/StructureDefinition/UKCore-Provenance

Profile: EYHubProvenance
Parent: Provenance
Id: EYHub-Provenance
Title: "Early Years Hub Provenance"
Description: "What the hub made from which inbound message, for whom: written with every ingested unit. Modelled on UK Core Provenance (https://fhir.hl7.org.uk/StructureDefinition/UKCore-Provenance) but derived from base R4 because UK Core packages cannot be loaded where the hub is built; target, recorded and agent are already required in R4."
* ^purpose = "Every resource version the hub writes from a message can be traced to the raw message (entity) and the event (activity). Canonical model: https://fhir.hl7.org.uk/StructureDefinition/UKCore-Provenance"
* target MS
* recorded MS
* activity 1..1 MS
* agent MS
* entity 1..* MS
