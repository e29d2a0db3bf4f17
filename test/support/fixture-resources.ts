import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isResourceType } from '@medplum/core';
import type { Resource } from 'fhir/r4.js';

// Every FHIR resource in the repository's own fixtures and golden files, for
// tests that compare two implementations of one rule over real shapes.

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? jsonFiles(path.join(dir, d.name)) : d.name.endsWith('.json') ? [path.join(dir, d.name)] : [],
  );
}

/** Every object with an R4 resourceType, however deep (Bundle entries, golden adapter results). */
export function resourcesIn(value: unknown): Resource[] {
  if (Array.isArray(value)) return value.flatMap(resourcesIn);
  if (typeof value !== 'object' || value === null) return [];
  const v = value as Record<string, unknown>;
  const own = typeof v['resourceType'] === 'string' && isResourceType(v['resourceType']) && v['meta']?.constructor !== Array ? [v as unknown as Resource] : [];
  return [...own, ...Object.values(v).flatMap(resourcesIn)];
}

/** The resources in test/fixtures and test/golden (files that are not JSON a test reads as such are skipped). */
export function fixtureResources(): Resource[] {
  const files = [...jsonFiles(path.resolve('test/fixtures')), ...jsonFiles(path.resolve('test/golden'))];
  return files.flatMap((f) => {
    try {
      return resourcesIn(JSON.parse(readFileSync(f, 'utf8')));
    } catch {
      return [];
    }
  });
}
