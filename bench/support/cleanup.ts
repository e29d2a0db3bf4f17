import { withDeadline } from './time.js';

interface Step {
  name: string;
  undo: () => Promise<void>;
}

/**
 * What a benchmark started, undone newest first. Every step is attempted even
 * if an earlier one fails, and each is bounded in time, so that a failed run
 * still stops its processes and drops its database.
 */
export class Cleanup {
  private readonly steps: Step[] = [];

  constructor(
    private readonly log: (line: string) => void,
    private readonly stepMs = 60_000,
  ) {}

  defer(name: string, undo: () => Promise<void>): void {
    this.steps.push({ name, undo });
  }

  /** Returns false if any step failed (each failure is logged). */
  async runAll(): Promise<boolean> {
    let ok = true;
    for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) {
      try {
        await withDeadline(step.undo(), this.stepMs, step.name);
      } catch (err) {
        ok = false;
        this.log(`cleanup: ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return ok;
  }
}
