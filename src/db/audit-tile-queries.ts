import { and, asc, desc, eq, gte, lt, or, sql } from 'drizzle-orm';
import { HASH_SIZE } from '../audit/merkle.js';
import { buildFullTiles, fullTiles, MAX_TILE_LEVEL, TILE_WIDTH, tileKey, type TileRef } from '../audit/tiles.js';
import { inTransaction, rawRows, type Db, type Tx } from './database.js';
import { auditLog, auditTiles } from './schema/index.js';

// The log's tiles in the database (migration 0012). Full tiles are written in
// the sequencer's transaction, as the leaves that complete them get their
// place; partial tiles are read, never stored: level 0's from audit_log, level
// L's from the roots of level L-1's full tiles. So the hub holds no tree in
// memory, and any instance reads the same tree.
// See: https://c2sp.org/tlog-tiles

/** The sequencer's lock (audit-queries.ts): tiles are written by its holder only. */
export const SEQUENCER_LOCK_KEY = `hashtext('eyhub:audit-sequencer')`;
export const SEQUENCER_LOCK = sql.raw(SEQUENCER_LOCK_KEY);

/**
 * Stores the full tiles a log of `size` entries has and the table lacks,
 * level by level, reading the hashes they need (the partial tile's, then the
 * new ones) from audit_log or the level below; at most `maxLeaves` entries'
 * worth per call, so a log sequenced before tiles existed is caught up in
 * bounded steps. Called inside a transaction that holds the sequencer lock.
 * Each commit leaves every level whole for some size, so a level that needs
 * nothing means none above does either. Returns the tiles stored and whether
 * the tiles now cover `size`.
 */
export async function extendTiles(tx: Db | Tx, size: number, maxLeaves = 256 * TILE_WIDTH): Promise<{ stored: number; complete: boolean }> {
  let have = await storedTiles(tx, 0);
  const reach = Math.min(size, have * TILE_WIDTH + maxLeaves);
  let stored = 0;
  for (let level = 0; level <= MAX_TILE_LEVEL && fullTiles(reach, level) > 0; level += 1) {
    if (level > 0) have = await storedTiles(tx, level);
    const need = fullTiles(reach, level);
    if (have >= need) break;
    const hashes = await levelHashes(tx, level, have * TILE_WIDTH, need * TILE_WIDTH);
    if (hashes.length !== (need - have) * TILE_WIDTH) {
      throw new Error(`the log's level ${level} has ${hashes.length} of the ${(need - have) * TILE_WIDTH} hashes from ${have * TILE_WIDTH}`);
    }
    const tiles = buildFullTiles(level, have * TILE_WIDTH, hashes);
    for (let i = 0; i < tiles.length; i += 128) {
      await tx.insert(auditTiles).values(tiles.slice(i, i + 128).map((t) => ({ level: t.level, idx: t.index, hashes: t.hashes, root: t.root })));
    }
    stored += tiles.length;
  }
  return { stored, complete: reach === size };
}

/** How many full tiles a level holds (they are stored left to right, with no gap). */
async function storedTiles(db: Db | Tx, level: number): Promise<number> {
  const [row] = await db.select({ idx: auditTiles.idx }).from(auditTiles).where(eq(auditTiles.level, level)).orderBy(desc(auditTiles.idx)).limit(1);
  return row === undefined ? 0 : row.idx + 1;
}

/** The hashes of a level at positions [from, to): leaf hashes at level 0, else the roots of the full tiles below. */
async function levelHashes(db: Db | Tx, level: number, from: number, to: number): Promise<Uint8Array[]> {
  if (to <= from) return [];
  if (level === 0) {
    const rows = await db
      .select({ leafHash: auditLog.leafHash })
      .from(auditLog)
      .where(and(gte(auditLog.idx, from), lt(auditLog.idx, to)))
      .orderBy(asc(auditLog.idx));
    return rows.map((r) => Buffer.from(r.leafHash, 'hex'));
  }
  const rows = await db
    .select({ root: auditTiles.root })
    .from(auditTiles)
    .where(and(eq(auditTiles.level, level - 1), gte(auditTiles.idx, from), lt(auditTiles.idx, to)))
    .orderBy(asc(auditTiles.idx));
  return rows.map((r) => bytes(r.root));
}

