import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AuditLogVerifier, type LogVerdict } from '../audit/log-verifier.js';
import { rootOf } from '../audit/merkle.js';
import { overTiles, tilesNeeded, treeQueries, type TileRef, type TreeQuery } from '../audit/tiles.js';
import { parseVerifierKey, signCheckpoint, verifierKeyOf, type LogKey } from '../audit/signed-note.js';
import { checkpointOfSize, checkpointsFrom, insertCheckpoint, latestCheckpoint, logHead, logSize, readLogEntries, type StoredCheckpoint } from '../db/audit-queries.js';
import { insertAlert, isAlertOpen } from '../db/alert-queries.js';
import { catchUpTiles, readTile, readTiles } from '../db/audit-tile-queries.js';
import { inTransaction, type Db } from '../db/database.js';

// The verifiable log: an RFC 6962 Merkle tree over the audit log's leaf
// hashes, stored as tlog-tiles that the sequencer extends in its own
// transaction (audit-tile-queries.ts), so that no instance holds the tree
// and a start reads none of it; signed
// checkpoints every N entries or minutes and on demand; inclusion and
// consistency proofs against them. Before signing, the hub checks the tree
// still makes its last signed root: it never signs a checkpoint inconsistent
// with one it signed before (tlog-checkpoint), and says so to the IG lead.

export interface CheckpointPolicy {
  /** Sign a checkpoint once this many entries have been added since the last. */
  everyEntries: number;
  /** ... or once this long has passed with entries added. */
  everyMs: number;
}

export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = { everyEntries: 1000, everyMs: 5 * 60_000 };

export class LogInconsistentError extends Error {
  override readonly name = 'LogInconsistentError';
}

export interface InclusionAnswer {
  index: number;
  treeSize: number;
  leafHash: string;
  auditPath: string[];
  receipt: string | null;
  event: unknown;
  checkpoint: string;
}

export interface ConsistencyAnswer {
  from: number;
  to: number;
  proof: string[];
  fromCheckpoint: string | null;
  toCheckpoint: string;
}

export interface AuditLogServiceDeps {
  db: Db;
  key: LogKey;
  clock: () => Date;
  logger: Logger;
  policy?: CheckpointPolicy;
  /** Sequences every committed event first (on-demand checkpoints cover all that was committed before). */
  drain?: () => Promise<unknown>;
}

export class AuditLogService {
  private issuing: Promise<StoredCheckpoint | undefined> | undefined;
  private readonly policy: CheckpointPolicy;
  private readonly started: Date;
  private inconsistencyRaised = false;

  constructor(private readonly deps: AuditLogServiceDeps) {
    this.policy = deps.policy ?? DEFAULT_CHECKPOINT_POLICY;
    this.started = deps.clock();
  }

  get verifierKey(): string {
    return verifierKeyOf(this.deps.key);
  }

  get origin(): string {
    return this.deps.key.name;
  }

  /** How many entries the log holds now (the tree is in the database's tiles, not here). */
  async sync(): Promise<number> {
    return logSize(this.deps.db);
  }

  /**
   * Builds the tiles of entries sequenced before tiles existed (first start
   * after migration 0012), in batches; a no-op once they are whole.
   */
  async catchUp(): Promise<number> {
    return catchUpTiles(this.deps.db);
  }

  /** Answers a question about the tree of the first `size` entries from the few tiles it needs. */
  private async query<T>(run: TreeQuery<T>): Promise<T> {
    return overTiles(run, await readTiles(this.deps.db, tilesNeeded(run)));
  }

  private async root(size: number): Promise<Uint8Array> {
    return size === 0 ? rootOf([]) : this.query(treeQueries.root(size));
  }

  /** After the sequencer ran: catch up, and sign a checkpoint if one is due. */
  async afterSequenced(): Promise<void> {
    const { size, latest } = await logHead(this.deps.db);
    const since = latest?.treeSize ?? 0;
    if (size <= since) return;
    const age = this.deps.clock().getTime() - (latest?.issued ?? this.started).getTime();
    if (size - since >= this.policy.everyEntries || age >= this.policy.everyMs) await this.issueCheckpoint();
  }

  /**
   * Signs a checkpoint of the whole log now, unless the latest already covers
   * it. Refuses (LogInconsistentError) when the log no longer makes the last
   * signed root or is shorter than it, and raises an alert for the IG lead.
   */
  async issueCheckpoint(options: { drain?: boolean } = {}): Promise<StoredCheckpoint | undefined> {
    if (options.drain === true) await this.deps.drain?.();
    this.issuing ??= this.issue().finally(() => {
      this.issuing = undefined;
    });
    return this.issuing;
  }

  private async issue(): Promise<StoredCheckpoint | undefined> {
    let size = await this.sync();
    const latest = await latestCheckpoint(this.deps.db);
    // Another instance may have sequenced and signed since this one caught up.
    if (latest !== undefined && latest.treeSize > size) size = await this.sync();
    if (latest !== undefined) {
      if (latest.treeSize > size) {
        await this.inconsistent(`the log holds ${size} entries but a checkpoint was signed at ${latest.treeSize}: entries were removed`);
      }
      if (hex(await this.root(latest.treeSize)) !== latest.rootHash) {
        await this.inconsistent(`the log no longer makes the root signed at tree size ${latest.treeSize}: entries before it were changed`);
      }
      if (latest.treeSize === size) return latest;
    }
    if (size === 0) return undefined;
    const time = this.deps.clock();
    const root = await this.root(size);
    const note = signCheckpoint({ origin: this.deps.key.name, treeSize: size, rootHash: root, time }, this.deps.key);
    await insertCheckpoint(this.deps.db, { treeSize: size, rootHash: hex(root), issued: time, note });
    // Another instance may have signed this size first: theirs stands (same root, as both read one log).
    const stored = await checkpointOfSize(this.deps.db, size);
    if (stored !== undefined && stored.rootHash !== hex(root)) {
      await this.inconsistent(`two checkpoints of tree size ${size} disagree`);
    }
    return stored;
  }

