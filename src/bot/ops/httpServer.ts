import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../../logger.js';
import { authorizeMetrics } from './authorizeMetrics.js';

export interface HealthProbe {
  /** Ready only while every dependency is connected. */
  ready(): { ready: boolean; checks: Record<string, boolean> };
}

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  probe: HealthProbe;
  registry: Registry;
  /** SENTINEL_METRICS_TOKEN: /metrics then needs `Authorization: Bearer <token>`; unset, it answers loopback peers only. */
  metricsToken?: string | undefined;
  /** Refused /metrics requests are logged here (peer and reason, never what was presented). */
  logger?: Logger;
}

/**
 * `/healthz` (alive) and `/readyz` (Discord and SQS connected), open to probes, and `/metrics`
 * (Prometheus), for a bearer token or, without one, for loopback clients only.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    }
    if (path === '/readyz') {
      const r = options.probe.ready();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r));
      return;
    }
    if (path === '/metrics') {
      const access = authorizeMetrics({ remoteAddress: req.socket.remoteAddress, authorization: req.headers.authorization }, options.metricsToken);
      if (!access.allowed) {
        options.logger?.warn('metrics request refused', { peer: req.socket.remoteAddress, status: access.status, reason: access.reason });
        res.writeHead(access.status, { 'content-type': 'application/json', ...access.headers }).end(JSON.stringify({ error: access.reason }));
        return;
      }
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
