import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import { MllpConnection, type MllpConnectionDeps, type MllpLimits } from './mllp-connection.js';

// The MLLP listeners: plain TCP (senders on an address allow-list, the weaker
// option) and mutual TLS (senders by client certificate), either or both.
// Each connection is an MllpConnection; this file only accepts, counts and closes.

export interface MllpTlsOptions {
  port: number;
  /** PEM: the hub's certificate and key, and the CA(s) client certificates must chain to. */
  cert: string | Buffer;
  key: string | Buffer;
  ca: string | Buffer;
}

export interface MllpOptions {
  host: string;
  /** Plain MLLP (address allow-lists); off when undefined. 0 picks a free port. */
  port?: number | undefined;
  /** MLLP over mutual TLS; off when undefined. */
  tls?: MllpTlsOptions | undefined;
  limits: MllpLimits;
}

export interface MllpListeners {
  /** Where each listener is bound (port 0 resolved). */
  plain: AddressInfo | undefined;
  tls: AddressInfo | undefined;
  /** Stops accepting, answers what was already read on each connection, then closes them. */
  close(): Promise<void>;
}

export async function startMllp(deps: MllpConnectionDeps, options: MllpOptions): Promise<MllpListeners> {
  const connections = new Set<MllpConnection>();
  let admitted = 0;
  const accept = (socket: Socket): void => {
    const full = admitted >= options.limits.maxConnections;
    const refusal = full ? `the hub takes at most ${options.limits.maxConnections} MLLP connections at once (MLLP_MAX_CONNECTIONS): try again later` : undefined;
    const connection = new MllpConnection(deps, socket, options.limits, refusal);
    if (full) deps.logger.warn({ connection: connection.id, limit: options.limits.maxConnections }, 'MLLP connection over the limit');
    else admitted += 1;
    connections.add(connection);
    socket.once('close', () => {
      connections.delete(connection);
      if (!full) admitted -= 1;
    });
  };

  const servers: net.Server[] = [];
  let plain: AddressInfo | undefined;
  let secure: AddressInfo | undefined;
  if (options.port !== undefined) {
    const server = net.createServer(accept);
    plain = await listen(server, options.port, options.host, options.limits);
    servers.push(server);
  }
  if (options.tls !== undefined) {
    const server = tls.createServer(
      {
        cert: options.tls.cert,
        key: options.tls.key,
        ca: options.tls.ca,
        // Mutual TLS: no certificate, or one that does not chain to the CA, and the handshake fails.
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        handshakeTimeout: Math.min(options.limits.idleTimeoutMs, 120_000),
      },
      accept,
    );
    server.on('tlsClientError', (err, socket) => {
      deps.logger.warn({ err: err.message, address: socket.remoteAddress }, 'MLLP TLS handshake refused');
    });
    secure = await listen(server, options.tls.port, options.host, options.limits);
    servers.push(server);
  }
  deps.logger.info({ plain, tls: secure, limits: options.limits }, 'MLLP listening');

  return {
    plain,
    tls: secure,
    close: async () => {
      const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => { resolve(); })));
      await Promise.all([...connections].map((c) => c.close()));
      await Promise.all(closed);
    },
  };
}

async function listen(server: net.Server, port: number, host: string, limits: MllpLimits): Promise<AddressInfo> {
  // A backstop below the refusal above: sockets beyond twice the cap are dropped unanswered.
  server.maxConnections = limits.maxConnections * 2;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}
