import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { chainHash, EMPTY_CHAIN } from '../../src/audit/log-hash.js';
import { HASH_SIZE } from '../../src/audit/merkle.js';
import { buildFullTiles, TILE_WIDTH, type BuiltTile } from '../../src/audit/tiles.js';

// Preloads a log of `entries` entries for `bench log-scale` straight into a
// migrated bench database, the way a hub that sequenced them would have left
// what its start reads: every full tile of the tree (all levels, with their
// roots, built by the hub's own tile builder) over synthetic leaf hashes, and
// only the log's right edge in audit_log and audit_event (the last TAIL
// entries: the partial tile and a little more). The rest of audit_log and
// audit_event is not preloaded, since no start reads it; their hash chain
// starts at the tail, so `hub audit verify` would not pass on this database.

/** Entries at the end of the log preloaded as audit_log and audit_event rows. */
export const TAIL = 512;

/** Leaf hash i: distinct synthetic bytes (a per-run salt and the index), cheap to make. */
export function syntheticLeaf(salt: Uint8Array, i: number): Uint8Array {
  const b = new Uint8Array(HASH_SIZE);
  b.set(salt);
  new DataView(b.buffer).setFloat64(HASH_SIZE - 8, i);
  return b;
}

export async function preloadLog(url: string, entries: number, log: (line: string) => void, signal: AbortSignal): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'hubbench-preload' });
  await client.connect();
  try {
    const salt = randomBytes(HASH_SIZE - 8);
    // Level 0 in chunks of 256 tiles; each level's roots feed the level above.
    let roots: Uint8Array[] = [];
    const chunk = 256 * TILE_WIDTH;
    const full0 = Math.floor(entries / TILE_WIDTH) * TILE_WIDTH;
    for (let start = 0; start < full0; start += chunk) {
      signal.throwIfAborted();
      const leaves = Array.from({ length: Math.min(chunk, full0 - start) }, (_, i) => syntheticLeaf(salt, start + i));
      const tiles = buildFullTiles(0, start, leaves);
      await insertTiles(client, tiles);
      roots.push(...tiles.map((t) => t.root));
      if ((start / chunk) % 16 === 0) log(`log-scale: preloaded ${start + leaves.length} of ${entries} leaf hashes as tiles`);
    }
    for (let level = 1; roots.length >= TILE_WIDTH; level += 1) {
      const tiles = buildFullTiles(level, 0, roots);
      await insertTiles(client, tiles);
      roots = tiles.map((t) => t.root);
    }
    await preloadTail(client, salt, entries);
    await client.query('analyze audit_tile; analyze audit_log; analyze audit_event');
    await client.query('checkpoint').catch(() => undefined);
  } finally {
    await client.end();
  }
}

async function insertTiles(client: pg.Client, tiles: readonly BuiltTile[]): Promise<void> {
  for (let i = 0; i < tiles.length; i += 64) {
    const batch = tiles.slice(i, i + 64);
    const values = batch.map((_, j) => `($${j * 4 + 1}, $${j * 4 + 2}, $${j * 4 + 3}, $${j * 4 + 4})`).join(', ');
    await client.query(
      `insert into audit_tile (level, idx, hashes, root) values ${values}`,
      batch.flatMap((t) => [t.level, t.index, Buffer.from(t.hashes), Buffer.from(t.root)]),
    );
  }
}

/** The last TAIL entries as audit_event and audit_log rows, so the log's size and right edge are as a hub left them. */
async function preloadTail(client: pg.Client, salt: Uint8Array, entries: number): Promise<void> {
  const from = Math.max(0, entries - TAIL);
  let prev = EMPTY_CHAIN;
  await client.query('begin');
  for (let i = from; i < entries; i += 1) {
    const leaf = Buffer.from(syntheticLeaf(salt, i)).toString('hex');
    const event = { resourceType: 'AuditEvent', id: `bench-log-${i}`, recorded: new Date(0).toISOString() };
    const inserted = await client.query<{ seq: string }>(
      'insert into audit_event (event_id, recorded, event, leaf_hash) values ($1, now(), $2, $3) returning seq',
      [event.id, JSON.stringify(event), leaf],
    );
    const chained = chainHash(prev, leaf);
    await client.query(
      'insert into audit_log (idx, event_seq, leaf_hash, prev_hash, chain_hash, sequenced_at) values ($1, $2, $3, $4, $5, now())',
      [i, inserted.rows[0]?.seq, leaf, prev, chained],
    );
    prev = chained;
  }
  await client.query('commit');
}
