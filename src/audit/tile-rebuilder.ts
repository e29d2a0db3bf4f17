import { buildFullTiles, MAX_TILE_LEVEL, TILE_WIDTH, type BuiltTile } from './tiles.js';

// The log's full tiles recomputed from its leaf hashes alone, streaming: feed
// the leaf hashes in index order and it hands back each full tile as the leaf
// that completes it arrives (level 0: 256 leaf hashes; level L: the roots of
// 256 full level-(L-1) tiles), so a verifier can compare them with the stored
// tiles as it goes. It holds at most 255 hashes per level, whatever the log's
// length. Partial tiles are not stored, so they are not built here either.
// See: https://c2sp.org/tlog-tiles

export class TileRebuilder {
  /** Per level, the hashes of the tile being filled (fewer than 256). */
  private readonly open: Uint8Array[][] = [];
  /** Per level, how many full tiles have been built. */
  private readonly built: number[] = [];

  /** Adds the next leaf hash; returns the full tiles it completes, lowest level first. */
  push(leafHash: Uint8Array): BuiltTile[] {
    const completed: BuiltTile[] = [];
    let hash = leafHash;
    for (let level = 0; level <= MAX_TILE_LEVEL; level += 1) {
      const run = (this.open[level] ??= []);
      run.push(hash);
      if (run.length < TILE_WIDTH) break;
      const index = this.built[level] ?? 0;
      const [tile] = buildFullTiles(level, index * TILE_WIDTH, run);
      if (tile === undefined) throw new Error(`tile ${level}/${index} was not built from 256 hashes`);
      completed.push(tile);
      this.built[level] = index + 1;
      this.open[level] = [];
      hash = tile.root;
    }
    return completed;
  }
}
