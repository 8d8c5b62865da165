/**
 * Harness for the bot in embedded mode: no AWS at all (no moto, no AWS setting), the fake Discord
 * (real discord.js Client) and the fake Kubernetes API (real client-node) with the pod the events
 * name, a temporary SENTINEL_DATA_DIR, and the webhook on a free loopback port. Events go in as
 * Falcosidekick sends them: an HTTP POST with the shared-secret header.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startBot, type RunningBot } from '../../src/bot/startBot.js';
import { loadConfig, secretValues, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startFakeDiscord, type FakeDiscord } from '../support/fakeDiscord/index.js';
import type { APIMessage } from '../support/fakeDiscord/types.js';
import { startFakeKube, type FakeKube } from '../support/fakeKube/index.js';
import { startBotProcess, type BotProcess } from '../support/botProcess.js';

export const EMBEDDED_NODE = 'ip-10-0-12-34.ap-northeast-2.compute.internal';
export const EMBEDDED_NAMESPACE = 'dvwa';
export const EMBEDDED_POD = 'dvwa-6d8f7c9b4-x2x9k';
export const EMBEDDED_CONTAINER = 'dvwa';
export const WEBHOOK_TOKEN = 'embedded-test-webhook-secret-0123456789';

export interface EmbeddedHarness {
  discord: FakeDiscord;
  kube: FakeKube;
  dataDir: string;
  channelId: string;
  users: { alice: string; bob: string; carol: string };
  logs: string[];
  readonly bot: RunningBot;
  readonly config: Config;
  /** The settings a bot of this harness gets: Discord only (plus where its data and the cluster are). */
  env(extra?: Record<string, string>): Record<string, string>;
  /**
   * Starts the bot in this process. `approvalTimeoutSeconds` goes below the setting's 60 s minimum
   * for tests of the timeout (the only value changed after loadConfig, as in botHarness.ts).
   */
  start(extra?: Record<string, string>, options?: { approvalTimeoutSeconds?: number }): Promise<RunningBot>;
  stop(): Promise<void>;
  /** POSTs one event to the running bot's webhook (or `url`); returns the status and body. */
  post(event: unknown, options?: { url?: string; token?: string | null }): Promise<{ status: number; body: Record<string, unknown> }>;
  /** The bot in a child process (to kill it), on the same fakes and data dir. */
  startProcess(extra?: Record<string, string>): BotProcess;
  waitForChannelMessage(predicate: (m: APIMessage) => boolean, timeoutMs?: number): Promise<APIMessage>;
  close(): Promise<void>;
}

class LineSink extends Writable {
  constructor(private readonly lines: string[]) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (const line of chunk.toString().split('\n')) if (line.trim()) this.lines.push(line);
    done();
  }
}

export async function createEmbeddedHarness(options: { files?: Record<string, string> } = {}): Promise<EmbeddedHarness> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sentinel-embedded-'));
  const discord = await startFakeDiscord({
    members: [
      { username: 'alice', roles: ['Responder'] },
      { username: 'bob' },
      { username: 'carol', roles: ['Responder'] },
    ],
  });
  const kube = await startFakeKube();
  kube.addNode({ name: EMBEDDED_NODE, instanceId: 'i-0a1b2c3d4e5f60718', availabilityZone: 'ap-northeast-2a', internalIP: '10.0.12.34' });
  kube.addPod({ namespace: EMBEDDED_NAMESPACE, name: EMBEDDED_POD, containers: [EMBEDDED_CONTAINER], nodeName: EMBEDDED_NODE, labels: { app: 'dvwa' }, files: options.files ?? {} });
  const kubeconfigPath = join(dataDir, 'kubeconfig.json');
  await writeFile(kubeconfigPath, kube.kubeConfig().exportConfig(), { mode: 0o600 });
  const channelId = discord.channel('alerts').id;
  const logs: string[] = [];
  const sink = new LineSink(logs);
  const baseEnv: Record<string, string> = {
    SENTINEL_LOG_LEVEL: 'debug',
    DISCORD_API_URL: discord.apiUrl,
    DISCORD_TOKEN: discord.token,
    DISCORD_APPLICATION_ID: discord.applicationId,
    DISCORD_GUILD_ID: discord.guildId,
    DISCORD_CHANNEL_ID: channelId,
    DISCORD_RESPONDER_ROLE_IDS: discord.role('Responder').id,
    SENTINEL_DATA_DIR: dataDir,
    SENTINEL_KUBECONFIG: kubeconfigPath,
    SENTINEL_HTTP_PORT: '0',
    SENTINEL_HTTP_HOST: '127.0.0.1',
    SENTINEL_WEBHOOK_PORT: '0',
    SENTINEL_WEBHOOK_HOST: '127.0.0.1',
    SENTINEL_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    SENTINEL_EDIT_INTERVAL_SECONDS: '1',
    SENTINEL_AWS_IP_RANGES_REFRESH_MINUTES: '0',
  };
  let bot: RunningBot | undefined;
  let config: Config | undefined;
  const processes: BotProcess[] = [];
  const harness: EmbeddedHarness = {
    discord,
    kube,
    dataDir,
    channelId,
    users: { alice: discord.member('alice').user.id, bob: discord.member('bob').user.id, carol: discord.member('carol').user.id },
    logs,
    get bot() {
      if (!bot) throw new Error('no bot is running');
      return bot;
    },
    get config() {
      if (!config) throw new Error('no bot was started');
      return config;
    },
    env(extra = {}) {
      return { ...baseEnv, ...extra };
    },
    async start(extra = {}, opts = {}) {
      config = loadConfig({ env: { ...baseEnv, ...extra }, envFile: false });
      if (opts.approvalTimeoutSeconds !== undefined) config = { ...config, bot: { ...config.bot, approvalTimeoutSeconds: opts.approvalTimeoutSeconds } };
      const logger = createLogger({ level: 'debug', format: 'json', secrets: secretValues(config), stream: sink });
      bot = await startBot(config, logger);
      return bot;
    },
    async stop() {
      await bot?.stop();
      bot = undefined;
    },
    async post(event, opts = {}) {
      const url = opts.url ?? `${harness.bot.backend.describe.webhookUrl}/falco`;
      const token = opts.token === undefined ? WEBHOOK_TOKEN : opts.token;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { 'x-sentinel-token': token } : {}) },
        body: typeof event === 'string' ? event : JSON.stringify(event),
      });
      const text = await res.text();
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = { text };
      }
      return { status: res.status, body };
    },
    startProcess(extra = {}) {
      const child = startBotProcess({ ...baseEnv, ...extra });
      processes.push(child);
      return child;
    },
    waitForChannelMessage(predicate, timeoutMs = 60_000) {
      return discord.waitForMessage((m) => m.channel_id === channelId && predicate(m), timeoutMs);
    },
    async close() {
      await bot?.stop().catch(() => undefined);
      await Promise.all(processes.map((p) => p.kill()));
      await discord.close();
      await kube.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}
