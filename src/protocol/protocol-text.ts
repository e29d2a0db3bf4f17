import { createHash } from 'node:crypto';
import { isMap, isScalar, isSeq, parseDocument, type Node as YamlNode, type YAMLError } from 'yaml';
import { canonicalJson } from '../audit/canonical-json.js';
import type { z } from 'zod';
import { protocolSchema, type ProtocolDocument } from './protocol-schema.js';

// A protocol's text → the document the hub enforces and the bytes every party
// signs. Pure: the caller reads the file. The signed bytes are the RFC 8785
// canonical JSON of the parsed YAML as written (before zod fills defaults),
// so comments, key order and layout are not signed; values are.
// See: https://www.rfc-editor.org/rfc/rfc8785 and policies/README.md.

export interface ProtocolIssue {
  /** Dotted path into the document (`flows.2.consent`); empty for the whole document. */
  path: string;
  message: string;
}

export type ProtocolText =
  | { ok: true; document: ProtocolDocument; canonical: Uint8Array; digest: string }
  | { ok: false; issues: ProtocolIssue[] };

/** Parses and validates one protocol file's text; `source` (its file name) is for messages. */
export function parseProtocolText(text: string, source: string): ProtocolText {
  // YAML 1.2 core schema: `2026-01-01` stays a string; duplicate keys are errors.
  // See: https://yaml.org/spec/1.2.2/#103-core-schema
  const yaml = parseDocument(text, { schema: 'core', uniqueKeys: true, prettyErrors: true });
  // Warnings (an unresolved tag, say) are refused too: a signed text must mean one thing.
  const yamlProblems = [...yaml.errors, ...yaml.warnings];
  if (yamlProblems.length > 0) return { ok: false, issues: yamlProblems.map((e) => yamlIssue(yaml.contents, e)) };

  let raw: unknown;
  try {
    raw = yaml.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, issues: [{ path: '', message: `${source}: ${(err as Error).message}` }] };
  }
  const parsed = protocolSchema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, issues: parsed.error.issues.flatMap(schemaIssues) };
  }
  let canonical: Uint8Array;
  try {
    canonical = new TextEncoder().encode(canonicalJson(raw));
  } catch (err) {
    return { ok: false, issues: [{ path: '', message: `not JSON: ${(err as Error).message}` }] };
  }
  return { ok: true, document: parsed.data, canonical, digest: createHash('sha256').update(canonical).digest('hex') };
}

/** A zod issue as issues with dotted paths; an unknown key is named in its own path. */
function schemaIssues(issue: z.core.$ZodIssue): ProtocolIssue[] {
  const at = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...at, key].join('.'), message: 'unknown member (misspelt, or not part of a protocol)' }));
  return [{ path: at.join('.'), message: issue.message }];
}

function yamlIssue(contents: YamlNode | null, error: YAMLError): ProtocolIssue {
  const firstLine = error.message.split('\n', 1)[0] ?? error.message;
  return { path: pathAt(contents, error.pos[0]).join('.'), message: firstLine.replace(/:$/, '') };
}

/**
 * The keys and indexes leading to the innermost node that starts at or before
 * `offset` and has not ended: where the parser had got to when it found the problem.
 */
function pathAt(node: unknown, offset: number): string[] {
  const range = rangeOf(node);
  if (range === undefined || offset < range[0] || offset >= range[2]) return [];
  if (isMap(node)) {
    const pair = node.items.findLast((p) => (rangeOf(p.key)?.[0] ?? Infinity) <= offset);
    if (pair === undefined) return [];
    return [isScalar(pair.key) ? String(pair.key.value) : '?', ...pathAt(pair.value, offset)];
  }
  if (isSeq(node)) {
    const i = node.items.findLastIndex((item) => (rangeOf(item)?.[0] ?? Infinity) <= offset);
    return i < 0 ? [] : [String(i), ...pathAt(node.items[i], offset)];
  }
  return [];
}

function rangeOf(node: unknown): readonly [number, number, number] | undefined {
  return (node as { range?: readonly [number, number, number] } | null)?.range ?? undefined;
}
