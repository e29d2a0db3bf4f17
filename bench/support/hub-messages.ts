import { z } from 'zod';

// The few messages between a benchmark and the hub process it starts (IPC).

export const toHubSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), databaseUrl: z.string().min(1), mllp: z.boolean().optional() }),
  z.object({ type: z.literal('stop') }),
]);
export type ToHub = z.infer<typeof toHubSchema>;

export const fromHubSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('listening'), port: z.number().int().min(1).max(65535), mllpPort: z.number().int().min(1).max(65535).optional() }),
  z.object({ type: z.literal('failed'), message: z.string() }),
]);
export type FromHub = z.infer<typeof fromHubSchema>;
