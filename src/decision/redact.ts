import type { Coding, Meta, Resource } from 'fhir/r4.js';

// What leaves the hub carries only the elements of the permitted data items:
// an allow-list projection, never a deny-list. A projected record is labelled
// so the recipient knows it is a subset (mandatory elements may be missing).
// See: https://hl7.org/fhir/R4/security-labels.html and
// https://hl7.org/fhir/R4/search.html#summary (the SUBSETTED tag).

export const REDACTED_LABEL: Coding = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'redacted' };
export const SUBSETTED_TAG: Coding = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };
const PURPOSE_SYSTEM = 'https://eastside.example/fhir/CodeSystem/purpose-of-use';

type Segment =
  | { kind: 'element'; name: string }
  | { kind: 'choice'; prefix: string }
  | { kind: 'extension'; url: string }
  | { kind: 'linkIdSuffix'; name: string; suffix: string };

interface PathTree {
  /** The whole value is kept. */
  whole: boolean;
  children: Map<string, { segment: Segment; tree: PathTree }>;
}

/** Parses "name.given", "occurrence[x]", "extension('url')", "item.where(linkId.endsWith('.needs'))". */
function segmentsOf(path: string): Segment[] {
  const segments: Segment[] = [];
  const re = /item\.where\(linkId\.endsWith\('([^']+)'\)\)|extension\('([^']+)'\)|([a-z][A-Za-z]*)(\[x\])?/y;
  let at = 0;
  while (at < path.length) {
    re.lastIndex = at;
    const m = re.exec(path);
    if (m === null) throw new Error(`not an element path: ${path}`);
    if (m[1] !== undefined) segments.push({ kind: 'linkIdSuffix', name: 'item', suffix: m[1] });
    else if (m[2] !== undefined) segments.push({ kind: 'extension', url: m[2] });
    else if (m[4] !== undefined) segments.push({ kind: 'choice', prefix: m[3] ?? '' });
    else segments.push({ kind: 'element', name: m[3] ?? '' });
    at = re.lastIndex;
    if (path[at] === '.') at += 1;
  }
  return segments;
}

const treeCache = new Map<string, PathTree>();

function treeOf(paths: readonly string[]): PathTree {
  const key = paths.join('\n');
  const cached = treeCache.get(key);
  if (cached !== undefined) return cached;
  const root: PathTree = { whole: false, children: new Map() };
  for (const path of paths) {
    let node = root;
    for (const segment of segmentsOf(path)) {
      const k = JSON.stringify(segment);
      let child = node.children.get(k);
      if (child === undefined) {
        child = { segment, tree: { whole: false, children: new Map() } };
        node.children.set(k, child);
      }
      node = child.tree;
    }
    node.whole = true;
  }
  if (treeCache.size < 1000) treeCache.set(key, root);
  return root;
}

/** Keys of an object a segment selects (with the `_name` sibling that carries a primitive's extensions). */
function keysFor(segment: Segment, value: Record<string, unknown>): string[] {
  switch (segment.kind) {
    case 'element':
      return [segment.name, `_${segment.name}`];
    case 'choice':
      return Object.keys(value).filter((k) => {
        const bare = k.startsWith('_') ? k.slice(1) : k;
        return bare.startsWith(segment.prefix) && /^[A-Z]/.test(bare.slice(segment.prefix.length));
      });
    case 'extension':
      return ['extension'];
    case 'linkIdSuffix':
      return [segment.name];
  }
}

function itemFilter(segment: Segment): ((item: unknown) => boolean) | undefined {
  switch (segment.kind) {
    case 'extension':
      return (item) => isObject(item) && item['url'] === segment.url;
    case 'linkIdSuffix':
      return (item) => isObject(item) && typeof item['linkId'] === 'string' && item['linkId'].endsWith(segment.suffix);
    case 'element':
    case 'choice':
      return undefined;
  }
}

function project(value: unknown, tree: PathTree): unknown {
  if (tree.whole) return value;
  if (Array.isArray(value)) {
    const kept = value.map((v) => project(v, tree)).filter((v) => v !== undefined);
    return kept.length === 0 ? undefined : kept;
  }
  if (!isObject(value)) return undefined;
  // Several paths may reach one key (`extension` and `extension('url')`, two
  // extensions, `value[x]` and `valueString`): gather them, so each entry is
  // kept once, in its place, with everything any of them keeps of it.
  const routes = new Map<string, Route[]>();
  for (const { segment, tree: sub } of tree.children.values()) {
    for (const key of keysFor(segment, value)) {
      if (Object.hasOwn(value, key)) routes.set(key, [...(routes.get(key) ?? []), { filter: itemFilter(segment), tree: sub }]);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, via] of routes) {
    const projected = projectRoutes(value[key], via);
    if (projected !== undefined) out[key] = projected;
  }
  if (Object.keys(out).length === 0) return undefined;
  // A kept questionnaire item keeps its linkId: without it the answer means nothing.
  if (typeof value['linkId'] === 'string' && out['linkId'] === undefined) return { linkId: value['linkId'], ...out };
  return out;
}

interface Route {
  /** Which entries of a repeating element the path selects (by extension URL or linkId); undefined: all. */
  filter: ((item: unknown) => boolean) | undefined;
  tree: PathTree;
}

function projectRoutes(value: unknown, routes: readonly Route[]): unknown {
  if (routes.every((r) => r.filter === undefined)) return project(value, unionOf(routes.map((r) => r.tree)));
  const kept = (Array.isArray(value) ? value : [value]).flatMap((entry) => {
    const trees = routes.filter((r) => r.filter === undefined || r.filter(entry)).map((r) => r.tree);
    const projected = trees.length === 0 ? undefined : project(entry, unionOf(trees));
    return projected === undefined ? [] : [projected];
  });
  return kept.length === 0 ? undefined : kept;
}

/** The tree that keeps whatever any of `trees` keeps. */
function unionOf(trees: readonly PathTree[]): PathTree {
  if (trees.length === 1 && trees[0] !== undefined) return trees[0];
  const union: PathTree = { whole: trees.some((t) => t.whole), children: new Map() };
  for (const t of trees) {
    for (const [k, child] of t.children) {
      const other = union.children.get(k);
      union.children.set(k, other === undefined ? child : { segment: child.segment, tree: unionOf([other.tree, child.tree]) });
    }
  }
  return union;
}

/**
 * The record as the recipient may see it: resourceType, id and meta, plus
 * the listed elements. Labelled REDACTED/SUBSETTED when anything was left
 * out, and with the purpose of use the disclosure was made for.
 */
export function redact<T extends Resource>(resource: T, elements: readonly string[], purpose: string): T {
  const source = resource as unknown as Record<string, unknown>;
  const kept = (project(source, treeOf(elements)) ?? {}) as Record<string, unknown>;
  delete kept['resourceType'];
  delete kept['id'];
  delete kept['meta'];
  const omitted = Object.keys(source).some((k) => !['resourceType', 'id', 'meta'].includes(k) && !Object.hasOwn(kept, k)) || !sameJson(kept, source);
  const meta: Meta = { ...(resource.meta ?? {}) };
  if (omitted) {
    delete meta.profile;
    meta.security = [...(meta.security ?? []), REDACTED_LABEL];
    meta.tag = [...(meta.tag ?? []), SUBSETTED_TAG];
  }
  meta.security = [...(meta.security ?? []), { system: PURPOSE_SYSTEM, code: purpose }];
  return { resourceType: resource.resourceType, ...(resource.id === undefined ? {} : { id: resource.id }), meta, ...kept } as unknown as T;
}

function sameJson(kept: Record<string, unknown>, source: Record<string, unknown>): boolean {
  for (const [k, v] of Object.entries(kept)) if (JSON.stringify(v) !== JSON.stringify(source[k])) return false;
  return true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
