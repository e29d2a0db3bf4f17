import { describe, expect, it } from 'vitest';
import { ConfigError, DEMO_MLLP_PORT, loadConfig } from '../../src/config.js';

// The MLLP listeners are off unless asked for; the demo turns plain MLLP on at a port the README names.

describe('MLLP configuration', () => {
  it('is off by default', () => {
    const config = loadConfig({});
    expect(config.mllp.port).toBeUndefined();
    expect(config.mllp.tls).toBeUndefined();
    expect(config.mllp.limits).toEqual({ maxMessageBytes: 10 * 1024 * 1024, idleTimeoutMs: 600_000, maxConnections: 50 });
  });

  it('listens on 2575 in demo mode unless MLLP_PORT says otherwise', () => {
    expect(DEMO_MLLP_PORT).toBe(2575);
    expect(loadConfig({ DEMO: 'true' }).mllp.port).toBe(2575);
    expect(loadConfig({ DEMO: 'true', MLLP_PORT: '3575' }).mllp.port).toBe(3575);
  });

  it('binds where HOST does unless MLLP_HOST is set', () => {
    expect(loadConfig({ HOST: '127.0.0.1', MLLP_PORT: '2575' }).mllp.host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '127.0.0.1', MLLP_HOST: '10.0.0.5', MLLP_PORT: '2575' }).mllp.host).toBe('10.0.0.5');
  });

  it('needs the certificate, key and CA files for MLLP_TLS_PORT', () => {
    expect(() => loadConfig({ MLLP_TLS_PORT: '2576', MLLP_TLS_CERT_FILE: 'hub.pem', MLLP_TLS_KEY_FILE: 'hub.key' })).toThrow(ConfigError);
    expect(() => loadConfig({ MLLP_TLS_PORT: '2576', MLLP_TLS_CERT_FILE: 'hub.pem', MLLP_TLS_KEY_FILE: 'hub.key' })).toThrow(/MLLP_TLS_CA_FILE/);
    const config = loadConfig({ MLLP_TLS_PORT: '2576', MLLP_TLS_CERT_FILE: 'hub.pem', MLLP_TLS_KEY_FILE: 'hub.key', MLLP_TLS_CA_FILE: 'ca.pem' });
    expect(config.mllp.tls).toEqual({ port: 2576, certFile: 'hub.pem', keyFile: 'hub.key', caFile: 'ca.pem' });
  });

  it.each([['MLLP_MAX_MESSAGE_BYTES', '10'], ['MLLP_MAX_CONNECTIONS', '0'], ['MLLP_IDLE_TIMEOUT_SECONDS', '0'], ['MLLP_PORT', '70000']])('refuses %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(name));
  });
});
