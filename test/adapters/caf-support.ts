import fc from 'fast-check';
import type { FhirResource, QuestionnaireItem, QuestionnaireResponseItem } from 'fhir/r4.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { z } from 'zod';
import { CAF_QUESTIONNAIRE, CAF_QUESTIONNAIRE_CANONICAL } from '../../src/adapters/caf-questionnaire.js';
import type { cafExportSchema } from '../../src/adapters/caf-schema.js';
import { adaptCaf } from '../../src/adapters/caf.js';
import type { AdapterResult, IngestUnit } from '../../src/adapters/ingest-unit.js';
import { rewriteReferences } from '../../src/fhir/resource-edits.js';
import { validateAgainstProfile } from '../../src/fhir/profiles.js';
import { validateFhir } from '../../src/fhir/validator.js';
import { sharedFixtures } from '../conformance/shared-fixtures.js';
import { readFixture } from '../support/golden.js';

// Helpers for the CAF adapter's tests: loading exports, picking resources out
// of a unit, and the checks every accepted unit must pass.

/** An export as sent (before parsing), typed so that edits below say what they break. */
export type CafInput = z.input<typeof cafExportSchema>;
export const load = async (name: string): Promise<CafInput> => JSON.parse(await readFixture(`caf/${name}.json`)) as CafInput;
/** For edits that put a wrong type where the schema expects another. */
export const loose = (o: object): Record<string, unknown> => o as Record<string, unknown>;
export const loadShared = (relative: string): unknown => JSON.parse(readFileSync(path.join(sharedFixtures, relative), 'utf8'));

export function unitOf(result: AdapterResult<IngestUnit>): IngestUnit {
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.issues)}`);
  return result.value;
}
export function all<T extends FhirResource['resourceType']>(unit: IngestUnit, type: T): Extract<FhirResource, { resourceType: T }>[] {
  return unit.entries.map((e) => e.resource).filter((r): r is Extract<FhirResource, { resourceType: T }> => r.resourceType === type);
}
export function one<T extends FhirResource['resourceType']>(unit: IngestUnit, type: T): Extract<FhirResource, { resourceType: T }> {
  const found = all(unit, type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
}
export const urlOf = (unit: IngestUnit, resource: FhirResource): string => unit.entries.find((e) => e.resource === resource)!.fullUrl;

/** Every urn:uuid reference in the unit names one of its entries. */
export function danglingReferences(unit: IngestUnit): string[] {
  const urls = new Set(unit.entries.map((e) => e.fullUrl));
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'reference' && typeof x === 'string' && !urls.has(x)) out.push(x);
        else walk(x);
      }
    }
  };
  for (const e of unit.entries) walk(e.resource);
  return out;
}

/** Walks a response against the form: every linkId exists where it sits, with an answer of the item's type. */
export function mismatches(items: readonly QuestionnaireResponseItem[], form: readonly QuestionnaireItem[]): string[] {
  const valueKey: Partial<Record<QuestionnaireItem['type'], string>> = { text: 'valueString', string: 'valueString', date: 'valueDate', boolean: 'valueBoolean' };
  return items.flatMap((item) => {
    const q = form.find((f) => f.linkId === item.linkId);
    if (q === undefined) return [`${item.linkId}: not in the Questionnaire here`];
    if (q.type === 'group') {
      if (item.answer !== undefined) return [`${item.linkId}: a group has no answer`];
      return (item.item ?? []).length === 0 ? [`${item.linkId}: empty group`] : mismatches(item.item ?? [], q.item ?? []);
    }
    const answers = item.answer ?? [];
    const problems = answers.flatMap((a) => (Object.keys(a).join() === valueKey[q.type] ? [] : [`${item.linkId}: ${Object.keys(a).join()} for a ${q.type} item`]));
    if (answers.length === 0) problems.push(`${item.linkId}: no answer`);
    if (answers.length > 1 && q.repeats !== true) problems.push(`${item.linkId}: several answers to a non-repeating item`);
    if (item.item !== undefined) problems.push(`${item.linkId}: nested items under a question`);
    return problems;
  });
}

export function expectWellFormed(unit: IngestUnit): void {
  expect(danglingReferences(unit)).toEqual([]);
  expect(new Set(unit.entries.map((e) => e.fullUrl)).size).toBe(unit.entries.length);
  // Validate as the ingest service does: after the urn:uuid references become "Type/id" (and the store gives an id).
  const ids = new Map(unit.entries.map((e, i) => [e.fullUrl, `${e.resource.resourceType}/${i}`]));
  for (const entry of unit.entries) {
    const stored = rewriteReferences(entry.resource, ids);
    expect(validateFhir(stored), `${entry.resource.resourceType} is valid R4`).toEqual({ ok: true });
    expect(validateAgainstProfile({ ...stored, id: 'checked' }), `${entry.resource.resourceType} meets the hub's profile`).toEqual({ ok: true });
    expect(Object.keys(entry.resource)).not.toContain('id'); // the store assigns ids and versions
    // meta carries only what the message says (labels, the sender's revision tag), never the store's version.
    expect(Object.keys(entry.resource.meta ?? {}).filter((k) => k !== 'security' && k !== 'tag')).toEqual([]);
  }
  for (const qr of all(unit, 'QuestionnaireResponse')) {
    expect(qr.questionnaire).toBe(CAF_QUESTIONNAIRE_CANONICAL);
    expect(mismatches(qr.item ?? [], CAF_QUESTIONNAIRE.item ?? [])).toEqual([]);
  }
}

/** Nothing crashes the adapter, and every refusal says where and why. */
export function expectTotal(input: unknown): void {
  const result = adaptCaf(input);
  expect(adaptCaf(input)).toEqual(result); // deterministic
  if (result.ok) {
    expectWellFormed(result.value);
    return;
  }
  expect(result.issues.length).toBeGreaterThan(0);
  for (const issue of result.issues) {
    expect(issue.location).not.toBe('');
    expect(issue.diagnostics).not.toBe('');
  }
}

/** Every path to a value inside a JSON document. */
export function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => [[...prefix, i], ...pathsOf(v, [...prefix, i])]);
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])]);
  return [];
}

export function mutate(doc: unknown, at: (string | number)[], replacement: { del: true } | { value: unknown }): unknown {
  const copy: unknown = structuredClone(doc);
  let parent = copy as Record<string | number, unknown>;
  for (const key of at.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = at[at.length - 1]!;
  if ('del' in replacement) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else Reflect.deleteProperty(parent, last);
  } else parent[last] = replacement.value;
  return copy;
}

/** Random edits of a valid export: delete a key or element, or put any JSON (or any text) in its place. */
export const edits = fc.array(
  fc.record({
    at: fc.nat(),
    change: fc.oneof(
      fc.constant({ del: true as const }),
      fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }).map((value) => ({ value })),
      fc.string({ unit: 'binary' }).map((value) => ({ value })),
    ),
  }),
  { minLength: 1, maxLength: 4 },
);

/** Applies edits one after another, each at a path of the document as it then is. */
export function applyEdits(doc: unknown, list: readonly { at: number; change: { del: true } | { value: unknown } }[]): unknown {
  let current = doc;
  for (const { at, change } of list) {
    const live = pathsOf(current);
    if (live.length === 0) break;
    current = mutate(current, live[at % live.length]!, change);
  }
  return current;
}
