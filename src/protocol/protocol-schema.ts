import { parseFhirPath, type FhirPathAtom } from '@medplum/core';
import { z } from 'zod';
import { compilePredicate, type FhirPathPredicate } from './fhirpath-predicate.js';
import { withFlowIndex } from './flow-index.js';

// An information-sharing protocol (ISP) as the hub enforces it: parties,
// named data items (explicit FHIR element paths), and flows between
// organisation types. The YAML in policies/ is parsed with this schema once,
// at load; everything downstream trusts the types. See policies/README.md.

export const ORGANISATION_TYPES = ['maternity', 'gp', 'health-visiting', 'childrens-centre', 'early-help', 'hub-operator', 'commissioner'] as const;
export type OrganisationType = (typeof ORGANISATION_TYPES)[number];

export const PURPOSES = ['direct-care', 'early-years-registration', 'immunisation-follow-up', 'early-help', 'safeguarding', 'audit', 'commissioning'] as const;
export type Purpose = (typeof PURPOSES)[number];

export const EXCLUDE_PREDICATES = ['pregnancy-loss', 'restricted-record'] as const;
export type ExcludePredicate = (typeof EXCLUDE_PREDICATES)[number];

/** The kinds of message partners send into the hub; the protocol's `sources` says who may send each. */
export const MESSAGE_KINDS = ['pregnancy-notification', 'birth-notification', 'immunisation-event', 'early-help-assessment'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** The Patient elements whose sources the protocol's `demographics` ranks. */
export const DEMOGRAPHIC_ELEMENTS = ['name', 'birthDate', 'gender', 'address', 'telecom', 'deceased'] as const;
export type DemographicElement = (typeof DEMOGRAPHIC_ELEMENTS)[number];

/** Whose record a data item is about: the subject's role, judged from the Patient's age. */
export const SUBJECT_ROLES = ['mother', 'child', 'any'] as const;
export type SubjectRole = (typeof SUBJECT_ROLES)[number];

const isoDate = z.iso.date({ message: 'a date as YYYY-MM-DD' });
const code = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/, 'a code of letters, digits, dots and hyphens');

/**
 * An element path: `Type.element(.child)*`, where a segment may be a choice
 * element (`occurrence[x]`), an extension by URL (`extension('https://…')`), or
 * a backbone item filtered by the end of its linkId (`item.where(linkId.endsWith('.needs'))`).
 */
export const ELEMENT_PATH = /^[A-Z][A-Za-z]+(\.([a-z][A-Za-z]*(\[x\])?|extension\('[^'\s]+'\)|item\.where\(linkId\.endsWith\('[^'\s]+'\)\)))+$/;
const elementPath = z.string().regex(ELEMENT_PATH, "an element path such as Patient.name, Immunization.occurrence[x] or Immunization.extension('url')");

export const dataItemSchema = z.strictObject({
  about: z.enum(SUBJECT_ROLES),
  /** Per resource type, a FHIRPath a resource must satisfy to be this item (e.g. an Observation's code). */
  select: z.record(z.string().regex(/^[A-Z][A-Za-z]+$/), z.string().min(1)).optional(),
  elements: z.array(elementPath).min(1),
});
export type DataItem = z.infer<typeof dataItemSchema>;

const lawfulBasis = z.strictObject({ art6: z.string().min(1), art9: z.string().min(1), commonLaw: z.string().min(1) });

export const flowSchema = z.strictObject({
  id: code,
  from: z.array(z.enum(ORGANISATION_TYPES)).min(1),
  to: z.array(z.enum(ORGANISATION_TYPES)).min(1),
  purposes: z.array(z.enum(PURPOSES)).min(1),
  data: z.array(code).min(1),
  lawfulBasis,
  consent: z.enum(['required', 'objection-stops', 'not-required']),
  /** Who may record a Consent that counts for this flow (default: the flow's `from`). Anyone may narrow. */
  consentRecordedBy: z.array(z.enum(ORGANISATION_TYPES)).min(1).optional(),
  area: z.literal('recipient-catchment').optional(),
  exclude: z.array(z.enum(EXCLUDE_PREDICATES)).default([]),
  /** FHIRPath a record must satisfy (a Patient: some record about them from the flow's source). */
  where: z.string().min(1).optional(),
  override: z.literal('safeguarding').optional(),
});
export type FlowSource = z.infer<typeof flowSchema>;

