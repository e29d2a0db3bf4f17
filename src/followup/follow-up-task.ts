import type { Annotation, Task } from 'fhir/r4.js';

// Follow-up work the hub raises (R4 workflow Task): who must act (owner), for
// which child (for), about which record (focus). Pure: the shell stores these
// as records the hub itself writes, decided and redacted like every record.
// See: https://hl7.org/fhir/R4/task.html and https://hl7.org/fhir/R4/workflow-management.html

export const FOLLOW_UP_SYSTEM = 'https://eastside.example/fhir/CodeSystem/follow-up';
export const FOLLOW_UP_STATUS_SYSTEM = 'https://eastside.example/fhir/CodeSystem/follow-up-status';
/** The idempotence key: one Task per kind, focus, owner and episode (see nextEpisode), whoever raises it and however often. */
export const FOLLOW_UP_KEY_SYSTEM = 'https://eastside.example/fhir/Id/follow-up';

export type FollowUpKind = 'missed-dose' | 'overdue-dose' | 'birth-without-booking' | 'pregnancy-overdue';

/**
 * Kinds only the follow-up job raises (overdue doses, exception reports),
 * always under its one run lock; missed doses are raised at ingest too.
 */
export const RAISED_ONLY_BY_THE_JOB: ReadonlySet<FollowUpKind> = new Set(['overdue-dose', 'birth-without-booking', 'pregnancy-overdue']);

export type FollowUpBusinessStatus =
  | 'open'
  | 'escalated'
  | 'dose-given'
  | 'booking-received'
  | 'birth-notified'
  | 'moved-away'
  | 'moved-to-another-centre'
  | 'no-longer-needed'
  | 'progressed-by-owner';

export interface Party {
  system: string;
  code: string;
  name?: string | undefined;
}

export interface FollowUpSpec {
  kind: FollowUpKind;
  /** The organisation that must act. */
  owner: Party;
  /** "Patient/<id>": the child, or the mother for a pregnancy exception. */
  subject: string;
  /** The record the work is about: "Immunization/<id>", "ImmunizationRecommendation/<id>", "EpisodeOfCare/<id>", "Patient/<id>". */
  focus: string;
  raisedOn: Date;
  /** What the owner is asked to do, in words a partner may read: never a reason code ("6-in-1 dose 3 missed"). */
  what?: string | undefined;
}

const KIND_DISPLAY: Record<FollowUpKind, string> = {
  'missed-dose': 'Missed immunisation: contact the family',
  'overdue-dose': 'Overdue immunisation: contact the family',
  'birth-without-booking': 'Birth notified with no booking: check antenatal care was recorded',
  'pregnancy-overdue': 'Pregnancy past its due date with no birth notified: confirm the outcome',
};

const STATUS_DISPLAY: Record<FollowUpBusinessStatus, string> = {
  open: 'Open',
  escalated: 'Escalated to the health visitors',
  'dose-given': 'Closed: the dose has been given',
  'booking-received': 'Closed: the booking has been received',
  'birth-notified': 'Closed: the birth has been notified',
  'moved-away': "Closed: the family has moved out of every partner's area",
  'moved-to-another-centre': "Closed: the family has moved to another centre's area",
  // A death is not told to partners who may not know of it: the Task just closes.
  'no-longer-needed': 'Closed: no longer needed',
  'progressed-by-owner': 'Progressed by its owner',
};

/** Task statuses in which the work is still to be done. */
export const OPEN_STATUSES: ReadonlySet<string> = new Set(['requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold']);

/** What an owner may move its Task to (R4 Task.status). The hub alone marks entered-in-error. */
const OWNER_MOVES: Record<string, readonly Task['status'][]> = {
  requested: ['accepted', 'in-progress', 'on-hold', 'completed', 'cancelled'],
  received: ['accepted', 'in-progress', 'on-hold', 'completed', 'cancelled'],
  ready: ['accepted', 'in-progress', 'on-hold', 'completed', 'cancelled'],
  accepted: ['in-progress', 'on-hold', 'completed', 'cancelled'],
  'in-progress': ['on-hold', 'completed', 'cancelled'],
  'on-hold': ['in-progress', 'completed', 'cancelled'],
};

export function followUpKey(spec: Pick<FollowUpSpec, 'kind' | 'focus' | 'owner'>, episode = 1): string {
  // No "|": the key must be searchable as an identifier token value (system|value).
  const key = `${spec.kind}:${spec.focus}:${spec.owner.code}`;
  return episode <= 1 ? key : `${key}:${String(episode)}`;
}

/**
 * Why the hub raises work: the rules call for it (a missed or overdue dose, an
 * exception, a child moving in), or an escalation asks the health visitors.
 */
export type RaiseCause = 'condition' | 'escalation';

/** An owner closed its overdue-dose work while the dose is still overdue: the work is asked again this many days later. */
export const RAISE_AGAIN_AFTER_DAYS = 28;

