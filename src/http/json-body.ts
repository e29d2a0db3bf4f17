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
  return express.json({ type: types, limit, strict: true, reviver, verify: keepRawBody });
}

const RAW_BODY = Symbol('raw body');

/** Keeps the bytes as sent: the ingest path stores the raw message, not a re-serialisation of it. */
function keepRawBody(req: object, _res: unknown, body: Buffer): void {
  (req as { [RAW_BODY]?: string })[RAW_BODY] = body.toString('utf8');
}

/** The request body exactly as it arrived, if a JSON body was parsed. */
export function rawBodyOf(req: object): string | undefined {
  return (req as { [RAW_BODY]?: string })[RAW_BODY];
}