  private async inconsistent(detail: string): Promise<never> {
    this.deps.logger.error({ problem: 'audit-log-inconsistent' }, detail);
    if (!this.inconsistencyRaised) {
      this.inconsistencyRaised = true;
      const reason = `the hub refused to sign a checkpoint: ${detail}`;
      await inTransaction(this.deps.db, async (tx) => {
        // Every instance now reads the same stored tree, so each finds the same fault: the IG lead is told once.
        if (await isAlertOpen(tx, 'log-integrity', reason)) return;
        await insertAlert(tx, {
          id: randomUUID(),
          raised: this.deps.clock(),
          kind: 'log-integrity',
          auditEventId: '',
          clientId: 'hub',
          organisationCode: '',
          patients: [],
          reason,
        });
      }).catch(() => undefined);
    }
    throw new LogInconsistentError(detail);
  }

  /** The latest signed checkpoint, signing one first if none covers the log yet and none exists. */
  async latest(): Promise<StoredCheckpoint | undefined> {
    return (await latestCheckpoint(this.deps.db)) ?? this.issueCheckpoint();
  }

  /**
   * The latest signed checkpoint for the public tlog-tiles endpoint: as GET
   * /audit/checkpoint, the first is signed on first asking; undefined when
   * the log is empty or the hub refuses to sign over it (the IG lead is told).
   */
  async publicCheckpoint(): Promise<StoredCheckpoint | undefined> {
    try {
      return await this.latest();
    } catch (err) {
      if (err instanceof LogInconsistentError) return undefined;
      throw err;
    }
  }

  /** One tile as tlog-tiles serves it, or undefined when the log has not reached it. */
  async tile(ref: TileRef): Promise<Uint8Array | undefined> {
    return readTile(this.deps.db, ref);
  }

  /** The compact range of the first `size` entries (a bundle's start). */
  async frontier(size: number): Promise<Uint8Array[]> {
    return size === 0 ? [] : this.query(treeQueries.frontier(size));
  }

  async checkpointOfSize(size: number): Promise<StoredCheckpoint | undefined> {
    return checkpointOfSize(this.deps.db, size);
  }

  /**
   * The audit path of entry `index` in the tree of a signed checkpoint: the
   * one of `size`, or the latest (signed now if it does not cover the index).
   * Undefined when no checkpoint of that size exists or the index is outside it.
   */
  async inclusion(index: number, size?: number): Promise<InclusionAnswer | undefined> {
    const logged = await this.sync();
    let cp = size === undefined ? await this.latest() : await checkpointOfSize(this.deps.db, size);
    if (size === undefined && (cp === undefined || index >= cp.treeSize) && index < logged) cp = await this.issueCheckpoint();
    if (cp === undefined || index >= cp.treeSize || (cp.treeSize > logged && cp.treeSize > (await this.sync()))) return undefined;
    const treeSize = cp.treeSize;
    const [entry] = await collect(readLogEntries(this.deps.db, index, index + 1));
    const [leaf, path] = await this.query((h) => [treeQueries.leaf(index)(h), treeQueries.inclusion(index, treeSize)(h)] as const);
    return {
      index,
      treeSize,
      leafHash: b64(leaf),
      auditPath: path.map(b64),
      receipt: entry?.receipt ?? null,
      event: entry?.event ?? null,
      checkpoint: cp.note,
    };
  }

  /** The consistency proof from tree size `from` to the checkpoint of size `to` (default: the latest). */
  async consistency(from: number, to?: number): Promise<ConsistencyAnswer | { problem: string } | undefined> {
    const target = to === undefined ? await this.latest() : await checkpointOfSize(this.deps.db, to);
    if (target === undefined || target.treeSize > (await this.sync())) return undefined;
    if (from > target.treeSize) return { problem: `from (${from}) is larger than the checkpoint's tree size ${target.treeSize}` };
    const earlier = await checkpointOfSize(this.deps.db, from);
    return {
      from,
      to: target.treeSize,
      proof: (await this.query(treeQueries.consistency(from, target.treeSize))).map(b64),
      fromCheckpoint: earlier?.note ?? null,
      toCheckpoint: target.note,
    };
  }

  /**
   * Verifies the stored log from the database, as `hub audit verify --bundle`
   * does offline: every event against its leaf hash, the tree against every
   * signed checkpoint, receipts where a root disagrees.
   */
  async verifyStored(): Promise<LogVerdict> {
    const parsed = parseVerifierKey(this.verifierKey);
    if (!parsed.ok) throw new Error(parsed.reason);
    const verifier = new AuditLogVerifier(parsed.value);
    const checkpoints = await checkpointsFrom(this.deps.db, 0);
    for (const cp of checkpoints) verifier.addCheckpoint(cp.note, `the checkpoint of tree size ${cp.treeSize}`);
    const end = Math.max(await logSize(this.deps.db), ...checkpoints.map((c) => c.treeSize));
    for await (const entry of readLogEntries(this.deps.db, 0, end)) {
      if (!verifier.push(entry)) break;
    }
    return verifier.finish();
  }
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
