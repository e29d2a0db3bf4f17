// See: https://hl7.org/fhir/R4/questionnaireresponse.html and UK Core QuestionnaireResponse,
// https://fhir.hl7.org.uk/StructureDefinition/UKCore-QuestionnaireResponse

Profile: EYHubQuestionnaireResponse
Parent: QuestionnaireResponse
Id: EYHub-QuestionnaireResponse
Title: "Early Years Hub QuestionnaireResponse"
Description: "An Early Help Assessment (CAF), answering the hub's Questionnaire https://eastside.example/fhir/Questionnaire/early-help-assessment, about a child or, for an unborn child, the mother. Modelled on UK Core QuestionnaireResponse (https://fhir.hl7.org.uk/StructureDefinition/UKCore-QuestionnaireResponse) but derived from base R4 because UK Core packages cannot be loaded where the hub is built."
* ^purpose = "Readers and redaction rules rely on the Questionnaire's stable linkIds, so the response must say which Questionnaire it answers and whom it is about. Canonical model: https://fhir.hl7.org.uk/StructureDefinition/UKCore-QuestionnaireResponse"
* questionnaire 1..1 MS
* status MS
* subject 1..1 MS
* authored MS
