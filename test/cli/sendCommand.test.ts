import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { IntakeMessage } from '../../src/handlers/ports/intake.js';
import { createWebhookIntake, type WebhookIntake, type WebhookIntakeOptions } from '../../src/bot/intake/webhookIntake.js';
import { main } from '../../src/cli/main.js';
import { createSilentLogger } from '../../src/logger.js';
import { FIXTURES_DIR, loadFixture } from '../helpers/events.js';

const TOKEN = 'send-test-token-0123456789abcdef';

async function sentinel(argv: string[], env: Record<string, string> = {}, stdin = '') {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await main({ argv, env: { SENTINEL_LOG_LEVEL: 'error', ...env }, stdin: Readable.from([stdin]), stdout, stderr });
  return { code, out, err, lines: out.split('\n').filter(Boolean) };
}

const open: WebhookIntake[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((i) => i.stop()));
});

/** A real webhook intake on 127.0.0.1 whose handler keeps what it is given. */
async function webhook(overrides: Partial<WebhookIntakeOptions> = {}) {
  const intake = await createWebhookIntake({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    maxBodyBytes: 262_144,
    dir: mkdtempSync(join(tmpdir(), 'sentinel-send-')),
    backlog: { maxEvents: 100, maxBytes: 16 * 1024 * 1024 },
    concurrency: 1,
    maxReceives: 3,
    logger: createSilentLogger(),
    ...overrides,
  });
  open.push(intake);
  const seen: IntakeMessage[] = [];
  intake.start(async (m) => {
    seen.push(m);
    return 'done';
  });
  return { intake, seen };
}

