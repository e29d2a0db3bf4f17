// See: https://hl7.org/fhir/R4/episodeofcare.html and UK Core EpisodeOfCare,
// https://fhir.hl7.org.uk/StructureDefinition/UKCore-EpisodeOfCare

Profile: EYHubEpisodeOfCare
Parent: EpisodeOfCare
Id: EYHub-EpisodeOfCare
Title: "Early Years Hub pregnancy EpisodeOfCare"
Description: "A pregnancy, from the maternity booking until the birth is notified: the only EpisodeOfCare the hub emits. Typed SNOMED CT 77386006 |Pregnancy|. Modelled on UK Core EpisodeOfCare (https://fhir.hl7.org.uk/StructureDefinition/UKCore-EpisodeOfCare) but derived from base R4 because UK Core packages cannot be loaded where the hub is built."
* ^purpose = "A birth notification finds the mother's active pregnancy episode by this type, finishes it and records the outcome and the baby. Canonical model: https://fhir.hl7.org.uk/StructureDefinition/UKCore-EpisodeOfCare"
* status MS
* type 1..* MS
* type ^slicing.discriminator.type = #pattern
* type ^slicing.discriminator.path = "$this"
* type ^slicing.rules = #open
* type ^slicing.description = "The pregnancy type is required; other types may follow."
* type contains pregnancy 1..1 MS
* type[pregnancy] = $SCT#77386006
* patient MS
* period MS
// One outcome and one baby per birth notified (twins: two of each, in order).
* extension contains
    PregnancyOutcome named outcome 0..* MS and
    PregnancyBaby named baby 0..* MS
