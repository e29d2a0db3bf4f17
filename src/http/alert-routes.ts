import { Router } from 'express';
import type { IgGuardDeps } from './ig-guard.js';

// Alerts the IG lead must review: safeguarding overrides and denial bursts.

export function alertRouter(_deps: IgGuardDeps): Router {
  const router = Router();
  return router;
}
