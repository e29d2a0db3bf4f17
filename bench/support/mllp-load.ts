import net from 'node:net';
import { frame, MllpFrameDecoder } from '../../src/mllp/frame-decoder.js';
import { percentile, type LoadFigures } from './load.js';
import { elapsedSeconds } from './time.js';

// The MLLP side of a run: a fixed number of connections on loopback, each
// closed-loop (send one block, wait for its ACK, send the next), as an
// interface engine with "wait for ACK" does. Any answer but AA fails the run.

export interface MllpLoad {
  port: number;
  connections: number;
  seconds: number;
  /** A message never sent before (called once per message). */
  next: () => string;
  signal: AbortSignal;
}

export async function runMllpLoad(load: MllpLoad): Promise<LoadFigures & { sent: number }> {
  load.signal.throwIfAborted();
  const latencies: number[] = [];
  let sent = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(load.seconds * 1e9));
  await Promise.all(
    Array.from({ length: load.connections }, async () => {
      const socket = net.connect({ host: '127.0.0.1', port: load.port });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      socket.setNoDelay(true);
      const decoder = new MllpFrameDecoder(1024 * 1024);
      let waiting: ((answer: string) => void) | undefined;
      let failed: Error | undefined;
      socket.on('data', (chunk: Buffer) => {
        for (const event of decoder.push(chunk)) waiting?.(event.kind === 'message' ? event.payload.toString('utf8') : `(${event.kind})`);
      });
      socket.on('error', (err) => {
        failed = err;
        waiting?.('(error)');
      });
      try {
        while (!load.signal.aborted && process.hrtime.bigint() < deadline) {
          const begun = process.hrtime.bigint();
          const answer = new Promise<string>((resolve) => (waiting = resolve));
          socket.write(frame(load.next()));
          sent += 1;
          const text = await answer;
          if (failed !== undefined) throw failed;
          if (!/\rMSA\|AA\|/.test(text)) throw new Error(`MLLP load: a message was answered ${text.replaceAll('\r', '\\r').slice(0, 500)}`);
          latencies.push(Number(process.hrtime.bigint() - begun) / 1e6);
        }
      } finally {
        socket.end();
        socket.destroy();
      }
    }),
  );
  load.signal.throwIfAborted();
  const elapsed = elapsedSeconds(started);
  latencies.sort((a, b) => a - b);
  return { completed: latencies.length, seconds: elapsed, perSecond: latencies.length / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), sent };
}
