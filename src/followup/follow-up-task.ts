import type { Task } from 'fhir/r4.js';

// TEMPORARY stub of the lead's contract (notes: task contract); replaced by merging main.

export const FOLLOW_UP_SYSTEM = 'https://eastside.example/fhir/CodeSystem/follow-up';
export const FOLLOW_UP_STATUS_SYSTEM = 'https://eastside.example/fhir/CodeSystem/follow-up-status';
export const FOLLOW_UP_KEY_SYSTEM = 'https://eastside.example/fhir/Id/follow-up';
export type FollowUpKind = 'missed-dose' | 'overdue-dose' | 'birth-without-booking' | 'pregnancy-overdue';
export type FollowUpBusinessStatus =
  | 'open'
  | 'escalated'
  | 'dose-given'
  | 'booking-received'
  | 'birth-notified'
  | 'moved-away'
  | 'moved-to-another-centre'
  | 'died'
  | 'progressed-by-owner';
export interface Party {
  system: string;
  code: string;
  name?: string;
}
export interface FollowUpSpec {
  kind: FollowUpKind;
  owner: Party;
  subject: string;
  focus: string;
  raisedOn: Date;
  dueDate?: string;
  description?: string;
}

export function followUpKey(spec: FollowUpSpec): string {
  return `${spec.kind}|${spec.focus}|${spec.owner.code}`;
}

export function buildFollowUpTask(id: string, spec: FollowUpSpec, hub: Party): Task {
  const at = spec.raisedOn.toISOString();
  return {
    resourceType: 'Task',
    id,
    identifier: [{ system: FOLLOW_UP_KEY_SYSTEM, value: followUpKey(spec) }],
    status: 'requested',
    intent: 'order',
    businessStatus: { coding: [{ system: FOLLOW_UP_STATUS_SYSTEM, code: 'open' }] },
    code: { coding: [{ system: FOLLOW_UP_SYSTEM, code: spec.kind }] },
    ...(spec.description === undefined ? {} : { description: spec.description }),
    focus: { reference: spec.focus },
    for: { reference: spec.subject },
    executionPeriod: { start: at },
    authoredOn: at,
    lastModified: at,
    requester: { identifier: { system: hub.system, value: hub.code } },
    owner: { identifier: { system: spec.owner.system, value: spec.owner.code }, ...(spec.owner.name === undefined ? {} : { display: spec.owner.name }) },
  };
}
