import * as crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { authorizeWebhook } from '../../../src/bot/intake/authorizeWebhook.js';
import type { IntakeMessage } from '../../../src/handlers/ports/intake.js';
import { createWebhookIntake, webhookIntakeOptions, type WebhookIntake, type WebhookIntakeOptions } from '../../../src/bot/intake/webhookIntake.js';
import { loadConfig, secretValues } from '../../../src/config.js';
import { refuseKind } from '../../../src/handlers/authenticateMessage.js';
import { parseMessage } from '../../../src/handlers/messages.js';
import { createLogger, createSilentLogger } from '../../../src/logger.js';
import { loadFixture } from '../../helpers/events.js';

// The token compare must go through timingSafeEqual: wrapped (still the real function) so a test can see how it is called.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const TOKEN = 'test-webhook-token-0123456789abcdef';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CHILD = fileURLToPath(new URL('../../support/runWebhookIntake.ts', import.meta.url));

function capturingLogger() {
  const stream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  stream.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n').filter(Boolean)) {
      raw.push(l);
      lines.push(JSON.parse(l) as Record<string, unknown>);
    }
  });
  return { logger: createLogger({ level: 'debug', format: 'json', stream, secrets: [TOKEN] }), lines, raw };
}

async function waitUntil<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

/** A raw HTTP request, so each header and byte is what the test says. */
function send(url: string, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${options.path ?? '/falco'}`, { method: options.method ?? 'POST', headers: options.headers ?? {}, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = (body: unknown, extra: Record<string, string> = {}) => ({
  headers: { 'content-type': 'application/json; charset=utf-8', 'x-sentinel-token': TOKEN, ...extra },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

/** Every file under the backlog directory (temporary files included). */
function backlogFiles(dir: string): string[] {
  const out: string[] = [];
  for (const sub of ['pending', 'dead']) if (existsSync(join(dir, sub))) for (const f of readdirSync(join(dir, sub))) out.push(`${sub}/${f}`);
  return out.sort();
}

const open: WebhookIntake[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((i) => i.stop()));
});

async function webhook(overrides: Partial<WebhookIntakeOptions> = {}) {
  const dir = overrides.dir ?? mkdtempSync(join(tmpdir(), 'sentinel-webhook-'));
  const log = capturingLogger();
  const intake = await createWebhookIntake({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    maxBodyBytes: 4096,
    dir,
    backlog: { maxEvents: 100, maxBytes: 1024 * 1024 },
    concurrency: 4,
    maxReceives: 3,
    retryBackoffMs: () => 50,
    logger: log.logger,
    ...overrides,
  });
  open.push(intake);
  const refusals = () => log.lines.filter((l) => l.message === 'webhook request refused');
  return { intake, dir, log, refusals };
}

const event = loadFixture('falcosidekick-reverse-shell.json');

describe('webhook intake: accepting', () => {
  it('answers 202 with the backlog id once the event is on disk, and hands it to the handler as an intake message', async () => {
    const { intake, dir } = await webhook();
    const seen: IntakeMessage[] = [];
    const answer = await send(intake.url, json(event));
    expect(answer.status).toBe(202);
    const id = answer.json.id as string;
    // Recorded before the answer: the file is there, whole, even though no handler runs yet.
    const stored = JSON.parse(readFileSync(join(dir, 'pending', `${id}.json`), 'utf8')) as { body: string; receiveCount: number };
    expect(JSON.parse(stored.body)).toEqual(event);
    expect(stored.receiveCount).toBe(0);

    intake.start(async (m) => {
      seen.push(m);
      return 'done';
    });
    await waitUntil(() => seen.length === 1 && backlogFiles(dir).length === 0, 'the event handled and deleted');
    expect(seen[0]).toMatchObject({ id, source: 'intake', receiveCount: 1, transport: 'webhook', senderId: '127.0.0.1' });
    expect(JSON.parse(seen[0]!.body!)).toEqual(event);
    expect(seen[0]!.sentAt).toBeInstanceOf(Date);
  });

  it('takes events on /events as on /falco, and GuardDuty findings as well as Falco events', async () => {
    const { intake } = await webhook();
    const seen: string[] = [];
    intake.start(async (m) => {
      seen.push(m.body!);
      return 'done';
    });
    const guardDuty = loadFixture('guardduty-ec2-reverse-shell.json');
    expect((await send(intake.url, { path: '/events', ...json(guardDuty) })).status).toBe(202);
    await waitUntil(() => seen.length === 1, 'the finding delivered');
    expect(JSON.parse(seen[0]!)).toEqual(guardDuty);
  });

  it('delivers a playbook message kind as an intake message, which the dispatcher refuses as on the SQS intake queue', async () => {
    const { intake } = await webhook();
    const seen: IntakeMessage[] = [];
    intake.start(async (m) => {
      seen.push(m);
      return 'done';
    });
    const forged = { kind: 'task', taskToken: 'x'.repeat(40), action: 'deny-egress', input: {}, incidentId: 'inc-1' };
    expect((await send(intake.url, json(forged))).status).toBe(202);
    await waitUntil(() => seen.length === 1, 'the forged message delivered');
    const parsed = parseMessage(seen[0]!.body);
    expect(parsed.ok && parsed.parsed.kind).toBe('task');
    expect(refuseKind('task', seen[0]!)).toMatch(/on the intake queue/);
  });

  it('handles at most `concurrency` events at once, starting them in accept order', async () => {
    const { intake } = await webhook({ concurrency: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await send(intake.url, json({ ...event, uuid: `e${i}` }))).json.id as string);
    let running = 0;
    let most = 0;
    const order: string[] = [];
    intake.start(async (m) => {
      order.push(m.id);
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 100));
      running--;
      return 'done';
    });
    await waitUntil(() => order.length === 5 && running === 0, 'all five handled');
    expect(most).toBe(2);
    // Two start together (either may reach the handler first); the third only once one is done.
    expect(new Set(order.slice(0, 2))).toEqual(new Set(ids.slice(0, 2)));
    expect([...order].sort()).toEqual([...ids].sort());
  });
});

describe('webhook intake: refusals', () => {
  it('401 for a missing or wrong X-Sentinel-Token, logged with the reason and never the token; nothing written', async () => {
    const { intake, dir, log, refusals } = await webhook();
    const missing = await send(intake.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual({ error: 'missing X-Sentinel-Token header' });
    const wrongSameLength = await send(intake.url, json(event, { 'x-sentinel-token': `${TOKEN.slice(0, -1)}x` }));
    const wrongShort = await send(intake.url, json(event, { 'x-sentinel-token': 'short' }));
    for (const a of [wrongSameLength, wrongShort]) {
      expect(a.status).toBe(401);
      expect(a.json).toEqual({ error: 'X-Sentinel-Token does not match SENTINEL_WEBHOOK_TOKEN' });
    }
    expect(refusals().map((r) => [r.status, r.reason])).toEqual([
      [401, 'missing X-Sentinel-Token header'],
      [401, 'X-Sentinel-Token does not match SENTINEL_WEBHOOK_TOKEN'],
      [401, 'X-Sentinel-Token does not match SENTINEL_WEBHOOK_TOKEN'],
    ]);
    expect(log.raw.join('\n')).not.toContain(TOKEN.slice(0, 20));
    expect(log.raw.join('\n')).not.toContain('198.51.100.23'); // nothing of the body
    expect(backlogFiles(dir)).toEqual([]);
  });

  it('compares the token in constant time: both sides hashed to 32 bytes and given to timingSafeEqual, whatever their lengths', async () => {
    const { intake } = await webhook();
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    expect((await send(intake.url, json(event, { 'x-sentinel-token': 'a-much-shorter-one' }))).status).toBe(401);
    expect(spy).toHaveBeenCalledTimes(1);
    const [a, b] = spy.mock.calls[0]! as [Buffer, Buffer];
    expect([a.length, b.length]).toEqual([32, 32]);
    expect((await send(intake.url, json(event))).status).toBe(202);
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('without a token, accepts loopback clients only', async () => {
    const { intake } = await webhook({ token: undefined });
    expect((await send(intake.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) })).status).toBe(202);
    expect(authorizeWebhook({ remoteAddress: '10.0.4.7', token: undefined }, undefined)).toEqual({
      allowed: false,
      status: 403,
      reason: 'SENTINEL_WEBHOOK_TOKEN is not set: the webhook accepts loopback clients only',
    });
    expect(authorizeWebhook({ remoteAddress: '::ffff:127.0.0.1', token: undefined }, undefined)).toEqual({ allowed: true });
    // With a token, loopback is no exception.
    expect(authorizeWebhook({ remoteAddress: '127.0.0.1', token: undefined }, TOKEN)).toMatchObject({ allowed: false, status: 401 });
  });

  it('413 from the declared Content-Length, answered before the body is sent, and the connection closed', async () => {
    const { intake, dir, refusals } = await webhook({ maxBodyBytes: 4096 });
    const answer = await new Promise<{ status: number; json: Record<string, unknown>; closed: Promise<void> }>((resolve, reject) => {
      const req = request(`${intake.url}/falco`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sentinel-token': TOKEN, 'content-length': String(50 * 1024 * 1024) } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown>, closed: new Promise((r) => req.socket?.once('close', () => r())) }));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
      });
      // 1 KiB of the 50 MiB promised; the rest never comes.
      req.write('{"a":"' + 'x'.repeat(1024));
    });
    expect(answer.status).toBe(413);
    expect(answer.json.error).toMatch(/52428800 bytes; the limit is 4096/);
    expect(refusals().map((r) => r.status)).toEqual([413]);
    expect(backlogFiles(dir)).toEqual([]);
  });

  it('413 for a chunked body that grows past the limit: the server stops reading while the client is still sending', async () => {
    const { intake, dir, refusals } = await webhook({ maxBodyBytes: 4096 });
    let written = 0;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${intake.url}/falco`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sentinel-token': TOKEN } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
      });
      // Chunked, never ended: 1 KiB every 20 ms until the answer comes.
      const timer = setInterval(() => {
        if (req.destroyed || written > 10 * 1024 * 1024) return clearInterval(timer);
        req.write('x'.repeat(1024));
        written += 1024;
      }, 20);
      req.on('close', () => clearInterval(timer));
    });
    expect(status).toBe(413);
    expect(written).toBeLessThan(64 * 1024);
    expect(refusals().map((r) => r.reason)).toEqual(['the body is larger than 4096 bytes (SENTINEL_WEBHOOK_MAX_BODY_BYTES)']);
    expect(backlogFiles(dir)).toEqual([]);
  });

  it('400 for a body that is not one JSON object (not JSON, not UTF-8, empty, an array, a scalar, an unknown kind)', async () => {
    const { intake, dir, refusals } = await webhook();
    const cases: [string | Buffer, string][] = [
      ['{"rule": "x", ', 'the body is not JSON'],
      [Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'the body is not UTF-8'],
      ['', 'the body is empty'],
      [JSON.stringify([event, event]), 'the body must be one JSON object: one event per request'],
      ['42', 'the body must be one JSON object: one event per request'],
      ['null', 'the body must be one JSON object: one event per request'],
      [JSON.stringify({ kind: 'bogus' }), 'unknown message kind "bogus"'],
    ];
    for (const [body, reason] of cases) {
      const a = await send(intake.url, { headers: json(event).headers, body });
      expect([a.status, a.json]).toEqual([400, { error: reason }]);
    }
    expect(refusals().map((r) => r.reason)).toEqual(cases.map(([, reason]) => reason));
    expect(backlogFiles(dir)).toEqual([]);
  });

  it('415 for a body that is not declared JSON (no type, another type, another charset, compressed)', async () => {
    const { intake, dir, refusals } = await webhook();
    const body = JSON.stringify(event);
    const cases: Record<string, string>[] = [
      {},
      { 'content-type': 'text/plain' },
      { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': 'application/json; charset=iso-8859-1' },
      { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    ];
    for (const headers of cases) {
      const a = await send(intake.url, { headers: { 'x-sentinel-token': TOKEN, ...headers }, body });
      expect(a.status).toBe(415);
      expect(a.json.error).toEqual(expect.any(String));
    }
    expect(refusals().map((r) => r.status)).toEqual([415, 415, 415, 415, 415]);
    // A plain application/json (no charset) is fine.
    expect((await send(intake.url, { headers: { 'x-sentinel-token': TOKEN, 'content-type': 'Application/JSON' }, body })).status).toBe(202);
    expect(backlogFiles(dir)).toHaveLength(1);
  });

  it('404 for another path and 405 for another method, with JSON reasons', async () => {
    const { intake, refusals } = await webhook();
    const notFound = await send(intake.url, { path: '/healthz', method: 'GET' });
    expect([notFound.status, notFound.json.error]).toEqual([404, 'not found: post events to /falco or /events']);
    const wrongMethod = await send(intake.url, { path: '/falco', method: 'GET' });
    expect([wrongMethod.status, wrongMethod.headers.allow, wrongMethod.json.error]).toEqual([405, 'POST', 'method not allowed: POST one event as JSON']);
    expect(refusals().map((r) => r.status)).toEqual([404, 405]);
  });
});