async function until(probe: () => boolean, what: string) {
  const deadline = Date.now() + 20_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('sentinel send', () => {
  it('posts a sample to the webhook and prints its status and backlog id; the handler gets the event', async () => {
    const { intake, seen } = await webhook();
    const file = join(FIXTURES_DIR, 'falcosidekick-reverse-shell.json');
    const r = await sentinel(['send', '--url', `${intake.url}/falco`, '--token', TOKEN, file]);
    expect(r.code).toBe(0);
    expect(r.lines).toHaveLength(1);
    const [status, where, word, id] = r.lines[0]!.split(' ');
    expect([status, where, word]).toEqual(['202', `${file}:1`, 'accepted']);
    await until(() => seen.length === 1, 'the event handled');
    expect(seen[0]!.id).toBe(id);
    expect(JSON.parse(seen[0]!.body!)).toEqual(loadFixture('falcosidekick-reverse-shell.json'));
  });

  it('defaults to the local webhook port and SENTINEL_WEBHOOK_TOKEN from the settings, and a bare --url gets /events', async () => {
    const { intake, seen } = await webhook();
    const port = new URL(intake.url).port;
    const file = join(FIXTURES_DIR, 'guardduty-ec2-reverse-shell.json');
    const fromSettings = await sentinel(['send', file], { SENTINEL_WEBHOOK_PORT: port, SENTINEL_WEBHOOK_TOKEN: TOKEN });
    expect(fromSettings.code).toBe(0);
    expect(fromSettings.lines[0]).toMatch(/^202 /);
    const bareUrl = await sentinel(['send', '--url', intake.url, file], { SENTINEL_WEBHOOK_TOKEN: TOKEN });
    expect(bareUrl.lines[0]).toMatch(/^202 /);
    await until(() => seen.length === 2, 'both handled');
  });

  it('sends NDJSON, arrays and concatenated documents one event per request; a bad line is reported and the rest still go; exit 1', async () => {
    const { intake, seen } = await webhook();
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-send-files-'));
    const a = loadFixture('falco-terminal-shell.json');
    const b = loadFixture('falcosidekick-reverse-shell.json');
    const ndjson = join(dir, 'events.ndjson');
    writeFileSync(ndjson, `${JSON.stringify(a)}\nnot json\n${JSON.stringify([a, b])}\n`);
    const concatenated = join(dir, 'two.json');
    writeFileSync(concatenated, `${JSON.stringify(b, null, 2)}\n${JSON.stringify(a, null, 2)}\n`);
    const r = await sentinel(['send', '--url', intake.url, '--token', TOKEN, ndjson, concatenated]);
    expect(r.code).toBe(1);
    expect(r.lines.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      `202 ${ndjson}:1`,
      `error ${ndjson}:2`,
      `202 ${ndjson}:3`,
      `202 ${ndjson}:3`,
      `202 ${concatenated}:1`,
      `202 ${concatenated}:${JSON.stringify(b, null, 2).split('\n').length + 1}`,
    ]);
    expect(r.lines[1]).toMatch(/invalid JSON/);
    await until(() => seen.length === 5, 'five events handled');
    expect(seen.map((m) => (JSON.parse(m.body!) as { rule: string }).rule)).toEqual([a.rule, a.rule, b.rule, b.rule, a.rule]);
  });

  it("prints each refusal with the webhook's status and reason, and exits 1", async () => {
    const { intake, seen } = await webhook({ maxBodyBytes: 2048 });
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-send-files-'));
    const big = join(dir, 'big.json');
    writeFileSync(big, JSON.stringify({ ...loadFixture('falco-terminal-shell.json'), pad: 'p'.repeat(4096) }));
    const sample = join(FIXTURES_DIR, 'falco-terminal-shell.json');
    const wrongToken = await sentinel(['send', '--url', intake.url, '--token', 'not-the-token-at-all', sample]);
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.lines).toEqual([`401 ${sample}:1 X-Sentinel-Token does not match SENTINEL_WEBHOOK_TOKEN`]);
    const tooBig = await sentinel(['send', '--url', intake.url, '--token', TOKEN, big]);
    expect(tooBig.code).toBe(1);
    expect(tooBig.lines[0]).toMatch(new RegExp(`^413 ${big}:1 the body is \\d+ bytes; the limit is 2048`));
    expect(seen).toEqual([]);
  });

  it('waits out a full backlog (429 with Retry-After) and sends again', async () => {
    // No handler yet: the backlog holds one event, so the second send is refused until it drains.
    const intake = await createWebhookIntake({
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      maxBodyBytes: 262_144,
      dir: mkdtempSync(join(tmpdir(), 'sentinel-send-')),
      backlog: { maxEvents: 1, maxBytes: 16 * 1024 * 1024 },
      concurrency: 1,
      maxReceives: 3,
      retryAfterSeconds: 1,
      logger: createSilentLogger(),
    });
    open.push(intake);
    const file = join(FIXTURES_DIR, 'falco-terminal-shell.json');
    expect((await sentinel(['send', '--url', intake.url, '--token', TOKEN, file])).code).toBe(0);
    const seen: string[] = [];
    const sending = sentinel(['send', '--url', intake.url, '--token', TOKEN, file]);
    await new Promise((r) => setTimeout(r, 300));
    intake.start(async (m) => {
      seen.push(m.id);
      return 'done';
    });
    const r = await sending;
    expect(r.code).toBe(0);
    expect(r.lines[0]).toMatch(/^202 /);
    await until(() => seen.length === 2, 'both handled');
  });

  it('reports an unreachable webhook for each event and exits 1', async () => {
    const { intake } = await webhook();
    const url = intake.url;
    await intake.stop();
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-send-files-'));
    const two = join(dir, 'two.ndjson');
    const event = readFileSync(join(FIXTURES_DIR, 'falco-terminal-shell.json'), 'utf8').replace(/\n/g, '');
    writeFileSync(two, `${event}\n${event}\n`);
    const r = await sentinel(['send', '--url', url, '--token', TOKEN, two]);
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([`error ${two}:1 cannot reach ${url}/events: ECONNREFUSED`, `error ${two}:2 not sent: the webhook could not be reached (ECONNREFUSED)`]);
  });

  it('reads stdin for "-"; a missing file is an error line; usage errors exit 2; --help exits 0', async () => {
    const { intake, seen } = await webhook();
    const event = readFileSync(join(FIXTURES_DIR, 'falco-terminal-shell.json'), 'utf8');
    const fromStdin = await sentinel(['send', '--url', intake.url, '--token', TOKEN, '-', '/nonexistent/events.json'], {}, event);
    expect(fromStdin.code).toBe(1);
    expect(fromStdin.lines[0]).toMatch(/^202 \(stdin\):1 accepted /);
    expect(fromStdin.lines[1]).toBe('error /nonexistent/events.json cannot read: ENOENT');
    await until(() => seen.length === 1, 'the stdin event handled');

    const noFile = await sentinel(['send', '--url', intake.url]);
    expect(noFile.code).toBe(2);
    expect(noFile.err).toMatch(/no FILE given/);
    const badUrl = await sentinel(['send', '--url', 'ftp://example.com/x', 'x.json']);
    expect(badUrl.code).toBe(2);
    const unknown = await sentinel(['send', '--nope', 'x.json']);
    expect(unknown.code).toBe(2);
    const help = await sentinel(['send', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^usage: sentinel send \[--url URL\] \[--token TOKEN\] FILE\.\.\./);
    expect(help.out).toMatch(/Exit status: 0 every event accepted/);
    const listed = await sentinel(['--help']);
    expect(listed.out).toMatch(/sentinel send \[--url URL\] \[--token TOKEN\] FILE\.\.\./);
  });
});
