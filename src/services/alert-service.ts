import { z } from 'zod';
import type { RestInteraction } from '../audit/audit-event.js';
import type { Principal } from '../auth/principal.js';
import { countOpenAlerts, findAlert, listAlerts, markAlertReviewed, type StoredAlert } from '../db/alert-queries.js';
import type { Db } from '../db/database.js';
import { problem, type Problem } from '../fhir/operation-outcome.js';
import type { ParamList } from '../fhir/search-request.js';
import { requesterOf, type AuditRecorder, type RequestMeta } from './audit-recorder.js';

// The alerts the IG lead must review: safeguarding overrides and denial
// bursts (raised in src/services/decision-audit.ts). Listing them and marking
// one reviewed are audited like any other access; a reviewed alert stays,
// with who reviewed it and when (the table's trigger refuses anything else).

export interface AlertServiceDeps {
  db: Db;
  audit: AuditRecorder;
  clock: () => Date;
}

/** An alert as the API shows it. */
export interface AlertView {
  id: string;
  raised: string;
  kind: string;
  auditEventId: string;
  clientId: string;
  organisationCode: string;
  patients: string[];
  reason: string;
  reviewedAt: string | null;
  reviewedBy: string | null;
  reviewNote: string | null;
}

export interface AlertList {
  alerts: AlertView[];
  /** How many alerts are open, whatever the page shows. */
  open: number;
}

export type AlertResult<T> = { ok: true; value: T } | { ok: false; problem: Problem };

export const alertQuerySchema = z
  .object({
    status: z.enum(['open', 'reviewed', 'all'], { error: 'status must be open, reviewed or all' }).default('open'),
    _count: z
      .string()
      .regex(/^\d{1,4}$/, '_count must be a whole number from 1 to 500')
      .transform(Number)
      .pipe(z.number().int().min(1, '_count must be a whole number from 1 to 500').max(500, '_count must be a whole number from 1 to 500'))
      .default(100),
  })
  .strict();
export type AlertQuery = z.infer<typeof alertQuerySchema>;

export const reviewBodySchema = z
  .object({
    note: z
      .string({ error: 'note must be a string' })
      .max(1000, 'note must be at most 1000 characters')
      .refine((s) => !s.includes('\u0000') && s.isWellFormed(), 'note must be plain text')
      .optional(),
  }, { error: 'the body must be a JSON object' })
  .strict();
export type ReviewBody = z.infer<typeof reviewBodySchema>;

const ALERT_ID = /^[A-Za-z0-9-]{1,64}$/;

/** GET /audit/alerts: alerts of a status, newest first, and how many are open. */
export async function listAlertsFor(
  deps: AlertServiceDeps,
  principal: Principal,
  params: ParamList,
  meta: RequestMeta,
  query: string | undefined,
): Promise<AlertResult<AlertList>> {
  const repeated = params.find(([k], i) => params.findIndex(([other]) => other === k) !== i)?.[0];
  if (repeated !== undefined) {
    return refuse(deps, principal, meta, 'operation', problem(400, 'invalid', `${printable(repeated)} may be given once`, printable(repeated)), query);
  }
  const parsed = alertQuerySchema.safeParse(Object.fromEntries(params));
  if (!parsed.success) return refuse(deps, principal, meta, 'operation', fromZod(parsed.error, 'query'), query);
  const { status, _count } = parsed.data;
  return deps.audit.transaction(deps.db, async (tx) => {
    const rows = await listAlerts(tx, status, _count);
    const open = await countOpenAlerts(tx);
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'operation',
      outcome: 'success',
      outcomeDesc: 'alerts listed',
      resourceType: 'AuditEvent',
      query,
      // The alerts name patients and the events they are about: each is audited as touched.
      patients: [...new Set(rows.flatMap((r) => r.patients))],
      resources: [...new Set(rows.map((r) => `AuditEvent/${r.auditEventId}`))],
    });
    return { ok: true, value: { alerts: rows.map(viewOf), open } };
  });
}