describe('webhook intake: backlog bounds', () => {
  it('429 with Retry-After when the backlog holds its most events; nothing is dropped, and once drained it accepts again', async () => {
    const { intake, dir, refusals } = await webhook({ backlog: { maxEvents: 2, maxBytes: 1024 * 1024 }, retryAfterSeconds: 7 });
    const first = await send(intake.url, json({ ...event, uuid: 'one' }));
    const second = await send(intake.url, json({ ...event, uuid: 'two' }));
    expect([first.status, second.status]).toEqual([202, 202]);
    const full = await send(intake.url, json({ ...event, uuid: 'three' }));
    expect(full.status).toBe(429);
    expect(full.headers['retry-after']).toBe('7');
    expect(full.json.error).toMatch(/holds 2 events.*SENTINEL_WEBHOOK_BACKLOG_MAX_EVENTS.*retry later/);
    expect(refusals().map((r) => r.status)).toEqual([429]);
    expect(backlogFiles(dir)).toEqual([`pending/${first.json.id as string}.json`, `pending/${second.json.id as string}.json`].sort());

    const seen: string[] = [];
    intake.start(async (m) => {
      seen.push((JSON.parse(m.body!) as { uuid: string }).uuid);
      return 'done';
    });
    await waitUntil(() => intake.backlogUsage().events === 0, 'the backlog drained');
    expect(seen.sort()).toEqual(['one', 'two']);
    const again = await send(intake.url, json({ ...event, uuid: 'three' }));
    expect(again.status).toBe(202);
    await waitUntil(() => seen.length === 3, 'the third delivered');
  });

  it('429 when the bodies would pass the byte bound', async () => {
    const body = JSON.stringify({ ...event, pad: 'p'.repeat(2000) });
    const bytes = Buffer.byteLength(body);
    const { intake, refusals } = await webhook({ backlog: { maxEvents: 100, maxBytes: bytes * 2 + 10 } });
    expect((await send(intake.url, json(body))).status).toBe(202);
    expect((await send(intake.url, json(body))).status).toBe(202);
    const full = await send(intake.url, json(body));
    expect(full.status).toBe(429);
    expect(refusals()[0]!.reason).toMatch(/SENTINEL_WEBHOOK_BACKLOG_MAX_BYTES/);
    expect(intake.backlogUsage()).toEqual({ events: 2, bytes: bytes * 2 });
  });

  it('accepts that arrive at once cannot pass the bound together', async () => {
    const { intake } = await webhook({ backlog: { maxEvents: 3, maxBytes: 1024 * 1024 } });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => send(intake.url, json({ ...event, uuid: `c${i}` }))));
    expect(answers.filter((a) => a.status === 202)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
    expect(intake.backlogUsage().events).toBe(3);
  });
});

