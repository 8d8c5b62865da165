/**
 * `npm run bench:storm`: an attack storm drained by the bot, beside a plain SQS loop, and the
 * approvals asked for during it.
 *
 * - SQS for the intake queue is ElasticMQ (fetched once from Maven Central into .cache/, started
 *   here on a free port: test/support/elasticmq); everything else is moto: Step Functions running
 *   the Falco playbook, the control queue it sends its steps to (moto's Step Functions sends only to
 *   moto's SQS), S3, EC2. The bot is given no AWS_ENDPOINT_URL (which would send every SQS request
 *   to one endpoint) but AWS_ENDPOINT_URL_SQS (ElasticMQ) and AWS_ENDPOINT_URL_<service> (moto)
 *   for the others: the SDK's SQS client then sends each request to its queue URL's host, so the
 *   ElasticMQ intake queue and the moto control queue work side by side (docs/benchmarks.md).
 * - The bot runs as production runs it (`node bin/sentinel start`, the build) in a child process,
 *   with its default settings, against the fake Discord with Discord's per-channel limit on
 *   (5 message writes per 5 s per channel) and the fake Kubernetes API.
 * - The storm (bench/storm/buildStormEvents.ts): 10,000 Falco events, 500 distinct incidents and
 *   50 repeated ones, on four routes (record, approval, block-egress, file-artifact), loaded on the
 *   intake queue before the bot starts.
 * - The baseline: ReceiveMessage(10) + DeleteMessageBatch in one loop over the same messages on a
 *   queue of the same ElasticMQ, before and after the storm (after ElasticMQ warmed up); the faster
 *   of the two is the one compared with.
 *
 * Reports: events/s and the ratio; Discord posts and edits against incidents and events; 429s the
 * fake's limits gave; from an incident recorded to it showing in Discord, p50/p99; from an
 * approval asked (the AskApproval state entered) and from the bot recording it to its message at the
 * fake Discord, p50/p99; peak RSS; SIGTERM to exit.
 *
 * Options: --events N (10000), --distinct N (500), --repeated N (50), --settle-seconds N (900: the
 * longest wait for the playbooks to finish after the queue drained), --bot-log FILE (where the bot writes its log;
 * default a file in its temporary data directory, followed from here), --bot-env SENTINEL_NAME=VALUE (a bot
 * setting for the run; repeatable), --node-options "FLAGS" (NODE_OPTIONS for the bot instead of the image's own, the
 * Dockerfile's ENV NODE_OPTIONS; e.g. --cpu-prof
 * --cpu-prof-dir=DIR for a CPU profile of the storm), --json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, ListExecutionsCommand, StartExecutionCommand, type ExecutionListItem } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../src/aws/clients.js';
import { loadStateMachineDefinitions } from '../src/provision/loadStateMachines.js';
import { packageRoot } from '../src/util/packageRoot.js';
import { readImageEnv } from './imageEnv.js';
import { ensureElasticMq } from '../test/support/elasticmq/ensureElasticMq.js';
import { startElasticMq } from '../test/support/elasticmq/startElasticMq.js';
import { startFakeDiscord } from '../test/support/fakeDiscord/index.js';
import { startFakeKube } from '../test/support/fakeKube/index.js';
import { ensureMotoVenv } from '../test/support/moto/ensureMotoVenv.js';
import { MOTO_STATE_MACHINE_ROLE_ID, startMoto } from '../test/support/moto/startMoto.js';
import { buildStormEvents } from './storm/buildStormEvents.js';
import { tailLines } from './storm/tailLines.js';
import { cpuSecondsOf } from './storm/cpuSecondsOf.js';
import { drainWithPlainLoop, type PlainLoopResult } from './storm/drainWithPlainLoop.js';
import { loadQueue } from './storm/loadQueue.js';
import { approvalPosts, discordFigures, firstShown, INTAKE_LINES, intakeStalls, latencies } from './storm/summarizeStorm.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000' },
    distinct: { type: 'string', default: '500' },
    repeated: { type: 'string', default: '50' },
    'settle-seconds': { type: 'string', default: '900' },
    'bot-log': { type: 'string' },
    'node-options': { type: 'string' },
    'bot-env': { type: 'string', multiple: true, default: [] },
    json: { type: 'boolean', default: false },
  },
});
const TOTAL = Number(values.events);
const DISTINCT = Number(values.distinct);
const REPEATED = Number(values.repeated);
const SETTLE_MS = Number(values['settle-seconds']) * 1000;
if (![TOTAL, DISTINCT, REPEATED, SETTLE_MS].every((n) => Number.isInteger(n) && n >= 0) || TOTAL < 1) throw new Error('--events, --distinct, --repeated and --settle-seconds take whole numbers');

/**
 * The bot's NODE_OPTIONS and malloc tunables: the image's own (the Dockerfile's `ENV` lines, bench/imageEnv.ts),
 * so the bot runs as it ships; --node-options replaces the first, --bot-env MALLOC_…=… one of the second.
 */
const IMAGE_ENV = readImageEnv();
const NODE_OPTIONS = values['node-options'] ?? IMAGE_ENV.nodeOptions;

