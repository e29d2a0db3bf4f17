import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The shared fixtures (partners' real formats, the demo world) live beside the
 * repository. Tests over them form a conformance suite: it runs whenever the
 * folder is there (CI always has it) and says plainly when it is skipped.
 */
export const sharedFixtures = path.resolve(process.env['SHARED_FIXTURES'] ?? path.join(process.cwd(), '..', 'shared', 'fixtures'));
export const haveSharedFixtures = existsSync(sharedFixtures);

if (!haveSharedFixtures) {
  process.stdout.write(`conformance suite skipped: no shared fixtures at ${path.relative(process.cwd(), sharedFixtures)}\n`);
}
