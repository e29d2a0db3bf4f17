import { Router, type Request, type Response } from 'express';
import type { RestInteraction } from '../audit/audit-event.js';
import type { StoredCheckpoint } from '../db/audit-queries.js';
import { problem, type Problem } from '../fhir/operation-outcome.js';
import { LogInconsistentError, type AuditLogService } from '../services/audit-log-service.js';
import { requesterOf } from '../services/audit-recorder.js';
import { igGuard, type IgGuardDeps } from './ig-guard.js';
import { metaOf, principalOf } from './request-context.js';
import { sendProblem } from './send.js';

// The verifiable log, for the IG lead: signed checkpoints (C2SP notes) and
// RFC 9162 proofs, so that what she saved yesterday can be checked against
// what the hub shows today. Every answer is audited like any other read.
// Hashes and proofs are base64 (as in the checkpoint note).

export function auditRouter(deps: IgGuardDeps & { auditLog: AuditLogService }): Router {
  const router = Router();
  const log = deps.auditLog;

  /** The log's public key, for pinning: no data, not audited. */
  router.get('/audit/key', (_req, res) => {
    res.type('text/plain; charset=utf-8').send(`${log.verifierKey}\n`);
  });

  router.get('/audit/checkpoint', igGuard(deps, 'read'), async (req, res) => {
    const size = optionalCount(req, 'size', 1);
    if (typeof size === 'object') return refused(req, res, 'read', size);
    const cp = await settle(() => (size === undefined ? log.latest() : log.checkpointOfSize(size)));
    if (cp instanceof Conflict) return refused(req, res, 'read', cp.problem);
    if (cp === undefined) return refused(req, res, 'read', problem(404, 'not-found', size === undefined ? 'the log is empty: no checkpoint yet' : `no checkpoint was signed at tree size ${size}`, 'size'));
    await audited(req, res, 'read', `checkpoint of tree size ${cp.treeSize}`);
    sendCheckpoint(req, res, cp, log, 200);
  });

  // On demand: sign a checkpoint of the log as it stands now.
  router.post('/audit/checkpoint', igGuard(deps, 'create'), async (req, res) => {
    const cp = await settle(() => log.issueCheckpoint({ drain: true }));
    if (cp instanceof Conflict) return refused(req, res, 'create', cp.problem);
    if (cp === undefined) return refused(req, res, 'create', problem(404, 'not-found', 'the log is empty: no checkpoint yet'));
    await audited(req, res, 'create', `checkpoint of tree size ${cp.treeSize} on demand`);
    sendCheckpoint(req, res, cp, log, 200);
  });

  router.get('/audit/proof/inclusion', igGuard(deps, 'read'), async (req, res) => {
    const index = requiredCount(req, 'index', 0);
    if (typeof index === 'object') return refused(req, res, 'read', index);
    const size = optionalCount(req, 'size', 1);
    if (typeof size === 'object') return refused(req, res, 'read', size);
    const answer = await settle(() => log.inclusion(index, size));
    if (answer instanceof Conflict) return refused(req, res, 'read', answer.problem);
    if (answer === undefined) {
      return refused(req, res, 'read', problem(404, 'not-found', size === undefined ? `the log has no entry ${index}` : `no checkpoint of tree size ${size} holds entry ${index}`, size === undefined ? 'index' : 'size'));
    }
    await audited(req, res, 'read', `inclusion proof of entry ${index} in tree size ${answer.treeSize}`);
    res.json(answer);
  });

  router.get('/audit/proof/consistency', igGuard(deps, 'read'), async (req, res) => {
    const from = requiredCount(req, 'from', 1);
    if (typeof from === 'object') return refused(req, res, 'read', from);
    const to = optionalCount(req, 'to', 1);
    if (typeof to === 'object') return refused(req, res, 'read', to);
    const answer = await settle(() => log.consistency(from, to));
    if (answer instanceof Conflict) return refused(req, res, 'read', answer.problem);
    if (answer === undefined) return refused(req, res, 'read', problem(404, 'not-found', to === undefined ? 'the log is empty: no checkpoint yet' : `no checkpoint was signed at tree size ${to}`, 'to'));
    if ('problem' in answer) return refused(req, res, 'read', problem(400, 'invalid', answer.problem, 'from'));
    await audited(req, res, 'read', `consistency proof ${answer.from} -> ${answer.to}`);
    res.json(answer);
  });

  // Verify now: the stored log against every signed checkpoint and receipt.
  router.post('/audit/verify', igGuard(deps, 'operation'), async (req, res) => {
    const verdict = await log.verifyStored();
    await audited(req, res, 'operation', verdict.ok ? `log verified: ${verdict.treeSize} entries` : `log verification failed: ${verdict.finding?.problem ?? ''} at ${verdict.finding?.index ?? '?'}`);
    res.json({ ...verdict, finding: verdict.finding, origin: log.origin });
  });

  async function audited(req: Request, res: Response, interaction: RestInteraction, what: string): Promise<void> {
    const principal = principalOf(res);
    if (principal === undefined) throw new Error('audit route reached without a principal');
    await deps.audit.transaction(deps.db, (tx) =>
      deps.audit.rest(tx, metaOf(req, res), requesterOf(principal), { interaction, outcome: 'success', outcomeDesc: what, resourceType: 'AuditEvent', query: queryOf(req) }),
    );
  }

  async function refused(req: Request, res: Response, interaction: RestInteraction, p: Problem): Promise<void> {
    const principal = principalOf(res);
    await deps.audit.transaction(deps.db, (tx) =>
      deps.audit.rest(tx, metaOf(req, res), principal === undefined ? {} : requesterOf(principal), {
        interaction,
        outcome: 'minor-failure',
        outcomeDesc: p.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; '),
        resourceType: 'AuditEvent',
        query: queryOf(req),
      }),
    );
    sendProblem(res, p);
  }

  return router;
}

/** The note as text/plain (what a transparency-log client expects), or JSON with the verifier key. */
function sendCheckpoint(req: Request, res: Response, cp: StoredCheckpoint, log: AuditLogService, status: number): void {
  res.status(status);
  if (req.accepts(['text/plain', 'application/json']) === 'application/json') {
    res.json({
      origin: log.origin,
      treeSize: cp.treeSize,
      rootHash: Buffer.from(cp.rootHash, 'hex').toString('base64'),
      issued: cp.issued.toISOString(),
      note: cp.note,
      verifierKey: log.verifierKey,
    });
    return;
  }
  res.type('text/plain; charset=utf-8').send(cp.note);
}

/** A log the hub will not sign over: answered 409 with the reason. */
class Conflict {
  readonly problem: Problem;
  constructor(err: LogInconsistentError) {
    this.problem = problem(409, 'conflict', `no checkpoint can be signed: ${err.message}`);
  }
}

async function settle<T>(work: () => Promise<T>): Promise<T | Conflict> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof LogInconsistentError) return new Conflict(err);
    throw err;
  }
}

function queryOf(req: Request): string | undefined {
  const q = req.originalUrl.indexOf('?');
  return q < 0 ? undefined : req.originalUrl.slice(q + 1);
}

/** A whole-number query parameter of at least `min`; a Problem naming it when malformed. */
function optionalCount(req: Request, name: string, min: number): number | undefined | Problem {
  const raw = req.query[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < min) {
    return problem(400, 'invalid', `${name} must be a whole number of at least ${min}`, name);
  }
  return Number(raw);
}

function requiredCount(req: Request, name: string, min: number): number | Problem {
  const value = optionalCount(req, name, min);
  return value ?? problem(400, 'required', `${name} is required (a whole number of at least ${min})`, name);
}
