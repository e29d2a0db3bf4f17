import { Router } from 'express';
import type { IgGuardDeps } from './ig-guard.js';

// The IG lead's web page (/ig) and its sign-in.

export function igRouter(_deps: IgGuardDeps): Router {
  const router = Router();
  return router;
}
