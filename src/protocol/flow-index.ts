import type { CompiledItem, Flow } from './protocol-schema.js';

// The flows of a protocol version arranged for the decision: by the
// recipient's organisation type, then by the record's resource type, in the
// protocol's own order. A flow that does not go to the recipient's type, or
// whose data items carry nothing of the record's type, can never apply, so
// the decision does not look at it. Built once per compiled flow list (one
// protocol version) and kept beside it; nothing in it depends on a request.

/** Which of a flow's items cover a record, and what they carry, for one resource type. */
export interface ItemsCovered {
  /** The items' names, in the flow's order. */
  items: readonly string[];
  /** Their element paths (after the type name), in order, without repeats. */
  elements: readonly string[];
}

/** A flow as a candidate for records of one resource type. */
export interface FlowCandidate {
  flow: Flow;
  /** The flow's items with elements of this type, in the flow's order. */
  items: readonly CompiledItem[];
  /**
   * What a subset of `items` carries, by the bit mask of the subset (bit i: items[i] covers the record).
   * Precomputed, so a permit shares these frozen arrays rather than building its own; empty when the
   * flow has more than MAX_PRECOMPUTED_ITEMS items of the type (the decision then builds it).
   */
  covered: readonly ItemsCovered[];
}

export type FlowIndex = ReadonlyMap<string, ReadonlyMap<string, readonly FlowCandidate[]>>;

/** Items per flow and type above which the subsets are not precomputed (2^n of them). */
const MAX_PRECOMPUTED_ITEMS = 8;

const NONE: readonly FlowCandidate[] = Object.freeze([]);
const built = new WeakMap<readonly Flow[], FlowIndex>();

/** The flows that may carry a record of this type to this type of recipient, in the protocol's order. */
export function candidateFlows(flows: readonly Flow[], recipientType: string, resourceType: string): readonly FlowCandidate[] {
  let index = built.get(flows);
  if (index === undefined) {
    // A flow list not made by compileFlows (a test's hand-built protocol): indexed on first use.
    index = indexFlows(flows);
    built.set(flows, index);
  }
  return index.get(recipientType)?.get(resourceType) ?? NONE;
}

/** Indexes a compiled flow list once; candidateFlows then finds it. Returns the list. */
export function withFlowIndex<T extends readonly Flow[]>(flows: T): T {
  built.set(flows, indexFlows(flows));
  return flows;
}

function indexFlows(flows: readonly Flow[]): FlowIndex {
  const index = new Map<string, Map<string, FlowCandidate[]>>();
  for (const flow of flows) {
    const types = new Set(flow.items.flatMap((item) => [...item.elements.keys()]));
    for (const recipient of new Set(flow.to)) {
      const byType = index.get(recipient) ?? new Map<string, FlowCandidate[]>();
      index.set(recipient, byType);
      for (const type of types) {
        const list = byType.get(type) ?? [];
        byType.set(type, list);
        list.push(candidateOf(flow, type));
      }
    }
  }
  return index;
}

function candidateOf(flow: Flow, type: string): FlowCandidate {
  const items = flow.items.filter((item) => item.elements.has(type));
  const covered: ItemsCovered[] = [];
  if (items.length <= MAX_PRECOMPUTED_ITEMS) {
    for (let mask = 0; mask < 1 << items.length; mask += 1) covered.push(coveredBy(items.filter((_, i) => (mask & (1 << i)) !== 0), type));
  }
  return { flow, items, covered };
}

/** What these items carry of a record of this type. */
export function coveredBy(items: readonly CompiledItem[], type: string): ItemsCovered {
  return Object.freeze({
    items: Object.freeze(items.map((i) => i.name)),
    elements: Object.freeze([...new Set(items.flatMap((i) => i.elements.get(type) ?? []))]),
  });
}
