import { open } from 'node:fs/promises';

// The lines of a bundle file as bytes, for `hub audit verify --bundle`:
// read in large chunks and cut at each line feed (a native byte search),
// each line a view into its chunk, never copied or decoded. A line that runs
// past its chunk is carried into the next one. A line feed ends a line and a
// carriage return before it is dropped (as readline with crlfDelay did).

const CHUNK_BYTES = 4 << 20;
const LF = 0x0a;
const CR = 0x0d;

/** Each line of the file, without its line ending. Views stay valid: a chunk is never reused. */
export async function* bundleLines(path: string, chunkBytes = CHUNK_BYTES): AsyncGenerator<Buffer> {
  const file = await open(path, 'r');
  try {
    let chunk: Buffer = Buffer.allocUnsafe(chunkBytes);
    let filled = 0;
    for (;;) {
      if (filled === chunk.length) chunk = carry(chunk, 0, filled, chunk.length * 2);
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
      chunk = carry(view, start, view.length, Math.max(chunkBytes, filled * 2));
    }
  } finally {
    await file.close();
  }
}

/** A fresh chunk of `size` bytes starting with source[from, to). */
function carry(source: Buffer, from: number, to: number, size: number): Buffer {
  const next = Buffer.allocUnsafe(size);
  source.copy(next, 0, from, to);
  return next;
}

function withoutCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
}
