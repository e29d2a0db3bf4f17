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

/** The partners' good messages, in the order the story sends them. */
export const partnerFixtures: readonly string[] = [
  'maternity/booking-consent-given.json',
  'maternity/booking-consent-given-2.json',
  'maternity/booking-consent-refused.json',
  'maternity/birth-notification-nems-stu3.json',
  'maternity/birth-notification-stillbirth-nems-stu3.json',
  'gp/vxu-missed-6in1-dose3.hl7',
  'gp/vxu-catch-up-given-6in1-dose3.hl7',
  'gp/vxu-batch-y90002.hl7',
  'gp/missed-immunisations-y90001.csv',
  'la/caf-leo-ahmed.json',
  'la/caf-unborn-bennett.json',
  'la/caf-consent-not-given.json',
];