/**
 * POST /audit/alerts/:id/review: marks an open alert reviewed by the
 * principal (a client id, or `ig-web:<user>` for the /ig page) now, with an
 * optional note, and audits it in the same transaction.
 */
export async function reviewAlert(deps: AlertServiceDeps, principal: Principal, id: string, body: unknown, meta: RequestMeta): Promise<AlertResult<AlertView>> {
  // No body at all: reviewed without a note.
  const parsed = reviewBodySchema.safeParse(body ?? {});
  if (!parsed.success) return refuse(deps, principal, meta, 'update', fromZod(parsed.error, 'body'));
  if (!ALERT_ID.test(id)) return refuse(deps, principal, meta, 'update', problem(404, 'not-found', 'no alert has this id', 'id'));
  const note = parsed.data.note?.trim();
  return deps.audit.transaction(deps.db, async (tx): Promise<AlertResult<AlertView>> => {
    const reviewed = await markAlertReviewed(tx, id, { at: deps.clock(), by: principal.clientId, note: note === '' ? undefined : note });
    if (reviewed === undefined) {
      const alert = await findAlert(tx, id);
      const refusal =
        alert?.reviewedAt === undefined || alert.reviewedAt === null
          ? problem(404, 'not-found', `alert ${id} is not known`, 'id')
          : problem(409, 'conflict', `alert ${id} was already reviewed by ${alert.reviewedBy ?? 'unknown'} at ${alert.reviewedAt.toISOString()}`, 'id');
      await deps.audit.rest(tx, meta, requesterOf(principal), {
        interaction: 'update',
        outcome: 'minor-failure',
        outcomeDesc: refusal.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; '),
        resourceType: 'AuditEvent',
        ...(alert === undefined ? {} : { resources: [`AuditEvent/${alert.auditEventId}`] }),
      });
      return { ok: false, problem: refusal };
    }
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction: 'update',
      outcome: 'success',
      outcomeDesc: `alert ${id} reviewed`,
      resourceType: 'AuditEvent',
      patients: reviewed.patients,
      resources: [`AuditEvent/${reviewed.auditEventId}`],
    });
    return { ok: true, value: viewOf(reviewed) };
  });
}

function viewOf(a: StoredAlert): AlertView {
  return {
    id: a.id,
    raised: a.raised.toISOString(),
    kind: a.kind,
    auditEventId: a.auditEventId,
    clientId: a.clientId,
    organisationCode: a.organisationCode,
    patients: a.patients,
    reason: a.reason,
    reviewedAt: a.reviewedAt?.toISOString() ?? null,
    reviewedBy: a.reviewedBy,
    reviewNote: a.reviewNote,
  };
}

/** A refusal before anything was read: audited in its own transaction. */
async function refuse<T>(deps: AlertServiceDeps, principal: Principal, meta: RequestMeta, interaction: RestInteraction, refusal: Problem, query?: string): Promise<AlertResult<T>> {
  await deps.audit.transaction(deps.db, async (tx) => {
    await deps.audit.rest(tx, meta, requesterOf(principal), {
      interaction,
      outcome: 'minor-failure',
      outcomeDesc: refusal.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; '),
      resourceType: 'AuditEvent',
      query,
    });
  });
  return { ok: false, problem: refusal };
}

/** The first zod issue as a 400 naming the field (or `whole` when the input itself is at fault). */
function fromZod(error: z.ZodError, whole: string): Problem {
  const issue = error.issues[0];
  if (issue === undefined) return problem(400, 'invalid', `the ${whole} is invalid`, whole);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map(printable);
    return problem(400, 'not-supported', `${keys.join(', ')} ${keys.length === 1 ? 'is' : 'are'} not supported`, keys);
  }
  const field = issue.path.map(String).join('.');
  return problem(400, field === '' ? 'structure' : 'invalid', issue.message, field === '' ? whole : field);
}

/** A caller's name for a parameter or member, safe to echo. */
function printable(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
}
