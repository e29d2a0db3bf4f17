import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseProtocolText, type ProtocolText } from '../../src/protocol/protocol-text.js';
import { repoProtocolFile } from '../support/protocols.js';

// The protocol text → document and signed bytes. Broken documents are the
// repository's protocol with one thing changed, each refused at its path.

const text = readFileSync(repoProtocolFile, 'utf8');

/** Replaces the one occurrence of `from` (failing the test if there is not exactly one). */
function once(from: string, to: string): (t: string) => string {
  return (t) => {
    const at = t.indexOf(from);
    if (at < 0 || t.indexOf(from, at + 1) >= 0) throw new Error(`expected exactly one ${JSON.stringify(from)} in the protocol`);
    return `${t.slice(0, at)}${to}${t.slice(at + from.length)}`;
  };
}

function canonicalOf(source: string): string {
  const result = parseProtocolText(source, 'test.yaml');
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return new TextDecoder().decode(result.canonical);
}

function issuesOf(result: ProtocolText): { path: string; message: string }[] {
  return result.ok ? [] : result.issues;
}

describe('parseProtocolText', () => {
  it("parses the repository's protocol, dates as strings and defaults applied", () => {
    const result = parseProtocolText(text, 'early-years-isp.yaml');
    expect(issuesOf(result)).toEqual([]);
    if (!result.ok) return;
    expect(result.document).toMatchObject({ id: 'eastside-early-years-isp', version: 4, period: { start: '2026-01-01', end: '2028-12-31' }, reviewDate: '2027-06-30' });
    expect(result.document.flows).toHaveLength(13);
    expect(result.document.flows.find((f) => f.id === 'booking-to-health-visiting')?.exclude).toEqual([]);
    expect(result.digest).toMatch(/^[0-9a-f]{64}$/);
    // The signed bytes are the document as written: no `exclude: []` added by a default.
    expect(new TextDecoder().decode(result.canonical)).not.toContain('"exclude":[]');
  });

  it.each([
    ['an unknown data item in a flow', once('data: [child-registration, mother-contact]', 'data: [child-registration, mother-contact, shoe-size]'), 'flows.2.data.2', /shoe-size is not defined/],
    ['a consent value that is not one of the three', once('consent: required            # explicit consent given at booking', 'consent: maybe'), 'flows.0.consent', /required|objection-stops/],
    ['a period that ends before it starts', once('end: 2028-12-31', 'end: 2025-12-31'), 'period.end', /ends before it starts/],
    ['a date that is not YYYY-MM-DD', once('reviewDate: 2027-06-30', 'reviewDate: 30/06/2027'), 'reviewDate', /YYYY-MM-DD/],
    ['signatories that are not the parties', once('  - party: CC-IOD', ''), 'signatories', /every party/],
    ['a where that is not FHIRPath', once('where: "Immunization.statusReason', 'where: "Immunization.statusReason(('), 'flows.4.where', /not a FHIRPath expression/],
    ['a select that is not FHIRPath', once("Observation: \"code.coding.where(system = 'http://loinc.org'", "Observation: \"code.coding.where(system = = 'http://loinc.org'"), 'dataItems.pregnancy-summary.select.Observation', /not a FHIRPath expression/],
    ['an element path that is prose', once('elements: [Patient.name, Patient.address', 'elements: [Patient.name, home address'), 'dataItems.mother-contact.elements.1', /element path/],
    ['an element path with a FHIRPath function', once('elements: [Immunization.statusReason]', 'elements: [Immunization.statusReason.first()]'), 'dataItems.missed-immunisation-reason.elements.0', /element path/],
    ['a flow id used twice', once('id: booking-to-health-visiting', 'id: booking-to-childrens-centre'), 'flows.1.id', /used twice/],
    ['an override without the safeguarding purpose', once('purposes: [safeguarding]', 'purposes: [direct-care]'), 'flows.12.override', /safeguarding purpose/],
    ['a misspelt member', once('    consent: not-required\n    override', '    consent: not-required\n    overide: safeguarding\n    override'), 'flows.12.overide', /unknown member/],
    ['a YAML syntax error', once('parties: [R9M,', 'parties: [R9M,,'), 'parties.0', /line 12/],
    ['a duplicate key', once('version: 4\n', 'version: 4\nversion: 5\n'), 'version', /unique/],
    ['a duplicate key inside a flow', once('    consent: not-required\n    override', '    consent: not-required\n    consent: required\n    override'), 'flows.12.consent', /unique/],
    ['a tag the core schema does not know', once('version: 4', 'version: !int 4'), 'version', /Unresolved tag/],
    ['a timestamp tag (dates are strings here)', once('reviewDate: 2027-06-30', 'reviewDate: !!timestamp 2027-06-30'), 'reviewDate', /YYYY-MM-DD/],
    ['a date that does not exist', once('reviewDate: 2027-06-30', 'reviewDate: 2027-02-30'), 'reviewDate', /YYYY-MM-DD/],
    ['a party listed twice', once('parties: [R9M,', 'parties: [R9M, R9M,'), 'parties', /once/],
    ['a select for a type the item has no element of', once('      # the estimated delivery date\n', '      # the estimated delivery date\n      Condition: "code.exists()"\n'), 'dataItems.pregnancy-summary.select.Condition', /no Condition element/],
    ['a source of an unknown organisation type', once('  birth-notification:     [maternity]', '  birth-notification:     [maternity, pharmacy]'), 'sources.birth-notification.1', /maternity/],
    ['a message kind the hub does not know', once('  immunisation-event:     [gp]', '  immunisation-event:     [gp]\n  prescription: [gp]'), 'sources.prescription', /unknown member/],
    ['an organisation type ranked twice for one element', once('  gender:    [maternity, gp]', '  gender:    [maternity, gp, maternity]'), 'demographics.gender', /once/],
    ['a consent recorder of an unknown type', once('    consentRecordedBy: [health-visiting]', '    consentRecordedBy: [nursery]'), 'flows.8.consentRecordedBy.0', /health-visiting/],
    ['a second document in the file', (t: string) => `${t}\n---\nid: another\n`, '', /multiple documents/],
  ])('refuses %s, at its path', (_name, edit: (t: string) => string, path, message) => {
    const issues = issuesOf(parseProtocolText(edit(text), 'early-years-isp.yaml'));
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.find((i) => i.path === path)?.message).toMatch(message);
  });

  it('refuses an empty file and a file that is not a mapping', () => {
    expect(issuesOf(parseProtocolText('', 'empty.yaml'))).toEqual([{ path: '', message: expect.stringMatching(/expected object/) }]);
    expect(issuesOf(parseProtocolText('- 1\n- 2\n', 'list.yaml'))[0]?.path).toBe('');
  });
});

