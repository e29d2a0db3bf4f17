// The follow-up Task codes the figures count (the lead engineer's contract, until src/followup/follow-up-task.ts lands).
export const FOLLOW_UP_SYSTEM = 'https://eastside.example/fhir/CodeSystem/follow-up';
export type FollowUpKind = 'missed-dose' | 'overdue-dose' | 'birth-without-booking' | 'pregnancy-overdue';
