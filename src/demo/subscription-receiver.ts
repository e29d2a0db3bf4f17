import type { Bundle, Parameters } from 'fhir/r4.js';
import http from 'node:http';

// The demo's rest-hook endpoint for Ocean Children's Centre: prints each
// notification the hub sends (handshake, heartbeat, event-notification) and
// answers 200. Loopback only, on the port the demo registry allows Ocean
// (src/demo/world.ts): `npx tsx src/demo/subscription-receiver.ts [port]`.
// See: https://hl7.org/fhir/uv/subscriptions-backport/notifications.html

const port = Number(process.argv[2] ?? 9090);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(200).end();
    try {
      const bundle = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle;
      const status = bundle.entry?.[0]?.resource as Parameters | undefined;
      const value = (name: string): string | undefined => {
        const p = status?.parameter?.find((x) => x.name === name);
        return p?.valueCode ?? p?.valueString ?? p?.valueReference?.reference;
      };
      console.log(`${new Date().toISOString()} ${req.method ?? ''} ${req.url ?? ''}: ${value('type') ?? '?'} from ${value('subscription') ?? '?'}, events since start ${value('events-since-subscription-start') ?? '?'}`);
      for (const e of status?.parameter?.filter((p) => p.name === 'notification-event') ?? []) {
        const number = e.part?.find((p) => p.name === 'event-number')?.valueString;
        const focus = e.part?.find((p) => p.name === 'focus')?.valueReference?.reference;
        console.log(`  event ${number ?? '?'}: ${focus ?? '(no focus: empty payload)'}`);
      }
      for (const entry of bundle.entry?.slice(1) ?? []) if (entry.resource !== undefined) console.log(`  ${JSON.stringify(entry.resource)}`);
    } catch {
      console.log(`${new Date().toISOString()}: a body that is not a notification Bundle`);
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}/notifications (Ctrl-C to stop)`);
});
