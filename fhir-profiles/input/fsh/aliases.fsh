// Systems the profiles name. See: https://build.fhir.org/ig/HL7/fhir-shorthand/reference.html#defining-aliases
Alias: $SCT = http://snomed.info/sct
Alias: $NHSNumber = https://fhir.nhs.uk/Id/nhs-number
