import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ID_PATTERN } from './search-request.js';

/**
 * Keyset paging cursors, sealed with AES-256-GCM. A page of a filtered search
 * may end on a record the requester is not allowed to see; an opaque cursor
 * keeps its id and time from leaking, and a forged one is refused. The key
 * is derived from the hub's signing key, so every instance accepts them.
 */
export interface CursorCodec {
  encode(position: { lastUpdated: Date; id: string }): string;
  decode(text: string): { lastUpdated: Date; id: string } | undefined;
}

export function cursorCodec(key: Uint8Array): CursorCodec {
  if (key.length !== 32) throw new Error('the cursor key must be 32 bytes');
  return {
    encode({ lastUpdated, id }) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(`${lastUpdated.toISOString()}|${id}`, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
    },
    decode(text) {
      if (!/^[A-Za-z0-9_-]{40,300}$/.test(text)) return undefined;
      const raw = Buffer.from(text, 'base64url');
      if (raw.length < 12 + 16 + 1) return undefined;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        const plain = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
        const [instant, id, ...rest] = plain.split('|');
        if (instant === undefined || id === undefined || rest.length > 0 || !ID_PATTERN.test(id)) return undefined;
        const lastUpdated = new Date(instant);
        return Number.isNaN(lastUpdated.getTime()) ? undefined : { lastUpdated, id };
      } catch {
        return undefined;
      }
    },
  };
}
