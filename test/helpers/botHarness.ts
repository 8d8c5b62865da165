/**
 * End-to-end harness for the bot: everything `startBot` talks to, for real.
 *
 * - moto (shared, never reset): the intake queue and the control queue, each with a DLQ (redrive
 *   policy), an evidence bucket, the Falco incident state machine from deploy/statemachines (with
 *   `${ControlQueueUrl}` substituted: its messages reach the bot with the state-machine SenderId,
 *   see test/support/moto/startMoto.ts), and
 *   one EC2 instance in a fresh VPC whose PrivateDnsName is the node the events name; with
 *   `allStateMachines` also the EC2 forensics and notify state machines, with `eventBus` a custom
 *   EventBridge bus whose GuardDuty rule (the product's pattern) targets the queue;
 * - the fake Discord (real discord.js Client), members alice and carol (Responder) and bob (none);
 * - the fake Kubernetes API (real client-node): the node (providerID → the instance) and a pod
 *   with a file in it; the kubeconfig is written to a temp file for SENTINEL_KUBECONFIG.
 *
 * The bot is configured only through `loadConfig({ env, envFile: false })`, like production
 * (the one exception, `approvalTimeoutSeconds`, is below the setting's 60 s minimum and says so).
 * Its log lines are collected (JSON) so tests can look for what must never appear in them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CreateSubnetCommand, CreateVpcCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateEventBusCommand, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  ListExecutionsCommand,
  type DescribeExecutionCommandOutput,
  type ExecutionListItem,
} from '@aws-sdk/client-sfn';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { startBot, type RunningBot } from '../../src/bot/startBot.js';
import { runRegisterCommands } from '../../src/cli/registerCommandsCommand.js';
import { loadConfig, secretValues, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { guardDutyEventPattern } from '../../src/provision/desired.js';
import { loadStateMachineDefinitions } from '../../src/provision/loadStateMachines.js';
import {
  anyAmiId,
  createMotoClients,
  createStateMachineRoleClients,
  MOTO_ACCOUNT_ID,
  MOTO_REGION,
  MOTO_STATE_MACHINE_ROLE_ID,
  queueArn,
  uniqueName,
  waitFor,
} from '../support/aws.js';
import { startFakeDiscord, type FakeDiscord } from '../support/fakeDiscord/index.js';
import type { APIMessage, RecordedCall } from '../support/fakeDiscord/types.js';
import { startFakeKube, type FakeKube } from '../support/fakeKube/index.js';
import { fluentBitLine, kv } from './events.js';

const ASL_PATH = new URL('../../deploy/statemachines/falco-incident.asl.json', import.meta.url);
const ROLE_ARN = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/sentinel-sfn`;

export const POD_NAMESPACE = 'dvwa';
export const POD_NAME = 'dvwa-6d8f7c9b4-x2x9k';
export const POD_CONTAINER = 'dvwa';
export const POD_FILE = '/var/www/html/uploads/shell.php';
export const POD_FILE_CONTENT = '<?php system($_GET["c"]); ?>\n';

export interface BotHarnessOptions {
  /** Deliveries before SQS moves a message to the DLQ (default 5). */
  maxReceiveCount?: number;
  /** The queue's own visibility timeout in seconds (default 10; the bot sets its own on receive). */
  queueVisibilitySeconds?: number;
  /** Extra or overriding settings for the bot. */
  env?: Record<string, string>;
  /** Register the slash commands (with the product's register-commands) before starting. */
  registerCommands?: boolean;
  /**
   * Also create the EC2 forensics, notify and pod containment state machines from
   * deploy/statemachines and give the bot their ARNs (SENTINEL_STATE_MACHINE_FORENSICS / _NOTIFY / _POD).
   */
  allStateMachines?: boolean;
  /**
   * Seconds an approval waits, as the bot puts it into every execution's input
   * (`config.approvalTimeoutSeconds`, which the state machines' TimeoutSecondsPath reads).
   * SENTINEL_APPROVAL_TIMEOUT_SECONDS cannot go below 60, so a test of the timeout sets the
   * validated config's value here instead: the only setting the harness changes after loadConfig.
   */
  approvalTimeoutSeconds?: number;
  /**
   * A custom EventBridge bus with the product's GuardDuty rule (numeric severity >= minSeverity,
   * default 8, as `sentinel provision` creates it) targeting the queue.
   */
  eventBus?: boolean | { minSeverity?: number };
  /** Discord's per-channel limits on message writes, enforced by the fake (off by default). */
  discordRateLimit?: { limit: number; windowMs: number };
}

