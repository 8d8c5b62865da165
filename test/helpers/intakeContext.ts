/**
 * The bot's handler context without the network, for tests that drive `dispatchMessage` directly:
 * real handlers, the bot's file stores (incidents, approvals, audit, dead letters) and Discord
 * outbox in a temporary data directory (no fsync: crash safety is not what these tests are about),
 * the default playbook config and action registry, S3 on the local object store. Discord is the
 * port given; Step Functions is an in-memory engine that records starts by execution name and takes
 * a task token as live only if it issued it (`liveToken()`), as Step Functions answers for tokens
 * it does not know.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AwsClients } from '../../src/aws/clients.js';
import { createLocalObjectStore, localS3Client } from '../../src/aws/localObjectStore.js';
import { TaskGoneError } from '../../src/bot/engine/stepFunctionsEngine.js';
import { createBotMetrics } from '../../src/bot/ops/metrics.js';
import { createDiscordOutbox, type DiscordOutbox } from '../../src/bot/outbox/discordOutbox.js';
import { loadConfig } from '../../src/config.js';
import type { HandlerContext } from '../../src/handlers/context.js';
import type { DiscordPort } from '../../src/handlers/ports/discordPort.js';
import type { PlaybookEngine } from '../../src/handlers/ports/playbookEngine.js';
import { createLogger, type LogLevel } from '../../src/logger.js';
import { actionRegistry } from '../../src/pipeline/actions/registry.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { ConfirmationStore } from '../../src/stores/confirmationStore.js';
import { createDeadLetterStore } from '../../src/stores/createDeadLetterStore.js';
import { FileApprovalStore } from '../../src/stores/fileApprovalStore.js';
import { FileAuditLog } from '../../src/stores/fileAuditLog.js';
import { FileIncidentStore } from '../../src/stores/fileIncidentStore.js';
import { FilePendingStartStore } from '../../src/stores/pendingStartStore.js';
import { createPlaybookStarter } from '../../src/handlers/playbookStarter.js';

export const INTAKE_ROLE_ID = 'AROASTATEMACHINES0001';

const unreachable = (): never => {
  throw new Error('Discord is not part of this test');
};
/** A Discord port for tests that never reach Discord (the outbox not started: what is recorded is read back with `has`). */
export const DISCORD_NOT_REACHED: DiscordPort = { post: unreachable, edit: unreachable, thread: unreachable, fetchEmbeds: unreachable, isReady: () => false };
export const INTAKE_CHANNEL_ID = '100000000000000003';

export interface IntakeLogLine {
  level: string;
  message: string;
  reason?: unknown;
  [key: string]: unknown;
}

export interface IntakeContext {
  ctx: HandlerContext;
  outbox: DiscordOutbox;
  dir: string;
  lines: IntakeLogLine[];
  /** Executions started, by name. */
  started: Map<string, string>;
  /** Tasks answered: SendTaskSuccess (ok) or SendTaskFailure (error). */
  answered: { token: string; ok: boolean; error?: string }[];
  /** A task token this engine takes as live until it is answered. */
  liveToken(): string;
  close(): Promise<void>;
}

export interface IntakeContextOptions {
  port: DiscordPort;
  now?: () => number;
  /** fsync the stores' writes, as the bot does; default false (crash safety is not what the tests are about). */
  fsync?: boolean;
  /** Where log lines go instead of `lines` (which then stays empty), and from which level. */
  log?: { level: LogLevel; stream: NodeJS.WritableStream };
}

