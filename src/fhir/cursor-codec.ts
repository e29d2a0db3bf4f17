import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ID_PATTERN } from './search-request.js';

/**
 * Keyset paging cursors, sealed with AES-256-GCM. A page of a filtered search
 * may end on a record the requester is not allowed to see; an opaque cursor
 * keeps its id and time from leaking, and a forged one is refused. The keys
 * derive from the hub's signing keys, so every instance accepts them, and
 * rotate with them.
 */
export interface CursorCodec {
  encode(position: { lastUpdated: Date; id: string }): string;
  decode(text: string): { lastUpdated: Date; id: string } | undefined;
}

/** A 32-byte cursor key and the short tag naming it in every cursor it seals. */
export interface CursorKey {
  tag: string;
  secret: Uint8Array;
}

const TAG_LENGTH = 8;

/**
 * A codec over the hub's cursor keys, current first (read at each call, so a
 * key rotation takes effect at once). Each cursor starts with its key's tag,
 * so a cursor sealed before a rotation still opens while that key is kept.
 */
export function cursorCodec(keys: () => readonly CursorKey[]): CursorCodec {
  return {
    encode({ lastUpdated, id }) {
      const key = keys()[0];
      if (key?.secret.length !== 32 || key.tag.length !== TAG_LENGTH) throw new Error('the cursor key must be 32 bytes with an 8-character tag');
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key.secret, iv);
      const body = Buffer.concat([cipher.update(`${lastUpdated.toISOString()}|${id}`, 'utf8'), cipher.final()]);
      return `${key.tag}${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
    },
    decode(text) {
      if (!/^[A-Za-z0-9_-]{48,308}$/.test(text)) return undefined;
      const key = keys().find((k) => k.tag === text.slice(0, TAG_LENGTH));
      if (key === undefined) return undefined;
      const raw = Buffer.from(text.slice(TAG_LENGTH), 'base64url');
      if (raw.length < 12 + 16 + 1) return undefined;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.secret, raw.subarray(0, 12));
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
