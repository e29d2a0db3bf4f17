import helmet from 'helmet';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { problem } from '../fhir/operation-outcome.js';
import { FHIR_JSON } from './send.js';

export interface ServerTimeouts {
  /** How long an idle keep-alive socket stays open; above the load balancer's idle timeout. */
  keepAliveTimeoutMs: number;
  /** How long the request headers may take to arrive; above keepAliveTimeoutMs (Node's rule). */
  headersTimeoutMs: number;
  /** How long a whole request may take. */
  requestTimeoutMs: number;
}

/** The headers helmet sets on every answer of the app, captured once for answers given outside it. */
function securityHeaders(): [string, string][] {
  const headers = new Map<string, string>();
  const res = {
    setHeader: (name: string, value: unknown) => headers.set(name, String(value)),
    removeHeader: (name: string) => headers.delete(name),
  } as unknown as ServerResponse;
  // helmet reads nothing from the request; an empty one stands in.
  helmet()(Object.create(null) as IncomingMessage, res, () => undefined);
  return [...headers, ['Cache-Control', 'no-store']];
}

/**
 * Node answers a request it cannot parse (oversized headers: 431; a malformed
 * request line: 400; a request that took too long: 408) itself, before the
 * app sees it, with a bare status line. The hub answers those too with an
 * OperationOutcome and its usual security headers.
 * See: https://nodejs.org/api/http.html#event-clienterror
 */
function clientErrorAnswer(err: Error & { code?: string }): string {
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const p =
    status === 431
      ? problem(431, 'too-costly', 'the request headers are larger than this hub accepts (RFC 6585 section 5)', 'headers')
      : status === 408
        ? problem(408, 'timeout', 'the request took too long to arrive')
        : problem(400, 'structure', 'the request is not well-formed HTTP/1.1');
  const body = JSON.stringify(p.outcome);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    `Content-Type: ${FHIR_JSON}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...headersOnce.map(([name, value]) => `${name}: ${value}`),
  ];
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

const headersOnce = securityHeaders();

/** Applies the hub's timeouts and its answer to unparseable requests to a listening (or soon listening) server. */
export function configureServer(server: Server, timeouts: ServerTimeouts): void {
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  server.headersTimeout = timeouts.headersTimeoutMs;
  server.requestTimeout = timeouts.requestTimeoutMs;
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    // A connection the client already dropped has nobody to answer.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(clientErrorAnswer(err));
  });
}
