import type { Logger } from 'pino';
import type { LogKey } from '../audit/signed-note.js';
import type { Db } from '../db/database.js';
import { drainAuditQueue, sequencePass } from '../db/audit-queries.js';
import { summariseError } from '../db/database-errors.js';

/** The longest pause between attempts while the database keeps failing. */
const MAX_BACKOFF_MS = 30_000;
/**
 * The least time between the passes of one busy loop. Every audited commit
 * nudges the sequencer; without a gap, under load each pass took the events of
 * about one request and cost as many statements as the request itself (a
 * transaction, the lock, the take, the log rows, the checkpoint check). With
 * it, a pass takes what committed in the gap, and an event waits at most this
 * much longer for its place in the log.
 */
const BUSY_GAP_MS = 50;

/**
 * Extends the audit log in the background: nudged after each audited commit,
 * and on a timer so events committed by other instances are picked up too.
 * Holds no state that other instances need; the database lock decides who sequences.
 * While the database fails, the timer's attempts back off (doubling up to 30 s)
 * and each failure is logged once per attempt, not every interval; a commit's
 * nudge still tries at once, since a commit means the database is back.
 */
export class AuditSequencer {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private notBefore = 0;
  private intervalMs = 500;

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
    this.intervalMs = intervalMs;
    this.timer = setInterval(() => {
      if (Date.now() >= this.notBefore) this.nudge();
    }, intervalMs);
    this.timer.unref();
  }

  /** Consecutive failed passes (0 when the last pass succeeded). */
  get failing(): number {
    return this.failures;
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
        // Keep going while a pass took a full batch. A pass that took less left nothing behind: what commits
        // after it nudges again, and a nudge while this runs makes the loop go round once more.
        while ((await sequencePass(this.db, this.clock, this.key)).more) {
          // a backlog
        }
        await this.afterPass?.().catch((err: unknown) => {
          this.logger.error({ err: { type: err instanceof Error ? err.name : typeof err } }, 'no checkpoint signed after sequencing');
        });
      } catch (err) {
        this.failures += 1;
        const backoffMs = Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** Math.min(this.failures, 16));
        this.notBefore = Date.now() + backoffMs;
        const summary = summariseError(err);
        this.logger.error({ err: { type: summary.type, code: summary.code, trouble: summary.trouble }, failures: this.failures, retryInMs: backoffMs }, 'audit sequencing failed; will retry');
        return;
      }
      if (this.failures > 0) this.logger.info({ after: this.failures }, 'audit sequencing recovered');
      this.failures = 0;
      this.notBefore = 0;
      if (this.again) await new Promise((resolve) => setTimeout(resolve, BUSY_GAP_MS));
    } while (this.again);
  }

  /**
   * Waits for in-flight work, then sequences whatever is left (and signs a
   * checkpoint if one is due), waiting at most `patienceMs` for another
   * instance that holds the sequencer lock.
   */
  async flush(patienceMs?: number): Promise<void> {
    await this.running;
    await drainAuditQueue(this.db, this.clock, this.key, patienceMs);
    await this.afterPass?.().catch((err: unknown) => {
      this.logger.error({ err: { type: err instanceof Error ? err.name : typeof err } }, 'no checkpoint signed after sequencing');
    });
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
  }
}
