import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { scheduleSchema, type Schedule } from './schedule-schema.js';

// A schedule file's text → the validated Schedule, or every problem with a
// dotted path into the document. Pure: the caller reads the file
// (src/services/schedule-store.ts).

export interface ScheduleIssue {
  /** Dotted path into the document (`doses.3.age.weeks`); empty for the whole document. */
  path: string;
  message: string;
}

export type ScheduleText = { ok: true; schedule: Schedule } | { ok: false; issues: ScheduleIssue[] };

export function parseScheduleText(text: string): ScheduleText {
  // YAML 1.2 core schema: `2025-07-01` stays a string; duplicate keys are errors.
  // See: https://yaml.org/spec/1.2.2/#103-core-schema
  const yaml = parseDocument(text, { schema: 'core', uniqueKeys: true, prettyErrors: true });
  const problems = [...yaml.errors, ...yaml.warnings];
  if (problems.length > 0) {
    return {
      ok: false,
      issues: problems.map((e) => {
        const at = e.linePos?.[0];
        const where = at === undefined ? '' : ` (line ${at.line}, column ${at.col})`;
        return { path: '', message: `${(e.message.split('\n', 1)[0] ?? e.message).replace(/:$/, '')}${where}` };
      }),
    };
  }
  let raw: unknown;
  try {
    raw = yaml.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, issues: [{ path: '', message: (err as Error).message }] };
  }
  const parsed = scheduleSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, issues: parsed.error.issues.flatMap(schemaIssues) };
  return { ok: true, schedule: parsed.data };
}

/** A zod issue as issues with dotted paths; an unknown key is named in its own path. */
function schemaIssues(issue: z.core.$ZodIssue): ScheduleIssue[] {
  const at = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...at, key].join('.'), message: 'unknown member (misspelt, or not part of a schedule)' }));
  return [{ path: at.join('.'), message: issue.message }];
}
