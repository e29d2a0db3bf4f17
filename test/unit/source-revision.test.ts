import type { Coding, FhirResource } from 'fhir/r4.js';
import { describe, expect, test } from 'vitest';
import { sameContent } from '../../src/fhir/resource-edits.js';
import { laterRevisionStored, revisionOf, revisionTag, SOURCE_REVISION_SYSTEM } from '../../src/fhir/source-revision.js';

// A sender's revision of a record (meta.tag): an older one never overwrites a later one.

const qr = (tag?: Coding[]): FhirResource => ({
  resourceType: 'QuestionnaireResponse',
  status: 'completed',
  ...(tag === undefined ? {} : { meta: { tag } }),
});

describe('source revisions', () => {
  test.each([
    ['no tag', qr(), undefined],
    ['revision 3', qr([revisionTag(3)]), 3],
    ['another system', qr([{ system: 'urn:other', code: '3' }]), undefined],
    ['not a number', qr([{ system: SOURCE_REVISION_SYSTEM, code: 'three' }]), undefined],
    ['zero', qr([{ system: SOURCE_REVISION_SYSTEM, code: '0' }]), undefined],
  ])('revisionOf: %s', (_name, resource, expected) => {
    expect(revisionOf(resource)).toBe(expected);
  });

  test.each([
    ['nothing held', qr(), 1, undefined],
    ['an older one held', qr([revisionTag(1)]), 2, undefined],
    ['the same held', qr([revisionTag(2)]), 2, undefined],
    ['a later one held', qr([revisionTag(3)]), 2, 3],
  ])('laterRevisionStored: %s', (_name, stored, incoming, expected) => {
    expect(laterRevisionStored(stored, incoming)).toBe(expected);
  });

  test('a new revision of the same content is still a change (sameContent sees tags)', () => {
    expect(sameContent(qr([revisionTag(1)]), qr([revisionTag(1)]))).toBe(true);
    expect(sameContent(qr([revisionTag(1)]), qr([revisionTag(2)]))).toBe(false);
  });
});
