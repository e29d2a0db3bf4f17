import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decisionAuditEvent, restAuditEvent, type AuditContext, type AuditRequester } from '../../src/audit/audit-event.js';
import { canonicalJson } from '../../src/audit/canonical-json.js';
import { auditLeafHash } from '../../src/audit/log-hash.js';

// The AuditEvent builders share frozen parts between events (codings, one
// requester's agents and source) so that canonical JSON writes each once.
// What is shared must never leak from one requester to another, and an
// event's text must be what a fresh copy of it gives.

const text = fc.string({ maxLength: 12 });
const requester: fc.Arbitrary<AuditRequester> = fc.record(
  { clientId: text, organisationCode: text, organisationSystem: text, organisationType: text, purposeOfUse: text },
  { requiredKeys: [] },
);

function context(r: AuditRequester, clientAddress: string | undefined, id: string): AuditContext {
  return { id, recorded: new Date('2026-12-01T09:00:00Z'), requestId: `req-${id}`, hubBaseUrl: 'http://hub.test', clientAddress, requester: r };
}

describe('AuditEvents sharing frozen parts', () => {
  it('give the text and leaf hash of a fresh copy, whichever requesters came before (property)', () => {
    // Few requesters and addresses, met in every order, so that they recur and differ by one field.
    const pool = fc.tuple(fc.array(requester, { minLength: 1, maxLength: 3 }), fc.array(fc.option(text, { nil: undefined }), { minLength: 1, maxLength: 3 }));
    const turns = fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(pool, turns, ([requesters, addresses], order) => {
        order.forEach(([which, where, variant], i) => {
          const base = requesters[which % requesters.length] ?? {};
          // The same requester, or one differing from it in a single field.
          const r = variant ? { ...base, purposeOfUse: `${base.purposeOfUse ?? ''}+` } : { ...base };
          const address = addresses[where % addresses.length];
          const events = [
            decisionAuditEvent(context({ ...r }, address, `d${i}`), {
              effect: 'permit',
              code: 'flow',
              patients: [`Patient/p${i}`],
              resources: [`Patient/p${i}/_history/1`],
              flow: { protocol: 'isp', version: 4, flow: 'f' },
              consents: [`Consent/c${i}/_history/2`],
            }),
            restAuditEvent(context({ ...r }, address, `r${i}`), { interaction: 'search-type', outcome: 'success', query: 'identifier=x', resourceType: 'Patient' }),
          ];
          for (const event of events) {
            const copy = JSON.parse(JSON.stringify(event)) as object;
            expect(canonicalJson(event)).toBe(canonicalJson(copy));
            expect(auditLeafHash(event)).toBe(auditLeafHash(copy));
            // Each event names its own requester, never an earlier one's.
            const client = event.agent[0]?.who;
            expect(client).toEqual(r.clientId === undefined ? { display: 'unidentified client' } : { identifier: { system: expect.any(String) as string, value: r.clientId } });
            expect(event.agent[0]?.network?.address).toBe(address);
            expect(event.agent[0]?.purposeOfUse?.[0]?.coding?.[0]?.code).toBe(r.purposeOfUse);
            const organisation = event.agent.find((a) => a.type?.coding?.[0]?.code === 'requesting-organisation');
            expect(organisation?.who?.identifier?.value).toBe(r.organisationCode);
          }
        });
      }),
      { numRuns: 200 },
    );
  });

  it('cannot be changed through one event to alter another', () => {
    const r = { clientId: 'ocean', organisationCode: 'OCEAN', purposeOfUse: 'early-help' };
    const first = restAuditEvent(context(r, '10.0.0.1', 'a'), { interaction: 'read', outcome: 'success' });
    const before = canonicalJson(restAuditEvent(context(r, '10.0.0.1', 'b'), { interaction: 'read', outcome: 'success' }));
    expect(() => {
      (first.agent[0] as { requestor: boolean }).requestor = false;
    }).toThrow(TypeError);
    expect(() => first.agent.push({ requestor: true })).toThrow(TypeError);
    expect(canonicalJson(restAuditEvent(context(r, '10.0.0.1', 'b'), { interaction: 'read', outcome: 'success' }))).toBe(before);
  });
});