/** --bot-env NAME=VALUE (repeatable): a setting of the bot's for this run, e.g. SENTINEL_SQS_CONCURRENCY=32. */
const botEnv = Object.fromEntries(
  (values['bot-env'] ?? []).map((kv) => {
    const at = kv.indexOf('=');
    if (at < 1 || !/^(SENTINEL_[A-Z0-9_]+|MALLOC_[A-Z_]+_?)$/.test(kv.slice(0, at))) throw new Error(`--bot-env takes SENTINEL_NAME=VALUE (or a glibc malloc tunable, MALLOC_NAME=VALUE), not ${JSON.stringify(kv)}`);
    return [kv.slice(0, at), kv.slice(at + 1)];
  }),
);

const REGION = 'ap-northeast-2';
const ROOT = packageRoot();
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
/** Discord's limit on message writes in one channel, which the fake enforces here. */
const DISCORD_LIMIT = { limit: 5, windowMs: 5000 };
/** The bot's default SENTINEL_APPROVAL_TIMEOUT_SECONDS: an approval's deadline minus this is when it was asked. */
const APPROVAL_TIMEOUT_S = 3600;
const NAMESPACE = 'dvwa';
const POD = 'dvwa-6d8f7c9b4-storm';
const CONTAINER = 'dvwa';

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const log = (line: string) => {
  if (!values.json) process.stdout.write(`${line}\n`);
};

// ---- the bot's process and its log ----------------------------------------------------------------

interface BotLog {
  takingAt?: number;
  opsUrl?: string;
  /** Incident id → when its playbook start was recorded (the incident recorded). */
  recorded: Map<string, number>;
  /** Playbook starts the starter made, and when the last one was. */
  startsMade: number;
  lastStartAt?: number;
  /** Approval id → when the bot recorded it, and its deadline. */
  approvals: Map<string, { at: number; deadline: number; incidentId: string }>;
  repeats: number;
  /** Approvals posted without their plan (the preflight's deadline passed), and those whose plan was added when it answered. */
  latePlans: { posted: number; added: number };
  /** The intake handler's lines (INTAKE_LINES): when each event's handling ended, and how. */
  intakeLines: { at: number; message: string }[];
  levels: Record<string, number>;
  /** Warnings and errors by message. */
  problems: Map<string, number>;
  /** Lines that are not JSON (the SDK's console warnings, stack traces). */
  other: number;
  otherSample: string[];
  tail: string[];
}

/** Reads the bot's log file as it grows (the bot writes to a file: see tailLines). */
function watchBot(logFile: string): BotLog & { stop(): void } {
  const state: BotLog = { recorded: new Map(), startsMade: 0, approvals: new Map(), repeats: 0, latePlans: { posted: 0, added: 0 }, intakeLines: [], levels: {}, problems: new Map(), other: 0, otherSample: [], tail: [] };
  const onLine = (line: string) => {
    state.tail.push(line);
    if (state.tail.length > 200) state.tail.shift();
    let l: Record<string, unknown>;
    try {
      l = JSON.parse(line) as Record<string, unknown>;
    } catch {
      state.other += 1;
      if (state.otherSample.length < 5) state.otherSample.push(line.slice(0, 300));
      return;
    }
    const level = String(l.level);
    const message = String(l.message);
    const at = Date.parse(String(l.timestamp));
    state.levels[level] = (state.levels[level] ?? 0) + 1;
    if (level === 'warn' || level === 'error') state.problems.set(`${level}: ${message}`, (state.problems.get(`${level}: ${message}`) ?? 0) + 1);
    if (message in INTAKE_LINES) state.intakeLines.push({ at, message });
    if (message === 'taking messages') state.takingAt = at;
    else if (message === 'health and metrics listening') state.opsUrl = String(l.url);
    else if (message === 'playbook start recorded' && typeof l.incidentId === 'string') {
      if (!state.recorded.has(l.incidentId)) state.recorded.set(l.incidentId, at);
    } else if (message === 'playbook started' || message === 'playbook already running') {
      state.startsMade += 1;
      state.lastStartAt = at;
    } else if (message === 'the preflight did not answer in time; the approval is posted without its plan') {
      state.latePlans.posted += 1;
    } else if (message === 'the late preflight answered; its plan is added to the approval') {
      state.latePlans.added += 1;
    } else if (message.startsWith('approval request recorded') && typeof l.approvalId === 'string') {
      state.approvals.set(l.approvalId, { at, deadline: Date.parse(String(l.deadline)), incidentId: String(l.incidentId) });
    }
  };
  const tail = tailLines(logFile, onLine);
  return Object.assign(state, { stop: () => tail.stop() });
}

