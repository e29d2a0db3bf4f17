import { check, index, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import { clients } from './clients.js';

/**
 * Who may send HL7 v2 over MLLP, per registered client: the SHA-256 fingerprint of its TLS client
 * certificate, or (the weaker option, for sites that cannot do TLS) a source address. One credential
 * names one client.
 */
export const mllpSenders = pgTable(
  'mllp_sender',
  {
    kind: text('kind').$type<'certificate' | 'address'>().notNull(),
    /** certificate: lower-case hex SHA-256 of the DER certificate, no colons; address: an IP address as the socket reports it. */
    value: text('value').notNull(),
    clientId: text('client_id')
      .notNull()
      .references(() => clients.id),
  },
  (t) => [
    primaryKey({ columns: [t.kind, t.value] }),
    index('mllp_sender_client_idx').on(t.clientId),
    check('mllp_sender_kind_check', sql`${t.kind} IN ('certificate', 'address')`),
  ],
);