export interface HarnessNode {
  name: string;
  privateIp: string;
  instanceId: string;
  vpcId: string;
  subnetId: string;
  networkInterfaceIds: string[];
}

export interface BotHarness {
  aws: AwsClients;
  discord: FakeDiscord;
  kube: FakeKube;
  /** The intake queue (events) and its DLQ. */
  queueUrl: string;
  dlqUrl: string;
  /** The control queue (the playbooks' messages) and its DLQ. */
  controlQueueUrl: string;
  controlDlqUrl: string;
  bucket: string;
  /** The Falco incident state machine. */
  stateMachineArn: string;
  /** Every state machine created (forensics, notify and pod only with `allStateMachines`). */
  stateMachines: { falco: string; forensics?: string; notify?: string; pod?: string };
  /** The custom bus whose GuardDuty rule targets the queue (with `eventBus`). */
  eventBusName?: string;
  dataDir: string;
  node: HarnessNode;
  channelId: string;
  responderRoleId: string;
  users: { alice: string; bob: string; carol: string };
  /** Every log line of every bot started by this harness (JSON text). */
  logs: string[];
  /** The running bot (the last started one). */
  readonly bot: RunningBot;
  readonly config: Config;
  /** Starts a bot on this harness's queue, Discord, Kubernetes and data directory. */
  start(env?: Record<string, string>): Promise<RunningBot>;
  /** The settings a bot of this harness runs with (for a bot in a child process: test/support/botProcess.ts). */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Stops the running bot (if any). */
  stop(): Promise<void>;
  /** Sends one SQS message to the intake queue (a string as is, anything else as JSON); returns its message id. */
  send(body: unknown): Promise<string>;
  /**
   * Sends one message to the control queue, by default as the state machines' role does (the
   * state-machine SenderId); `as: 'intruder'` sends it with anyone else's credentials.
   */
  sendControl(body: unknown, options?: { as?: 'state-machine' | 'intruder' }): Promise<string>;
  /** Sends many (batches of 10). */
  sendMany(bodies: unknown[]): Promise<void>;
  /** Executions of a state machine (the Falco one by default). */
  executions(stateMachineArn?: string): Promise<ExecutionListItem[]>;
  /** PutEvents on the harness bus (needs `eventBus`); returns the event ids. */
  putEvents(entries: { source: string; detailType: string; detail: unknown }[]): Promise<string[]>;
  describeExecution(executionArn: string): Promise<DescribeExecutionCommandOutput>;
  /** Waits until the execution is no longer RUNNING. */
  finished(executionArn: string, timeoutMs?: number): Promise<DescribeExecutionCommandOutput>;
  /** Messages visible + in flight on a queue. */
  queueDepth(queueUrl: string): Promise<number>;
  /** Every POST/PATCH/PUT call to Discord that carried a body. */
  writes(): RecordedCall[];
  /** The channel messages the bot posted (REST POST /channels/:id/messages answered 200). */
  posted(): RecordedCall[];
  /** Waits for a stored message in the incident channel. */
  waitForChannelMessage(predicate: (m: APIMessage) => boolean, timeoutMs?: number): Promise<APIMessage>;
  close(): Promise<void>;
}