/**
 * Builds the tiles of a log sequenced before tiles existed (first start after
 * migration 0012, or entries an older instance sequenced), `batch` entries per
 * transaction, each under the sequencer lock. Returns how many tiles it
 * stored: 0 once the tiles are whole.
 */
export async function catchUpTiles(db: Db, batch = 256 * TILE_WIDTH): Promise<number> {
  let total = 0;
  for (;;) {
    const step = await inTransaction(db, async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${SEQUENCER_LOCK})`);
      const [head] = await rawRows<{ n: string | number | null }>(tx, sql`select max(idx) as n from audit_log`);
      const size = head?.n === null || head?.n === undefined ? 0 : Number(head.n) + 1;
      return extendTiles(tx, size, batch);
    });
    total += step.stored;
    if (step.complete) return total;
  }
}

/**
 * Reads tiles at (at least) the widths asked: a full tile from the table, a
 * partial one from what it is made of. Throws when the log lacks hashes a
 * tile needs (the caller asked for a size the log does not reach).
 */
export async function readTiles(db: Db | Tx, refs: readonly TileRef[]): Promise<Map<string, Uint8Array>> {
  const found = new Map<string, Uint8Array>();
  if (refs.length === 0) return found;
  const rows = await db
    .select({ level: auditTiles.level, idx: auditTiles.idx, hashes: auditTiles.hashes })
    .from(auditTiles)
    .where(or(...refs.map((r) => and(eq(auditTiles.level, r.level), eq(auditTiles.idx, r.index)))));
  for (const row of rows) found.set(tileKey({ level: row.level, index: row.idx }), bytes(row.hashes));
  for (const ref of refs) {
    if (found.has(tileKey(ref))) continue;
    const partial = await readPartialTile(db, ref);
    if (partial === undefined) throw new Error(`the log has no tile ${ref.level}/${ref.index} of width ${ref.width}`);
    found.set(tileKey(ref), partial);
  }
  return found;
}

/** One tile as served: the full tile, or the first `width` hashes of tile `index`; undefined if the log has not reached it. */
export async function readTile(db: Db | Tx, ref: TileRef): Promise<Uint8Array | undefined> {
  const [row] = await db
    .select({ hashes: auditTiles.hashes })
    .from(auditTiles)
    .where(and(eq(auditTiles.level, ref.level), eq(auditTiles.idx, ref.index)))
    .limit(1);
  if (row !== undefined) return bytes(row.hashes).subarray(0, ref.width * HASH_SIZE);
  return ref.width === TILE_WIDTH ? undefined : readPartialTile(db, ref);
}

async function readPartialTile(db: Db | Tx, ref: TileRef): Promise<Uint8Array | undefined> {
  const from = ref.index * TILE_WIDTH;
  const hashes = await levelHashes(db, ref.level, from, from + ref.width);
  if (hashes.length < ref.width) return undefined;
  return Buffer.concat(hashes);
}

/** bytea arrives as a Buffer from node-postgres and a Uint8Array from PGlite. */
function bytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** The stored full tiles of one level with index in [from, to), for checking them. */
export async function storedTileRange(db: Db | Tx, level: number, from: number, to: number): Promise<{ index: number; hashes: Uint8Array; root: Uint8Array }[]> {
  const rows = await db
    .select({ idx: auditTiles.idx, hashes: auditTiles.hashes, root: auditTiles.root })
    .from(auditTiles)
    .where(and(eq(auditTiles.level, level), gte(auditTiles.idx, from), lt(auditTiles.idx, to)))
    .orderBy(asc(auditTiles.idx));
  return rows.map((r) => ({ index: r.idx, hashes: bytes(r.hashes), root: bytes(r.root) }));
}

/**
 * The first stored tile of each level that a log of the current size should
 * not have yet (it claims entries the log lacks), with that size, read in one
 * statement so a sequencer committing meanwhile cannot make one appear extra.
 */
export async function tilesBeyondLog(db: Db | Tx): Promise<{ level: number; index: number; size: number }[]> {
  const rows = await rawRows<{ level: number; first: string | number; size: string | number }>(db, sql`
    with head as (select coalesce(max(idx) + 1, 0) as size from audit_log)
    select t.level, min(t.idx) as first, head.size from audit_tile t, head
    where t.idx >= floor(head.size / power(${TILE_WIDTH}::numeric, t.level + 1))
    group by t.level, head.size order by t.level`);
  return rows.map((r) => ({ level: r.level, index: Number(r.first), size: Number(r.size) }));
}
