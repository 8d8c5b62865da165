import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../../config.js';
import { describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { authorizeWebhook, WEBHOOK_TOKEN_HEADER } from './authorizeWebhook.js';
import { BacklogDelivery, defaultBacklogBackoffMs } from './deliverBacklog.js';
import type { Intake, IntakeHandler } from '../../handlers/ports/intake.js';
import { readWebhookEvent } from './readWebhookEvent.js';
import { WebhookBacklog } from './webhookBacklog.js';

/** The paths events are posted to (the same endpoint under two names). */
export const WEBHOOK_PATHS = ['/falco', '/events'] as const;

export interface WebhookIntakeOptions {
  host: string;
  /** 0 picks a free port (see `url`). */
  port: number;
  /** SENTINEL_WEBHOOK_TOKEN; undefined: loopback clients only. */
  token: string | undefined;
  maxBodyBytes: number;
  /** The backlog's directory (`<SENTINEL_DATA_DIR>/intake`). */
  dir: string;
  backlog: { maxEvents: number; maxBytes: number };
  /** Entries handled at once. */
  concurrency: number;
  /** Deliveries of one entry before it is dead-lettered. */
  maxReceives: number;
  logger: Logger;
  /** Wait before redelivering after the `receiveCount`-th delivery asked for a retry; 10 s doubling to 5 min by default. */
  retryBackoffMs?: (receiveCount: number) => number;
  /** Retry-After (seconds) sent with a 429; default 5. */
  retryAfterSeconds?: number;
  /** How long stop() waits for requests under way before closing their connections; default 5 s. */
  closeGraceMs?: number;
  now?: () => Date;
}

/** An Intake that also listens: where it listens, and how full its backlog is. */
export interface WebhookIntake extends Intake {
  /** Base URL, e.g. `http://127.0.0.1:8081`; events go to `<url>/falco` or `<url>/events`. */
  readonly url: string;
  /** `<dir>/pending` and `<dir>/dead`. */
  readonly backlogDirs: { readonly pending: string; readonly dead: string };
  backlogUsage(): { events: number; bytes: number };
}

/** The webhook intake's options from the settings (SENTINEL_WEBHOOK_*, the backlog under SENTINEL_DATA_DIR/intake). */
export function webhookIntakeOptions(config: Config, logger: Logger): WebhookIntakeOptions {
  const w = config.bot.webhook;
  return {
    host: w.host,
    port: w.port,
    token: w.token,
    maxBodyBytes: w.maxBodyBytes,
    dir: join(config.dataDir, 'intake'),
    backlog: { maxEvents: w.backlogMaxEvents, maxBytes: w.backlogMaxBytes },
    concurrency: w.concurrency,
    maxReceives: w.maxReceives,
    logger,
  };
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/**
 * The event webhook: `POST /falco` (or `/events`) with one event as JSON, as Falcosidekick's
 * `webhook` output sends it. On its own listener, apart from /healthz and /metrics, so a
 * NetworkPolicy can admit only Falcosidekick to it. A request is authorized (X-Sentinel-Token,
 * compared in constant time) before its body is read; the body is bounded and must be one JSON
 * object. An event is answered 202 only once it is in the local backlog, fsync'd; a full backlog
 * answers 429 (nothing is dropped). Every refusal is answered `{"error": reason}` and logged with
 * the reason (never the token or the body), and writes nothing. Backlog entries are handed to the
 * handler (start) as SQS messages are: `source: 'intake'`, events only (dispatchMessage refuses
 * any other kind here as on the SQS intake queue). stop() stops listening, waits for requests
 * and deliveries under way, and resolves; what is left stays in the backlog for the next start.
 */
export async function createWebhookIntake(options: WebhookIntakeOptions): Promise<WebhookIntake> {
  const log = options.logger.child({ component: 'webhook' });
  const backlog = await WebhookBacklog.open({
    dir: options.dir,
    limits: options.backlog,
    ...(options.now ? { now: options.now } : {}),
    onUnreadable: (id, reason) => log.error('webhook backlog entry set aside: it cannot be read', { messageId: id, reason, dead: join(options.dir, 'dead') }),
  });
  const delivery = new BacklogDelivery({
    backlog,
    concurrency: options.concurrency,
    maxReceives: options.maxReceives,
    backoffMs: options.retryBackoffMs ?? defaultBacklogBackoffMs,
    logger: log,
    ...(options.now ? { now: options.now } : {}),
  });
  let closing = false;
  let stopped = false;
  const retryAfter = String(options.retryAfterSeconds ?? 5);

  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, reason: string, headers: Record<string, string> = {}) => {
    log.warn('webhook request refused', { status, reason, peer: req.socket.remoteAddress, method: req.method, path: (req.url ?? '').split('?')[0]!.slice(0, 100) });
    // The body is left unread: the connection is closed once the answer is out.
    reply(res, status, { error: reason }, req.complete ? headers : { ...headers, connection: 'close' });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!(WEBHOOK_PATHS as readonly string[]).includes(path)) return refuse(req, res, 404, `not found: post events to ${WEBHOOK_PATHS.join(' or ')}`);
    if (req.method !== 'POST') return refuse(req, res, 405, 'method not allowed: POST one event as JSON', { allow: 'POST' });
    if (closing) return refuse(req, res, 503, 'sentinel is shutting down; retry later', { 'retry-after': retryAfter });
    const access = authorizeWebhook({ remoteAddress: req.socket.remoteAddress, token: req.headers[WEBHOOK_TOKEN_HEADER] }, options.token);
    if (!access.allowed) return refuse(req, res, access.status, access.reason);
    const read = await readWebhookEvent(req, options.maxBodyBytes);
    if (!read.ok) {
      if (read.status === 'aborted') {
        log.info('webhook request abandoned by the client; nothing recorded', { reason: read.reason, peer: req.socket.remoteAddress });
        return;
      }
      return refuse(req, res, read.status, read.reason);
    }
    let accepted;
    try {
      accepted = await backlog.accept(read.body, req.socket.remoteAddress);
    } catch (err) {
      log.error('webhook event not recorded: the backlog cannot be written', { reason: describeError(err), dir: backlog.pendingDir });
      return reply(res, 503, { error: 'the event could not be recorded; retry later' }, { 'retry-after': retryAfter });
    }
    if (!accepted.accepted) return refuse(req, res, 429, `${accepted.reason}; retry later`, { 'retry-after': retryAfter });
    log.debug('webhook event accepted', { messageId: accepted.id, bytes: Buffer.byteLength(read.body, 'utf8'), peer: req.socket.remoteAddress });
    reply(res, 202, { id: accepted.id });
    delivery.add(accepted.id);
  };

  const requests = new Set<Promise<void>>();
  const server: Server = createServer((req, res) => {
    const done = handle(req, res)
      .catch((err: unknown) => {
        log.error('webhook request failed', { reason: describeError(err), peer: req.socket.remoteAddress });
        reply(res, 500, { error: 'internal error' }, { connection: 'close' });
      })
      .finally(() => requests.delete(done));
    requests.add(done);
  });
  // A slow client cannot hold a connection open (headers within 10 s, the whole request within 30 s).
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  // Idle connections outlive Go's 90 s idle timeout (Falcosidekick's client): the client closes
  // first, so it never posts an event onto a connection the server has just closed (Go does not
  // resend a POST that failed that way, and the event would be lost to Falcosidekick's log).
  server.keepAliveTimeout = 95_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    if (err.code !== 'ECONNRESET') log.warn('webhook request refused', { status, reason: `malformed or incomplete HTTP request (${err.code ?? 'unknown'})`, peer: (socket as Socket).remoteAddress });
    if (socket.writable) {
      const body = JSON.stringify({ error: status === 408 ? 'request timeout' : status === 431 ? 'request headers too large' : 'malformed HTTP request' });
      socket.end(`HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    } else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address === '::' ? '[::1]' : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  const usage = backlog.usage();
  log.info('webhook listening', {
    url,
    paths: WEBHOOK_PATHS,
    auth: options.token ? 'X-Sentinel-Token' : 'none: SENTINEL_WEBHOOK_TOKEN is not set, so loopback clients only',
    backlog: backlog.pendingDir,
    pendingEvents: usage.events,
  });

  return {
    url,
    backlogDirs: { pending: backlog.pendingDir, dead: backlog.deadDir },
    backlogUsage: () => backlog.usage(),
    start(handler: IntakeHandler) {
      if (stopped) {
        log.warn('the webhook intake was stopped; create a new one to start again');
        return;
      }
      delivery.start(handler);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), options.closeGraceMs ?? 5_000);
      // No new delivery starts; requests under way finish (an event being recorded is answered
      // 202 and stays in the backlog for the next start), and so do deliveries under way.
      const deliveries = delivery.stop();
      while (requests.size) await Promise.allSettled([...requests]);
      await closed;
      clearTimeout(grace);
      await deliveries;
    },
    isRunning() {
      return !stopped && server.listening && delivery.isRunning();
    },
  };
}