/** Parsed JSON log lines. */
export function parseLogs(lines: readonly string[]): Record<string, unknown>[] {
  return lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/**
 * A raw Falco ARTIFACT_EXEC event (approval route) as Fluent Bit forwards it, on the harness's
 * node. `tag` makes the activity (and so its dedupe key and execution) unique to a test.
 */
export function artifactExecEvent(node: string, options: { tag: string; cmdline?: string; time?: string }) {
  const pod = `web-${options.tag}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 60);
  return fluentBitLine(
    `ARTIFACT_EXEC ${kv({
      reason: 'exec_from_upload_dir',
      exepath: '/var/www/html/uploads/x',
      cmdline: options.cmdline ?? `x -c id # ${options.tag}`,
      container: POD_CONTAINER,
      container_id: '3f2a9c1b7d4e',
      pod,
      ns: POD_NAMESPACE,
      node,
      user: 'www-data',
    })}`,
    { host: node, ...(options.time ? { time: options.time } : {}) },
  );
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

async function createQueues(aws: AwsClients, options: BotHarnessOptions) {
  const [intake, control] = await Promise.all([createQueue(aws, options, 'sentinel'), createQueue(aws, options, 'control')]);
  return { queueUrl: intake.queueUrl, dlqUrl: intake.dlqUrl, controlQueueUrl: control.queueUrl, controlDlqUrl: control.dlqUrl };
}

async function createQueue(aws: AwsClients, options: BotHarnessOptions, name: string) {
  const { QueueUrl: dlqUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName(`${name}-dlq`) }));
  const dlqArn = await queueArn(aws.sqs, dlqUrl!);
  const { QueueUrl: queueUrl } = await aws.sqs.send(
    new CreateQueueCommand({
      QueueName: uniqueName(name),
      Attributes: {
        VisibilityTimeout: String(options.queueVisibilitySeconds ?? 10),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: options.maxReceiveCount ?? 5 }),
      },
    }),
  );
  return { queueUrl: queueUrl!, dlqUrl: dlqUrl! };
}

async function createStateMachine(aws: AwsClients, queueUrl: string): Promise<string> {
  const asl = await readFile(ASL_PATH, 'utf8');
  const definition = asl.split('${ControlQueueUrl}').join(queueUrl);
  const out = await aws.sfn.send(new CreateStateMachineCommand({ name: uniqueName('falco'), definition, roleArn: ROLE_ARN }));
  return out.stateMachineArn!;
}

/** The forensics, notify and pod containment state machines, loaded the way `sentinel provision` loads them. */
async function createOtherStateMachines(aws: AwsClients, queueUrl: string): Promise<{ forensics: string; notify: string; pod: string }> {
  const definitions = await loadStateMachineDefinitions(queueUrl);
  const create = async (name: string, prefix: string) => {
    const def = definitions.find((d) => d.name === name);
    if (!def) throw new Error(`no ${name}.asl.json in deploy/statemachines`);
    const out = await aws.sfn.send(new CreateStateMachineCommand({ name: uniqueName(prefix), definition: def.definition, roleArn: ROLE_ARN }));
    return out.stateMachineArn!;
  };
  const [forensics, notify, pod] = await Promise.all([create('ec2-forensics', 'forensics'), create('notify', 'notify'), create('pod-containment', 'pod')]);
  return { forensics, notify, pod };
}

/** A custom bus with the GuardDuty rule (the product's pattern) and the queue as its target. */
async function createEventBus(aws: AwsClients, queueUrl: string, minSeverity: number): Promise<string> {
  const busName = uniqueName('findings');
  await aws.eventBridge.send(new CreateEventBusCommand({ Name: busName }));
  const ruleName = uniqueName('guardduty');
  await aws.eventBridge.send(
    new PutRuleCommand({ Name: ruleName, EventBusName: busName, EventPattern: JSON.stringify(guardDutyEventPattern(minSeverity)), State: 'ENABLED' }),
  );
  // moto delivers without the queue policy AWS needs (test/README.md); provision adds it.
  const targets = await aws.eventBridge.send(
    new PutTargetsCommand({ Rule: ruleName, EventBusName: busName, Targets: [{ Id: 'queue', Arn: await queueArn(aws.sqs, queueUrl) }] }),
  );
  if (targets.FailedEntryCount) throw new Error('PutTargets failed');
  return busName;
}

/** A fresh VPC on a random 10.x.y.0/24 and one instance at a random address: its DNS name is ours alone. */
async function createInstance(aws: AwsClients): Promise<HarnessNode> {
  const [a, b, host] = [...randomBytes(3)].map((x) => (x % 250) + 4) as [number, number, number];
  const cidr = `10.${a}.${b}.0/24`;
  const { Vpc } = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
  const { Subnet } = await aws.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: cidr, AvailabilityZone: `${MOTO_REGION}a` }));
  const out = await aws.ec2.send(
    new RunInstancesCommand({
      ImageId: await anyAmiId(aws.ec2),
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: Subnet!.SubnetId!,
      PrivateIpAddress: `10.${a}.${b}.${host}`,
    }),
  );
  const instance = out.Instances?.[0];
  if (!instance?.InstanceId || !instance.PrivateDnsName) throw new Error('RunInstances returned no instance');
  return {
    name: instance.PrivateDnsName,
    privateIp: instance.PrivateIpAddress ?? `10.${a}.${b}.${host}`,
    instanceId: instance.InstanceId,
    vpcId: Vpc!.VpcId!,
    subnetId: Subnet!.SubnetId!,
    networkInterfaceIds: (instance.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!).filter(Boolean),
  };
}

export async function createBotHarness(options: BotHarnessOptions = {}): Promise<BotHarness> {
  const aws = createMotoClients();
  const logs: string[] = [];
  const dataDir = await mkdtemp(join(tmpdir(), 'sentinel-bot-'));
  const discord = await startFakeDiscord({
    ...(options.discordRateLimit ? { channelRateLimit: options.discordRateLimit } : {}),
    members: [
      { username: 'alice', roles: ['Responder'] },
      { username: 'bob' },
      { username: 'carol', roles: ['Responder'] },
    ],
  });
  const kube = await startFakeKube().catch(async (err: unknown) => {
    await discord.close();
    throw err;
  });
  try {
    return await assemble(options, aws, logs, dataDir, discord, kube);
  } catch (err) {
    destroyAwsClients(aws);
    await discord.close();
    await kube.close();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

async function assemble(
  options: BotHarnessOptions,
  aws: AwsClients,
  logs: string[],
  dataDir: string,
  discord: FakeDiscord,
  kube: FakeKube,
): Promise<BotHarness> {
  const bucket = uniqueName('sentinel-evidence');
  const [queues, node] = await Promise.all([
    createQueues(aws, options),
    createInstance(aws),
    aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } })),
  ]);
  const [stateMachineArn, others, eventBusName] = await Promise.all([
    createStateMachine(aws, queues.controlQueueUrl),
    options.allStateMachines ? createOtherStateMachines(aws, queues.controlQueueUrl) : undefined,
    options.eventBus
      ? createEventBus(aws, queues.queueUrl, (typeof options.eventBus === 'object' ? options.eventBus.minSeverity : undefined) ?? 8)
      : undefined,
  ]);
  const stateMachines = { falco: stateMachineArn, ...others };

  kube.addNode({ name: node.name, instanceId: node.instanceId, availabilityZone: `${MOTO_REGION}a`, internalIP: node.privateIp });
  kube.addPod({
    namespace: POD_NAMESPACE,
    name: POD_NAME,
    containers: [POD_CONTAINER],
    nodeName: node.name,
    labels: { app: 'dvwa' },
    files: { [POD_FILE]: POD_FILE_CONTENT },
  });
  const kubeconfigPath = join(dataDir, 'kubeconfig.json');
  await writeFile(kubeconfigPath, kube.kubeConfig().exportConfig(), { mode: 0o600 });

  const channelId = discord.channel('alerts').id;
  const responderRoleId = discord.role('Responder').id;
  const baseEnv: Record<string, string> = {
    SENTINEL_LOG_LEVEL: 'debug',
    DISCORD_API_URL: discord.apiUrl,
    DISCORD_TOKEN: discord.token,
    DISCORD_APPLICATION_ID: discord.applicationId,
    DISCORD_GUILD_ID: discord.guildId,
    DISCORD_CHANNEL_ID: channelId,
    DISCORD_RESPONDER_ROLE_IDS: responderRoleId,
    AWS_REGION: MOTO_REGION,
    AWS_ENDPOINT_URL: inject('motoEndpoint'),
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    SENTINEL_QUEUE_URL: queues.queueUrl,
    SENTINEL_CONTROL_QUEUE_URL: queues.controlQueueUrl,
    SENTINEL_SFN_ROLE_ID: MOTO_STATE_MACHINE_ROLE_ID,
    SENTINEL_EVIDENCE_BUCKET: bucket,
    SENTINEL_STATE_MACHINE_FALCO: stateMachineArn,
    ...(others ? { SENTINEL_STATE_MACHINE_FORENSICS: others.forensics, SENTINEL_STATE_MACHINE_NOTIFY: others.notify, SENTINEL_STATE_MACHINE_POD: others.pod } : {}),
    SENTINEL_DATA_DIR: dataDir,
    SENTINEL_HTTP_PORT: '0',
    SENTINEL_HTTP_HOST: '127.0.0.1',
    SENTINEL_SQS_WAIT_SECONDS: '1',
    SENTINEL_SQS_VISIBILITY_SECONDS: '10',
    SENTINEL_KUBECONFIG: kubeconfigPath,
    SENTINEL_EDIT_INTERVAL_SECONDS: '1',
    // The flows check the plan on the approval as posted: moto on a busy test machine can take more
    // than the default 2 s to answer a preflight (a late plan is tested in approvalPreflightDeadline).
    SENTINEL_PREFLIGHT_DEADLINE_SECONDS: '15',
    // The fake Discord enforces no rate limit unless a test turns it on (discordRateLimit): a roomy
    // channel budget keeps tests fast. Tests of the budget and storm mode set their own.
    SENTINEL_DISCORD_CHANNEL_BUDGET: '20',
    // The test machine reaches no outside host: AWS's ranges stay the bundled copy (refresh is tested with a local server).
    SENTINEL_AWS_IP_RANGES_REFRESH_MINUTES: '0',
    ...options.env,
  };

  if (options.registerCommands) {
    const config = loadConfig({ env: baseEnv, envFile: false });
    const sink = new LineSink([]);
    await runRegisterCommands({ config, logger: createLogger({ stream: sink }), stdin: process.stdin, stdout: sink, stderr: sink });
  }

  let bot: RunningBot | undefined;
  let config: Config | undefined;
  const sink = new LineSink(logs);
  const stateMachineRole = createStateMachineRoleClients();

  const harness: BotHarness = {
    aws,
    discord,
    kube,
    ...queues,
    bucket,
    stateMachineArn,
    stateMachines,
    ...(eventBusName ? { eventBusName } : {}),
    dataDir,
    node,
    channelId,
    responderRoleId,
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
    async start(env = {}) {
      config = loadConfig({ env: { ...baseEnv, ...env }, envFile: false });
      if (options.approvalTimeoutSeconds !== undefined) {
        config = { ...config, bot: { ...config.bot, approvalTimeoutSeconds: options.approvalTimeoutSeconds } };
      }
      const logger = createLogger({ level: 'debug', format: 'json', secrets: secretValues(config), stream: sink });
      bot = await startBot(config, logger);
      return bot;
    },
    async stop() {
      await bot?.stop();
    },
    async send(body) {
      const out = await aws.sqs.send(
        new SendMessageCommand({ QueueUrl: queues.queueUrl, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }),
      );
      return out.MessageId!;
    },
    async sendControl(body, opts = {}) {
      const client = opts.as === 'intruder' ? aws.sqs : stateMachineRole.sqs;
      const out = await client.send(
        new SendMessageCommand({ QueueUrl: queues.controlQueueUrl, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }),
      );
      return out.MessageId!;
    },
    async sendMany(bodies) {
      for (let i = 0; i < bodies.length; i += 10) {
        const entries = bodies.slice(i, i + 10).map((b, j) => ({ Id: `m${i + j}`, MessageBody: typeof b === 'string' ? b : JSON.stringify(b) }));
        const out = await aws.sqs.send(new SendMessageBatchCommand({ QueueUrl: queues.queueUrl, Entries: entries }));
        if (out.Failed?.length) throw new Error(`SendMessageBatch failed for ${out.Failed.length} message(s)`);
      }
    },
    async executions(arn = stateMachineArn) {
      const out = await aws.sfn.send(new ListExecutionsCommand({ stateMachineArn: arn }));
      return out.executions ?? [];
    },
    async putEvents(entries) {
      if (!eventBusName) throw new Error('the harness has no event bus (option eventBus)');
      const out = await aws.eventBridge.send(
        new PutEventsCommand({
          Entries: entries.map((e) => ({ EventBusName: eventBusName, Source: e.source, DetailType: e.detailType, Detail: JSON.stringify(e.detail) })),
        }),
      );
      if (out.FailedEntryCount) throw new Error(`PutEvents failed for ${out.FailedEntryCount} entr(ies)`);
      return (out.Entries ?? []).map((e) => e.EventId ?? '');
    },
    describeExecution(executionArn) {
      return aws.sfn.send(new DescribeExecutionCommand({ executionArn }));
    },
    finished(executionArn, timeoutMs = 90_000) {
      return waitFor(
        async () => {
          const d = await aws.sfn.send(new DescribeExecutionCommand({ executionArn }));
          return d.status === 'RUNNING' ? undefined : d;
        },
        { timeoutMs, intervalMs: 200, what: `execution ${executionArn} to finish` },
      );
    },
    async queueDepth(queueUrl) {
      const out = await aws.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    },
    writes() {
      return discord.calls((c) => ['POST', 'PATCH', 'PUT'].includes(c.method) && c.body !== undefined);
    },
    posted() {
      return discord.calls((c) => c.method === 'POST' && c.route === '/channels/:channel_id/messages' && c.status === 200);
    },
    waitForChannelMessage(predicate, timeoutMs = 60_000) {
      return discord.waitForMessage((m) => m.channel_id === channelId && predicate(m), timeoutMs);
    },
    async close() {
      await bot?.stop().catch(() => undefined);
      destroyAwsClients(aws);
      destroyAwsClients(stateMachineRole);
      await discord.close();
      await kube.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** Receives (without deleting) what is on a queue now; for DLQ checks. */
export async function peekQueue(aws: AwsClients, queueUrl: string): Promise<string[]> {
  const out = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 0 }));
  return (out.Messages ?? []).map((m) => m.Body ?? '');
}
