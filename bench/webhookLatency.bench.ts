/**
 * `npm run bench:webhook`: webhook-to-Discord latency in embedded mode. The bot runs in this
 * process as `sentinel start` runs it with only the Discord settings (no AWS): the fake Discord
 * (gateway and REST, rate limits off) and the fake Kubernetes API from test/support, the webhook on
 * a loopback port, state in a temporary data dir, the outbox's channel budget at its most (50
 * writes in 5 s: at the default 4, 200 incidents one after another wait on the budget's queue, p50
 * 0.5 s and p99 5 s, which is what the channel allows rather than what the pipeline costs).
 *
 * Each event (a distinct reverse shell, route block-egress) is posted alone, and two times are
 * taken from the same request: when the webhook answered 202 (the event is on disk: the baseline,
 * what the HTTP round trip and the durable write cost), and when the fake Discord received the
 * incident message (triage, the in-process playbook start, the post). The figure is the second,
 * with its ratio to the first, both measured in this run.
 *
 * Options: --events N (default 200), --warmup N (default 20), --json.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { startBot } from '../src/bot/startBot.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startFakeDiscord } from '../test/support/fakeDiscord/index.js';
import { startFakeKube } from '../test/support/fakeKube/index.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200' }, warmup: { type: 'string', default: '20' }, json: { type: 'boolean', default: false } } });
const EVENTS = Number(values.events);
const WARMUP = Number(values.warmup);
if (!(EVENTS >= 10) || !(WARMUP >= 0)) throw new Error('--events must be >= 10 and --warmup >= 0');

const NODE = 'ip-10-0-12-34.ap-northeast-2.compute.internal';
const TOKEN = 'bench-webhook-secret-0123456789abcdef';

function reverseShell(i: number) {
  const ip = `198.51.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;
  const output =
    `ARTIFACT_Reverse_Shell_Suspected! Attacker_IP: ${ip} Attacker_Port: 4444 Local_Port: 48122 User: www-data Command: bash -i ` +
    `Full_Connection: 10.0.12.34:48122->${ip}:4444 proc=php parent=apache2 pod=dvwa-6d8f7c9b4-x2x9k ns=dvwa container=dvwa container_id=3f2a9c1b7d4e`;
  return { ip, event: { falco: { log: `2026-11-20T03:14:07.123456789+0000: Critical ${output}`, stream: 'stdout', kubernetes: { host: NODE, pod_name: 'falco-x7k2p', namespace_name: 'falco' } } } };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const sink = new Writable({ write: (_c, _e, done) => done() });
const dataDir = await mkdtemp(join(tmpdir(), 'sentinel-bench-webhook-'));
const discord = await startFakeDiscord({ members: [{ username: 'alice', roles: ['Responder'] }] });
const kube = await startFakeKube();
kube.addNode({ name: NODE, instanceId: 'i-0a1b2c3d4e5f60718', availabilityZone: 'ap-northeast-2a', internalIP: '10.0.12.34' });
const kubeconfig = join(dataDir, 'kubeconfig.json');
await writeFile(kubeconfig, kube.kubeConfig().exportConfig(), { mode: 0o600 });
const config = loadConfig({
  env: {
    DISCORD_API_URL: discord.apiUrl,
    DISCORD_TOKEN: discord.token,
    DISCORD_APPLICATION_ID: discord.applicationId,
    DISCORD_GUILD_ID: discord.guildId,
    DISCORD_CHANNEL_ID: discord.channel('alerts').id,
    DISCORD_RESPONDER_ROLE_IDS: discord.role('Responder').id,
    SENTINEL_DATA_DIR: dataDir,
    SENTINEL_KUBECONFIG: kubeconfig,
    SENTINEL_HTTP_PORT: '0',
    SENTINEL_HTTP_HOST: '127.0.0.1',
    SENTINEL_WEBHOOK_PORT: '0',
    SENTINEL_WEBHOOK_HOST: '127.0.0.1',
    SENTINEL_WEBHOOK_TOKEN: TOKEN,
    SENTINEL_AWS_IP_RANGES_REFRESH_MINUTES: '0',
    SENTINEL_LOG_LEVEL: 'warn',
    // The fake Discord enforces no limits here, and one incident after another at the default budget
    // (4 writes in 5 s, shared with each incident's report edits) would measure the budget's queue,
    // not the pipeline: the most the setting allows.
    SENTINEL_DISCORD_CHANNEL_BUDGET: '50',
  },
  envFile: false,
});
const bot = await startBot(config, createLogger({ level: 'warn', format: 'json', stream: sink }));
const url = `${bot.backend.describe.webhookUrl}/falco`;

const accepted: number[] = [];
const posted: number[] = [];
try {
  for (let i = 0; i < WARMUP + EVENTS; i++) {
    const { ip, event } = reverseShell(i);
    const after = discord.lastSeq;
    const sent = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sentinel-token': TOKEN }, body: JSON.stringify(event) });
    await res.arrayBuffer();
    const acceptedAt = performance.now();
    if (res.status !== 202) throw new Error(`the webhook answered ${res.status}`);
    await discord.waitForCall((c) => c.method === 'POST' && c.route === '/channels/:channel_id/messages' && JSON.stringify(c.body).includes(ip), 30_000, after);
    const postedAt = performance.now();
    if (i >= WARMUP) {
      accepted.push(acceptedAt - sent);
      posted.push(postedAt - sent);
    }
  }
} finally {
  await bot.stop();
  await discord.close();
  await kube.close();
  await rm(dataDir, { recursive: true, force: true });
}

const a = [...accepted].sort((x, y) => x - y);
const p = [...posted].sort((x, y) => x - y);
const result = {
  events: EVENTS,
  acceptMs: { p50: percentile(a, 50), p99: percentile(a, 99) },
  webhookToDiscordMs: { p50: percentile(p, 50), p99: percentile(p, 99) },
  ratioP50: percentile(p, 50) / percentile(a, 50),
};
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  const f = (n: number) => n.toFixed(1).padStart(8);
  process.stdout.write(
    [
      `webhook → Discord latency, embedded mode, ${EVENTS} events posted one at a time (after ${WARMUP} warm-up)`,
      `                              p50 ms    p99 ms`,
      `accepted (202, on disk)   ${f(result.acceptMs.p50)}  ${f(result.acceptMs.p99)}   baseline`,
      `incident posted           ${f(result.webhookToDiscordMs.p50)}  ${f(result.webhookToDiscordMs.p99)}   ${result.ratioP50.toFixed(1)}× the baseline (p50)`,
      '',
    ].join('\n'),
  );
}
