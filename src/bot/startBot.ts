import { createPlaybookStarter } from '../handlers/playbookStarter.js';
import { FilePendingStartStore } from '../stores/pendingStartStore.js';
import { accessSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { secretValues, type Config } from '../config.js';
import { describeError } from '../errors.js';
import { boundHeapGrowth } from './ops/boundHeapGrowth.js';
import { releaseStartupMemory, type ReleasedMemory } from './ops/releaseStartupMemory.js';
import { whenEventLoopQuiet } from './ops/whenEventLoopQuiet.js';
import type { Logger } from '../logger.js';
import { lazyKubeClients, type KubeClients } from '../kube/clients.js';
import { actionRegistry } from '../pipeline/actions/registry.js';
import { checkTwoPersonActions } from '../policy/checkTwoPersonActions.js';
import { loadPlaybookConfig } from '../pipeline/triage/playbookConfig.js';
import type { HandlerContext } from '../handlers/context.js';
import { dispatchMessage } from '../handlers/dispatchMessage.js';
import { WAIVE_MEMORY_ACTION } from '../handlers/memoryWaiver.js';
import { routeInteraction } from '../handlers/routeInteraction.js';
import { createDiscordPort } from './discordPort.js';
import { discordCacheOptions } from './discordClientOptions.js';
import type { Backend } from './backends/backend.js';
import { createAwsBackend } from './backends/createAwsBackend.js';
import { selectRunMode } from './selectRunMode.js';
import { startOpsServer, type OpsServer } from './ops/httpServer.js';
import { createBotMetrics, registerOutboxBacklog, registerStartsBacklog } from './ops/metrics.js';
import { ConfirmationStore } from '../stores/confirmationStore.js';
import { FileApprovalStore } from '../stores/fileApprovalStore.js';
import { FileAuditLog } from '../stores/fileAuditLog.js';
import { createDeadLetterStore } from '../stores/createDeadLetterStore.js';
import { FileIncidentStore } from '../stores/fileIncidentStore.js';
import { S3ApprovalStore } from '../stores/s3ApprovalStore.js';
import { createDiscordOutbox } from './outbox/discordOutbox.js';
import { redeliverDecisions } from './redeliverDecisions.js';
import { sweepExpiredApprovals } from './sweepExpiredApprovals.js';
import { newBlockSweepState, sweepExpiredBlocks } from './sweepExpiredBlocks.js';
import { AwsIpRangesHolder } from './refreshAwsIpRanges.js';
import { ContainmentWindow } from '../stores/containmentWindow.js';

export interface RunningBot {
  context: HandlerContext;
  client: Client;
  ops: OpsServer;
  /** What it runs on, and where (the webhook's URL, the queues…). */
  backend: { mode: Backend['mode']; describe: Readonly<Record<string, string>> };
  /** Stops polling, finishes what is in flight, flushes edits, disconnects. */
  stop(): Promise<void>;
}

/**
 * The Kubernetes clients, made on their first use (the client package is the heaviest sentinel
 * has; an idle bot does not load it). A SENTINEL_KUBECONFIG file that cannot be read leaves the
 * bot without them, said at start-up; any other kubeconfig problem is a ConfigError at first use.
 */
function kubeClients(config: Config, logger: Logger): KubeClients | undefined {
  const path = config.kubeconfigPath;
  try {
    if (path) accessSync(path, fsConstants.R_OK);
  } catch (err) {
    logger.warn('no Kubernetes access: pod actions will fail until a kubeconfig is available', { reason: describeError(err) });
    return undefined;
  }
  return lazyKubeClients({ kubeconfigPath: path, logger });
}

/**
 * Wires the bot from validated configuration: clients are created once here and passed in.
 * Chooses the backend (AWS, or embedded when no AWS resource is configured: selectRunMode),
 * starts the Discord client, the intakes, the sweepers and the health/metrics server.
 */
export async function startBot(config: Config, logger: Logger): Promise<RunningBot> {
  if (config.bot.heapGrowingPercent > 0) boundHeapGrowth(config.bot.heapGrowingPercent);
  const mode = selectRunMode(config);
  const actions = actionRegistry();
  // A misspelt id would silently leave that action to one person: stop before anything starts.
  checkTwoPersonActions(config.bot.twoPersonActions, [...Object.keys(actions), WAIVE_MEMORY_ACTION]);
  const playbooks = loadPlaybookConfig(config.playbooksPath);
  // A team's analysis rules (SENTINEL_ANALYSIS_RULES_DIR) are checked now, like the playbook config:
  // a bad file stops the start naming file, line and reason. Not loaded at all when unset.
  if (config.pipeline.analysisRulesDir) (await import('../pipeline/forensics/loadAnalysisRules.js')).analysisRulesFor(config.pipeline);
  logger.info(`running ${mode.mode === 'aws' ? 'on AWS' : 'embedded'}: ${mode.why}`, { mode: mode.mode });
  // Only the chosen backend is loaded: the embedded one brings the ASL interpreter, which a bot on AWS never uses.
  const backend: Backend =
    mode.mode === 'aws'
      ? await createAwsBackend(config, logger)
      : await (await import('./backends/createEmbeddedBackend.js')).createEmbeddedBackend(config, logger);
  const { aws } = backend;
  const kube = kubeClients(config, logger);
  const metrics = createBotMetrics({ defaultMetrics: true });
  const dataDir = config.dataDir;
  const approvals =
    config.bot.approvalStore === 's3'
      ? new S3ApprovalStore({ s3: aws.s3!, bucket: backend.evidenceBucket!, logger })
      : new FileApprovalStore({ dir: join(dataDir, 'approvals'), logger });
  const incidents = new FileIncidentStore({ dir: join(dataDir, 'incidents') });
  const audit = new FileAuditLog({ dir: dataDir, secrets: secretValues(config) });
  // AWS's published ranges: the bundled copy, the last good fetched one, then scheduled refreshes.
  const awsRanges = new AwsIpRangesHolder({ blockableServices: config.pipeline.awsIpRangesBlockableServices, cacheFile: join(dataDir, 'aws-ip-ranges.json'), logger });
  await awsRanges.loadCache();

  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: config.discord.apiUrl }, ...discordCacheOptions() });
  // Every write to Discord goes through the outbox: recorded ones (the handlers') and immediate ones (ctx.discord).
  const outbox = createDiscordOutbox({
    dir: join(dataDir, 'outbox'),
    port: createDiscordPort(client),
    channelId: config.discord.channelId!,
    incidents,
    approvals,
    audit,
    logger,
    budget: config.bot.channelBudget,
    editIntervalMs: config.bot.editIntervalMs,
    digestThreshold: config.bot.digestThreshold,
    digestWindowMs: config.bot.stormWindowMs,
  });
  registerOutboxBacklog(metrics.registry, () => outbox.backlog());
  const discord = outbox.port;
  const { engine, intakes } = backend;
  // New incidents' playbook starts: recorded by the intake, made by the starter's workers.
  const starts = createPlaybookStarter({ store: new FilePendingStartStore({ dir: join(dataDir, 'starts') }), engine, incidents, audit, outbox, logger });
  registerStartsBacklog(metrics.registry, () => starts.backlog());
  const settings = { ...config.pipeline, evidenceBucket: backend.evidenceBucket };
  const stopSignal = new AbortController();
  const context: HandlerContext = {
    stopping: stopSignal.signal,
    logger,
    playbooks,
    engine,
    discord,
    outbox,
    starts,
    approvals,
    incidents,
    audit,
    confirmations: new ConfirmationStore(),
    deadLetters: createDeadLetterStore({ kind: config.bot.approvalStore, dataDir, bucket: backend.evidenceBucket, s3: aws.s3, logger, secrets: secretValues(config) }),
    containmentWindow: new ContainmentWindow({ s3: aws.s3!, bucket: backend.evidenceBucket! }),
    actions,
    actionDeps: { aws, ...(kube ? { kube } : {}), settings, logger, now: () => new Date(), awsRanges },
    metrics,
    channelId: config.discord.channelId!,
    guildId: config.discord.guildId!,
    responderRoleIds: config.discord.responderRoleIds,
    bot: backend.bot,
    defaultDecision: config.bot.approvalDefaultDecision,
    now: () => new Date(),
  };

  client.on(Events.InteractionCreate, (interaction) => void routeInteraction(interaction, context));
  client.on(Events.Error, (err) => logger.error('Discord client error', { reason: err.message }));
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(config.discord.token!);
  await ready;
  logger.info('connected to Discord', { user: client.user?.tag });
  await outbox.start();
  await starts.start();

  // What loading and indexing left is given back before the first message (a storm may be waiting
  // on the queue): one pause here, at start-up, and the heap a storm grows starts from its floor.
  if (config.bot.startupGcSeconds > 0) logReleased(logger, 'start-up memory released before the first message', releaseStartupMemory());
  for (const { intake } of intakes) intake.start((message) => dispatchMessage(message, context));
  logger.info('taking messages', { mode: backend.mode, intakes: intakes.map((i) => i.name), ...backend.describe });

  const sweep = () => {
    void sweepExpiredApprovals(context).catch((err: unknown) => logger.warn('approval sweep failed', { reason: describeError(err) }));
    void redeliverDecisions(context).catch((err: unknown) => logger.warn('decision redelivery failed', { reason: describeError(err) }));
  };
  sweep();
  const sweeper = setInterval(sweep, 30_000);
  sweeper.unref();
  // Expired egress blocks are lifted (and reported); AWS's ranges are refreshed.
  const blockSweep = newBlockSweepState();
  const sweepBlocks = () => void sweepExpiredBlocks(context, blockSweep).catch((err: unknown) => logger.warn('block expiry sweep failed', { reason: describeError(err) }));
  sweepBlocks();
  const blockSweeper = setInterval(sweepBlocks, config.bot.blockSweepSeconds * 1000);
  blockSweeper.unref();
  /** Refreshes AWS's ranges; resolves whether a copy was fetched (and so parsed and indexed). */
  const refreshRanges = () =>
    awsRanges.refresh(config.bot.awsIpRanges.url).then(
      (r) => r.outcome !== 'failed',
      (err: unknown) => (logger.warn('AWS ranges refresh failed', { reason: describeError(err) }), false),
    );
  const rangesRefresher = config.bot.awsIpRanges.refreshMinutes > 0 ? setInterval(() => void refreshRanges(), config.bot.awsIpRanges.refreshMinutes * 60_000) : undefined;
  rangesRefresher?.unref();
  // The first refresh's fetched copy is start-up garbage too (below).
  const firstRefresh = rangesRefresher ? refreshRanges() : Promise.resolve(false);
  // What the first refresh left (the bot gave back the rest before its first message) is given
  // back once, SENTINEL_STARTUP_GC_SECONDS after start-up, if the bot is quiet then: its pause
  // never lands in a storm, and after one the heap is the storm's (compacting it would add a peak
  // of its own; V8's reducer sees to it).
  let startupGc: NodeJS.Timeout | undefined;
  if (config.bot.startupGcSeconds > 0) {
    const whenQuiet = whenEventLoopQuiet({ everyMs: 5000, giveUpAfterMs: 0 });
    startupGc = setTimeout(() => {
      void firstRefresh.then(async (fetched) => {
        if (!fetched || !(await whenQuiet.wait((t) => (startupGc = t)))) return;
        logReleased(logger, 'start-up memory released after the first AWS ranges refresh', releaseStartupMemory());
      });
    }, config.bot.startupGcSeconds * 1000);
    startupGc.unref();
  }

  const ops = await startOpsServer({
    host: config.bot.httpHost,
    port: config.bot.httpPort,
    metricsToken: config.bot.metricsToken,
    logger,
    registry: metrics.registry,
    probe: {
      ready: () => {
        const checks: Record<string, boolean> = { discord: discord.isReady(), ...Object.fromEntries(intakes.map((i) => [i.name, i.intake.isRunning()])) };
        return { ready: Object.values(checks).every(Boolean), checks };
      },
    },
  });
  logger.info('health and metrics listening', { url: ops.url });

  let stopping: Promise<void> | undefined;
  return {
    context,
    client,
    ops,
    backend: { mode: backend.mode, describe: backend.describe },
    stop() {
      stopping ??= (async () => {
        stopSignal.abort();
        clearInterval(sweeper);
        clearInterval(blockSweeper);
        clearTimeout(startupGc);
        if (rangesRefresher) clearInterval(rangesRefresher);
        // The starter stops with the intakes, not after them: a start requested meanwhile stays
        // recorded for the next run, and none is begun while the intakes wait out their grace.
        await Promise.all([...intakes.map(({ intake }) => intake.stop()), starts.stop()]);
        await outbox.stop();
        // States only repeats changed since their last write (their event lines are on disk already).
        await incidents.close().catch((err: unknown) => logger.warn('writing incident states at stop failed; they are rebuilt from their events files at start', { reason: describeError(err) }));
        await client.destroy();
        await ops.close();
        await backend.close();
        logger.info('stopped');
      })();
      return stopping;
    },
  };
}

function logReleased(logger: Logger, message: string, released: ReleasedMemory | undefined): void {
  if (!released) return;
  const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;
  logger.debug(message, { rssMb: [mb(released.rssBefore), mb(released.rssAfter)], heapMb: [mb(released.heapBefore), mb(released.heapAfter)], pauseMs: Math.round(released.pauseMs) });
}
