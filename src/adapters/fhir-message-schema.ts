import { z } from 'zod';
import type { AdapterIssue } from './ingest-unit.js';

// The parts of a message Bundle the adapter reads, checked before it reads
// them: a malformed message is refused naming the path, never crashes.

const coding = z.looseObject({ system: z.string().optional(), code: z.string().optional(), display: z.string().optional() });
const concept = z.looseObject({ coding: z.array(coding).optional(), text: z.string().optional() });
const reference = z.looseObject({ reference: z.string().optional() });
const identifier = z.looseObject({
  system: z.string().optional(),
  value: z.string().optional(),
  extension: z.array(z.looseObject({ url: z.string(), valueCodeableConcept: concept.optional() })).optional(),
});
const extension = z.looseObject({ url: z.string(), valueCodeableConcept: concept.optional() });

const resource = z.looseObject({ resourceType: z.string().min(1), id: z.string().optional(), extension: z.array(extension).optional() });

export const messageEnvelope = z.looseObject({
  resourceType: z.literal('Bundle'),
  type: z.string(),
  entry: z
    .array(z.looseObject({ fullUrl: z.string().optional(), resource: resource.optional() }))
    .min(1),
});

/** STU3 (NEMS) resources: the elements the conversion reads, by type. */
export const stu3Resources: Record<string, z.ZodType> = {
  MessageHeader: resource.extend({ event: coding.optional(), responsible: reference.optional() }),
  Patient: resource.extend({
    identifier: z.array(identifier).optional(),
    birthDate: z.string().optional(),
    generalPractitioner: z.array(reference).optional(),
    name: z.array(z.looseObject({})).optional(),
    // Security labels (v3-Confidentiality R, V…) are carried over: a restriction must survive the conversion.
    meta: z.looseObject({ security: z.array(coding).optional() }).optional(),
  }),
  RelatedPerson: resource.extend({ patient: reference.optional(), relationship: concept.optional() }),
  Observation: resource.extend({ code: concept, subject: reference.optional(), valueCodeableConcept: concept.optional(), category: z.array(concept).optional() }),
  Immunization: resource.extend({
    identifier: z.array(identifier).optional(),
    status: z.string().optional(),
    notGiven: z.boolean().optional(),
    vaccineCode: concept,
    date: z.string().optional(),
    explanation: z.looseObject({ reason: z.array(concept).optional(), reasonNotGiven: z.array(concept).optional() }).optional(),
    practitioner: z.array(z.looseObject({ actor: reference.optional() })).optional(),
    vaccinationProtocol: z.array(z.looseObject({ doseSequence: z.number().int().positive().optional() })).optional(),
  }),
  Organization: resource.extend({ identifier: z.array(identifier).optional() }),
};

/** zod issues → adapter issues at FHIRPath-like locations ("Bundle.entry[2].resource.code"). */
export function zodIssues(error: z.ZodError, prefix: string): AdapterIssue[] {
  return error.issues.map((i) => ({
    code: i.code === 'invalid_type' && i.input === undefined ? 'required' : 'structure',
    diagnostics: i.message,
    location: i.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : `${acc}.${String(p)}`), prefix),
  }));
}
