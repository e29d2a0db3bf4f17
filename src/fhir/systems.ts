/** Code systems and identifier systems the hub uses (fixtures README, DESIGN.md). */
export const SYSTEMS = {
  nhsNumber: 'https://fhir.nhs.uk/Id/nhs-number',
  odsCode: 'https://fhir.nhs.uk/Id/ods-organization-code',
  localOrg: 'urn:eastside:org',
  organisationType: 'urn:eastside:organisation-type',
  client: 'urn:eastside:client',
  purposeOfUse: 'https://eastside.example/fhir/CodeSystem/purpose-of-use',
  auditAgentRole: 'https://eastside.example/fhir/CodeSystem/audit-agent-role',
  auditEventType: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  restfulInteraction: 'http://hl7.org/fhir/restful-interaction',
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
  auditEntityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
  balpEntityType: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType',
  securitySourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  balpAuthZSubType: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType',
  resourceTypes: 'http://hl7.org/fhir/resource-types',
  protocolFlow: 'https://eastside.example/fhir/Id/isp-flow',
  auditEntityKind: 'https://eastside.example/fhir/CodeSystem/audit-entity',
  denyReason: 'https://eastside.example/fhir/CodeSystem/deny-reason',
  /** Kinds of notice the hub sends partners as Communications (consent-withdrawn, consent-narrowed). */
  noticeType: 'https://eastside.example/fhir/CodeSystem/notice-type',
} as const;
