/**
 * The health and metrics server on a real socket: /healthz and /readyz open to anyone (probes),
 * /metrics for loopback clients only, or for a bearer token when SENTINEL_METRICS_TOKEN is set.
 *
 * A non-loopback peer is a real one: the server listens on every address and the client connects
 * to this machine's first non-internal address, so the server sees that address as the peer.
 */
import { networkInterfaces } from 'node:os';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { authorizeMetrics, isLoopbackAddress } from '../../../src/bot/ops/authorizeMetrics.js';
import { startOpsServer, type OpsServer } from '../../../src/bot/ops/httpServer.js';
import { createBotMetrics } from '../../../src/bot/ops/metrics.js';
import { loadConfig, secretValues } from '../../../src/config.js';
import { createLogger } from '../../../src/logger.js';

const TOKEN = 'm3tr1cs-t0ken-0123456789abcdef';

/** This machine's first non-loopback IPv4 address: a peer the server cannot mistake for loopback. */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 interface: the real-peer tests need one (isLoopbackAddress is tested on its own below)');
}

let servers: OpsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function start(options: { host?: string; metricsToken?: string } = {}) {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const metrics = createBotMetrics();
  metrics.approvalsPending.set(3);
  const server = await startOpsServer({
    host: options.host ?? '0.0.0.0',
    port: 0,
    registry: metrics.registry,
    probe: { ready: () => ({ ready: true, checks: { discord: true, sqs: true } }) },
    ...(options.metricsToken ? { metricsToken: options.metricsToken } : {}),
    logger: createLogger({ level: 'debug', format: 'json', stream, secrets: options.metricsToken ? [options.metricsToken] : [] }),
  });
  servers.push(server);
  const port = new URL(server.url).port;
  return {
    loopback: `http://127.0.0.1:${port}`,
    external: `http://${externalAddress()}:${port}`,
    logs: lines,
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('/metrics without SENTINEL_METRICS_TOKEN', () => {
  it('answers a loopback client', async () => {
    const s = await start();
    const res = await fetch(`${s.loopback}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^sentinel_approvals_pending 3$/m);
  });

  it('refuses a non-loopback peer with 403 and a JSON reason that says to set the token, and logs the refusal', async () => {
    const s = await start();
    const res = await fetch(`${s.external}/metrics`);
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { error: string };
    expect(body.error).toMatch(/loopback/);
    expect(body.error).toContain('SENTINEL_METRICS_TOKEN');
    expect(JSON.stringify(body)).not.toMatch(/sentinel_approvals_pending/);
    const refusal = s.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'metrics request refused');
    expect(refusal).toMatchObject({ level: 'warn', peer: externalAddress(), status: 403 });
  });

  it('leaves /healthz and /readyz open to that peer (kubelet probes come from the node)', async () => {
    const s = await start();
    const health = await fetch(`${s.external}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    const ready = await fetch(`${s.external}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { discord: true, sqs: true } });
  });
});

describe('/metrics with SENTINEL_METRICS_TOKEN', () => {
  it('answers the right bearer token, from a non-loopback peer too', async () => {
    const s = await start({ metricsToken: TOKEN });
    for (const base of [s.external, s.loopback]) {
      const res = await fetch(`${base}/metrics`, { headers: bearer(TOKEN) });
      expect(res.status, base).toBe(200);
      expect(await res.text()).toMatch(/^sentinel_approvals_pending 3$/m);
    }
    // The scheme is case-insensitive (RFC 7235).
    expect((await fetch(`${s.external}/metrics`, { headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('requires the token from loopback clients too: none is 401 with WWW-Authenticate: Bearer and a JSON reason', async () => {
    const s = await start({ metricsToken: TOKEN });
    for (const base of [s.loopback, s.external]) {
      const res = await fetch(`${base}/metrics`);
      expect(res.status, base).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(((await res.json()) as { error: string }).error).toMatch(/Authorization: Bearer/);
    }
    // Another scheme, or two tokens, is no token either.
    expect((await fetch(`${s.loopback}/metrics`, { headers: { authorization: `Bearer ${TOKEN} ${TOKEN}` } })).status).toBe(401);
    const basic = await fetch(`${s.loopback}/metrics`, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
  });

  it('refuses a wrong token (a prefix, a longer one, another) with 401, and never logs what was presented', async () => {
    const s = await start({ metricsToken: TOKEN });
    const wrong = [TOKEN.slice(0, -1), `${TOKEN}x`, 'another-token-of-the-same-size0', TOKEN.toUpperCase()];
    for (const token of wrong) {
      const res = await fetch(`${s.external}/metrics`, { headers: bearer(token) });
      expect(res.status, token).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
      expect(((await res.json()) as { error: string }).error).toMatch(/does not match/);
    }
    const logs = s.logs.join('\n');
    expect(logs).toMatch(/metrics request refused/);
    for (const token of wrong) expect(logs).not.toContain(token);
  });

  it('keeps /healthz and /readyz open without the token', async () => {
    const s = await start({ metricsToken: TOKEN });
    expect((await fetch(`${s.external}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.external}/readyz`)).status).toBe(200);
  });
});

describe('isLoopbackAddress', () => {
  it('accepts 127.0.0.0/8, ::1 in any spelling and IPv4-mapped 127.x', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '::0001', '::ffff:127.0.0.1', '::FFFF:127.9.9.9']) {
      expect(isLoopbackAddress(a), a).toBe(true);
    }
  });

  it('refuses every other peer, and an unknown one', () => {
    for (const a of ['10.0.0.1', '192.0.2.2', '0.0.0.0', '128.0.0.1', '::', '::2', 'fe80::1', '::ffff:10.0.0.1', '1::1', '::127.0.0.1', 'localhost', '', undefined]) {
      expect(isLoopbackAddress(a), String(a)).toBe(false);
    }
  });
});

describe('authorizeMetrics', () => {
  it('with a token, ignores the peer: loopback without the token is refused, a remote peer with it is let through', () => {
    expect(authorizeMetrics({ remoteAddress: '127.0.0.1', authorization: undefined }, TOKEN)).toMatchObject({ allowed: false, status: 401 });
    expect(authorizeMetrics({ remoteAddress: '10.1.2.3', authorization: `Bearer ${TOKEN}` }, TOKEN)).toEqual({ allowed: true });
  });
});

describe('SENTINEL_METRICS_TOKEN', () => {
  it('is a secret: secretValues lists it, so the logger masks it', () => {
    const config = loadConfig({ env: { SENTINEL_METRICS_TOKEN: TOKEN }, envFile: false });
    expect(config.bot.metricsToken).toBe(TOKEN);
    expect(secretValues(config)).toContain(TOKEN);
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    createLogger({ format: 'json', stream, secrets: secretValues(config) }).info(`scrape with ${TOKEN}`);
    expect(lines.join('')).not.toContain(TOKEN);
  });

  it('is refused when too short to be a secret', () => {
    expect(() => loadConfig({ env: { SENTINEL_METRICS_TOKEN: 'short' }, envFile: false })).toThrow(/SENTINEL_METRICS_TOKEN/);
  });
});
