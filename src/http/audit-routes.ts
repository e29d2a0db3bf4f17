import { Router } from 'express';
import type { IgGuardDeps } from './ig-guard.js';

// The verifiable log: signed checkpoints and Merkle proofs, for the IG lead.

export function auditRouter(_deps: IgGuardDeps): Router {
  const router = Router();
  return router;
}
