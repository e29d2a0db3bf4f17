import { Router } from 'express';
import { parseTilePath } from '../audit/tiles.js';
import { problem } from '../fhir/operation-outcome.js';
import type { AuditLogService } from '../services/audit-log-service.js';
import { sendProblem } from './send.js';

// The verifiable log for any tlog-tiles client (a witness, a monitor, a
// partner's own check): the latest signed checkpoint and the Merkle tree's
// tiles, read-only, public and unaudited like GET /audit/key. They carry
// hashes and sizes only. The prefix is /audit-log, so that the log's default
// origin (<host>/audit-log) is its URL prefix, as tlog-tiles recommends.
// Entry bundles (tile/entries/...) are not served: audit entries name
// children, families and staff, and stay behind the IG lead's
// /audit/proof/inclusion and `hub audit export`.
// See: https://c2sp.org/tlog-tiles

export const TILE_PREFIX = '/audit-log';

export function tileRouter(deps: { auditLog: AuditLogService }): Router {
  const router = Router();

  router.get(`${TILE_PREFIX}/checkpoint`, async (_req, res) => {
    const cp = await deps.auditLog.publicCheckpoint();
    // Mutable: the spec asks that it not be cached beyond a few seconds.
    res.setHeader('Cache-Control', 'public, max-age=5');
    if (cp === undefined) {
      sendProblem(res, problem(404, 'not-found', 'no checkpoint: the log is empty'));
      return;
    }
    res.type('text/plain; charset=utf-8').send(cp.note);
  });

  router.get(`${TILE_PREFIX}/tile/*path`, async (req, res) => {
    const elements = (req.params as { path?: string[] }).path ?? [];
    if (elements[0] === 'entries') {
      sendProblem(res, problem(404, 'not-supported', 'entry bundles are not served: audit entries hold personal data (the IG lead reads them through /audit/proof/inclusion)', 'path'));
      return;
    }
    const parsed = parseTilePath(elements);
    if (!parsed.ok) {
      sendProblem(res, problem(404, 'not-found', `no such tile: ${parsed.reason}`, 'path'));
      return;
    }
    const tile = await deps.auditLog.tile(parsed.tile);
    if (tile === undefined) {
      sendProblem(res, problem(404, 'not-found', 'the log has not reached this tile', 'path'));
      return;
    }
    // A tile at a given width never changes (full tiles and partial ones alike).
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.type('application/octet-stream').send(Buffer.from(tile.buffer, tile.byteOffset, tile.byteLength));
  });

  return router;
}