export const protocolSchema = z
  .strictObject({
    id: code,
    version: z.number().int().positive(),
    title: z.string().min(1),
    period: z.strictObject({ start: isoDate, end: isoDate }),
    reviewDate: isoDate,
    parties: z.array(code).min(1).refine((p) => new Set(p).size === p.length, 'each party is listed once'),
    legalGateways: z.array(z.string().min(1)).default([]),
    dataItems: z.record(code, dataItemSchema),
    flows: z.array(flowSchema).min(1),
    /** Who may send each kind of message (and so write what it carries). */
    sources: z.partialRecord(z.enum(MESSAGE_KINDS), z.array(z.enum(ORGANISATION_TYPES)).min(1)).default({}),
    /** Whose word counts for a shared Patient's demographics, element by element, first type first. */
    demographics: z.partialRecord(z.enum(DEMOGRAPHIC_ELEMENTS), z.array(z.enum(ORGANISATION_TYPES)).min(1)).default({}),
    retention: z.strictObject({ sharedRecords: z.string().regex(/^P\d+[YMD]$/), auditLog: z.string().regex(/^P\d+[YMD]$/) }),
    signatories: z.array(z.strictObject({ party: code })).min(1),
  })
  .superRefine((p, ctx) => {
    if (p.period.start > p.period.end) ctx.addIssue({ code: 'custom', path: ['period', 'end'], message: 'the period ends before it starts' });
    for (const [name, item] of Object.entries(p.dataItems)) {
      for (const [type, expression] of Object.entries(item.select ?? {})) {
        if (!item.elements.some((e) => e.startsWith(`${type}.`))) {
          ctx.addIssue({ code: 'custom', path: ['dataItems', name, 'select', type], message: `select names ${type}, but the item lists no ${type} element` });
        }
        try {
          parseFhirPath(expression);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: ['dataItems', name, 'select', type], message: `not a FHIRPath expression: ${(err as Error).message}` });
        }
      }
    }
    const ids = new Set<string>();
    p.flows.forEach((flow, i) => {
      if (ids.has(flow.id)) ctx.addIssue({ code: 'custom', path: ['flows', i, 'id'], message: `flow id ${flow.id} is used twice` });
      ids.add(flow.id);
      flow.data.forEach((item, j) => {
        if (!Object.hasOwn(p.dataItems, item)) ctx.addIssue({ code: 'custom', path: ['flows', i, 'data', j], message: `data item ${item} is not defined in dataItems` });
      });
      if (flow.where !== undefined) {
        try {
          parseFhirPath(flow.where);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: ['flows', i, 'where'], message: `not a FHIRPath expression: ${(err as Error).message}` });
        }
      }
      const ranked = flow.consentRecordedBy ?? [];
      if (new Set(ranked).size !== ranked.length) ctx.addIssue({ code: 'custom', path: ['flows', i, 'consentRecordedBy'], message: 'each organisation type is listed once' });
      if (flow.override !== undefined && !flow.purposes.includes('safeguarding')) {
        ctx.addIssue({ code: 'custom', path: ['flows', i, 'override'], message: 'a safeguarding override needs the safeguarding purpose' });
      }
    });
    for (const [element, types] of Object.entries(p.demographics)) {
      if (new Set(types).size !== types.length) ctx.addIssue({ code: 'custom', path: ['demographics', element], message: 'each organisation type is ranked once' });
    }
    const parties = [...p.parties].sort();
    const signers = p.signatories.map((s) => s.party).sort();
    if (parties.join() !== signers.join()) {
      ctx.addIssue({ code: 'custom', path: ['signatories'], message: 'every party, and only the parties, must be a signatory' });
    }
  });
export type ProtocolDocument = z.infer<typeof protocolSchema>;

export interface CompiledPath {
  source: string;
  atom: FhirPathAtom;
  /** Whether the expression holds for a resource (FHIRPath truth), compiled once from the atom. */
  test: FhirPathPredicate;
}

/** A data item ready for decisions: element paths grouped by resource type, selectors parsed. */
export interface CompiledItem {
  name: string;
  about: SubjectRole;
  /** Resource type → element paths (after the type name) this item carries. */
  elements: ReadonlyMap<string, readonly string[]>;
  select: ReadonlyMap<string, CompiledPath>;
}

/** A flow ready for decisions: its data items resolved, its FHIRPath parsed once. */
export interface Flow extends Omit<FlowSource, 'where'> {
  where: CompiledPath | undefined;
  items: readonly CompiledItem[];
}

/** Why a protocol is or is not in force, apart from the date (checked at each decision). */
export interface SignatureCheck {
  party: string;
  valid: boolean;
  /** Why it failed: "no signature", "no public key", "does not verify", … */
  problem?: string | undefined;
}

/** A loaded protocol: the document, its flows compiled, and what its signatures said at load. */
export interface LoadedProtocol {
  id: string;
  version: number;
  title: string;
  period: { start: string; end: string };
  reviewDate: string;
  parties: readonly string[];
  flows: readonly Flow[];
  /** Who may send each kind of message (absent kinds: nobody; absent on protocols built in tests before version 4). */
  sources?: Partial<Readonly<Record<MessageKind, readonly OrganisationType[]>>> | undefined;
  /** Precedence of sources for a shared Patient's demographics, element by element. */
  demographics?: Partial<Readonly<Record<DemographicElement, readonly OrganisationType[]>>> | undefined;
  /** ISO 8601 durations: how long shared records and the audit log are kept (absent on protocols built in tests). */
  retention?: { sharedRecords: string; auditLog: string } | undefined;
  signatures: readonly SignatureCheck[];
  /** SHA-256 (hex) of the canonical bytes every party signed. */
  digest: string;
  /** Where it came from (file name), for messages. */
  source: string;
}

/** Resolves a validated document's flows (data item names, FHIRPath) for the decision, and indexes them. */
export function compileFlows(doc: ProtocolDocument): Flow[] {
  const flows = doc.flows.map((flow) => ({
    ...flow,
    where: flow.where === undefined ? undefined : compilePath(flow.where),
    items: flow.data.map((name) => {
      const item = doc.dataItems[name];
      if (item === undefined) throw new Error(`data item ${name} is not defined`);
      return compileItem(name, item);
    }),
  }));
  // Once per protocol version, at load: the decision finds its candidate flows by recipient and record type.
  return withFlowIndex(flows);
}

function compilePath(source: string): CompiledPath {
  const atom = parseFhirPath(source);
  return { source, atom, test: compilePredicate(atom) };
}

function compileItem(name: string, item: DataItem): CompiledItem {
  const elements = new Map<string, string[]>();
  for (const path of item.elements) {
    const dot = path.indexOf('.');
    const type = path.slice(0, dot);
    elements.set(type, [...(elements.get(type) ?? []), path.slice(dot + 1)]);
  }
  const select = new Map(Object.entries(item.select ?? {}).map(([type, source]) => [type, compilePath(source)]));
  return { name, about: item.about, elements, select };
}
