import { problem, type Problem } from './operation-outcome.js';

// Bounds on what one query string may ask for. Every search parameter becomes
// a condition in SQL, and repeated parameters (AND) multiply the plan: 800
// repeated `patient=` parameters once held the embedded database for minutes.
// A real partner's search names a handful of parameters; anything beyond
// these bounds is refused before it reaches the database (400, naming the
// parameter). See: https://hl7.org/fhir/R4/search.html#combining (AND is a
// repeated parameter, OR a comma-separated list).

/** Parameters in one query string (or one If-None-Exist header). */
export const MAX_PARAMETERS = 50;
/** Times one parameter name may repeat (each repetition is an AND). */
export const MAX_REPEATS = 10;
/** Comma-separated alternatives in one parameter value (an OR-list). */
export const MAX_OR_VALUES = 100;

/** A printable form of a caller's parameter name for a diagnostic (never more than 64 characters). */
function printable(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
}

/** The first bound a parameter list breaks, as a 400 naming the parameter, or undefined when within bounds. */
export function checkParameterBounds(params: readonly (readonly [string, string])[], where = 'the query'): Problem | undefined {
  if (params.length > MAX_PARAMETERS) {
    return problem(400, 'too-costly', `${where} has ${params.length} parameters; at most ${MAX_PARAMETERS} are accepted`, printable(params[MAX_PARAMETERS]?.[0] ?? ''));
  }
  const repeats = new Map<string, number>();
  for (const [name, value] of params) {
    const seen = (repeats.get(name) ?? 0) + 1;
    repeats.set(name, seen);
    if (seen > MAX_REPEATS) {
      return problem(400, 'too-costly', `search parameter ${printable(name)} is repeated more than ${MAX_REPEATS} times`, printable(name));
    }
    // Counting commas needs no split: a value of a million commas costs one pass.
    let alternatives = 1;
    for (let i = value.indexOf(','); i >= 0 && alternatives <= MAX_OR_VALUES; i = value.indexOf(',', i + 1)) alternatives += 1;
    if (alternatives > MAX_OR_VALUES) {
      return problem(400, 'too-costly', `search parameter ${printable(name)} lists more than ${MAX_OR_VALUES} alternatives`, printable(name));
    }
  }
  return undefined;
}
