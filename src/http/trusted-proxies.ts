import { isIP } from 'node:net';

// Behind a load balancer every request's peer is the balancer, so a limit per
// source address would be one limit for everyone. Express's `trust proxy`
// takes the client address from X-Forwarded-For, but only the hops added by
// proxies it is told to trust: a header from any other peer is ignored, so a
// client cannot forge its way to a fresh rate-limit bucket.
// See: https://expressjs.com/en/guide/behind-proxies.html

/** Parses TRUST_PROXY: addresses or CIDRs (IPv4 or IPv6), comma-separated; empty means none. */
export function parseTrustedProxies(text: string): { ok: true; proxies: string[] } | { ok: false; message: string } {
  const proxies = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const p of proxies) {
    const [address = '', prefix, ...rest] = p.split('/');
    const family = isIP(address);
    const width = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= width);
    if (family === 0 || !prefixOk || rest.length > 0) return { ok: false, message: `"${p}" is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)` };
  }
  return { ok: true, proxies };
}

/** The Express `trust proxy` setting for a list of trusted proxies: off when the list is empty. */
export function trustProxySetting(proxies: readonly string[]): false | string[] {
  return proxies.length === 0 ? false : [...proxies];
}
