import type { AuditEvent, Communication, Consent, Resource } from 'fhir/r4.js';
import { describe, expect, it, test } from 'vitest';
import { decisionAuditEvent } from '../../src/audit/audit-event.js';
import { decide } from '../../src/decision/decide.js';
import { HUB_ORGANISATION, type Requester } from '../../src/decision/decision-types.js';
import { isWithdrawal, MAX_ABOUT_RECORDS, receiptsOf, withdrawalNotice, type Receipt } from '../../src/fhir/withdrawal-notice.js';

// The pure half of withdrawal notices: what counts as a withdrawal, who
// received what (from permit AuditEvents), the notice itself, and the
// decision that delivers it to its addressee alone.

const consent = (status: Consent['status']): Consent => ({ resourceType: 'Consent', status, scope: {}, category: [], patient: { reference: 'Patient/p1' } });

test.each([
  ['active', 'inactive', true],
  ['active', 'rejected', true],
  ['active', 'entered-in-error', true],
  ['active', 'active', false],
  ['inactive', 'inactive', false],
  ['draft', 'inactive', false],
  ['rejected', 'entered-in-error', false],
] as const)('a Consent going from %s to %s is a withdrawal: %s', (before, after, expected) => {
  expect(isWithdrawal(consent(before), consent(after))).toBe(expected);
});

test('a record of another type is never a withdrawal', () => {
  const task = { resourceType: 'Task', status: 'cancelled' } as Resource;
  expect(isWithdrawal({ resourceType: 'Task', status: 'in-progress' } as Resource, task)).toBe(false);
});

function permit(org: string, at: string, records: string[], flow: string): AuditEvent {
  return decisionAuditEvent(
    {
      id: `e-${org}-${at}`,
      recorded: new Date(at),
      requestId: 'r',
      hubBaseUrl: 'http://hub.test',
      requester: { clientId: 'c', organisationCode: org, organisationSystem: 'urn:eastside:org', purposeOfUse: 'early-help' },
    },
    { effect: 'permit', code: 'flow', patients: ['Patient/p1'], resources: records, flow: { protocol: 'isp', version: 3, flow }, consents: ['Consent/c1/_history/1'] },
  );
}

describe('receiptsOf', () => {
  it('groups permits by requesting organisation, with its flows, records (latest version) and dates', () => {
    const receipts = receiptsOf([
      permit('CC-OCEAN', '2026-11-01T10:00:00Z', ['Patient/p1/_history/1', 'EpisodeOfCare/e1/_history/1'], 'booking'),
      permit('R9H', '2026-11-02T10:00:00Z', ['Patient/p1/_history/1'], 'caf'),
      permit('CC-OCEAN', '2026-11-05T10:00:00Z', ['Patient/p1/_history/2', 'Patient/b1/_history/1'], 'birth'),
    ]);
    expect(receipts).toEqual<Receipt[]>([
      {
        organisation: { system: 'urn:eastside:org', code: 'CC-OCEAN' },
        flows: ['isp|3|booking', 'isp|3|birth'],
        records: ['Patient/p1/_history/2', 'EpisodeOfCare/e1/_history/1', 'Patient/b1/_history/1'],
        first: new Date('2026-11-01T10:00:00Z'),
        last: new Date('2026-11-05T10:00:00Z'),
      },
      {
        organisation: { system: 'urn:eastside:org', code: 'R9H' },
        flows: ['isp|3|caf'],
        records: ['Patient/p1/_history/1'],
        first: new Date('2026-11-02T10:00:00Z'),
        last: new Date('2026-11-02T10:00:00Z'),
      },
    ]);
  });
});

describe('withdrawalNotice', () => {
  const receipt: Receipt = {
    organisation: { system: 'urn:eastside:org', code: 'CC-OCEAN' },
    flows: ['isp|3|booking', 'isp|3|birth'],
    records: Array.from({ length: MAX_ABOUT_RECORDS + 5 }, (_, i) => `Observation/o${i}/_history/1`),
    first: new Date('2026-11-01T10:00:00Z'),
    last: new Date('2026-11-05T10:00:00Z'),
  };
  const notice = (protocols: Parameters<typeof withdrawalNotice>[0]['protocols']): Communication =>
    withdrawalNotice({
      id: 'n1',
      sent: new Date('2026-11-22T09:00:00Z'),
      consent: { id: 'c1', versionId: 2, content: consent('inactive') },
      recipient: { system: 'urn:eastside:org', code: 'CC-OCEAN', name: "Ocean Children's Centre" },
      hub: undefined,
      receipt,
      protocols,
    });

  it('names the consent, caps the records it lists, and quotes the retention term', () => {
    const n = notice([{ id: 'isp', version: 3, title: 'The ISP', retention: { sharedRecords: 'P6Y', auditLog: 'P8Y' } }]);
    expect(n.about).toHaveLength(1 + MAX_ABOUT_RECORDS);
    expect(n.about?.[0]?.reference).toBe('Consent/c1/_history/2');
    expect(n.subject?.reference).toBe('Patient/p1');
    expect(n.sender).toEqual({ type: 'Organization', display: 'Early Years Sharing Hub' });
    expect(n.payload?.[0]?.contentString).toBe(
      'The consent Consent/c1/_history/2 for Patient/p1 was withdrawn on 2026-11-22. ' +
        `Under it, Ocean Children's Centre received ${MAX_ABOUT_RECORDS + 5} records (the first ${MAX_ABOUT_RECORDS} are listed in this notice) from the hub between 2026-11-01 and 2026-11-05, ` +
        'under flows booking and birth of The ISP version 3. The hub discloses nothing more under this consent. ' +
        'Review what you hold and act under the retention terms of The ISP version 3 (shared records: 6 years, P6Y).',
    );
  });

  it('points to the protocol\'s retention terms when it states none', () => {
    expect(notice([{ id: 'isp', version: 3, title: 'The ISP' }]).payload?.[0]?.contentString).toContain("act under the protocol's retention terms (The ISP version 3).");
  });
});

describe('the decision on a notice', () => {
  const requester = (code: string): Requester => ({ organisationCode: code, organisationType: 'childrens-centre', catchment: ['E1'], clientId: 'c', purpose: 'early-help' });
  const communication = { resourceType: 'Communication', status: 'completed', recipient: [{ identifier: { system: 'urn:eastside:org', value: 'CC-OCEAN' } }] } as Communication;
  const judge = (code: string, writer: string) =>
    decide({ requester: requester(code), record: { resource: communication, writer, sourceTypes: ['hub-operator'] }, subject: undefined, protocols: [], now: new Date('2026-11-22') });

  test.each([
    ['the hub\'s notice, to its addressee', 'CC-OCEAN', HUB_ORGANISATION, 'addressed'],
    ['the hub\'s notice, to anyone else', 'CC-IOD', HUB_ORGANISATION, 'no-flow'],
    ['a partner\'s Communication naming the requester', 'CC-OCEAN', 'R9H', 'no-flow'],
  ])('%s', (_name, code, writer, expected) => {
    const d = judge(code, writer);
    expect(d.effect === 'deny' ? d.reason : d.basis).toBe(expected);
  });
});