describe('webhook intake: retries, dead letters, restarts', () => {
  it('a retried event is delivered again with its receive count, after a backoff', async () => {
    const { intake, dir } = await webhook();
    const seen: number[] = [];
    intake.start(async (m) => {
      seen.push(m.receiveCount);
      return seen.length < 2 ? 'retry' : 'done';
    });
    expect((await send(intake.url, json(event))).status).toBe(202);
    await waitUntil(() => seen.length === 2 && backlogFiles(dir).length === 0, 'the second delivery done');
    expect(seen).toEqual([1, 2]);
  });

  it('after maxReceives failed deliveries the event moves to the dead-letter directory with the reason, freeing its room', async () => {
    const { intake, dir, log } = await webhook({ maxReceives: 3, backlog: { maxEvents: 1, maxBytes: 1024 * 1024 } });
    let calls = 0;
    intake.start(async () => {
      calls++;
      throw new Error('Discord is down');
    });
    const id = (await send(intake.url, json(event))).json.id as string;
    await waitUntil(() => existsSync(join(dir, 'dead', `${id}.json`)) && intake.backlogUsage().events === 0, 'the dead letter');
    expect(calls).toBe(3);
    const dead = JSON.parse(readFileSync(join(dir, 'dead', `${id}.json`), 'utf8')) as { reason: string; entry: { body: string; receiveCount: number } };
    expect(dead.reason).toBe('the handler failed: Discord is down (delivered 3 times)');
    expect(dead.entry.receiveCount).toBe(3);
    expect(JSON.parse(dead.entry.body)).toEqual(event);
    expect(backlogFiles(dir)).toEqual([`dead/${id}.json`]);
    expect(log.lines.some((l) => l.message === 'webhook event dead-lettered' && l.messageId === id)).toBe(true);
    expect((await send(intake.url, json(event))).status).toBe(202);
  });

  it('events accepted before a stop are delivered by the next intake on the same directory, once; stray temporary files are removed', async () => {
    const first = await webhook();
    const a = (await send(first.intake.url, json({ ...event, uuid: 'a' }))).json.id as string;
    const b = (await send(first.intake.url, json({ ...event, uuid: 'b' }))).json.id as string;
    await first.intake.stop();
    // What a write cut short by a crash leaves: a temporary file, never a half entry under an id.
    writeFileSync(join(first.dir, 'pending', `.${a}.json.0123456789ab.tmp`), '{"id":"wh-');

    const second = await webhook({ dir: first.dir, concurrency: 1 });
    const seen: string[] = [];
    second.intake.start(async (m) => {
      seen.push(m.id);
      return 'done';
    });
    await waitUntil(() => seen.length === 2 && backlogFiles(first.dir).length === 0, 'both delivered');
    expect(seen).toEqual([a, b]);
    await second.intake.stop();
    const third = await webhook({ dir: first.dir });
    const again: string[] = [];
    third.intake.start(async (m) => {
      again.push(m.id);
      return 'done';
    });
    expect(third.intake.backlogUsage().events).toBe(0);
    expect(again).toEqual([]);
  });

  it('an entry that cannot be read back is set aside in the dead-letter directory with the reason, not delivered', async () => {
    const first = await webhook();
    const good = (await send(first.intake.url, json(event))).json.id as string;
    await first.intake.stop();
    const broken = 'wh-000000001-00000000000000ff';
    writeFileSync(join(first.dir, 'pending', `${broken}.json`), '{"id": "wh-000000001-00000000000000ff", "body": ');
    const second = await webhook({ dir: first.dir });
    const seen: string[] = [];
    second.intake.start(async (m) => {
      seen.push(m.id);
      return 'done';
    });
    await waitUntil(() => seen.length === 1 && !existsSync(join(first.dir, 'pending', `${good}.json`)), 'the good entry delivered');
    expect(seen).toEqual([good]);
    const dead = JSON.parse(readFileSync(join(first.dir, 'dead', `${broken}.json`), 'utf8')) as { reason: string; raw: string };
    expect(dead.reason).toMatch(/^unreadable backlog entry: Corrupt state at .*not JSON/);
    expect(dead.raw).toContain('"body": ');
    expect(backlogFiles(first.dir)).toEqual([`dead/${broken}.json`]);
    expect(second.log.lines.some((l) => l.message === 'webhook backlog entry set aside: it cannot be read' && l.messageId === broken)).toBe(true);
  });

  it('stop() stops listening, waits for the event being handled, and resolves; the listener is gone', async () => {
    const { intake, dir } = await webhook();
    let release: (() => void) | undefined;
    let finished = false;
    intake.start(async () => {
      await new Promise<void>((r) => (release = r));
      finished = true;
      return 'done';
    });
    expect((await send(intake.url, json(event))).status).toBe(202);
    await waitUntil(() => release !== undefined, 'the handler running');
    let stopped = false;
    const stopping = intake.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(stopped).toBe(false);
    await expect(send(intake.url, json(event))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    release!();
    await stopping;
    expect(finished).toBe(true);
    expect(intake.isRunning()).toBe(false);
    expect(backlogFiles(dir)).toEqual([]);
  });

  it('SIGKILL after the 202s, one event in the handler and one waiting: after a restart each is handled exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-webhook-crash-'));
    const processed = join(dir, 'processed.txt');
    writeFileSync(processed, '');
    const child = (env: Record<string, string>) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', WEBHOOK_DIR: join(dir, 'intake'), WEBHOOK_TOKEN: TOKEN, WEBHOOK_PROCESSED: processed, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      return {
        output: () => out,
        log: () => err,
        url: () => waitUntil(() => /^listening (\S+)$/m.exec(out)?.[1], `the child listening; it wrote ${err.slice(-2000)}`, 60_000),
        kill: async () => {
          proc.kill('SIGKILL');
          await exited;
        },
        term: async () => {
          proc.kill('SIGTERM');
          await exited;
        },
      };
    };

    const first = child({ WEBHOOK_HANG: '1', WEBHOOK_CONCURRENCY: '1' });
    try {
      const url = await first.url();
      const inHand = (await send(url, json({ ...event, uuid: 'in-hand' }))).json.id as string;
      const waiting = (await send(url, json({ ...event, uuid: 'waiting' }))).json.id as string;
      await waitUntil(() => first.output().includes(`handling ${inHand}`), 'the first event in the handler');
      await first.kill();

      const second = child({});
      try {
        await second.url();
        const lines = await waitUntil(() => {
          const l = readFileSync(processed, 'utf8').split('\n').filter(Boolean);
          return l.length >= 2 && backlogFiles(join(dir, 'intake')).length === 0 ? l : undefined;
        }, 'both events processed after the restart');
        // The one in the handler at the crash comes with its second delivery; the waiting one with its first.
        expect(lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([`${inHand} 2`, `${waiting} 1`]);
      } finally {
        await second.term();
      }

      const third = child({});
      try {
        await third.url();
        await waitUntil(() => /"message":"webhook listening"/.test(third.log()) || undefined, 'the third start');
        expect(third.log()).toMatch(/"pendingEvents":0/);
        expect(readFileSync(processed, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
      } finally {
        await third.term();
      }
    } finally {
      await first.kill();
    }
  });
});

