import express, { type RequestHandler } from 'express';

/**
 * Member names that shadow what every JavaScript object has (toString,
 * valueOf, constructor, __proto__, …). No FHIR element and no partner format
 * uses them; a body that does is malformed, and refusing it at the parser
 * keeps prototype tricks away from every handler and validator.
 */
const SHADOWING = new Set(Object.getOwnPropertyNames(Object.prototype));

export class ShadowingMemberError extends Error {
  override readonly name = 'ShadowingMemberError';
}

function reviver(key: string, value: unknown): unknown {
  if (SHADOWING.has(key)) throw new ShadowingMemberError(`member name "${key}" is not allowed`);
  return value;
}

/** JSON bodies for the hub's routes: strict, size-limited, no shadowing member names. */
export function jsonBody(types: string[], limit: string): RequestHandler {
  return express.json({ type: types, limit, strict: true, reviver });
}
