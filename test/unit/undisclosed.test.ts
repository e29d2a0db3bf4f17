import type { Patient } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import type { StoredResource } from '../../src/db/resource-queries.js';
import { contentForRules, seal } from '../../src/db/undisclosed.js';
import type { FhirResult } from '../../src/services/fhir-result.js';

// Disclosure by construction (issue 10, Build 1): a stored row's content is not
// response content to the type checker. `npm run typecheck` checks the lines
// below marked as expected errors: if stored content ever became assignable to
// an answer again, they would stop being errors and the typecheck would fail.

const stored: StoredResource = {
  type: 'Patient',
  id: 'p1',
  versionId: 1,
  lastUpdated: new Date(0),
  sourceOrg: 'TEST-A',
  content: seal({ resourceType: 'Patient', id: 'p1' } satisfies Patient),
};

describe('stored content is undisclosed by type', () => {
  it('cannot be put in an answer without the decision', () => {
    // @ts-expect-error stored content is not a Resource: only DisclosureService.judge makes an answer of it
    const answer: FhirResult = { status: 200, body: stored.content };
    // @ts-expect-error nor is a Resource stored content without sealing it
    const row: StoredResource = { ...stored, content: { resourceType: 'Patient' } };
    expect(answer.status).toBe(200);
    expect(row.id).toBe('p1');
  });

  it('is the same object at run time: sealing and the rules accessor copy nothing', () => {
    const content: Patient = { resourceType: 'Patient', id: 'p2' };
    expect(contentForRules(seal(content))).toBe(content);
  });
});
