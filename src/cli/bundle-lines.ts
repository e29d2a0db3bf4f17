import { open } from 'node:fs/promises';

// The lines of a bundle file as bytes, for `hub audit verify --bundle`:
// read in large chunks and cut at each line feed (a native byte search),
// each line a view into its chunk, never copied or decoded. A line that runs
// past its chunk is carried into the next one. A line feed ends a line and a
// carriage return before it is dropped (as readline with crlfDelay did).
//
// Two chunks take turns: a fresh 4 MB buffer per read made the collector run
// a full mark-compact every few reads (external memory), a tenth of the
// verifier's time. So a line's bytes are valid until the next line is asked
// for; whoever keeps one longer copies it.

const CHUNK_BYTES = 4 << 20;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Each line of the file, without its line ending: a view, valid until the
 * next line is asked for. With `stop`, the lines end at the next chunk once
 * it is aborted (a benchmark's pass cut short).
 */
export async function* bundleLines(path: string, options: { chunkBytes?: number; stop?: AbortSignal } = {}): AsyncGenerator<Buffer> {
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  const file = await open(path, 'r');
  try {
    let chunk: Buffer = Buffer.allocUnsafe(chunkBytes);
    let spare: Buffer = Buffer.allocUnsafe(chunkBytes);
    let filled = 0;
    for (;;) {
      if (options.stop?.aborted === true) return;
      if (filled === chunk.length) {
        // A line longer than the chunk: both turn to buffers twice as large.
        const grown = Buffer.allocUnsafe(chunk.length * 2);
        chunk.copy(grown, 0, 0, filled);
        chunk = grown;
        spare = Buffer.allocUnsafe(grown.length);
      }
      const { bytesRead } = await file.read(chunk, filled, chunk.length - filled, null);
      if (bytesRead === 0) {
        if (filled > 0) yield withoutCr(chunk.subarray(0, filled));
        return;
      }
      const view = chunk.subarray(0, filled + bytesRead);
      let start = 0;
      // The carried bytes hold no line feed: search from the new ones.
      for (let lf = view.indexOf(LF, filled); lf !== -1; lf = view.indexOf(LF, start)) {
        yield withoutCr(view.subarray(start, lf));
        start = lf + 1;
      }
      filled = view.length - start;
      view.copy(spare, 0, start, view.length);
      [chunk, spare] = [spare, chunk];
    }
  } finally {
    await file.close();
  }
}

function withoutCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
}