/** Resident memory now and at its highest so far (Linux /proc), in bytes. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** The bot's V8 heap from its own /metrics (Node's default metrics; loopback, no token), in bytes. */
async function heapOf(opsUrl: string): Promise<{ used: number; total: number; external: number } | undefined> {
  const text = await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(2000) })
    .then((r) => r.text())
    .catch(() => undefined);
  if (!text) return undefined;
  const value = (name: string) => Number(new RegExp(`^(?:sentinel_)?${name} ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { used: value('nodejs_heap_size_used_bytes'), total: value('nodejs_heap_size_total_bytes'), external: value('nodejs_external_memory_bytes') };
}

/** A counter from the bot's /metrics (summed over its labels), or undefined when it cannot be read. */
async function counterOf(opsUrl: string, name: string): Promise<number | undefined> {
  const text = await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(2000) })
    .then((r) => r.text())
    .catch(() => undefined);
  if (!text) return undefined;
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'gm'))].map((m) => Number(m[1]));
  return values.length > 0 ? values.reduce((a, b) => a + b, 0) : undefined;
}

/** When the bot stored an approval (its first revision's createdAt, in the file approval store), ms. */
async function approvalCreatedAt(dataDir: string, approvalId: string): Promise<number | undefined> {
  const dir = join(dataDir, 'approvals', approvalId);
  const first = (await readdir(dir).catch(() => [] as string[])).filter((f) => /^r\d+\.json$/.test(f)).sort()[0];
  if (!first) return undefined;
  const record = JSON.parse(await readFile(join(dir, first), 'utf8')) as { createdAt?: string };
  const at = Date.parse(String(record.createdAt));
  return Number.isFinite(at) ? at : undefined;
}

/** The 1-minute load average, sampled: the machine is shared, so every figure goes with it. */
function sampleLoad(everyMs = 5000): { stop(): { min: number; mean: number; max: number; samples: number } } {
  const xs: number[] = [loadavg()[0]!];
  const timer = setInterval(() => xs.push(loadavg()[0]!), everyMs);
  return {
    stop() {
      clearInterval(timer);
      xs.push(loadavg()[0]!);
      const r = (x: number) => Math.round(x * 100) / 100;
      return { min: r(Math.min(...xs)), mean: r(xs.reduce((a, b) => a + b, 0) / xs.length), max: r(Math.max(...xs)), samples: xs.length };
    },
  };
}

/** CPU seconds a process has used (user + system). */
async function waitUntil<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(intervalMs);
  }
}

// ---- AWS set-up ----------------------------------------------------------------------------------

/** Messages on a queue: waiting (visible) and taken by a consumer but not deleted yet (in flight). */
async function queueCounts(sqs: SQSClient, queueUrl: string): Promise<{ waiting: number; inFlight: number }> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return { waiting: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0), inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) };
}

async function depth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { waiting, inFlight } = await queueCounts(sqs, queueUrl);
  return waiting + inFlight;
}

async function createQueueWithDlq(sqs: SQSClient, name: string): Promise<{ queueUrl: string; dlqUrl: string }> {
  const { QueueUrl: dlqUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl!, AttributeNames: ['QueueArn'] }));
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: 5 }) } }),
  );
  return { queueUrl: QueueUrl!, dlqUrl: dlqUrl! };
}

/** A VPC, a subnet and one instance: the node the events name (its PrivateDnsName). */
async function createNode(aws: AwsClients): Promise<{ name: string; instanceId: string; privateIp: string }> {
  const { Vpc } = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: '10.77.0.0/24' }));
  const { Subnet } = await aws.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.77.0.0/24', AvailabilityZone: `${REGION}a` }));
  const images = (await aws.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images ?? [];
  const imageId = images.find((i) => i.ImageId)?.ImageId;
  if (!imageId) throw new Error('moto returned no Amazon-owned images');
  const out = await aws.ec2.send(
    new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: Subnet!.SubnetId!, PrivateIpAddress: '10.77.0.34' }),
  );
  const i = out.Instances?.[0];
  if (!i?.InstanceId || !i.PrivateDnsName) throw new Error('RunInstances returned no instance');
  return { name: i.PrivateDnsName, instanceId: i.InstanceId, privateIp: i.PrivateIpAddress ?? '10.77.0.34' };
}

/** StartExecution of a one-state machine every 2 s, timed, until stopped. */
function probeStartExecution(aws: AwsClients, stateMachineArn: string): { stop(): Promise<number[]> } {
  const ms: number[] = [];
  let stopped = false;
  let n = 0;
  const loop = (async () => {
    while (!stopped) {
      const t = performance.now();
      await aws.sfn.send(new StartExecutionCommand({ stateMachineArn, name: `probe-${n++}`, input: '{}' }));
      ms.push(performance.now() - t);
      await delay(2000);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return ms;
    },
  };
}

async function allExecutions(aws: AwsClients, stateMachineArn: string): Promise<ExecutionListItem[]> {
  const out: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await aws.sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1000, ...(nextToken ? { nextToken } : {}) }));
    out.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

// ---- the run -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  log(`sentinel storm benchmark: ${TOTAL} events (${DISTINCT} distinct incidents, ${REPEATED} repeated), ElasticMQ intake, moto for the rest, the fake Discord with its channel limits on`);
  const [elasticMq, venv] = await Promise.all([ensureElasticMq({ log }), ensureMotoVenv()]);
  const [emq, moto] = await Promise.all([startElasticMq({ deps: elasticMq.deps, region: REGION }), startMoto({ python: venv.python })]);
  const discord = await startFakeDiscord({ channelRateLimit: DISCORD_LIMIT, members: [{ username: 'alice', roles: ['Responder'] }] });
  const kube = await startFakeKube();
  const dataDir = await mkdtemp(join(tmpdir(), 'sentinel-bench-storm-'));
  const emqAws = createAwsClients({ region: REGION, endpoint: emq.endpoint, credentials: CREDENTIALS });
  const aws = createAwsClients({ region: REGION, endpoint: moto.endpoint, credentials: CREDENTIALS });
  let bot: ChildProcess | undefined;
  try {
    const suffix = Date.now().toString(36);
    const intake = await createQueueWithDlq(emqAws.sqs, `storm-intake-${suffix}`);
    const control = await createQueueWithDlq(aws.sqs, `storm-control-${suffix}`);
    const bucket = `storm-evidence-${suffix}`;
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION } }));
    const falco = (await loadStateMachineDefinitions(control.queueUrl)).find((d) => d.name === 'falco-incident');
    if (!falco) throw new Error('no falco-incident.asl.json in deploy/statemachines');
    const stateMachineArn = (
      await aws.sfn.send(new CreateStateMachineCommand({ name: `storm-falco-${suffix}`, definition: falco.definition, roleArn: 'arn:aws:iam::123456789012:role/sentinel-sfn' }))
    ).stateMachineArn!;
    const node = await createNode(aws);
    const probeMachineArn = (
      await aws.sfn.send(
        new CreateStateMachineCommand({
          name: `storm-probe-${suffix}`,
          definition: JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } }),
          roleArn: 'arn:aws:iam::123456789012:role/sentinel-sfn',
        }),
      )
    ).stateMachineArn!;

    const time = new Date();
    const plan = buildStormEvents({ total: TOTAL, distinct: DISTINCT, repeated: REPEATED, node: node.name, namespace: NAMESPACE, pod: POD, container: CONTAINER, time });
    const incidents = Object.values(plan.routes).reduce((n, r) => n + r.distinct + r.repeated, 0);
    kube.addNode({ name: node.name, instanceId: node.instanceId, availabilityZone: `${REGION}a`, internalIP: node.privateIp });
    kube.addPod({
      namespace: NAMESPACE,
      name: POD,
      containers: [CONTAINER],
      nodeName: node.name,
      labels: { app: 'dvwa' },
      files: Object.fromEntries(plan.files.map((f) => [f, '<?php system($_GET["c"]); ?>\n'])),
    });
    const kubeconfigPath = join(dataDir, 'kubeconfig.json');
    await writeFile(kubeconfigPath, kube.kubeConfig().exportConfig(), { mode: 0o600 });

    // ElasticMQ's JIT warms up first, so neither measurement pays for it.
    log('warming ElasticMQ up (2,000 messages through a scratch queue)');
    const warm = (await emqAws.sqs.send(new CreateQueueCommand({ QueueName: `storm-warmup-${suffix}` }))).QueueUrl!;
    await loadQueue(emqAws.sqs, warm, plan.events.slice(0, 2000));
    await drainWithPlainLoop(emqAws.sqs, warm, Math.min(2000, plan.events.length));

    const baselineQueue = (await emqAws.sqs.send(new CreateQueueCommand({ QueueName: `storm-baseline-${suffix}` }))).QueueUrl!;
    const plain = async (): Promise<PlainLoopResult> => {
      await loadQueue(emqAws.sqs, baselineQueue, plan.events);
      return drainWithPlainLoop(emqAws.sqs, baselineQueue, plan.events.length, emq.pid);
    };
    log(`baseline before the storm: the plain loop over the same ${TOTAL} messages`);
    const loadBefore = sampleLoad(1000);
    const plainBefore = await plain();
    const plainBeforeLoad = loadBefore.stop();
    log(`  ${plainBefore.perSecond.toFixed(0)} messages/s (${plainBefore.seconds.toFixed(1)} s; CPU: the loop ${plainBefore.cpuSeconds.toFixed(1)} s, ElasticMQ ${plainBefore.serverCpuSeconds!.toFixed(1)} s)`);

    log(`loading the storm on the intake queue (${incidents} incidents: ${JSON.stringify(plan.routes)}; ${plan.repeatsEach} events each repeated one)`);
    await loadQueue(emqAws.sqs, intake.queueUrl, plan.events);

    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
      NODE_ENV: 'production',
      SENTINEL_LOG_LEVEL: 'info',
      SENTINEL_LOG_FORMAT: 'json',
      DISCORD_API_URL: discord.apiUrl,
      DISCORD_TOKEN: discord.token,
      DISCORD_APPLICATION_ID: discord.applicationId,
      DISCORD_GUILD_ID: discord.guildId,
      DISCORD_CHANNEL_ID: discord.channel('alerts').id,
      DISCORD_RESPONDER_ROLE_IDS: discord.role('Responder').id,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      // No AWS_ENDPOINT_URL: per service, so that SQS requests go to their queue URL's host.
      AWS_ENDPOINT_URL_SQS: emq.endpoint,
      ...Object.fromEntries(['SFN', 'S3', 'EC2', 'SSM', 'CLOUDTRAIL', 'AUTO_SCALING', 'EVENTBRIDGE', 'IAM'].map((s) => [`AWS_ENDPOINT_URL_${s}`, moto.endpoint])),
      SENTINEL_QUEUE_URL: intake.queueUrl,
      SENTINEL_CONTROL_QUEUE_URL: control.queueUrl,
      SENTINEL_SFN_ROLE_ID: MOTO_STATE_MACHINE_ROLE_ID,
      SENTINEL_EVIDENCE_BUCKET: bucket,
      SENTINEL_STATE_MACHINE_FALCO: stateMachineArn,
      SENTINEL_DATA_DIR: dataDir,
      SENTINEL_HTTP_HOST: '127.0.0.1',
      SENTINEL_HTTP_PORT: '0',
      SENTINEL_KUBECONFIG: kubeconfigPath,
      SENTINEL_AWS_IP_RANGES_REFRESH_MINUTES: '0',
      ...(NODE_OPTIONS ? { NODE_OPTIONS } : {}),
      ...IMAGE_ENV.malloc,
      ...botEnv,
    };
    log('starting the bot (node bin/sentinel start)');
    // The bot's log goes to a file (--bot-log, or one in the data directory), followed from here.
    const botLogPath = values['bot-log'] ?? join(dataDir, 'bot.log');
    const logFd = openSync(botLogPath, 'w', 0o600);
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'sentinel'), 'start'], { cwd: ROOT, env, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    bot = child;
    process.once('exit', () => child.kill('SIGKILL'));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const botLog = watchBot(botLogPath);
    const pid = child.pid!;
    const t0 = await waitUntil(() => botLog.takingAt ?? (child.exitCode !== null ? Promise.reject(new Error(`the bot exited:\n${botLog.tail.join('\n')}`)) : undefined), 'the bot to take messages', 120_000);
    const cpu0 = cpuSecondsOf(pid);
    // Who else used the machine's cores while the bot drained: moto runs the playbooks it starts, ElasticMQ serves the intake.
    const others0 = { moto: cpuSecondsOf(moto.pid), elasticMq: cpuSecondsOf(emq.pid), bench: process.cpuUsage() };

    // Memory, sampled throughout (VmHWM, the kernel's own peak, is read at the end too), and the
    // bot's heap from its /metrics every 2 s: the highest heap used, and the heap when RSS peaked.
    let peakRss = 0;
    let rssNow = 0;
    const sampler = setInterval(() => {
      try {
        rssNow = memoryOf(pid).rss;
        peakRss = Math.max(peakRss, rssNow);
      } catch {
        /* exited */
      }
    }, 250);
    type Heap = { used: number; total: number; external: number };
    const heap: { peak?: Heap; atPeakRss?: Heap & { rss: number } } = {};
    let heapBusy = false;
    const heapSampler = setInterval(() => {
      if (heapBusy || !botLog.opsUrl) return;
      heapBusy = true;
      const rss = rssNow;
      void heapOf(botLog.opsUrl)
        .then((h) => {
          if (!h) return;
          if (!heap.peak || h.used > heap.peak.used) heap.peak = h;
          if (!heap.atPeakRss || rss > heap.atPeakRss.rss) heap.atPeakRss = { rss, ...h };
        })
        .finally(() => (heapBusy = false));
    }, 2000);
    const stormLoad = sampleLoad();

    // Step Functions' StartExecution as the bot meets it: the starter's workers wait for it (the intake does not).
    const startLatencies = probeStartExecution(aws, probeMachineArn);
    // Drained: every message deleted. Also noted: when none was left waiting (all taken by the bot), and
    // how many were still in flight then (the last to finish: e.g. a file repeat whose containment
    // waits SENTINEL_RECONTAIN_INTERVAL_SECONDS holds its message until it has run).
    let takenAt: { at: number; inFlight: number } | undefined;
    const drainedAt = await waitUntil(
      async () => {
        const c = await queueCounts(emqAws.sqs, intake.queueUrl);
        const now = Date.now();
        if (c.waiting === 0 && !takenAt) takenAt = { at: now, inFlight: c.inFlight };
        if (c.waiting > 0) takenAt = undefined;
        return c.waiting + c.inFlight === 0 ? now : undefined;
      },
      'the intake queue to drain',
      3 * 3600_000,
      100,
    );
    const drainCpu = cpuSecondsOf(pid) - cpu0;
    const benchCpu = process.cpuUsage(others0.bench);
    const drainOthers = { moto: cpuSecondsOf(moto.pid) - others0.moto, elasticMq: cpuSecondsOf(emq.pid) - others0.elasticMq, bench: (benchCpu.user + benchCpu.system) / 1e6 };
    const drainLoad = stormLoad.stop();
    const settleLoad = sampleLoad();
    const startExecution = latencies(await startLatencies.stop());
    const drainSeconds = (drainedAt - t0) / 1000;
    const taken = takenAt ?? { at: drainedAt, inFlight: 0 };
    const takenSeconds = (taken.at - t0) / 1000;
    log(`intake drained: ${TOTAL} events in ${drainSeconds.toFixed(1)} s (${(TOTAL / drainSeconds).toFixed(0)} events/s; the bot used ${drainCpu.toFixed(1)} s of CPU); none left waiting after ${takenSeconds.toFixed(1)} s, ${taken.inFlight} then in flight`);

    // The playbooks run on: wait until every execution is done or waits for a decision, the control
    // queue is empty and Discord has had nothing new for 20 s.
    log('waiting for the playbooks and the outbox to settle');
    const settleDeadline = Date.now() + SETTLE_MS;
    let settled = false;
    let executions: ExecutionListItem[] = [];
    for (;;) {
      const calls = discord.calls();
      const lastWrite = calls.filter((c) => c.method !== 'GET').reduce((m, c) => Math.max(m, c.at), 0);
      executions = await allExecutions(aws, stateMachineArn);
      const running = executions.filter((e) => e.status === 'RUNNING').length;
      const controlDepth = await depth(aws.sqs, control.queueUrl);
      if (Date.now() - lastWrite > 20_000 && controlDepth === 0 && running <= botLog.approvals.size && executions.length >= botLog.recorded.size) {
        settled = true;
        break;
      }
      if (Date.now() > settleDeadline) break;
      await delay(5000);
    }
    const settledAt = Date.now();
    clearInterval(sampler);
    clearInterval(heapSampler);
    const settleLoadFigures = settleLoad.stop();
    // The approvals' stages, read from the bot's approval store before it is removed.
    const createdAt = new Map<string, number>();
    for (const id of botLog.approvals.keys()) {
      const at = await approvalCreatedAt(dataDir, id);
      if (at !== undefined) createdAt.set(id, at);
    }
    const memory = memoryOf(pid);
    peakRss = Math.max(peakRss, memory.rss);
    // Repeats are counted by the bot's metric (their log line is at debug level).
    botLog.repeats = (botLog.opsUrl ? await counterOf(botLog.opsUrl, 'sentinel_events_deduplicated_total') : undefined) ?? Number.NaN;

    const stopAt = Date.now();
    child.kill('SIGTERM');
    const exitCode = await Promise.race([exited, delay(30_000).then(() => 'timeout' as const)]);
    const stopSeconds = (Date.now() - stopAt) / 1000;
    if (exitCode === 'timeout') child.kill('SIGKILL');
    botLog.stop();

    log(`baseline after the storm: the plain loop again`);
    const loadAfter = sampleLoad(1000);
    const plainAfter = await plain();
    const plainAfterLoad = loadAfter.stop();
    log(`  ${plainAfter.perSecond.toFixed(0)} messages/s (${plainAfter.seconds.toFixed(1)} s; CPU: the loop ${plainAfter.cpuSeconds.toFixed(1)} s, ElasticMQ ${plainAfter.serverCpuSeconds!.toFixed(1)} s)`);

    // ---- figures -----------------------------------------------------------------------------
    const calls = discord.calls();
    const channelId = discord.channel('alerts').id;
    const d = discordFigures(calls, channelId);
    const shown = firstShown(calls);
    const recordToShown = [...botLog.recorded].flatMap(([id, at]) => (shown.has(id) ? [shown.get(id)! - at] : []));
    const posted = approvalPosts(calls);
    const askToPost: number[] = [];
    const recordToPost: number[] = [];
    const askToStored: number[] = [];
    const storedToRecorded: number[] = [];
    for (const [id, a] of botLog.approvals) {
      const at = posted.get(id);
      if (at === undefined) continue;
      const asked = a.deadline - APPROVAL_TIMEOUT_S * 1000;
      askToPost.push(at - asked);
      recordToPost.push(at - a.at);
      const stored = createdAt.get(id);
      if (stored !== undefined) {
        askToStored.push(stored - asked);
        storedToRecorded.push(a.at - stored);
      }
    }
    const stalls = intakeStalls(botLog.intakeLines);
    // Figures read from the bot's log lines and stores: say so when they come out empty (a log
    // message or the approval store's layout changed), rather than print zeros as measurements.
    const checks: string[] = [];
    if (botLog.recorded.size !== incidents) checks.push(`the bot logged "playbook start recorded" for ${botLog.recorded.size} of ${incidents} incidents: recorded → shown covers those only`);
    if (!Number.isFinite(botLog.repeats)) checks.push('the bot\'s sentinel_events_deduplicated_total could not be read from its /metrics: repeats counted is missing');
    if (createdAt.size < botLog.approvals.size) checks.push(`${botLog.approvals.size - createdAt.size} approval(s) not found in the approval store: their stages are missing`);
    for (const c of checks) process.stderr.write(`check: ${c}\n`);
    const best = plainBefore.perSecond >= plainAfter.perSecond ? plainBefore : plainAfter;
    const botPerSecond = TOTAL / drainSeconds;
    const statuses: Record<string, number> = {};
    for (const e of executions) statuses[e.status ?? '?'] = (statuses[e.status ?? '?'] ?? 0) + 1;
    const [intakeDlq, controlDlq] = await Promise.all([depth(emqAws.sqs, intake.dlqUrl), depth(aws.sqs, control.dlqUrl)]);
    const mb = (b: number) => Math.round((b / (1024 * 1024)) * 10) / 10;
    const s = (x: number) => Math.round(x * 100) / 100;
    const result = {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      elasticMq: elasticMq.version,
      storm: { events: TOTAL, incidents, routes: plan.routes, repeatsEach: plan.repeatsEach },
      botSettings: { ...IMAGE_ENV.malloc, ...botEnv, ...(NODE_OPTIONS ? { NODE_OPTIONS } : {}) },
      intake: {
        botSeconds: s(drainSeconds),
        botEventsPerSecond: Math.round(botPerSecond),
        botCpuSeconds: s(drainCpu),
        /** When no message was left waiting (all taken by the bot), and how many were in flight then (the drain ends when they are deleted). */
        takenSeconds: s(takenSeconds),
        inFlightWhenTaken: taken.inFlight,
        /** moto's StartExecution during the drain (a one-state machine, every 2 s): what the starter's workers wait for. */
        startExecution: roundLatency(startExecution),
        /** Starts the starter made (logged "playbook started" / "already running"), and the last one's time after the bot took messages. */
        startsMade: botLog.startsMade,
        lastStartSeconds: botLog.lastStartAt !== undefined ? s((botLog.lastStartAt - t0) / 1000) : null,
        /** CPU the other processes used during the drain: moto (the playbooks the bot starts), ElasticMQ, this benchmark (the fake Discord, the samplers). */
        othersCpuSeconds: { moto: s(drainOthers.moto), elasticMq: s(drainOthers.elasticMq), benchmark: s(drainOthers.bench) },
        coreSeconds: s(availableParallelism() * drainSeconds),
        plainBefore: { seconds: s(plainBefore.seconds), perSecond: Math.round(plainBefore.perSecond), cpuSeconds: s(plainBefore.cpuSeconds), elasticMqCpuSeconds: s(plainBefore.serverCpuSeconds!) },
        plainAfter: { seconds: s(plainAfter.seconds), perSecond: Math.round(plainAfter.perSecond), cpuSeconds: s(plainAfter.cpuSeconds), elasticMqCpuSeconds: s(plainAfter.serverCpuSeconds!) },
        ratio: s(botPerSecond / best.perSecond),
        target: 0.8,
      },
      incidentsRecorded: botLog.recorded.size,
      repeatsCounted: botLog.repeats,
      discord: { ...d, writesPerIncident: s((d.channelPosts + d.threadPosts + d.edits + d.threadsStarted) / Math.max(1, incidents)), rateLimitTarget: 0 },
      recordedToShown: { ...roundLatency(latencies(recordToShown)), notShown: botLog.recorded.size - recordToShown.length },
      approvals: {
        recorded: botLog.approvals.size,
        posted: askToPost.length,
        askedToPosted: roundLatency(latencies(askToPost)),
        recordedToPosted: roundLatency(latencies(recordToPost)),
        /** The stages: the request reaching the bot (moto's Step Functions, the control queue, the bot's control consumer), stored in the approval store… */
        askedToStored: roundLatency(latencies(askToStored)),
        /** …then the proposed action's preflight (a dry run against moto) and the outbox record, logged… */
        storedToRecorded: roundLatency(latencies(storedToRecorded)),
        /** Posted without their plan (SENTINEL_PREFLIGHT_DEADLINE_SECONDS passed), and of those, how many had it added by the end. */
        withoutPlan: botLog.latePlans.posted,
        planAddedLater: botLog.latePlans.added,
        targetP99Seconds: 10,
      },
      memory: {
        peakRssMb: mb(peakRss),
        vmHwmMb: mb(memory.hwm),
        afterMb: mb(memory.rss),
        /** The bot's heap (its /metrics, every 2 s): the highest heap used seen, and the sample taken nearest the RSS peak. */
        peakHeapUsedMb: heap.peak ? mb(heap.peak.used) : null,
        atPeakRss: heap.atPeakRss ? { rssMb: mb(heap.atPeakRss.rss), heapUsedMb: mb(heap.atPeakRss.used), heapTotalMb: mb(heap.atPeakRss.total), externalMb: mb(heap.atPeakRss.external) } : null,
        targetMb: 200,
      },
      intakeStalls: stalls,
      checks,
      load: { plainBefore: plainBeforeLoad, drain: drainLoad, settle: settleLoadFigures, plainAfter: plainAfterLoad, cores: availableParallelism() },
      executions: statuses,
      deadLettered: { intake: intakeDlq, control: controlDlq },
      settled,
      settleSeconds: s((settledAt - drainedAt) / 1000),
      sigtermToExitSeconds: s(stopSeconds),
      botLog: { levels: botLog.levels, problems: Object.fromEntries([...botLog.problems].sort((a, b) => b[1] - a[1]).slice(0, 10)), otherLines: botLog.other, otherSample: botLog.otherSample },
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    const r = result;
    const lat = (l: { count: number; p50: number; p99: number; max: number }) => `p50 ${l.p50} s, p99 ${l.p99} s, max ${l.max} s (n=${l.count})`;
    log('');
    log(`node ${r.node} ${r.platform}, ElasticMQ ${r.elasticMq}`);
    log(`storm                 ${TOTAL} events, ${incidents} incidents (${plan.repeatsEach} events each for ${REPEATED} of them)`);
    log(`bot settings          ${JSON.stringify(r.botSettings)}`);
    log(`intake                bot ${r.intake.botEventsPerSecond} events/s (${r.intake.botSeconds} s), plain loop ${r.intake.plainBefore.perSecond} / ${r.intake.plainAfter.perSecond} msg/s before / after (${r.intake.plainBefore.cpuSeconds} / ${r.intake.plainAfter.cpuSeconds} s of CPU)`);
    log(`                      ratio ${r.intake.ratio}× the faster plain loop (target ≥ 0.8×); the bot used ${r.intake.botCpuSeconds} s of CPU`);
    log(`                      none left waiting after ${r.intake.takenSeconds} s (${r.intake.inFlightWhenTaken} in flight then, deleted by ${r.intake.botSeconds} s)`);
    log(`CPU in the drain      bot ${r.intake.botCpuSeconds} s, moto ${r.intake.othersCpuSeconds.moto} s, ElasticMQ ${r.intake.othersCpuSeconds.elasticMq} s, this benchmark ${r.intake.othersCpuSeconds.benchmark} s, of ${r.intake.coreSeconds} core-seconds (${availableParallelism()} cores × ${r.intake.botSeconds} s)`);
    log(`StartExecution        ${lat(r.intake.startExecution)} on moto during the drain`);
    log(`playbook starts       ${r.intake.startsMade} made by the starter, the last ${r.intake.lastStartSeconds} s after the bot took messages (off the intake's path)`);
    log(`incidents recorded    ${r.incidentsRecorded}, repeats counted ${r.repeatsCounted}`);
    log(`Discord writes        ${d.channelPosts} posts in the channel (${d.digests} digests), ${d.threadPosts} in threads, ${d.edits} edits, ${d.threadsStarted} threads; ${r.discord.writesPerIncident} per incident; ${d.requests} requests in all`);
    log(`429s                  ${d.rateLimited} from the fake's limits (target 0), ${d.injected} injected; other failed writes ${d.failedWrites}`);
    log(`recorded → shown      ${lat(r.recordedToShown)}; never shown ${r.recordedToShown.notShown}`);
    log(`approvals             ${r.approvals.recorded} recorded, ${r.approvals.posted} posted; ${r.approvals.withoutPlan} without their plan (the preflight's deadline), ${r.approvals.planAddedLater} of them with it added later`);
    log(`  asked → posted      ${lat(r.approvals.askedToPosted)} (target p99 < 10 s)`);
    log(`  asked → stored      ${lat(r.approvals.askedToStored)} (Step Functions on moto, the control queue, the bot's control consumer)`);
    log(`  stored → recorded   ${lat(r.approvals.storedToRecorded)} (the proposed action's preflight dry run, the outbox record)`);
    log(`  recorded → posted   ${lat(r.approvals.recordedToPosted)} (the outbox's approval lane)`);
    log(`memory                peak RSS ${r.memory.peakRssMb} MB (VmHWM ${r.memory.vmHwmMb} MB), ${r.memory.afterMb} MB at the end (target < 200 MB)`);
    if (r.memory.atPeakRss) log(`                      near the peak: heap used ${r.memory.atPeakRss.heapUsedMb} of ${r.memory.atPeakRss.heapTotalMb} MB, external ${r.memory.atPeakRss.externalMb} MB; highest heap used ${r.memory.peakHeapUsedMb} MB`);
    if (!botLog.intakeLines.some((l) => l.message === 'repeat counted on the open incident')) log('intake waited on      not measured: the bot logs repeats at debug (--bot-env SENTINEL_LOG_LEVEL=debug to see where it waited)');
    else log(`intake waited on      ${Object.entries(r.intakeStalls.byEnd).sort((a, b) => b[1].seconds - a[1].seconds).map(([k, v]) => `${k}: ${v.seconds} s (${v.count}×)`).join('; ')} — silences > ${r.intakeStalls.thresholdMs} ms of ${r.intakeStalls.spanSeconds} s`);
    const ld = (l: { min: number; mean: number; max: number }) => `${l.mean} (${l.min}–${l.max})`;
    log(`load average (1 min)  ${r.load.cores} cores; plain loop before ${ld(r.load.plainBefore)}, storm ${ld(r.load.drain)}, settling ${ld(r.load.settle)}, plain loop after ${ld(r.load.plainAfter)}`);
    log(`executions            ${JSON.stringify(r.executions)}; dead-lettered: intake ${r.deadLettered.intake}, control ${r.deadLettered.control}`);
    log(`settled               ${r.settled ? 'yes' : 'NO (gave up waiting)'}, ${r.settleSeconds} s after the drain; SIGTERM → exit ${r.sigtermToExitSeconds} s`);
    log(`bot log               ${JSON.stringify(r.botLog.levels)}; ${r.botLog.otherLines} non-JSON lines`);
    for (const [k, v] of Object.entries(r.botLog.problems)) log(`  ${v} × ${k}`);
  } finally {
    if (bot && bot.exitCode === null && bot.signalCode === null) bot.kill('SIGKILL');
    destroyAwsClients(aws);
    destroyAwsClients(emqAws);
    await discord.close();
    await kube.close();
    await Promise.all([moto.stop(), emq.stop()]);
    await rm(dataDir, { recursive: true, force: true });
  }
}

function roundLatency(l: { count: number; p50: number; p99: number; max: number }) {
  const r = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : x);
  return { count: l.count, p50: r(l.p50), p99: r(l.p99), max: r(l.max) };
}

// Ctrl-C or a SIGTERM ends the run through process exit, whose handlers stop ElasticMQ and the bot (moto watches its stdin).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

await main();