/** Closures the hub makes because the need went (the dose given, the child moved, the booking came): the need may come back. */
const HUB_CLOSURES: ReadonlySet<string> = new Set<FollowUpBusinessStatus>(['dose-given', 'booking-received', 'birth-notified', 'moved-away', 'moved-to-another-centre', 'no-longer-needed']);

/**
 * The episode a new Task of one kind, focus and owner would be (1, 2, ...),
 * given every Task that key has had; undefined when none is to be raised.
 * - One is open: that is the work (a re-run, a re-sent message raise nothing).
 * - The last closed on the day judged or later: a re-run of that day (or of
 *   an earlier one) raises nothing.
 * - An escalation is a new request whatever came before.
 * - The hub closed the last one because the need went: the rules call for the
 *   work again only when it is back (the child moved back, the dose is missed
 *   or overdue again), so a new episode begins.
 * - Its owner closed the last one: that is the owner's word on that episode. A
 *   dose still overdue is asked again RAISE_AGAIN_AFTER_DAYS after it closed;
 *   a missed appointment or an exception report its owner closed stays closed.
 */
export function nextEpisode(existing: readonly Task[], cause: RaiseCause, asOf: string): number | undefined {
  if (existing.some(isOpen)) return undefined;
  if (existing.length === 0) return 1;
  const last = [...existing].sort((a, b) => (a.authoredOn ?? '').localeCompare(b.authoredOn ?? '') || (a.id ?? '').localeCompare(b.id ?? '')).at(-1);
  if (last === undefined) return 1;
  const next = existing.length + 1;
  const closed = (last.executionPeriod?.end ?? last.lastModified ?? '').slice(0, 10);
  // Work closed on a day is not raised again by a run of that day, nor of an earlier one.
  if (closed === '' || closed >= asOf) return undefined;
  if (cause === 'escalation') return next;
  if (last.status === 'entered-in-error' || HUB_CLOSURES.has(last.businessStatus?.coding?.find((c) => c.system === FOLLOW_UP_STATUS_SYSTEM)?.code ?? '')) return next;
  if (kindOf(last) !== 'overdue-dose') return undefined;
  const again = new Date(Date.parse(`${closed}T00:00:00Z`) + RAISE_AGAIN_AFTER_DAYS * 86_400_000).toISOString().slice(0, 10);
  return again <= asOf ? next : undefined;
}

/** A Task raised by an escalation is the escalated work itself: it reads escalated from the start, and is not escalated again. */
export function buildFollowUpTask(id: string, spec: FollowUpSpec, hub: Party, episode = 1, cause: RaiseCause = 'condition'): Task {
  const at = spec.raisedOn.toISOString();
  return {
    resourceType: 'Task',
    id,
    identifier: [{ system: FOLLOW_UP_KEY_SYSTEM, value: followUpKey(spec, episode) }],
    status: 'requested',
    businessStatus: businessStatus(cause === 'escalation' ? 'escalated' : 'open'),
    intent: 'order',
    code: { coding: [{ system: FOLLOW_UP_SYSTEM, code: spec.kind, display: KIND_DISPLAY[spec.kind] }], ...(spec.what === undefined ? {} : { text: spec.what }) },
    for: { reference: spec.subject },
    focus: { reference: spec.focus },
    requester: { identifier: { system: hub.system, value: hub.code }, ...(hub.name === undefined ? {} : { display: hub.name }) },
    owner: { identifier: { system: spec.owner.system, value: spec.owner.code }, ...(spec.owner.name === undefined ? {} : { display: spec.owner.name }) },
    authoredOn: at,
    lastModified: at,
    executionPeriod: { start: at },
  };
}

export function businessStatus(code: FollowUpBusinessStatus, text?: string): NonNullable<Task['businessStatus']> {
  return { coding: [{ system: FOLLOW_UP_STATUS_SYSTEM, code, display: STATUS_DISPLAY[code] }], ...(text === undefined ? {} : { text }) };
}

export function isOpen(task: Task): boolean {
  return OPEN_STATUSES.has(task.status);
}

export function kindOf(task: Task): FollowUpKind | undefined {
  const code = task.code?.coding?.find((c) => c.system === FOLLOW_UP_SYSTEM)?.code;
  return code !== undefined && Object.hasOwn(KIND_DISPLAY, code) ? (code as FollowUpKind) : undefined;
}

export function ownerCodeOf(task: Task): string | undefined {
  return task.owner?.identifier?.value;
}

export interface TaskClose {
  status: 'completed' | 'cancelled';
  businessStatus: FollowUpBusinessStatus;
  /** Words the owner may read (never a reason code). */
  note?: string | undefined;
  /** The record that did the work (the dose given): Task.output, for the hub and the IG lead. */
  output?: { reference: string; display: string } | undefined;
}

/** What a Task's output is (R4 Task.output.type is free text here: the hub's own outputs). */
export const OUTPUT_DOSE_GIVEN = 'The dose given';

