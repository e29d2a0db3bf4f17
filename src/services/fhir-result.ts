import type { Resource } from 'fhir/r4.js';
import type { Problem } from '../fhir/operation-outcome.js';

/** What a FHIR interaction answers: the HTTP layer sends it as it is. */
export interface FhirResult {
  status: number;
  body?: Resource;
  headers?: Record<string, string>;
}

export function toResult(p: Problem): FhirResult {
  return { status: p.status, body: p.outcome };
}
