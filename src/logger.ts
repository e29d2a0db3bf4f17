import { pino, type Logger } from 'pino';

/** JSON logs on stdout. Callers log ids, routes and codes, never personal data. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'early-years-hub' }, redact: ['req.headers.authorization', '*.access_token'] });
}
