import type { Logger } from 'pino';
import type { LogKey } from '../audit/signed-note.js';
import type { Db } from '../db/database.js';
import { drainAuditQueue, sequenceAuditEvents } from '../db/audit-queries.js';

/**
 * Extends the audit log in the background: nudged after each audited commit,
 * and on a timer so events committed by other instances are picked up too.
 * Holds no state that other instances need; the database lock decides who sequences.
 */
export class AuditSequencer {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly clock: () => Date,
    private readonly logger: Logger,
    /** Signs each entry's receipt. */
    private readonly key?: LogKey,
    /** Runs after each pass (e.g. signing a checkpoint when one is due). */
    private readonly afterPass?: () => Promise<void>,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.nudge();
    }, intervalMs);
    this.timer.unref();
  }

  nudge(): void {
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        while ((await sequenceAuditEvents(this.db, this.clock, this.key)) > 0) {
          // keep going while there is a backlog
        }
        await this.afterPass?.().catch((err: unknown) => {
          this.logger.error({ err: { type: err instanceof Error ? err.name : typeof err } }, 'no checkpoint signed after sequencing');
        });
      } catch (err) {
        this.logger.error({ err: { type: err instanceof Error ? err.name : typeof err } }, 'audit sequencing failed; will retry');
        return;
      }
    } while (this.again);
  }

  /** Waits for in-flight work, then sequences whatever is left (and signs a checkpoint if one is due). */
  async flush(): Promise<void> {
    await this.running;
    await drainAuditQueue(this.db, this.clock, this.key);
    await this.afterPass?.().catch((err: unknown) => {
      this.logger.error({ err: { type: err instanceof Error ? err.name : typeof err } }, 'no checkpoint signed after sequencing');
    });
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
  }
}
