import type { Resource } from 'fhir/r4.js';
import type { StoredResource } from '../db/resource-queries.js';
import type { Problem } from '../fhir/operation-outcome.js';
import type { Judged } from './disclosure-service.js';

/** What a FHIR interaction answers: the HTTP layer sends it as it is. */
export interface FhirResult {
  status: number;
  body?: Resource;
  headers?: Record<string, string>;
}

export function toResult(p: Problem): FhirResult {
  return { status: p.status, body: p.outcome };
}

/** The FHIR base the hub's links and Locations start with. */
export function fhirBase(baseUrl: string): string {
  return `${baseUrl}/fhir`;
}

/** A record's version and time; a Patient answered with the requester's own statement has no version, and its statement's time. */
export function answerHeaders(judged: Judged): Record<string, string> {
  if (judged.statement !== undefined) return { 'Last-Modified': judged.statement.saidAt.toUTCString() };
  return versionHeaders(judged.row);
}

export function versionHeaders(row: StoredResource): Record<string, string> {
  return { ETag: `W/"${row.versionId}"`, 'Last-Modified': row.lastUpdated.toUTCString() };
}
