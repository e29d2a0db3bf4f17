import type { Request, Response } from 'express';
import type { Problem } from '../fhir/operation-outcome.js';
import { sendProblem } from './send.js';

// The /ig page's own error pages: a browser that opens a wrong /ig address,
// meets a fault, or follows a spent sign-in link gets a page in the page's
// style (its stylesheet, its masthead, a way back), not an OperationOutcome.
// No stack, no SQL, nothing from the request but its path and its request id
// (escaped). API clients asking for JSON still get the OperationOutcome.

/**
 * The /ig page's Content-Security-Policy, stricter than helmet's default: only
 * its own script, styles and APIs; no inline script or style; not framed.
 */
export function igPageCsp(secure: boolean): string {
  return [
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
}

/** A request for a page under /ig from a browser (HTML preferred over JSON: content negotiation, RFC 9110 §12.5.1). */
export function wantsIgPage(req: Request): boolean {
  if (req.path !== '/ig' && !req.path.startsWith('/ig/')) return false;
  return req.accepts(['application/fhir+json', 'application/json', 'text/html']) === 'text/html';
}

export interface IgErrorPage {
  status: number;
  title: string;
  /** Sentences for the reader, as text (escaped here). */
  message: string;
  /** What to do next, as text. */
  next?: string | undefined;
  /** Where the page's one link goes, and its words. */
  link?: { href: string; text: string } | undefined;
}

/** The page for an /ig browser request, or the Problem for anyone else. */
export function sendIgProblem(req: Request, res: Response, p: Problem, page: Omit<IgErrorPage, 'status'>): void {
  if (!wantsIgPage(req)) {
    sendProblem(res, p);
    return;
  }
  sendIgErrorPage(res, { ...page, status: p.status });
}

export function sendIgErrorPage(res: Response, page: IgErrorPage): void {
  res.setHeader('Content-Security-Policy', igPageCsp(false));
  res.status(page.status).type('text/html; charset=utf-8').send(igErrorHtml(page, String(res.locals['requestId'] ?? '')));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function igErrorHtml(page: IgErrorPage, requestId: string): string {
  const link = page.link ?? { href: '/ig', text: 'Go to the information governance page' };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}: Early Years Sharing Hub</title>
<link rel="stylesheet" href="/ig/app.css">
</head>
<body class="error-page">
<header class="masthead">
  <h1>Information governance</h1>
  <p class="subtitle">Early Years Sharing Hub</p>
</header>
<main class="refused" data-testid="error-page" data-status="${page.status}">
<h2 data-testid="error-title">${escapeHtml(page.title)}</h2>
<p data-testid="error-message">${escapeHtml(page.message)}</p>
${page.next === undefined ? '' : `<p data-testid="error-next">${escapeHtml(page.next)}</p>\n`}<p><a href="${escapeHtml(link.href)}" data-testid="error-link">${escapeHtml(link.text)}</a></p>
<p class="muted">Error ${page.status}${requestId === '' ? '' : `, reference <code data-testid="error-reference">${escapeHtml(requestId)}</code>`}</p>
</main>
</body>
</html>
`;
}