describe('webhook intake: settings', () => {
  it('takes its options from SENTINEL_WEBHOOK_* with the backlog under SENTINEL_DATA_DIR/intake; the token is a secret the logs mask', () => {
    const config = loadConfig({ env: { SENTINEL_DATA_DIR: '/data', SENTINEL_WEBHOOK_TOKEN: TOKEN, SENTINEL_WEBHOOK_PORT: '9000', SENTINEL_WEBHOOK_CONCURRENCY: '3' }, envFile: false });
    expect(webhookIntakeOptions(config, createSilentLogger())).toMatchObject({
      host: '0.0.0.0',
      port: 9000,
      token: TOKEN,
      maxBodyBytes: 262_144,
      dir: '/data/intake',
      backlog: { maxEvents: 10_000, maxBytes: 256 * 1024 * 1024 },
      concurrency: 3,
      maxReceives: 5,
    });
    expect(secretValues(config)).toContain(TOKEN);
    expect(() => loadConfig({ env: { SENTINEL_WEBHOOK_TOKEN: 'short' }, envFile: false })).toThrow(/SENTINEL_WEBHOOK_TOKEN/);
    // Past an SQS message's size the handler would refuse the body after a 202: not allowed.
    expect(() => loadConfig({ env: { SENTINEL_WEBHOOK_MAX_BODY_BYTES: '1048576' }, envFile: false })).toThrow(/SENTINEL_WEBHOOK_MAX_BODY_BYTES/);
  });
});
