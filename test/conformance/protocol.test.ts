import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ProtocolDocument } from '../../src/protocol/protocol-schema.js';
import { parseProtocolText } from '../../src/protocol/protocol-text.js';
import { repoProtocolFile } from '../support/protocols.js';
import { haveSharedFixtures, sharedFixtures } from './shared-fixtures.js';

// Our protocol is the partners' agreed one, with each data item written out as
// FHIR element paths. Everything else must match it field for field; the
// shared fixture's data items are prose, so only their names are compared.

const FLOW_FIELDS = ['id', 'from', 'to', 'purposes', 'data', 'lawfulBasis', 'consent', 'consentRecordedBy', 'area', 'exclude', 'where', 'override'] as const;
const TOP_FIELDS = ['id', 'version', 'title', 'period', 'reviewDate', 'parties', 'legalGateways', 'sources', 'demographics', 'retention', 'signatories'] as const;

type Plain = Record<string, unknown>;

describe.skipIf(!haveSharedFixtures)("conformance: policies/early-years-isp.yaml is the partners' agreed protocol", () => {
  let theirs: Plain;
  let ours: ProtocolDocument;
  beforeAll(() => {
    theirs = parse(readFileSync(path.join(sharedFixtures, 'policies', 'early-years-isp.yaml'), 'utf8'), { schema: 'core' }) as Plain;
    const parsed = parseProtocolText(readFileSync(repoProtocolFile, 'utf8'), 'early-years-isp.yaml');
    if (!parsed.ok) throw new Error(`policies/early-years-isp.yaml: ${JSON.stringify(parsed.issues)}`);
    ours = parsed.document;
  });

  it.each(TOP_FIELDS)('has the same %s', (field) => {
    expect(ours[field]).toEqual(theirs[field]);
  });

  it('has no top-level field we do not compare', () => {
    const compared: readonly string[] = [...TOP_FIELDS, 'dataItems', 'flows'];
    expect(Object.keys(theirs).filter((k) => !compared.includes(k))).toEqual([]);
  });

  it('names the same data items', () => {
    expect(Object.keys(ours.dataItems).sort()).toEqual(Object.keys(theirs['dataItems'] as Plain).sort());
  });

  it('has the same flows, in the same order, equal in every field', () => {
    const theirFlows = theirs['flows'] as Plain[];
    expect(ours.flows.map((f) => f.id)).toEqual(theirFlows.map((f) => f['id']));
    ours.flows.forEach((flow, i) => {
      const theirFlow = theirFlows[i] ?? {};
      expect(Object.keys(theirFlow).filter((k) => !(FLOW_FIELDS as readonly string[]).includes(k)), `flow ${flow.id}: fields we do not compare`).toEqual([]);
      for (const field of FLOW_FIELDS) {
        const expected = field === 'exclude' ? (theirFlow[field] ?? []) : theirFlow[field];
        expect(flow[field], `flow ${flow.id}: ${field}`).toEqual(expected);
      }
    });
  });
});
