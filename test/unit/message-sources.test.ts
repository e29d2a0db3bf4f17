import { describe, expect, it } from 'vitest';
import { checkSender, countsAsPregnancyRecord, mayCause, messageKindOf, type RecordEffect, type Sender } from '../../src/protocol/message-sources.js';
import { IMMUNISATION_CSV_EVENT } from '../../src/adapters/immunisation-csv.js';
import { demoDocument, demoProtocol, loadedProtocol } from '../support/decision-world.js';

// Who may send what, and who may act on records others wrote (DESIGN.md section 10). Pure: no database.

const ISP = demoProtocol();
const doc = demoDocument();
/** A protocol built before version 4: no `sources`, so no one may send anything under it. */
const OLD = { ...loadedProtocol(doc), sources: undefined };
/** A second protocol that lets health visitors send birth notifications too. */
const WIDER = loadedProtocol({ ...doc, id: 'another-isp', sources: { ...doc.sources, 'birth-notification': ['maternity', 'health-visiting'] } });

const maternity: Sender = { organisationCode: 'R9M', organisationType: 'maternity' };
const gp: Sender = { organisationCode: 'Y90001', organisationType: 'gp' };
const otherGp: Sender = { organisationCode: 'Y90002', organisationType: 'gp' };
const earlyHelp: Sender = { organisationCode: 'E09000999-EH', organisationType: 'early-help' };
const hv: Sender = { organisationCode: 'R9H', organisationType: 'health-visiting' };

describe('messageKindOf', () => {
  it.each([
    ['pregnancy-notification-1', 'pregnancy-notification'],
    ['pds-birth-notification-1', 'birth-notification'],
    ['vaccinations-1', 'immunisation-event'],
    ['vxu-v04', 'immunisation-event'],
    [IMMUNISATION_CSV_EVENT, 'immunisation-event'],
    ['early-help-assessment', 'early-help-assessment'],
    ['toString', undefined],
    ['pds-change-of-address-1', undefined],
  ])('%s → %s', (event, kind) => {
    expect(messageKindOf(event)).toBe(kind);
  });
});

describe('checkSender', () => {
  it.each([
    ['maternity books', [ISP], 'pregnancy-notification-1', 'maternity', true],
    ['maternity notifies a birth', [ISP], 'pds-birth-notification-1', 'maternity', true],
    ['a GP may not notify a birth', [ISP], 'pds-birth-notification-1', 'gp', false],
    ['a GP may not book', [ISP], 'pregnancy-notification-1', 'gp', false],
    ['a GP sends a VXU', [ISP], 'vxu-v04', 'gp', true],
    ['a GP sends a CSV row', [ISP], IMMUNISATION_CSV_EVENT, 'gp', true],
    ['maternity may not send immunisation events', [ISP], 'vaccinations-1', 'maternity', false],
    ['early help sends a CAF', [ISP], 'early-help-assessment', 'early-help', true],
    ['health visiting sends a CAF', [ISP], 'early-help-assessment', 'health-visiting', true],
    ['a GP may not send a CAF', [ISP], 'early-help-assessment', 'gp', false],
    ['a children’s centre sends nothing', [ISP], 'early-help-assessment', 'childrens-centre', false],
    ['an unregistered sender sends nothing', [ISP], 'vxu-v04', undefined, false],
    ['an unmapped event is refused', [ISP], 'pds-change-of-address-1', 'maternity', false],
    ['a protocol without sources allows no one', [OLD], 'pregnancy-notification-1', 'maternity', false],
    ['no protocol allows no one', [], 'vxu-v04', 'gp', false],
    ['any loaded protocol listing the sender allows it', [ISP, WIDER], 'pds-birth-notification-1', 'health-visiting', true],
  ] as const)('%s', (_name, protocols, event, type, ok) => {
    const answer = checkSender(protocols, event, type);
    expect(answer.ok).toBe(ok);
    if (!answer.ok) expect(answer.reason).toContain(event);
  });

  it('names who may send the kind and what the sender is', () => {
    expect(checkSender([ISP], 'pds-birth-notification-1', 'gp')).toEqual({
      ok: false,
      reason: 'pds-birth-notification-1 is a birth-notification message, which only maternity may send under the protocol; the sender is a gp organisation',
    });
  });
});

describe('mayCause', () => {
  const void_ = (recordType: string, writers: string[], messageKind: 'immunisation-event' | 'birth-notification' = 'immunisation-event'): RecordEffect => ({
    kind: 'entered-in-error',
    recordType,
    writers,
    messageKind,
  });
  it.each([
    ['maternity ends a pregnancy', maternity, { kind: 'end-pregnancy' }, true],
    ['a GP does not end a pregnancy', gp, { kind: 'end-pregnancy' }, false],
    ['early help does not end a pregnancy', earlyHelp, { kind: 'end-pregnancy' }, false],
    ['a GP closes a missed dose', gp, { kind: 'close-missed-dose' }, true],
    ['maternity does not close a missed dose', maternity, { kind: 'close-missed-dose' }, false],
    ['health visiting does not close a missed dose', hv, { kind: 'close-missed-dose' }, false],
    ['a GP voids its own dose', gp, void_('Immunization', ['Y90001']), true],
    ['a GP voids its own dose another GP’s catch-up closed', gp, void_('Immunization', ['Y90001', 'Y90002']), true],
    ['a GP does not void a dose it never wrote', otherGp, void_('Immunization', ['Y90001']), false],
    ['a GP does not void a shared Patient', gp, void_('Patient', ['R9M', 'Y90001']), false],
    ['maternity voids its own observation', maternity, void_('Observation', ['R9M'], 'birth-notification'), true],
    ['early help does not void a record it co-wrote under a kind it is no source of', earlyHelp, void_('Observation', ['R9M', 'E09000999-EH'], 'birth-notification'), false],
  ] as const)('%s', (_name, sender, effect, ok) => {
    expect(mayCause([ISP], sender, effect)).toBe(ok);
  });

  it('allows nothing under a protocol without sources but the sender’s own records', () => {
    expect(mayCause([OLD], maternity, { kind: 'end-pregnancy' })).toBe(false);
    expect(mayCause([OLD], gp, { kind: 'close-missed-dose' })).toBe(false);
    expect(mayCause([OLD], gp, void_('Immunization', ['Y90001']))).toBe(true);
  });
});

describe('countsAsPregnancyRecord', () => {
  it.each([
    [['maternity'], true],
    [['gp'], false],
    [['maternity', 'gp'], false],
    [['early-help'], false],
    [[], false],
  ])('written by %j → %s', (types, counts) => {
    expect(countsAsPregnancyRecord([ISP], types)).toBe(counts);
  });
});