export async function createIntakeContext(options: IntakeContextOptions): Promise<IntakeContext> {
  const fsync = options.fsync ?? false;
  const now = options.now ?? Date.now;
  const dir = await mkdtemp(join(tmpdir(), 'sentinel-intake-'));
  const lines: IntakeLogLine[] = [];
  const started = new Map<string, string>();
  const live = new Set<string>();
  const answered: IntakeContext['answered'] = [];
  const engine: PlaybookEngine = {
    async start(route, executionName) {
      const known = started.has(executionName);
      if (!known) started.set(executionName, route);
      return { executionArn: `arn:aws:states:ap-northeast-2:123456789012:execution:falco:${executionName}`, started: !known };
    },
    async heartbeat(token) {
      if (!live.has(token)) throw new TaskGoneError('Invalid Token', { code: 'InvalidToken' });
    },
    async taskSucceeded(token) {
      if (!live.delete(token)) throw new TaskGoneError('Invalid Token', { code: 'InvalidToken' });
      answered.push({ token, ok: true });
    },
    async taskFailed(token, error) {
      if (!live.delete(token)) throw new TaskGoneError('Invalid Token', { code: 'InvalidToken' });
      answered.push({ token, ok: false, error });
    },
  };
  const logger = createLogger({
    format: 'json',
    level: options.log?.level ?? 'debug',
    stream:
      options.log?.stream ??
      new Writable({
        write(chunk, _enc, done) {
          for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as IntakeLogLine);
          done();
        },
      }),
  });
  const config = loadConfig({
    env: {
      DISCORD_TOKEN: 'fake-token-for-an-intake-test',
      DISCORD_APPLICATION_ID: '100000000000000001',
      DISCORD_GUILD_ID: '100000000000000002',
      DISCORD_CHANNEL_ID: INTAKE_CHANNEL_ID,
      DISCORD_RESPONDER_ROLE_IDS: '100000000000000004',
      SENTINEL_DATA_DIR: dir,
    },
    envFile: false,
  });
  const incidents = new FileIncidentStore({ dir: join(dir, 'incidents'), fsync });
  const approvals = new FileApprovalStore({ dir: join(dir, 'approvals'), logger, fsync });
  const audit = new FileAuditLog({ dir });
  const outbox = createDiscordOutbox({
    dir: join(dir, 'outbox'),
    port: options.port,
    channelId: INTAKE_CHANNEL_ID,
    incidents,
    approvals,
    audit,
    logger,
    budget: config.bot.channelBudget,
    editIntervalMs: config.bot.editIntervalMs,
    digestThreshold: config.bot.digestThreshold,
    digestWindowMs: config.bot.stormWindowMs,
    fsync,
    now,
  });
  const starts = createPlaybookStarter({ store: new FilePendingStartStore({ dir: join(dir, 'starts'), fsync }), engine, incidents, audit, outbox, logger });
  const ctx: HandlerContext = {
    logger,
    playbooks: loadPlaybookConfig(undefined),
    engine,
    discord: outbox.port,
    outbox,
    starts,
    approvals,
    incidents,
    audit,
    confirmations: new ConfirmationStore(),
    deadLetters: createDeadLetterStore({ kind: 'file', dataDir: dir, bucket: undefined, s3: undefined, logger }),
    actions: actionRegistry(),
    actionDeps: { aws: { s3: localS3Client(createLocalObjectStore(dir)) } as unknown as AwsClients, settings: { ...config.pipeline, evidenceBucket: 'sentinel-evidence' }, logger, now: () => new Date(now()) },
    metrics: createBotMetrics({ defaultMetrics: false }),
    channelId: INTAKE_CHANNEL_ID,
    guildId: '100000000000000002',
    responderRoleIds: ['100000000000000004'],
    bot: { ...config.bot, stateMachineRoleId: INTAKE_ROLE_ID, stateMachines: { falco: 'arn:falco', forensics: 'arn:forensics', notify: 'arn:notify', pod: 'arn:pod' } },
    defaultDecision: 'block',
    now: () => new Date(now()),
  };
  return {
    ctx,
    outbox,
    dir,
    lines,
    started,
    answered,
    liveToken() {
      const token = `live-${randomUUID()}`;
      live.add(token);
      return token;
    },
    async close() {
      await starts.stop();
      await outbox.stop(0);
      // The states repeats changed are written now, not by the store's timer while the directory is removed.
      await incidents.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