describe('the signed bytes (RFC 8785 canonical JSON of the parsed YAML)', () => {
  const original = canonicalOf(text);

  function reversedKeys(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(reversedKeys);
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversedKeys(v)]));
    }
    return value;
  }

  it.each([
    ['comments added and changed', (t: string) => `# A new heading comment\n${once('version: 4', 'version: 4   # bumped at review')(t).replaceAll('# no outreach', '# none')}\n# trailing\n`],
    ['blank lines and indentation', (t: string) => t.replaceAll('\n\n', '\n\n\n\n').replace('period: { start: 2026-01-01, end: 2028-12-31 }', 'period:\n      start: 2026-01-01\n      end:   2028-12-31')],
    ['keys in another order, block style, no comments', (t: string) => stringify(reversedKeys(parse(t)))],
    ['the same document written as JSON', (t: string) => JSON.stringify(reversedKeys(parse(t)), null, 1)],
    ['quoted instead of plain scalars', once('reviewDate: 2027-06-30', "reviewDate: '2027-06-30'")],
  ])('do not change with %s', (_name, edit: (t: string) => string) => {
    expect(canonicalOf(edit(text))).toBe(original);
  });

  it.each([
    ['the version', once('version: 4', 'version: 5')],
    ['a consent rule', once('consent: objection-stops     #', 'consent: required     #')],
    ['the order of a list', once('parties: [R9M, Y90001,', 'parties: [Y90001, R9M,')],
    ['an explicit empty exclude where it was absent', once('    consent: not-required\n    override', '    consent: not-required\n    exclude: []\n    override')],
    ['one character of a FHIRPath', once("code = '11778-8'", "code = '11778-9'")],
  ])('change when %s changes', (_name, edit: (t: string) => string) => {
    expect(canonicalOf(edit(text))).not.toBe(original);
  });
});
