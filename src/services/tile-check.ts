import { TileRebuilder } from '../audit/tile-rebuilder.js';
import { HASH_SIZE } from '../audit/merkle.js';
import { tilePath, tileSpan, TILE_WIDTH, type BuiltTile } from '../audit/tiles.js';
import { storedTileRange, tilesBeyondLog } from '../db/audit-tile-queries.js';
import type { Db } from '../db/database.js';

// Checks the stored tiles (audit_tile, what /audit-log/tile/… serves and what
// proofs are built from) against the tiles recomputed from the leaf hashes
// the verifier has just checked: every full tile must be stored, equal, with
// its root, and none stored beyond the log. Streaming: the recomputed tiles
// are compared in batches, so memory stays bounded as the log grows.

export interface TileFinding {
  level: number;
  index: number;
  /** The first log index the tile covers. */
  firstEntry: number;
  detail: string;
}

export class StoredTileCheck {
  private readonly rebuilder = new TileRebuilder();
  private queue: BuiltTile[] = [];
  private finding: TileFinding | undefined;

  constructor(
    private readonly db: Db,
    private readonly batch = 64,
  ) {}

  /** The next verified leaf hash (hex), in index order. */
  async push(leafHash: string): Promise<void> {
    if (this.finding !== undefined) return;
    this.queue.push(...this.rebuilder.push(Buffer.from(leafHash, 'hex')));
    if (this.queue.length >= this.batch) await this.flush();
  }

  /** The first tile that differs, is missing, or lies beyond the log; undefined if all agree. */
  async finish(): Promise<TileFinding | undefined> {
    await this.flush();
    if (this.finding !== undefined) return this.finding;
    const [extra] = await tilesBeyondLog(this.db);
    if (extra !== undefined) {
      this.finding = found(extra, `is stored but the log has only ${extra.size} entries: it claims entries the log does not hold`);
    }
    return this.finding;
  }

  private async flush(): Promise<void> {
    const queued = this.queue;
    this.queue = [];
    if (this.finding !== undefined || queued.length === 0) return;
    const stored = new Map<string, { hashes: Uint8Array; root: Uint8Array }>();
    for (const level of new Set(queued.map((t) => t.level))) {
      const indexes = queued.filter((t) => t.level === level).map((t) => t.index);
      for (const row of await storedTileRange(this.db, level, Math.min(...indexes), Math.max(...indexes) + 1)) {
        stored.set(`${level}/${row.index}`, row);
      }
    }
    for (const tile of queued) {
      const have = stored.get(`${tile.level}/${tile.index}`);
      const problem = have === undefined ? 'is missing from audit_tile' : difference(tile, have);
      if (problem !== undefined) {
        this.finding = found(tile, problem);
        return;
      }
    }
  }
}

function found(tile: { level: number; index: number }, problem: string): TileFinding {
  const span = tileSpan(tile.level + 1);
  const firstEntry = tile.index * span;
  return {
    level: tile.level,
    index: tile.index,
    firstEntry,
    detail: `stored tile level ${tile.level} index ${tile.index} (${tilePath({ ...tile, width: TILE_WIDTH })}, entries ${firstEntry}..${firstEntry + span - 1}) ${problem}`,
  };
}

function difference(expected: BuiltTile, have: { hashes: Uint8Array; root: Uint8Array }): string | undefined {
  for (let i = 0; i < TILE_WIDTH; i += 1) {
    const want = expected.hashes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
    const got = have.hashes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
    if (!Buffer.from(want).equals(Buffer.from(got))) {
      return `differs from the tile the verified leaf hashes make: hash ${i} of 256 is ${hexOrNone(got)}, the leaves make ${Buffer.from(want).toString('hex')}`;
    }
  }
  if (have.hashes.length !== expected.hashes.length) return `holds ${have.hashes.length} bytes, not ${expected.hashes.length}`;
  if (!Buffer.from(have.root).equals(Buffer.from(expected.root))) {
    return `has the right hashes but a stored root (${hexOrNone(have.root)}) that is not theirs (${Buffer.from(expected.root).toString('hex')})`;
  }
  return undefined;
}

function hexOrNone(bytes: Uint8Array): string {
  return bytes.length === 0 ? '(none)' : Buffer.from(bytes).toString('hex');
}
