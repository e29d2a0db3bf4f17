import type { Communication } from 'fhir/r4.js';
import { SYSTEMS } from '../fhir/systems.js';
import { organisationReference, type NoticeParty } from '../fhir/withdrawal-notice.js';

// When a child moves out of a children's centre's catchment, the centre may no
// longer see the child's records, so it could not read its own cancelled Task
// either. The hub tells it in a notice only it can read (decision basis
// `addressed`), naming its Task and why it closed, and nothing about where the
// family went. See: https://hl7.org/fhir/R4/communication.html

export interface FollowUpClosedNoticeInput {
  id: string;
  sent: Date;
  /** The closed version, "Task/<id>/_history/<n>". */
  task: string;
  why: 'moved-to-another-centre' | 'moved-away';
  recipient: NoticeParty;
  hub: NoticeParty | undefined;
}

export function followUpClosedNotice(input: FollowUpClosedNoticeInput): Communication {
  const where = input.why === 'moved-to-another-centre' ? "to another children's centre's area, whose centre now has the work" : "out of every partner's area";
  return {
    resourceType: 'Communication',
    id: input.id,
    status: 'completed',
    category: [{ coding: [{ system: SYSTEMS.noticeType, code: 'follow-up-closed', display: 'Follow-up closed by the hub' }] }],
    about: [{ reference: input.task, type: 'Task' }],
    sent: input.sent.toISOString(),
    recipient: [organisationReference(input.recipient)],
    sender: { ...organisationReference(input.hub), display: 'Early Years Sharing Hub' },
    payload: [
      {
        contentString: `On ${input.sent.toISOString().slice(0, 10)} the hub cancelled your follow-up ${input.task} (${input.why}): the family has moved ${where}. Nothing more is needed from you.`,
      },
    ],
  };
}
