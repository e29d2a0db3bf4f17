import { Router, type Response } from 'express';
import { readFile } from 'node:fs/promises';
import { SESSION_MS } from '../db/ig-queries.js';
import { signIn, signOut } from '../services/ig-session-service.js';
import { problem } from '../fhir/operation-outcome.js';
import { cookieValue, fromOwnOrigin, IG_COOKIE, type IgGuardDeps } from './ig-guard.js';
import { igPageCsp, sendIgErrorPage, sendIgProblem } from './ig-error-page.js';
import { metaOf } from './request-context.js';

// The IG lead's web page (/ig) and its sign-in. The page is static: plain
// HTML, CSS and JS from src/ig-page/, which read the IG lead's JSON APIs
// (/fhir/AuditEvent, /audit/*) with the session cookie. Nothing here holds
// personal data; the APIs decide, audit and answer.

const PAGE_DIR = new URL('../ig-page/', import.meta.url);

const PAGE_FILES = [
  { path: '/ig', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/ig/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { path: '/ig/app.css', file: 'app.css', type: 'text/css; charset=utf-8' },
] as const;

export function igRouter(deps: IgGuardDeps): Router {
  const router = Router();
  const secure = new URL(deps.baseUrl).protocol === 'https:';
  const cookieOptions = { httpOnly: true, sameSite: 'strict', path: '/', secure } as const;
  // Stricter than helmet's default (ig-error-page.ts): the page's own script, styles and APIs only.
  const csp = igPageCsp(secure);
  const pageHeaders = (res: Response): void => {
    res.setHeader('Content-Security-Policy', csp);
  };

  for (const page of PAGE_FILES) {
    router.get(page.path, async (_req, res) => {
      const body = await readFile(new URL(page.file, PAGE_DIR));
      if (page.type.startsWith('text/html')) pageHeaders(res);
      res.type(page.type).send(body);
    });
  }

  // The one-time link `hub ig-link` prints. The request logger logs the path
  // only, so the token never reaches a log; Referrer-Policy (helmet) is no-referrer.
  router.get('/ig/login', async (req, res) => {
    const result = await signIn(deps, metaOf(req, res), req.query['token']);
    if (!result.ok) {
      sendIgErrorPage(res, {
        status: 401,
        title: 'This sign-in link cannot be used',
        message: sentence(result.reason),
        next: 'A link works once and for 15 minutes. Ask for a new one: npm run hub -- ig-link',
        link: { href: '/ig', text: 'Go to the information governance page' },
      });
      return;
    }
    res.cookie(IG_COOKIE, result.sessionId, { ...cookieOptions, maxAge: SESSION_MS });
    res.redirect(303, '/ig');
  });

  // Signing out changes the caller's session: another site must not be able to
  // end it (login CSRF's mirror), so the same origin check as every /ig change.
  router.post('/ig/logout', async (req, res) => {
    if (!fromOwnOrigin(req, deps.baseUrl)) {
      sendIgProblem(req, res, problem(403, 'forbidden', 'signing out of the /ig page must come from the hub\'s own page (Origin)', 'Origin'), {
        title: 'Sign out from the page itself',
        message: 'Signing out must come from the information governance page on this hub; this request came from elsewhere, so nothing was changed.',
      });
      return;
    }
    await signOut(deps, cookieValue(req.get('cookie'), IG_COOKIE));
    res.clearCookie(IG_COOKIE, cookieOptions);
    res.redirect(303, '/ig');
  });

  return router;
}

/** "the link is spent" → "The link is spent." */
function sentence(reason: string): string {
  const text = reason.trim();
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`;
}
