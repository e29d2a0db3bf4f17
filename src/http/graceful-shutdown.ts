import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';

// Graceful shutdown of the HTTP side (SIGTERM from a supervisor or `docker stop`):
// stop accepting connections, answer every request already received, and
// close each keep-alive connection after its current answer (`Connection:
// close`, RFC 9112 section 9.6), so no client sees a request of its cut.
// Node's own server.close() closes idle keep-alive connections at once, which
// resets a request the client sent on one just before it learnt of the close;
// here idle connections get a short grace first, in which a request that
// arrives on them is still answered (with `Connection: close`).

/** Whether the instance is stopping, and the one middleware that acts on it. */
export class ServerLifecycle {
  private stoppingSince: number | undefined;
  private readonly open = new Set<Response>();

  get stopping(): boolean {
    return this.stoppingSince !== undefined;
  }

  /** Every answer from now on closes its connection after it, those in progress included. */
  begin(): void {
    this.stoppingSince ??= Date.now();
    for (const res of this.open) if (!res.headersSent) res.setHeader('Connection', 'close');
  }

  readonly middleware = (_req: Request, res: Response, next: NextFunction): void => {
    if (this.stopping) {
      res.setHeader('Connection', 'close');
    } else {
      this.open.add(res);
      res.once('close', () => this.open.delete(res));
    }
    next();
  };
}

export interface DrainOptions {
  /** How long idle keep-alive connections may still bring a request before they are closed. */
  lingerMs: number;
  /** When (Date.now() value) the remaining connections are cut, answered or not. */
  cutAt: number;
}

function openConnections(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.getConnections((err, count) => {
      resolve(err === null ? count : 0);
    });
  });
}

/**
 * Stops accepting, lets the open connections finish as above, and resolves
 * with how many connections had to be cut at `cutAt` (0 when all closed by themselves).
 */
export async function drainServer(server: Server, lifecycle: ServerLifecycle, options: DrainOptions): Promise<number> {
  lifecycle.begin();
  const lingerUntil = Date.now() + options.lingerMs;
  // net.Server's close: no new connections; unlike http.Server's, it leaves idle keep-alive ones open.
  NetServer.prototype.close.call(server);
  for (;;) {
    const open = await openConnections(server);
    if (open === 0) return 0;
    const now = Date.now();
    if (now >= options.cutAt) {
      server.closeAllConnections();
      return open;
    }
    if (now >= lingerUntil) server.closeIdleConnections();
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
