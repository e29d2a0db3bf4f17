import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';

const GOLDEN_DIR = path.resolve('test', 'golden');

/**
 * Compares a value with its golden file under test/golden. With
 * UPDATE_GOLDEN=1 the file is (re)written instead: review the diff before
 * committing it. A missing golden file fails the test.
 */
export async function expectGolden(name: string, actual: unknown): Promise<void> {
  const file = path.join(GOLDEN_DIR, `${name}.json`);
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (process.env['UPDATE_GOLDEN'] === '1') {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    return;
  }
  const expected = await readFile(file, 'utf8').catch(() => undefined);
  expect(expected, `golden file ${path.relative(process.cwd(), file)} is missing: run with UPDATE_GOLDEN=1 and review it`).toBeDefined();
  expect(JSON.parse(text)).toEqual(JSON.parse(expected ?? 'null'));
}

/** Reads a fixture of the repo's own under test/fixtures. */
export function readFixture(relative: string): Promise<string> {
  return readFile(path.resolve('test', 'fixtures', relative), 'utf8');
}
