import { Router, type Response } from 'express';
import { readFile } from 'node:fs/promises';
import { SESSION_MS } from '../db/ig-queries.js';
import { signIn, signOut } from '../services/ig-session-service.js';
import { problem } from '../fhir/operation-outcome.js';
import { cookieValue, fromOwnOrigin, IG_COOKIE, type IgGuardDeps } from './ig-guard.js';
import { sendProblem } from './send.js';
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
  // Stricter than helmet's default for a page that shows who saw which child:
  // only its own script, styles and APIs; no inline script or style; not framed.
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    ...(secure ? ['upgrade-insecure-requests'] : []),
  ].join('; ');
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
      pageHeaders(res);
      res.status(401).type('text/html; charset=utf-8').send(refusedPage(result.reason));
      return;
    }
    res.cookie(IG_COOKIE, result.sessionId, { ...cookieOptions, maxAge: SESSION_MS });
    res.redirect(303, '/ig');
  });

  // Signing out changes the caller's session: another site must not be able to
  // end it (login CSRF's mirror), so the same origin check as every /ig change.
  router.post('/ig/logout', async (req, res) => {
    if (!fromOwnOrigin(req, deps.baseUrl)) {
      sendProblem(res, problem(403, 'forbidden', 'signing out of the /ig page must come from the hub\'s own page (Origin)', 'Origin'));
      return;
    }
    await signOut(deps, cookieValue(req.get('cookie'), IG_COOKIE));
    res.clearCookie(IG_COOKIE, cookieOptions);
    res.redirect(303, '/ig');
  });

  return router;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function refusedPage(reason: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in link refused: Early Years Sharing Hub</title>
<link rel="stylesheet" href="/ig/app.css">
</head>
<body>
<main class="refused">
<h1>This sign-in link cannot be used</h1>
<p data-testid="login-refused">${escapeHtml(reason)}.</p>
<p>A link works once and for 15 minutes. Ask for a new one: <code>npm run hub -- ig-link</code>.</p>
</main>
</body>
</html>
`;
}
