import type { Response } from 'express';
import type { FhirResult } from '../services/fhir-service.js';
import type { Problem } from '../fhir/operation-outcome.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export function sendFhir(res: Response, result: FhirResult): void {
  res.status(result.status);
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
  if (result.body === undefined) {
    res.end();
    return;
  }
  res.type(FHIR_JSON).send(JSON.stringify(result.body));
}

export function sendProblem(res: Response, p: Problem): void {
  sendFhir(res, { status: p.status, body: p.outcome });
}