/** The hub closes (or escalates) a Task: the work is done, moot, or passed on. */
export function closeTask(task: Task, close: TaskClose, now: Date, author: string): Task {
  const at = now.toISOString();
  return {
    ...task,
    status: close.status,
    businessStatus: businessStatus(close.businessStatus),
    lastModified: at,
    executionPeriod: { ...task.executionPeriod, end: at },
    ...(close.note === undefined ? {} : { note: [...(task.note ?? []), { text: close.note, time: at, authorString: author }] }),
    ...(close.output === undefined
      ? {}
      : { output: [...(task.output ?? []), { type: { text: OUTPUT_DOSE_GIVEN }, valueReference: { reference: close.output.reference, display: close.output.display } }] }),
  };
}

/** Marks an open Task escalated (the health visitors are asked too), with a note its owner can read. */
export function escalateTask(task: Task, note: string, now: Date, author: string): Task {
  const at = now.toISOString();
  return { ...task, businessStatus: businessStatus('escalated'), lastModified: at, note: [...(task.note ?? []), { text: note, time: at, authorString: author }] };
}

/** Elements an owner's PUT may change; every other element it sends must be what it was given. */
const OWNER_ELEMENTS = new Set(['resourceType', 'id', 'meta', 'status', 'businessStatus', 'note', 'lastModified', 'text']);
const MAX_NOTE = 2000;
const MAX_NEW_NOTES = 5;

export type OwnerChange = { ok: true; task: Task; changed: boolean } | { ok: false; status: 409 | 422; element: string; message: string };

/**
 * An owner's update (PUT of the Task as it was given to them): it may move
 * the status along OWNER_MOVES, set the business status's words (the hub
 * keeps its code), and add notes. Any other element sent must equal what the
 * owner was given (`seen`, the Task as disclosed to it); elements it was not
 * given may be left out. Notes are appended, stamped with the time of the
 * change and the owner's name; earlier notes are kept whatever is sent.
 */
export function ownerChange(stored: Task, seen: Task, submitted: Task, now: Date, author: string): OwnerChange {
  const seenRecord = seen as unknown as Record<string, unknown>;
  const submittedRecord = submitted as unknown as Record<string, unknown>;
  for (const key of Object.keys(submittedRecord).sort()) {
    if (OWNER_ELEMENTS.has(key)) continue;
    if (!(key in seenRecord) || canonical(submittedRecord[key]) !== canonical(seenRecord[key])) {
      return { ok: false, status: 422, element: `Task.${key}`, message: `Task.${key} is the hub's to set: an owner may change only status, businessStatus.text and note` };
    }
  }
  let status = stored.status;
  if (submitted.status !== stored.status) {
    const allowed = OWNER_MOVES[stored.status] ?? [];
    if (!allowed.includes(submitted.status)) {
      return isOpen(stored)
        ? { ok: false, status: 422, element: 'Task.status', message: `a Task ${stored.status} may move to ${allowed.join(', ')}, not ${submitted.status}` }
        : { ok: false, status: 409, element: 'Task.status', message: `the Task is ${stored.status}: it can no longer change` };
    }
    status = submitted.status;
  }
  const words = submitted.businessStatus?.text?.trim();
  if (words !== undefined && words.length > MAX_NOTE) return { ok: false, status: 422, element: 'Task.businessStatus.text', message: `at most ${MAX_NOTE} characters` };
  const known = new Set((stored.note ?? []).map((n) => n.text));
  const added = (submitted.note ?? []).filter((n) => !known.has(n.text));
  if (added.length > MAX_NEW_NOTES) return { ok: false, status: 422, element: 'Task.note', message: `at most ${MAX_NEW_NOTES} new notes at once` };
  for (const n of added) {
    if (typeof n.text !== 'string' || n.text.trim() === '' || n.text.length > MAX_NOTE) {
      return { ok: false, status: 422, element: 'Task.note.text', message: `a note needs text of 1 to ${MAX_NOTE} characters` };
    }
  }
  const at = now.toISOString();
  const notes: Annotation[] = [...(stored.note ?? []), ...added.map((n) => ({ text: n.text.trim(), time: at, authorString: author }))];
  const currentWords = stored.businessStatus?.text;
  const changed = status !== stored.status || added.length > 0 || (words !== undefined && words !== currentWords);
  if (!changed) return { ok: true, task: stored, changed: false };
  const code = stored.businessStatus?.coding?.[0]?.code;
  const keep = code === 'escalated' ? 'escalated' : 'progressed-by-owner';
  const closed = status === 'completed' || status === 'cancelled';
  return {
    ok: true,
    changed: true,
    task: {
      ...stored,
      status,
      businessStatus: businessStatus(keep, words ?? currentWords),
      lastModified: at,
      ...(notes.length === 0 ? {} : { note: notes }),
      ...(closed ? { executionPeriod: { ...stored.executionPeriod, end: at } } : {}),
    },
  };
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}
