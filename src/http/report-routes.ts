import { Router } from 'express';
import type { IgGuardDeps } from './ig-guard.js';

// The IG lead's reports over the audit log (CSV and JSON).

export function reportRouter(_deps: IgGuardDeps): Router {
  const router = Router();
  return router;
}
